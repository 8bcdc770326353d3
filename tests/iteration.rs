//! Iteration's promise (crate docs, "Consistency"): an entry live for the whole iteration
//! is seen exactly once, while other entries are inserted, removed, expire, are swept or
//! purged, and the table grows. Iterators and `retain` walk the buckets of a snapshot of
//! the bucket count, each as the interval of split-order keys it covers (`raw/walk.rs`).
//!
//! The first tests stop a walk at chosen points and change the map from the same thread
//! meanwhile, which makes every interleaving they cover certain; the last one runs the
//! walks against writer threads, with a handshake that puts a doubling inside some walks.

use std::collections::HashMap as StdMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use ttlmap::{HashMap, ManualClock};

mod common;
use common::Direct;

/// Sets the flag when dropped, so that helper threads stop even if the test panics.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Counts a thread out of `alive` when dropped (also when it panics).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Key ranges of the paused-walk test.
const STABLE: u64 = 2_000;
const DOOMED: u64 = 1 << 20;
const REMOVED: u64 = 2 << 20;
const NEW: u64 = 3 << 20;

/// What a walk saw of each key, and whether it saw a value that was never written.
#[derive(Default)]
struct Seen {
    times: StdMap<u64, usize>,
}

impl Seen {
    fn saw(&mut self, k: u64, v: u64) {
        assert_eq!(v, !k, "key {k}: a value that was never written");
        *self.times.entry(k).or_default() += 1;
    }

    /// Every stable key exactly once, nothing twice.
    fn check(&self, ctx: &str) {
        for k in 0..STABLE {
            let n = self.times.get(&k).copied().unwrap_or(0);
            assert_eq!(n, 1, "{ctx}: stable key {k} seen {n} times");
        }
        for (k, &n) in &self.times {
            assert!(n <= 1, "{ctx}: key {k} seen {n} times");
        }
    }
}

/// A map of `STABLE` entries live throughout (half without a deadline, half with an
/// hour), `DOOMED..` entries expiring after a second, `REMOVED..` entries that will be
/// removed; every value is the key's complement.
fn paused_walk_map(clock: &ManualClock) -> HashMap<u64, u64> {
    let map = HashMap::builder().clock(clock.clone()).build();
    let m = map.pin();
    for k in 0..STABLE {
        if k % 2 == 0 {
            m.insert(k, !k);
        } else {
            m.insert_with_ttl(k, !k, Duration::from_secs(3600));
        }
        m.insert_with_ttl(DOOMED + k, !(DOOMED + k), Duration::from_secs(1));
        m.insert(REMOVED + k, !(REMOVED + k));
    }
    drop(m);
    map
}

/// Everything that may happen while a walk is stopped: the doomed entries expire, the
/// `REMOVED` ones go, 40,000 new keys double the table several times (and their writes
/// sweep expired entries away), and a purge unlinks what is left expired.
fn change_everything(map: &HashMap<u64, u64>, clock: &ManualClock) {
    let buckets = map.bucket_count();
    clock.advance(Duration::from_secs(1));
    let m = map.pin();
    for k in 0..STABLE {
        assert_eq!(m.remove(&(REMOVED + k)), Some(&!(REMOVED + k)));
    }
    for k in NEW..NEW + 40_000 {
        m.insert(k, !k);
    }
    drop(m);
    map.purge_expired();
    assert!(map.bucket_count() >= 4 * buckets, "the table grew");
}

/// An iterator stopped after 0, 1, a few, half, or all but one of the entries, while the
/// map changes in every way, then resumed: each stable entry exactly once.
#[test]
fn a_stopped_iteration_sees_each_stable_entry_once_after_expiry_sweeps_and_growth() {
    let total = 3 * STABLE as usize;
    for stop in [0, 1, 7, 100, total / 3, total / 2, total - 1] {
        let clock = ManualClock::new();
        let map = paused_walk_map(&clock);
        let m = map.pin();
        let mut it = m.iter();
        let mut seen = Seen::default();
        for (k, v) in it.by_ref().take(stop) {
            seen.saw(*k, *v);
        }
        change_everything(&map, &clock);
        for (k, v) in it {
            seen.saw(*k, *v);
        }
        seen.check(&format!("stopped after {stop}"));
        // Expired and removed entries were seen only before the stop, if at all (the
        // walk re-reads the clock every 64 entries, so up to 63 doomed ones may follow).
        let late = seen
            .times
            .keys()
            .filter(|&&k| (DOOMED..NEW).contains(&k))
            .count();
        assert!(
            late <= stop + 63,
            "stopped after {stop}: {late} gone entries seen"
        );
    }
}

