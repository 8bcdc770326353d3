//! The bounded cache (issue #12): the hard bound, weights, the eviction listener and its
//! causes, statistics, `set_max_capacity`, and bad input (capacity 0, extreme weights,
//! panicking weigher or listener, a listener that writes into the map).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use ttlmap::{HashMap, ManualClock, RemovalCause};

/// Every listener call, in order.
type Log = Arc<Mutex<Vec<(u64, u64, RemovalCause)>>>;

fn logging(log: &Log) -> impl Fn(&u64, &u64, RemovalCause) + Send + Sync + 'static {
    let log = log.clone();
    move |k: &u64, v: &u64, cause| log.lock().unwrap().push((*k, *v, cause))
}

fn causes(log: &Log) -> Vec<RemovalCause> {
    log.lock().unwrap().iter().map(|e| e.2).collect()
}

#[test]
fn the_bound_holds_after_every_insert_and_each_eviction_is_reported_once() {
    let log = Log::default();
    let map = HashMap::builder()
        .max_capacity(100)
        .eviction_listener(logging(&log))
        .build();
    for i in 0..10_000u64 {
        map.pin().insert(i, i * 10);
        assert!(map.len() <= 100, "len {} after insert {i}", map.len());
        assert!(map.weighted_size() <= 100);
    }
    assert_eq!(map.len(), 100);
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 9_900, "one listener call per evicted entry");
    let mut seen = std::collections::HashSet::new();
    for &(k, v, cause) in log.iter() {
        assert_eq!(cause, RemovalCause::Size);
        assert_eq!(v, k * 10, "the evicted entry's own value");
        assert!(seen.insert(k), "key {k} reported twice");
        assert_eq!(map.pin().get(&k), None, "reported key {k} is still there");
    }
    let s = map.stats();
    assert_eq!((s.inserts, s.evictions, s.entries), (10_000, 9_900, 100));
}

#[test]
fn four_threads_inserting_distinct_keys_never_exceed_the_bound_by_more_than_four() {
    const CAP: usize = 1000;
    const THREADS: u64 = 4;
    let map = HashMap::builder().max_capacity(CAP as u64).build();
    let barrier = Barrier::new(THREADS as usize);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (map, barrier) = (&map, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..20_000 {
                    map.pin().insert(t << 32 | i, i);
                    // `len()` is one word here (no weigher); the sum of the per-thread
                    // shards it used to be reached 1224 mid-run.
                    let (len, w) = (map.len(), map.weighted_size());
                    assert!(len <= CAP + THREADS as usize, "len {len}, weighted {w}");
                    assert!(w <= CAP as u64 + THREADS, "weighted {w}, len {len}");
                }
            });
        }
    });
    assert!(
        map.len() <= CAP,
        "len {} (weighted {}) once they stopped",
        map.len(),
        map.weighted_size()
    );
    assert!(map.weighted_size() <= CAP as u64);
    // At rest, the shards (which drive growth) count what the bound's word counts.
    assert_eq!(map.counted_len(), map.len());
    let s = map.stats();
    assert_eq!(s.inserts, 80_000);
    assert_eq!(s.inserts - s.evictions, map.len() as u64);
}

#[test]
fn capacity_zero_holds_nothing_and_reports_every_insert_as_size() {
    let log = Log::default();
    let map = HashMap::builder()
        .max_capacity(0)
        .eviction_listener(logging(&log))
        .build();
    for i in 0..50 {
        map.pin().insert(i, i);
        assert_eq!(map.pin().get(&i), None);
        assert_eq!(map.len(), 0);
    }
    assert_eq!(causes(&log), vec![RemovalCause::Size; 50]);
    assert_eq!(map.stats().evictions, 50);
}

