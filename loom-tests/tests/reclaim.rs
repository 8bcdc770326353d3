#![cfg(ttlmap_loom)]
//! Memory reclamation: a reference under a pinned handle stays valid while another
//! thread removes the key and does everything that could free it.

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, MaskHasher, Val};
use ttlmap::ManualClock;

/// The reader holds `&V` under its handle while the other thread removes the key, pins
/// and unpins, and runs the map-level purge, which hands its retired garbage over and
/// drives the collector (flushing until frees stop progressing). The value must not be
/// dropped (loom would also flag the drop's poison write as racing the read) until the
/// reader's handle is gone; once it is, a purge frees it (so the model does exercise
/// frees), and it is dropped exactly once.
#[test]
fn reference_survives_reclaim() {
    model("reference_survives_reclaim", 2, || {
        let clock = ManualClock::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert(1, Val::tracked(10, &drops));
        let m2 = map.clone();
        let t = thread::spawn(move || {
            let removed = m2.pin().remove(&1).map(Val::get);
            drop(m2.pin());
            m2.purge_expired();
            removed
        });
        {
            let m = map.pin();
            if let Some(v) = m.get(&1) {
                assert_eq!(v.get(), 10);
                thread::yield_now();
                assert_eq!(v.get(), 10);
                assert_eq!(
                    drops.load(Ordering::SeqCst),
                    0,
                    "freed under a pinned handle"
                );
            }
        }
        assert_eq!(t.join().unwrap(), Some(10));
        assert_eq!(map.pin().get(&1).map(Val::get), None);
        // Nothing pins the map now: a driven collection frees the removed value — in the
        // executions where crossbeam's Relaxed epoch reads are fresh (loom also explores
        // stale ones, where the epoch cannot advance yet); counted across executions.
        map.purge_expired();
        if drops.load(Ordering::SeqCst) == 1 {
            FREED_BEFORE_DROP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let map = Arc::try_unwrap(map).ok().expect("last reference");
        drop(map);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once");
    });
    // The model is not vacuous: frees did happen while the map was in use.
    assert!(
        FREED_BEFORE_DROP.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no execution freed the removed value before the map's drop"
    );
}

/// Executions of `reference_survives_reclaim` that freed the value before the map's drop
/// (a std atomic: it outlives each loom execution).
static FREED_BEFORE_DROP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
