//! The bucket directory: shortcuts into the list, grown by doubling, never copied.
//!
//! Bucket `b`'s sentinel [`Link`] lives inline in the directory. The directory is a fixed
//! array of 64 lazily allocated segments (urcu's "order table"): segment 0 holds bucket
//! 0, segment `i ≥ 1` holds buckets `2^(i-1) .. 2^i`, so bucket `b` is in segment
//! `64 − lzcnt(b)` and no segment ever moves [SS06 §2.4]. A segment is published with a
//! CAS; a thread that loses the race frees its own unpublished copy.
//!
//! A bucket is just its sentinel (16 bytes); its state lives in the sentinel's own
//! `next`. It moves `uninitialised (0) → claimed → ready` exactly once: the thread that
//! wins the CAS of `next` from 0 to [`END`] writes the sentinel's split-order key, links
//! the sentinel into the list (through the parent bucket, which it initialises first,
//! recursively [SS06 §2.3]), and then sets the [`READY`] bit, which publishes the
//! bucket. Everyone else uses the nearest ready ancestor meanwhile instead of waiting, so
//! bucket initialisation is lock-free (unlike libcds's busy-wait, design.md §4), and a
//! lookup tells a ready bucket from the same cache line it reads next anyway.
//!
//! A segment exists before any bucket count that covers it is published: the thread that
//! doubles the table from `size` buckets first makes sure that the segment of buckets
//! `size .. 2·size` exists ([`Directory::prepare_doubling`]), claiming its allocation so
//! that only one thread maps it, and only then publishes the new count. So the inserts
//! that start using the new buckets find their segment there, instead of each racing to
//! map a copy of it and all but one unmapping theirs: in one `strace` of 2 threads
//! growing a map to 2^22 keys, both mapped 5 of the 8 mapped segments; concurrent
//! `mmap`/`munmap` calls contend on the process's address-space lock, and in one of six
//! traced growths both threads slept on it inside an insert, for 5 and 9 ms.
//!
//! Next to its buckets, a segment holds one filter word per bucket (`filter.rs`): a
//! summary of the keys in the bucket's interval that lets a lookup of an absent key end
//! before it touches the sentinel.
//!
//! Lookups find a bucket through two small tables (`buckets`, `filters`) that hold each
//! published segment's sentinels and filter words offset back by the segment's first
//! bucket index, so that bucket `b` is entry `64 − lzcnt(b)` plus `b`: no segment
//! length, no subtraction, no branch for bucket 0 (about 13 instructions instead of 36 on
//! every lookup's critical path). The segment's publisher enters it right after its
//! publication CAS; until then a lookup goes through `segments` as before.
//!
//! Because 0 means uninitialised (the list's end is `END`, never null), a segment needs
//! no initialisation pass: it comes zeroed from the OS (a fresh anonymous mapping for the
//! large ones, whose pages the kernel supplies zeroed as they are first touched), so the
//! insert that doubles the table into a new 32 MiB segment no longer spends milliseconds
//! writing 2 million sentinels.

use std::alloc::{self, Layout};
use std::ptr;

use super::filter::AtomicFilter;
use super::node::{end, has_ready, so_bucket, untagged, Link, END, READY, SENT};
use crate::sync::{AtomicPtr, AtomicU64, Ordering};

/// Number of segments: enough for every bucket index below 2^63.
const SEGMENTS: usize = 64;

/// One bucket: its inline sentinel. All zero until the bucket is claimed.
pub(crate) type Bucket = Link;

/// The segment array. Dropping it frees the segments, not the entries.
pub(crate) struct Directory {
    segments: [AtomicPtr<Bucket>; SEGMENTS],
    /// The lookups' tables ([`Directory::slot`]): entry `i` is segment `i`'s sentinels
    /// (in `buckets`) and filter words (in `filters`), each offset back by the segment's
    /// first bucket index (wrapping), so that bucket `b` is entry `seg_of(b)` plus `b`:
    /// no subtraction, no segment length, no branch for bucket 0. Null until the segment
    /// is published; then written by the thread that published it, `filters` first,
    /// `buckets` last.
    /// (One entry more than `segments`, never used: `seg_of` of an index is at most 64
    /// to the compiler, at most 63 in fact; so indexing needs no bounds check.)
    ///
    /// `filters` entries are std atomics even under loom (like a link's `so`): each is
    /// published by the Release store of its `buckets` entry and synchronises nothing
    /// itself, so a lookup makes one loom-visible load of the tables, as it made one of
    /// `segments` (as loom atomics entered by every thread, the tables doubled or
    /// tripled some filter models' iterations).
    buckets: [AtomicPtr<Bucket>; SEGMENTS + 1],
    filters: [std::sync::atomic::AtomicPtr<AtomicFilter>; SEGMENTS + 1],
    /// Bit `i`: a thread claimed the allocation of segment `i` for a doubling
    /// ([`Directory::prepare_doubling`]).
    claimed: AtomicU64,
    /// Bit `i`: segment `i` was allocated asking for huge pages, so its layout is
    /// `segment_layout(_, true)` (see [`HUGE_PAGE`]). Set only while the directory is
    /// built, before it is shared.
    huge: u64,
}

