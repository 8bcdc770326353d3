//! Memory reclamation: when an unlinked node or a replaced value cell may be freed.
//!
//! The raw engine talks to reclamation through a [`Guard`] only: it pins one for the
//! length of an operation (every pointer it loads stays valid while the guard lives) and
//! hands every unlinked allocation to it ([`RawGuard`]). The backend is crossbeam-epoch
//! with **one collector per map**: all garbage of a map lives in that map's collector, so
//! dropping the map runs every pending destructor before `drop` returns (keys and values
//! need not be `'static`), and a thread pinned on *another* map never delays this one.
//!
//! # Participants
//! Each thread registers once per map (`participant.rs`): registering allocates, so a
//! pin is a thread-local lookup plus crossbeam's ordinary `pin`. Under loom
//! (`--cfg ttlmap_loom`) the thread-locals are loom's (one per loom thread), and the
//! locks loom's, so the models check the cached path and the releases too.
//!
//! # Retirement lists
//! crossbeam defers one closure per retired object and keeps it in a ~32-byte record of a
//! bag, so retiring a million entries would allocate ~32 MB to free ~64 MB. Instead each
//! participant keeps the objects it retires in a list linked through the objects' own
//! memory ([`Guard::retire_linked`]; the engine says which word, `raw/retire.rs`), and
//! defers one closure per [`BATCH`] of them, which frees the whole list. A batch waits
//! for every guard pinned before it was handed over, which is later than each object's
//! own retirement, so this only delays frees, never advances them.
//!
//! # Driving reclamation
//! crossbeam collects (at most 8 bags) every 128 pins, and only once no guard pinned in
//! an older epoch remains. A bulk operation under one handle (`clear`, `retain`,
//! `purge_expired`, a loop of removes) retires everything it unlinks while its own pin
//! holds it back, and nothing would free it once the handle is gone and the map goes
//! idle. So when the last guard of a thread on a map is dropped after its pin retired at
//! least [`BULK`] objects, it hands its list over and flushes the collector until what
//! was retired is freed, or until the frees stop progressing (another thread's pin holds
//! them back: that thread's own collections free them later). Per-operation pins flush
//! once every [`FLUSH_AFTER`] retirements instead, which keeps collection ahead of
//! retirement (crossbeam alone collects 8 bags every 128 pins).
//!
//! # Panics in destructors
//! See [`panics`]: a panicking key or value destructor never unwinds through crossbeam
//! or the map; the public call during which it ran re-raises it at its end.

mod panics;
mod participant;

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::Arc;

use crossbeam_epoch as epoch;

pub(crate) use self::panics::{catching, resume};
use self::participant::Participant;
use crate::sync::{AtomicU64, Mutex, Ordering};

/// Objects per deferred batch (small under loom, so that models free within a few ops).
const BATCH: usize = if crate::sync::LOOM { 2 } else { 64 };
/// A thread's last guard on a map flushes the collector once (hands its batches over
/// and collects) when dropped after this many retirements since the last flush: the
/// steady state of per-operation pins. Eight batches: each flush pushes crossbeam's
/// thread-local bag to its global queue, a ~2 KiB allocation, which makes glibc's malloc
/// consolidate its fast bins (where freed nodes wait for reuse) and later node
/// allocations take its slow path. Flushing every batch instead cost 7 % more
/// instructions per insert + remove pair (1330 against 1236, callgrind, 100k entries),
/// with twice the consolidations; every 32 batches saved only 10 more. Garbage waiting
/// in a thread's bag stays below 8 batches. (Every batch under loom, whose models free
/// within a few operations.)
const FLUSH_AFTER: usize = if crate::sync::LOOM { BATCH } else { 8 * BATCH };
/// A thread's last guard on a map drives reclamation to the end when its pin retired at
/// least this many objects: a bulk operation.
const BULK: usize = 16 * BATCH;
/// Objects per deferred batch once a pin has retired [`BULK`] objects: a purge of a
/// million entries under one handle then adds ~1k crossbeam records (~32 KB) to the heap
/// while it holds everything it unlinked, instead of ~16k (~0.5 MB), and a batch still
/// frees in tens of microseconds.
const BULK_BATCH: usize = BULK;

