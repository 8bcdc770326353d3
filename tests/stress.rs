//! Concurrent tests with a few std threads and bounded iterations: atomic
//! read-modify-writes lose nothing, races have exactly one winner, readers never miss
//! stable keys while the table grows, and churn with a moving clock leaves a consistent
//! map. `long_churn` is a heavier variant, ignored by default.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use ttlmap::{Compute, HashMap, ManualClock, Operation};

const THREADS: usize = 3;

/// A small xorshift generator, so that threads do different things.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Sets the flag when dropped, so that helper threads stop even if the test panics.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn concurrent_updates_of_one_key_are_never_lost() {
    const M: u64 = 5_000;
    let map = HashMap::new();
    map.pin().insert("hits", 0u64);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..M {
                    assert!(map.pin().update("hits", |v| v + 1).is_some());
                }
            });
        }
    });
    assert_eq!(map.pin().get("hits"), Some(&(THREADS as u64 * M)));
}

#[test]
fn concurrent_update_or_insert_and_compute_are_never_lost() {
    const M: u64 = 3_000;
    let map = HashMap::new();
    thread::scope(|s| {
        for t in 0..THREADS {
            let map = &map;
            s.spawn(move || {
                for i in 0..M {
                    let m = map.pin();
                    if (i + t as u64) % 2 == 0 {
                        m.update_or_insert(7u8, |v| v + 1, 1u64);
                    } else {
                        let r = m.compute(7u8, |e| match e {
                            Some((_, v)) => Operation::<_, ()>::Insert(v + 1),
                            None => Operation::Insert(1),
                        });
                        assert!(matches!(r, Compute::Inserted(..) | Compute::Updated { .. }));
                    }
                }
            });
        }
    });
    assert_eq!(map.pin().get(&7), Some(&(THREADS as u64 * M)));
}

#[test]
fn racing_get_or_insert_with_has_exactly_one_winner() {
    let map = HashMap::new();
    let barrier = Barrier::new(THREADS);
    for round in 0..400u32 {
        let seen: Vec<usize> = thread::scope(|s| {
            let hs: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (map, barrier) = (&map, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        *map.pin().get_or_insert_with(round, || t)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            seen.iter().all(|&v| v == seen[0]),
            "round {round}: {seen:?}"
        );
        assert_eq!(map.pin().get(&round), Some(&seen[0]));
    }
}

#[test]
fn racing_try_insert_has_exactly_one_winner() {
    let map = HashMap::new();
    let barrier = Barrier::new(THREADS);
    for round in 0..400u32 {
        let results: Vec<Result<usize, (usize, usize)>> = thread::scope(|s| {
            let hs: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (map, barrier) = (&map, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        map.pin()
                            .try_insert(round, t)
                            .copied()
                            .map_err(|e| (*e.current, e.not_inserted))
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = results.iter().filter_map(|r| r.ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (t, r) in results.iter().enumerate() {
            if let Err((current, not_inserted)) = *r {
                assert_eq!(current, winners[0], "round {round}");
                assert_eq!(not_inserted, t, "round {round}");
            }
        }
    }
}

#[test]
fn racing_remove_has_exactly_one_winner() {
    let map = HashMap::new();
    let barrier = Barrier::new(THREADS);
    for round in 0..400u32 {
        map.pin().insert(round % 8, round);
        let removed: Vec<Option<u32>> = thread::scope(|s| {
            let hs: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (map, barrier) = (&map, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let m = map.pin();
                        match t % 3 {
                            0 => m.remove(&(round % 8)).copied(),
                            1 => m.remove_entry(&(round % 8)).map(|(_, v)| *v),
                            _ => m
                                .remove_if(&(round % 8), |_, _| true)
                                .unwrap()
                                .map(|e| *e.1),
                        }
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wins: Vec<u32> = removed.iter().flatten().copied().collect();
        assert_eq!(wins, [round], "round {round}: {removed:?}");
        assert!(map.is_empty());
    }
}

#[test]
fn readers_never_miss_stable_keys_while_table_grows_100x() {
    const STABLE: u64 = 1_000;
    let map = HashMap::new();
    for k in 0..STABLE {
        map.pin().insert(k, k * 3);
    }
    let buckets_before = map.bucket_count();
    let done = AtomicBool::new(false);
    let passes = AtomicUsize::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            let _done = SetOnDrop(&done);
            for k in STABLE..STABLE * 101 {
                map.pin().insert(k, k * 3);
            }
        });
        for _ in 0..2 {
            s.spawn(|| {
                // At least one full pass after the writer finished.
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let m = map.pin();
                    for k in 0..STABLE {
                        assert_eq!(m.get(&k), Some(&(k * 3)), "stable key {k} missed");
                    }
                    passes.fetch_add(1, Ordering::Relaxed);
                    if finished {
                        break;
                    }
                }
            });
        }
    });
    assert!(passes.load(Ordering::Relaxed) >= 2);
    assert_eq!(map.len(), (STABLE * 101) as usize);
    assert!(
        map.bucket_count() >= buckets_before * 32,
        "the table did not grow"
    );
    let m = map.pin();
    assert_eq!(m.iter().count(), (STABLE * 101) as usize);
    for k in 0..STABLE * 101 {
        assert_eq!(m.get(&k), Some(&(k * 3)));
    }
}

/// Insert/remove/expire churn from `writers` threads while another thread advances a
/// manual clock; then, quiescent, the map must be self-consistent.
/// Iterators (and `retain`) walk bucket by bucket over a snapshot of the bucket count;
/// growth during the walk must not make them skip or repeat an entry that stays put.
#[test]
fn iterators_yield_each_stable_key_once_while_table_grows_and_churns() {
    const STABLE: u64 = 1_000;
    let map = HashMap::new();
    // Stable keys are even; the writer adds odd keys and removes some of them again.
    for k in 0..STABLE {
        map.pin().insert(k * 2, k);
    }
    let done = AtomicBool::new(false);
    let passes = AtomicUsize::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            let _done = SetOnDrop(&done);
            for k in 0..STABLE * 60 {
                let m = map.pin();
                m.insert(k * 2 + 1, k);
                if k % 3 == 0 {
                    m.remove(&(k * 2 + 1));
                }
            }
        });
        s.spawn(|| loop {
            let finished = done.load(Ordering::SeqCst);
            let mut seen = vec![0u8; STABLE as usize];
            let m = map.pin();
            for (k, v) in m.iter() {
                if k % 2 == 0 {
                    assert_eq!(*v, k / 2);
                    seen[(k / 2) as usize] += 1;
                }
            }
            // `retain` walks the same way: it must offer each stable key once too.
            let mut offered = vec![0u8; STABLE as usize];
            m.retain(|k, _| {
                if k % 2 == 0 {
                    offered[(k / 2) as usize] += 1;
                }
                true
            });
            for k in 0..STABLE as usize {
                assert_eq!(
                    seen[k],
                    1,
                    "iter saw stable key {} {} times",
                    k * 2,
                    seen[k]
                );
                assert_eq!(
                    offered[k],
                    1,
                    "retain offered key {} {} times",
                    k * 2,
                    offered[k]
                );
            }
            passes.fetch_add(1, Ordering::Relaxed);
            if finished {
                break;
            }
        });
    });
    assert!(passes.load(Ordering::Relaxed) >= 2);
    assert!(map.bucket_count() >= 64 * 1024, "the table did not grow");
}

