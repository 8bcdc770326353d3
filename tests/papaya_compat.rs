//! A papaya 0.2.5 program, with only the crate name changed: the examples of papaya's
//! README and docs (rewritten in our own words) and every method of papaya's `HashMap`,
//! `HashMapRef`, `HashSet` and `HashSetRef`, through `pin()` and through explicit guards.
//!
//! Everything below is written against papaya's signatures; `use ttlmap as papaya` is
//! the only change. What papaya has and ttlmap does not (and why) is listed in the
//! README's API section.

use std::collections::BTreeMap;
use std::sync::Arc;

use ttlmap as papaya;

use papaya::{Compute, Guard, HashMap, HashMapRef, LocalGuard, OccupiedError, Operation};

/// The crate docs' "Usage" section: pin, then use the map as a std map.
#[test]
fn usage_pin_and_use() {
    let fruit = HashMap::new();
    let fruit = fruit.pin();
    fruit.insert("apple", 3);
    assert_eq!(fruit.get("apple"), Some(&3));
    assert_eq!(fruit.len(), 1);
}

/// The crate docs' "Usage" section: writers and a reader on three threads at once.
#[test]
fn usage_from_many_threads() {
    let letters = HashMap::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            let m = letters.pin();
            for c in 'a'..='z' {
                m.insert(c, c as u32);
            }
        });
        s.spawn(|| {
            let m = letters.pin();
            for c in 'a'..='z' {
                m.remove(&c);
            }
        });
        s.spawn(|| {
            for (c, code) in letters.pin().iter() {
                assert_eq!(*c as u32, *code);
            }
        });
    });
    // Whatever interleaving happened, what is left is consistent.
    for (c, code) in letters.pin().iter() {
        assert_eq!(*c as u32, *code);
    }
}

/// "Atomic operations": `update` and `update_or_insert` instead of the entry API.
#[test]
fn atomic_operations() {
    let visits = HashMap::new();
    visits.pin().insert("home", 41);
    assert_eq!(visits.pin().update("home", |n| n + 1), Some(&42));

    let hits = HashMap::new();
    hits.pin().update_or_insert("home", |n| n + 1, 1);
    hits.pin().update_or_insert("home", |n| n + 1, 1);
    assert_eq!(hits.pin().get("home"), Some(&2));
}

/// "Async support": an owned pin held across `.await` in a spawned (`Send`) task, for
/// one lookup and for a whole iteration.
#[test]
fn async_support_owned_pins() {
    async fn lookup(map: Arc<HashMap<i32, String>>) -> Option<String> {
        tokio::spawn(async move {
            let m = map.pin_owned();
            let value = m.get(&37);
            tokio::task::yield_now().await;
            value.cloned()
        })
        .await
        .unwrap()
    }
    async fn dump(map: Arc<HashMap<i32, String>>) -> Vec<String> {
        tokio::spawn(async move {
            let mut lines = Vec::new();
            for (key, value) in map.pin_owned().iter() {
                tokio::task::yield_now().await;
                lines.push(format!("{key}: {value}"));
            }
            lines.sort();
            lines
        })
        .await
        .unwrap()
    }
    let map = Arc::new(HashMap::new());
    map.pin().insert(37, "thirty-seven".to_string());
    map.pin().insert(38, "thirty-eight".to_string());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(
        rt.block_on(lookup(map.clone())).as_deref(),
        Some("thirty-seven")
    );
    assert_eq!(
        rt.block_on(dump(map)),
        ["37: thirty-seven", "38: thirty-eight"]
    );
}

/// "Advanced lifetimes": a method that takes a guard and returns a reference tied to it.
#[test]
fn advanced_lifetimes_guard_parameter() {
    struct Registry {
        map: HashMap<String, Vec<u64>>,
    }
    impl Registry {
        fn guard(&self) -> impl Guard + '_ {
            self.map.guard()
        }
        fn get<'guard>(&self, name: &str, guard: &'guard impl Guard) -> Option<&'guard [u64]> {
            Some(self.map.get(name, guard)?.as_slice())
        }
    }
    let registry = Registry {
        map: HashMap::new(),
    };
    registry.map.pin().insert("p99".to_string(), vec![7, 9]);
    let guard = registry.guard();
    assert_eq!(registry.get("p99", &guard), Some(&[7, 9][..]));
    assert_eq!(registry.get("p50", &guard), None);
}

