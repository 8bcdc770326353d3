#![cfg(ttlmap_loom)]
//! Races between writers of one key: insert/insert, insert/remove, remove/remove,
//! get_or_insert_with/get_or_insert_with.

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, val, MaskHasher, Val};
use ttlmap::ManualClock;

/// Two inserts of one absent key: exactly one reports `None` (new), the other gets the
/// first one's value back, and the map ends with the second one's value.
#[test]
fn insert_insert_same_key() {
    model("insert_insert_same_key", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().insert(1, Val::new(20))));
        let a = val(map.pin().insert(1, Val::new(10)));
        let b = t.join().unwrap();
        let end = val(map.pin().get(&1));
        match (a, b) {
            (None, Some(10)) => assert_eq!(end, Some(20)),
            (Some(20), None) => assert_eq!(end, Some(10)),
            other => panic!("insert results {other:?}"),
        }
        assert_eq!(map.len(), 1);
        assert_eq!(map.pin().iter().count(), 1);
    });
}

/// Insert over a present key racing its removal: the two outcomes are the two orders,
/// and each value is dropped exactly once by the end. (The insert may find the node
/// tombstoned and mark it before the remover does: the remover must then retire the
/// first value itself instead of leaving it to the node, see `OWNS_FIRST`.)
#[test]
fn insert_vs_remove() {
    model("insert_vs_remove", 3, || {
        let clock = ManualClock::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert(1, Val::tracked(10, &drops));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().remove(&1)));
        let ins = val(map.pin().insert(1, Val::tracked(20, &drops)));
        let rem = t.join().unwrap();
        let end = val(map.pin().get(&1));
        match (ins, rem) {
            // insert, then remove
            (Some(10), Some(20)) => assert_eq!(end, None),
            // remove, then insert of a vacant key
            (None, Some(10)) => assert_eq!(end, Some(20)),
            other => panic!("(insert, remove) = {other:?}"),
        }
        assert_eq!(map.len(), usize::from(end.is_some()));
        drop(Arc::try_unwrap(map).ok().expect("last reference"));
        assert_eq!(drops.load(Ordering::SeqCst), 2, "each value dropped once");
    });
}

/// Two removes of one key: exactly one gets the value, which is dropped once.
#[test]
fn remove_vs_remove() {
    model("remove_vs_remove", 3, || {
        let clock = ManualClock::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert(1, Val::tracked(10, &drops));
        map.pin().insert(3, Val::new(30));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().remove(&1)));
        let a = val(map.pin().remove(&1));
        let b = t.join().unwrap();
        assert!(
            matches!((a, b), (Some(10), None) | (None, Some(10))),
            "removes returned {a:?}, {b:?}"
        );
        assert_eq!(val(map.pin().get(&1)), None);
        assert_eq!(val(map.pin().get(&3)), Some(30));
        assert_eq!(map.len(), 1);
        drop(Arc::try_unwrap(map).ok().expect("last reference"));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the removed value dropped once"
        );
    });
}

/// Racing `get_or_insert_with` of one key: both get the same value, which is the one
/// in the map, and it came from one of the two closures.
#[test]
fn get_or_insert_with_one_winner() {
    model("get_or_insert_with_one_winner", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        let calls = Arc::new(AtomicUsize::new(0));
        let (m2, c2) = (map.clone(), calls.clone());
        let t = thread::spawn(move || {
            m2.pin()
                .get_or_insert_with(1, || {
                    c2.fetch_add(1, Ordering::Relaxed);
                    Val::new(20)
                })
                .get()
        });
        let a = map
            .pin()
            .get_or_insert_with(1, || {
                calls.fetch_add(1, Ordering::Relaxed);
                Val::new(10)
            })
            .get();
        let b = t.join().unwrap();
        assert_eq!(a, b, "both callers see the winner");
        assert!(a == 10 || a == 20);
        assert_eq!(val(map.pin().get(&1)), Some(a));
        assert!((1..=2).contains(&calls.load(Ordering::Relaxed)));
        assert_eq!(map.len(), 1);
    });
}

/// `try_insert` of an absent key racing a remove of it: the `Ok` reference is the
/// inserter's own value, even if the entry is removed right after it is linked.
///
/// The property behind a bug the `concurrent` fuzz target found: `insert` used to re-read
/// the node's cell *after* linking it, so a remover in between made it return a null or
/// foreign cell. Loom reproduces that bug with this model only thanks to the loom-only
/// no-op RMW after the link in `RawMap::insert` (see the README); the fuzz artifact
/// `fuzz/artifacts/concurrent/crash-32beebae…`, replayed in CI, is a second regression
/// input.
#[test]
fn try_insert_returns_own_value_while_removed() {
    model("try_insert_returns_own_value_while_removed", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().remove(&1)));
        let got = map.pin().try_insert(1, Val::new(10)).map(|v| v.get()).ok();
        let removed = t.join().unwrap();
        assert_eq!(got, Some(10), "try_insert returned a foreign value");
        assert!(removed.is_none() || removed == Some(10));
    });
}

