use ttlmap::HashMap;

mod common;

#[test]
fn basic_ops_and_growth() {
    let map = HashMap::new();
    let m = map.pin();
    for i in 0..10_000u64 {
        assert_eq!(m.insert(i, i * 2), None);
    }
    assert_eq!(m.len(), 10_000);
    assert!(map.bucket_count() >= 10_000 / 4);
    for i in 0..10_000u64 {
        assert_eq!(m.get(&i), Some(&(i * 2)));
    }
    assert_eq!(m.get(&10_001), None);
    for i in 0..5_000u64 {
        assert_eq!(m.remove(&i), Some(&(i * 2)));
    }
    assert_eq!(m.len(), 5_000);
    assert_eq!(m.iter().count(), 5_000);
}

/// The documented sweep bound (crate docs, "Expiry"): an entry that expired is unlinked
/// within `bucket count` writes, counting the writes of all threads.
///
/// What `src/raw/expiry.rs` gives, precisely: every write that sweeps (each successful
/// insert, update or remove while the clock is past the sweep hint) claims at least one
/// value `c` of the shared cursor and sweeps bucket `c mod s` of the bucket count `s` it
/// read, as the interval of split-order keys that bucket covers. Take the writes that
/// start after the expiry at `t`, when no write is running (one running at `t` may claim
/// a value afterwards but judge by a clock reading before `t`, and waste it); they claim
/// the consecutive cursor values from `c_t` on.
/// Bucket counts are powers of two and only grow, so with `S` the count after these
/// writes, the one value `c*` in `[c_t, c_t + S)` that is congruent to the entry's hash
/// mod `S` is congruent to it mod every count `s ≤ S` a claimer may have read (even a
/// stale one): the claimer of `c*` sweeps the entry's interval whatever it read. So once
/// `S` such writes have completed, every entry that expired at `t` is unlinked: the bound
/// is counted at the bucket count *after* the writes (the larger one if the table grew
/// meanwhile), and it needs nothing of the order in which threads claim.
///
/// These tests count the writes exactly and check `len` (which counts expired entries
/// until they are unlinked) against the live entries right at the bound. The clock is
/// manual and only moves while no write runs, so every write reads a time past `t`.
mod sweep_bound {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Barrier;
    use std::time::Duration;

    use ttlmap::{HashMap, ManualClock};

    use crate::common::Direct;

    /// Keys of unrelated traffic: far from the entries under test.
    const TRAFFIC: u64 = 1 << 40;

    /// Entries `0..n` in four kinds: no deadline, expiring after 1 s, after 2 s, after an
    /// hour. Returns the map.
    fn mixed(clock: &ManualClock, n: u64) -> HashMap<u64, u64> {
        let map = HashMap::builder().clock(clock.clone()).build();
        for i in 0..n {
            let m = map.pin();
            match i % 4 {
                0 => m.insert(i, i),
                1 => m.insert_with_ttl(i, i, Duration::from_secs(1)),
                2 => m.insert_with_ttl(i, i, Duration::from_secs(2)),
                _ => m.insert_with_ttl(i, i, Duration::from_secs(3600)),
            };
        }
        map
    }

    /// How many of `0..n` are still live after `elapsed` seconds.
    fn live(n: u64, elapsed: u64) -> usize {
        (0..n)
            .filter(|i| match i % 4 {
                0 => true,
                1 => elapsed < 1,
                2 => elapsed < 2,
                _ => elapsed < 3600,
            })
            .count()
    }

    /// A write that sweeps, of a traffic key this caller owns: inserts it if `present` is
    /// false, else removes it (both succeed, so both sweep). Returns the new presence.
    fn toggle<S: BuildHasher>(map: &HashMap<u64, u64, S>, key: u64, present: bool) -> bool {
        let m = map.pin();
        if present {
            assert!(m.remove(&key).is_some());
        } else {
            assert!(m.insert(key, 0).is_none());
        }
        !present
    }

    /// Single writer: after exactly `bucket count` writes, nothing expired is left, at
    /// each of three expiries, with live entries (with and without deadlines) all around.
    /// Between the expiries a full cycle of writes runs a switch-off pass over the live
    /// deadlines, which must leave sweeping on.
    #[test]
    fn expired_entries_among_live_ones_are_unlinked_within_bucket_count_writes() {
        for n in [10u64, 1_000, 50_000] {
            let clock = ManualClock::new();
            let map = mixed(&clock, n);
            let buckets = map.bucket_count();
            assert!(buckets as u64 <= 2 * n, "{buckets} buckets for {n} entries");
            let mut present = false;
            let mut elapsed = 0;
            for step in [1, 1, 3598] {
                // Two cycles of writes first. After an expiry sweeping stays on, and a
                // switch-off pass meets the live deadlines, which must keep it on (before
                // the first expiry nothing is due and nothing sweeps).
                for _ in 0..2 * buckets {
                    present = toggle(&map, TRAFFIC, present);
                }
                clock.advance(Duration::from_secs(step));
                elapsed += step;
                assert!(map.sweeping(), "n={n}, t={elapsed}s: a deadline is due");
                assert_eq!(map.len() - usize::from(present), live(n, elapsed - step));
                let mut writes = 0;
                while writes < map.bucket_count() {
                    present = toggle(&map, TRAFFIC, present);
                    writes += 1;
                }
                assert_eq!(
                    map.len() - usize::from(present),
                    live(n, elapsed),
                    "n={n}, t={elapsed}s: expired entries left after {writes} writes \
                     (as many as buckets)"
                );
            }
            let m = map.pin();
            assert!((0..n).all(|i| m.get(&i).is_some() == (i % 4 == 0)));
        }
    }