/// `retain` walks the same way: its closure changes the map midway, and every stable
/// entry is offered exactly once (and kept).
#[test]
fn retain_offers_each_stable_entry_once_while_its_closure_changes_the_map() {
    for stop in [1, 500, 3_000] {
        let clock = ManualClock::new();
        let map = paused_walk_map(&clock);
        let mut seen = Seen::default();
        let mut calls = 0;
        map.pin().retain(|k, v| {
            seen.saw(*k, *v);
            calls += 1;
            if calls == stop {
                change_everything(&map, &clock);
            }
            true
        });
        seen.check(&format!("retain, changed after {stop}"));
        let m = map.pin();
        assert!((0..STABLE).all(|k| m.get(&k) == Some(&!k)));
    }
}

fn direct_map(buckets: usize) -> HashMap<u64, u64, Direct> {
    let map = HashMap::builder()
        .hasher(Direct::default())
        .capacity(buckets)
        .build();
    assert_eq!(map.bucket_count(), buckets);
    map
}

/// Inserts keys into buckets 2..16 (of 32) until the table has `buckets` buckets.
fn grow_outside_bucket_1(map: &HashMap<u64, u64, Direct>, buckets: usize) {
    let mut j = 0;
    while map.bucket_count() < buckets {
        map.pin().insert(32 * (100 + j) + 2 + j % 14, 0);
        j += 1;
    }
    assert_eq!(map.bucket_count(), buckets);
}

/// Bucket 1 of 16 holds keys 1, 33 and 17, in that (split) order. The walk stops after
/// yielding 1; meanwhile the table doubles and an insert links the sentinel of bucket 17
/// (of 32) between 33 and 17. The walk, still on bucket 1 of its 16-bucket snapshot,
/// must go on past that sentinel to 17, which lies in bucket 1's interval.
#[test]
fn a_walk_goes_on_past_a_sentinel_linked_inside_its_bucket_meanwhile() {
    let map = direct_map(16);
    let m = map.pin();
    for k in [1, 33, 17, 2] {
        m.insert(k, !k);
    }
    let mut it = m.iter();
    let mut seen = Vec::new();
    for (k, _) in it.by_ref() {
        seen.push(*k);
        if *k == 1 {
            break;
        }
    }
    // Grow to 32 buckets with keys outside buckets 1 and 17, then link bucket 17's
    // sentinel.
    grow_outside_bucket_1(&map, 32);
    m.insert(49, !49);
    seen.extend(it.map(|(k, _)| *k));
    for k in [1, 33, 17, 2] {
        let n = seen.iter().filter(|&&s| s == k).count();
        assert_eq!(n, 1, "key {k} seen {n} times: {seen:?}");
    }
}

/// With 32 buckets, bucket 17 has no sentinel yet, so its walk starts at bucket 1's
/// sentinel and must skip bucket 1's own entries (seen already) to reach its own.
#[test]
fn a_walk_from_an_ancestor_skips_the_entries_of_other_buckets() {
    let map = direct_map(16);
    let m = map.pin();
    for k in [1, 33, 17] {
        m.insert(k, !k);
    }
    // Bucket 17 stays without a sentinel.
    grow_outside_bucket_1(&map, 32);
    let seen: Vec<u64> = m.keys().copied().filter(|k| *k < 100).collect();
    for k in [1, 33, 17] {
        let n = seen.iter().filter(|&&s| s == k).count();
        assert_eq!(n, 1, "key {k} seen {n} times: {seen:?}");
    }
}