/// The frees of a map's garbage, shared by the collector and its participants.
pub(crate) struct Shared {
    /// Frees a retirement list of this map's `K` and `V`, returning how many objects.
    free_batch: unsafe fn(*mut u8) -> usize,
    /// Objects handed to crossbeam in batches, and of those, freed.
    sealed: AtomicU64,
    freed: AtomicU64,
}

/// A map's epoch-based collector.
pub(crate) struct Collector {
    /// Dropped in `shutdown`, after every participant is released: its drop runs every
    /// deferred free, which reads `shared`.
    epoch: ManuallyDrop<epoch::Collector>,
    /// Boxed: deferred closures and participants hold its address.
    shared: Box<Shared>,
    /// Every participant registered by a thread (`participant.rs`).
    registry: Mutex<Vec<Arc<Participant>>>,
    /// Never reused: keys the threads' participant caches.
    id: u64,
    shut_down: bool,
}

impl Collector {
    /// Objects retired and handed to reclamation but not freed yet (an estimate for
    /// `Stats::garbage_bytes`: objects still in a thread's unsealed list are not seen).
    pub(crate) fn garbage_objects(&self) -> u64 {
        // Relaxed: a statistic.
        let sealed = self.shared.sealed.load(Ordering::Relaxed);
        let freed = self.shared.freed.load(Ordering::Relaxed);
        sealed.saturating_sub(freed)
    }

    /// A collector whose garbage lists are freed by `free_batch`.
    pub(crate) fn new(free_batch: unsafe fn(*mut u8) -> usize) -> Collector {
        // std's atomic even under loom: ids must stay unique across the model's runs.
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Collector {
            epoch: ManuallyDrop::new(epoch::Collector::new()),
            shared: Box::new(Shared {
                free_batch,
                sealed: AtomicU64::new(0),
                freed: AtomicU64::new(0),
            }),
            registry: Mutex::new(Vec::new()),
            // Relaxed: only uniqueness matters.
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            shut_down: false,
        }
    }

    fn epoch(&self) -> &epoch::Collector {
        &self.epoch
    }

    /// Adds a thread's participant to the registry (pruning released ones).
    fn register(&self, p: Arc<Participant>) {
        let mut registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        registry.retain(|p| !p.is_released());
        registry.push(p);
    }

    /// A guard of the current thread, not pinned yet, and not even bound to the
    /// thread's participant: both happen at its first [`Guard::protect`], so a handle
    /// whose lookups the bucket filter answers costs almost nothing to make and to drop
    /// (with a handle per lookup, such a lookup went from 142 to 114 instructions, 90 with
    /// the get path inlined; callgrind, `/tmp/ghmodes`). A collection
    /// that runs inside the pin may catch a destructor's panic (see [`panics`]): the
    /// guard's drop resumes it.
    #[inline]
    pub(crate) fn pin(&self) -> Guard<'_> {
        Guard {
            epoch: UnsafeCell::new(None),
            participant: Cell::new(None),
            owned: Cell::new(false),
            collector: self,
        }
    }

    /// This thread's participant for this map, or (if the thread's storage is gone: it is
    /// exiting) a fresh registration, which the caller then owns (`true`).
    fn participant_for_thread(&self) -> (NonNull<Participant>, bool) {
        match participant::cached(self) {
            // SAFETY: the thread's own participant for this map (see `participant.rs`):
            // it outlives every guard of the map on this thread, which borrows the map.
            Some(p) => (NonNull::from(unsafe { &*p }), false),
            None => (self.fresh_participant(), true),
        }
    }

    /// A registration of its own (leaked: its guard frees it).
    fn fresh_participant(&self) -> NonNull<Participant> {
        let p = Box::new(Participant::new(self.epoch.register(), &self.shared));
        NonNull::from(Box::leak(p))
    }

    /// Pins with a registration of the guard's own, which may move between threads.
    pub(crate) fn pin_owned(&self) -> OwnedGuard<'_> {
        OwnedGuard(self.pin_fresh())
    }

    fn pin_fresh(&self) -> Guard<'_> {
        Guard {
            epoch: UnsafeCell::new(None),
            participant: Cell::new(Some(self.fresh_participant())),
            owned: Cell::new(true),
            collector: self,
        }
    }

    /// Releases every participant and runs every pending destructor. `&mut self`: no
    /// guard of this collector exists. The collector is inert afterwards.
    pub(crate) fn shutdown(&mut self) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        let registry = std::mem::take(
            &mut *self
                .registry
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for p in registry {
            // SAFETY: `&mut self`: no guard of this map exists.
            unsafe { p.release(false) };
        }
        participant::forget(self.id);
        // SAFETY: dropped once (`shut_down`); every participant is released, so this is
        // the last reference to crossbeam's global state, whose drop runs every deferred
        // free now, while `shared` is still alive.
        unsafe { ManuallyDrop::drop(&mut self.epoch) };
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector").finish_non_exhaustive()
    }
}