/// Construction: `new`, `with_capacity`, `with_hasher`, `with_capacity_and_hasher`,
/// `builder().capacity().hasher().build()`, `Default`, `From<[_; N]>`, `FromIterator`.
#[test]
fn construction() {
    let a: HashMap<&str, i32> = HashMap::new();
    let b: HashMap<&str, i32> = HashMap::with_capacity(10);
    let c = HashMap::with_hasher(std::hash::RandomState::new());
    c.pin().insert(1, 2);
    let d = HashMap::with_capacity_and_hasher(10, std::hash::RandomState::new());
    d.pin().insert(1, 2);
    let e: HashMap<i32, i32> = HashMap::builder()
        .capacity(2048)
        .hasher(papaya::DefaultHashBuilder::default())
        .build();
    let f: HashMap<i32, i32, std::hash::RandomState> = HashMap::default();
    assert!(a.is_empty() && b.is_empty() && e.is_empty() && f.is_empty());
    assert_eq!(c, d);
    let g = HashMap::from([("a", 1), ("b", 2), ("c", 3)]);
    let h: HashMap<i32, i32> = (0..8).map(|x| (x, x * 10)).collect();
    assert_eq!(g.len(), 3);
    assert_eq!(h.len(), 8);
}

/// Every pinned operation of papaya's `HashMapRef`, with papaya's doc examples.
#[test]
fn pinned_operations() {
    let map = HashMap::new();
    let m: HashMapRef<'_, i32, &str, _, LocalGuard<'_>> = map.pin();
    assert!(std::ptr::eq(m.map(), &map));

    assert_eq!(m.insert(37, "a"), None);
    assert!(!m.is_empty());
    m.insert(37, "b");
    assert_eq!(m.insert(37, "c"), Some(&"b"));
    assert_eq!(m.get(&37), Some(&"c"));
    assert_eq!(m.get_key_value(&37), Some((&37, &"c")));
    assert!(m.contains_key(&37));
    assert!(!m.contains_key(&38));

    assert_eq!(m.try_insert(1, "a").unwrap(), &"a");
    let OccupiedError {
        current,
        not_inserted,
    } = m.try_insert(1, "b").unwrap_err();
    assert_eq!((current, not_inserted), (&"a", "b"));
    assert_eq!(m.try_insert_with(2, || "a").unwrap(), &"a");
    assert_eq!(m.try_insert_with(2, || "b").unwrap_err(), &"a");

    assert_eq!(m.get_or_insert(3, "x"), &"x");
    assert_eq!(m.get_or_insert(3, "y"), &"x");
    assert_eq!(m.get_or_insert_with(4, || "x"), &"x");
    assert_eq!(m.get_or_insert_with(4, || "y"), &"x");

    assert_eq!(m.remove(&1), Some(&"a"));
    assert_eq!(m.remove(&1), None);
    assert_eq!(m.remove_entry(&2), Some((&2, &"a")));
    assert_eq!(m.remove_if(&3, |_, v| *v == "nope"), Err((&3, &"x")));
    assert_eq!(m.remove_if(&3, |_, v| *v == "x"), Ok(Some((&3, &"x"))));
    assert_eq!(m.remove_if(&3, |_, _| true), Ok(None));

    m.reserve(10);
    assert_eq!(m.len(), 2);
    let mut keys: Vec<_> = m.keys().copied().collect();
    keys.sort();
    assert_eq!(keys, [4, 37]);
    let mut values: Vec<_> = m.values().copied().collect();
    values.sort();
    assert_eq!(values, ["c", "x"]);
    let all: BTreeMap<_, _> = m.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(all, BTreeMap::from([(4, "x"), (37, "c")]));
    let all: BTreeMap<_, _> = (&m).into_iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(all.len(), 2);

    m.retain(|k, _| *k == 4);
    assert_eq!(m.len(), 1);
    m.clear();
    assert!(m.is_empty());
    assert_eq!(format!("{m:?}"), "{}");

    let counters = HashMap::new();
    let c = counters.pin();
    assert_eq!(c.update("a", |v| v + 1), None);
    c.insert("a", 1);
    assert_eq!(c.update("a", |v| v + 1), Some(&2));
    assert_eq!(*c.update_or_insert("b", |i| i + 1, 0), 0);
    assert_eq!(*c.update_or_insert("b", |i| i + 1, 0), 1);
    assert_eq!(*c.update_or_insert_with("c", |i| i + 1, || 0), 0);
    assert_eq!(*c.update_or_insert_with("c", |i| i + 1, || 0), 1);
}

