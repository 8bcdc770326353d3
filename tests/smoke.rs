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
