#![cfg(ttlmap_loom)]
//! Expiry races: refresh vs purge/sweep, get vs the clock passing a deadline.

use std::time::Duration;

use loom::sync::atomic::{AtomicUsize, Ordering};
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
        let drops = Arc::new(AtomicUsize::new(0));
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin()
            .insert_with_ttl(1, Val::tracked(10, &drops), 10 * SEC);
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
        drop(Arc::try_unwrap(map).ok().expect("the other thread is done"));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the value was dropped once"
        );
    });
}

/// `insert_with_ttl` over an expiring entry racing a writer whose incremental sweep
/// reaps it: the new value is never lost, and each value is dropped once.
///
/// The writer inserts key 3, which lands in key 1's bucket (bucket 1 of 2): its sweep
/// starts at bucket 0, finds it empty and goes on to bucket 1, where key 1 has expired —
/// while the main thread's insert of key 1 may be anywhere in flight. (Earlier, the
/// writer's own key sat in bucket 0, its sweep stopped there, and no interleaving reaped
/// key 1 during the insert.)
#[test]
fn insert_with_ttl_vs_sweep() {
    model("insert_with_ttl_vs_sweep", 2, || {
        let clock = ManualClock::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin()
            .insert_with_ttl(1, Val::tracked(10, &drops), 10 * SEC);
        clock.advance(10 * SEC);
        let (m2, d2) = (map.clone(), drops.clone());
        let t = thread::spawn(move || {
            // A write: after inserting, its incremental sweep reaps key 1 if it is
            // still the expired value.
            val(m2.pin().insert(3, Val::tracked(30, &d2)))
        });
        let old = val(map
            .pin()
            .insert_with_ttl(1, Val::tracked(11, &drops), 100 * SEC));
        assert_eq!(old, None, "an expired value is not returned as the old one");
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(val(map.pin().get(&1)), Some(11), "refreshing insert lost");
        assert_eq!(val(map.pin().get(&3)), Some(30));
        assert_eq!(map.pin().purge_expired(), 0);
        assert_eq!(map.len(), 2);
        drop(Arc::try_unwrap(map).ok().expect("the other thread is done"));
        assert_eq!(drops.load(Ordering::SeqCst), 3, "each value dropped once");
    });
}

/// `get` racing the clock passing the deadline (and a purge): if the clock, read after
/// the `get` returned, is still below the deadline, `get` must have returned the value
/// (it was live for the whole call); once the reader saw the clock at or past the
/// deadline before the call, `get` returns `None`.
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
        let after = clock.elapsed();
        if before >= 10 * SEC {
            assert_eq!(got, None, "get after the deadline");
        }
        if after < 10 * SEC {
            assert_eq!(got, Some(10), "get before the deadline");
        }
        drop(m);
        assert_eq!(t.join().unwrap(), 1);
        assert_eq!(val(map.pin().get(&1)), None);
        assert_eq!(map.len(), 0);
    });
}
