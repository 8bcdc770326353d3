//! The bucket filter: one 16-bit word per bucket that answers most lookups of absent keys
//! without touching the bucket's sentinel (nor pinning).
//!
//! A bucket's word has fifteen key bits and a [`VALID`] bit. A key's bits are two of the
//! fifteen, chosen by hash bits that no realistic bucket index uses ([`mask`]). An insert
//! of a new key sets its bits in its bucket's word before it links its node; nothing ever
//! clears a bit while threads use the map (a removed key's bits stay: a false positive,
//! never a false negative), and `shrink_to_fit` (exclusive) rebuilds every word from the
//! keys present. A lookup one of whose bits is clear in the words that cover its bucket
//! (its own, merged with those above it up to a valid one, see below) ends there. (The
//! words were bytes with one key bit of seven until a lookup of an absent key was shown to
//! walk its bucket one time in ten at 0.7 keys per bucket.)
//!
//! The difficulty is growth. When the bucket count doubles, a new bucket's word starts
//! as a copy of its parent's (the keys of the child's interval were all in the parent's),
//! and becomes [`VALID`]; until then a lookup merges the words from the bucket up to its
//! nearest valid ancestor (an insert that found its bucket claimed by another thread's
//! initialisation set its bit in the bucket's word, not valid yet, and linked from an
//! ancestor; an initialiser merges the same way from the parent). But
//! an insert that read the old bucket count sets its bit in the *parent's* word, possibly
//! after the child copied it. So an insert, after setting its bit, issues a SeqCst fence
//! and reads the bucket count again, and if it grew, sets its bit in the buckets of every
//! count in between (then checks again). A bucket's initialiser issues a SeqCst fence
//! between reading the bucket count (which made it initialise the bucket) and copying the
//! parent's word. Either the insert's re-read sees the new count (and it sets the child's
//! bit itself), or the copy sees the insert's bit: the store-buffering pattern of the two
//! (bit, then count; count, then bit) with a SeqCst fence in each (growth CASes the
//! count SeqCst; the initialiser reads it with Acquire). And a lookup reads the count,
//! the word, and the count again: if the count changed, an insert under the new count
//! may have set its bit only in a child's word, so it does not trust the word. (A lookup
//! ordered after such an insert reads the new count already at its first read; the
//! second covers a lookup whose first read is older than a segment pointer it then loads
//! with Acquire from a thread that came after the insert, a chain too long for a small
//! loom model.) Loom models: `loom-tests/tests/filter.rs`, with a broken variant
//! (`--cfg ttlmap_broken_filter`: no fence and no re-read in `mark_filter`) that the
//! stale-size model catches.

use super::node::Link;
use super::{parent, RawMap};
use crate::sync::{fence, Ordering};

/// What [`RawMap::probe`] found.
pub(crate) enum Probe<'a> {
    /// No key with the hash was in the map at some moment during the call.
    Absent,
    /// The bucket's filter lets the hash through; the bucket is ready at bucket count
    /// `size`.
    Ready { bucket: &'a Link, size: usize },
    /// Take the general path.
    Slow,
}

/// A bucket's filter word: [`VALID`] and fifteen key bits.
pub(crate) type FilterWord = u16;
/// The atomic a bucket's filter word lives in.
pub(crate) type AtomicFilter = crate::sync::AtomicU16;

/// Whether the filter word `word` has both bits of `hash` ([`mask`]).
#[inline]
fn covers(word: FilterWord, hash: u64) -> bool {
    let m = mask(hash);
    word & m == m
}

/// Set in a bucket's filter word once it covers every key of the bucket's interval.
pub(crate) const VALID: FilterWord = 1 << 15;

/// The bits of a key with hash `hash` in a filter word, with [`VALID`]: two of fifteen
/// (one if they coincide, for one key in fifteen). Hash bits 32 to 62 (bucket indices use
/// the low bits; bit 63 is not kept by the split-order key, from which `shrink_to_fit`
/// recomputes the bits) are multiplied by an odd constant, so that every one of them
/// reaches the pick (a hasher whose entropy above bit 31 sits in a few low bits, like an
/// identity hash of small pairs, still spreads its keys), and the product's top byte
/// picks one of the 225 ordered pairs of bits from a table ([`MASKS`]). A lookup of an
/// absent key passes only if both of its bits are set: at 0.72 keys per bucket, 1.8 % of
/// such lookups walk their bucket, against 9.7 % with one bit of seven in a byte
/// (simulated; each such walk is a pin and two or three cache misses).
///
/// The table makes it 4 instructions where computing the two picks took 15 (two
/// multiply-and-shift scalings of 16-bit fields), on the path of every lookup and
/// insert; [`VALID`] comes with it, so a lookup tests validity and both bits at once.
#[inline(always)]
fn needs(hash: u64) -> FilterWord {
    let x = ((hash >> 32) & 0x7fff_ffff).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    MASKS[(x >> 56) as usize]
}

