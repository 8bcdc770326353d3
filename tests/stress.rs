//! Concurrent tests with a few std threads and bounded iterations: atomic
//! read-modify-writes lose nothing, races have exactly one winner, readers never miss
//! stable keys while the table grows, churn with a moving clock leaves a consistent map,
//! and a refresh that succeeded is never lost to expiry. The `_long` variants (and
//! `long_churn`) are heavier, ignored by default. Iteration under concurrent change is
//! in `tests/iteration.rs`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use ttlmap::{Compute, Expiry, HashMap, ManualClock, Operation};

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

/// Counts a thread out of `alive` when dropped (also when it panics).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Readers look up 1000 stable keys over and over while a writer grows the table 100x.
/// Every other pass a reader stops halfway, and the writer waits for such a stop before
/// each doubling (then inserts on through it): so every doubling happens inside some pass,
/// whose second half runs at the new bucket count while the writer links the new buckets
/// (lookups start from an ancestor until then); the other passes race the writer freely.
#[test]
fn readers_never_miss_stable_keys_while_table_grows_100x() {
    const STABLE: u64 = 1_000;
    const READERS: usize = 2;
    let map = HashMap::new();
    for k in 0..STABLE {
        map.pin().insert(k, k * 3);
    }
    let buckets_before = map.bucket_count();
    let done = AtomicBool::new(false);
    // The number of the latest stop of a reader halfway through a pass.
    let halfway = AtomicUsize::new(0);
    let stops = AtomicUsize::new(0);
    let alive = AtomicUsize::new(READERS);
    // Passes during which the bucket count changed.
    let grown_within = AtomicUsize::new(0);
    let barrier = Barrier::new(READERS + 1);
    let doublings = thread::scope(|s| {
        for _ in 0..READERS {
            s.spawn(|| {
                let _alive = Leave(&alive);
                barrier.wait();
                for pass in 0.. {
                    // One full pass after the writer finished.
                    let finished = done.load(Ordering::SeqCst);
                    let size = map.bucket_count();
                    let m = map.pin();
                    for k in 0..STABLE {
                        if k == STABLE / 2 && pass % 2 == 0 && !finished {
                            // Stop until the table grows (the writer waits for this).
                            let now = map.bucket_count();
                            let stop = stops.fetch_add(1, Ordering::SeqCst) + 1;
                            halfway.fetch_max(stop, Ordering::SeqCst);
                            while map.bucket_count() == now && !done.load(Ordering::SeqCst) {
                                thread::yield_now();
                            }
                        }
                        assert_eq!(m.get(&k), Some(&(k * 3)), "stable key {k} missed");
                    }
                    if map.bucket_count() != size {
                        grown_within.fetch_add(1, Ordering::SeqCst);
                    }
                    if finished {
                        break;
                    }
                }
            });
        }
        let _done = SetOnDrop(&done);
        barrier.wait();
        let start = map.bucket_count();
        let (mut served, mut served_size) = (0, 0);
        for k in STABLE..STABLE * 101 {
            // Before each doubling, wait for a reader to stop halfway (unless one
            // failed), then go on inserting through the doubling while it reads on.
            let size = map.bucket_count();
            if map.len() + 64 >= size && served_size != size {
                while halfway.load(Ordering::SeqCst) == served
                    && alive.load(Ordering::SeqCst) == READERS
                {
                    thread::yield_now();
                }
                served = halfway.load(Ordering::SeqCst);
                served_size = size;
            }
            map.pin().insert(k, k * 3);
        }
        (map.bucket_count() / start).trailing_zeros() as usize
    });
    assert!(
        map.bucket_count() >= buckets_before * 64,
        "the table did not grow"
    );
    assert!(
        grown_within.load(Ordering::SeqCst) >= doublings,
        "{doublings} doublings, but only {} passes saw the table grow",
        grown_within.load(Ordering::SeqCst)
    );
    assert_eq!(map.len(), (STABLE * 101) as usize);
    let m = map.pin();
    assert_eq!(m.iter().count(), (STABLE * 101) as usize);
    for k in 0..STABLE * 101 {
        assert_eq!(m.get(&k), Some(&(k * 3)));
    }
}

/// Insert/remove/expire churn from `writers` threads while another thread advances a
/// manual clock; then, quiescent, the map must be self-consistent.
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

/// Counts a finished thread when dropped (also when it panics).
struct CountOnDrop<'a>(&'a AtomicUsize);

