#![cfg(ttlmap_loom)]
//! Memory reclamation: a reference under a pinned handle stays valid while another
//! thread removes the key and does everything that could free it.

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, MaskHasher, Val};
use ttlmap::ManualClock;

/// The reader holds `&V` under its handle while the other thread removes the key,
/// pins and unpins several times (each pin under loom registers a fresh crossbeam
/// handle, whose first pin collects) and purges. The value must not be dropped (loom
/// would also flag the drop's poison write as racing the read) until the reader's
/// handle is gone, and every value is dropped exactly once by the end.
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
            for _ in 0..3 {
                drop(m2.pin());
            }
            m2.pin().purge_expired();
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
        let map = Arc::try_unwrap(map).ok().expect("last reference");
        drop(map);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once");
    });
}
