#![cfg(ttlmap_loom)]
//! Readers racing writers: get during insert and replace, iteration during removal.

use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, val, MaskHasher, Val};
use ttlmap::ManualClock;

/// `get` of a key being inserted next to a key with the *same hash* (mask 0xF: 1 and
/// 17 collide): it sees nothing or the new value, never a torn or foreign value, and
/// the neighbour stays visible throughout.
#[test]
fn get_during_insert() {
    model("get_during_insert", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher { mask: 0xF }, &clock));
        map.pin().insert(1, Val::new(1_000));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().insert(17, Val::new(17_000))));
        {
            let m = map.pin();
            let new = val(m.get(&17));
            assert!(matches!(new, None | Some(17_000)), "get(17) = {new:?}");
            assert_eq!(val(m.get(&1)), Some(1_000));
        }
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(val(map.pin().get(&17)), Some(17_000));
        assert_eq!(val(map.pin().get(&1)), Some(1_000));
    });
}

/// `get` during a replacement of the value: the old or the new value, never none.
/// The reader then reads again: values never go back in time.
#[test]
fn get_during_replace() {
    model("get_during_replace", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher { mask: 0xF }, &clock));
        map.pin().insert(17, Val::new(17_000));
        map.pin().insert(1, Val::new(1_000));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().insert(1, Val::new(1_001))));
        let first = val(map.pin().get(&1));
        let second = val(map.pin().get(&1));
        assert!(matches!(first, Some(1_000 | 1_001)), "get = {first:?}");
        assert!(second >= first && matches!(second, Some(1_000 | 1_001)));
        assert_eq!(t.join().unwrap(), Some(1_000));
        assert_eq!(val(map.pin().get(&1)), Some(1_001));
        assert_eq!(val(map.pin().get(&17)), Some(17_000));
    });
}

/// Iteration during the removal of one key: the keys live throughout are seen exactly
/// once, the removed one at most once, nothing else.
#[test]
fn iter_vs_remove() {
    model("iter_vs_remove", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        for k in 1..=3 {
            map.pin().insert(k, Val::new(k * 10));
        }
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().remove(&2)));
        let mut seen: Vec<(u64, u64)> = map.pin().iter().map(|(k, v)| (*k, v.get())).collect();
        seen.sort_unstable();
        assert_eq!(t.join().unwrap(), Some(20));
        let without: Vec<_> = seen.iter().copied().filter(|&(k, _)| k != 2).collect();
        assert_eq!(without, [(1, 10), (3, 30)], "seen {seen:?}");
        assert!(
            seen.len() == 2 || seen == [(1, 10), (2, 20), (3, 30)],
            "seen {seen:?}"
        );
        assert_eq!(map.pin().iter().count(), 2);
    });
}