#[test]
fn weights_bound_the_total_and_extreme_weights_behave() {
    let log = Log::default();
    let map = HashMap::builder()
        .max_capacity(100)
        .weigher(|_k: &u64, v: &u64| *v as u32)
        .eviction_listener(logging(&log))
        .build();
    let m = map.pin();
    // Weight 0 never counts.
    for i in 0..1000 {
        m.insert(i, 0);
    }
    assert_eq!(map.weighted_size(), 0);
    assert_eq!(map.len(), 1000);
    assert!(log.lock().unwrap().is_empty());
    // Heavier than the whole capacity: not admitted, reported as Size, nothing else goes.
    m.insert(5000, u64::from(u32::MAX));
    assert_eq!(m.get(&5000), None);
    assert_eq!(map.len(), 1000);
    assert_eq!(
        *log.lock().unwrap(),
        [(5000, u64::from(u32::MAX), RemovalCause::Size)]
    );
    // Weight changes on update are accounted.
    m.insert(1, 60);
    assert_eq!(map.weighted_size(), 60);
    m.update(1, |v| v - 20);
    assert_eq!(map.weighted_size(), 40);
    m.insert(2, 50);
    assert_eq!(map.weighted_size(), 90);
    // 90 + 30 > 100: weight must go (the zero-weight entries do not help).
    m.insert(3, 30);
    assert!(map.weighted_size() <= 100, "{}", map.weighted_size());
    m.remove(&1);
    m.remove(&2);
    m.remove(&3);
    assert_eq!(map.weighted_size(), 0);
}

#[test]
fn weight_u32_max_fits_a_large_bound() {
    let map = HashMap::builder()
        .max_capacity(u64::MAX - 1)
        .weigher(|_: &u64, _: &u64| u32::MAX)
        .build();
    for i in 0..10 {
        map.pin().insert(i, i);
    }
    assert_eq!(map.weighted_size(), 10 * u64::from(u32::MAX));
    assert_eq!(map.len(), 10);
}

#[test]
fn every_cause_is_reported() {
    let clock = ManualClock::new();
    let log = Log::default();
    let map = HashMap::builder()
        .clock(clock.clone())
        .eviction_listener(logging(&log))
        .build();
    let m = map.pin();
    m.insert(1, 10);
    m.insert(1, 11); // Replaced 10
    m.update(1, |v| v + 1); // Replaced 11
    m.compute(1, |_| ttlmap::Operation::<u64, ()>::Insert(13)); // Replaced 12
    m.compute(1, |_| ttlmap::Operation::<u64, ()>::Remove); // Explicit 13
    m.insert(2, 20);
    m.remove(&2); // Explicit 20
    m.insert(3, 30);
    let _ = m.remove_if(&3, |_, _| true); // Explicit 30
    m.insert_with_ttl(4, 40, Duration::from_secs(1));
    clock.advance(Duration::from_secs(2));
    m.insert(4, 41); // Expired 40
    m.insert_with_ttl(5, 50, Duration::from_secs(1));
    clock.advance(Duration::from_secs(2));
    assert_eq!(m.purge_expired(), 1); // Expired 50
    m.insert(6, 60);
    m.retain(|_, _| false); // Explicit 41, 60 (in map order)
    m.insert(7, 70);
    m.clear(); // Explicit 70
    use RemovalCause::*;
    let mut got = log.lock().unwrap().clone();
    // `retain` reports its two in map order.
    got[8..10].sort_by_key(|e| e.0);
    assert_eq!(
        got,
        [
            (1, 10, Replaced),
            (1, 11, Replaced),
            (1, 12, Replaced),
            (1, 13, Explicit),
            (2, 20, Explicit),
            (3, 30, Explicit),
            (4, 40, Expired),
            (5, 50, Expired),
            (4, 41, Explicit),
            (6, 60, Explicit),
            (7, 70, Explicit),
        ]
    );
    drop(m);
    drop(map);
    assert_eq!(
        log.lock().unwrap().len(),
        11,
        "dropping the map calls no listener"
    );
}

