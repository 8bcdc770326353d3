//! Every key and value that enters the map is dropped exactly once: when the map is
//! dropped, on replace, remove, expiry (sweep and purge), `clear`, `retain`, a rejected
//! `try_insert`, a losing `get_or_insert_with`, and under concurrent churn. Expired
//! entries nobody reads again are dropped under ordinary write traffic, before the map
//! is dropped.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use ttlmap::{Compute, HashMap, ManualClock, Operation};

/// Hands out [`Tracked`] objects and records how often each one was dropped.
struct Tracker {
    next: AtomicUsize,
    dropped: AtomicUsize,
    drops: Vec<AtomicU8>,
}

impl Tracker {
    fn new(capacity: usize) -> Tracker {
        Tracker {
            next: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            drops: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// A new object with logical key/value `k` (its identity is a fresh instance id).
    fn make(&self, k: u64) -> Tracked<'_> {
        let inst = self.next.fetch_add(1, Ordering::Relaxed);
        assert!(inst < self.drops.len(), "tracker capacity exceeded");
        Tracked { k, inst, t: self }
    }

    fn created(&self) -> usize {
        self.next.load(Ordering::SeqCst)
    }

    fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    fn drops_of(&self, inst: usize) -> u8 {
        self.drops[inst].load(Ordering::SeqCst)
    }

    /// No object was dropped twice (checkable at any time).
    fn assert_no_double_drop(&self) {
        for (i, d) in self.drops[..self.created()].iter().enumerate() {
            let d = d.load(Ordering::SeqCst);
            assert!(d <= 1, "object {i} dropped {d} times");
        }
    }

    /// Every object ever made was dropped exactly once.
    fn assert_all_dropped_once(&self) {
        for (i, d) in self.drops[..self.created()].iter().enumerate() {
            let d = d.load(Ordering::SeqCst);
            assert_eq!(d, 1, "object {i} dropped {d} times");
        }
        assert_eq!(self.dropped(), self.created());
    }
}

/// A key or value that reports its drop. Hashes and compares by `k` only.
struct Tracked<'t> {
    k: u64,
    inst: usize,
    t: &'t Tracker,
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.t.drops[self.inst].fetch_add(1, Ordering::SeqCst);
        self.t.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl PartialEq for Tracked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.k == other.k
    }
}

impl Eq for Tracked<'_> {}

impl Hash for Tracked<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.k.hash(state);
    }
}

impl std::fmt::Debug for Tracked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tracked({}#{})", self.k, self.inst)
    }
}

type Map<'t> = HashMap<Tracked<'t>, Tracked<'t>>;

fn manual_map<'t>(clock: &ManualClock) -> Map<'t> {
    HashMap::builder().clock(clock.clone()).build()
}

/// Inserts keys 0..n, odd ones with a 2 s TTL and even ones with 1 s, then advances the
/// clock by 1 s: the even half has just expired.
fn fill_then_expire_even_half<'t>(map: &Map<'t>, t: &'t Tracker, clock: &ManualClock, n: u64) {
    for i in 0..n {
        map.pin()
            .insert_with_ttl(t.make(i), t.make(i), Duration::from_secs(1 + i % 2));
    }
    clock.advance(Duration::from_secs(1));
}

#[test]
fn map_drop_drops_every_live_expired_and_persisted_entry_once() {
    let t = Tracker::new(10_000);
    let clock = ManualClock::new();
    {
        let map = manual_map(&clock);
        let m = map.pin();
        // The instances of the entries that stay live: none may be dropped before the map.
        let mut live = Vec::new();
        for i in 0..1000 {
            let (k, v) = (t.make(i), t.make(i));
            if i % 4 == 0 || i % 4 == 3 {
                live.extend([k.inst, v.inst]);
            }
            match i % 4 {
                0 => m.insert(k, v),
                1 => m.insert_with_ttl(k, v, Duration::from_secs(1)),
                2 => m.insert_with_ttl(k, v, Duration::ZERO),
                _ => m.insert_with_ttl(k, v, Duration::MAX),
            };
        }
        clock.advance(Duration::from_secs(2));
        assert_eq!(m.iter().count(), 500);
        drop(m);
        // Expired entries may have been swept and freed already; live ones are held.
        for &inst in &live {
            assert_eq!(
                t.drops_of(inst),
                0,
                "a live entry was dropped while the map holds it"
            );
        }
        t.assert_no_double_drop();
    }
    t.assert_all_dropped_once();
}

