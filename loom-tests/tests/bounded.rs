#![cfg(ttlmap_loom)]
//! The bounded cache (issue #12): the weighted size, the bound and the eviction listener
//! under races of link, replacement and removal (`src/cache/bound.rs`, `meta.rs`,
//! `events.rs`).
//!
//! The listener records into a `std` mutex, not a loom one: it then has no scheduling
//! point, so the models explore the map's interleavings, not the listener's. It reads
//! every value it is given (`Val::get`), so a listener call through a freed or
//! unpublished value is a loom causality violation.

use std::sync::Mutex as StdMutex;
use std::time::Duration;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{model, val, MaskHasher, Val};
use ttlmap::{HashMap, ManualClock, RemovalCause};

/// Every listener call: key, value, cause.
type Log = Arc<StdMutex<Vec<(u64, u64, RemovalCause)>>>;

type Map = HashMap<u64, Val, MaskHasher>;

/// A map of 4 buckets bounded by `cap`, weighing each value by its number if `weighed`
/// (else 1 per entry), logging every listener call into `log`.
fn bounded(cap: u64, weighed: bool, log: &Log, clock: &ManualClock) -> Map {
    let l = log.clone();
    let b = HashMap::builder()
        .hasher(MaskHasher::IDENTITY)
        .capacity(4)
        .clock(clock.clone())
        .max_capacity(cap)
        .eviction_listener(move |k: &u64, v: &Val, cause| {
            l.lock().unwrap().push((*k, v.get(), cause));
        });
    if weighed {
        b.weigher(|_: &u64, v: &Val| v.get() as u32).build()
    } else {
        b.build()
    }
}

/// The entries among `keys`, with their values.
fn present(map: &Map, keys: &[u64]) -> Vec<(u64, u64)> {
    let g = map.pin();
    keys.iter()
        .filter_map(|&k| val(g.get(&k)).map(|v| (k, v)))
        .collect()
}

fn logged(log: &Log) -> Vec<(u64, u64, RemovalCause)> {
    log.lock().unwrap().clone()
}

/// Two threads insert distinct keys into a map of capacity 1: when both returned, at
/// most one entry is left, the weighted size is the length, every entry that left was
/// reported exactly once (cause `Size`) and none that stayed was; dropping the map drops
/// both values and calls no listener.
#[test]
fn insert_vs_insert_at_capacity_one() {
    model("insert_vs_insert_at_capacity_one", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let drops = Arc::new(AtomicUsize::new(0));
        let map = Arc::new(bounded(1, false, &log, &clock));
        let (m2, d2) = (map.clone(), drops.clone());
        let t = thread::spawn(move || {
            m2.pin().insert(1, Val::tracked(10, &d2));
        });
        map.pin().insert(2, Val::tracked(20, &drops));
        t.join().unwrap();
        let left = present(&map, &[1, 2]);
        assert!(left.len() <= 1, "over the bound: {left:?}");
        assert_eq!(map.len(), left.len());
        assert_eq!(map.weighted_size(), left.len() as u64, "left: {left:?}");
        let log = logged(&log);
        for (k, v) in [(1, 10), (2, 20)] {
            let calls = log.iter().filter(|e| e.0 == k).collect::<Vec<_>>();
            if left.contains(&(k, v)) {
                assert!(calls.is_empty(), "key {k} stayed but was reported: {log:?}");
            } else {
                assert_eq!(calls, [&(k, v, RemovalCause::Size)], "key {k}: {log:?}");
            }
        }
        drop(Arc::try_unwrap(map).unwrap_or_else(|_| panic!("last reference")));
        assert_eq!(drops.load(Ordering::SeqCst), 2, "each value dropped once");
        assert_eq!(log.len() + left.len(), 2, "no listener call on drop");
    });
}

