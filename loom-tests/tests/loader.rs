#![cfg(ttlmap_loom)]
//! Single-flight loading: two callers of one absent key run one loader; a leader whose
//! loader panics wakes its waiter, which then loads.

use std::panic::{catch_unwind, AssertUnwindSafe};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, MaskHasher, Val};
use ttlmap::ManualClock;

/// Keeps the expected loader panic of every explored interleaving off stderr; any other
/// panic (a failed assertion, loom's own reports) goes to the default hook.
fn quiet_loader_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info.payload().downcast_ref::<&str>().copied();
            if msg != Some("the leader's loader panicked") {
                default(info);
            }
        }));
    });
}

/// Two `get_or_load` callers of one absent key: exactly one loader runs, both callers
/// get its value, and no flight is left behind.
#[test]
fn two_callers_run_one_loader() {
    model("two_callers_run_one_loader", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        let loads = Arc::new(AtomicUsize::new(0));
        let (m2, loads2) = (map.clone(), loads.clone());
        let t = thread::spawn(move || {
            m2.pin()
                .get_or_load(1, || {
                    loads2.fetch_add(1, Ordering::SeqCst);
                    Val::new(20)
                })
                .get()
        });
        let a = map
            .pin()
            .get_or_load(1, || {
                loads.fetch_add(1, Ordering::SeqCst);
                Val::new(10)
            })
            .get();
        let b = t.join().unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 1, "loaders run");
        assert_eq!(a, b, "both callers get the one loaded value");
        assert_eq!(map.pin().get(&1).map(Val::get), Some(a));
        assert_eq!(map.loads_in_flight(), 0, "a flight was left behind");
    });
}

/// The leader's loader panics (caught in its thread): the other caller, waiting or
/// arriving later, runs its own loader, exactly once, and its value ends in the map.
#[test]
fn panicking_leader_wakes_the_waiter_which_loads() {
    quiet_loader_panics();
    model("panicking_leader_wakes_the_waiter_which_loads", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        let loads = Arc::new(AtomicUsize::new(0));
        let (m2, loads2) = (map.clone(), loads.clone());
        let t = thread::spawn(move || {
            m2.pin()
                .get_or_load(1, || {
                    loads2.fetch_add(1, Ordering::SeqCst);
                    Val::new(20)
                })
                .get()
        });
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            map.pin()
                .get_or_load(1, || -> Val { panic!("the leader's loader panicked") })
                .get()
        }));
        let b = t.join().unwrap();
        // The panicking caller may also have arrived after the other one loaded: a hit.
        match panicked {
            Err(_) => {}
            Ok(a) => assert_eq!(a, 20, "a hit returns the other caller's value"),
        }
        assert_eq!(b, 20, "the waiter loads its own value");
        assert_eq!(
            loads.load(Ordering::SeqCst),
            1,
            "the waiter's loader runs once"
        );
        assert_eq!(map.pin().get(&1).map(Val::get), Some(20));
        assert_eq!(map.loads_in_flight(), 0, "a flight was left behind");
    });
}

/// The leader's loader returns `Err`: the error goes to that caller only, and the other
/// caller runs its own loader once; no flight is left behind.
#[test]
fn failing_leader_returns_its_error_and_the_waiter_loads() {
    model(
        "failing_leader_returns_its_error_and_the_waiter_loads",
        2,
        || {
            let clock = ManualClock::new();
            let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
            let loads = Arc::new(AtomicUsize::new(0));
            let (m2, loads2) = (map.clone(), loads.clone());
            let t = thread::spawn(move || {
                let m = m2.pin();
                let r: Result<_, ()> = m.try_get_or_load(1, || {
                    loads2.fetch_add(1, Ordering::SeqCst);
                    Ok(Val::new(20))
                });
                r.unwrap().get()
            });
            let failed = map.pin().try_get_or_load(1, || Err("down")).map(Val::get);
            let b = t.join().unwrap();
            // The failing caller may also have arrived after the other one loaded: a hit.
            assert!(matches!(failed, Err("down") | Ok(20)), "{failed:?}");
            assert_eq!(b, 20, "the waiter loads its own value");
            assert_eq!(
                loads.load(Ordering::SeqCst),
                1,
                "the waiter's loader runs once"
            );
            assert_eq!(map.pin().get(&1).map(Val::get), Some(20));
            assert_eq!(map.loads_in_flight(), 0, "a flight was left behind");
        },
    );
}