#[test]
fn replace_drops_spare_key_at_once_and_old_value_once() {
    let t = Tracker::new(100);
    {
        let map: Map<'_> = HashMap::new();
        let m = map.pin();
        let (k1, v1) = (t.make(7), t.make(1));
        let (k2, v2) = (t.make(7), t.make(2));
        let (k2_inst, v1_inst) = (k2.inst, v1.inst);
        assert!(m.insert(k1, v1).is_none());
        assert_eq!(m.insert(k2, v2).map(|v| v.k), Some(1));
        // The spare key was never shared: it is dropped by the insert itself.
        assert_eq!(t.drops_of(k2_inst), 1);
        // The old value may still be read through `m`: not dropped yet.
        assert_eq!(t.drops_of(v1_inst), 0);
        // insert_with_ttl, update, update_or_insert and compute replace too.
        m.insert_with_ttl(t.make(7), t.make(3), Duration::from_secs(60));
        assert_eq!(
            m.update(t.make(7), |v| t.make(v.k + 1)).map(|v| v.k),
            Some(4)
        );
        m.update_or_insert(t.make(7), |v| t.make(v.k + 1), t.make(0));
        let r = m.compute(t.make(7), |e| match e {
            Some((_, v)) => Operation::Insert(t.make(v.k + 1)),
            None => Operation::Abort(()),
        });
        assert!(matches!(r, Compute::Updated { new: (_, v), .. } if v.k == 6));
        assert_eq!(map.len(), 1);
        t.assert_no_double_drop();
    }
    t.assert_all_dropped_once();
}

/// A key's first value lives inside its node; once replaced it must still be dropped as
/// soon as no guard can read it, not when the key goes.
#[test]
fn replaced_first_values_are_dropped_while_their_keys_stay() {
    let t = Tracker::new(10_000);
    {
        let map: Map<'_> = HashMap::new();
        let firsts: Vec<usize> = (0..1000)
            .map(|i| {
                let v = t.make(i);
                let inst = v.inst;
                assert!(map.pin().insert(t.make(i), v).is_none());
                inst
            })
            .collect();
        for i in 0..1000 {
            assert!(map.pin().insert(t.make(i), t.make(i + 1)).is_some());
        }
        // Nothing expired: purging only flushes the collector, a few times over.
        for _ in 0..50 {
            if firsts.iter().all(|&f| t.drops_of(f) == 1) {
                break;
            }
            assert_eq!(map.purge_expired(), 0);
        }
        for &f in &firsts {
            assert_eq!(t.drops_of(f), 1, "first value #{f} not dropped yet");
        }
        assert_eq!(map.len(), 1000);
        let m = map.pin();
        for i in 0..1000 {
            assert_eq!(m.get(&t.make(i)).map(|v| v.k), Some(i + 1));
        }
        // Half the keys go too (their nodes finish the handshake); the rest stay until
        // the map is dropped.
        for i in 0..500 {
            assert!(m.remove(&t.make(i)).is_some());
        }
        t.assert_no_double_drop();
    }
    t.assert_all_dropped_once();
}

