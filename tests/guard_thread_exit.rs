//! A guard that is bound to its thread's registration but not pinned (`Guard::flush` on a
//! guard that has not read the map yet binds it: `reclaim::Guard::reclaim_on_drop`), held
//! in a thread-local that is destroyed after the map's per-thread state.
//!
//! The thread's exit releases every registration of the thread that is not pinned
//! (`participant.rs`, `ThreadParticipants::drop`), so it releases the one this guard is
//! bound to while the guard lives: a later use of the guard finds no live registration,
//! and once another thread prunes the released registration from the map's registry, the
//! guard's drop reads freed memory.
//!
//! Regression tests of that bug (found in review 7, fixed): `flush` now pins the guard, so
//! a guard binds its registration only when it pins, and the thread's exit skips pinned
//! registrations. The second test reported a heap-use-after-free under
//! `bash scripts/asan.sh --test guard_thread_exit` before the fix.

use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::LazyLock;

use ttlmap::{Guard, HashMap, LocalGuard};

/// What the thread-local's destructor does with the guard it holds.
struct Held {
    guard: Option<LocalGuard<'static>>,
    map: &'static HashMap<u64, u64>,
    /// Told when the destructor runs (the thread's other thread-local destructors ran).
    exiting: mpsc::Sender<()>,
    /// Waited for before the guard is used.
    go: mpsc::Receiver<()>,
    /// Whether the read through the guard panicked.
    result: mpsc::Sender<Result<Option<u64>, String>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.exiting.send(()).unwrap();
        self.go.recv().unwrap();
        let guard = self.guard.take().unwrap();
        let map = self.map;
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            map.get(&1, &guard).copied()
        }))
        .map_err(|e| {
            e.downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        });
        drop(guard);
        self.result.send(read).unwrap();
    }
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// Runs a thread that stores a guard of `map` in `HELD` (registered first, so destroyed
/// last), binds it with `flush` and exits; `between` runs while the thread is in `HELD`'s
/// destructor, before the guard is used and dropped. Returns what the read gave.
fn exit_with_a_flushed_guard(
    map: &'static HashMap<u64, u64>,
    between: impl FnOnce(),
) -> Result<Option<u64>, String> {
    map.pin().insert(1, 10);
    let (exiting_tx, exiting_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        HELD.with(|held| {
            // `HELD` is registered before anything of the map's: destroyed after it.
            let guard = map.guard();
            // Binds the thread's registration (registering it: the map's per-thread
            // state is made now), without pinning.
            guard.flush();
            *held.borrow_mut() = Some(Held {
                guard: Some(guard),
                map,
                exiting: exiting_tx,
                go: go_rx,
                result: result_tx,
            });
        });
    });
    exiting_rx.recv().unwrap();
    between();
    go_tx.send(()).unwrap();
    let read = result_rx.recv().unwrap();
    t.join().unwrap();
    read
}

/// The exiting thread released the registration its flushed guard is bound to; a read
/// through that guard in a later thread-local destructor then panics ("a live
/// registration"), where an unbound guard registers afresh and reads (as
/// `threads.rs::pinning_in_a_late_thread_local_destructor_works` shows).
#[test]
fn a_flushed_guard_reads_in_a_late_thread_local_destructor() {
    static MAP: LazyLock<HashMap<u64, u64>> = LazyLock::new(HashMap::new);
    let read = exit_with_a_flushed_guard(&MAP, || {});
    assert_eq!(read, Ok(Some(10)));
}

/// The same, with another thread registering meanwhile: the registry prunes the released
/// registration (its last reference), and the guard then reads it after its free
/// (heap-use-after-free under ASan).
#[test]
fn a_flushed_guard_outliving_its_pruned_registration() {
    static MAP: LazyLock<HashMap<u64, u64>> = LazyLock::new(HashMap::new);
    let read = exit_with_a_flushed_guard(&MAP, || {
        // A new thread's first pin registers it, pruning released registrations.
        std::thread::spawn(|| assert_eq!(MAP.pin().get(&1), Some(&10)))
            .join()
            .unwrap();
    });
    assert_eq!(read, Ok(Some(10)));
}