#[test]
fn expired_entries_swept_by_writes_are_reported_as_expired() {
    let clock = ManualClock::new();
    let log = Log::default();
    let map = HashMap::builder()
        .clock(clock.clone())
        .eviction_listener(logging(&log))
        .build();
    for i in 0..100 {
        map.pin().insert_with_ttl(i, i, Duration::from_secs(1));
    }
    clock.advance(Duration::from_secs(2));
    // Ordinary writes sweep; a full cycle covers every bucket.
    for i in 1000..1400 {
        map.pin().insert(i, i);
    }
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 100, "every expired entry reported once");
    assert!(log
        .iter()
        .all(|e| e.2 == RemovalCause::Expired && e.0 < 100));
    assert_eq!(map.stats().expirations, 100);
}

#[test]
fn an_expired_entry_is_the_first_victim() {
    let clock = ManualClock::new();
    let log = Log::default();
    let map = HashMap::builder()
        .clock(clock.clone())
        .max_capacity(10)
        .eviction_listener(logging(&log))
        .build();
    for i in 0..9 {
        map.pin().insert(i, i);
    }
    map.pin().insert_with_ttl(9, 9, Duration::from_secs(1));
    clock.advance(Duration::from_secs(2));
    // Over capacity: the sample sees all ten entries and picks the expired one.
    map.pin().insert(10, 10);
    assert_eq!(*log.lock().unwrap(), [(9, 9, RemovalCause::Expired)]);
    for i in 0..9 {
        assert_eq!(map.pin().get(&i), Some(&i));
    }
}

#[test]
fn a_panicking_listener_propagates_after_the_others_ran_and_the_map_stays_consistent() {
    let told: Arc<Mutex<Vec<u64>>> = Arc::default();
    let t = told.clone();
    let map = HashMap::builder()
        .max_capacity(5)
        .eviction_listener(move |k: &u64, _: &u64, _| {
            t.lock().unwrap().push(*k);
            if *k % 2 == 0 {
                panic!("listener of {k}");
            }
        })
        .build();
    let mut panics = 0;
    for i in 0..100u64 {
        let before = told.lock().unwrap().len();
        let r = catch_unwind(AssertUnwindSafe(|| {
            map.pin().insert(i, i);
        }));
        let now_told: Vec<u64> = told.lock().unwrap()[before..].to_vec();
        // The insert panicked exactly when an even key was reported, and every key it
        // evicted was reported (the others still ran after the first panic).
        assert_eq!(
            r.is_err(),
            now_told.iter().any(|k| k % 2 == 0),
            "insert {i}"
        );
        panics += usize::from(r.is_err());
        // The new entry is in, or it was not admitted and reported.
        assert!(
            map.pin().get(&i) == Some(&i) || now_told.contains(&i),
            "insert {i}"
        );
        assert!(map.len() <= 5);
        for k in &now_told {
            assert_eq!(map.pin().get(k), None, "reported key {k} is still there");
        }
    }
    assert_eq!(told.lock().unwrap().len(), 95, "one call per evicted entry");
    assert!(panics > 10);
    // Still a working map (whose listener still panics on even keys).
    map.set_max_capacity(100);
    map.pin().insert(1001, 1);
    map.pin().insert(1002, 1);
    let r = catch_unwind(AssertUnwindSafe(|| map.pin().retain(|k, _| *k == 1001)));
    assert!(r.is_err(), "the listener of 1002 (even) panics");
    assert_eq!(map.pin().get(&1001), Some(&1));
    assert_eq!(map.len(), 1, "retain went on past the panicking listener");
}

