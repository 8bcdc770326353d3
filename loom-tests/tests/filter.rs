#![cfg(ttlmap_loom)]
//! The bucket filter (`src/raw/filter.rs`): a lookup may answer "absent" from a bucket's
//! filter word without walking the bucket, so the word must never miss a key that is in
//! the map, whatever the interleaving of inserts, growth and bucket initialisation.

use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, val, MaskHasher, Val};
use ttlmap::ManualClock;

/// A lookup racing the insert of its key: `None` or the value, never anything else, and
/// after the insert returned, the value.
#[test]
fn insert_vs_filtered_get() {
    model("insert_vs_filtered_get", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().insert(1, Val::new(10))));
        let seen = val(map.pin().get(&1));
        assert!(matches!(seen, None | Some(10)), "{seen:?}");
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(
            val(map.pin().get(&1)),
            Some(10),
            "the filter hid a present key"
        );
    });
}

/// An insert that read the old bucket count (2) sets its key's bit in the parent
/// bucket's word, racing growth to 4 buckets and the initialisation of the child bucket,
/// which copies the parent's word. Key `K` is in bucket 1 of 2 and in bucket 3 of 4 (its
/// low bits are 3), and its filter bits (from hash bits 32 and up) differ from key 7's, so
/// key 7's insert into bucket 3 does not set them by chance. After both threads are done, a
/// lookup reads bucket 3's word: it must hold `K`'s bit (either the copy saw it, or the
/// insert saw the growth and set it there too).
/// Bucket 3 at 2 or more buckets; filter bits other than key 7's ([`distinct_bits`]).
const K: u64 = 3 | 1 << 32;

/// Panics unless `key`'s filter bits are not all among `others'`: every model that relies
/// on a key's bits differing checks it, so that a change to the filter's bits cannot make
/// the model vacuous (one did: a rescaling of the bit gave `K` the bit of every other key,
/// and the deliberately broken variant passed).
fn distinct_bits(key: u64, others: &[u64]) {
    let theirs = others
        .iter()
        .fold(0, |acc, &k| acc | ttlmap::filter_mask(k));
    let ours = ttlmap::filter_mask(key);
    assert_ne!(
        ours & theirs,
        ours,
        "key {key:#x} has no filter bit of its own"
    );
}

#[test]
fn stale_size_insert_vs_split_and_child_init() {
    distinct_bits(K, &[0, 2, 4, 7]);
    model("stale_size_insert_vs_split_and_child_init", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        // Two keys in bucket 0: the next insert doubles the table to 4 buckets.
        map.pin().insert(0, Val::new(0));
        map.pin().insert(2, Val::new(2));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().insert(K, Val::new(30))));
        // The third key doubles the table; key 7 then initialises bucket 3 (7 & 3),
        // whose word inherits bucket 1's.
        map.pin().insert(4, Val::new(4));
        map.pin().insert(7, Val::new(70));
        assert_eq!(t.join().unwrap(), None);
        assert!(map.bucket_count() >= 4);
        assert_eq!(
            val(map.pin().get(&K)),
            Some(30),
            "the child's filter missed the key"
        );
        assert_eq!(val(map.pin().get(&7)), Some(70));
    });
}

/// Key `K2` is in bucket 3 of 4, like key 3, with filter bits of its own
/// ([`distinct_bits`]).
const K2: u64 = 3 | 1 << 32;

/// Two inserts into bucket 3 of 4, which neither finds ready: one claims its
/// initialisation, the other (finding it claimed) sets its bit in bucket 3's word, which
/// is not valid yet, and links its node from bucket 1. Its own lookup right after, while
/// the first may still be initialising, must see the key: a word that is not valid yet
/// still holds the bits set in it, so lookups and initialisers merge the words from the
/// bucket up to its nearest valid ancestor (a regression: they used to skip to that
/// ancestor, which lacks the bit). Two threads: the main thread inserts and looks up.
#[test]
fn insert_into_claimed_bucket_vs_lookup() {
    distinct_bits(K2, &[0, 2, 4, 3]);
    model("insert_into_claimed_bucket_vs_lookup", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        // Three keys in bucket 0: the table doubles to 4 buckets; bucket 3 is not linked.
        for k in [0, 2, 4] {
            map.pin().insert(k, Val::new(k));
        }
        assert_eq!(map.bucket_count(), 4);
        let m1 = map.clone();
        let t1 = thread::spawn(move || val(m1.pin().insert(3, Val::new(30))));
        assert_eq!(val(map.pin().insert(K2, Val::new(31))), None);
        assert_eq!(
            val(map.pin().get(&K2)),
            Some(31),
            "the filter hid a present key"
        );
        assert_eq!(t1.join().unwrap(), None);
        assert_eq!(val(map.pin().get(&3)), Some(30));
        assert_eq!(val(map.pin().get(&K2)), Some(31));
    });
}