/// papaya's `compute` example: remove even values, increment odd ones, abort on absent.
#[test]
fn compute_example() {
    let map = HashMap::new();
    let map = map.pin();
    let step = |entry| match entry {
        Some((_key, value)) if value % 2 == 0 => Operation::Remove,
        Some((_key, value)) => Operation::Insert(value + 1),
        None => Operation::Abort(()),
    };
    assert_eq!(map.compute('A', step), Compute::Aborted(()));
    map.insert('A', 1);
    assert_eq!(
        map.compute('A', step),
        Compute::Updated {
            old: (&'A', &1),
            new: (&'A', &2),
        }
    );
    assert_eq!(map.compute('A', step), Compute::Removed(&'A', &2));
    let inserted = map.compute('B', |_| Operation::<_, ()>::Insert(5));
    assert_eq!(inserted, Compute::Inserted(&'B', &5));
}

/// Every guard-taking method of papaya's `HashMap`, as papaya's tests call them.
#[test]
fn guard_operations() {
    let map = HashMap::new();
    let guard = map.guard();
    assert_eq!(map.insert(42, 0, &guard), None);
    assert_eq!(map.insert(42, 1, &guard), Some(&0));
    assert_eq!(map.get(&42, &guard), Some(&1));
    assert_eq!(map.get_key_value(&42, &guard), Some((&42, &1)));
    assert!(map.contains_key(&42, &guard));

    assert_eq!(map.try_insert(7, 70, &guard), Ok(&70));
    let err = map.try_insert(7, 71, &guard).unwrap_err();
    assert_eq!((err.current, err.not_inserted), (&70, 71));
    assert_eq!(map.try_insert_with(8, || 80, &guard), Ok(&80));
    assert_eq!(map.try_insert_with(8, || 81, &guard), Err(&80));
    assert_eq!(map.get_or_insert(9, 90, &guard), &90);
    assert_eq!(map.get_or_insert_with(9, || 91, &guard), &90);

    assert_eq!(map.update(42, |v| v + 1, &guard), Some(&2));
    assert_eq!(map.update(43, |v| v + 1, &guard), None);
    assert_eq!(map.update_or_insert(43, |v| v + 1, 0, &guard), &0);
    assert_eq!(map.update_or_insert_with(43, |v| v + 1, || 0, &guard), &1);
    let computed = map.compute(
        43,
        |e| Operation::<_, ()>::Insert(e.unwrap().1 * 10),
        &guard,
    );
    assert_eq!(
        computed,
        Compute::Updated {
            old: (&43, &1),
            new: (&43, &10)
        }
    );

    assert_eq!(map.remove(&9, &guard), Some(&90));
    assert_eq!(map.remove_entry(&8, &guard), Some((&8, &80)));
    assert_eq!(
        map.remove_if(&7, |_, v| *v == 70, &guard),
        Ok(Some((&7, &70)))
    );

    map.reserve(100, &guard);
    let mut keys: Vec<_> = map.keys(&guard).copied().collect();
    keys.sort();
    assert_eq!(keys, [42, 43]);
    let mut values: Vec<_> = map.values(&guard).copied().collect();
    values.sort();
    assert_eq!(values, [2, 10]);
    assert_eq!(map.iter(&guard).count(), 2);
    map.retain(|k, _| *k == 42, &guard);
    assert_eq!(map.len(), 1);
    map.clear(&guard);
    assert!(map.is_empty());

    // An owned guard works the same, and may move to another thread (it is `Send`; not
    // `Sync`, unlike papaya's: see the README).
    let owned = map.owned_guard();
    let owned = std::thread::scope(|s| {
        s.spawn(|| {
            map.insert(1, 1, &owned);
            owned
        })
        .join()
        .unwrap()
    });
    assert_eq!(map.get(&1, &owned), Some(&1));
}

