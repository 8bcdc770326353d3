use std::time::Duration;
use ttlmap::{HashMap, ManualClock};

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

/// The documented sweep bound: every entry expired at time t is unlinked within
/// `bucket count` later writes (one bucket swept per write), and the bucket count never
/// exceeds twice the peak length.
#[test]
fn expired_entries_are_unlinked_within_bucket_count_writes() {
    for n in [10u64, 1_000, 50_000] {
        let clock = ManualClock::new();
        let map = HashMap::builder().clock(clock.clone()).build();
        let m = map.pin();
        for i in 0..n {
            m.insert_with_ttl(i, i, Duration::from_secs(1));
        }
        let buckets = map.bucket_count() as u64;
        assert!(buckets <= 2 * n, "{buckets} buckets for {n} entries");
        clock.advance(Duration::from_secs(1));
        assert_eq!(m.get(&1), None);
        assert_eq!(m.len() as u64, n);
        let mut writes = 0;
        while !m.is_empty() {
            // Unrelated traffic: one insert and one remove of a key outside the range.
            m.insert(u64::MAX - writes, 0);
            m.remove(&(u64::MAX - writes));
            writes += 2;
            assert!(
                writes <= 2 * buckets + 2,
                "n={n}: {writes} writes, {buckets} buckets"
            );
        }
        assert!(
            writes <= buckets + 2,
            "n={n}: {writes} writes for {buckets} buckets"
        );
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