/// Protection for the length of one (or many) operations on one map.
///
/// A guard pins *lazily*: making one (`map.pin()`) does nothing but borrow the collector,
/// and the first operation that reads the list finds the thread's registration and pins
/// ([`Guard::protect`], which hands out the [`Pinned`] token the raw engine requires). A
/// lookup that the bucket filter answers never pins at all, and its handle's drop has
/// nothing to do. The pin then lasts until the guard is dropped, so every reference an
/// operation returns stays valid as long as the guard.
///
/// `pub` only for the sealed trait behind `ttlmap::Guard` (`map`); this module is
/// private, so no user can name it.
#[allow(unreachable_pub)]
pub struct Guard<'c> {
    /// `None` until the first [`Guard::protect`]; then set for good (until the drop).
    epoch: UnsafeCell<Option<epoch::Guard>>,
    /// The participant the guard pins with: `None` until the first [`Guard::protect`]
    /// (or [`Guard::registration`]) of a thread's guard, set from the start for an owned
    /// one; then set for good.
    participant: Cell<Option<NonNull<Participant>>>,
    /// Whether the guard owns its participant (a fresh registration), which it releases
    /// and frees when dropped. Set with `participant`.
    owned: Cell<bool>,
    collector: &'c Collector,
}

impl fmt::Debug for Guard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

impl<'c> Guard<'c> {
    /// Pins (if this guard has not yet) and returns the token the raw engine takes:
    /// every pointer loaded from the list under it stays valid while the guard lives.
    #[inline]
    pub(crate) fn protect(&self) -> &Pinned<'c> {
        // SAFETY: the guard is not `Sync`, and the slot is written only by `pin_now`
        // (from `None` to `Some`, once: a nested `protect` run from inside `pin_now`, see
        // there, fills it first and `pin_now` then leaves it) and in the drop (`&mut`), so
        // no reference into it is alive when it changes: `Pinned` references come from
        // this function after it is `Some`.
        if unsafe { (*self.epoch.get()).is_none() } {
            self.pin_now();
        }
        // SAFETY: `Pinned` is a `repr(transparent)` wrapper of `Guard`, and the guard is
        // pinned now, which is what `Pinned` stands for.
        unsafe { &*(self as *const Guard<'c>).cast::<Pinned<'c>>() }
    }

    #[cold]
    #[inline(never)]
    fn pin_now(&self) {
        // SAFETY: we are the participant's owner; a cached participant is released only
        // when its thread exits or the map drops, neither of which can happen while a
        // guard of the map exists on the thread.
        let handle = unsafe { self.bound().handle() }.expect("a live registration");
        let pinned = handle.pin();
        // `handle.pin()` may have run a collection, hence other entries' destructors, and
        // one of them may have reached this very guard (a thread-local holding it) and
        // pinned it: the slot is then `Some` already, and one pin of the two is dropped
        // (both are the same handle's, at the same epoch). Writing over it instead would
        // leak that pin's count: the thread pinned for good, the map's epoch stuck, nothing
        // reclaimed again (review 8: `tests/reentrant_pin.rs`).
        // SAFETY: see `protect`: no reference into the slot exists yet (the nested call's
        // `Pinned` reference ended with it).
        if unsafe { (*self.epoch.get()).is_some() } {
            drop(pinned);
            return;
        }
        // SAFETY: as above; the slot holds `None`, so writing over it drops nothing (an
        // assignment would compile a drop of the old value: 6 instructions a pin).
        unsafe { self.epoch.get().write(Some(pinned)) };
    }

