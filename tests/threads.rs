//! Threads and the map's per-thread reclamation state: a thread's registration is its
//! own even while it exits, and what a thread retired is freed after it exits, without
//! waiting for the map to be dropped.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::LazyLock;

use ttlmap::{HashMap, HashMapRef, LocalGuard};

static MAP: LazyLock<HashMap<u64, u64>> = LazyLock::new(HashMap::new);

type StaticRef = HashMapRef<'static, u64, u64, ttlmap::DefaultHashBuilder, LocalGuard<'static>>;

/// Held in a thread-local: a pinned handle of `MAP` that is dropped only after the
/// thread's other thread-local destructors ran (it was registered before them), and
/// whose drop waits until the test lets it go.
struct Held {
    handle: Option<StaticRef>,
    exiting: mpsc::Sender<usize>,
    release: mpsc::Receiver<()>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let id = self.handle.as_ref().map_or(0, StaticRef::registration_id);
        self.exiting.send(id).unwrap();
        self.release.recv().unwrap();
        // The handle is unpinned only now, long after this thread's other thread-local
        // destructors (among them, formerly, the one that freed its thread id).
        drop(self.handle.take());
    }
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// Regression (issue #10): registrations were kept in a `thread_local::ThreadLocal`
/// inside the map, indexed by that crate's thread ids; an exiting thread's id was freed
/// by one of its thread-local destructors while another one still held a pinned handle,
/// and a new thread that got the same id pinned the same crossbeam `Local` — two threads
/// on one unsynchronised registration. Now each thread owns its registrations.
#[test]
fn a_thread_exiting_with_a_pinned_handle_shares_its_registration_with_no_other_thread() {
    for _ in 0..8 {
        let (exiting_tx, exiting_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let first = std::thread::spawn(move || {
            HELD.with(|held| {
                // `HELD` is registered (first access) before `MAP.pin()` registers
                // anything of the map's, so its destructor runs after theirs.
                let handle = MAP.pin();
                handle.insert(1, 1);
                *held.borrow_mut() = Some(Held {
                    handle: Some(handle),
                    exiting: exiting_tx,
                    release: release_rx,
                });
            });
        });
        // The first thread is in its last thread-local destructor, still pinned.
        let held_id = exiting_rx.recv().unwrap();
        let other_id = std::thread::spawn(|| {
            let m = MAP.pin();
            assert_eq!(m.get(&1), Some(&1));
            m.registration_id()
        })
        .join()
        .unwrap();
        assert_ne!(held_id, other_id, "two threads pinned one registration");
        release_tx.send(()).unwrap();
        first.join().unwrap();
    }
}

/// A value that counts its drops.
struct Counted<'c>(&'c AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Regression (issue #10): an exited thread's registration kept up to 63 retired objects
/// unfreed until the map was dropped. A thread now hands them over when it exits.
#[test]
fn what_an_exited_thread_retired_is_freed_before_the_map_is_dropped() {
    let dropped = AtomicUsize::new(0);
    let map: HashMap<u64, Counted<'_>> = HashMap::new();
    for k in 0..10 {
        map.pin().insert(k, Counted(&dropped));
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            for k in 0..10 {
                assert!(map.pin().remove(&k).is_some());
            }
        })
        // `join` waits for the thread's thread-local destructors.
        .join()
        .unwrap();
    });
    // Nothing expired: the purge only drives the collector, which frees what the exited
    // thread handed over.
    assert_eq!(map.purge_expired(), 0);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        10,
        "the exited thread's garbage is stranded"
    );
    drop(map);
    assert_eq!(dropped.load(Ordering::SeqCst), 10);
}

/// A handle pinned inside a thread-local destructor that runs after the map's
/// per-thread state is gone still works (it registers afresh), and so do operations
/// that free garbage there.
#[test]
fn pinning_in_a_late_thread_local_destructor_works() {
    struct Late;
    impl Drop for Late {
        fn drop(&mut self) {
            let m = MAP.pin();
            m.insert(77, 77);
            assert_eq!(m.remove(&77), Some(&77));
        }
    }
    thread_local! {
        static LATE: RefCell<Option<Late>> = const { RefCell::new(None) };
    }
    std::thread::spawn(|| {
        // Registered before the map's state: destroyed after it.
        LATE.with(|l| *l.borrow_mut() = Some(Late));
        MAP.pin().insert(76, 76);
    })
    .join()
    .unwrap();
    assert_eq!(MAP.pin().get(&77), None);
    assert_eq!(MAP.pin().get(&76), Some(&76));
}

/// Regression (found by review of the thread-owned registrations): a thread's release of
/// its registration (at exit) marked it released before finishing, so the map's registry
/// could drop it, the map's drop did not wait for it, and the exiting thread then ran the
/// map's deferred destructors after `drop(map)` had returned (use-after-free of the map's
/// reclamation state under ASan). Scoped threads run their thread-local destructors after
/// the scope returns, so they race the map's drop.
#[test]
fn values_are_all_dropped_before_the_map_drop_returns_while_threads_exit() {
    for _ in 0..300 {
        let drops = AtomicUsize::new(0);
        let created = AtomicUsize::new(0);
        let map: HashMap<u64, Counted<'_>> = HashMap::new();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (map, drops, created) = (&map, &drops, &created);
                s.spawn(move || {
                    let m = map.pin();
                    for i in 0..8 {
                        created.fetch_add(1, Ordering::SeqCst);
                        m.insert(t * 100 + i, Counted(drops));
                        m.remove(&(t * 100 + i));
                    }
                });
            }
        });
        drop(map);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            created.load(Ordering::SeqCst),
            "values dropped after the map's drop returned"
        );
    }
}