/// An insert of a new key racing its removal (weights: the value): the weighted size
/// ends exact, including when the removal's subtraction lands between the insert's
/// linking CAS and its `linked` call. (`--cfg ttlmap_broken_bound` no longer breaks this model:
/// since 4b4be19 it makes every decision take the node's first value's weight, which is
/// right here; `update_vs_update_weights` and the `heap_cell_*` models fail under it.)
#[test]
fn insert_vs_remove_weights() {
    model("insert_vs_remove_weights", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let map = Arc::new(bounded(100, true, &log, &clock));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().remove(&1)));
        map.pin().insert(1, Val::new(3));
        let removed = t.join().unwrap();
        // A probe: a drift below zero reads as 0 (`weighted_size` clamps it), but shows
        // once another entry is added.
        map.pin().insert(2, Val::new(1));
        let left = present(&map, &[1, 2]);
        let weight: u64 = left.iter().map(|e| e.1).sum();
        assert_eq!(
            map.weighted_size(),
            weight,
            "left {left:?}, removed {removed:?}"
        );
        let expected = match removed {
            Some(3) => vec![(1, 3, RemovalCause::Explicit)],
            None => vec![],
            other => panic!("remove returned {other:?}"),
        };
        assert_eq!(logged(&log), expected);
    });
}

/// An update that changes the entry's weight racing the entry's removal: the weighted
/// size ends exact (0: the key is gone), also when the update's delta lands after the
/// removal's subtraction; the replaced value and the removed one are each reported once.
#[test]
fn update_vs_remove_weights() {
    model("update_vs_remove_weights", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let map = Arc::new(bounded(100, true, &log, &clock));
        map.pin().insert(1, Val::new(1));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().update(1, |_| Val::new(5))));
        let removed = val(map.pin().remove(&1));
        let updated = t.join().unwrap();
        assert_eq!(present(&map, &[1]), []);
        assert_eq!(
            map.weighted_size(),
            0,
            "(update, remove) = {updated:?}, {removed:?}"
        );
        let expected = match (updated, removed) {
            (Some(5), Some(5)) => vec![
                (1, 1, RemovalCause::Replaced),
                (1, 5, RemovalCause::Explicit),
            ],
            (None, Some(1)) => vec![(1, 1, RemovalCause::Explicit)],
            other => panic!("(update, remove) = {other:?}"),
        };
        let mut log = logged(&log);
        log.sort_by_key(|e| e.1);
        assert_eq!(log, expected);
    });
}

/// Two updates of one key that change its weight (1 → 2 and 1 → 3 or chained): the
/// weighted size ends as the weight of the value left. Regression: with one weight per
/// node, each update swapped its value's weight into the node's word after its decision,
/// and if the second decision's swap landed first, the first one's stale weight was left
/// in the word and in the total; each decision now adds its own exact delta (the old
/// value's weight is kept in its cell).
#[test]
fn update_vs_update_weights() {
    model("update_vs_update_weights", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let map = Arc::new(bounded(100, true, &log, &clock));
        map.pin().insert(1, Val::new(1));
        let m2 = map.clone();
        let t = thread::spawn(move || {
            m2.pin().update(1, |_| Val::new(2));
        });
        map.pin().update(1, |_| Val::new(3));
        t.join().unwrap();
        let left = present(&map, &[1]);
        assert_eq!(
            map.weighted_size(),
            left[0].1,
            "the weighted size is not the weight of the value left"
        );
        let log = logged(&log);
        assert_eq!(log.len(), 2, "two replaced values: {log:?}");
        assert!(log.iter().all(|e| e.2 == RemovalCause::Replaced));
    });
}

/// Three parties on one key, on two threads: an updater, and a thread that updates and
/// then removes (each update writes a value of another weight). The first update's
/// decision may come first and its delta land last, after the second update's and the
/// removal's: whatever the order, the weighted size ends 0 and each
/// value that left is reported once. (With three threads, even at bound 1, the model
/// ran for over 8 minutes on the shared 2-CPU machine and was cut.)
#[test]
fn two_updaters_and_a_remover() {
    model("two_updaters_and_a_remover", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let map = Arc::new(bounded(100, true, &log, &clock));
        map.pin().insert(1, Val::new(1));
        let m2 = map.clone();
        let t = thread::spawn(move || {
            m2.pin().update(1, |_| Val::new(2));
        });
        map.pin().update(1, |_| Val::new(3));
        let removed = val(map.pin().remove(&1));
        t.join().unwrap();
        assert_eq!(present(&map, &[1]), []);
        assert_eq!(map.weighted_size(), 0, "removed {removed:?}");
        let log = logged(&log);
        let explicit: Vec<_> = log
            .iter()
            .filter(|e| e.2 == RemovalCause::Explicit)
            .collect();
        assert_eq!(explicit, [&(1, removed.unwrap(), RemovalCause::Explicit)]);
        // Every value written but the removed one was replaced, once.
        let mut replaced: Vec<u64> = log
            .iter()
            .filter(|e| e.2 == RemovalCause::Replaced)
            .map(|e| e.1)
            .collect();
        replaced.sort_unstable();
        replaced.dedup();
        assert_eq!(
            replaced.len() + 1,
            log.len(),
            "a value reported twice: {log:?}"
        );
        assert!(!replaced.contains(&removed.unwrap()));
    });
}

