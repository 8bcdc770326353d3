//! The bounded cache under concurrency, with a ledger of every value written: at the end,
//! each value is either in the map or was reported to the listener exactly once, with a
//! cause consistent with what the writers saw (`Replaced` for a value an insert
//! returned, `Explicit` for one a remove returned, `Expired` only for a value written
//! with a TTL), and the weighted size is within the last bound set. Six threads share
//! their keys; capacities from 1 to 100,000, sparse tables (a capacity hint far above the
//! bound), heavy weights, a thread that keeps changing the bound, a listener that
//! inserts, a clock that panics under the eviction pool's mutex. Also the filter words
//! under growth, tested with this harness when it was written.
//!
//! Apart from `bounded.rs` because of its size and its run time (about 3 s in release):
//! `cargo test --release --test bounded_stress` runs it alone. Builds with debug
//! assertions (the test profile, `scripts/asan.sh`) run a tenth of the operations: 1.4 s
//! under ASan.

use std::collections::HashMap as StdMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use ttlmap::{HashMap, ManualClock, RemovalCause};

/// Every listener call, in order.
type Log = Arc<Mutex<Vec<(u64, u64, RemovalCause)>>>;

/// The weight of value `v` (see `run`) when weights up to `heavy` are on (0: weight 1).
/// Value layout: unique id << 8 | ttl flag (bit 0) | weight class (bits 1..8).
fn weight_of(v: u64, heavy: u64) -> u32 {
    let class = (v >> 1) & 0x7f;
    if heavy == 0 {
        1
    } else {
        // 1 .. heavy, sometimes more than the capacity.
        (1 + (class * heavy) / 64) as u32
    }
}

/// One ledger run: six threads (`threads`) doing `ops` operations each on
/// `keys_per_thread * threads` shared keys: 55 % inserts (a quarter with a TTL of
/// 1–50 ms), 15 % removes, 2 % `persist`, 3 % a 1 ms clock step, 25 % gets.
#[derive(Clone, Copy)]
struct Params {
    cap: u64,
    hint: usize,
    threads: usize,
    ops: usize,
    keys_per_thread: u64,
    heavy: u64,
    shrink: bool,
}

/// What one thread wrote and what its inserts and removes returned.
#[derive(Default)]
struct Seen {
    inserted: Vec<(u64, u64)>,
    replaced: Vec<u64>,
    removed: Vec<u64>,
}