/// Key `Y` is in bucket 3 of 4 and in bucket 7 of 8, with filter bits of its own
/// ([`distinct_bits`]).
const Y: u64 = 7 | 1 << 32;

/// An initialiser whose parent is claimed but not valid: a thread claims bucket 3's
/// initialisation; the main thread inserts `Y` (finding bucket 3 claimed, it sets its bit
/// in 3's word and links from bucket 1), doubles the table to 8 buckets and initialises
/// bucket 7, whose parent 3 may still be claimed: 7's word must merge 3's (and lookups of
/// `Y` through bucket 7 must then find it). The old code skipped a non-valid parent and
/// tripped a `debug_assert` here (found by review, after the model above).
#[test]
fn init_under_a_claimed_parent_merges_its_bits() {
    distinct_bits(Y, &[0, 8, 16, 3, 24, 32, 15]);
    model("init_under_a_claimed_parent_merges_its_bits", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        for k in [0, 8, 16] {
            map.pin().insert(k, Val::new(k));
        }
        assert_eq!(map.bucket_count(), 4);
        let m1 = map.clone();
        let t1 = thread::spawn(move || val(m1.pin().insert(3, Val::new(30))));
        assert_eq!(val(map.pin().insert(Y, Val::new(71))), None);
        // Two more keys in bucket 0 of 8: the table doubles to 8.
        map.pin().insert(24, Val::new(24));
        map.pin().insert(32, Val::new(32));
        // 8, unless t1's insert counted past 4 first and claimed the doubling: then it may
        // still be mapping the new segment (it publishes the count right after, and we
        // go on without waiting), and key 15 below lands in bucket 3 of 4.
        let grown = map.bucket_count();
        assert!(grown == 8 || grown == 4, "{grown} buckets");
        // Bucket 7 of 8: initialises it (from its parent 3, claimed or ready).
        assert_eq!(val(map.pin().insert(15, Val::new(15))), None);
        assert_eq!(
            val(map.pin().get(&Y)),
            Some(71),
            "the filter hid a present key"
        );
        assert_eq!(t1.join().unwrap(), None);
        assert_eq!(map.bucket_count(), 8, "the claimant published the doubling");
        assert_eq!(val(map.pin().get(&3)), Some(30));
        assert_eq!(val(map.pin().get(&Y)), Some(71));
        assert_eq!(val(map.pin().get(&15)), Some(15));
    });
}

/// Key `Z` is in bucket 3 of 4 (bucket 1 of 2), like `K`, with filter bits of its own:
/// never inserted.
const Z: u64 = 3 | 3 << 60;

/// Lookups that the filter answers while the table grows and a child bucket is
/// initialised: the main thread inserts `K` (bucket 1 of 2 or 3 of 4) while another
/// thread's insert of key 7 doubles the table to 4 buckets and initialises bucket 3. The
/// main thread's lookups of `Z` (absent) and `K` (its own insert) race that, so they take
/// every path of `RawMap::probe`: absent at 2 and at 4 buckets, a ready bucket, a word not
/// valid yet, a bucket not ready, and the count changing between the lookup's two reads
/// (counted once with a temporary print: 1,174 executions of that last path). It does not
/// catch `ttlmap_broken_filter` (the stale-size model above does). By the fresh-eyes
/// review of the lookup path.
#[test]
fn filtered_lookups_race_growth_and_child_init() {
    distinct_bits(Z, &[0, 2, 7, K]);
    model("filtered_lookups_race_growth_and_child_init", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert(0, Val::new(0));
        map.pin().insert(2, Val::new(2));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().insert(7, Val::new(70))));
        assert_eq!(val(map.pin().insert(K, Val::new(30))), None);
        assert_eq!(val(map.pin().get(&Z)), None);
        assert_eq!(
            val(map.pin().get(&K)),
            Some(30),
            "the filter hid the thread's own insert"
        );
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(val(map.pin().get(&K)), Some(30));
        assert_eq!(val(map.pin().get(&Z)), None);
        assert_eq!(val(map.pin().get(&7)), Some(70));
    });
}
