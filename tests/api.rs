//! The std traits and handle types of the public API: `Default`, `Debug`, deep `Clone`,
//! `PartialEq`, `FromIterator`, `Extend` for `&HashMap`, `From<[(K, V); N]>`,
//! `pin_owned` across threads, `Send + Sync`, and iteration while entries are removed.

use std::collections::{BTreeMap, HashMap as StdMap};
use std::time::Duration;

use ttlmap::{Expiry, HashMap, ManualClock};

fn sorted<K, V>(map: &HashMap<K, V>) -> Vec<(K, V)>
where
    K: Ord + Copy + std::hash::Hash,
    V: Copy,
{
    let m = map.pin();
    let mut v: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
    v.sort_unstable_by_key(|e| e.0);
    v
}

#[test]
fn default_map_is_empty_and_usable() {
    let map: HashMap<u32, &str> = HashMap::default();
    assert!(map.is_empty());
    assert_eq!(map.len(), 0);
    map.pin().insert(1, "a");
    assert_eq!(map.pin().get(&1), Some(&"a"));
    // Default with a non-default hasher type.
    let map: HashMap<u32, u32, std::hash::RandomState> = HashMap::default();
    map.pin().insert(2, 3);
    assert_eq!(map.pin().get(&2), Some(&3));
}

#[test]
fn debug_prints_live_entries_as_a_map() {
    let clock = ManualClock::new();
    let map: HashMap<u32, &str> = HashMap::builder().clock(clock.clone()).build();
    assert_eq!(format!("{map:?}"), "{}");
    map.pin().insert(1, "one");
    map.pin().insert_with_ttl(2, "two", Duration::from_secs(1));
    let s = format!("{map:?}");
    assert!(
        s == r#"{1: "one", 2: "two"}"# || s == r#"{2: "two", 1: "one"}"#,
        "{s}"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        format!("{map:?}"),
        r#"{1: "one"}"#,
        "expired entries are not shown"
    );
    assert_eq!(format!("{:?}", map.pin()), r#"{1: "one"}"#);
    // The other public types have Debug too.
    assert!(!format!("{:?}", map.pin().iter()).is_empty());
    assert!(!format!("{:?}", HashMap::<u8, u8>::builder()).is_empty());
}

#[test]
fn clone_is_deep_independent_and_keeps_deadlines() {
    let clock = ManualClock::new();
    let map: HashMap<u32, String> = HashMap::builder().clock(clock.clone()).build();
    let m = map.pin();
    m.insert(1, "never".to_string());
    m.insert_with_ttl(2, "ten".to_string(), Duration::from_secs(10));
    m.insert_with_ttl(3, "expired".to_string(), Duration::ZERO);
    clock.advance(Duration::from_secs(4));

    let copy = map.clone();
    let c = copy.pin();
    assert_eq!(c.len(), 2, "expired entries are not copied");
    assert_eq!(c.get(&1).map(String::as_str), Some("never"));
    assert_eq!(c.get(&2).map(String::as_str), Some("ten"));
    assert_eq!(c.ttl(&1), Some(Expiry::Never));
    assert_eq!(c.ttl(&2), Some(Expiry::In(Duration::from_secs(6))));
    // The values are copies, not shared.
    assert!(!std::ptr::eq(c.get(&1).unwrap(), m.get(&1).unwrap()));

    // Independent both ways.
    c.insert(4, "only in copy".to_string());
    m.remove(&1);
    assert_eq!(m.get(&4), None);
    assert_eq!(c.get(&1).map(String::as_str), Some("never"));
    m.update(2, |_| "changed".to_string());
    assert_eq!(c.get(&2).map(String::as_str), Some("ten"));

    // Deadlines were kept (the clock is shared): both expire together.
    clock.advance(Duration::from_secs(6));
    assert_eq!(m.get(&2), None);
    assert_eq!(c.get(&2), None);
    assert_eq!(c.len() - c.purge_expired(), 2);
}

#[test]
fn partial_eq_compares_live_entries_only() {
    let clock = ManualClock::new();
    let new = || -> HashMap<u32, u32> { HashMap::builder().clock(clock.clone()).build() };
    let (a, b) = (new(), new());
    assert_eq!(a, b);
    a.pin().insert(1, 10);
    assert_ne!(a, b);
    b.pin().insert_with_ttl(1, 10, Duration::from_secs(5));
    assert_eq!(a, b, "deadlines are not compared");
    b.pin().insert(1, 11);
    assert_ne!(a, b, "different values");
    b.pin().insert(1, 10);
    b.pin().insert(2, 20);
    assert_ne!(a, b, "an extra key");
    assert_ne!(b, a, "an extra key, other side");
    b.pin().set_ttl(&2, Duration::from_secs(1));
    clock.advance(Duration::from_secs(1));
    assert_eq!(a, b, "an expired entry does not count");
}

#[test]
fn from_iterator_collects_and_last_duplicate_wins() {
    let map: HashMap<u32, u32> = (0..100).map(|i| (i % 50, i)).collect();
    assert_eq!(map.len(), 50);
    assert_eq!(
        sorted(&map),
        (0..50).map(|i| (i, i + 50)).collect::<Vec<_>>()
    );
    let empty: HashMap<u8, u8> = std::iter::empty().collect();
    assert!(empty.is_empty());
    // With another hasher type.
    let map: HashMap<u8, u8, std::hash::RandomState> = [(1, 2)].into_iter().collect();
    assert_eq!(map.pin().get(&1), Some(&2));
}

#[test]
fn extend_through_shared_reference_with_owned_and_borrowed_pairs() {
    let map: HashMap<u32, u64> = HashMap::new();
    // Owned pairs, through `&HashMap` (no `mut` binding of the map needed).
    (&map).extend((0..10).map(|i| (i, u64::from(i) * 2)));
    let mut r = &map;
    r.extend(vec![(100, 1), (0, 7)]);
    // Borrowed pairs of Copy types, e.g. from a std map.
    let std_map: StdMap<u32, u64> = (200..205).map(|i| (i, 9)).collect();
    (&map).extend(std_map.iter());
    let btree: BTreeMap<u32, u64> = [(1, 100)].into_iter().collect();
    (&map).extend(&btree);
    assert_eq!(map.len(), 10 + 1 + 5);
    let m = map.pin();
    assert_eq!(m.get(&0), Some(&7));
    assert_eq!(m.get(&1), Some(&100));
    assert_eq!(m.get(&2), Some(&4));
    assert_eq!(m.get(&100), Some(&1));
    assert_eq!(m.get(&204), Some(&9));
    // Extending a map with a default TTL gives the entries that TTL.
    let clock = ManualClock::new();
    let map: HashMap<u32, u32> = HashMap::builder()
        .clock(clock.clone())
        .default_ttl(Duration::from_secs(3))
        .build();
    (&map).extend([(1, 1)]);
    assert_eq!(map.pin().ttl(&1), Some(Expiry::In(Duration::from_secs(3))));
}

#[test]
fn from_array_builds_the_map() {
    let map = HashMap::from([("a", 1), ("b", 2), ("a", 3)]);
    assert_eq!(map.len(), 2);
    assert_eq!(map.pin().get("a"), Some(&3));
    assert_eq!(map.pin().get("b"), Some(&2));
    let empty: HashMap<u8, u8> = HashMap::from([]);
    assert!(empty.is_empty());
    assert_eq!(map, HashMap::from([("b", 2), ("a", 3)]));
}

#[test]
fn pin_owned_handle_moves_into_another_thread() {
    let map: HashMap<u32, String> = HashMap::new();
    map.pin().insert(0, "from main".to_string());
    let handle = map.pin_owned();
    let got = std::thread::scope(|s| {
        s.spawn(move || {
            let m = handle;
            m.insert(1, "from thread".to_string());
            // References obtained through the moved handle live as long as it.
            m.get(&0).cloned()
        })
        .join()
        .unwrap()
    });
    assert_eq!(got.as_deref(), Some("from main"));
    assert_eq!(map.pin().get(&1).map(String::as_str), Some("from thread"));
    // A handle may also travel there and back.
    let handle = map.pin_owned();
    let handle = std::thread::scope(|s| {
        s.spawn(move || {
            handle.insert(2, "round trip".to_string());
            handle
        })
        .join()
        .unwrap()
    });
    assert_eq!(handle.get(&2).map(String::as_str), Some("round trip"));
}

#[test]
fn map_and_owned_handle_are_send_and_sync_as_documented() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<HashMap<String, Vec<u8>>>();
    send_sync::<HashMap<u64, std::sync::Arc<str>>>();
    send_sync::<ttlmap::ManualClock>();
    send_sync::<ttlmap::Clock>();
    let map: HashMap<String, Vec<u8>> = HashMap::new();
    send(&map.pin_owned());
    // The map can be shared by reference across threads.
    std::thread::scope(|s| {
        s.spawn(|| {
            map.pin().insert("k".to_string(), vec![1]);
        });
    });
    assert_eq!(map.pin().get("k"), Some(&vec![1]));
}

