//! The bucket directory: shortcuts into the list, grown by doubling, never copied.
//!
//! Bucket `b`'s sentinel [`Link`] lives inline in the directory. The directory is a fixed
//! array of 64 lazily allocated segments (urcu's "order table"): segment 0 holds bucket
//! 0, segment `i ≥ 1` holds buckets `2^(i-1) .. 2^i`, so bucket `b` is in segment
//! `64 − lzcnt(b)` and no segment ever moves [SS06 §2.4]. A segment is published with a
//! CAS; a thread that loses the race frees its own unpublished copy.
//!
//! A bucket moves `UNINIT → BUSY → READY` exactly once. The thread that wins the
//! `UNINIT → BUSY` CAS links the sentinel into the list (through the parent bucket,
//! which it initialises first, recursively [SS06 §2.3]) and then publishes `READY`.
//! Everyone else uses the nearest ready ancestor meanwhile instead of waiting, so bucket
//! initialisation is lock-free (unlike libcds's busy-wait, design.md §4).

use std::alloc::{self, Layout};
use std::ptr;

use super::node::{so_bucket, Link};
use crate::sync::{AtomicPtr, AtomicU8, Ordering, ZEROABLE_ATOMICS};

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;

/// Number of segments: enough for every bucket index below 2^63.
const SEGMENTS: usize = 64;

/// One bucket: its inline sentinel and its initialisation state.
#[repr(C)]
pub(crate) struct Bucket {
    /// The sentinel; `so` is set when the segment is allocated, `next` when linked.
    pub(crate) link: Link,
    state: AtomicU8,
}

/// The segment array. Dropping it frees the segments, not the entries.
pub(crate) struct Directory {
    segments: [AtomicPtr<Bucket>; SEGMENTS],
}

/// Segment index and offset within the segment of bucket `b`.
#[inline]
fn locate(b: usize) -> (usize, usize) {
    if b == 0 {
        (0, 0)
    } else {
        let seg = usize::BITS as usize - b.leading_zeros() as usize;
        (seg, b - (1 << (seg - 1)))
    }
}

#[inline]
fn segment_len(seg: usize) -> usize {
    if seg == 0 {
        1
    } else {
        1 << (seg - 1)
    }
}

/// Index of the first bucket of segment `seg`.
#[inline]
fn segment_base(seg: usize) -> usize {
    if seg == 0 {
        0
    } else {
        1 << (seg - 1)
    }
}

impl Directory {
    /// A directory whose bucket 0 is ready and is the head of an empty list.
    pub(crate) fn new() -> Directory {
        let dir = Directory {
            segments: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        };
        let head = dir.bucket(0);
        // Relaxed: the map is not shared yet; sharing it synchronises.
        head.state.store(READY, Ordering::Relaxed);
        dir
    }

    /// The head of the list: bucket 0's sentinel, which sorts before everything.
    #[inline]
    pub(crate) fn head(&self) -> &Link {
        // Segment 0 exists from `new` on, so this never allocates.
        &self.bucket(0).link
    }

    /// Bucket `b`, allocating its segment if needed. The bucket may not be ready.
    #[inline]
    pub(crate) fn bucket(&self, b: usize) -> &Bucket {
        let (seg, off) = locate(b);
        // Acquire: pairs with the AcqRel CAS that publishes the segment in `alloc_segment`,
        // so the sentinels' `so` written before publication are visible.
        let mut base = self.segments[seg].load(Ordering::Acquire);
        if base.is_null() {
            base = self.alloc_segment(seg);
        }
        // SAFETY: `base` is a published segment of `segment_len(seg)` buckets that lives
        // as long as the directory, and `off < segment_len(seg)` by `locate`.
        unsafe { &*base.add(off) }
    }

    /// Bucket `b` if it is ready, without allocating.
    #[inline]
    pub(crate) fn ready_bucket(&self, b: usize) -> Option<&Link> {
        let (seg, off) = locate(b);
        // Acquire: as in `bucket`.
        let base = self.segments[seg].load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: as in `bucket`.
        let bucket = unsafe { &*base.add(off) };
        bucket.is_ready().then_some(&bucket.link)
    }