/// The bits of a key with hash `hash` in a filter word ([`needs`] without [`VALID`]).
#[inline]
pub(crate) fn mask(hash: u64) -> FilterWord {
    needs(hash) & !VALID
}

/// [`needs`]' table: byte `v` picks ordered pair `p = v · 225 / 256` (each pair is picked
/// by one or two of the 256 bytes), bits `p / 15` and `p % 15`, plus [`VALID`].
static MASKS: [FilterWord; 256] = {
    let mut table = [0; 256];
    let mut v = 0;
    while v < 256 {
        let p = v * 225 / 256;
        table[v] = (1 << (p / 15)) | (1 << (p % 15)) | VALID;
        v += 1;
    }
    table
};

impl<K, V> RawMap<K, V> {
    /// Whether the map may hold a key with hash `hash`: `false` means that at some moment
    /// during the call no such key was in it. Never writes, never allocates, needs no
    /// guard (filter words live in directory segments, freed only under `&mut`).
    #[inline]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        // Acquire: a size read alike by everyone (growth is a SeqCst CAS); see the module
        // docs for why the second read below is what makes a clear bit trustworthy.
        let size = self.size.load(Ordering::Acquire);
        let word = self.merged_filter((hash as usize) & (size - 1));
        // Relaxed: coherence orders it after the first read.
        covers(word, hash) || self.size.load(Ordering::Relaxed) != size
    }

    /// A lookup's fast path: one read of the directory's segment table for both the
    /// filter word and the sentinel of `hash`'s bucket. [`Probe::Absent`] means what a
    /// `false` from [`may_contain`](Self::may_contain) means; [`Probe::Ready`] gives the
    /// bucket, ready, at the bucket count read first. Never loads an element: it runs
    /// before the lookup pins. Anything
    /// else (a word not valid yet, a bucket not ready, a missing segment) is
    /// [`Probe::Slow`]: the caller takes `may_contain` and the general walk.
    #[inline(always)]
    pub(crate) fn probe(&self, hash: u64) -> Probe<'_> {
        // Acquire: as in `may_contain`.
        let size = self.size.load(Ordering::Acquire);
        let Some((bucket, filter)) = self.dir.slot_if_any((hash as usize) & (size - 1)) else {
            return Probe::Slow;
        };
        // SAFETY: `slot_if_any`'s pointers are valid as long as the directory, which lives
        // as long as `self` (segments are freed only under `&mut`).
        let (bucket, filter) = unsafe { (&*bucket, &*filter) };
        // Relaxed: as in `merged_filter` (a valid word covers the whole bucket).
        let word = filter.load(Ordering::Relaxed);
        // One test for both: the word is valid and has both bits.
        if !word & needs(hash) != 0 {
            if word & VALID == 0 {
                return Probe::Slow;
            }
            // Relaxed: as in `may_contain`, whose two reads of the count these are.
            return if self.size.load(Ordering::Relaxed) == size {
                Probe::Absent
            } else {
                Probe::Slow
            };
        }
        // The sentinel's successor is not kept: the caller has not pinned yet, and an
        // element loaded before the pin may be freed before it (the walk loads it again,
        // pinned).
        if bucket.is_ready() {
            Probe::Ready { bucket, size }
        } else {
            Probe::Slow
        }
    }

    /// The bits that cover bucket `b`: the union of the words of `b` and its ancestors up
    /// to and including the nearest valid one (`b` itself if valid). A word that is not
    /// valid yet still holds the bits that inserts set in it meanwhile: an insert that
    /// found its bucket claimed by another thread's initialisation sets its bit there and
    /// links its node from an ancestor, and neither a lookup nor a child's initialiser
    /// may skip that bit (loom model `insert_into_claimed_bucket_vs_lookup`).
    #[inline]
    fn merged_filter(&self, mut b: usize) -> FilterWord {
        let mut bits = 0;
        loop {
            if let Some(f) = self.dir.filter_if_any(b) {
                // Relaxed: a bit was set before its node was linked; a lookup that must
                // see the node is ordered after that link, hence after the bit (an
                // initialiser is ordered by its fence, see `inherit_filter`).
                let v = f.load(Ordering::Relaxed);
                bits |= v;
                if v & VALID != 0 {
                    return bits;
                }
            }
            // Bucket 0's word is valid from the start (and after `shrink_to_fit`, whose
            // rebuilt directory marks every bucket below its count valid), so this ends.
            b = parent(b);
        }
    }

    /// Asks the processor to fetch the filter word of `hash`'s bucket: an insert calls it
    /// before its walk, so that the miss of [`mark_filter`](Self::mark_filter), after the
    /// walk, overlaps the walk's (it was a quarter of an insert's stalls in the exchange
    /// mix, `perf annotate`).
    #[inline]
    pub(crate) fn prefetch_filter(&self, hash: u64) {
        // Relaxed: only an address for a hint.
        let size = self.size.load(Ordering::Relaxed);
        self.dir.prefetch_filter((hash as usize) & (size - 1));
    }

    /// Sets the bit of `hash` in its bucket's filter word at the bucket count `size` and
    /// at every count up to the current one, before an insert links a node with that hash.
    pub(crate) fn mark_filter(&self, hash: u64, mut size: usize) {
        let bit = mask(hash);
        self.set_filter_bit(hash, size, bit);
        // DELIBERATELY BROKEN (loom demo, `--cfg ttlmap_broken_filter` only): no fence and
        // no re-read of the bucket count, so a child bucket that copied the parent's word
        // before our bit was set never gets it.
        #[cfg(ttlmap_broken_filter)]
        return;
        #[allow(unreachable_code)]
        loop {
            // SeqCst: the store-buffering fence of the module docs (pairs with the one in
            // `inherit_filter`).
            fence(Ordering::SeqCst);
            // Relaxed: ordered by the fence.
            let now = self.size.load(Ordering::Relaxed);
            if now == size {
                return;
            }
            while size < now {
                size *= 2;
                self.set_filter_bit(hash, size, bit);
            }
        }
    }

    fn set_filter_bit(&self, hash: u64, size: usize, bit: FilterWord) {
        let f = self.dir.filter((hash as usize) & (size - 1));
        // Relaxed: see `mark_filter` (the fence orders it); the load spares a write to a
        // line others read when the bits are set already.
        if f.load(Ordering::Relaxed) & bit != bit {
            f.fetch_or(bit, Ordering::Relaxed);
        }
    }

    /// Makes bucket `b`'s filter word valid, holding the bits that cover its parent
    /// ([`merged_filter`](Self::merged_filter): the parent may be claimed by another
    /// initialiser and not valid yet), plus any an insert set in `b` already. Called by
    /// the bucket's initialiser, before the bucket is published.
    pub(crate) fn inherit_filter(&self, b: usize) {
        // SeqCst: pairs with the fence in `mark_filter`; after our read of the bucket
        // count that made us initialise `b`.
        fence(Ordering::SeqCst);
        // Ordered by the fence. An insert whose fence precedes ours in the SC order (so
        // that its last re-read saw a count no larger than the one that made us
        // initialise `b`; otherwise it marked `b` itself) set its bit in a bucket of some
        // count below ours, an ancestor of `b`:
        // either between `b` and its nearest valid ancestor (merged here) or above it,
        // in which case that ancestor's own initialiser came after the insert's fence
        // for the same reason and merged the bit (induction up to bucket 0).
        let inherited = self.merged_filter(parent(b));
        debug_assert!(inherited & VALID != 0, "the merge ends at a valid word");
        // Relaxed: the bucket's publication (a Release CAS) publishes it to the lookups
        // that use the bucket; lookups that use the word before then see it or an older
        // value (not valid: they merge it with the words above, up to a valid one).
        self.dir.filter(b).fetch_or(inherited, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_has_one_or_two_of_fifteen_bits_and_never_valid() {
        let mut seen = [0u32; 16];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut single = 0;
        for _ in 0..150_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = mask(x);
            assert!(matches!(m.count_ones(), 1 | 2), "{m:#x}");
            assert_eq!(m & VALID, 0);
            single += u32::from(m.count_ones() == 1);
            for (i, n) in seen.iter_mut().enumerate() {
                *n += u32::from(m & (1 << i) != 0);
            }
        }
        // Each of the fifteen is one of two picks of one in fifteen: 20,000 of 150,000
        // (less a fifteenth of the coinciding pairs' second pick), within 5 %.
        for (i, &n) in seen[..15].iter().enumerate() {
            assert!((18_500..=20_500).contains(&n), "bit {i}: {n} of 150,000");
        }
        // Coinciding picks: one key in fifteen (10,000), within 10 %.
        assert!(
            (9_000..=11_000).contains(&single),
            "{single} single-bit keys"
        );
        // No hash bit above 31 picks bit 0 twice; each one alone moves the mask away.
        assert_eq!(mask(0), 1);
        for b in 32..63 {
            assert_ne!(mask(1 << b) & !1, 0, "hash bit {b}");
        }
        // Bit 63 (not kept by the split-order key) changes nothing.
        assert_eq!(mask(x | 1 << 63), mask(x & !(1 << 63)));
        assert!(covers(mask(x) | VALID, x) && !covers(VALID, x));
    }
}
