//! Loom model tests of ttlmap; see `tests/` and `README.md`.
//!
//! This library only holds helpers shared by the model files: a [`model`] runner with a
//! per-model preemption bound (and timing), and a [`MaskHasher`] whose hashes the tests
//! choose, so that keys land in chosen buckets.

#![cfg(ttlmap_loom)]

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Runs `f` under loom with preemption bound `bound`.
///
/// The bound is per model (explicit, so `LOOM_MAX_PREEMPTIONS` does not change it);
/// `TTLMAP_LOOM_MAX_PREEMPTIONS=n` caps every model at `n` for a quick run. The model's
/// wall time and iteration count are printed to stderr (`-- --nocapture` shows them).
pub fn model<F>(name: &str, bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let bound = match std::env::var("TTLMAP_LOOM_MAX_PREEMPTIONS") {
        Ok(v) => bound.min(v.parse().expect("invalid TTLMAP_LOOM_MAX_PREEMPTIONS")),
        Err(_) => bound,
    };
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    // Every `pin()` registers a fresh crossbeam handle under loom: many atomic steps.
    builder.max_branches = builder.max_branches.max(20_000);
    let iters = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = iters.clone();
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f()
    });
    eprintln!(
        "loom model {name}: preemption bound {bound}, {} iterations, {:.2?}",
        iters.load(Ordering::Relaxed),
        start.elapsed()
    );
}

/// A `BuildHasher` whose hash of a `u64` key is `key & mask`.
///
/// With `mask = u64::MAX` the hash is the key itself, so key `k` lands in bucket
/// `k & (buckets - 1)`; a smaller mask makes distinct keys share a whole hash (one run
/// of equal split-order keys), which exercises the key comparison.
#[derive(Clone, Copy, Debug)]
pub struct MaskHasher {
    /// Bits of the key kept as its hash.
    pub mask: u64,
}

impl MaskHasher {
    /// Hash = key.
    pub const IDENTITY: MaskHasher = MaskHasher { mask: u64::MAX };
}

impl BuildHasher for MaskHasher {
    type Hasher = MaskState;
    fn build_hasher(&self) -> MaskState {
        MaskState {
            mask: self.mask,
            h: 0,
        }
    }
}

/// The hasher of [`MaskHasher`].
#[derive(Debug)]
pub struct MaskState {
    mask: u64,
    h: u64,
}

impl Hasher for MaskState {
    fn finish(&self) -> u64 {
        self.h & self.mask
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.h = self.h.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.h = n;
    }
}

/// A map with `hasher`, a `capacity` hint (4 → 4 buckets, 0 → 2) and a manual
/// clock.
pub fn map_with<V>(
    capacity: usize,
    hasher: MaskHasher,
    clock: &ttlmap::ManualClock,
) -> ttlmap::HashMap<u64, V, MaskHasher> {
    ttlmap::HashMap::builder()
        .hasher(hasher)
        .capacity(capacity)
        .clock(clock.clone())
        .build()
}

/// A value whose contents loom tracks: reading it checks that its construction (and no
/// later drop) happens-before the read, so a value read through an unpublished or
/// prematurely freed cell is a loom "causality violation", not silent luck. Dropping it
/// writes a poison and bumps an optional drop counter.
#[derive(Debug)]
pub struct Val {
    cell: loom::cell::UnsafeCell<u64>,
    drops: Option<loom::sync::Arc<loom::sync::atomic::AtomicUsize>>,
}

/// Written into a [`Val`] when it is dropped.
pub const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;

// SAFETY: the inner cell is written only at construction (before the value is shared)
// and at drop (exclusive); loom checks every access against those two writes.
unsafe impl Sync for Val {}
// SAFETY: as above; the counter is a loom `Arc`.
unsafe impl Send for Val {}

impl Val {
    /// A value holding `v`.
    pub fn new(v: u64) -> Val {
        Val {
            cell: loom::cell::UnsafeCell::new(v),
            drops: None,
        }
    }

    /// A value holding `v` that bumps `drops` when dropped.
    pub fn tracked(v: u64, drops: &loom::sync::Arc<loom::sync::atomic::AtomicUsize>) -> Val {
        Val {
            cell: loom::cell::UnsafeCell::new(v),
            drops: Some(drops.clone()),
        }
    }

    /// The value (a tracked read).
    pub fn get(&self) -> u64 {
        // SAFETY: see `unsafe impl Sync`; loom reports any unordered access.
        let v = self.cell.with(|p| unsafe { *p });
        assert_ne!(v, POISON, "read a dropped value");
        v
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        // A tracked write: a read not ordered before the drop is a causality violation.
        self.cell.with_mut(|p| unsafe { *p = POISON });
        if let Some(d) = &self.drops {
            d.fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// `Option<&Val>` → `Option<u64>`.
pub fn val(v: Option<&Val>) -> Option<u64> {
    v.map(Val::get)
}