/// Runs `p` (with a thread calling `set_max_capacity` in a loop if `p.shrink`) and checks
/// the ledger; see the module docs.
fn run(mut p: Params) {
    // Debug and ASan builds: a tenth of the operations.
    if cfg!(debug_assertions) {
        p.ops /= 10;
    }
    let log = Log::default();
    let l = log.clone();
    let clock = ManualClock::new();
    let heavy = p.heavy;
    let mut b = HashMap::builder()
        .clock(clock.clone())
        .max_capacity(p.cap)
        .eviction_listener(move |k: &u64, v: &u64, c| l.lock().unwrap().push((*k, *v, c)));
    if p.hint > 0 {
        b = b.capacity(p.hint);
    }
    if heavy > 0 {
        b = b.weigher(move |_k: &u64, v: &u64| weight_of(*v, heavy));
    }
    let map: HashMap<u64, u64> = b.build();
    let ids = AtomicU64::new(1);
    let barrier = Barrier::new(p.threads + 1);
    let stop = AtomicBool::new(false);
    let last_cap = AtomicU64::new(p.cap);
    let seen: Vec<Seen> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..p.threads)
            .map(|t| {
                let (map, ids, barrier, clock) = (&map, &ids, &barrier, &clock);
                s.spawn(move || {
                    let mut seen = Seen::default();
                    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ ((t as u64 + 1) * 0x1234_5678_9abc);
                    barrier.wait();
                    for _ in 0..p.ops {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        // Keys shared between threads: any thread may replace or remove.
                        let k = rng % (p.keys_per_thread * p.threads as u64);
                        let op = (rng >> 40) % 100;
                        let m = map.pin();
                        if op < 55 {
                            let id = ids.fetch_add(1, Ordering::Relaxed);
                            let ttl = (rng >> 20) % 4 == 0;
                            let class = (rng >> 24) & 0x7f;
                            let v = id << 8 | class << 1 | u64::from(ttl);
                            seen.inserted.push((k, v));
                            let old = if ttl {
                                m.insert_with_ttl(k, v, Duration::from_millis(1 + (rng >> 50) % 50))
                            } else {
                                m.insert(k, v)
                            };
                            if let Some(&o) = old {
                                seen.replaced.push(o);
                            }
                        } else if op < 70 {
                            if let Some(&o) = m.remove(&k) {
                                seen.removed.push(o);
                            }
                        } else if op < 72 {
                            m.persist(&k);
                        } else if op < 75 {
                            clock.advance(Duration::from_millis(1));
                        } else {
                            let _ = m.get(&k);
                        }
                    }
                    seen
                })
            })
            .collect();
        let shrinker = p.shrink.then(|| {
            let (map, barrier, stop, last_cap) = (&map, &barrier, &stop, &last_cap);
            s.spawn(move || {
                barrier.wait();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let c = match i % 4 {
                        0 => p.cap / 4,
                        1 => p.cap,
                        2 => 1,
                        _ => p.cap / 2 + 1,
                    };
                    map.set_max_capacity(c);
                    last_cap.store(c, Ordering::Relaxed);
                    i += 1;
                    std::thread::yield_now();
                }
            })
        });
        if shrinker.is_none() {
            barrier.wait();
        }
        let seen = hs.into_iter().map(|h| h.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        if let Some(h) = shrinker {
            h.join().unwrap();
        }
        seen
    });
    // The final bound: the last set capacity; inserts have stopped, so enforce it.
    let cap = last_cap.load(Ordering::Relaxed);
    let ws_before = map.weighted_size();
    // Expired entries not yet removed are neither iterated nor reported: purge them
    // (cause `Expired`).
    map.purge_expired();
    let ws = map.weighted_size();
    let present: Vec<(u64, u64)> = map.pin().iter().map(|(k, v)| (*k, *v)).collect();
    let log = log.lock().unwrap().clone();
    // Ledger.
    let mut key_of: StdMap<u64, u64> = StdMap::new();
    for s in &seen {
        for &(k, v) in &s.inserted {
            assert!(key_of.insert(v, k).is_none());
        }
    }
    let mut out: StdMap<u64, Vec<String>> = StdMap::new();
    let mut reported: StdMap<u64, RemovalCause> = StdMap::new();
    for &(k, v, c) in &log {
        assert_eq!(
            key_of.get(&v),
            Some(&k),
            "reported {k}={v:#x} ({c:?}) never inserted"
        );
        if let Some(prev) = reported.insert(v, c) {
            panic!("value {v:#x} of key {k} reported twice: {prev:?} then {c:?}");
        }
        out.entry(v).or_default().push(format!("{c:?}"));
    }
    let mut weight = 0u64;
    for &(k, v) in &present {
        assert_eq!(
            key_of.get(&v),
            Some(&k),
            "present {k}={v:#x} never inserted"
        );
        assert!(
            !reported.contains_key(&v),
            "present {k}={v:#x} but reported {:?}",
            reported[&v]
        );
        weight += u64::from(weight_of(v, heavy));
    }
    let present_vals: std::collections::HashSet<u64> = present.iter().map(|e| e.1).collect();
    let mut missing = 0;
    for &v in key_of.keys() {
        if !present_vals.contains(&v) && !reported.contains_key(&v) {
            missing += 1;
            if missing < 5 {
                eprintln!(
                    "value {v:#x} of key {} neither present nor reported",
                    key_of[&v]
                );
            }
        }
    }
    assert_eq!(missing, 0, "values lost without a listener call");
    for s in &seen {
        for v in &s.replaced {
            assert_eq!(reported.get(v), Some(&RemovalCause::Replaced), "{v:#x}");
        }
        for v in &s.removed {
            assert_eq!(reported.get(v), Some(&RemovalCause::Explicit), "{v:#x}");
        }
    }
    let (mut rep, mut exp, mut size, mut expired) = (0, 0, 0, 0);
    for (&v, &c) in &reported {
        match c {
            RemovalCause::Replaced => rep += 1,
            RemovalCause::Explicit => exp += 1,
            RemovalCause::Size => size += 1,
            RemovalCause::Expired => {
                expired += 1;
                assert_eq!(v & 1, 1, "{v:#x} without a TTL reported Expired")
            }
            _ => unreachable!(),
        }
    }
    let nrep: usize = seen.iter().map(|s| s.replaced.len()).sum();
    let nrem: usize = seen.iter().map(|s| s.removed.len()).sum();
    assert_eq!(
        (rep, exp),
        (nrep, nrem),
        "Replaced/Explicit calls vs what writers saw"
    );
    assert_eq!(map.len(), present.len(), "len vs iteration");
    assert_eq!(ws, weight, "weighted size vs present weights");
    eprintln!(
        "cap {} last {cap} present {} ws {ws} size {size} expired {expired} replaced {rep} explicit {exp} buckets {}",
        p.cap,
        present.len(),
        map.bucket_count()
    );
    // Expired entries still present count toward the weight; the bound is on the weight.
    assert!(
        ws_before <= cap,
        "weighted size {ws_before} over the capacity {cap}"
    );
}