#[test]
fn a_listener_may_write_into_the_map() {
    // Evicted entries move to key + 1_000_000, once (the moved ones are not moved again).
    // The listener holds the map weakly: a strong reference would be a cycle (leaked).
    let map: Arc<std::sync::OnceLock<HashMap<u64, u64>>> = Arc::default();
    let m2 = Arc::downgrade(&map);
    let moved: Arc<AtomicUsize> = Arc::default();
    let moved_out: Arc<AtomicUsize> = Arc::default();
    let (mv, mo) = (moved.clone(), moved_out.clone());
    let built = HashMap::builder()
        .max_capacity(10)
        .eviction_listener(move |k: &u64, v: &u64, cause| {
            assert_eq!(cause, RemovalCause::Size);
            if *k < 1_000_000 {
                let map = m2.upgrade().expect("the map outlives its listener calls");
                map.get().unwrap().pin().insert(k + 1_000_000, *v);
                mv.fetch_add(1, Ordering::Relaxed);
            } else {
                mo.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build();
    assert!(map.set(built).is_ok());
    let m = map.get().unwrap();
    for i in 0..100 {
        m.pin().insert(i, i);
        assert!(m.len() <= 10);
    }
    assert_eq!(m.len(), 10);
    let (moved, moved_out) = (
        moved.load(Ordering::Relaxed),
        moved_out.load(Ordering::Relaxed),
    );
    let moved_in = m.pin().iter().filter(|(k, _)| **k >= 1_000_000).count();
    let originals = m.pin().iter().filter(|(k, _)| **k < 1_000_000).count();
    // Each original is in the map or was moved; each moved one is in the map or was
    // evicted (and told) in its turn: the listener's inserts were neither lost nor doubled.
    assert_eq!(originals + moved, 100);
    assert_eq!(moved_in + moved_out, moved);
    assert!(moved >= 90);
}

#[test]
fn a_panicking_weigher_leaves_the_map_untouched() {
    let map = HashMap::builder()
        .max_capacity(10)
        .weigher(|k: &u64, _: &u64| if *k == 7 { panic!("weigher") } else { 1 })
        .build();
    map.pin().insert(1, 1);
    assert!(catch_unwind(AssertUnwindSafe(|| {
        map.pin().insert(7, 7);
    }))
    .is_err());
    assert_eq!(map.pin().get(&7), None);
    assert_eq!(map.len(), 1);
    assert_eq!(map.weighted_size(), 1);
}

#[test]
fn set_max_capacity_shrinks_and_grows_the_bound() {
    let log = Log::default();
    let map = HashMap::builder()
        .max_capacity(u64::MAX)
        .eviction_listener(logging(&log))
        .build();
    for i in 0..5000 {
        map.pin().insert(i, i);
    }
    assert_eq!(map.len(), 5000);
    map.set_max_capacity(100);
    assert_eq!(map.len(), 100);
    assert_eq!(map.max_capacity(), Some(100));
    assert_eq!(log.lock().unwrap().len(), 4900);
    for i in 5000..6000 {
        map.pin().insert(i, i);
        assert!(map.len() <= 100);
    }
    map.set_max_capacity(1000);
    for i in 6000..8000 {
        map.pin().insert(i, i);
    }
    assert_eq!(map.len(), 1000);
    map.set_max_capacity(0);
    assert_eq!(map.len(), 0);
}

#[test]
#[should_panic(expected = "set_max_capacity on a map built without max_capacity")]
fn set_max_capacity_on_an_unbounded_map_panics_with_a_clear_message() {
    let map: HashMap<u64, u64> = HashMap::new();
    map.set_max_capacity(10);
}

#[test]
fn set_max_capacity_racing_inserts_ends_within_the_bound() {
    let map = HashMap::builder().max_capacity(10_000).build();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (map, stop) = (&map, &stop);
            s.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    map.pin().insert(t << 32 | i, i);
                    i += 1;
                }
            });
        }
        for cap in [5000, 100, 2000, 10, 500] {
            std::thread::sleep(Duration::from_millis(20));
            map.set_max_capacity(cap);
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(map.len() <= 500, "len {}", map.len());
}

#[test]
fn hits_and_misses_are_counted_only_with_record_stats() {
    let plain = HashMap::new();
    plain.pin().insert(1, 1);
    plain.pin().get(&1);
    plain.pin().get(&2);
    assert_eq!((plain.stats().hits, plain.stats().misses), (0, 0));
    let map = HashMap::builder().record_stats().build();
    map.pin().insert(1, 1);
    for _ in 0..3 {
        map.pin().get(&1);
    }
    map.pin().get(&2);
    assert!(map.pin().contains_key(&1));
    map.pin().get_or_insert_with(3, || 3); // a miss
    let s = map.stats();
    assert_eq!((s.hits, s.misses), (4, 2));
    assert!((s.hit_ratio() - 4.0 / 6.0).abs() < 1e-9);
}