fn churn(writers: usize, iters: usize, keys: u64) {
    let clock = ManualClock::new();
    let map: HashMap<u64, u64> = HashMap::builder().clock(clock.clone()).build();
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let _done = SetOnDrop(&done);
        let hs: Vec<_> = (0..writers)
            .map(|t| {
                let map = &map;
                s.spawn(move || {
                    let mut rng = Rng::new(t as u64 + 1);
                    for _ in 0..iters {
                        let x = rng.next();
                        let k = x % keys;
                        let m = map.pin();
                        match (x >> 32) % 8 {
                            0 | 1 => {
                                m.insert_with_ttl(k, k, Duration::from_micros(x % 2_000));
                            }
                            2 => {
                                m.insert(k, k);
                            }
                            3 => {
                                m.remove(&k);
                            }
                            4 => {
                                if let Some(v) = m.get(&k) {
                                    assert_eq!(*v, k);
                                }
                            }
                            5 => {
                                m.set_ttl(&k, Duration::from_micros(x % 500));
                            }
                            6 => {
                                m.update(k, |v| *v);
                            }
                            _ => {
                                if x % 64 == 0 {
                                    m.purge_expired();
                                }
                                m.get_or_insert(k, k);
                            }
                        }
                    }
                })
            })
            .collect();
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                clock.advance(Duration::from_micros(100));
                thread::yield_now();
            }
        });
        for h in hs {
            h.join().unwrap();
        }
    });

    let m = map.pin();
    m.purge_expired();
    let entries: Vec<(u64, u64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(m.len(), entries.len(), "len after purge_expired vs iter");
    let distinct: HashSet<u64> = entries.iter().map(|e| e.0).collect();
    assert_eq!(distinct.len(), entries.len(), "a key was iterated twice");
    for &(k, v) in &entries {
        assert_eq!(k, v);
        assert_eq!(m.get(&k), Some(&v));
    }
    for k in 0..keys {
        assert_eq!(m.contains_key(&k), distinct.contains(&k), "key {k}");
    }
    // Everything left expires, and then the map is empty.
    for k in 0..keys {
        m.set_ttl(&k, Duration::from_secs(1));
    }
    clock.advance(Duration::from_secs(1));
    assert_eq!(m.purge_expired(), entries.len());
    assert!(m.is_empty());
    assert_eq!(m.iter().count(), 0);
}

#[test]
fn churn_with_moving_clock_leaves_a_consistent_map() {
    churn(THREADS, 20_000, 256);
}

#[test]
#[ignore = "long: run with --ignored"]
fn long_churn() {
    churn(4, 1_000_000, 4_096);
}

#[test]
fn successful_refresh_is_never_lost_to_a_concurrent_sweep() {
    let clock = ManualClock::new();
    let map: HashMap<u64, u64> = HashMap::builder().clock(clock.clone()).build();
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        // Writers whose every write sweeps one bucket.
        for t in 0..2u64 {
            let (map, done, clock) = (&map, &done, &clock);
            s.spawn(move || {
                let mut i = 0;
                while !done.load(Ordering::SeqCst) {
                    let k = 1_000_000 * (t + 1) + i % 512;
                    map.pin().insert_with_ttl(k, 0, Duration::from_micros(50));
                    i += 1;
                    if i % 8 == 0 {
                        clock.advance(Duration::from_micros(20));
                    }
                }
            });
        }
        let _done = SetOnDrop(&done);
        let mut refreshed = 0;
        for round in 0..20_000u64 {
            let k = round % 256;
            let m = map.pin();
            m.insert_with_ttl(k, round, Duration::from_micros(30));
            if m.persist(&k) {
                refreshed += 1;
                // Persisted: it must stay, whatever the sweepers do meanwhile.
                for _ in 0..3 {
                    assert_eq!(map.pin().get(&k), Some(&round), "refresh of {k} lost");
                }
                assert_eq!(map.pin().ttl(&k), Some(ttlmap::Expiry::Never));
            }
        }
        assert!(refreshed > 0);
    });
}