#[test]
fn shrink_to_fit_drops_removed_entries_at_once_and_keeps_the_rest() {
    let t = Tracker::new(10_000);
    {
        let mut map: Map<'_> = HashMap::new();
        for i in 0..2_000 {
            map.pin().insert(t.make(i), t.make(i));
        }
        // Replace some first values, remove half the keys.
        for i in 0..500 {
            map.pin().insert(t.make(i), t.make(i + 1));
        }
        {
            let m = map.pin();
            for i in (0..2_000).step_by(2) {
                assert!(m.remove(&t.make(i)).is_some());
            }
        }
        map.shrink_to_fit();
        t.assert_no_double_drop();
        // Everything removed or replaced is gone now: the map holds 1000 keys, 1000
        // values, and the lookup keys made above were dropped at once.
        assert_eq!(t.created() - t.dropped(), 2_000);
        assert_eq!(map.len(), 1_000);
        let m = map.pin();
        for i in 0..2_000 {
            let expect = (i % 2 == 1).then_some(if i < 500 { i + 1 } else { i });
            assert_eq!(m.get(&t.make(i)).map(|v| v.k), expect, "key {i}");
        }
    }
    t.assert_all_dropped_once();
}

#[test]
fn remove_remove_entry_and_remove_if_drop_each_entry_once() {
    let t = Tracker::new(5000);
    {
        let map: Map<'_> = HashMap::new();
        for i in 0..300 {
            map.pin().insert(t.make(i), t.make(i));
        }
        for i in 0..100 {
            let m = map.pin();
            assert_eq!(m.remove(&t.make(i)).map(|v| v.k), Some(i));
            assert!(m.remove(&t.make(i)).is_none());
        }
        for i in 100..200 {
            let m = map.pin();
            let (k, v) = m.remove_entry(&t.make(i)).unwrap();
            assert_eq!((k.k, v.k), (i, i));
        }
        for i in 200..300 {
            let m = map.pin();
            // A refusal removes (and drops) nothing.
            assert!(m.remove_if(&t.make(i), |_, _| false).is_err());
            assert!(matches!(
                m.remove_if(&t.make(i), |_, v| v.k == i),
                Ok(Some(_))
            ));
        }
        assert!(map.is_empty());
        t.assert_no_double_drop();
    }
    t.assert_all_dropped_once();
}

/// Expired entries that nobody reads are unlinked by ordinary writes within the
/// documented bound, `bucket count` writes (crate docs, "Expiry"; `tests/smoke.rs` checks
/// the bound itself in detail), and then dropped, once each.
#[test]
fn expired_entries_unlinked_by_sweep_are_dropped_once() {
    let t = Tracker::new(10_000);
    let clock = ManualClock::new();
    {
        let map = manual_map(&clock);
        for i in 0..500 {
            map.pin()
                .insert_with_ttl(t.make(i), t.make(i), Duration::from_millis(10));
        }
        clock.advance(Duration::from_millis(10));
        // Only unrelated writes, each of which sweeps: an insert and a remove of a key
        // outside the range.
        let buckets = map.bucket_count() as u64;
        let mut writes = 0;
        while writes < buckets {
            let m = map.pin();
            let k = 1_000_000 + writes;
            m.insert(t.make(k), t.make(k));
            m.remove(&t.make(k));
            writes += 2;
        }
        assert!(
            map.is_empty(),
            "{} expired entries left after {writes} writes ({buckets} buckets)",
            map.len()
        );
        t.assert_no_double_drop();
    }
    t.assert_all_dropped_once();
}

#[test]
fn expired_entries_unlinked_by_purge_are_dropped_once() {
    let t = Tracker::new(1000);
    let clock = ManualClock::new();
    {
        let map = manual_map(&clock);
        fill_then_expire_even_half(&map, &t, &clock, 200);
        let m = map.pin();
        assert_eq!(m.purge_expired(), 100);
        assert_eq!(m.len(), 100);
        clock.advance(Duration::from_secs(1));
        assert_eq!(m.purge_expired(), 100);
        assert!(m.is_empty());
        t.assert_no_double_drop();
    }
    t.assert_all_dropped_once();
}