/// A get racing the eviction of its key (capacity 1, an insert of another key evicts
/// one of the two): the get returns the value or `None`, and the value it returned stays
/// readable while its handle is pinned (never a freed value); each value is dropped once.
#[test]
fn get_vs_eviction() {
    model("get_vs_eviction", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let drops = Arc::new(AtomicUsize::new(0));
        let map = Arc::new(bounded(1, false, &log, &clock));
        map.pin().insert(1, Val::tracked(10, &drops));
        let m2 = map.clone();
        let t = thread::spawn(move || {
            let g = m2.pin();
            let v = g.get(&1);
            let first = val(v);
            // More steps under the same pin (loom may switch threads between them).
            let _ = val(g.get(&2));
            // Still readable under the same pin, whatever was evicted meanwhile.
            assert_eq!(val(v), first);
            first
        });
        map.pin().insert(2, Val::tracked(20, &drops));
        let got = t.join().unwrap();
        assert!(matches!(got, None | Some(10)), "get returned {got:?}");
        let left = present(&map, &[1, 2]);
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(map.weighted_size(), 1);
        if got.is_none() {
            assert_eq!(left, [(2, 20)], "get missed a key that was never evicted");
        }
        let log = logged(&log);
        assert_eq!(log.len(), 1, "{log:?}");
        drop(Arc::try_unwrap(map).unwrap_or_else(|_| panic!("last reference")));
        assert_eq!(drops.load(Ordering::SeqCst), 2, "each value dropped once");
    });
}

/// An insert of key 1 (weight 3) racing a thread that removes key 1 and then inserts key
/// 2 (weight 1), in a map of capacity 10. The map never holds more than 4, so nothing may
/// be evicted. But a removal decided between the insert's link and its `linked` call
/// subtracts a weight not added yet: the total wraps below zero, and the insert of key 2
/// that reads it then evicts (cause `Size`) from a map that is nearly empty.
#[test]
fn insert_vs_remove_then_insert_no_spurious_eviction() {
    model(
        "insert_vs_remove_then_insert_no_spurious_eviction",
        2,
        || {
            let clock = ManualClock::new();
            let log = Log::default();
            let map = Arc::new(bounded(10, true, &log, &clock));
            let m2 = map.clone();
            let t = thread::spawn(move || {
                m2.pin().remove(&1);
                m2.pin().insert(2, Val::new(1));
            });
            map.pin().insert(1, Val::new(3));
            t.join().unwrap();
            let log = logged(&log);
            assert!(
                log.iter().all(|e| e.2 != RemovalCause::Size),
                "evicted under the bound: {log:?}"
            );
            assert_eq!(present(&map, &[2]), [(2, 1)]);
            let left = present(&map, &[1, 2]);
            assert_eq!(map.weighted_size(), left.iter().map(|e| e.1).sum::<u64>());
        },
    );
}

/// `set_max_capacity(1)` racing an insert into a map holding one entry under capacity 2:
/// once both returned, the map is within the new bound. (The capacity is a `Relaxed`
/// setting: an insert whose weight RMW comes after the shrink's last read of the total
/// must still see the new capacity, or neither evicts for it.)
#[test]
fn set_max_capacity_vs_insert() {
    model("set_max_capacity_vs_insert", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let map = Arc::new(bounded(2, false, &log, &clock));
        map.pin().insert(1, Val::new(10));
        let m2 = map.clone();
        let t = thread::spawn(move || {
            m2.pin().insert(2, Val::new(20));
        });
        map.set_max_capacity(1);
        t.join().unwrap();
        let left = present(&map, &[1, 2]);
        assert!(left.len() <= 1, "over the new bound: {left:?}");
        assert_eq!(map.weighted_size(), left.len() as u64);
    });
}

// ----- review of the per-value weights (#12, 4b4be19) ------------------------------------
//
// The models above race decisions on a node's *first* (inline) cell, whose weight is in
// the node's cache word. These race them on a *heap* cell, whose weight is in its link
// word until it is retired (`Cell::heap_weight`, read before the freezing CAS), and on
// the decision paths not covered above: an insert that replaces (`Pending::boxed`), an
// insert over an expired value racing the expiry sweep, an eviction racing an update.

