//! Hostile and extreme input: zero and huge TTLs, absurd capacity hints, keys whose
//! `Hash` or `Eq` panics, panicking user closures, a hasher under which every key
//! collides, and `compute` asking to remove an absent entry. The map must stay
//! consistent and leak nothing.

use std::cell::Cell;
use std::hash::{BuildHasher, Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use ttlmap::{Expiry, HashMap, ManualClock, Operation};

// ----- helpers -----------------------------------------------------------------------

/// Counts objects made and dropped.
#[derive(Default, Debug)]
struct Counter {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

impl Counter {
    fn val(&self, v: u64) -> Val<'_> {
        self.made.fetch_add(1, Ordering::SeqCst);
        Val(v, self)
    }

    fn key(&self, k: u64) -> Key<'_> {
        self.made.fetch_add(1, Ordering::SeqCst);
        Key(k, self)
    }

    fn assert_balanced(&self) {
        assert_eq!(
            self.dropped.load(Ordering::SeqCst),
            self.made.load(Ordering::SeqCst),
            "dropped vs made"
        );
    }
}

/// A value that reports its drop.
#[derive(Debug)]
struct Val<'c>(u64, &'c Counter);

impl Drop for Val<'_> {
    fn drop(&mut self) {
        self.1.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

thread_local! {
    static PANIC_IN_HASH: Cell<bool> = const { Cell::new(false) };
    static PANIC_IN_EQ: Cell<bool> = const { Cell::new(false) };
}

/// A key that reports its drop, and whose `Hash` / `Eq` panic while this thread's flag
/// is set.
#[derive(Debug)]
struct Key<'c>(u64, &'c Counter);

impl Drop for Key<'_> {
    fn drop(&mut self) {
        self.1.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if PANIC_IN_HASH.get() {
            panic!("Hash panics");
        }
        self.0.hash(state);
    }
}

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        if PANIC_IN_EQ.get() {
            panic!("Eq panics");
        }
        self.0 == other.0
    }
}

impl Eq for Key<'_> {}

/// A hasher under which every key has the same hash.
#[derive(Clone, Copy, Default)]
struct Collide;

struct CollideHasher;

impl Hasher for CollideHasher {
    fn finish(&self) -> u64 {
        0x5EED
    }
    fn write(&mut self, _: &[u8]) {}
}

impl BuildHasher for Collide {
    type Hasher = CollideHasher;
    fn build_hasher(&self) -> CollideHasher {
        CollideHasher
    }
}

/// Runs `f` and asserts that it panicked.
fn assert_panics<R>(what: &str, f: impl FnOnce() -> R) {
    let r = catch_unwind(AssertUnwindSafe(f));
    assert!(r.is_err(), "{what} did not panic");
}

/// Runs `f` on another thread and fails if it has not finished within `limit` (a
/// watchdog against livelock, not a performance assertion).
fn within<F: FnOnce() + Send + 'static>(limit: Duration, f: F) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => h.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: re-raise its panic.
            std::panic::resume_unwind(h.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}"),
    }
}

// ----- TTL extremes ------------------------------------------------------------------

#[test]
fn zero_ttl_entry_is_expired_at_once() {
    let clock = ManualClock::new();
    let map = HashMap::builder().clock(clock.clone()).build();
    let m = map.pin();
    assert_eq!(m.insert_with_ttl(1, 10, Duration::ZERO), None);
    assert_eq!(m.get(&1), None);
    assert!(!m.contains_key(&1));
    assert_eq!(m.ttl(&1), None);
    assert!(!m.set_ttl(&1, Duration::from_secs(1)));
    assert!(!m.persist(&1));
    assert_eq!(m.update(1, |v| v + 1), None);
    assert_eq!(m.iter().count(), 0);
    // It occupies nothing: try_insert succeeds.
    assert_eq!(m.try_insert(1, 20), Ok(&20));
    // set_ttl(ZERO) on a live entry expires it at once.
    assert!(m.set_ttl(&1, Duration::ZERO));
    assert_eq!(m.get(&1), None);
    // Over a live entry: it reports the old value and then the key is gone.
    m.insert(2, 1);
    assert_eq!(m.insert_with_ttl(2, 2, Duration::ZERO), Some(&1));
    assert_eq!(m.get(&2), None);
    // (Writes may have swept some of them already.)
    assert!(m.purge_expired() <= 2);
    assert!(m.is_empty());

    // A default TTL of zero makes every plain write dead on arrival.
    let map = HashMap::builder()
        .clock(clock.clone())
        .default_ttl(Duration::ZERO)
        .build();
    let m = map.pin();
    m.insert(1, 1);
    assert_eq!(m.get(&1), None);
    assert_eq!(m.get_or_insert(1, 2), &2);
    assert_eq!(m.get(&1), None);
}

