//! Lookups racing growth along long bucket chains. A hasher that shifts the key left
//! gives every used bucket a chain of about `2^SHIFT` entries (at load factor 1 only one
//! bucket in `2^SHIFT` is used), and its hashes have no bits above 31, so every key has
//! the same bucket-filter bits and every lookup walks its chain. Each doubling links a
//! new sentinel into the middle of every chain: a lookup that read the old bucket count
//! meets it with the looked-up key behind it. With `u64` keys the lookup compares keys
//! along the chain first (`RawMap::get_walk`), and must go on past such a sentinel.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;

use ttlmap::HashMap;

/// `hash(k) = k << SHIFT`.
#[derive(Clone, Copy, Default)]
struct Shift<const SHIFT: u32>;

struct ShiftHasher<const SHIFT: u32>(u64);

impl<const SHIFT: u32> Hasher for ShiftHasher<SHIFT> {
    fn finish(&self) -> u64 {
        self.0 << SHIFT
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys");
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl<const SHIFT: u32> BuildHasher for Shift<SHIFT> {
    type Hasher = ShiftHasher<SHIFT>;
    fn build_hasher(&self) -> ShiftHasher<SHIFT> {
        ShiftHasher(0)
    }
}

/// Sets the flag when dropped, so that helper threads stop even if the test panics.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A value that names its key and a generation.
fn value(k: u64, generation: u64) -> u64 {
    (k << 16) | generation
}

/// Per round, a fresh map of 2 buckets holding `STABLE` keys, which two writer threads
/// grow to about `2^GROW_TO` entries while a churner removes and re-inserts its own keys
/// and a reader looks up every stable key (always found, with its value), every churned
/// key (absent, or one of its own values: never another key's node) and keys never
/// inserted (absent).
fn gets_race_growth<const SHIFT: u32>(rounds: usize) {
    const STABLE: u64 = 256;
    const CHURN: u64 = 64;
    const GROW_TO: u64 = 1 << 13;
    const WRITERS: u64 = 2;
    let checked = AtomicUsize::new(0);
    for round in 0..rounds {
        let map: HashMap<u64, u64, Shift<SHIFT>> = HashMap::builder().hasher(Shift).build();
        {
            let m = map.pin();
            // Stable keys spread over the key space, so that the writers' keys fall in
            // between them in every chain.
            for i in 0..STABLE {
                m.insert(i * 37, value(i * 37, 0));
            }
        }
        let churned = |i: u64| STABLE * 37 + i * 41;
        let done = AtomicBool::new(false);
        let barrier = Barrier::new(WRITERS as usize + 3);
        thread::scope(|s| {
            let mut writers = Vec::new();
            for w in 0..WRITERS {
                let (map, barrier) = (&map, &barrier);
                writers.push(s.spawn(move || {
                    barrier.wait();
                    for k in (0..GROW_TO).map(|j| (1 << 40) + j * WRITERS + w) {
                        map.pin().insert(k, value(k, 1));
                    }
                }));
            }
            s.spawn(|| {
                barrier.wait();
                let mut generation = 1;
                while !done.load(Ordering::Relaxed) {
                    let m = map.pin();
                    for i in 0..CHURN {
                        let k = churned(i);
                        if generation % 2 == 1 {
                            m.insert(k, value(k, generation));
                        } else {
                            m.remove(&k);
                        }
                    }
                    generation += 1;
                }
            });
            let reader = s.spawn(|| {
                barrier.wait();
                let mut last = false;
                loop {
                    // One full pass after the writers finished.
                    let finished = done.load(Ordering::SeqCst);
                    let m = map.pin();
                    for i in 0..STABLE {
                        let k = i * 37;
                        assert_eq!(
                            m.get(&k),
                            Some(&value(k, 0)),
                            "round {round}: stable key {k} missed ({} buckets)",
                            map.bucket_count()
                        );
                        assert_eq!(
                            m.get(&(k + 1)),
                            None,
                            "round {round}: key {} never inserted",
                            k + 1
                        );
                        let c = churned(i % CHURN);
                        if let Some(&v) = m.get(&c) {
                            assert_eq!(
                                v >> 16,
                                c,
                                "round {round}: key {c} gave another key's value {v:#x}"
                            );
                        }
                        checked.fetch_add(1, Ordering::Relaxed);
                    }
                    if last {
                        break;
                    }
                    last = finished;
                }
            });
            let _done = SetOnDrop(&done);
            barrier.wait();
            for w in writers {
                w.join().unwrap();
            }
            drop(_done);
            reader.join().unwrap();
        });
        assert!(
            map.bucket_count() >= (GROW_TO as usize) * 2,
            "the table did not grow"
        );
        let m = map.pin();
        for i in 0..STABLE {
            assert_eq!(m.get(&(i * 37)), Some(&value(i * 37, 0)));
        }
    }
    assert!(checked.load(Ordering::Relaxed) > 0);
}

/// Chains of about 16 entries.
#[test]
fn gets_never_miss_stable_keys_while_threads_grow_chains_of_16() {
    gets_race_growth::<4>(if cfg!(debug_assertions) { 4 } else { 20 });
}

/// Chains of about 256 entries: every doubling puts a sentinel in the middle of each.
#[test]
fn gets_never_miss_stable_keys_while_threads_grow_chains_of_256() {
    gets_race_growth::<8>(if cfg!(debug_assertions) { 1 } else { 5 });
}
