//! A counting allocator: wraps `System` and tracks live heap bytes (`layout.size()`) and
//! their peak.
//!
//! Only the heap-measuring binary (`src/bin/memory.rs`, `ttlmap-bench-memory`) installs it
//! with `#[global_allocator]`; the timed sections run in the main binary, whose allocator is
//! plain `System`, so the count costs them nothing. The heap binary's workloads run on one
//! thread, so one counter is enough, and it makes the peak exact: every update returns the
//! new total, and the peak is the largest total any update produced.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

/// Live bytes: allocated minus freed.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The largest value `LIVE` reached since the last [`reset_peak`].
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn add(delta: isize) {
    // Relaxed: a counter that publishes no other memory. Its modification order alone
    // makes each returned total exact, whatever thread frees or allocates.
    let now = LIVE.fetch_add(delta, Relaxed) + delta;
    // Relaxed: as above; `fetch_max` keeps the largest total whatever the interleaving.
    if delta > 0 && now > PEAK.load(Relaxed) {
        PEAK.fetch_max(now, Relaxed);
    }
}

/// Live heap bytes allocated through [`CountingAlloc`] (0 if it is not installed), plus
/// the directory segments that ttlmap maps directly from the kernel (large segments a
/// growing map allocates, and those of 2 MiB or more a capacity hint allocates; the
/// global allocator never sees them).
pub fn live_bytes() -> isize {
    // Relaxed: read on the thread that ran the measured code (or joined the threads
    // that did), so every update it must see is ordered before this load.
    LIVE.load(Relaxed) + mapped()
}

/// The most live bytes since the last [`reset_peak`] (0 if [`CountingAlloc`] is not
/// installed), plus ttlmap's mapped directory segments as of now: they change only when
/// a map is built, grows, shrinks or drops, which no measured bulk operation does.
pub fn peak_bytes() -> isize {
    // Relaxed: as in `live_bytes`.
    PEAK.load(Relaxed) + mapped()
}

/// ttlmap's directly mapped directory bytes, which the counting allocator cannot see.
fn mapped() -> isize {
    ttlmap::mapped_bytes() as isize
}

/// Restarts peak tracking from the current live bytes.
pub fn reset_peak() {
    // Relaxed: as in `live_bytes`; an allocation racing with the reset may be lost from
    // the peak, so reset it on the measuring thread before the measured operation.
    PEAK.store(LIVE.load(Relaxed), Relaxed);
}

/// Whether [`CountingAlloc`] is this process's global allocator (an allocation moves
/// [`live_bytes`]).
pub fn is_counting() -> bool {
    let before = live_bytes();
    let probe = std::hint::black_box(Box::new([0u8; 256]));
    let counted = live_bytes() - before >= 256;
    drop(probe);
    counted
}

/// `System`, counting live bytes and their peak.
pub struct CountingAlloc;

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's obligations for `alloc` are passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout` (every allocation here does).
        unsafe { System.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `dealloc`; `new_size` is the caller's, checked by the caller.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
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
    /// The peak since the last [`reset_peak`] minus the baseline.
    pub fn peak(&self) -> isize {
        peak_bytes() - self.0
    }
}

#[cfg(test)]
mod tests {
    /// The library's tests run on the default allocator: the check the heap binary makes
    /// before measuring must see that nothing is counted.
    #[test]
    fn is_counting_is_false_without_the_counting_allocator() {
        assert!(!super::is_counting());
    }
}