#[test]
fn huge_ttls_saturate_to_never_without_overflow() {
    let huge = [
        Duration::MAX,
        Duration::from_secs(u64::MAX),
        Duration::from_nanos(u64::MAX),
        Duration::from_nanos(u64::MAX - 1),
        Duration::from_secs(1 << 40),
    ];
    let a_century = Duration::from_secs(100 * 365 * 24 * 3600);
    let check = |e: Option<Expiry>| match e {
        Some(Expiry::Never) => {}
        Some(Expiry::In(d)) => assert!(d >= a_century, "{d:?}"),
        None => panic!("a huge TTL expired"),
    };
    // System clock and manual clock (also one that is far along).
    let far = ManualClock::new();
    far.advance(Duration::from_secs(1 << 50));
    let maps: Vec<HashMap<usize, u32>> = vec![
        HashMap::new(),
        HashMap::builder().clock(ManualClock::new()).build(),
        HashMap::builder().clock(far.clone()).build(),
    ];
    for map in &maps {
        let m = map.pin();
        for (i, &ttl) in huge.iter().enumerate() {
            m.insert_with_ttl(i, 1, ttl);
            assert_eq!(m.get(&i), Some(&1), "ttl {ttl:?}");
            check(m.ttl(&i));
            assert!(m.set_ttl(&i, ttl));
            check(m.ttl(&i));
        }
        assert_eq!(m.purge_expired(), 0);
        assert_eq!(m.len(), huge.len());
    }
    // Saturated deadlines stay in the future as the clock moves on.
    far.advance(Duration::from_secs(1 << 40));
    let m = maps[2].pin();
    assert_eq!(m.iter().count(), huge.len());
    // Duration::MAX as the default TTL.
    let map = HashMap::builder().default_ttl(Duration::MAX).build();
    map.pin().insert(1, 1);
    check(map.pin().ttl(&1));
    // A clock advanced by Duration::MAX does not overflow either.
    let clock = ManualClock::new();
    let map = HashMap::builder().clock(clock.clone()).build();
    map.pin().insert_with_ttl(1, 1, Duration::from_secs(1));
    clock.advance(Duration::MAX);
    clock.advance(Duration::MAX);
    assert_eq!(map.pin().get(&1), None);
    map.pin().insert(2, 2);
    assert_eq!(map.pin().ttl(&2), Some(Expiry::Never));
}

// ----- capacity ----------------------------------------------------------------------

#[test]
fn capacity_usize_max_is_clamped_and_the_map_works() {
    let maps: Vec<HashMap<u64, u64, ttlmap::DefaultHashBuilder>> = vec![
        HashMap::with_capacity(usize::MAX),
        HashMap::builder().capacity(usize::MAX).build(),
        HashMap::with_capacity_and_hasher(usize::MAX, Default::default()),
        HashMap::with_capacity(usize::MAX / 2 + 1),
    ];
    for map in &maps {
        let m = map.pin();
        for i in 0..2_000 {
            m.insert(i, i);
        }
        for i in 0..2_000 {
            assert_eq!(m.get(&i), Some(&i));
        }
        assert_eq!(m.len(), 2_000);
        assert_eq!(m.iter().count(), 2_000);
        for i in 0..1_000 {
            assert_eq!(m.remove(&i), Some(&i));
        }
        assert_eq!(m.len(), 1_000);
    }
}

// ----- panicking Hash and Eq ---------------------------------------------------------

/// A map with entries 0..100 (key and value `i`).
fn filled<S: BuildHasher>(c: &Counter, hasher: S) -> HashMap<Key<'_>, Val<'_>, S> {
    let map = HashMap::builder().hasher(hasher).build();
    for i in 0..100 {
        map.pin().insert(c.key(i), c.val(i));
    }
    map
}

fn assert_intact<'a, S: BuildHasher>(map: &HashMap<Key<'a>, Val<'a>, S>, c: &'a Counter) {
    let m = map.pin();
    assert_eq!(m.len(), 100);
    assert_eq!(m.iter().count(), 100);
    for i in 0..100 {
        assert_eq!(m.get(&c.key(i)).map(|v| v.0), Some(i), "key {i}");
    }
}