    /// The bucket count of the sharp tests below.
    const S: u64 = 1024;

    /// The sharp case: every bucket of `S` holds a live entry (bucket 0 one with an hour
    /// to live, so that every switch-off pass ends at its first bucket) but the last,
    /// which holds the one entry that expires, `expired` (hash `≡ S - 1` mod `S`). No
    /// write has swept yet when it expires, so the cursor starts at 0 and the last bucket
    /// is the last one the cycle reaches: exactly at the bound.
    ///
    /// `threads` writers then make `writes` writes in all (numbered by a shared ticket):
    /// writer `t` replaces the value of key `t + 1` (a write that sweeps and leaves every
    /// bucket as full as it was, so that each write claims exactly one bucket), except
    /// that write `inserts.start + j` inserts the new key `new_key(j)` instead.
    fn last_bucket(
        threads: u64,
        expired: u64,
        writes: u64,
        inserts: std::ops::Range<u64>,
        new_key: fn(u64) -> u64,
    ) -> HashMap<u64, u64, Direct> {
        let clock = ManualClock::new();
        let map: HashMap<u64, u64, Direct> = HashMap::builder()
            .hasher(Direct::default())
            .capacity(S as usize)
            .clock(clock.clone())
            .build();
        {
            let m = map.pin();
            m.insert_with_ttl(0, 0, Duration::from_secs(3600));
            for k in 1..S - 1 {
                m.insert(k, k);
            }
            m.insert_with_ttl(expired, 0, Duration::from_secs(1));
        }
        assert_eq!(map.bucket_count() as u64, S);
        assert_eq!(map.len() as u64, S);
        clock.advance(Duration::from_secs(1));
        assert!(map.sweeping());
        let tickets = AtomicU64::new(0);
        let barrier = Barrier::new(threads as usize);
        std::thread::scope(|s| {
            for t in 0..threads {
                let (map, tickets, barrier, inserts) = (&map, &tickets, &barrier, &inserts);
                s.spawn(move || {
                    barrier.wait();
                    loop {
                        let i = tickets.fetch_add(1, Ordering::Relaxed);
                        if i >= writes {
                            break;
                        }
                        let m = map.pin();
                        if inserts.contains(&i) {
                            let k = new_key(i - inserts.start);
                            assert!(m.insert(k, k).is_none());
                        } else {
                            assert!(m.insert(t + 1, i).is_some());
                        }
                    }
                });
            }
        });
        map
    }

    /// `S` writes, from one thread or several: the last of them unlinks the entry.
    #[test]
    fn the_cycles_last_bucket_is_swept_by_the_bucket_count_th_write() {
        for threads in [1, 3] {
            let map = last_bucket(threads, 2 * S - 1, S, 0..0, |j| j);
            assert_eq!(map.bucket_count() as u64, S, "no growth");
            assert_eq!(
                map.len() as u64,
                S - 1,
                "{threads} threads: the expired entry in the last bucket is still \
                 linked after {S} writes"
            );
        }
    }

    /// The table doubles early in the cycle: writes 200.. insert the keys `S - 1 ..
    /// 2S - 1`, and the count passes `S` at once. The expired entry's hash is `≡ 2S - 1`
    /// mod `2S`: the claim of cursor value `S - 1`, made at the new count, sweeps bucket
    /// `S - 1` of `2S`, not it; the claim of `2S - 1` does. So `S` writes (the count
    /// when the cycle began) are not the bound here, `2S` (the count after the writes)
    /// are, and they are enough, from one thread or several.
    #[test]
    fn after_growth_mid_cycle_the_bound_is_the_larger_bucket_count() {
        for threads in [1, 3] {
            let map = last_bucket(threads, 4 * S - 1, 2 * S, 200..200 + S, |j| S - 1 + j);
            assert_eq!(map.bucket_count() as u64, 2 * S, "one doubling");
            assert_eq!(
                map.len() as u64,
                2 * S - 1,
                "{threads} threads: the expired entry in the last bucket is still \
                 linked after {} writes ({S} buckets, then {})",
                2 * S,
                2 * S
            );
        }
    }