    /// Unpins (if pinned).
    #[inline]
    fn unpin(&mut self) {
        drop(self.epoch.get_mut().take());
    }

    /// The address of the registration this guard pins (diagnostics and tests: two
    /// guards alive at once on different threads never share one). Pins: a participant
    /// bound without a pin could be released by the thread's exit under the guard (see
    /// [`reclaim_on_drop`](Self::reclaim_on_drop)).
    pub(crate) fn registration(&self) -> usize {
        let _ = self.protect();
        std::ptr::from_ref(self.participant()).addr()
    }

    /// The guard's participant, binding it first if the guard has none yet. Callers pin
    /// right after (see [`reclaim_on_drop`](Self::reclaim_on_drop)).
    #[inline]
    fn bound(&self) -> &Participant {
        let p = match self.participant.get() {
            Some(p) => p,
            None => self.bind(),
        };
        // SAFETY: alive while the guard is (see `participant_for_thread`, `pin_fresh`).
        unsafe { p.as_ref() }
    }

    /// Binds the thread's participant (inlined into `pin_now`, itself out of line).
    #[inline]
    fn bind(&self) -> NonNull<Participant> {
        let (p, owned) = self.collector.participant_for_thread();
        self.participant.set(Some(p));
        self.owned.set(owned);
        p
    }

    /// The guard's participant, once bound (which every pin did first).
    #[inline]
    fn participant(&self) -> &Participant {
        // SAFETY: callers run on a pinned guard (`protect` bound it) or an owned one; the
        // participant is alive while the guard is (see `bound`).
        unsafe {
            self.participant
                .get()
                .unwrap_or_else(|| unreachable!("a pinned guard has its participant"))
                .as_ref()
        }
    }

    /// Makes this guard's drop hand its participant's retirement list over and drive
    /// reclamation (if it is the thread's last guard on the map), however little was
    /// retired: for calls that promise to free before they return.
    ///
    /// Pins (if the guard has not yet): binding the participant without pinning would let
    /// the thread's exit release it under a guard that lives on in a later thread-local
    /// destructor (`tests/guard_thread_exit.rs`); the thread's exit skips only pinned
    /// participants.
    pub(crate) fn reclaim_on_drop(&self) {
        let _ = self.protect();
        let p = self.participant();
        // Both counters: the drop's fast path relies on `pin_retired <= retired`.
        p.pin_retired.set(p.pin_retired.get().max(BULK));
        p.retired.set(p.retired.get().max(BULK));
    }

    /// Hands this participant's retirement list to crossbeam as one deferred batch.
    fn seal_pending(&self) {
        let p = self.participant();
        let head = p.pending.replace(std::ptr::null_mut());
        let len = p.pending_len.replace(0);
        seal(&self.collector.shared, self.protect().epoch(), head, len);
    }

    /// Flushes the collector until every batch sealed so far is freed, or until three
    /// flushes in a row free nothing (another guard holds the rest back); at least three
    /// times, which advances the epoch far enough for what was deferred on its own.
    fn drive(&self, handle: &epoch::LocalHandle) {
        // Relaxed: a target; what we sealed ourselves is counted by our own RMW.
        let shared = &self.collector.shared;
        let target = shared.sealed.load(Ordering::Relaxed);
        // Acquire: pairs with the Release increments of `freed` in `seal`'s closure.
        let mut freed = shared.freed.load(Ordering::Acquire);
        let (mut idle, mut flushes) = (0, 0);
        while flushes < 3 || (freed < target && idle < 3) {
            flushes += 1;
            handle.pin().flush();
            let now = shared.freed.load(Ordering::Acquire);
            if now == freed {
                idle += 1;
            } else {
                idle = 0;
                freed = now;
            }
        }
    }
}

