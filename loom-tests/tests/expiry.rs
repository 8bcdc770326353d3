#![cfg(ttlmap_loom)]
//! Expiry races: refresh vs purge/sweep, get vs the clock passing a deadline.

use std::time::Duration;

use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, val, MaskHasher, Val};
use ttlmap::ManualClock;

const SEC: Duration = Duration::from_secs(1);

/// `set_ttl` racing an expirer that moves the clock past the deadline and purges: if
/// the refresh reported success, the entry is present afterwards (the new deadline is
/// ≥ 100 s, the clock is at 10 s); if not, it is gone.
#[test]
fn set_ttl_vs_purge() {
    model("set_ttl_vs_purge", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert_with_ttl(1, Val::new(10), 10 * SEC);
        let (m2, c2) = (map.clone(), clock.clone());
        let t = thread::spawn(move || {
            c2.advance(10 * SEC);
            m2.pin().purge_expired()
        });
        let refreshed = map.pin().set_ttl(&1, 100 * SEC);
        let purged = t.join().unwrap();
        let end = val(map.pin().get(&1));
        if refreshed {
            assert_eq!(end, Some(10), "a refresh that returned true was lost");
            assert_eq!(purged, 0);
        } else {
            assert_eq!(end, None);
        }
        assert_eq!(map.pin().purge_expired() + purged, usize::from(!refreshed));
        assert_eq!(map.len(), usize::from(refreshed));
    });
}

/// `insert_with_ttl` over an expiring entry racing a writer whose incremental sweep
/// reaps it: the new value is never lost.
#[test]
fn insert_with_ttl_vs_sweep() {
    model("insert_with_ttl_vs_sweep", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert_with_ttl(1, Val::new(10), 10 * SEC);
        let (m2, c2) = (map.clone(), clock.clone());
        let t = thread::spawn(move || {
            c2.advance(10 * SEC);
            // A write: after inserting, its incremental sweep may reap key 1.
            val(m2.pin().insert(2, Val::new(20)))
        });
        let old = val(map.pin().insert_with_ttl(1, Val::new(11), 100 * SEC));
        assert!(matches!(old, None | Some(10)), "old = {old:?}");
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(val(map.pin().get(&1)), Some(11), "refreshing insert lost");
        assert_eq!(val(map.pin().get(&2)), Some(20));
        assert_eq!(map.pin().purge_expired(), 0);
        assert_eq!(map.len(), 2);
    });
}

/// `get` racing the clock passing the deadline (and a purge): once the reader has seen
/// the clock at or past the deadline, `get` returns `None`; before, the value.
#[test]
fn get_vs_expiry() {
    model("get_vs_expiry", 3, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert_with_ttl(1, Val::new(10), 10 * SEC);
        let (m2, c2) = (map.clone(), clock.clone());
        let t = thread::spawn(move || {
            c2.advance(10 * SEC);
            m2.pin().purge_expired()
        });
        let m = map.pin();
        let before = clock.elapsed();
        let got = val(m.get(&1));
        if before >= 10 * SEC {
            assert_eq!(got, None, "get after the deadline");
        } else {
            assert!(matches!(got, None | Some(10)));
        }
        drop(m);
        assert_eq!(t.join().unwrap(), 1);
        assert_eq!(val(map.pin().get(&1)), None);
        assert_eq!(map.len(), 0);
    });
}