fn base(cap: u64) -> Params {
    Params {
        cap,
        hint: 0,
        threads: 6,
        ops: 15_000,
        keys_per_thread: (cap * 2).clamp(8, 50_000),
        heavy: 0,
        shrink: false,
    }
}

/// Capacity 1 in a table of 16,384 buckets (a capacity hint of 10,000): every eviction
/// in a sparse table, through far stretches of the hand or the sample's fallback walk.
#[test]
fn ledger_holds_at_capacity_1_in_a_sparse_table() {
    run(Params {
        hint: 10_000,
        ..base(1)
    });
}

/// Capacity 10 in a table of 16,384 buckets.
#[test]
fn ledger_holds_at_capacity_10_in_a_sparse_table() {
    run(Params {
        hint: 10_000,
        ..base(10)
    });
}

/// Capacity 1000: evictions through the pool in a dense table.
#[test]
fn ledger_holds_at_capacity_1000() {
    run(base(1000));
}

/// Capacity 100,000 (keys 300,000): the pool in a large table. (Fewer operations leave
/// the map below its bound: no eviction.)
#[test]
fn ledger_holds_at_capacity_100000() {
    run(Params {
        ops: 60_000,
        ..base(100_000)
    });
}

/// Capacity 1000 while another thread sets the bound to 250, 1000, 1 and 501 in turn.
#[test]
fn ledger_holds_at_capacity_1000_while_the_bound_changes() {
    run(Params {
        shrink: true,
        ..base(1000)
    });
}

/// Capacity 100,000 while another thread sets the bound to 25,000, 100,000, 1 and 50,001
/// in turn: the table grown for the larger bounds is sparse under the smaller ones.
#[test]
fn ledger_holds_at_capacity_100000_while_the_bound_changes() {
    run(Params {
        shrink: true,
        ops: 30_000,
        ..base(100_000)
    });
}

/// Capacity 1000 with weights from 1 to 1500: some values outweigh the whole capacity
/// (inserted, then removed at once, cause `Size`).
#[test]
fn ledger_holds_with_weights_above_the_capacity() {
    run(Params {
        heavy: 1500,
        ..base(1000)
    });
}

/// Capacity 100,000 with weights from 1 to 5000 while the bound changes.
#[test]
fn ledger_holds_with_heavy_weights_while_the_bound_changes() {
    run(Params {
        heavy: 5000,
        shrink: true,
        ops: 30_000,
        ..base(100_000)
    });
}

