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

#[test]
fn expiry_and_sweep() {
    let clock = ManualClock::new();
    let map = HashMap::builder().clock(clock.clone()).build();
    let m = map.pin();
    for i in 0..1000u64 {
        m.insert_with_ttl(i, i, Duration::from_secs(1));
    }
    clock.advance(Duration::from_secs(1));
    assert_eq!(m.get(&1), None);
    assert_eq!(m.len(), 1000);
    let mut writes = 0;
    while !m.is_empty() {
        m.insert(1_000_000 + writes, 0);
        m.remove(&(1_000_000 + writes));
        writes += 2;
        assert!(writes < 4000, "sweep too slow");
    }
    assert!(writes <= 2000, "writes {writes}");
}