/// Iterators and `retain` against writer threads: one inserts and removes other keys
/// (growing the table 60x), one writes entries that expire under a moving clock, refreshes
/// some and purges now and then. Every other pass the reader stops halfway, and the
/// growing writer waits for such a stop before each doubling (then inserts on through it
/// while the reader walks on), so that every doubling happens inside a walk; the other
/// passes race the writers freely.
#[test]
fn iterators_see_each_stable_entry_once_while_writers_grow_expire_and_purge() {
    const STABLE: u64 = 1_000;
    const GROWTH: u64 = 60_000;
    let clock = ManualClock::new();
    let map = HashMap::builder().clock(clock.clone()).build();
    // Stable keys are even, half without a deadline, half with an hour to live (the
    // clock moves a few seconds at most). The writers use odd keys.
    for k in 0..STABLE {
        if k % 2 == 0 {
            map.pin().insert(k * 2, k);
        } else {
            map.pin()
                .insert_with_ttl(k * 2, k, Duration::from_secs(3600));
        }
    }
    // The expiring writer's keys exist from the start (live or expired, at most 512
    // entries), so that the growing writer knows how close the next doubling is.
    let expiring = |i: u64| (1 << 40) | ((i % 512) * 2 + 1);
    for i in 0..512 {
        map.pin()
            .insert_with_ttl(expiring(i), expiring(i), Duration::from_millis(i % 5));
    }
    let done = AtomicBool::new(false);
    // The number of the reader's latest stop halfway through a walk.
    let halfway = AtomicUsize::new(0);
    let alive = AtomicUsize::new(1);
    let passes = AtomicUsize::new(0);
    let grown_within = AtomicUsize::new(0);
    let barrier = Barrier::new(3);
    let doublings = thread::scope(|s| {
        // The expiring writer.
        s.spawn(|| {
            barrier.wait();
            let mut i = 0u64;
            while !done.load(Ordering::SeqCst) {
                let k = expiring(i);
                let m = map.pin();
                m.insert_with_ttl(k, k, Duration::from_millis(i % 5));
                if i % 7 == 0 {
                    m.set_ttl(&k, Duration::from_millis(i % 3));
                }
                if i % 16 == 0 {
                    clock.advance(Duration::from_millis(1));
                }
                if i % 256 == 0 {
                    m.purge_expired();
                }
                i += 1;
            }
        });
        // The reader.
        s.spawn(|| {
            let _alive = Leave(&alive);
            barrier.wait();
            for pass in 0.. {
                let finished = done.load(Ordering::SeqCst);
                let size = map.bucket_count();
                let m = map.pin();
                let mut seen = vec![0u8; STABLE as usize];
                let mut stable_seen = 0;
                for (k, v) in m.iter() {
                    if k % 2 == 0 && *k < 2 * STABLE {
                        assert_eq!(*v, k / 2, "key {k}");
                        seen[(k / 2) as usize] += 1;
                        stable_seen += 1;
                        if stable_seen == STABLE / 2 && pass % 2 == 0 && !finished {
                            // Stop until the table grows (the writer waits for this).
                            let now = map.bucket_count();
                            halfway.store(pass + 1, Ordering::SeqCst);
                            while map.bucket_count() == now && !done.load(Ordering::SeqCst) {
                                thread::yield_now();
                            }
                        }
                    }
                }
                if map.bucket_count() != size {
                    grown_within.fetch_add(1, Ordering::SeqCst);
                }
                // `retain` walks the same way: it must offer each stable key once too.
                let mut offered = vec![0u8; STABLE as usize];
                m.retain(|k, _| {
                    if k % 2 == 0 && *k < 2 * STABLE {
                        offered[(k / 2) as usize] += 1;
                    }
                    true
                });
                for k in 0..STABLE as usize {
                    let (n, o) = (seen[k], offered[k]);
                    assert_eq!(n, 1, "pass {pass}: iter saw stable key {} {n} times", k * 2);
                    assert_eq!(o, 1, "pass {pass}: retain offered key {} {o} times", k * 2);
                }
                passes.fetch_add(1, Ordering::SeqCst);
                if finished {
                    break;
                }
            }
        });
        // The growing writer (this thread).
        let _done = SetOnDrop(&done);
        barrier.wait();
        let start = map.bucket_count();
        let (mut served, mut served_size) = (0, 0);
        for k in 0..GROWTH {
            // Before each doubling, wait for the reader to stop halfway (unless it
            // failed), then go on inserting through the doubling while it walks on. The
            // margin covers what the expiring writer may add meanwhile.
            let size = map.bucket_count();
            if map.len() + 600 >= size && served_size != size {
                while halfway.load(Ordering::SeqCst) == served && alive.load(Ordering::SeqCst) > 0 {
                    thread::yield_now();
                }
                served = halfway.load(Ordering::SeqCst);
                served_size = size;
            }
            let m = map.pin();
            m.insert(k * 2 + 1, k);
            if k % 3 == 0 {
                m.remove(&(k * 2 + 1));
            }
        }
        (map.bucket_count() / start).trailing_zeros() as usize
    });
    assert!(map.bucket_count() >= 64 * 1024, "the table did not grow");
    assert!(
        grown_within.load(Ordering::SeqCst) >= doublings,
        "{doublings} doublings, but only {} walks spanned one",
        grown_within.load(Ordering::SeqCst)
    );
    assert!(passes.load(Ordering::SeqCst) > doublings);
}