/// Capacity 10 with weights from 1 to 20 in a table of 8192 buckets.
#[test]
fn ledger_holds_with_weights_in_a_sparse_table() {
    run(Params {
        heavy: 20,
        hint: 5000,
        ..base(10)
    });
}

/// A user clock that panics during an eviction's walk of the hand (under the pool's
/// mutex) poisons the pool; later evictions go on using it: the bound holds, no key is
/// reported twice, and every key not written while the clock panicked is either present
/// or reported.
#[test]
fn a_clock_that_panics_inside_the_pool_leaves_the_bound_and_the_ledger_intact() {
    let boom = Arc::new(AtomicBool::new(false));
    let b2 = boom.clone();
    let log = Log::default();
    let l = log.clone();
    let map: HashMap<u64, u64> = HashMap::builder()
        .clock(ttlmap::Clock::from_fn(move || {
            assert!(!b2.load(Ordering::Relaxed), "clock boom");
            Duration::from_secs(1)
        }))
        .capacity(2000)
        .max_capacity(100)
        .eviction_listener(move |k: &u64, v: &u64, c| l.lock().unwrap().push((*k, *v, c)))
        .build();
    for i in 0..100 {
        map.pin().insert_with_ttl(i, i, Duration::from_secs(3600));
    }
    boom.store(true, Ordering::Relaxed);
    let mut panics = 0;
    for i in 100..200 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if i % 2 == 0 {
                map.set_max_capacity(50 + i % 7);
            } else {
                map.pin().insert(i, i);
            }
        }));
        panics += usize::from(r.is_err());
    }
    boom.store(false, Ordering::Relaxed);
    map.set_max_capacity(100);
    eprintln!("panics {panics}, len {}", map.len());
    for i in 200..5000 {
        map.pin().insert(i, i);
        assert!(map.weighted_size() <= 100);
    }
    assert!(panics > 0);
    let log = log.lock().unwrap();
    let mut seen = std::collections::HashSet::new();
    for &(k, _, _) in log.iter() {
        assert!(seen.insert(k), "{k} reported twice");
    }
    let present: Vec<u64> = map.pin().keys().copied().collect();
    for k in (0..5000).filter(|k| !(100..200).contains(k) || k % 2 == 1) {
        assert!(
            seen.contains(&k) != present.contains(&k),
            "key {k}: present {} reported {}",
            present.contains(&k),
            seen.contains(&k)
        );
    }
}

/// A listener that inserts into the map (a key of its own range for each `Size`
/// eviction of a third of the workers' keys), with 6 threads through the pool: at the
/// end, the bound holds and `len`, the weighted size and an iteration agree.
#[test]
fn a_listener_that_inserts_back_keeps_the_bound_and_the_counts() {
    const CAP: u64 = 2000;
    let slot: Arc<std::sync::OnceLock<std::sync::Weak<HashMap<u64, u64>>>> = Arc::default();
    let s2 = slot.clone();
    let calls = Arc::new(AtomicU64::new(0));
    let c2 = calls.clone();
    let map = Arc::new(
        HashMap::builder()
            .max_capacity(CAP)
            .eviction_listener(move |k: &u64, v: &u64, c| {
                c2.fetch_add(1, Ordering::Relaxed);
                if c == RemovalCause::Size && *k < 1 << 40 && k % 3 == 0 {
                    if let Some(m) = s2.get().and_then(|w| w.upgrade()) {
                        m.pin().insert(k | 1 << 40, *v);
                    }
                }
            })
            .build(),
    );
    slot.set(Arc::downgrade(&map)).unwrap();
    let ops: u64 = if cfg!(debug_assertions) {
        2_000
    } else {
        20_000
    };
    std::thread::scope(|s| {
        for t in 0..6u64 {
            let map = &map;
            s.spawn(move || {
                for i in 0..ops {
                    let k = (t << 32 | i) % (1 << 40);
                    map.pin().insert(k, i);
                    if i % 5 == 0 {
                        map.pin().remove(&(k / 2));
                    }
                }
            });
        }
    });
    let n = map.pin().iter().count();
    eprintln!(
        "listener calls {}, len {}, buckets {}",
        calls.load(Ordering::Relaxed),
        map.len(),
        map.bucket_count()
    );
    assert_eq!(map.len(), n);
    assert_eq!(map.weighted_size(), n as u64);
    assert!(n as u64 <= CAP, "{n}");
    drop(slot);
}