/// The weighted size is the sum of the values left among `keys` (the weigher's weights).
fn assert_exact(map: &Map, keys: &[u64], what: &str) {
    let left = present(map, keys);
    let weight: u64 = left.iter().map(|e| e.1).sum();
    assert_eq!(map.weighted_size(), weight, "{what}: left {left:?}");
}

/// Two weight-changing updates of a key whose current value is a heap cell (weight 4,
/// in the cell's link word): the loser of the race reads that word while the winner's
/// `settle` may be retiring the cell (writing a retirement-list pointer into it); the
/// weighted size ends as the weight of the value left.
#[test]
fn heap_cell_update_vs_update_weights() {
    model("heap_cell_update_vs_update_weights", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let map = Arc::new(bounded(100, true, &log, &clock));
        map.pin().insert(1, Val::new(1));
        map.pin().update(1, |_| Val::new(4));
        let m2 = map.clone();
        let t = thread::spawn(move || {
            m2.pin().update(1, |_| Val::new(2));
        });
        map.pin().update(1, |_| Val::new(3));
        t.join().unwrap();
        assert_exact(&map, &[1], "two updates");
        let log = logged(&log);
        assert_eq!(log.len(), 3, "three replaced values: {log:?}");
        assert!(log.iter().all(|e| e.2 == RemovalCause::Replaced), "{log:?}");
    });
}

/// A weight-changing update racing the removal, on a heap cell (weight 4): the weighted
/// size ends 0, each value that left reported once with its cause.
#[test]
fn heap_cell_update_vs_remove_weights() {
    model("heap_cell_update_vs_remove_weights", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let map = Arc::new(bounded(100, true, &log, &clock));
        map.pin().insert(1, Val::new(1));
        map.pin().update(1, |_| Val::new(4));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().update(1, |_| Val::new(2))));
        let removed = val(map.pin().remove(&1));
        let updated = t.join().unwrap();
        assert_eq!(present(&map, &[1]), []);
        assert_eq!(
            map.weighted_size(),
            0,
            "(update, remove) = {updated:?}, {removed:?}"
        );
        let mut log = logged(&log);
        log.sort_by_key(|e| e.1);
        let expected = match (updated, removed) {
            (Some(2), Some(2)) => vec![
                (1, 1, RemovalCause::Replaced),
                (1, 2, RemovalCause::Explicit),
                (1, 4, RemovalCause::Replaced),
            ],
            (None, Some(4)) => vec![
                (1, 1, RemovalCause::Replaced),
                (1, 4, RemovalCause::Explicit),
            ],
            other => panic!("(update, remove) = {other:?}"),
        };
        assert_eq!(log, expected);
    });
}

/// An insert that replaces an existing key (the pending value boxed into a heap cell,
/// `Pending::boxed`, weight 5) racing an update (1 → 2) of its first cell: the weighted
/// size ends as the weight of the value left; two values replaced, once each.
#[test]
fn insert_replace_vs_update_weights() {
    model("insert_replace_vs_update_weights", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let map = Arc::new(bounded(100, true, &log, &clock));
        map.pin().insert(1, Val::new(1));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().insert(1, Val::new(5))));
        map.pin().update(1, |_| Val::new(2));
        let old = t.join().unwrap();
        assert!(matches!(old, Some(1) | Some(2)), "insert replaced {old:?}");
        assert_exact(&map, &[1], "insert vs update");
        let log = logged(&log);
        assert_eq!(log.len(), 2, "two replaced values: {log:?}");
        assert!(log.iter().all(|e| e.2 == RemovalCause::Replaced), "{log:?}");
    });
}