/// Every write and lookup, with `Hash` or `Eq` panicking (`flag` set).
fn hostile_ops<'a, S: BuildHasher>(
    map: &HashMap<Key<'a>, Val<'a>, S>,
    c: &'a Counter,
    flag: &'static std::thread::LocalKey<Cell<bool>>,
    keys: &[u64],
) {
    // Each operation must reach the panicking trait method for every key in `keys`.
    for &k in keys {
        let m = map.pin();
        let with_flag = |what: &str, f: &mut dyn FnMut()| {
            flag.set(true);
            let r = catch_unwind(AssertUnwindSafe(&mut *f));
            flag.set(false);
            if r.is_ok() {
                panic!("{what} on key {k} did not panic");
            }
        };
        with_flag("insert", &mut || {
            m.insert(c.key(k), c.val(k + 1000));
        });
        with_flag("insert_with_ttl", &mut || {
            m.insert_with_ttl(c.key(k), c.val(k + 1000), Duration::from_secs(9));
        });
        with_flag("try_insert", &mut || {
            let _ = m.try_insert(c.key(k), c.val(k + 1000));
        });
        with_flag("get_or_insert", &mut || {
            m.get_or_insert(c.key(k), c.val(k + 1000));
        });
        with_flag("get_or_insert_with", &mut || {
            m.get_or_insert_with(c.key(k), || c.val(k + 1000));
        });
        with_flag("update", &mut || {
            m.update(c.key(k), |v| c.val(v.0 + 1000));
        });
        with_flag("update_or_insert", &mut || {
            m.update_or_insert(c.key(k), |v| c.val(v.0 + 1000), c.val(k + 1000));
        });
        with_flag("compute", &mut || {
            m.compute(c.key(k), |_| Operation::<_, ()>::Insert(c.val(k + 1000)));
        });
        with_flag("get", &mut || {
            m.get(&c.key(k));
        });
        with_flag("remove", &mut || {
            m.remove(&c.key(k));
        });
        with_flag("remove_if", &mut || {
            let _ = m.remove_if(&c.key(k), |_, _| true);
        });
        with_flag("set_ttl", &mut || {
            m.set_ttl(&c.key(k), Duration::ZERO);
        });
        with_flag("persist", &mut || {
            m.persist(&c.key(k));
        });
        with_flag("ttl", &mut || {
            m.ttl(&c.key(k));
        });
    }
}

#[test]
fn panicking_hash_leaves_map_intact_and_leaks_nothing() {
    let c = Counter::default();
    {
        let map = filled(&c, ttlmap::DefaultHashBuilder::default());
        // An existing key and a new one.
        hostile_ops(&map, &c, &PANIC_IN_HASH, &[5, 500]);
        assert_intact(&map, &c);
        // Still fully usable.
        map.pin().insert(c.key(500), c.val(500));
        assert_eq!(map.pin().remove(&c.key(500)).map(|v| v.0), Some(500));
    }
    c.assert_balanced();
}

#[test]
fn panicking_eq_leaves_map_intact_and_leaks_nothing() {
    let c = Counter::default();
    {
        let map = filled(&c, ttlmap::DefaultHashBuilder::default());
        // Only an existing key is sure to be compared.
        hostile_ops(&map, &c, &PANIC_IN_EQ, &[5]);
        assert_intact(&map, &c);
    }
    c.assert_balanced();
    // With every key colliding, Eq runs on every lookup and write.
    let c = Counter::default();
    {
        let map = filled(&c, Collide);
        hostile_ops(&map, &c, &PANIC_IN_EQ, &[5, 500]);
        assert_intact(&map, &c);
        map.pin().insert(c.key(500), c.val(500));
        assert_eq!(map.pin().remove(&c.key(500)).map(|v| v.0), Some(500));
    }
    c.assert_balanced();
}

// ----- panicking closures ------------------------------------------------------------

