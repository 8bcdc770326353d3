#![cfg(ttlmap_loom)]
//! Bucket initialisation and table doubling. The identity hasher puts key k in bucket
//! `k & (buckets - 1)`; capacity hint 4 gives 4 buckets (load factor 1), 0 gives 2.

use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, val, MaskHasher, Val};
use ttlmap::ManualClock;

/// Two inserts racing to initialise the same bucket (1 and 5 → bucket 1 of 4).
#[test]
fn bucket_init_same_bucket() {
    model("bucket_init_same_bucket", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(4, MaskHasher::IDENTITY, &clock));
        assert_eq!(map.bucket_count(), 4);
        let m2 = map.clone();
        let t = thread::spawn(move || {
            let m = m2.pin();
            assert_eq!(val(m.insert(5, Val::new(50))), None);
            assert_eq!(val(m.get(&5)), Some(50));
        });
        {
            let m = map.pin();
            assert_eq!(val(m.insert(1, Val::new(10))), None);
            assert_eq!(val(m.get(&1)), Some(10));
        }
        t.join().unwrap();
        let m = map.pin();
        assert_eq!(val(m.get(&1)), Some(10));
        assert_eq!(val(m.get(&5)), Some(50));
        assert_eq!(m.iter().count(), 2);
    });
}

/// Inserts racing to initialise a parent/child pair: key 3 → bucket 3, whose parent is
/// bucket 1, which key 1 initialises.
#[test]
fn bucket_init_parent_child() {
    model("bucket_init_parent_child", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(4, MaskHasher::IDENTITY, &clock));
        assert_eq!(map.bucket_count(), 4);
        let m2 = map.clone();
        let t = thread::spawn(move || {
            let m = m2.pin();
            assert_eq!(val(m.insert(3, Val::new(30))), None);
            assert_eq!(val(m.get(&3)), Some(30));
        });
        {
            let m = map.pin();
            assert_eq!(val(m.insert(1, Val::new(10))), None);
            assert_eq!(val(m.get(&1)), Some(10));
        }
        t.join().unwrap();
        let m = map.pin();
        assert_eq!(val(m.get(&1)), Some(10));
        assert_eq!(val(m.get(&3)), Some(30));
        let mut keys: Vec<u64> = m.keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(keys, [1, 3]);
    });
}

/// A doubling (2 → 4 buckets, triggered by the 3rd entry: the load factor is 1)
/// concurrent with inserts into the new buckets 2 and 3: nothing is lost, whatever size
/// each thread saw.
#[test]
fn growth_concurrent_inserts() {
    model("growth_concurrent_inserts", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        {
            let m = map.pin();
            for k in [0, 1] {
                m.insert(k, Val::new(k * 10));
            }
        }
        assert_eq!(map.bucket_count(), 2);
        let m2 = map.clone();
        let t = thread::spawn(move || {
            let m = m2.pin();
            assert_eq!(val(m.insert(7, Val::new(70))), None);
            assert_eq!(val(m.get(&7)), Some(70));
        });
        {
            let m = map.pin();
            assert_eq!(val(m.insert(6, Val::new(60))), None);
            assert_eq!(val(m.get(&6)), Some(60));
        }
        t.join().unwrap();
        assert_eq!(map.bucket_count(), 4, "4 entries: grown once, at the 3rd");
        let m = map.pin();
        for k in [0, 1, 6, 7] {
            assert_eq!(val(m.get(&k)), Some(k * 10), "key {k}");
        }
        assert_eq!(m.iter().count(), 4);
        // Inserts after the doubling land in the new buckets and still find the rest.
        assert_eq!(val(m.insert(3, Val::new(30))), None);
        assert_eq!(val(m.get(&3)), Some(30));
        assert_eq!(m.len(), 5);
    });
}