    #[cold]
    #[inline(never)]
    fn alloc_segment(&self, seg: usize) -> *mut Bucket {
        let len = segment_len(seg);
        let fresh = new_segment(seg, len);
        // AcqRel: Release publishes the initialised sentinels; Acquire on failure pairs
        // with the winner's Release so that we can use its segment.
        match self.segments[seg].compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` was never published; we still own it.
                unsafe { free_segment(fresh, len) };
                winner
            }
        }
    }
}

impl Bucket {
    #[inline]
    pub(crate) fn is_ready(&self) -> bool {
        // Acquire: pairs with the Release store of READY in `finish_init`, after which the
        // sentinel is linked into the list.
        self.state.load(Ordering::Acquire) == READY
    }

    /// Tries to become the bucket's initialiser. `true` means the caller must link the
    /// sentinel and then call [`Bucket::finish_init`].
    pub(crate) fn begin_init(&self) -> bool {
        // Relaxed on failure: the loser only learns that someone else is on it, and
        // re-checks `is_ready` (Acquire) before trusting the sentinel. Acquire on success
        // is not needed either: the winner writes nothing others published.
        self.state
            .compare_exchange(UNINIT, BUSY, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    pub(crate) fn finish_init(&self) {
        // Release: pairs with the Acquire load in `is_ready`; the sentinel's link CAS
        // happens before.
        self.state.store(READY, Ordering::Release);
    }
}

fn new_segment(seg: usize, len: usize) -> *mut Bucket {
    let layout = Layout::array::<Bucket>(len).expect("segment size overflow");
    let base = if ZEROABLE_ATOMICS {
        // SAFETY: `layout` has non-zero size (len ≥ 1). All-zero bytes are a valid
        // `Bucket` for std atomics (null pointer, state UNINIT) and `so` is fixed below.
        unsafe { alloc::alloc_zeroed(layout) as *mut Bucket }
    } else {
        // SAFETY: as above; every element is written below before use.
        unsafe { alloc::alloc(layout) as *mut Bucket }
    };
    if base.is_null() {
        alloc::handle_alloc_error(layout);
    }
    let first = segment_base(seg);
    for i in 0..len {
        let so = so_bucket(first + i);
        // SAFETY: `i < len`, inside the fresh allocation; nobody else can see it yet.
        unsafe {
            let b = base.add(i);
            if ZEROABLE_ATOMICS {
                ptr::addr_of_mut!((*b).link.so).write(so);
            } else {
                b.write(Bucket {
                    link: Link::new(so),
                    state: AtomicU8::new(UNINIT),
                });
            }
        }
    }
    base
}

/// # Safety
/// - `base` came from `new_segment(_, len)` and nobody can reach it any more.
unsafe fn free_segment(base: *mut Bucket, len: usize) {
    if !ZEROABLE_ATOMICS {
        for i in 0..len {
            // SAFETY: every element was initialised in `new_segment` (caller: same len).
            unsafe { ptr::drop_in_place(base.add(i)) };
        }
    }
    let layout = Layout::array::<Bucket>(len).expect("segment size overflow");
    // SAFETY: allocated with exactly this layout.
    unsafe { alloc::dealloc(base as *mut u8, layout) };
}

impl Drop for Directory {
    fn drop(&mut self) {
        for (seg, slot) in self.segments.iter_mut().enumerate() {
            // Relaxed: `&mut self`, no concurrent access.
            let base = slot.load(Ordering::Relaxed);
            if !base.is_null() {
                // SAFETY: the directory owns its published segments; `&mut self`.
                unsafe { free_segment(base, segment_len(seg)) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_every_index_once() {
        let mut expect = 0usize;
        for seg in 0..12 {
            for off in 0..segment_len(seg) {
                assert_eq!(locate(expect), (seg, off));
                expect += 1;
            }
        }
        assert_eq!(locate(usize::MAX >> 1).0, 63);
    }
}