#[test]
fn panicking_closures_leave_map_intact_and_leak_nothing() {
    let c = Counter::default();
    {
        let map = filled(&c, ttlmap::DefaultHashBuilder::default());
        let m = map.pin();
        assert_panics("update", || m.update(c.key(5), |_| panic!("update")));
        assert_panics("get_or_insert_with", || {
            m.get_or_insert_with(c.key(500), || panic!("init"))
        });
        assert_panics("update_or_insert_with (update)", || {
            m.update_or_insert_with(c.key(5), |_| panic!("update"), || c.val(0))
        });
        assert_panics("update_or_insert_with (init)", || {
            m.update_or_insert_with(c.key(500), |v| c.val(v.0), || panic!("init"))
        });
        assert_panics("update_or_insert", || {
            m.update_or_insert(c.key(5), |_| panic!("update"), c.val(0))
        });
        assert_panics("compute (present)", || {
            m.compute(c.key(5), |_| -> Operation<Val<'_>, ()> {
                panic!("compute")
            })
        });
        assert_panics("compute (absent)", || {
            m.compute(c.key(500), |_| -> Operation<Val<'_>, ()> {
                panic!("compute")
            })
        });
        assert_panics("remove_if", || {
            m.remove_if(&c.key(5), |_, _| panic!("predicate"))
        });
        assert_eq!(m.get(&c.key(500)).map(|v| v.0), None);
        drop(m);
        assert_intact(&map, &c);

        // retain panicking half-way: the entries it rejected are gone, the rest intact.
        let mut rejected = Vec::new();
        let mut calls = 0;
        assert_panics("retain", || {
            map.pin().retain(|k, _| {
                calls += 1;
                if calls == 50 {
                    panic!("retain");
                }
                if k.0 % 2 == 0 {
                    rejected.push(k.0);
                    false
                } else {
                    true
                }
            })
        });
        let m = map.pin();
        assert_eq!(m.len(), 100 - rejected.len());
        assert_eq!(m.iter().count(), 100 - rejected.len());
        for i in 0..100 {
            assert_eq!(
                m.get(&c.key(i)).map(|v| v.0),
                (!rejected.contains(&i)).then_some(i),
                "key {i}"
            );
        }
    }
    c.assert_balanced();
}

#[test]
fn compute_remove_on_absent_entry_panics_and_changes_nothing() {
    let clock = ManualClock::new();
    let c = Counter::default();
    {
        let map: HashMap<Key<'_>, Val<'_>> = HashMap::builder().clock(clock.clone()).build();
        let m = map.pin();
        for i in 0..10 {
            m.insert(c.key(i), c.val(i));
        }
        m.insert_with_ttl(c.key(10), c.val(10), Duration::from_secs(1));
        clock.advance(Duration::from_secs(1));
        // Absent, and expired (which counts as absent).
        for k in [99, 10] {
            assert_panics("compute Remove on absent", || {
                m.compute(c.key(k), |e| {
                    assert!(e.is_none());
                    Operation::<Val<'_>, ()>::Remove
                })
            });
            assert!(!m.contains_key(&c.key(k)));
        }
        assert_eq!(m.len(), 11);
        assert_eq!(m.purge_expired(), 1);
        for i in 0..10 {
            assert_eq!(m.get(&c.key(i)).map(|v| v.0), Some(i));
        }
        assert_eq!(m.iter().count(), 10);
    }
    c.assert_balanced();
}

// ----- all keys collide --------------------------------------------------------------

#[test]
fn constant_hasher_still_works_for_2000_keys() {
    within(Duration::from_secs(50), || {
        const N: u64 = 2_000;
        let clock = ManualClock::new();
        let map: HashMap<u64, u64, Collide> = HashMap::builder()
            .hasher(Collide)
            .clock(clock.clone())
            .build();
        let m = map.pin();
        for k in 0..N {
            assert_eq!(m.insert(k, k), None);
        }
        for k in 0..N {
            assert_eq!(m.insert(k, k + 1), Some(&k));
        }
        assert_eq!(m.len(), N as usize);
        for k in 0..N {
            assert_eq!(m.get(&k), Some(&(k + 1)));
        }
        assert_eq!(m.get(&N), None);
        let mut all: Vec<u64> = m.keys().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..N).collect::<Vec<_>>());
        for k in (0..N).step_by(2) {
            assert_eq!(m.remove(&k), Some(&(k + 1)));
        }
        assert_eq!(m.len(), N as usize / 2);
        assert_eq!(m.iter().count(), N as usize / 2);
        // Expiry and sweeping in one long chain.
        for k in (1..N).step_by(2) {
            assert!(m.set_ttl(&k, Duration::from_secs(1)));
        }
        clock.advance(Duration::from_secs(1));
        assert_eq!(m.iter().count(), 0);
        let mut n = N;
        while !m.is_empty() {
            m.insert(n, n);
            m.remove(&n);
            n += 1;
            assert!(n < 100 * N, "the sweep never emptied the map");
        }
        drop(m);
        // And concurrently.
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let map = &map;
                s.spawn(move || {
                    for k in (t * N..(t + 1) * N).rev() {
                        map.pin().insert(k, k);
                        assert_eq!(map.pin().get(&k), Some(&k));
                    }
                });
            }
        });
        assert_eq!(map.len(), 2 * N as usize);
        assert_eq!(map.pin().iter().count(), 2 * N as usize);
    });
}
