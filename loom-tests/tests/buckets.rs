#![cfg(ttlmap_loom)]
//! Bucket initialisation and table doubling. The identity hasher puts key k in bucket
//! `k & (buckets - 1)`. Capacity hint 0 gives 2 buckets (load factor 1), both ready: the
//! buckets a hint asks for are linked up front, so buckets are initialised lazily only
//! after the table doubles. Each model therefore grows the table before it races.

use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, val, MaskHasher, Val};
use ttlmap::{HashMap, ManualClock};

/// A map of 2 buckets grown by inserting `keys` (single-threaded, before any race).
fn grown(keys: &[u64], clock: &ManualClock) -> Arc<HashMap<u64, Val, MaskHasher>> {
    let map = map_with::<Val>(0, MaskHasher::IDENTITY, clock);
    {
        let m = map.pin();
        for &k in keys {
            m.insert(k, Val::new(k * 10));
        }
    }
    Arc::new(map)
}

/// On a map of keys 0 and 1 in 2 buckets: a thread that inserts 4 (the 3rd entry, which
/// doubles the table) and then 3, which links bucket 3's sentinel into bucket 1's old
/// interval, with key 3 behind it.
fn spawn_grow_and_link_bucket_3(
    map: &Arc<HashMap<u64, Val, MaskHasher>>,
) -> thread::JoinHandle<()> {
    let map = map.clone();
    thread::spawn(move || {
        let m = map.pin();
        assert_eq!(val(m.insert(4, Val::new(40))), None);
        assert_eq!(val(m.insert(3, Val::new(30))), None);
    })
}

/// Two inserts racing to initialise the same bucket: 3 and 7 → bucket 3 of 4, after
/// keys 0, 1, 2 doubled the table (the 3rd entry exceeds 2 buckets).
#[test]
fn bucket_init_same_bucket() {
    model("bucket_init_same_bucket", 3, || {
        let clock = ManualClock::new();
        let map = grown(&[0, 1, 2], &clock);
        assert_eq!(map.bucket_count(), 4);
        let m2 = map.clone();
        let t = thread::spawn(move || {
            let m = m2.pin();
            assert_eq!(val(m.insert(7, Val::new(70))), None);
            assert_eq!(val(m.get(&7)), Some(70));
        });
        {
            let m = map.pin();
            assert_eq!(val(m.insert(3, Val::new(30))), None);
            assert_eq!(val(m.get(&3)), Some(30));
        }
        t.join().unwrap();
        let m = map.pin();
        for k in [0, 1, 2, 3, 7] {
            assert_eq!(val(m.get(&k)), Some(k * 10), "key {k}");
        }
        assert_eq!(m.iter().count(), 5);
    });
}

/// Inserts racing to initialise a parent/child pair: key 6 → bucket 6, whose parent is
/// bucket 2, which key 2 initialises. Keys 0, 1, 8, 9, 16 grew the table to 8 buckets
/// without touching buckets 2–7.
#[test]
fn bucket_init_parent_child() {
    model("bucket_init_parent_child", 3, || {
        let clock = ManualClock::new();
        let map = grown(&[0, 1, 8, 9, 16], &clock);
        assert_eq!(map.bucket_count(), 8);
        let m2 = map.clone();
        let t = thread::spawn(move || {
            let m = m2.pin();
            assert_eq!(val(m.insert(6, Val::new(60))), None);
            assert_eq!(val(m.get(&6)), Some(60));
        });
        {
            let m = map.pin();
            assert_eq!(val(m.insert(2, Val::new(20))), None);
            assert_eq!(val(m.get(&2)), Some(20));
        }
        t.join().unwrap();
        let m = map.pin();
        assert_eq!(val(m.get(&2)), Some(20));
        assert_eq!(val(m.get(&6)), Some(60));
        let mut keys: Vec<u64> = m.keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(keys, [0, 1, 2, 6, 8, 9, 16]);
    });
}