#[test]
fn a_clone_keeps_the_bound_and_the_listener() {
    let log = Log::default();
    let map = HashMap::builder()
        .max_capacity(3)
        .eviction_listener(logging(&log))
        .build();
    for i in 0..3 {
        map.pin().insert(i, i);
    }
    let copy = map.clone();
    assert_eq!(copy.max_capacity(), Some(3));
    copy.pin().insert(10, 10);
    assert_eq!(copy.len(), 3);
    assert_eq!(log.lock().unwrap().len(), 1);
}

/// A value that counts its drops.
struct Tracked {
    key: u64,
    drops: Arc<Vec<AtomicU64>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops[self.key as usize].fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn churn_with_ttls_and_a_bound_drops_each_value_once_and_reports_each_departure_once() {
    // Each value is unique (its id). By the end every value was dropped exactly once; a
    // value that entered the map and left it while the map was alive was reported
    // exactly once; one that never entered, or is still in at the end, never.
    const KEYS: u64 = 512;
    const THREADS: u64 = 2;
    const ROUNDS: u64 = 20_000;
    let slots = (THREADS * ROUNDS) as usize;
    let counters =
        |n| -> Arc<Vec<AtomicU64>> { Arc::new((0..n).map(|_| AtomicU64::new(0)).collect()) };
    let (drops, reported, entered) = (counters(slots), counters(slots), counters(slots));
    let clock = ManualClock::new();
    let r = reported.clone();
    let map = HashMap::builder()
        .clock(clock.clone())
        .max_capacity(200)
        .eviction_listener(move |_k: &u64, v: &Tracked, _| {
            r[v.key as usize].fetch_add(1, Ordering::SeqCst);
        })
        .build();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (map, drops, entered, clock) =
                (&map, drops.clone(), entered.clone(), clock.clone());
            s.spawn(move || {
                let mut x = t + 1;
                for i in 0..ROUNDS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = x % KEYS;
                    let id = t * ROUNDS + i;
                    let v = Tracked {
                        key: id,
                        drops: drops.clone(),
                    };
                    let m = map.pin();
                    let entered_now = match x % 7 {
                        0 => {
                            m.remove(&key);
                            false
                        }
                        1 => {
                            m.insert_with_ttl(key, v, Duration::from_millis(x % 50));
                            true
                        }
                        2 => m.try_insert(key, v).is_ok(),
                        3 => {
                            if t == 0 {
                                clock.advance(Duration::from_millis(7));
                            }
                            m.get(&key);
                            false
                        }
                        _ => {
                            m.insert(key, v);
                            true
                        }
                    };
                    if entered_now {
                        entered[id as usize].store(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    // Expired entries not swept yet leave now (reported as expired): `iter` would not
    // show them, yet they are in the map until then.
    map.purge_expired();
    let still: std::collections::HashSet<u64> = map.pin().iter().map(|(_, v)| v.key).collect();
    let reported_before_drop: Vec<u64> =
        reported.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    drop(map);
    let mut left = 0;
    for id in 0..slots {
        let d = drops[id].load(Ordering::SeqCst);
        let r = reported_before_drop[id];
        let e = entered[id].load(Ordering::SeqCst) == 1;
        assert_eq!(d, 1, "value {id} dropped {d} times");
        let expected = u64::from(e && !still.contains(&(id as u64)));
        assert_eq!(r, expected, "value {id}: entered {e}, reported {r} times");
        left += expected;
    }
    assert_eq!(
        reported
            .iter()
            .map(|r| r.load(Ordering::SeqCst))
            .sum::<u64>(),
        left,
        "no listener call on drop"
    );
    assert!(left > 1000, "the churn made entries leave ({left})");
}

#[test]
fn get_or_load_counts_one_hit_or_miss_per_call() {
    let map = HashMap::builder().max_capacity(10).record_stats().build();
    let m = map.pin();
    assert_eq!(*m.get_or_load(1, || 10), 10); // miss
    assert_eq!(*m.get_or_load(1, || 11), 10); // hit
    assert_eq!(m.try_get_or_load(2, || Err::<u64, _>("down")), Err("down")); // miss
    let s = map.stats();
    assert_eq!((s.hits, s.misses, s.inserts), (1, 2, 1));
}

/// The eviction pool (`src/cache/pool.rs`) keeps hashes of entries it saw, which may be
/// removed or replaced before an eviction picks them: a gone one must be dropped (not
/// picked forever, which would make every eviction futile and the bound give way), a
/// replaced one names its new value. Each round fills a map of 2,000 entries (a table of
/// more than 32 buckets, where the pool runs) past its bound, then removes three entries
/// in four and replaces half of the rest, so that most pooled hashes are gone when the
/// next round evicts. A model of the map checks every listener call: an evicted entry is
/// present, with its current value, and reported once.
#[test]
fn pooled_entries_that_were_removed_or_replaced_are_never_evicted_wrongly() {
    const CAP: u64 = 2000;
    let log = Log::default();
    let map = HashMap::builder()
        .max_capacity(CAP)
        .eviction_listener(logging(&log))
        .build();
    let mut model = std::collections::HashMap::new();
    // Applies the listener's calls since the last check to the model: each eviction must
    // name an entry of the model with its value; any other call must be `other`, the
    // operation's own (then applied to the model by the caller). Then compares lengths.
    let check = |model: &mut std::collections::HashMap<u64, u64>,
                 other: Option<(u64, u64, RemovalCause)>| {
        let mut others = Vec::new();
        for (k, v, cause) in log.lock().unwrap().drain(..) {
            if cause == RemovalCause::Size {
                assert_eq!(
                    model.remove(&k),
                    Some(v),
                    "evicted {k} = {v}: not in the map"
                );
            } else {
                others.push((k, v, cause));
            }
        }
        assert_eq!(others, Vec::from_iter(other));
        assert!(map.len() as u64 <= CAP, "len {}", map.len());
    };
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next_key = 0u64;
    for round in 0..8 {
        for _ in 0..CAP + 500 {
            let k = next_key;
            next_key += 1;
            map.pin().insert(k, k);
            model.insert(k, k);
            check(&mut model, None);
            assert_eq!(map.len(), model.len());
        }
        let mut keys: Vec<u64> = model.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let v = model[&k];
            if rng % 4 != 0 {
                assert_eq!(map.pin().remove(&k), Some(&v), "round {round}");
                check(&mut model, Some((k, v, RemovalCause::Explicit)));
                model.remove(&k);
            } else if rng % 8 == 0 {
                map.pin().insert(k, v + 1);
                check(&mut model, Some((k, v, RemovalCause::Replaced)));
                model.insert(k, v + 1);
            }
            assert_eq!(map.len(), model.len());
        }
    }
    let m = map.pin();
    for (k, v) in &model {
        assert_eq!(m.get(k), Some(v));
    }
}

/// A bounded map's table with far more buckets than entries (issue #12's sparse tables):
/// evictions find their victims by walking the directory, not the list. The ledger: every
/// inserted key is either in the map or was reported once, with its value and cause `Size`.
fn check_ledger(map: &HashMap<u64, u64>, log: &Log, keys: std::ops::Range<u64>) {
    let log = log.lock().unwrap();
    let mut reported = std::collections::HashSet::new();
    for &(k, v, cause) in log.iter() {
        assert_eq!(cause, RemovalCause::Size, "key {k}");
        assert_eq!(v, k * 10, "the evicted entry's own value");
        assert!(reported.insert(k), "key {k} reported twice");
    }
    let m = map.pin();
    for k in keys {
        assert!(
            reported.contains(&k) != m.contains_key(&k),
            "key {k}: present {}, reported {}",
            m.contains_key(&k),
            reported.contains(&k)
        );
    }
}

/// Capacity 10 in a table of 65,536 buckets (a capacity hint of 1 << 16): every insert
/// past the tenth evicts, and the bound and the ledger hold. (Each such eviction used to
/// walk the list through every sentinel, 169 µs per insert at 16,384 buckets.)
#[test]
fn a_sparse_table_keeps_the_bound_and_reports_each_eviction_once() {
    let log = Log::default();
    let map = HashMap::builder()
        .capacity(1 << 16)
        .max_capacity(10)
        .eviction_listener(logging(&log))
        .build();
    assert_eq!(map.bucket_count(), 1 << 16);
    for i in 0..3000u64 {
        map.pin().insert(i, i * 10);
        assert!(map.len() <= 10, "len {} after insert {i}", map.len());
    }
    assert_eq!(map.len(), 10);
    assert_eq!(log.lock().unwrap().len(), 2990);
    check_ledger(&map, &log, 0..3000);
    assert_eq!(map.stats().evictions, 2990);
}

/// A map grown to 20,000 entries, then bounded to 10 (its table never shrinks): the
/// shrink evicts 19,990 entries, each reported once, and later inserts keep the bound.
#[test]
fn a_grown_map_lowered_by_set_max_capacity_keeps_the_bound_and_reports_each_eviction_once() {
    let log = Log::default();
    let map = HashMap::builder()
        .max_capacity(u64::MAX)
        .eviction_listener(logging(&log))
        .build();
    for i in 0..20_000u64 {
        map.pin().insert(i, i * 10);
    }
    let buckets = map.bucket_count();
    map.set_max_capacity(10);
    assert_eq!(map.len(), 10);
    assert_eq!(map.weighted_size(), 10);
    assert_eq!(log.lock().unwrap().len(), 19_990);
    for i in 20_000..22_000u64 {
        map.pin().insert(i, i * 10);
        assert!(map.len() <= 10, "len {} after insert {i}", map.len());
    }
    assert_eq!(map.bucket_count(), buckets, "the table kept its buckets");
    assert_eq!(log.lock().unwrap().len(), 21_990);
    check_ledger(&map, &log, 0..22_000);
}

/// Hashes a `u64` key to itself, so that a test knows each key's bucket.
#[derive(Clone, Default)]
struct Identity;

struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

impl std::hash::BuildHasher for Identity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

/// In a sparse table, the stretch of buckets where an eviction first finds entries holds
/// nine live ones and, inserted last (so the youngest), an expired one: the expired one
/// goes, with cause `Expired`, and the live ones stay. (Keys hash to themselves: buckets
/// 1000–1009 of 65,536, far from the hand's start at bucket 0.)
#[test]
fn a_sparse_table_evicts_an_expired_entry_first() {
    let clock = ManualClock::new();
    let log = Log::default();
    let map = HashMap::builder()
        .hasher(Identity)
        .clock(clock.clone())
        .capacity(1 << 16)
        .max_capacity(10)
        .eviction_listener(logging(&log))
        .build();
    for k in (1000..1010u64).filter(|&k| k != 1005) {
        map.pin().insert(k, k * 10);
    }
    map.pin()
        .insert_with_ttl(1005, 10_050, Duration::from_secs(1));
    clock.advance(Duration::from_secs(2));
    // Over capacity: bucket 40,000 is past the live entries from the hand's start.
    map.pin().insert(40_000, 400_000);
    assert_eq!(
        *log.lock().unwrap(),
        [(1005, 10_050, RemovalCause::Expired)]
    );
    for k in (1000..1010u64).filter(|&k| k != 1005) {
        assert_eq!(map.pin().get(&k), Some(&(k * 10)));
    }
    assert_eq!(map.pin().get(&40_000), Some(&400_000));
}