impl Drop for CountOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A refresh that returned `true` is never lost to a concurrent expiry, and one that
/// returned `false` found the entry expired.
///
/// Two reapers run all along: each moves the clock a step and unlinks what expired (one
/// purges, one sweeps with writes of its own). Each refresher owns a few keys (nobody
/// else writes them): it writes one with a TTL of 0–3 steps and a value naming itself
/// and the round, and refreshes it at once (`persist`, or `set_ttl` to an hour), so that
/// the refresh often runs while the deadline passes and races the reapers on the entry's
/// deadline word. A successful refresh must leave the entry live with that value, right
/// away, after the old deadline passed (the refresher waits for the clock), when it
/// comes back to the key and at the end; a failed one must leave it absent for good. A
/// refresh that started after the deadline must fail, one that returned before it must
/// succeed. (How many refreshes run while the deadline passes, the races the test is
/// about, depends on the scheduler: about half of them with both CPUs free.)
///
/// While a refresher waits for the clock it yields every `yield_every` spins: yielding
/// often is slow on a busy machine but switches threads (and so preempts one inside a
/// race window) far more often.
fn refresh_races_expiry(refreshers: u64, rounds: u64, yield_every: u32) {
    const KEYS: u64 = 4;
    const STEP: u64 = 1_000;
    let clock = ManualClock::new();
    let map: HashMap<u64, u64> = HashMap::builder().clock(clock.clone()).build();
    let finished = AtomicUsize::new(0);
    let barrier = Barrier::new(refreshers as usize + 2);
    let running = || finished.load(Ordering::SeqCst) < refreshers as usize;
    thread::scope(|s| {
        // Reaper 1: advance, purge.
        s.spawn(|| {
            barrier.wait();
            while running() {
                clock.advance(Duration::from_nanos(STEP));
                map.pin().purge_expired();
            }
        });
        // Reaper 2: advance, and write keys of its own with short TTLs (so that the
        // incremental sweep stays on); each write sweeps a bucket or more.
        s.spawn(|| {
            barrier.wait();
            let mut i = 0u64;
            while running() {
                clock.advance(Duration::from_nanos(STEP));
                let ttl = Duration::from_nanos(i % 4 * STEP);
                map.pin().insert_with_ttl((1 << 40) | (i % 16), i, ttl);
                i += 1;
            }
        });
        for t in 0..refreshers {
            let (map, clock, finished, barrier) = (&map, &clock, &finished, &barrier);
            s.spawn(move || {
                let _finished = CountOnDrop(finished);
                let mut rng = Rng::new(t + 1);
                // What each of our keys must hold: `Some(value)` if live for good.
                let mut expect = [None; KEYS as usize];
                barrier.wait();
                for round in 0..rounds {
                    let x = rng.next();
                    let slot = (round % KEYS) as usize;
                    let k = t * KEYS + slot as u64;
                    let m = map.pin();
                    assert_eq!(m.get(&k).copied(), expect[slot], "key {k}, round {round}");
                    let value = (t << 32) | round;
                    let ttl = Duration::from_nanos(x % (3 * STEP));
                    // The deadline lies between these two plus the TTL.
                    let before = clock.elapsed();
                    m.insert_with_ttl(k, value, ttl);
                    let after = clock.elapsed();
                    let persist = (x >> 32) & 1 == 0;
                    if round % 8 == 7 {
                        // Now and then, certainly too late: the refresh must fail.
                        clock.advance(ttl + Duration::from_nanos(1));
                    }
                    let called = clock.elapsed();
                    let refreshed = if persist {
                        m.persist(&k)
                    } else {
                        m.set_ttl(&k, Duration::from_secs(3600))
                    };
                    let returned = clock.elapsed();
                    if refreshed {
                        assert!(called < after + ttl, "refresh of {k} after its deadline");
                        assert_eq!(m.get(&k), Some(&value), "refresh of {k} lost");
                        if persist {
                            assert_eq!(m.ttl(&k), Some(Expiry::Never), "key {k}");
                        }
                        // Wait (the reapers move the clock) until the old deadline has
                        // passed: a lost refresh shows then at the latest.
                        let mut spins = 0u32;
                        while clock.elapsed() < after + ttl {
                            spins += 1;
                            if spins % yield_every == 0 {
                                thread::yield_now();
                            } else {
                                std::hint::spin_loop();
                            }
                        }
                        assert_eq!(
                            map.pin().get(&k),
                            Some(&value),
                            "refresh of {k} lost after the old deadline (round {round})"
                        );
                        expect[slot] = Some(value);
                    } else {
                        assert!(before + ttl <= returned, "refresh of a live {k} failed");
                        assert_eq!(m.get(&k), None, "key {k}, round {round}");
                        expect[slot] = None;
                    }
                }
                // Every old deadline has passed (see the wait above).
                for (slot, want) in expect.iter().enumerate() {
                    let k = t * KEYS + slot as u64;
                    assert_eq!(map.pin().get(&k).copied(), *want, "key {k} at the end");
                }
            });
        }
    });
}

#[test]
fn successful_refresh_is_never_lost_to_a_concurrent_sweep() {
    refresh_races_expiry(2, 5_000, 256);
}

#[test]
#[ignore = "long: run with --ignored"]
fn successful_refresh_is_never_lost_to_a_concurrent_sweep_long() {
    refresh_races_expiry(2, 100_000, 256);
    refresh_races_expiry(2, 20_000, 1);
}