/// Hands the list `head` (`len` objects) to crossbeam as one deferred batch.
fn seal(shared: &Shared, guard: &epoch::Guard, head: *mut u8, len: usize) {
    if head.is_null() {
        return;
    }
    // Relaxed: a statistic and the drives' target (a drive reads what its own thread
    // sealed through its own RMW's place in the modification order).
    shared.sealed.fetch_add(len as u64, Ordering::Relaxed);
    struct Batch(*mut u8, *const Shared);
    let batch = Batch(head, shared);
    // SAFETY: (1) every object of the list is unreachable for guards pinned from now on
    // (each was retired after its unlinking CAS), so crossbeam runs the closure only once
    // every guard that might hold one is gone; (2) the closure may run on any thread of
    // this map (`HashMap: Sync` needs `K, V: Send`) and runs before the map's collector
    // is dropped (`Collector::shutdown` drops crossbeam's state while `shared` lives),
    // so the borrowed lifetimes inside K and V are still alive; (3) `free_batch` never
    // unwinds (destructors run under `catching`).
    unsafe {
        guard.defer_unchecked(move || {
            let Batch(head, shared) = batch;
            let shared = &*shared;
            let freed = (shared.free_batch)(head);
            // Release: pairs with the Acquire loads in `drive`.
            shared.freed.fetch_add(freed as u64, Ordering::Release);
        })
    }
}

impl Drop for Guard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // A guard that never pinned nor bound a participant (a handle whose lookups the
        // filter answered) has nothing to undo, and ran no collection: one test, inlined
        // into the handle's drop.
        if let Some(p) = self.participant.get() {
            self.drop_bound(p);
        }
    }
}

impl Guard<'_> {
    /// The drop of a guard bound to its participant (out of line, so that the drop of a
    /// handle that never pinned is one inlined test).
    #[inline(never)]
    fn drop_bound(&mut self, p: NonNull<Participant>) {
        // SAFETY: alive while the guard is (see `bound`); not tied to the borrow of
        // `self`, whose epoch guard is dropped below.
        let p: &Participant = unsafe { p.as_ref() };
        // Nothing to hand over (`pin_retired <= retired` always): just unpin. This is
        // the drop of nearly every per-operation handle.
        if !self.owned.get() && p.retired.get() < FLUSH_AFTER {
            // Unpinning collects nothing (the participant's handle is alive).
            self.unpin();
            if p.pin_retired.get() != 0 {
                // SAFETY: we are the participant's owner thread.
                if unsafe { p.handle() }.is_some_and(|h| !h.is_pinned()) {
                    p.pin_retired.set(0);
                }
            }
        } else {
            self.drop_slow(p);
        }
        // A destructor's panic caught during this pin (a collection inside `pin`, or the
        // flushes above) surfaces now.
        resume();
    }

    /// The drop of a guard that hands garbage over, or owns its registration.
    #[cold]
    #[inline(never)]
    fn drop_slow(&mut self, p: &Participant) {
        // SAFETY: we are the participant's owner (its thread, or the guard owning it).
        if let Some(handle) = unsafe { p.handle() } {
            let bulk = p.pin_retired.get() >= BULK;
            let flush = bulk || p.retired.get() >= FLUSH_AFTER;
            if (self.owned.get() || flush) && !p.pending.get().is_null() {
                self.seal_pending();
            }
            // Unpinning collects nothing: the participant's handle is alive.
            self.unpin();
            if !handle.is_pinned() {
                p.pin_retired.set(0);
                if flush {
                    p.retired.set(0);
                    if bulk {
                        self.drive(handle);
                    } else {
                        handle.pin().flush();
                    }
                }
            }
        } else {
            // Unreachable in practice: a participant is released only while no guard of
            // it exists; unpinning is all there is to do anyway.
            self.unpin();
        }
        if self.owned.get() {
            // SAFETY: the guard owns the participant (`fresh_participant`; bound, since
            // `drop` came here with it), and its only pin just ended; releasing it while
            // it is not pinned is its owner's thread exit path, which hands its list to
            // crossbeam and drops its registration.
            unsafe {
                let owned = self.participant.get().unwrap_unchecked();
                let p = Box::from_raw(owned.as_ptr());
                p.release(true);
            }
        }
    }
}

/// A guard that may move between threads: it owns its registration.
pub(crate) struct OwnedGuard<'c>(Guard<'c>);

// SAFETY: the participant behind the guard is registered for this guard alone and used
// only through it, so moving the guard moves its only user along; the move itself
// synchronises the two threads.
unsafe impl Send for OwnedGuard<'_> {}
// Not `Sync`: the participant's retirement list is unsynchronised, so two threads must
// never retire through one guard at the same time.