/// An insert over an expired heap cell (weight 3: an update made it, keeping the TTL)
/// racing `purge_expired`: the insert either replaces the expired cell (cause `Expired`,
/// `install`) or, if the purge removed it first, links a new node; either way the
/// weighted size ends 2 and the expired value is reported once, cause `Expired`.
#[test]
fn insert_over_expired_heap_cell_vs_purge_weights() {
    model("insert_over_expired_heap_cell_vs_purge_weights", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let map = Arc::new(bounded(100, true, &log, &clock));
        map.pin()
            .insert_with_ttl(1, Val::new(1), Duration::from_secs(10));
        map.pin().update(1, |_| Val::new(3));
        clock.advance(Duration::from_secs(10));
        let m2 = map.clone();
        let t = thread::spawn(move || m2.pin().purge_expired());
        let old = val(map.pin().insert(1, Val::new(2)));
        t.join().unwrap();
        assert_eq!(old, None, "an expired value is not returned");
        assert_eq!(present(&map, &[1]), [(1, 2)]);
        assert_exact(&map, &[1], "insert over expired vs purge");
        let mut log = logged(&log);
        log.sort_by_key(|e| e.1);
        assert_eq!(
            log,
            [
                (1, 1, RemovalCause::Replaced),
                (1, 3, RemovalCause::Expired)
            ]
        );
    });
}

/// An eviction racing a weight-changing update (capacity 4; key 1 updated 1 → 3 while
/// key 2, weight 2, is inserted): once both returned, the map is within the bound, the
/// weighted size is exact, and no value is reported twice.
#[test]
fn eviction_vs_update_weights() {
    model("eviction_vs_update_weights", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let map = Arc::new(bounded(4, true, &log, &clock));
        map.pin().insert(1, Val::new(1));
        let m2 = map.clone();
        let t = thread::spawn(move || {
            m2.pin().update(1, |_| Val::new(3));
        });
        map.pin().insert(2, Val::new(2));
        t.join().unwrap();
        assert_exact(&map, &[1, 2], "eviction vs update");
        assert!(map.weighted_size() <= 4, "over the bound");
        let mut log = logged(&log);
        log.sort_by_key(|e| e.1);
        let mut dedup = log.clone();
        dedup.dedup();
        assert_eq!(dedup, log, "a value reported twice");
    });
}

/// The eviction pool (`src/cache/pool.rs`; one shard under loom; the map has 8 buckets,
/// where an eviction uses the pool, while the other models' 4 sample): an evicting insert
/// races the removal of the entry the pool holds (capacity 1: an insert of 2 first evicts
/// 1 or 2 and leaves the other pooled). The insert may pick the removed key's hash from the
/// pool (gone: dropped, the next entry of the pool or the sample is taken) or find it
/// still there and race the removal for it. Once both returned the map is within the bound,
/// each entry that left was reported exactly once (the removed one `Explicit`, the others
/// `Size`, with their own values) and no entry that stayed was. (Two evicting inserts
/// beside the remover did not finish in 15 minutes at preemption bound 2, nor in 4 at 1,
/// on the shared machine at load 8.)
#[test]
fn pooled_eviction_vs_remove_of_the_pooled_key() {
    model("pooled_eviction_vs_remove_of_the_pooled_key", 2, || {
        let clock = ManualClock::new();
        let log = Log::default();
        let l = log.clone();
        let map: Arc<Map> = Arc::new(
            HashMap::builder()
                .hasher(MaskHasher::IDENTITY)
                .capacity(8)
                .clock(clock.clone())
                .max_capacity(1)
                .eviction_listener(move |k: &u64, v: &Val, cause| {
                    l.lock().unwrap().push((*k, v.get(), cause));
                })
                .build(),
        );
        for k in 1..=2 {
            map.pin().insert(k, Val::new(k * 10));
        }
        let pooled = present(&map, &[1, 2]);
        assert_eq!(pooled.len(), 1, "the setup evicted one: {pooled:?}");
        let victim = pooled[0].0;
        let m2 = map.clone();
        let t = thread::spawn(move || {
            m2.pin().insert(3, Val::new(30));
        });
        let removed = val(map.pin().remove(&victim));
        t.join().unwrap();
        let left = present(&map, &[1, 2, 3]);
        assert!(left.len() <= 1, "over the bound: {left:?}");
        assert_eq!(map.len(), left.len());
        assert_eq!(map.weighted_size(), left.len() as u64, "left: {left:?}");
        let log = logged(&log);
        for k in 1..=3 {
            let calls: Vec<_> = log.iter().filter(|e| e.0 == k).collect();
            if left.contains(&(k, k * 10)) {
                assert!(calls.is_empty(), "key {k} stayed but was reported: {log:?}");
            } else if k == victim && removed.is_some() {
                assert_eq!(calls, [&(k, k * 10, RemovalCause::Explicit)], "{log:?}");
            } else {
                assert_eq!(
                    calls,
                    [&(k, k * 10, RemovalCause::Size)],
                    "key {k}: {log:?}"
                );
            }
        }
    });
}
