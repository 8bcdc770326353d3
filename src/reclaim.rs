//! Memory reclamation: when an unlinked node or a replaced value cell may be freed.
//!
//! The raw engine talks to reclamation through [`Reclaim`] only: it pins a [`Guard`]
//! for the length of an operation (every pointer it loads stays valid while the guard
//! lives) and hands every unlinked allocation to [`Guard::retire`]. The backend here is
//! crossbeam-epoch with **one collector per map**: all garbage of a map lives in that
//! map's collector, so dropping the map runs every pending destructor before `drop`
//! returns (keys and values need not be `'static`), and a thread pinned on *another*
//! map never delays this one.
//!
//! # Cheap pinning with a per-map collector
//! A crossbeam `Collector` hands out `LocalHandle`s; registering one allocates, so doing
//! it per pin would cost hundreds of nanoseconds (flurry's old problem, crossbeam#541).
//! Each map therefore caches one handle per thread in a `ThreadLocal`, and
//! [`Reclaim::pin`] is a thread-id lookup plus crossbeam's ordinary `pin`.
//! When the map is dropped (`&mut self`, so no guard of it exists anywhere) the cached
//! handles are dropped, which moves each thread's pending garbage to the collector's
//! global queue, and the collector itself is dropped last, which runs it all.
//!
//! Under loom (`--cfg ttlmap_loom`) there is no thread cache: loom threads share one OS
//! thread, so every pin registers a fresh handle (cheap enough inside a model).

use std::fmt;

use crossbeam_epoch as epoch;

/// The interface between the raw engine and a reclamation scheme.
///
/// A seize backend would implement the same three operations.
pub(crate) trait Reclaim {
    /// A guard that protects every pointer loaded while it lives.
    type Guard<'a>
    where
        Self: 'a;
    /// A guard that may be sent to another thread.
    type OwnedGuard<'a>
    where
        Self: 'a;

    /// Pins the current thread.
    fn pin(&self) -> Self::Guard<'_>;

    /// Pins with a guard that can move between threads.
    fn pin_owned(&self) -> Self::OwnedGuard<'_>;
}

/// A map's epoch-based collector.
pub(crate) struct Collector {
    // Field order matters: the cached handles must be dropped (finalising every
    // `Local` and moving its garbage to the global queue) before the collector, whose
    // drop then runs all pending destructors.
    #[cfg(not(all(ttlmap_loom, feature = "loom")))]
    handles: thread_local::ThreadLocal<SendHandle>,
    collector: epoch::Collector,
}

/// A `LocalHandle` parked in the map's thread cache.
#[cfg(not(all(ttlmap_loom, feature = "loom")))]
struct SendHandle(epoch::LocalHandle);

// SAFETY: a `LocalHandle` is `!Send` because its `Local` is used without synchronisation
// by whoever holds it. `ThreadLocal` only ever gives a thread its own entry, so a handle
// is used by one thread at a time; an entry is handed to a new thread only after the
// previous owner exited (thread_local reuses ids under a mutex, which orders the two
// threads), and all entries are dropped in `Collector::drop` from the thread that holds
// `&mut` to the map, when no guard of this collector exists.
#[cfg(not(all(ttlmap_loom, feature = "loom")))]
unsafe impl Send for SendHandle {}

impl Collector {
    pub(crate) fn new() -> Collector {
        Collector {
            #[cfg(not(all(ttlmap_loom, feature = "loom")))]
            handles: thread_local::ThreadLocal::new(),
            collector: epoch::Collector::new(),
        }
    }
}

impl Reclaim for Collector {
    type Guard<'a> = Guard;
    type OwnedGuard<'a> = OwnedGuard;

    #[inline]
    fn pin(&self) -> Guard {
        #[cfg(not(all(ttlmap_loom, feature = "loom")))]
        {
            let handle = self
                .handles
                .get_or(|| SendHandle(self.collector.register()));
            Guard {
                inner: handle.0.pin(),
            }
        }
        #[cfg(all(ttlmap_loom, feature = "loom"))]
        {
            let owned = self.pin_owned();
            Guard {
                inner: owned.guard,
                _handle: owned._handle,
            }
        }
    }

    fn pin_owned(&self) -> OwnedGuard {
        let handle = self.collector.register();
        OwnedGuard {
            guard: handle.pin(),
            _handle: handle,
        }
    }
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector").finish_non_exhaustive()
    }
}

/// Protection for the length of one (or many) operations on one map.
pub(crate) struct Guard {
    inner: epoch::Guard,
    #[cfg(all(ttlmap_loom, feature = "loom"))]
    _handle: epoch::LocalHandle,
}

impl Guard {
    /// The crossbeam guard, for retiring.
    #[inline]
    pub(crate) fn epoch(&self) -> &epoch::Guard {
        &self.inner
    }
}

/// A guard bundled with its own registration, so that it can change threads.
pub(crate) struct OwnedGuard {
    // Declared first: the guard is unpinned before its handle is released.
    guard: epoch::Guard,
    _handle: epoch::LocalHandle,
}

// SAFETY: the `Local` behind `handle` is registered for this guard alone and used only
// through it, so moving the pair to another thread moves its only user with it; the move
// itself synchronises the two threads.
unsafe impl Send for OwnedGuard {}
// Not `Sync`: crossbeam's guard keeps its garbage bag without synchronisation, so two
// threads must never retire through one guard at the same time.

impl OwnedGuard {
    #[inline]
    pub(crate) fn epoch(&self) -> &epoch::Guard {
        &self.guard
    }
}

/// What the raw engine needs from any guard: retire garbage it unlinked.
pub(crate) trait RawGuard {
    /// Defers `free(ptr)` until no guard that could have loaded `ptr` remains.
    ///
    /// # Safety
    /// - `ptr` is unreachable for every guard pinned after this call (it was unlinked);
    /// - it is retired exactly once, and `free` is the matching destructor;
    /// - the guard is not used by two threads at once.
    unsafe fn retire<T>(&self, ptr: *mut T, free: unsafe fn(*mut T));
}

impl RawGuard for epoch::Guard {
    #[inline]
    unsafe fn retire<T>(&self, ptr: *mut T, free: unsafe fn(*mut T)) {
        struct Garbage<T>(*mut T, unsafe fn(*mut T));
        let garbage = Garbage(ptr, free);
        // SAFETY: (1) `ptr` is unreachable for guards pinned from now on (caller), so
        // crossbeam runs the closure only once every guard that might hold it is gone;
        // (2) the closure is not `Send`/`'static`-checked by `defer_unchecked`: it may
        // run on any thread of this map, which `HashMap: Sync` allows only for `Send`
        // keys and values, and it runs before the map's collector is dropped, so the
        // borrowed lifetimes inside `T` are still alive.
        unsafe {
            self.defer_unchecked(move || {
                let Garbage(ptr, free) = garbage;
                free(ptr)
            })
        }
        if crate::sync::retire_tick() {
            // crossbeam frees at most 8 bags per collection and collects only every 128
            // pins, so a thread retiring more than ~4 objects per pin (a sweep reaping
            // expired entries, say) would outrun it and garbage would grow without bound.
            // Flushing once per bag's worth of retirements collects up to 8 bags each
            // time, so collection always outpaces retirement by 8×.
            self.flush();
        }
    }
}