/// Segment index and offset within the segment of bucket `b`.
///
/// Every lookup computes this on its critical path, right before its first cache miss.
/// Keep it this cheap: a variant with one more branch (laying each segment out in split
/// order) made `get` 30 % slower in the bustle read_heavy mix.
#[inline]
fn locate(b: usize) -> (usize, usize) {
    if b == 0 {
        (0, 0)
    } else {
        let seg = usize::BITS as usize - b.leading_zeros() as usize;
        (seg, b - (1 << (seg - 1)))
    }
}

/// The segment of bucket `b` (`locate(b).0`), without a branch: `leading_zeros` of 0 is
/// 64, so bucket 0 is in segment 0.
#[inline]
fn seg_of(b: usize) -> usize {
    usize::BITS as usize - b.leading_zeros() as usize
}

#[inline]
fn segment_len(seg: usize) -> usize {
    if seg == 0 {
        1
    } else {
        1 << (seg - 1)
    }
}

/// The bucket at offset `off` of segment `seg` (the inverse of [`locate`]).
#[cfg(test)]
fn bucket_at(seg: usize, off: usize) -> usize {
    segment_base(seg) + off
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
            buckets: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            filters: std::array::from_fn(|_| std::sync::atomic::AtomicPtr::new(ptr::null_mut())),
            claimed: AtomicU64::new(0),
            huge: 0,
        };
        // Bucket 0 is ready from the start, as the head of an empty list (its key is 0),
        // with a valid, empty filter.
        // Relaxed: the map is not shared yet; sharing it synchronises.
        dir.bucket(0)
            .next
            .store(end().map_addr(|a| a | READY), Ordering::Relaxed);
        dir.filter(0).store(super::filter::VALID, Ordering::Relaxed);
        dir
    }

    /// A directory whose first `n` buckets (a power of two) are ready: their sentinels
    /// are linked into an empty list in split order, so a map built with a capacity hint
    /// never initialises a bucket below `n` (nor sends a lookup to an ancestor).
    pub(crate) fn with_ready(n: usize) -> Directory {
        debug_assert!(n.is_power_of_two());
        let mut dir = Directory::new();
        let bits = n.trailing_zeros();
        if bits == 0 {
            return dir;
        }
        // Allocate the segments up front, the large ones on huge pages: the constructor
        // may take its time, which an insert that grows the table must not (see
        // `HUGE_PAGE`).
        for seg in 1..=locate(n - 1).0 {
            let base = new_segment(seg, segment_len(seg), true);
            // Relaxed: the directory is not shared yet; sharing it synchronises.
            dir.segments[seg].store(base, Ordering::Relaxed);
            dir.enter(seg, base);
            dir.huge |= 1 << seg;
        }
        // The split order of buckets 0..n: bucket b is at position `rev(b)`, its `bits`
        // low bits reversed, so its successor is `rev(rev(b) + 1)`. Filling the buckets
        // in index order writes the directory sequentially (in split order every write
        // was a cache and TLB miss).
        let rev = |x: usize| x.reverse_bits() >> (usize::BITS - bits);
        for b in 0..n {
            let pos = rev(b);
            let next = if pos + 1 == n {
                end()
            } else {
                let succ = dir.bucket(rev(pos + 1)) as *const Link as *mut Link;
                succ.map_addr(|a| a | SENT)
            };
            let bucket = dir.bucket(b);
            bucket.set_so(so_bucket(b));
            // Relaxed: the map is not shared yet; sharing it synchronises.
            bucket
                .next
                .store(next.map_addr(|a| a | READY), Ordering::Relaxed);
            dir.filter(b).store(super::filter::VALID, Ordering::Relaxed);
        }
        dir
    }

    /// A directory like [`Directory::with_ready`] whose list also holds `entries`, which
    /// must be unlinked entry links in ascending split order (rebuilding a map in place).
    pub(crate) fn with_entries(n: usize, entries: &[*mut Link]) -> Directory {
        let dir = Directory::with_ready(n);
        // Merge the entries into the chain of sentinels, both in split order.
        let mut prev = dir.head();
        for &entry in entries {
            // SAFETY: the caller hands over live, unlinked entries; nobody else sees them.
            let e = unsafe { &*entry };
            loop {
                // Relaxed: the directory is not shared yet.
                let next = prev.next.load(Ordering::Relaxed);
                let succ = untagged(next);
                // SAFETY: `succ` is one of our sentinels or an entry linked just before.
                if succ.is_null() || unsafe { (*succ).so() } > e.so() {
                    break;
                }
                // SAFETY: as above.
                prev = unsafe { &*succ };
            }
            // Relaxed: as above. The entry takes its predecessor's successor (without the
            // predecessor's `READY` bit, which only a sentinel has, and keeps).
            let after = prev.next.load(Ordering::Relaxed);
            e.next
                .store(after.map_addr(|a| a & !READY), Ordering::Relaxed);
            prev.next.store(
                entry.map_addr(|a| a | (after.addr() & READY)),
                Ordering::Relaxed,
            );
            // The entry's bit in its bucket's filter (rebuilt from the keys present): the
            // hash's low 63 bits are the split-order key's, reversed.
            let hash = e.so().reverse_bits();
            dir.filter((hash as usize) & (n - 1))
                .fetch_or(super::filter::mask(hash), Ordering::Relaxed);
            prev = e;
        }
        dir
    }

    /// The head of the list: bucket 0's sentinel, which sorts before everything.
    #[inline]
    pub(crate) fn head(&self) -> &Link {
        // Segment 0 exists from `new` on, so this never allocates.
        self.bucket(0)
    }

    /// Bucket `b`, allocating its segment if needed. The bucket may not be ready.
    ///
    /// A segment is published before any count that covers it ([`prepare_doubling`]),
    /// so only a caller whose count was read without the ordering that carries the
    /// segment (Relaxed) can find it missing: it then maps a copy, which loses the
    /// publication CAS in `alloc_segment` and is unmapped again.
    ///
    /// [`prepare_doubling`]: Directory::prepare_doubling
    #[inline]
    pub(crate) fn bucket(&self, b: usize) -> &Bucket {
        match self.slot(b) {
            // SAFETY: `slot`'s pointers are valid as long as the directory.
            Some((bucket, _)) => unsafe { &*bucket },
            None => self.slot_slow(b).0,
        }
    }

    /// The filter word of bucket `b`, allocating its segment if needed.
    #[inline]
    pub(crate) fn filter(&self, b: usize) -> &AtomicFilter {
        match self.slot(b) {
            // SAFETY: `slot`'s pointers are valid as long as the directory.
            Some((_, filter)) => unsafe { &*filter },
            None => self.slot_slow(b).1,
        }
    }

    /// The filter word of bucket `b`, if its segment exists (without allocating).
    #[inline]
    pub(crate) fn filter_if_any(&self, b: usize) -> Option<&AtomicFilter> {
        // SAFETY: `slot`'s pointers are valid as long as the directory.
        self.slot(b).map(|(_, filter)| unsafe { &*filter })
    }

    /// Bucket `b`'s sentinel and filter word, if its segment exists (without allocating):
    /// a lookup's one read of the directory's tables. Raw pointers, valid (and
    /// dereferenceable as shared references) as long as the directory: as references
    /// inside an `Option`, the compiler tested each for null again.
    #[inline]
    pub(crate) fn slot_if_any(&self, b: usize) -> Option<(*const Bucket, *const AtomicFilter)> {
        self.slot(b)
    }

    /// Bucket `b`'s sentinel and filter word (as [`slot_if_any`](Self::slot_if_any) gives
    /// them) through the lookup tables, or through the segment array if its segment is
    /// not entered in them yet: `None` exactly when the segment is not published. (A
    /// segment is entered by its publisher right after its CAS, and another thread may
    /// publish a count that covers it in between: a lookup that then took "not entered"
    /// for "not published" would skip bits that inserts set in its bucket's filter word,
    /// `merged_filter`.)
    ///
    /// Every lookup does this on its critical path: two loads from tables that stay in
    /// the L1 cache and two address computations (the segment length, its first index
    /// and the branch for bucket 0 that `locate` needs are folded into the tables).
    #[inline]
    fn slot(&self, b: usize) -> Option<(*const Bucket, *const AtomicFilter)> {
        let seg = seg_of(b);
        // Acquire: pairs with the Release store in `enter`, which follows the publishing
        // CAS in `alloc_segment` (or the directory's construction) on the thread that
        // made it: the sentinels' `so` written before publication are visible, and so is
        // the `filters` entry.
        let buckets = self.buckets[seg].load(Ordering::Acquire);
        if buckets.is_null() {
            return self.slot_published(b);
        }
        // Relaxed: written before the `buckets` entry loaded above (see there).
        let filters = self.filters[seg].load(std::sync::atomic::Ordering::Relaxed);
        debug_assert!(!filters.is_null());
        // The entries are segment `seg`'s base and filter words offset back by its first
        // bucket index (`enter`), and `seg_of(b) == seg`, so `b` minus that index is an
        // offset below the segment's length: both addresses are inside the published
        // segment, which lives as long as the directory. Wrapping arithmetic keeps the
        // allocation's provenance.
        Some((buckets.wrapping_add(b), filters.wrapping_add(b)))
    }

    /// [`slot`](Self::slot) through the segment array, without allocating.
    #[cold]
    #[inline(never)]
    fn slot_published(&self, b: usize) -> Option<(*const Bucket, *const AtomicFilter)> {
        let (seg, off) = locate(b);
        // Acquire: pairs with the AcqRel CAS that publishes the segment in `alloc_segment`,
        // so the sentinels' `so` written before publication are visible.
        let base = self.segments[seg].load(Ordering::Acquire);
        // SAFETY: `base` is a published segment (not null), and `off` is below its length
        // by `locate`.
        (!base.is_null()).then(|| unsafe { slot_at(base, seg, off) })
    }

    /// [`slot`](Self::slot) through the segment array, allocating the segment if needed
    /// (a published segment not entered in the lookup tables yet is entered by the thread
    /// that published it, right after).
    #[cold]
    #[inline(never)]
    fn slot_slow(&self, b: usize) -> (&Bucket, &AtomicFilter) {
        let (bucket, filter) = self.slot_published(b).unwrap_or_else(|| {
            let (seg, off) = locate(b);
            let base = self.alloc_segment(seg);
            // SAFETY: `alloc_segment` returns the published segment, and `off` is below
            // its length by `locate`.
            unsafe { slot_at(base, seg, off) }
        });
        // SAFETY: both point into a published segment, which lives as long as the
        // directory.
        unsafe { (&*bucket, &*filter) }
    }

    /// Enters segment `seg` at `base` in the lookup tables (see `buckets`): by the thread
    /// that published it (`alloc_segment`'s CAS winner), or while the directory is built.
    /// (Only one thread, so that a model checker sees one store per segment.)
    fn enter(&self, seg: usize, base: *mut Bucket) {
        let first = segment_base(seg);
        // SAFETY: `base` is segment `seg`'s allocation (caller); `filter_at` with offset
        // 0 only computes its filter words' address.
        let filters = unsafe { filter_at(base, segment_len(seg), 0) };
        // Relaxed: published by the Release store below.
        self.filters[seg].store(
            filters.wrapping_sub(first).cast_mut(),
            std::sync::atomic::Ordering::Relaxed,
        );
        // Release: pairs with the Acquire load in `slot`; see there.
        self.buckets[seg].store(base.wrapping_sub(first), Ordering::Release);
    }

    /// Asks the processor to fetch bucket `b`'s line (an eviction's sample probes many
    /// buckets at once); nothing if its segment does not exist.
    #[inline]
    pub(crate) fn prefetch_bucket(&self, b: usize) {
        if crate::sync::LOOM {
            return;
        }
        if let Some((bucket, _)) = self.slot(b) {
            crate::sync::prefetch(bucket);
        }
    }

    /// Asks the processor to fetch bucket `b`'s filter word (an insert writes it after
    /// its walk); nothing if its segment does not exist.
    #[inline]
    pub(crate) fn prefetch_filter(&self, b: usize) {
        if crate::sync::LOOM {
            return;
        }
        if let Some((_, filter)) = self.slot(b) {
            crate::sync::prefetch(filter);
        }
    }

    /// Bucket `b` if it is ready, without allocating.
    #[inline]
    pub(crate) fn ready_bucket(&self, b: usize) -> Option<&Link> {
        let (bucket, _) = self.slot(b)?;
        // SAFETY: `slot`'s pointers are valid as long as the directory.
        let bucket = unsafe { &*bucket };
        bucket.is_ready().then_some(bucket)
    }

    /// Every ready sentinel, in memory order: with exclusive access (`&mut`), exactly the
    /// sentinels linked into the list (a claimed sentinel is linked before it is made
    /// ready; one whose initialiser was cut short would not be ready, and is skipped).
    pub(crate) fn ready(&mut self) -> impl Iterator<Item = &Link> + '_ {
        self.segments.iter().enumerate().flat_map(|(seg, slot)| {
            // Relaxed: `&mut self`, no concurrent access.
            let base = slot.load(Ordering::Relaxed);
            let len = if base.is_null() { 0 } else { segment_len(seg) };
            (0..len)
                // SAFETY: `off < len`, inside a published segment that lives as long as
                // the directory.
                .map(move |off| unsafe { &*base.add(off) })
                // Relaxed: as above.
                .filter(|link| has_ready(link.next.load(Ordering::Relaxed)))
        })
    }

    /// Bytes of the segments allocated so far (for `Stats::heap_bytes`).
    pub(crate) fn bytes(&self) -> usize {
        self.segments
            .iter()
            .enumerate()
            // Relaxed: a statistic.
            .filter(|(_, s)| !s.load(Ordering::Relaxed).is_null())
            .map(|(seg, _)| segment_parts(segment_len(seg)).0.size())
            .sum()
    }

    /// Whether a doubling from `size` buckets may be published: `true` once the segment
    /// of the new buckets `size .. 2·size` exists, which the first caller for this
    /// doubling allocates (claiming it first, so that no other thread maps a copy);
    /// `false` while another thread that claimed it is still allocating it. That thread
    /// publishes the doubling itself right after, so the caller just goes on with the
    /// current count: nobody waits for the allocation (growth lags by one system call).
    pub(crate) fn prepare_doubling(&self, size: usize) -> bool {
        debug_assert!(size.is_power_of_two());
        let seg = locate(size).0;
        // Acquire: pairs with the AcqRel CAS that publishes the segment in
        // `alloc_segment`, so that the doubling we publish next (its count a Release CAS)
        // carries the segment to every thread that uses the new count.
        if !self.segments[seg].load(Ordering::Acquire).is_null() {
            return true;
        }
        self.claim_and_alloc(seg)
    }

    #[cold]
    #[inline(never)]
    fn claim_and_alloc(&self, seg: usize) -> bool {
        let bit = 1u64 << seg;
        // Relaxed: the claim only keeps a second thread from mapping the segment too; the
        // segment itself is published by the CAS in `alloc_segment`, which orders.
        if self.claimed.fetch_or(bit, Ordering::Relaxed) & bit != 0 {
            // Someone else claimed it: published already (it is still there to use), or
            // being allocated (the claimant publishes the doubling).
            // Acquire: as in `prepare_doubling`.
            return !self.segments[seg].load(Ordering::Acquire).is_null();
        }
        self.alloc_segment(seg);
        true
    }

    #[cold]
    #[inline(never)]
    fn alloc_segment(&self, seg: usize) -> *mut Bucket {
        let len = segment_len(seg);
        let fresh = new_segment(seg, len, false);
        // AcqRel: Release publishes the initialised sentinels; Acquire on failure pairs
        // with the winner's Release so that we can use its segment.
        match self.segments[seg].compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                self.enter(seg, fresh);
                fresh
            }
            Err(winner) => {
                // SAFETY: `fresh` was never published; we still own it.
                unsafe { free_segment(fresh, len, false) };
                // The winner enters its segment in the lookup tables.
                winner
            }
        }
    }
}

