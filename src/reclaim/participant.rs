//! A thread's participation in one map's reclamation, and where threads keep them.
//!
//! A [`Participant`] is one thread's crossbeam registration (`LocalHandle`) in a map's
//! collector, plus the list of objects it retired that are not yet handed to crossbeam
//! (see `mod.rs`, "Retirement lists"). Registering costs an allocation, so each thread
//! keeps its participants for the maps it uses **in storage the thread owns**: a
//! thread-local list (`THREAD`) of `Arc<Participant>`, found in one comparison through a
//! one-entry cache (`LAST`). The map keeps an `Arc` of each too (its registry), so that
//! dropping the map can release the participants of threads that are still running.
//!
//! Earlier versions kept the handles in a `thread_local::ThreadLocal` inside the map,
//! indexed by that crate's thread ids. An id is freed by a thread-local destructor of the
//! exiting thread, which may run before the thread's other thread-local destructors: a
//! pinned handle held in a user's thread-local (of a `static` map) was then still in use
//! by the exiting thread when a new thread that received the same id pinned the same
//! crossbeam `Local` — two threads on one unsynchronised `Local`, and a pin that did not
//! protect (`tests/threads.rs`). A thread's own storage cannot be inherited that way.
//!
//! # Release
//! A participant is *released* once: its handle is dropped (crossbeam then moves the
//! handle's own garbage to the collector's global queue) and its retirement list is
//! handed over or freed. Either its thread exits (the `THREAD` destructor) while the
//! participant is not pinned, or the map is dropped (no guard of the map exists then).
//! The two may race (a scoped thread's thread-local destructors can run after the scope
//! returned and the map was dropped), so a release takes the participant's lock. A
//! participant still pinned when its thread exits (a handle held in a thread-local
//! destroyed later) is left to the map's drop; nothing else uses it meanwhile, as the
//! thread can no longer find it and no other thread ever could.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::ptr;
use std::sync::Arc;

use crossbeam_epoch as epoch;

use super::{Collector, Shared};
use crate::sync::{AtomicBool, Mutex, Ordering};

/// One thread's registration in one map's collector.
pub(crate) struct Participant {
    /// The crossbeam registration; `None` once released.
    handle: UnsafeCell<Option<epoch::LocalHandle>>,
    /// Retired objects not yet handed to crossbeam: a list through their own memory
    /// (tagged handles, see `raw/retire.rs`), and its length.
    pub(super) pending: Cell<*mut u8>,
    pub(super) pending_len: Cell<usize>,
    /// Objects retired since the collector was last flushed for this participant.
    pub(super) retired: Cell<usize>,
    /// Objects retired since this thread's outermost pin began: a bulk operation's.
    pub(super) pin_retired: Cell<usize>,
    /// The map's shared reclamation state. Valid until the participant is released.
    pub(super) shared: *const Shared,
    /// Set (under `release_lock`) once released.
    released: AtomicBool,
    release_lock: Mutex<()>,
}

// SAFETY: a participant is used by one thread at a time. Its owner (the thread that
// registered it, or the guard that owns it) uses `handle`, `pending`, `pending_len` and
// `retired` without synchronisation while it is in an operation of the map (a guard is
// alive) or pinning one. Every other access is in `release`, under `release_lock`: by
// the owner thread itself as it exits (no operation of it is in progress), or by the
// thread dropping the map (no guard exists, so no operation is in progress, and none can
// start). Two releases are ordered by the lock. The `LocalHandle`
// inside is `!Send` for the same reason (its `Local` is unsynchronised), and moving it
// between threads under those conditions is what crossbeam's own thread-exit path does.
unsafe impl Send for Participant {}
// SAFETY: see `Send`; shared references only reach `released` (atomic) and
// `release_lock` from other threads.
unsafe impl Sync for Participant {}

impl Participant {
    pub(super) fn new(handle: epoch::LocalHandle, shared: &Shared) -> Participant {
        Participant {
            handle: UnsafeCell::new(Some(handle)),
            pending: Cell::new(ptr::null_mut()),
            pending_len: Cell::new(0),
            retired: Cell::new(0),
            pin_retired: Cell::new(0),
            shared,
            released: AtomicBool::new(false),
            release_lock: Mutex::new(()),
        }
    }

    /// The crossbeam handle, `None` once released.
    ///
    /// # Safety
    /// - the caller is the participant's owner (see `unsafe impl Send`).
    #[inline]
    pub(super) unsafe fn handle(&self) -> Option<&epoch::LocalHandle> {
        // SAFETY: caller: no release runs concurrently with the owner.
        unsafe { (*self.handle.get()).as_ref() }
    }

    pub(super) fn is_released(&self) -> bool {
        // Acquire: pairs with the Release store in `release`.
        self.released.load(Ordering::Acquire)
    }