/// A guard of another map is refused with a panic, never used (it would protect
/// nothing there).
#[test]
#[should_panic(expected = "a guard was used with a map other than the one that made it")]
fn foreign_guard_panics() {
    let (a, b) = (HashMap::<u8, u8>::new(), HashMap::<u8, u8>::new());
    let guard = a.guard();
    b.insert(1, 1, &guard);
}

/// The same for every kind of guard-taking call (none slips through unchecked).
#[test]
fn every_guard_method_checks_its_guard() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let (a, b) = (HashMap::<u8, u8>::new(), HashMap::<u8, u8>::new());
    b.pin().insert(1, 1);
    let g = a.guard();
    let og = a.owned_guard();
    type Call<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let calls: Vec<Call<'_>> = vec![
        (
            "contains_key",
            Box::new(|| {
                let _ = b.contains_key(&1, &g);
            }),
        ),
        (
            "get",
            Box::new(|| {
                let _ = b.get(&1, &g);
            }),
        ),
        (
            "get_key_value",
            Box::new(|| {
                let _ = b.get_key_value(&1, &g);
            }),
        ),
        (
            "insert",
            Box::new(|| {
                let _ = b.insert(1, 1, &g);
            }),
        ),
        (
            "try_insert",
            Box::new(|| {
                let _ = b.try_insert(1, 1, &g);
            }),
        ),
        (
            "try_insert_with",
            Box::new(|| {
                let _ = b.try_insert_with(1, || 1, &g);
            }),
        ),
        (
            "get_or_insert",
            Box::new(|| {
                let _ = b.get_or_insert(1, 1, &g);
            }),
        ),
        (
            "get_or_insert_with",
            Box::new(|| {
                let _ = b.get_or_insert_with(1, || 1, &g);
            }),
        ),
        (
            "update",
            Box::new(|| {
                let _ = b.update(1, |v| *v, &g);
            }),
        ),
        (
            "update_or_insert",
            Box::new(|| {
                let _ = b.update_or_insert(1, |v| *v, 1, &g);
            }),
        ),
        (
            "update_or_insert_with",
            Box::new(|| {
                let _ = b.update_or_insert_with(1, |v| *v, || 1, &g);
            }),
        ),
        (
            "compute",
            Box::new(|| {
                let _ = b.compute(1, |_| Operation::<u8, ()>::Abort(()), &g);
            }),
        ),
        (
            "remove",
            Box::new(|| {
                let _ = b.remove(&1, &g);
            }),
        ),
        (
            "remove_entry",
            Box::new(|| {
                let _ = b.remove_entry(&1, &g);
            }),
        ),
        (
            "remove_if",
            Box::new(|| {
                let _ = b.remove_if(&1, |_, _| false, &g);
            }),
        ),
        ("reserve", Box::new(|| b.reserve(1, &g))),
        ("clear", Box::new(|| b.clear(&g))),
        ("retain", Box::new(|| b.retain(|_, _| true, &g))),
        (
            "iter",
            Box::new(|| {
                let _ = b.iter(&g);
            }),
        ),
        (
            "keys",
            Box::new(|| {
                let _ = b.keys(&g);
            }),
        ),
        (
            "values",
            Box::new(|| {
                let _ = b.values(&g);
            }),
        ),
        (
            "insert_with_ttl",
            Box::new(|| {
                let _ = b.insert_with_ttl(1, 1, std::time::Duration::from_secs(1), &g);
            }),
        ),
        (
            "ttl",
            Box::new(|| {
                let _ = b.ttl(&1, &g);
            }),
        ),
        (
            "set_ttl",
            Box::new(|| {
                let _ = b.set_ttl(&1, std::time::Duration::from_secs(1), &g);
            }),
        ),
        (
            "persist",
            Box::new(|| {
                let _ = b.persist(&1, &g);
            }),
        ),
        (
            "get (owned guard)",
            Box::new(|| {
                let _ = b.get(&1, &og);
            }),
        ),
    ];
    for (name, call) in calls {
        let caught = catch_unwind(AssertUnwindSafe(call));
        assert!(caught.is_err(), "{name} accepted another map's guard");
    }
    // Nothing was changed through the foreign guard.
    assert_eq!(b.pin().get(&1), Some(&1));
}