impl Link {
    /// Whether this sentinel is linked and published.
    #[inline]
    pub(crate) fn is_ready(&self) -> bool {
        // Acquire: pairs with the Release CAS in `publish` (after the linking CAS).
        has_ready(self.next.load(Ordering::Acquire))
    }

    /// Tries to become the bucket's initialiser. `true` means the caller must set the
    /// sentinel's key, link it (its `next` never 0 again, never `READY` yet) and then
    /// call [`Link::publish`].
    pub(crate) fn claim(&self) -> bool {
        // Relaxed: the loser only learns that someone else is on it and falls back to an
        // ancestor; the winner publishes nothing through this CAS.
        self.next
            .compare_exchange(
                ptr::null_mut(),
                ptr::without_provenance_mut(END),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Sets `READY` once the sentinel is linked: the bucket is ready.
    pub(crate) fn publish(&self) {
        // Relaxed: only a value to CAS against; the CAS below orders.
        let mut cur = self.next.load(Ordering::Relaxed);
        loop {
            debug_assert!(!has_ready(cur) && !cur.is_null());
            let ready = cur.map_addr(|a| a | READY);
            // Release: pairs with the Acquire in `is_ready`, so a thread that starts from
            // this sentinel sees it linked. Other writers may change the successor
            // meanwhile (keeping the bit clear), so retry until we set it.
            match self
                .next
                .compare_exchange_weak(cur, ready, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// On Linux, segments allocated when the map is built (its capacity hint) that are at
/// least this many bytes are mapped aligned to it and advised onto transparent huge pages
/// (`MADV_HUGEPAGE`, which takes effect where THP is `madvise` or `always`; see
/// [`map_huge`]). Every lookup starts with a random read of the directory; with 4 KiB
/// pages a directory of millions of buckets misses the TLB on nearly every one of them
/// (the figures are at [`map_huge`]; the 3–7 % once measured here for `probe ops` came
/// from a version that, it turned out, got no huge pages).
///
/// Segments allocated later, by an insert that grows the table, stay on small pages: a
/// huge-page fault may compact memory synchronously, and advising them too raised the
/// slowest insert while 2 threads grow a map to 2^22 keys from ~15 ms to ~42 ms (two
/// runs out of three; latency section of the comparison binary).
const HUGE_PAGE: usize = 2 << 20;

/// The layout of a segment of `len` buckets followed by their `len` filter words, and the
/// offset of the filter words.
fn segment_parts(len: usize) -> (Layout, usize) {
    let buckets = Layout::array::<Bucket>(len).expect("segment size overflow");
    let filters = Layout::array::<AtomicFilter>(len).expect("segment size overflow");
    let (layout, offset) = buckets.extend(filters).expect("segment size overflow");
    (layout.pad_to_align(), offset)
}

// `filter_at` puts the filter words right after the buckets: their alignment must divide
// a bucket's size (it does under loom too, whose atomics are larger).
const _: () = assert!(std::mem::size_of::<Bucket>() % std::mem::align_of::<AtomicFilter>() == 0);

/// The filter word at offset `off` of the segment at `base` of `len` buckets.
///
/// # Safety
/// - `base` is a segment of `len` buckets (`new_segment`), `off < len`.
#[inline]
unsafe fn filter_at(base: *mut Bucket, len: usize, off: usize) -> *const AtomicFilter {
    // The filter words (alignment 2, which a bucket's 16 bytes keep) follow the buckets
    // without padding: the offset that `segment_parts` computes, without its overflow
    // checks (a lookup computes this on its critical path; `segment_parts` was an
    // out-of-line call there). Test: `filter_words_follow_the_buckets`.
    // SAFETY: caller; the filter words start `len` buckets into the segment.
    unsafe { base.add(len).cast::<AtomicFilter>().add(off) }
}

/// The sentinel and filter word at offset `off` of segment `seg` at `base`.
///
/// # Safety
/// - `base` is segment `seg`'s allocation (`new_segment`), `off < segment_len(seg)`.
#[inline]
unsafe fn slot_at(
    base: *mut Bucket,
    seg: usize,
    off: usize,
) -> (*const Bucket, *const AtomicFilter) {
    // SAFETY: caller; the filter words follow the buckets (`segment_layout`).
    unsafe {
        (
            base.add(off).cast_const(),
            filter_at(base, segment_len(seg), off),
        )
    }
}

/// The layout of a segment of `len` buckets (and their filter words): huge-page aligned
/// from `HUGE_PAGE` bytes on if `huge` is asked for (Linux only; smaller segments keep
/// their plain layout).
fn segment_layout(len: usize, huge: bool) -> Layout {
    let (layout, _) = segment_parts(len);
    if huge && cfg!(target_os = "linux") && layout.size() >= HUGE_PAGE && !crate::sync::LOOM {
        layout.align_to(HUGE_PAGE).expect("segment size overflow")
    } else {
        layout
    }
}

/// Segments of this many bytes or more that an insert allocates (not a capacity hint)
/// are fresh anonymous mappings: zero pages the kernel supplies as they are first
/// touched, so the allocation costs a system call, not a pass over the memory.
#[cfg(target_os = "linux")]
const MAPPED: usize = 256 << 10;

/// Bytes of directory segments mapped directly with `mmap` (see [`MAPPED`] and
/// [`map_huge`]) by every map of the process: the global allocator never sees them, so a
/// heap count through it (the benchmarks' counting allocator) adds these
/// (`ttlmap::mapped_bytes` under the `bench-internals` feature).
static MAPPED_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The current value of [`MAPPED_BYTES`].
#[cfg_attr(not(feature = "bench-internals"), allow(dead_code))]
pub(crate) fn mapped_bytes() -> usize {
    // Relaxed: a statistic; read by the thread that built and dropped the maps it counts.
    MAPPED_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether segment `len`/`huge` is (to be) a fresh mapping (see [`MAPPED`]).
fn mapped(layout: Layout, huge: bool) -> bool {
    #[cfg(target_os = "linux")]
    return !huge && !crate::sync::LOOM && layout.size() >= MAPPED;
    #[cfg(not(target_os = "linux"))]
    return {
        let _ = (layout, huge);
        false
    };
}

/// A segment of `len` uninitialised (all-zero) buckets.
fn new_segment(_seg: usize, len: usize, huge: bool) -> *mut Bucket {
    let layout = segment_layout(len, huge);
    if crate::sync::LOOM {
        // Loom's atomics must be created by loom: write each (uninitialised) bucket.
        // SAFETY: non-zero size (len ≥ 1); every element is written below.
        let base = unsafe { alloc::alloc(layout) as *mut Bucket };
        if base.is_null() {
            alloc::handle_alloc_error(layout);
        }
        for i in 0..len {
            let sentinel = Link::new(0);
            sentinel.next.store(ptr::null_mut(), Ordering::Relaxed);
            // SAFETY: `i < len`, inside the fresh allocation; nobody else can see it yet.
            unsafe { base.add(i).write(sentinel) };
            // SAFETY: as above, in the filter words.
            unsafe {
                filter_at(base, len, i)
                    .cast_mut()
                    .write(AtomicFilter::new(0))
            };
        }
        return base;
    }
    #[cfg(target_os = "linux")]
    if layout.align() == HUGE_PAGE {
        return map_huge(layout);
    }
    #[cfg(target_os = "linux")]
    if mapped(layout, huge) {
        // SAFETY: a new private anonymous mapping (no address hint, no file); the kernel
        // zero-fills it, and all-zero bytes are valid uninitialised buckets (std atomics).
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            alloc::handle_alloc_error(layout);
        }
        // Relaxed: a statistic, see `MAPPED_BYTES`.
        MAPPED_BYTES.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        return base.cast();
    }
    // SAFETY: non-zero size (len ≥ 1). Zeroed memory is a segment of uninitialised
    // buckets: std's atomics and integers are valid at all-zero.
    let base = unsafe { alloc::alloc_zeroed(layout) as *mut Bucket };
    if base.is_null() {
        alloc::handle_alloc_error(layout);
    }
    base
}

/// A fresh anonymous mapping of `layout` (huge-page aligned), advised onto transparent
/// huge pages before anything touches it.
///
/// The advice has to come first. These segments used to come from `alloc_zeroed`, then
/// advised: but for an alignment above the allocator's minimum, std's `System` zeroes
/// with `write_bytes`, which faulted every page in at 4 KiB before the advice, and
/// `/proc/self/smaps_rollup` showed 0 to 2 MiB of `AnonHugePages` for a map hinted for
/// 2^21 (36 MiB of segments). Mapped and advised first: 32 MiB. Random gets of 1.5M
/// present keys with one handle held, 6 alternating runs (`/tmp/abheld.sh`): median
/// time ×0.82 on hits, ×0.96 on misses.
#[cfg(target_os = "linux")]
fn map_huge(layout: Layout) -> *mut Bucket {
    // The kernel aligns a mapping to a page, not to a huge page: map one huge page more
    // and give back the ends.
    let over = layout.size() + HUGE_PAGE;
    // SAFETY: a new private anonymous mapping (no address hint, no file).
    let raw = unsafe {
        libc::mmap(
            ptr::null_mut(),
            over,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        alloc::handle_alloc_error(layout);
    }
    // SAFETY: no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let start = raw.addr();
    let base = start.next_multiple_of(HUGE_PAGE);
    // What `free_segment`'s `munmap(base, layout.size())` unmaps: whole pages.
    let end = (base + layout.size()).next_multiple_of(page);
    // SAFETY: both ranges lie inside the mapping just made (`over` covers `base - start <
    // HUGE_PAGE` plus `end - base`, a page-rounded `layout.size()`: segments this large
    // are multiples of 4 KiB already), outside `base..end`, and start page-aligned
    // (`start` is, and so are `HUGE_PAGE` and `end`); nothing refers to them. The advice
    // changes no contents (the pages are not touched yet); a refusal (a kernel without
    // THP) only costs it.
    unsafe {
        if base > start {
            libc::munmap(raw, base - start);
        }
        if start + over > end {
            libc::munmap(raw.with_addr(end), start + over - end);
        }
        libc::madvise(raw.with_addr(base), layout.size(), libc::MADV_HUGEPAGE);
    }
    // Relaxed: a statistic, see `MAPPED_BYTES`.
    MAPPED_BYTES.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
    raw.with_addr(base).cast()
}

/// # Safety
/// - `base` came from `new_segment(_, len, huge)` and nobody can reach it any more.
unsafe fn free_segment(base: *mut Bucket, len: usize, huge: bool) {
    let layout = segment_layout(len, huge);
    if crate::sync::LOOM {
        for i in 0..len {
            // SAFETY: every element was initialised in `new_segment` (caller: same len);
            // loom's atomics track state that must be released.
            unsafe {
                ptr::drop_in_place(base.add(i));
                ptr::drop_in_place(filter_at(base, len, i).cast_mut());
            }
        }
    }
    #[cfg(target_os = "linux")]
    if layout.align() == HUGE_PAGE || mapped(layout, huge) {
        // SAFETY: our own mapping of exactly this size (caller; `map_huge` gave back the
        // rest), no longer reachable.
        unsafe { libc::munmap(base.cast(), layout.size()) };
        // Relaxed: a statistic, see `MAPPED_BYTES`.
        MAPPED_BYTES.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        return;
    }
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
                unsafe { free_segment(base, segment_len(seg), (self.huge >> seg) & 1 == 1) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mapping (start, end) of `/proc/self/maps` that contains `addr`.
    #[cfg(target_os = "linux")]
    fn mapping_of(addr: usize) -> Option<(usize, usize)> {
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        maps.lines().find_map(|line| {
            let (range, _) = line.split_once(' ')?;
            let (a, b) = range.split_once('-')?;
            let (a, b) = (
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            );
            (a..b).contains(&addr).then_some((a, b))
        })
    }

    /// The `VmFlags` of the mapping of `/proc/self/smaps` that starts at `addr`.
    #[cfg(target_os = "linux")]
    fn vm_flags_of(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let header = format!("{addr:x}-");
        // A mapping's entry ends with its `VmFlags` line: the first after its header.
        smaps
            .lines()
            .skip_while(|l| !l.starts_with(&header))
            .find_map(|l| l.strip_prefix("VmFlags:").map(|f| f.trim().to_string()))
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_capacity_segment_is_mapped_alone_and_huge_page_aligned() {
        // Segments 18 (2^17 buckets: 2.25 MiB, not a multiple of a huge page) and 21 (18
        // MiB). Each must be a mapping of its own, starting at its (aligned) base and
        // ending at its end rounded to a page, advised, with the over-mapped tail given
        // back. (No other test of this binary maps a hinted segment this large, which
        // the kernel could merge with ours.)
        // SAFETY: no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap();
        for seg in [18, 21] {
            let len = segment_len(seg);
            let layout = segment_layout(len, true);
            assert_eq!(layout.align(), HUGE_PAGE);
            let base = new_segment(seg, len, true);
            assert_eq!(base.addr() % HUGE_PAGE, 0);
            // The last filter word is writable (and the first bucket, zeroed, reads as
            // uninitialised).
            // SAFETY: inside the fresh segment; nobody else sees it.
            unsafe { filter_at(base, len, len - 1).as_ref() }
                .unwrap()
                .store(1, Ordering::Relaxed);
            // SAFETY: as above.
            assert!(unsafe { &*base }.next.load(Ordering::Relaxed).is_null());
            let end = (base.addr() + layout.size()).next_multiple_of(page);
            // The advice gives the segment's range a flag of its own (`VM_HUGEPAGE`), so
            // it is a mapping of its own whatever happened to the ends.
            assert_eq!(mapping_of(base.addr()), Some((base.addr(), end)));
            // The tail was given back: no mapping starts at the segment's end (the
            // over-mapped tail is at least a page, and a later mapping is placed at the
            // top of a free gap, so it starts there only if it fills the gap exactly).
            // (The head is not checked: a concurrent test's mapping of a size between
            // the tail's and the head's goes into the head's gap, right below the base.)
            assert!(
                mapping_of(end).is_none_or(|(a, _)| a != end),
                "segment {seg}: the tail past {end:#x} is still mapped"
            );
            // Advised: the kernel shows the flag (`hg`) where it has THP at all.
            if std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
                assert!(
                    vm_flags_of(base.addr()).is_some_and(|f| f.split(' ').any(|f| f == "hg")),
                    "segment {seg}: not advised onto huge pages ({:?})",
                    vm_flags_of(base.addr())
                );
            }
            // SAFETY: from `new_segment` with the same arguments; unreachable now.
            unsafe { free_segment(base, len, true) };
        }
    }

    #[test]
    fn filter_words_follow_the_buckets() {
        // `filter_at`'s offset against the one the segment's layout gives, for every
        // segment of a directory of 2^12 buckets.
        let dir = Directory::with_ready(1 << 12);
        for b in 0..1 << 12 {
            let (seg, off) = locate(b);
            let base = dir.segments[seg].load(Ordering::Relaxed);
            let (_, offset) = segment_parts(segment_len(seg));
            let expected = base
                .cast::<u8>()
                .wrapping_add(offset + off * std::mem::size_of::<AtomicFilter>());
            assert_eq!(
                ptr::from_ref(dir.filter(b)).cast::<u8>(),
                expected,
                "bucket {b}"
            );
            let (bucket, filter) = dir.slot_if_any(b).expect("a ready segment");
            assert!(ptr::eq(bucket, dir.bucket(b)) && ptr::eq(filter, dir.filter(b)));
            let (seg_base, off) = (dir.segments[seg].load(Ordering::Relaxed), off);
            assert!(ptr::eq(bucket, seg_base.wrapping_add(off)), "bucket {b}");
        }
    }

    #[test]
    fn locate_covers_every_index_once() {
        let mut expect = 0usize;
        for seg in 0..12 {
            for off in 0..segment_len(seg) {
                assert_eq!(locate(expect), (seg, off));
                assert_eq!(bucket_at(seg, off), expect);
                expect += 1;
            }
        }
        assert_eq!(locate(usize::MAX >> 1).0, 63);
    }
}
