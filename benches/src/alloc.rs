//! A counting allocator: wraps `System` and tracks live heap bytes (`layout.size()`).
//!
//! The comparison binary installs it with `#[global_allocator]`. Counts live in per-thread
//! shards (cache-line padded) so the throughput workloads do not all hit one contended
//! counter; [`live_bytes`] sums the shards.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};

const SHARDS: usize = 64;

#[repr(align(128))]
struct Shard(AtomicIsize);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: Shard = Shard(AtomicIsize::new(0));
static COUNTS: [Shard; SHARDS] = [ZERO; SHARDS];
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn add(delta: isize) {
    let shard = MY_SHARD
        .try_with(|s| {
            let mut i = s.get();
            if i == usize::MAX {
                i = NEXT_SHARD.fetch_add(1, Relaxed) % SHARDS;
                s.set(i);
            }
            i
        })
        // During thread teardown the thread-local is gone; any shard keeps the sum right.
        .unwrap_or(0);
    COUNTS[shard].0.fetch_add(delta, Relaxed);
}

/// Live heap bytes allocated through [`CountingAlloc`] (0 if it is not installed).
pub fn live_bytes() -> isize {
    COUNTS.iter().map(|s| s.0.load(Relaxed)).sum()
}

/// `System`, counting live bytes.
pub struct CountingAlloc;

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        add(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Heap growth since a starting point.
#[derive(Clone, Copy, Debug)]
pub struct HeapProbe(isize);

impl HeapProbe {
    /// Records the current live bytes as the baseline.
    pub fn start() -> Self {
        Self(live_bytes())
    }
    /// Live bytes now minus the baseline.
    pub fn held(&self) -> isize {
        live_bytes() - self.0
    }
}