/// A removal unlinks its node through the link its lookup found it by (`unlink_after`),
/// racing the removal of the node that link belongs to. Keys 1, 5 and 3 share bucket 1
/// in that order (split order), so the removal of 5 found it through 1's link, which the
/// other thread marks and unlinks. Each removed value is dropped once, and 3 stays.
/// (Without the check that the link is unmarked, the lookup's walk may pass 1 marked and
/// CAS its frozen link: the unlinker of 1 then puts 5 back in the list after its
/// retirement.)
#[test]
fn remove_after_its_predecessor_is_removed() {
    model("remove_after_its_predecessor_is_removed", 3, || {
        let clock = ManualClock::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert(1, Val::tracked(10, &drops));
        map.pin().insert(5, Val::tracked(50, &drops));
        map.pin().insert(3, Val::new(30));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().remove(&1)));
        let a = val(map.pin().remove(&5));
        let b = t.join().unwrap();
        assert_eq!((a, b), (Some(50), Some(10)));
        assert_eq!(val(map.pin().get(&1)), None);
        assert_eq!(val(map.pin().get(&5)), None);
        assert_eq!(val(map.pin().get(&3)), Some(30));
        assert_eq!(map.pin().iter().count(), 1);
        assert_eq!(map.len(), 1);
        drop(Arc::try_unwrap(map).ok().expect("last reference"));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            2,
            "each removed value dropped once"
        );
    });
}

/// A removal whose predecessor link changes under it: an insert of 9 (between 1 and 5 in
/// split order) makes the one-CAS unlink of 5 fail, and the removal walks its bucket
/// instead. The map ends with 1, 9 and 3.
#[test]
fn remove_after_an_insert_before_it() {
    model("remove_after_an_insert_before_it", 3, || {
        let clock = ManualClock::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert(1, Val::new(10));
        map.pin().insert(5, Val::tracked(50, &drops));
        map.pin().insert(3, Val::new(30));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().insert(9, Val::new(90))));
        let a = val(map.pin().remove(&5));
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(a, Some(50));
        for (k, v) in [(1, Some(10)), (5, None), (9, Some(90)), (3, Some(30))] {
            assert_eq!(val(map.pin().get(&k)), v, "key {k}");
        }
        assert_eq!(map.pin().iter().count(), 3);
        drop(Arc::try_unwrap(map).ok().expect("last reference"));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the removed value dropped once"
        );
    });
}

/// A removal unlinking its node through its lookup's link (`unlink_after`) while that
/// link stops being the node's predecessor because a *bucket sentinel* is linked into
/// it. The setup's third insert doubles the table to 4 buckets, so bucket 3's sentinel
/// is not linked yet: the lookup of 3 starts at bucket 1 and finds 3 through 5's link;
/// the insert of 7 (bucket 3) links bucket 3's sentinel between 5 and 3 (and may then
/// unlink 3 itself, once marked). Either way 3 is unlinked once, and the sentinel stays
/// reachable: the map ends with 1, 5 and 7. (With a blind store instead of the CAS in
/// `unlink_after`, the sentinel is cut out of the list while its bucket is ready, and
/// a lookup from it reads the freed node.)
#[test]
fn remove_after_a_sentinel_is_linked_before_it() {
    model("remove_after_a_sentinel_is_linked_before_it", 3, || {
        let clock = ManualClock::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert(1, Val::new(10));
        map.pin().insert(5, Val::new(50));
        map.pin().insert(3, Val::tracked(30, &drops));
        assert_eq!(map.bucket_count(), 4, "the setup's growth");
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().insert(7, Val::new(70))));
        let a = val(map.pin().remove(&3));
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(a, Some(30));
        for (k, v) in [(1, Some(10)), (5, Some(50)), (3, None), (7, Some(70))] {
            assert_eq!(val(map.pin().get(&k)), v, "key {k}");
        }
        assert_eq!(map.pin().iter().count(), 3);
        assert_eq!(map.len(), 3);
        drop(Arc::try_unwrap(map).ok().expect("last reference"));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the removed value dropped once"
        );
    });
}