/// `HashMap::purge_expired` (map level) frees what it unlinks before it returns, while
/// no other thread holds a pinned handle: the expired keys and values are dropped then,
/// not at map drop.
#[test]
fn map_level_purge_drops_expired_entries_before_returning() {
    let t = Tracker::new(5000);
    let clock = ManualClock::new();
    let map = manual_map(&clock);
    fill_then_expire_even_half(&map, &t, &clock, 2000);
    let purged = map.purge_expired();
    // Writes during the inserts may have swept nothing yet (nothing had expired).
    assert_eq!(purged, 1000);
    assert_eq!(map.len(), 1000);
    assert_eq!(
        t.dropped(),
        2000,
        "1000 expired keys and values freed by purge"
    );
    t.assert_no_double_drop();
    drop(map);
    t.assert_all_dropped_once();
}

#[test]
fn clear_and_retain_drop_removed_entries_once() {
    let t = Tracker::new(1000);
    let clock = ManualClock::new();
    {
        let map = manual_map(&clock);
        fill_then_expire_even_half(&map, &t, &clock, 200);
        // Half are expired; retain sees only live ones, of which it keeps even keys.
        map.pin().retain(|k, _| k.k % 4 == 1);
        assert_eq!(map.pin().iter().count(), 50);
        map.pin().clear();
        assert!(map.is_empty());
        t.assert_no_double_drop();
    }
    t.assert_all_dropped_once();
}

#[test]
fn rejected_try_insert_hands_value_back_and_drops_the_key() {
    let t = Tracker::new(100);
    {
        let map: Map<'_> = HashMap::new();
        let m = map.pin();
        assert_eq!(m.try_insert(t.make(1), t.make(10)).unwrap().k, 10);
        let (k, v) = (t.make(1), t.make(20));
        let (k_inst, v_inst) = (k.inst, v.inst);
        let err = m.try_insert(k, v).unwrap_err();
        assert_eq!(err.current.k, 10);
        assert_eq!(
            err.not_inserted.inst, v_inst,
            "the very value is handed back"
        );
        assert_eq!(t.drops_of(k_inst), 1, "the spare key is dropped");
        assert_eq!(t.drops_of(v_inst), 0);
        drop(err);
        assert_eq!(t.drops_of(v_inst), 1);
        // get_or_insert drops the value it did not insert.
        let v = t.make(30);
        let v_inst = v.inst;
        assert_eq!(m.get_or_insert(t.make(1), v).k, 10);
        assert_eq!(t.drops_of(v_inst), 1);
        // get_or_insert_with does not even build it.
        let before = t.created();
        assert_eq!(m.get_or_insert_with(t.make(1), || t.make(40)).k, 10);
        assert_eq!(t.created(), before + 1, "only the key was made");
        t.assert_no_double_drop();
    }
    t.assert_all_dropped_once();
}