impl<'c> std::ops::Deref for OwnedGuard<'c> {
    type Target = Guard<'c>;
    fn deref(&self) -> &Guard<'c> {
        &self.0
    }
}

/// What the raw engine needs from a guard: retire the garbage it unlinked.
pub(crate) trait RawGuard {
    /// Retires an object through its own link word: `link(next)` must store `next` (the
    /// rest of the list) into that word, and `handle` identifies the object and its kind
    /// to the map's `free_batch` (see `raw/retire.rs`).
    ///
    /// # Safety
    /// - the object is unreachable for every guard pinned after this call (it was
    ///   unlinked), retired exactly once, and its link word is unused otherwise;
    /// - the guard is not used by two threads at once.
    unsafe fn retire_linked(&self, handle: *mut u8, link: impl FnOnce(*mut u8));

    /// Defers `free(ptr)` on its own until no guard that could have loaded `ptr` remains.
    ///
    /// # Safety
    /// - `ptr` is unreachable for every guard pinned after this call (it was unlinked);
    /// - it is retired exactly once, `free` is the matching destructor, and `free` never
    ///   unwinds (user destructors run under [`catching`]);
    /// - the guard is not used by two threads at once.
    unsafe fn retire<T>(&self, ptr: *mut T, free: unsafe fn(*mut T));
}

/// A pinned guard: the token every raw operation takes (see [`Guard::protect`]).
#[repr(transparent)]
#[allow(unreachable_pub)]
pub struct Pinned<'c>(Guard<'c>);

impl Pinned<'_> {
    /// crossbeam's guard of the pin.
    #[inline]
    fn epoch(&self) -> &epoch::Guard {
        // SAFETY: a `Pinned` exists only once `protect` has set the slot, which stays
        // set until the guard's drop (see `Guard::protect`).
        unsafe { (*self.0.epoch.get()).as_ref().unwrap_unchecked() }
    }
}

impl fmt::Debug for Pinned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pinned").finish_non_exhaustive()
    }
}

impl RawGuard for Pinned<'_> {
    #[inline]
    unsafe fn retire_linked(&self, handle: *mut u8, link: impl FnOnce(*mut u8)) {
        let p = self.0.participant();
        link(p.pending.get());
        p.pending.set(handle);
        p.retired.set(p.retired.get() + 1);
        p.pin_retired.set(p.pin_retired.get() + 1);
        let len = p.pending_len.get() + 1;
        p.pending_len.set(len);
        let batch = if p.pin_retired.get() > BULK {
            BULK_BATCH
        } else {
            BATCH
        };
        if len >= batch {
            self.0.seal_pending();
        }
    }

    #[inline]
    unsafe fn retire<T>(&self, ptr: *mut T, free: unsafe fn(*mut T)) {
        struct Garbage<T>(*mut T, unsafe fn(*mut T));
        let garbage = Garbage(ptr, free);
        let p = self.0.participant();
        p.retired.set(p.retired.get() + 1);
        p.pin_retired.set(p.pin_retired.get() + 1);
        // SAFETY: as in `seal`: unreachable for later guards (caller), run before the
        // map's collector is gone, and `free` never unwinds (caller).
        unsafe {
            self.epoch().defer_unchecked(move || {
                let Garbage(ptr, free) = garbage;
                free(ptr)
            })
        }
    }
}

#[cfg(all(test, not(ttlmap_loom)))]
mod tests {
    use super::*;

    unsafe fn free_nothing(_: *mut u8) -> usize {
        0
    }

    fn registered(c: &Collector) -> usize {
        c.registry.lock().unwrap().len()
    }

    #[test]
    fn a_guard_binds_its_participant_at_its_first_pin() {
        let c = Collector::new(free_nothing);
        // Made and dropped without a pin (a lookup the filter answered): no registration.
        drop(c.pin());
        assert_eq!(registered(&c), 0, "an unpinned guard registered the thread");
        let g = c.pin();
        let _ = g.protect();
        assert_eq!(registered(&c), 1);
        let id = g.registration();
        drop(g);
        // The next guard of the thread finds the same participant, once it pins.
        let g = c.pin();
        assert_eq!(registered(&c), 1);
        let _ = g.protect();
        assert_eq!(g.registration(), id);
        assert_eq!(registered(&c), 1);
    }
}