    /// Releases the participant (once; later calls do nothing): its pending retirements
    /// are handed to crossbeam (`exiting`: the owner thread exits, the map lives on) or
    /// freed at once (the map is being dropped and no guard of it exists), then its
    /// handle is dropped. An exiting owner that is still pinned (a handle held in a
    /// thread-local destroyed later) leaves the participant to the map's drop: `false`.
    ///
    /// Everything happens under `release_lock`, and `released` is set only at the very
    /// end, after crossbeam's `Local` was finalised: the map's registry drops a
    /// participant only once it is released, so a map being dropped either finds the
    /// participant in its registry (and waits for its lock) or knows its release, down to
    /// the last reference the `Local` held on crossbeam's global state, is complete.
    ///
    /// # Safety
    /// - `exiting`: called by the owner thread from its thread-local destructor;
    /// - else: the map is being dropped (`&mut`), so no guard of it exists.
    pub(super) unsafe fn release(&self, exiting: bool) -> bool {
        let _lock = self
            .release_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // SAFETY: the owner cannot be in an operation of the map (caller: it is exiting
        // and calls us, or the map is being dropped); other releasers wait for the lock.
        let slot = unsafe { &mut *self.handle.get() };
        let Some(handle) = slot.as_ref() else {
            return true; // released already
        };
        if exiting && handle.is_pinned() {
            return false;
        }
        let handle = slot.take();
        let head = self.pending.replace(ptr::null_mut());
        let len = self.pending_len.replace(0);
        // SAFETY: valid until the release completes (the map's drop waits for our lock
        // before it frees `shared`).
        let shared = unsafe { &*self.shared };
        if let Some(handle) = &handle {
            if exiting {
                super::seal(shared, &handle.pin(), head, len);
            } else {
                // SAFETY: the map is being dropped: no guard can reach these objects.
                unsafe { (shared.free_batch)(head) };
            }
        }
        // Finalises the crossbeam `Local`: it pins once more (which may collect, and run
        // destructors: `catching`), moves its bag to the global queue and drops its
        // reference to crossbeam's global state.
        drop(handle);
        // Release: pairs with `is_released`, which the pruning in `register` reads.
        self.released.store(true, Ordering::Release);
        true
    }
}

#[cfg(not(all(ttlmap_loom, feature = "loom")))]
std::thread_local! {
    /// The participant used last on this thread, with its collector's id (0: none).
    /// `const` and free of destructors, so reading it is a plain thread-local load.
    static LAST: Cell<(u64, *const Participant)> = const { Cell::new((0, ptr::null())) };
    /// Every participant this thread registered (released ones are pruned lazily).
    static THREAD: ThreadParticipants = const {
        ThreadParticipants {
            list: RefCell::new(Vec::new()),
        }
    };
}

// Under loom, loom's thread-locals: one per loom thread (they share one OS thread), and
// dropped when the loom thread ends, so the models run the thread-exit release too.
#[cfg(all(ttlmap_loom, feature = "loom"))]
loom::thread_local! {
    static LAST: Cell<(u64, *const Participant)> = Cell::new((0, ptr::null()));
    static THREAD: ThreadParticipants = ThreadParticipants {
        list: RefCell::new(Vec::new()),
    };
}

/// The participant used last on this thread (`(0, null)` if none, or if this thread's
/// thread-locals are gone).
#[inline]
fn last() -> (u64, *const Participant) {
    #[cfg(not(all(ttlmap_loom, feature = "loom")))]
    return LAST.get();
    #[cfg(all(ttlmap_loom, feature = "loom"))]
    return LAST.try_with(Cell::get).unwrap_or((0, ptr::null()));
}

fn set_last(value: (u64, *const Participant)) {
    #[cfg(not(all(ttlmap_loom, feature = "loom")))]
    LAST.set(value);
    #[cfg(all(ttlmap_loom, feature = "loom"))]
    let _ = LAST.try_with(|last| last.set(value));
}

/// A thread's participants; its destructor releases them when the thread exits.
struct ThreadParticipants {
    list: RefCell<Vec<(u64, Arc<Participant>)>>,
}

impl Drop for ThreadParticipants {
    fn drop(&mut self) {
        // From now on this thread cannot find its participants: a later thread-local
        // destructor that pins a map gets a temporary registration instead.
        set_last((0, ptr::null()));
        for (_, p) in self.list.get_mut().drain(..) {
            // SAFETY: we are its owner thread, exiting. (If it is still pinned, the map's
            // drop releases it; until then no other thread can find it.)
            unsafe { p.release(true) };
        }
        // A panic caught while releasing cannot unwind out of a thread-local destructor.
        super::panics::discard();
    }
}

/// Forgets this thread's participant of the collector `id` (being dropped by this
/// thread), so that the thread does not keep its memory until it registers elsewhere or
/// exits. Other threads prune theirs lazily.
pub(super) fn forget(id: u64) {
    if last().0 == id {
        set_last((0, ptr::null()));
    }
    let _ = THREAD.try_with(|thread| {
        if let Ok(mut list) = thread.list.try_borrow_mut() {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                *list = Vec::new();
            }
        }
    });
}

/// This thread's participant for `collector`, registering one on first use; `None` if
/// this thread's storage is gone (it is exiting).
#[inline]
pub(super) fn cached(collector: &Collector) -> Option<*const Participant> {
    let (id, p) = last();
    if id == collector.id {
        return Some(p);
    }
    lookup(collector)
}

#[cold]
#[inline(never)]
fn lookup(collector: &Collector) -> Option<*const Participant> {
    let p = THREAD
        .try_with(|thread| {
            let mut list = thread.list.try_borrow_mut().ok()?;
            if let Some((_, p)) = list.iter().find(|(id, _)| *id == collector.id) {
                return Some(Arc::as_ptr(p));
            }
            list.retain(|(_, p)| !p.is_released());
            let p = Arc::new(Participant::new(
                collector.epoch().register(),
                &collector.shared,
            ));
            collector.register(p.clone());
            let ptr = Arc::as_ptr(&p);
            list.push((collector.id, p));
            Some(ptr)
        })
        .ok()
        .flatten()?;
    set_last((collector.id, p));
    Some(p)
}
