#![cfg(ttlmap_loom)]
//! Atomic read-modify-writes: update vs update, update vs set_ttl.

use std::time::Duration;

use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, val, MaskHasher, Val};
use ttlmap::{Expiry, ManualClock};

/// Two increments of one key: no update is lost.
#[test]
fn update_vs_update() {
    model("update_vs_update", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert(1, Val::new(0));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().update(1, |v| Val::new(v.get() + 1))));
        let a = val(map.pin().update(1, |v| Val::new(v.get() + 1)));
        let b = t.join().unwrap();
        let mut got = [a, b];
        got.sort();
        assert_eq!(got, [Some(1), Some(2)], "updates returned {a:?}, {b:?}");
        assert_eq!(val(map.pin().get(&1)), Some(2));
    });
}

/// `update` (which keeps the deadline of the value it replaces) racing `set_ttl`: a
/// refresh that returned `true` is not lost to the update, and the update is not lost.
///
/// Regression: this model found a store-buffering race between `RawMap::set_deadline`'s
/// re-read of `val` (then a plain load) and `replace_value`'s re-read of the old
/// deadline; `set_deadline` now re-checks `val` with a read-modify-write.
#[test]
fn update_vs_set_ttl() {
    model("update_vs_set_ttl", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin()
            .insert_with_ttl(1, Val::new(0), Duration::from_secs(10));
        let m2 = map.clone();
        let t = thread::spawn(move || m2.pin().set_ttl(&1, Duration::from_secs(100)));
        let up = val(map.pin().update(1, |v| Val::new(v.get() + 1)));
        let refreshed = t.join().unwrap();
        assert_eq!(up, Some(1));
        // The entry is live at time 0 throughout, so the refresh must succeed.
        assert!(refreshed, "set_ttl on a live entry failed");
        assert_eq!(
            map.pin().ttl(&1),
            Some(Expiry::In(Duration::from_secs(100))),
            "refresh lost"
        );
        clock.advance(Duration::from_secs(50));
        assert_eq!(val(map.pin().get(&1)), Some(1), "refresh lost");
    });
}

/// Two updates (which carry the entry's deadline over to the cell they install) racing a
/// `persist`: the refresh that returned `true` survives both. Regression (issue #10):
/// `update` used to publish its new cell with the deadline it read before its CAS and
/// copy a refresh over only afterwards, onto the cell it had published — which the
/// second update could already have replaced, carrying the old deadline on. Now the
/// deadline is read by the CAS that freezes the old cell, which a refresh races on the
/// same word.
#[test]
fn update_update_vs_persist() {
    model("update_update_vs_persist", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin()
            .insert_with_ttl(1, Val::new(0), Duration::from_secs(10));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().update(1, |v| Val::new(v.get() + 1))));
        // One handle for both operations: fewer registrations for loom to interleave.
        let m = map.pin();
        let refreshed = m.persist(&1);
        let mine = val(m.update(1, |v| Val::new(v.get() + 1)));
        drop(m);
        let theirs = t.join().unwrap();
        assert!(refreshed, "persist on a live entry failed");
        let mut got = [mine, theirs];
        got.sort();
        assert_eq!(got, [Some(1), Some(2)], "an update was lost");
        assert_eq!(map.pin().ttl(&1), Some(Expiry::Never), "refresh lost");
    });
}

/// As [`update_update_vs_persist`] with `set_ttl` to a *longer* TTL: after the original
/// deadline passes the entry must still be live.
#[test]
fn update_update_vs_set_ttl() {
    model("update_update_vs_set_ttl", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin()
            .insert_with_ttl(1, Val::new(0), Duration::from_secs(10));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().update(1, |v| Val::new(v.get() + 1))));
        let m = map.pin();
        let refreshed = m.set_ttl(&1, Duration::from_secs(100));
        let _ = m.update(1, |v| Val::new(v.get() + 1));
        drop(m);
        t.join().unwrap();
        assert!(refreshed, "set_ttl on a live entry failed");
        clock.advance(Duration::from_secs(50));
        assert_eq!(val(map.pin().get(&1)), Some(2), "refresh lost");
    });
}

/// Three parties: two updaters on their own threads and a `persist` on the main thread
/// (two writers per role of the protocol that copies a deadline from the old cell to
/// the new one).
#[test]
fn two_updaters_and_persist_on_three_threads() {
    model("two_updaters_and_persist_on_three_threads", 1, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin()
            .insert_with_ttl(1, Val::new(0), Duration::from_secs(10));
        let spawn_update = |m: Arc<ttlmap::HashMap<u64, Val, MaskHasher>>| {
            thread::spawn(move || val(m.pin().update(1, |v| Val::new(v.get() + 1))))
        };
        let (t1, t2) = (spawn_update(map.clone()), spawn_update(map.clone()));
        let refreshed = map.pin().persist(&1);
        let mut got = [t1.join().unwrap(), t2.join().unwrap()];
        got.sort();
        assert!(refreshed, "persist on a live entry failed");
        assert_eq!(got, [Some(1), Some(2)], "an update was lost");
        assert_eq!(map.pin().ttl(&1), Some(Expiry::Never), "refresh lost");
        assert_eq!(val(map.pin().get(&1)), Some(2));
    });
}