#[test]
fn iteration_while_removing_in_same_thread_sees_each_entry_once() {
    let map: HashMap<u32, u32> = (0..2_000).map(|i| (i, i)).collect();
    let m = map.pin();
    let mut seen = vec![0u8; 2_000];
    for (k, v) in m.iter() {
        assert_eq!(k, v);
        seen[*k as usize] += 1;
        // Remove the current entry and one further ahead.
        assert_eq!(m.remove(k), Some(k));
        m.remove(&((k + 1_000) % 2_000));
    }
    // Entries removed before the iterator reached them may be missing; none twice.
    assert!(seen.iter().all(|&n| n <= 1));
    assert!(m.is_empty());
}

#[test]
fn iteration_while_another_thread_removes_sees_stable_entries_exactly_once() {
    const N: u32 = 20_000;
    let map: HashMap<u32, u32> = (0..N).map(|i| (i, i)).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            // Remove every even key, in an order unrelated to the iteration's.
            for i in (0..N).rev().step_by(2).map(|i| i - 1) {
                assert_eq!(map.pin().remove(&i), Some(&i));
            }
        });
        for _ in 0..3 {
            let m = map.pin();
            let mut seen = vec![0u8; N as usize];
            for (k, v) in m.iter() {
                assert_eq!(k, v);
                seen[*k as usize] += 1;
            }
            for (k, &n) in seen.iter().enumerate() {
                if k % 2 == 1 {
                    assert_eq!(n, 1, "stable key {k} seen {n} times");
                } else {
                    assert!(n <= 1, "removed key {k} seen {n} times");
                }
            }
        }
    });
    assert_eq!(map.len(), N as usize / 2);
}