/// Racers that all find a key vacant each build a value; one links it, the others get
/// the winner's value back and must drop their own value and spare key at once. The
/// racers start each round together (a barrier) and walk the same keys in the same
/// order, so they keep catching up with each other and racing on the same key.
#[test]
fn losing_racers_of_get_or_insert_with_drop_their_values() {
    const RACERS: usize = 3;
    const ROUNDS: u64 = 60;
    const KEYS: u64 = 128;
    // Per key: a key and maybe a value per racer, and our lookup key.
    let t = Tracker::new((ROUNDS * KEYS) as usize * (2 * RACERS + 1));
    {
        let map: Map<'_> = HashMap::new();
        // The instance of the value each racer got, per key of the round.
        let got: Vec<AtomicUsize> = (0..RACERS * KEYS as usize)
            .map(|_| AtomicUsize::new(usize::MAX))
            .collect();
        // The racers and this thread, which checks between rounds.
        let start = Barrier::new(RACERS + 1);
        let end = Barrier::new(RACERS + 1);
        let ready = AtomicUsize::new(0);
        let mut failure = None;
        std::thread::scope(|s| {
            for r in 0..RACERS {
                let (map, t, got, start, end, ready) = (&map, &t, &got, &start, &end, &ready);
                s.spawn(move || {
                    for round in 0..ROUNDS {
                        start.wait();
                        gate(ready, RACERS * (round as usize + 1));
                        for i in 0..KEYS {
                            let k = round * KEYS + i;
                            let m = map.pin();
                            // The closure yields: between a racer's miss and its insert the
                            // others get to run (and miss too) even on a single free CPU.
                            let v = m.get_or_insert_with(t.make(k), || {
                                std::thread::yield_now();
                                t.make(k)
                            });
                            got[r * KEYS as usize + i as usize].store(v.inst, Ordering::Relaxed);
                        }
                        end.wait();
                    }
                });
            }
            // Checks between rounds, recording failures rather than panicking while the
            // racers wait at the barrier.
            for round in 0..ROUNDS {
                start.wait();
                end.wait();
                if failure.is_some() {
                    continue;
                }
                let m = map.pin();
                for i in 0..KEYS as usize {
                    let k = round * KEYS + i as u64;
                    let stored = m.get(&t.make(k)).map(|v| v.inst);
                    let got: Vec<usize> = (0..RACERS)
                        .map(|r| got[r * KEYS as usize + i].load(Ordering::Relaxed))
                        .collect();
                    if got.iter().any(|&g| Some(g) != stored) {
                        failure = Some(format!(
                            "round {round}, key {k}: got {got:?}, map holds {stored:?}"
                        ));
                    }
                }
                drop(m);
                // Nothing was removed or replaced: every object made is either in the map
                // (one key and one value per key so far) or was dropped at once (the
                // losers' values and spare keys, our lookup keys).
                let held = t.created() - t.dropped();
                if held != 2 * KEYS as usize * (round as usize + 1) {
                    failure = Some(format!(
                        "round {round}: {held} objects alive, {} in the map: a losing \
                         racer's key or value was not dropped at once",
                        2 * KEYS * (round + 1)
                    ));
                }
            }
        });
        if let Some(f) = failure {
            panic!("{f}");
        }
        t.assert_no_double_drop();
        assert_eq!(map.len(), (ROUNDS * KEYS) as usize);
    }
    t.assert_all_dropped_once();
}

/// Counts this thread in at `ready` and waits until `all` threads are: a barrier whose
/// waiters leave within a few nanoseconds of each other (after `std::sync::Barrier`,
/// whose sleepers wake one by one), so that what follows really races.
fn gate(ready: &AtomicUsize, all: usize) {
    ready.fetch_add(1, Ordering::SeqCst);
    let mut spins = 0u32;
    while ready.load(Ordering::SeqCst) < all {
        spins += 1;
        if spins % 64 == 0 {
            // More racers than CPUs: let the others arrive.
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Sets the flag when dropped, so that helper threads stop even if the test panics.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Writers churn 64 keys with every kind of write while the clock moves; they start
/// together (a barrier) and their closures sometimes yield, so that decisions on one
/// entry interleave even on a single free CPU.
#[test]
fn concurrent_churn_drops_everything_exactly_once() {
    const WRITERS: usize = 3;
    let t = Tracker::new(500_000);
    let clock = ManualClock::new();
    {
        let map = manual_map(&clock);
        let done = AtomicBool::new(false);
        let barrier = Barrier::new(WRITERS);
        let ready = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..WRITERS as u64)
                .map(|tid| {
                    let (map, t, barrier, ready) = (&map, &t, &barrier, &ready);
                    s.spawn(move || {
                        barrier.wait();
                        gate(ready, WRITERS);
                        let mut x = tid.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                        for _ in 0..20_000 {
                            // xorshift
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            let k = x % 64;
                            let pause = || {
                                if x % 4 == 0 {
                                    std::thread::yield_now();
                                }
                            };
                            let m = map.pin();
                            match (x >> 8) % 9 {
                                0 => {
                                    m.insert(t.make(k), t.make(k));
                                }
                                1 => {
                                    let ttl = Duration::from_millis(x % 5);
                                    m.insert_with_ttl(t.make(k), t.make(k), ttl);
                                }
                                2 => {
                                    m.remove(&t.make(k));
                                }
                                3 => {
                                    m.update(t.make(k), |v| {
                                        pause();
                                        t.make(v.k + 1)
                                    });
                                }
                                4 => {
                                    m.get_or_insert_with(t.make(k), || {
                                        pause();
                                        t.make(k)
                                    });
                                }
                                5 => {
                                    let _ = m.try_insert(t.make(k), t.make(k));
                                }
                                6 => {
                                    m.compute(t.make(k), |e| {
                                        pause();
                                        match e {
                                            Some(_) if x % 2 == 0 => Operation::Remove,
                                            Some((_, v)) => Operation::Insert(t.make(v.k + 1)),
                                            None => Operation::<_, ()>::Insert(t.make(k)),
                                        }
                                    });
                                }
                                7 => {
                                    m.update_or_insert(
                                        t.make(k),
                                        |v| {
                                            pause();
                                            t.make(v.k + 1)
                                        },
                                        t.make(k),
                                    );
                                }
                                _ => {
                                    m.set_ttl(&t.make(k), Duration::from_millis(x % 3));
                                }
                            }
                        }
                    })
                })
                .collect();
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    clock.advance(Duration::from_millis(1));
                    std::thread::yield_now();
                }
            });
            // Stops the clock thread even if a writer panicked.
            let _stop = SetOnDrop(&done);
            for w in writers {
                w.join().unwrap();
            }
        });
        t.assert_no_double_drop();
        map.pin().purge_expired();
        assert_eq!(map.len(), map.pin().iter().count());
    }
    t.assert_all_dropped_once();
}

