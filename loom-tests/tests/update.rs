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