/// A lookup that read the old bucket count walks from bucket 1 while another thread
/// doubles the table and links bucket 3's sentinel (and key 3 behind it) into bucket 1's
/// old interval. The lookup may stop at a sentinel only if the count is unchanged, so
/// whatever it answers for key 3, key 1 (before the new sentinel) is always found, and
/// key 3 is found once the insert is done.
#[test]
fn get_across_growth() {
    model("get_across_growth", 2, || {
        let clock = ManualClock::new();
        let map = grown(&[0, 1], &clock);
        assert_eq!(map.bucket_count(), 2);
        let t = spawn_grow_and_link_bucket_3(&map);
        {
            let m = map.pin();
            let got = val(m.get(&3));
            assert!(got.is_none() || got == Some(30), "{got:?}");
            assert_eq!(val(m.get(&1)), Some(10));
        }
        t.join().unwrap();
        assert_eq!(map.bucket_count(), 4);
        let m = map.pin();
        for k in [0, 1, 3, 4] {
            assert_eq!(val(m.get(&k)), Some(k * 10), "key {k}");
        }
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

/// An iterator walks bucket by bucket over the bucket count it read first, while another
/// thread doubles the table and links bucket 3's sentinel (and key 3) into bucket 1's
/// interval: keys 0 and 1, present throughout, come out exactly once, and nothing twice.
#[test]
fn iter_across_growth() {
    model("iter_across_growth", 2, || {
        let clock = ManualClock::new();
        let map = grown(&[0, 1], &clock);
        let t = spawn_grow_and_link_bucket_3(&map);
        {
            let m = map.pin();
            let mut keys: Vec<u64> = m.keys().copied().collect();
            keys.sort_unstable();
            let before = keys.len();
            keys.dedup();
            assert_eq!(keys.len(), before, "a key came out twice: {keys:?}");
            assert!(keys.starts_with(&[0, 1]), "{keys:?}");
        }
        t.join().unwrap();
        let m = map.pin();
        let mut keys: Vec<u64> = m.keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(keys, [0, 1, 3, 4]);
    });
}

/// Two inserts cross the doubling threshold at once (keys 2 and 3, the 3rd and 4th entries
/// of a 2-bucket map). One claims the segment of the new buckets 2 and 3 and allocates it
/// before it publishes the count; the other may find the claim taken and the segment not
/// there yet, and then goes on at 2 buckets without waiting, leaving the doubling to the
/// claimant. Either way the table has doubled once both inserts are done (no thread may
/// leave it to the other), and keys then inserted into the new buckets are found.
#[test]
fn doubling_claimed_by_one_thread() {
    model("doubling_claimed_by_one_thread", 2, || {
        let clock = ManualClock::new();
        let map = grown(&[0, 1], &clock);
        assert_eq!(map.bucket_count(), 2);
        let m2 = map.clone();
        let t = thread::spawn(move || {
            let m = m2.pin();
            assert_eq!(val(m.insert(3, Val::new(30))), None);
        });
        {
            let m = map.pin();
            assert_eq!(val(m.insert(2, Val::new(20))), None);
        }
        t.join().unwrap();
        assert_eq!(
            map.bucket_count(),
            4,
            "4 entries in 2 buckets: the doubling was lost"
        );
        let m = map.pin();
        assert_eq!(val(m.insert(6, Val::new(60))), None);
        for k in [0, 1, 2, 3, 6] {
            assert_eq!(val(m.get(&k)), Some(k * 10), "key {k}");
        }
    });
}

/// A lookup of a key present throughout (3, in bucket 1's interval at 2 buckets) while
/// another thread doubles the table (inserting 4, the 3rd entry) and initialises bucket 3
/// (inserting 7), which links bucket 3's sentinel between keys 1 and 3: key 3 lies past
/// the new sentinel. Whatever count the lookup read (2: it walks from bucket 1 and may
/// meet the new sentinel; 4: bucket 3, or its ancestor 1 while 3 is not ready), it finds
/// key 3. Checks the key-first walk of `get_walk` (u64 keys compare cheaply): at a
/// sentinel it may stop only while the count is the start's, else the ordered walk goes
/// on past the sentinel. Fails if that walk takes every sentinel for the end, or if
/// `Start::ends_at` ignores the count.
#[test]
fn get_key_past_new_child_sentinel() {
    model("get_key_past_new_child_sentinel", 2, || {
        let clock = ManualClock::new();
        let map = grown(&[1, 3], &clock);
        assert_eq!(map.bucket_count(), 2);
        let m2 = map.clone();
        let t = thread::spawn(move || {
            let m = m2.pin();
            assert_eq!(val(m.insert(4, Val::new(40))), None);
            assert_eq!(val(m.insert(7, Val::new(70))), None);
        });
        {
            let m = map.pin();
            assert_eq!(val(m.get(&3)), Some(30), "key 3 was present throughout");
            assert_eq!(val(m.get(&1)), Some(10), "key 1 was present throughout");
        }
        t.join().unwrap();
        assert_eq!(map.bucket_count(), 4);
        let m = map.pin();
        for k in [1, 3, 4, 7] {
            assert_eq!(val(m.get(&k)), Some(k * 10), "key {k}");
        }
    });
}