/// Threads race removes, replacements, updates, refreshes and expiry (sweeps, purges) on
/// the same 16 keys, round after round: each round they start together and take the
/// keys in the same order, one role per key and thread, and their closures yield so that
/// the decisions interleave. After each round the racers have exited (handing over what
/// they retired) and a map-level purge drove reclamation: exactly the keys and values the
/// map holds are alive then, every removed or replaced one was dropped, once.
#[test]
fn racing_removes_replacements_and_expiry_drop_each_value_exactly_once() {
    const KEYS: u64 = 16;
    const ROUNDS: u64 = 150;
    const RACERS: u64 = 3;
    let t = Tracker::new(60_000);
    let clock = ManualClock::new();
    {
        let map = manual_map(&clock);
        for round in 0..ROUNDS {
            // Fresh values (replacing last round's), half of them expiring in 1 ms.
            for k in 0..KEYS {
                let m = map.pin();
                if k % 2 == 0 {
                    m.insert(t.make(k), t.make(k));
                } else {
                    m.insert_with_ttl(t.make(k), t.make(k), Duration::from_millis(1));
                }
            }
            let ready = AtomicUsize::new(0);
            std::thread::scope(|s| {
                let hs: Vec<_> = (0..RACERS)
                    .map(|r| {
                        let (map, t, clock, ready) = (&map, &t, &clock, &ready);
                        s.spawn(move || {
                            gate(ready, RACERS as usize);
                            let yielding = |v: &Tracked<'_>| {
                                std::thread::yield_now();
                                t.make(v.k)
                            };
                            for k in 0..KEYS {
                                let m = map.pin();
                                match ((r + k) % RACERS, (k + round) % 3) {
                                    (0, 0) => {
                                        m.remove(&t.make(k));
                                    }
                                    (0, 1) => {
                                        let _ = m.remove_if(&t.make(k), |_, _| {
                                            std::thread::yield_now();
                                            true
                                        });
                                    }
                                    (0, _) => {
                                        m.compute(t.make(k), |e| {
                                            std::thread::yield_now();
                                            match e {
                                                Some(_) => Operation::Remove,
                                                None => Operation::Abort(()),
                                            }
                                        });
                                    }
                                    (1, 0) => {
                                        m.insert(t.make(k), t.make(k));
                                    }
                                    (1, _) => {
                                        m.update(t.make(k), yielding);
                                    }
                                    (_, 0) => {
                                        if k < RACERS {
                                            // Once per round: the odd keys expire.
                                            clock.advance(Duration::from_millis(1));
                                        }
                                        m.set_ttl(&t.make(k), Duration::ZERO);
                                    }
                                    (_, 1) => {
                                        m.purge_expired();
                                    }
                                    (_, _) => {
                                        m.update_or_insert(t.make(k), yielding, t.make(k));
                                    }
                                }
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
            });
            map.purge_expired();
            t.assert_no_double_drop();
            assert_eq!(
                t.created() - t.dropped(),
                2 * map.len(),
                "round {round}: objects alive beyond the map's keys and values"
            );
            assert_eq!(map.len(), map.pin().iter().count(), "round {round}");
        }
    }
    t.assert_all_dropped_once();
}

/// Expired entries that nobody reads are unlinked within `bucket count` writes and then
/// dropped under ordinary write traffic, with the map alive: each thread hands what it
/// retired to the collector in batches of 64 (crate docs, "Memory reclamation"), and a
/// handed-over batch is freed once the epoch moved on, which later batches' flushes do.
#[test]
fn never_read_expired_entries_are_dropped_under_write_traffic() {
    const N: u64 = 1000;
    let stale = Tracker::new(2 * N as usize);
    let traffic = Tracker::new(300_000);
    let clock = ManualClock::new();
    {
        let map = manual_map(&clock);
        for i in 0..N {
            map.pin()
                .insert_with_ttl(stale.make(i), stale.make(i), Duration::from_millis(100));
        }
        clock.advance(Duration::from_millis(100));
        // Unrelated writes only, each under its own short-lived pin.
        let buckets = map.bucket_count() as u64;
        let mut writes = 0u64;
        let write_pair = |writes: &mut u64| {
            let k = 1_000_000 + *writes % 100;
            map.pin().insert(traffic.make(k), traffic.make(k));
            map.pin().remove(&traffic.make(k));
            *writes += 2;
        };
        while writes < buckets {
            write_pair(&mut writes);
        }
        assert!(
            map.is_empty(),
            "{} expired entries left after {writes} writes ({buckets} buckets)",
            map.len()
        );
        // Then at most 63 unlinked nodes wait in this thread's list; each write pair
        // retires one more node (the removed traffic key), so within 64 pairs the list
        // is handed over, and two more hand-overs (flushes) move the epoch past it.
        let unlinked_after = writes;
        while stale.dropped() < 2 * N as usize {
            write_pair(&mut writes);
            assert!(
                writes <= unlinked_after + 3 * 64 * 2,
                "only {} of {} stale keys and values dropped {} writes after they were \
                 all unlinked",
                stale.dropped(),
                2 * N,
                writes - unlinked_after
            );
        }
        // All of them, with the map still alive.
        stale.assert_all_dropped_once();
        assert!(map.is_empty());
    }
    traffic.assert_all_dropped_once();
}

/// A key or value that borrows a counter on the caller's stack.
struct Borrowing<'a>(u32, &'a AtomicUsize);

impl PartialEq for Borrowing<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Borrowing<'_> {}

impl Hash for Borrowing<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Drop for Borrowing<'_> {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn non_static_keys_and_values_are_dropped_before_map_drop_returns() {
    let counter = AtomicUsize::new(0);
    let clock = ManualClock::new();
    let map: HashMap<Borrowing<'_>, Borrowing<'_>> =
        HashMap::builder().clock(clock.clone()).build();
    for i in 0..100 {
        let m = map.pin();
        m.insert(Borrowing(i, &counter), Borrowing(i, &counter));
        if i % 3 == 0 {
            m.remove(&Borrowing(i, &counter));
        } else if i % 3 == 1 {
            m.insert_with_ttl(
                Borrowing(i, &counter),
                Borrowing(i + 1000, &counter),
                Duration::from_secs(1),
            );
        }
    }
    clock.advance(Duration::from_secs(5));
    // 100 keys and values inserted, 34 lookup keys, 33 replacing pairs.
    let total = 100 * 2 + 34 + 33 * 2;
    drop(map);
    assert_eq!(counter.load(Ordering::SeqCst), total);
}