/// The filter (16-bit words): no false negatives while the table grows from 2 buckets,
/// for writers reading back their own inserts and a reader checking keys published by a
/// writer after their insert (Release/Acquire on a per-writer high-water mark). Run
/// with the default hasher and with a structured one (`k << 29 ^ k`: bits 32-62 taken
/// from the key's low bits, so that neighbouring keys share most mask inputs).
fn filter_growth(structured: bool) {
    #[derive(Clone, Default)]
    struct Shift;
    struct H(u64);
    impl std::hash::Hasher for H {
        fn finish(&self) -> u64 {
            self.0 << 29 ^ self.0
        }
        fn write(&mut self, _: &[u8]) {
            unreachable!()
        }
        fn write_u64(&mut self, x: u64) {
            self.0 = x;
        }
    }
    impl std::hash::BuildHasher for Shift {
        type Hasher = H;
        fn build_hasher(&self) -> H {
            H(0)
        }
    }
    const W: u64 = 3;
    let n: u64 = if cfg!(debug_assertions) {
        10_000
    } else {
        100_000
    };
    let marks: Vec<AtomicU64> = (0..W).map(|_| AtomicU64::new(0)).collect();
    if structured {
        run_filter(HashMap::with_hasher(Shift), &marks, n, W);
    } else {
        run_filter(HashMap::new(), &marks, n, W);
    }
}

/// `w_count` writers insert `n` keys each into `map` and read them back, publishing
/// their progress in `marks`; a reader looks up published keys until they are done.
fn run_filter<S: std::hash::BuildHasher + Sync>(
    map: HashMap<u64, u64, S>,
    marks: &[AtomicU64],
    n: u64,
    w_count: u64,
) {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..w_count)
            .map(|w| {
                let (map, marks) = (&map, marks);
                let done = &done;
                s.spawn(move || {
                    // A failing writer stops the reader too (else the scope waits forever).
                    struct Stop<'a>(&'a AtomicBool);
                    impl Drop for Stop<'_> {
                        fn drop(&mut self) {
                            if std::thread::panicking() {
                                self.0.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                    let _stop = Stop(done);
                    for i in 0..n {
                        let k = i * w_count + w;
                        map.pin().insert(k, k);
                        assert_eq!(map.pin().get(&k), Some(&k), "own insert of {k} not seen");
                        marks[w as usize].store(i + 1, Ordering::Release);
                        // An absent key near it: never found.
                        assert_eq!(map.pin().get(&(k | 1 << 50)), None);
                    }
                })
            })
            .collect();
        let (map, done) = (&map, &done);
        let reader = s.spawn(move || {
            let mut x = 12345u64;
            let mut checks = 0u64;
            while !done.load(Ordering::Relaxed) {
                for w in 0..w_count {
                    let m = marks[w as usize].load(Ordering::Acquire);
                    if m == 0 {
                        continue;
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // The latest published key and a random earlier one.
                    for i in [m - 1, x % m] {
                        let k = i * w_count + w;
                        assert_eq!(map.pin().get(&k), Some(&k), "published {k} not found");
                        checks += 1;
                    }
                }
            }
            checks
        });
        for h in writers {
            h.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        eprintln!(
            "reader checks {}, buckets {}",
            reader.join().unwrap(),
            map.bucket_count()
        );
    });
}

/// The filter words have no false negatives while the table grows, with the default
/// hasher.
#[test]
fn the_filter_has_no_false_negatives_while_the_table_grows() {
    filter_growth(false);
}

/// The same with a hasher whose hashes share most of their filter's mask inputs between
/// neighbouring keys.
#[test]
fn the_filter_has_no_false_negatives_with_a_structured_hasher() {
    filter_growth(true);
}