    /// Two doublings early in the cycle, `S` to `4S`, by inserts that initialise every
    /// new bucket but `2S - 1` and `4S - 1`. The expired entry (hash `4S - 1`, linked
    /// while the count was `S`) sits in bucket `4S - 1`, whose sentinel is never linked:
    /// its claim walks from the nearest ready ancestor, `S - 1`, past the sentinel of
    /// `3S - 1` (linked early, soon after the second doubling), which sorts between them:
    /// the walk must go on past that sentinel to the entry's interval. `4S` writes are
    /// the bound.
    #[test]
    fn the_bound_holds_when_growth_initialises_buckets_between_an_entry_and_its_ancestor() {
        for threads in [1, 3] {
            // Keys S - 1 .. 4S - 1 but 2S - 1: 3S - 1 of them, 4S - 1 entries in all, in
            // increasing order but for 3S - 1, moved up to right after the count passed 2S.
            let new_key = |j| match j {
                _ if j == S + 64 => 3 * S - 1,
                _ if j == 2 * S - 1 => 2 * S + 64,
                _ if j < S => S - 1 + j,
                _ => S + j,
            };
            let map = last_bucket(threads, 4 * S - 1, 4 * S, 200..200 + 3 * S - 1, new_key);
            assert_eq!(map.bucket_count() as u64, 4 * S, "two doublings");
            assert_eq!(
                map.len() as u64,
                4 * S - 2,
                "{threads} threads: the expired entry in the last bucket is still \
                 linked after {} writes ({S} buckets, then {})",
                4 * S,
                4 * S
            );
        }
    }
}

#[test]
fn shrink_to_fit_gives_buckets_back_and_keeps_every_entry() {
    let mut map = ttlmap::HashMap::new();
    for i in 0..10_000u64 {
        map.pin().insert(i, i);
    }
    let grown = map.bucket_count();
    assert!(grown >= 8_192, "{grown}");

    // Keep 10 entries (and leave the removed ones' nodes to the shrink to free).
    map.pin().retain(|k, _| *k % 1_000 == 0);
    map.shrink_to_fit();
    assert_eq!(map.bucket_count(), 16, "10 entries at load factor 1");
    assert_eq!(map.len(), 10);
    {
        let m = map.pin();
        let mut keys: Vec<u64> = m.keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(keys, (0..10).map(|i| i * 1_000).collect::<Vec<_>>());
        for i in 0..10_000u64 {
            assert_eq!(m.get(&i).is_some(), i % 1_000 == 0, "key {i}");
        }
    }

    // Everything gone: two buckets, and the map grows again from there.
    map.pin().clear();
    map.shrink_to_fit();
    assert_eq!(map.bucket_count(), 2);
    assert!(map.is_empty());
    for i in 0..1_000u64 {
        assert_eq!(map.pin().insert(i, i + 1), None);
    }
    assert!(map.bucket_count() >= 512);
    let m = map.pin();
    assert!((0..1_000u64).all(|i| m.get(&i) == Some(&(i + 1))));
    assert_eq!(m.iter().count(), 1_000);
}

#[test]
fn shrink_to_fit_keeps_unpurged_expired_entries_until_purged() {
    let clock = ttlmap::ManualClock::new();
    let mut map = ttlmap::HashMap::builder().clock(clock.clone()).build();
    for i in 0..100u64 {
        map.pin()
            .insert_with_ttl(i, i, std::time::Duration::from_secs(1 + i % 2));
    }
    clock.advance(std::time::Duration::from_millis(1_500));
    map.shrink_to_fit();
    // The 50 expired entries still count until purged, but none is visible.
    assert_eq!(map.len(), 100);
    assert_eq!(map.pin().iter().count(), 50);
    assert_eq!(map.purge_expired(), 50);
    map.shrink_to_fit();
    assert_eq!(map.len(), 50);
    assert_eq!(map.bucket_count(), 64);
    let m = map.pin();
    assert!((0..100u64).all(|i| m.get(&i).is_some() == (i % 2 == 1)));
}

/// A capacity hint of 2^18 allocates its largest directory segments (2 MiB and up) on
/// huge pages (Linux): the map works across them, grows past them on small pages, and
/// `shrink_to_fit` rebuilds onto a hinted directory again.
#[test]
fn hinted_map_with_huge_page_segments_grows_shrinks_and_keeps_every_entry() {
    let mut map = ttlmap::HashMap::with_capacity(1 << 18);
    assert_eq!(map.bucket_count(), 1 << 18);
    let n = 600_000u64;
    for i in 0..n {
        assert_eq!(map.pin().insert(i, !i), None);
    }
    assert!(map.bucket_count() >= 1 << 19, "grew past the hint");
    {
        let m = map.pin();
        assert!((0..n).all(|i| m.get(&i) == Some(&!i)));
        assert_eq!(m.iter().count(), n as usize);
    }
    map.pin().retain(|k, _| k % 3 == 0);
    map.shrink_to_fit();
    let kept = n.div_ceil(3);
    assert_eq!(map.len(), kept as usize);
    assert_eq!(map.bucket_count(), (kept as usize).next_power_of_two());
    let m = map.pin();
    assert!((0..n).all(|i| m.get(&i).is_some() == (i % 3 == 0)));
    assert_eq!(m.iter().count(), kept as usize);
}
