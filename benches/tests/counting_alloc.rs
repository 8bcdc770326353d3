//! The counting allocator, installed here as it is in `ttlmap-bench-memory`.

use ttlmap_bench::alloc::{self, CountingAlloc, HeapProbe};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn counts_live_bytes_and_their_peak() {
    assert!(alloc::is_counting());
    let probe = HeapProbe::start();
    alloc::reset_peak();
    let big = vec![1u8; 1 << 20];
    let held = probe.held();
    drop(big);
    let small = vec![1u8; 1 << 10];
    assert!(held >= 1 << 20, "held {held}");
    assert!(probe.peak() >= 1 << 20, "peak {}", probe.peak());
    assert!(probe.held() < 1 << 19, "after drop {}", probe.held());
    drop(small);

    // A reset forgets the earlier peak.
    alloc::reset_peak();
    assert!(probe.peak() < 1 << 19, "peak after reset {}", probe.peak());
    let mut grown = Vec::<u8>::with_capacity(16);
    grown.reserve_exact(1 << 20); // realloc
    assert!(probe.peak() >= 1 << 20, "realloc peak {}", probe.peak());
}
