//! The only place atomics, fences, cells, locks and thread ids come from.
//!
//! Under `--cfg ttlmap_loom` (with the `loom` feature) every primitive is loom's, so that
//! the loom model checker explores the interleavings of the whole crate; otherwise they
//! are `std`'s. Nothing else in the crate names `std::sync::atomic` directly.

#[cfg(all(ttlmap_loom, feature = "loom"))]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU16, AtomicU64, AtomicUsize};
#[cfg(all(ttlmap_loom, feature = "loom"))]
pub(crate) use loom::sync::{atomic::fence, Condvar, Mutex, MutexGuard};
#[cfg(all(ttlmap_loom, feature = "loom"))]
pub(crate) use loom::thread::ThreadId;

#[cfg(not(all(ttlmap_loom, feature = "loom")))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU16, AtomicU64, AtomicUsize};
#[cfg(not(all(ttlmap_loom, feature = "loom")))]
pub(crate) use std::sync::{atomic::fence, Condvar, Mutex, MutexGuard};
#[cfg(not(all(ttlmap_loom, feature = "loom")))]
pub(crate) use std::thread::ThreadId;

pub(crate) use std::sync::atomic::Ordering;

/// `true` when the crate is built for the loom model checker.
pub(crate) const LOOM: bool = cfg!(all(ttlmap_loom, feature = "loom"));

/// The id of the calling thread: loom's under loom, whose model threads all run on one
/// OS thread (so `std::thread::current().id()` would be the same for all of them).
#[inline]
pub(crate) fn thread_id() -> ThreadId {
    #[cfg(all(ttlmap_loom, feature = "loom"))]
    return loom::thread::current().id();
    #[cfg(not(all(ttlmap_loom, feature = "loom")))]
    return std::thread::current().id();
}

/// How many shards a per-thread sharded count gets: the available parallelism rounded
/// up to a power of two, at most 64 (1 under loom, whose threads share `thread_index` 0).
/// `available_parallelism` parses cgroup files on Linux: read once per process, not per
/// map (a program that builds many small maps paid it each time).
pub(crate) fn shard_count() -> usize {
    if LOOM {
        return 1;
    }
    static SHARDS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *SHARDS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .next_power_of_two()
            .clamp(1, 64)
    })
}

/// A small per-thread number, assigned on first use (always 0 under loom, whose threads
/// share one OS thread). Used to spread writers over counter shards.
#[inline]
pub(crate) fn thread_index() -> usize {
    if LOOM {
        return 0;
    }
    use std::cell::Cell;
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|i| {
        let v = i.get();
        if v != usize::MAX {
            return v;
        }
        // Relaxed: only uniqueness matters, which the RMW gives on its own.
        let v = NEXT.fetch_add(1, Ordering::Relaxed);
        i.set(v);
        v
    })
}

/// Asks the processor to bring `p`'s cache line in; a hint, which never faults whatever
/// the address (a no-op on other architectures than x86-64, and under loom).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(all(ttlmap_loom, feature = "loom"))))]
    // SAFETY: `prefetcht0` is a hint: it reads nothing architecturally and never faults,
    // so any address is allowed; SSE is part of x86-64's baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(all(target_arch = "x86_64", not(all(ttlmap_loom, feature = "loom")))))]
    let _ = p;
}