/// `Guard::refresh` ends the pin and starts a new one: a value removed under the guard
/// is freed by the refresh (no other pin holds it), while the guard is still in use.
#[test]
fn refresh_lets_removed_values_go() {
    let map = HashMap::new();
    let mut guard = map.guard();
    let tracked = Arc::new(());
    map.insert(1, tracked.clone(), &guard);
    map.remove(&1, &guard);
    guard.flush();
    // Removed but protected by the guard: the map's copy is alive.
    assert_eq!(Arc::strong_count(&tracked), 2);
    guard.refresh();
    assert_eq!(Arc::strong_count(&tracked), 1, "refresh did not unpin");
    // The refreshed guard works as before.
    map.insert(2, tracked.clone(), &guard);
    assert!(map.contains_key(&2, &guard));
}

/// std traits: `Debug`, `PartialEq`, `Clone`, `Extend` (owned and by reference).
#[test]
fn std_traits() {
    let map = HashMap::from([(1, 10)]);
    assert_eq!(format!("{map:?}"), "{1: 10}");
    assert_eq!(format!("{:?}", map.pin()), "{1: 10}");
    let copy = map.clone();
    assert_eq!(map, copy);
    let mut target = &copy;
    target.extend([(2, 20)]);
    target.extend([(&3, &30)]);
    assert_eq!(copy.len(), 3);
    assert_ne!(map, copy);
}

// ----- HashSet ----------------------------------------------------------------------

use papaya::{HashSet, HashSetRef};

/// Construction of sets, as papaya's docs show it.
#[test]
fn set_construction() {
    let a: HashSet<&str> = HashSet::new();
    let b: HashSet<&str> = HashSet::with_capacity(10);
    let c = HashSet::with_hasher(std::hash::RandomState::new());
    c.pin().insert(1);
    let d = HashSet::with_capacity_and_hasher(10, std::hash::RandomState::new());
    d.pin().insert(1);
    let e: HashSet<i32> = HashSet::builder()
        .capacity(2048)
        .hasher(papaya::DefaultHashBuilder::default())
        .build();
    let f: HashSet<i32, std::hash::RandomState> = HashSet::default();
    assert!(a.is_empty() && b.is_empty() && e.is_empty() && f.is_empty());
    assert_eq!(c, d);
    let g = HashSet::from(["a", "b", "c"]);
    let h: HashSet<i32> = (0..8).collect();
    assert_eq!((g.len(), h.len()), (3, 8));
}

/// Every pinned operation of papaya's `HashSetRef`.
#[test]
fn set_pinned_operations() {
    let set = HashSet::new();
    let s: HashSetRef<'_, i32, _, LocalGuard<'_>> = set.pin();
    assert!(std::ptr::eq(s.set(), &set));
    assert!(s.insert(37));
    assert!(!s.insert(37));
    assert!(s.contains(&37));
    assert_eq!(s.get(&37), Some(&37));
    assert_eq!(s.get(&38), None);
    assert!(s.insert(1) && s.insert(2));
    assert_eq!(s.len(), 3);
    assert!(!s.is_empty());
    assert!(s.remove(&1));
    assert!(!s.remove(&1));
    s.reserve(10);
    let mut all: Vec<_> = s.iter().copied().collect();
    all.sort();
    assert_eq!(all, [2, 37]);
    assert_eq!((&s).into_iter().count(), 2);
    s.retain(|k| *k == 2);
    assert_eq!(format!("{s:?}"), "{2}");
    s.clear();
    assert!(s.is_empty());
}

