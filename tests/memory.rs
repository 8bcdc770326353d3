//! Memory comes back after bulk removal through a pinned handle (issue #15): after
//! `map.pin().purge_expired()`, `map.pin().clear()` or `map.pin().retain(..)` and the
//! handle's drop, the heap holds the live entries and the directory (±5 %), and the
//! purge never raises the heap while it runs.
//!
//! The heap is counted by this binary's global allocator, so the file holds one test:
//! tests running in parallel would count each other's allocations. Every map is presized
//! for its entries: a growing map takes its large directory segments straight from the
//! kernel (`mmap`), which this allocator never sees, so a grown map's count would lack
//! most of its directory while the reference's holds all of it, and a stranded
//! directory's worth of nodes would pass unnoticed. Presized, both directories are the
//! same allocations. (The benchmarks' reclamation section measures a map that grows, with
//! the mapped segments added.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use ttlmap::{HashMap, ManualClock};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::SeqCst) + by;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: forwards to `System`, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size() as isize);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            grew(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn heap() -> isize {
    LIVE.load(Ordering::SeqCst)
}

const N: u64 = 200_000;

/// The heap a map of `buckets` buckets holding `keys` costs: a reference map built with
/// that capacity (so the same directory) and the same entries, measured the same way.
fn reference(buckets: usize, keys: impl Iterator<Item = u64>) -> isize {
    let base = heap();
    let map: HashMap<u64, u64> = HashMap::with_capacity(buckets);
    let m = map.pin();
    for k in keys {
        m.insert(k, k);
    }
    drop(m);
    assert_eq!(map.bucket_count(), buckets);
    heap() - base
}

fn check_after(what: &str, base: isize, buckets: usize, live: impl Iterator<Item = u64>) {
    let held = heap() - base;
    let want = reference(buckets, live);
    assert!(
        held as f64 <= want as f64 * 1.05,
        "{what}: {held} bytes held, but the live entries and the directory take {want}"
    );
}

#[test]
fn bulk_removal_through_a_handle_gives_the_memory_back() {
    // purge_expired through a handle, with the traffic before it.
    let base = heap();
    let clock = ManualClock::new();
    let map: HashMap<u64, u64> = HashMap::builder()
        .clock(clock.clone())
        .default_ttl(Duration::from_secs(5))
        .capacity(N as usize)
        .build();
    for k in 0..N {
        map.pin().insert(k, k);
    }
    clock.advance(Duration::from_secs(6));
    for k in 0..1000 {
        assert_eq!(map.pin().get(&(N + 10 * k)), None);
    }
    for k in 0..1000 {
        map.pin().insert(2 * N + k, k);
        assert_eq!(map.pin().get(&(2 * N + k)), Some(&k));
    }
    let before = heap() - base;
    PEAK.store(heap(), Ordering::SeqCst);
    let purged = map.pin().purge_expired();
    let peak = PEAK.load(Ordering::SeqCst) - base;
    assert!(
        purged > 0 && map.len() == 1000,
        "purged {purged}, len {}",
        map.len()
    );
    assert!(
        peak as f64 <= before as f64 * 1.005,
        "the purge raised the heap from {before} to {peak} bytes"
    );
    check_after("purge", base, map.bucket_count(), 2 * N..2 * N + 1000);
    assert_eq!(map.pin().purge_expired(), 0);
    check_after(
        "second purge",
        base,
        map.bucket_count(),
        2 * N..2 * N + 1000,
    );
    drop(map);

    // clear through a handle.
    let base = heap();
    let map: HashMap<u64, u64> = HashMap::with_capacity(N as usize);
    for k in 0..N {
        map.pin().insert(k, k);
    }
    let before = heap() - base;
    PEAK.store(heap(), Ordering::SeqCst);
    map.pin().clear();
    let peak = PEAK.load(Ordering::SeqCst) - base;
    assert!(map.is_empty());
    assert!(
        peak as f64 <= before as f64 * 1.005,
        "clear: {before} → peak {peak}"
    );
    check_after("clear", base, map.bucket_count(), 0..0);
    drop(map);

    // retain through a handle, keeping 1 %.
    let base = heap();
    let map: HashMap<u64, u64> = HashMap::with_capacity(N as usize);
    for k in 0..N {
        map.pin().insert(k, k);
    }
    map.pin().retain(|k, _| k % 100 == 0);
    assert_eq!(map.len(), N as usize / 100);
    check_after("retain", base, map.bucket_count(), (0..N).step_by(100));
    drop(map);
}