/// Every guard-taking method of papaya's `HashSet`.
#[test]
fn set_guard_operations() {
    let set = HashSet::new();
    let guard = set.guard();
    assert!(set.insert('a', &guard));
    assert!(!set.insert('a', &guard));
    assert!(set.contains(&'a', &guard));
    assert_eq!(set.get(&'a', &guard), Some(&'a'));
    assert!(set.insert('b', &guard));
    assert!(set.remove(&'b', &guard));
    set.reserve(5, &guard);
    assert_eq!(set.iter(&guard).collect::<Vec<_>>(), [&'a']);
    set.retain(|_| true, &guard);
    assert_eq!(set.len(), 1);
    set.clear(&guard);
    assert!(set.is_empty());
    let owned = set.owned_guard();
    assert!(set.insert('c', &owned));
    assert_eq!(set.pin_owned().len(), 1);
}

/// std traits of sets: `Debug`, `PartialEq`, `Clone`, `Extend` (owned and by reference).
#[test]
fn set_std_traits() {
    let set = HashSet::from([1]);
    assert_eq!(format!("{set:?}"), "{1}");
    let copy = set.clone();
    assert_eq!(set, copy);
    let mut target = &copy;
    target.extend([2]);
    target.extend([&3]);
    assert_eq!(copy.len(), 3);
    assert_ne!(set, copy);
}

/// A set's guard belongs to the set: another set's (or map's) guard is refused.
#[test]
#[should_panic(expected = "a guard was used with a map other than the one that made it")]
fn set_foreign_guard_panics() {
    let (a, b) = (HashSet::<u8>::new(), HashSet::<u8>::new());
    b.contains(&1, &a.guard());
}

// ----- beyond papaya: members that expire ------------------------------------------

/// A dedup window: a set whose members expire, through handles and guards.
#[test]
fn set_members_expire() {
    use papaya::{Expiry, ManualClock};
    use std::time::Duration;
    let clock = ManualClock::new();
    let seen = HashSet::builder()
        .default_ttl(Duration::from_secs(10))
        .clock(clock.clone())
        .build();
    let s = seen.pin();
    assert!(s.insert("msg-1"));
    assert!(s.insert_with_ttl("msg-2", Duration::from_secs(2)));
    assert!(s.insert_with_ttl("msg-3", Duration::from_secs(2)));
    assert_eq!(s.ttl("msg-1"), Some(Expiry::In(Duration::from_secs(10))));
    assert!(s.persist("msg-3"));
    clock.advance(Duration::from_secs(2));
    assert!(!s.contains("msg-2"), "expired member still present");
    assert!(
        s.insert_with_ttl("msg-2", Duration::from_secs(2)),
        "an expired member counts as absent"
    );
    assert!(s.contains("msg-3"));
    assert!(s.set_ttl("msg-3", Duration::from_secs(1)));
    assert_eq!(s.ttl("msg-3"), Some(Expiry::In(Duration::from_secs(1))));
    assert!(!s.set_ttl("absent", Duration::from_secs(1)));
    clock.advance(Duration::from_secs(8));
    let mut live: Vec<_> = s.iter().copied().collect();
    live.sort();
    assert_eq!(live, Vec::<&str>::new(), "iteration shows expired members");
    assert!(s.purge_expired() <= 3);
    drop(s);

    let guard = seen.guard();
    assert!(seen.insert_with_ttl("k", Duration::from_secs(1), &guard));
    assert!(seen.insert("d", &guard));
    assert_eq!(
        seen.ttl(&"d", &guard),
        Some(Expiry::In(Duration::from_secs(10)))
    );
    assert!(seen.persist(&"d", &guard));
    assert!(seen.set_ttl(&"k", Duration::from_secs(3), &guard));
    clock.advance(Duration::from_secs(3));
    assert!(!seen.contains(&"k", &guard));
    assert!(seen.contains(&"d", &guard));
    drop(guard);
    assert!(seen.purge_expired() <= 1);
    assert_eq!(seen.len(), 1);
}
