//! A count-min sketch of 4-bit counters with periodic halving: the frequency history that
//! TinyLFU admission compares (Einziger, Friedman & Manes, "TinyLFU: A Highly Efficient
//! Cache Admission Policy", ACM ToS 2017, §3; the layout follows Caffeine's
//! `FrequencySketch`).
//!
//! # Layout
//! The table holds `capacity.next_power_of_two()` words of sixteen 4-bit counters (at
//! least one 64-byte block of 8 words): 8 bytes of sketch per entry of capacity. A hash
//! picks one block, so that an increment touches one cache line, and four counters in
//! it, one in each of four word pairs; its estimate is the smallest of the four. A
//! counter saturates at 15. [`FrequencySketch::halve`] halves every counter, so that
//! old popularity fades (the policy calls it every `Config::reset_per_entry` × capacity
//! recorded events).
//!
//! # Concurrency: lossy on purpose
//! Counters are updated with one relaxed compare-exchange per word and no retry: two
//! racing increments of counters in the same word may lose one, and an increment racing
//! a halving may undo that word's halving or be lost in it. A sketch is an estimate
//! already (collisions only ever add), and a lost or doubled event shifts one estimate
//! by one; no memory is published through a counter, so every access is `Relaxed`.
//! The words are never torn: each is one atomic.

use crate::sync::{AtomicU64, Ordering};

/// Every nibble's low bit.
const ONE_MASK: u64 = 0x1111_1111_1111_1111;
/// Every nibble but its high bit: `(w >> 1) & RESET_MASK` halves each counter.
const RESET_MASK: u64 = 0x7777_7777_7777_7777;

/// One hash's 8 words, on one cache line (a `Box<[AtomicU64]>` is only 8-aligned: 7 of
/// 8 blocks then straddled two lines).
#[repr(align(64))]
struct Block([AtomicU64; 8]);

/// A frequency estimator for 64-bit hashes; see the module docs.
pub struct FrequencySketch {
    table: Box<[Block]>,
    /// Number of 8-word blocks, minus one (the count is a power of two).
    block_mask: usize,
}

impl std::fmt::Debug for FrequencySketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrequencySketch")
            .field("words", &(self.table.len() * 8))
            .finish_non_exhaustive()
    }
}

/// `hash` remixed (see `counters`).
#[inline]
fn mix(hash: u64) -> u64 {
    let h = (hash ^ (hash >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

/// The block of a remixed hash `h`: from its high half.
#[inline]
fn block_of(h: u64, block_mask: usize) -> usize {
    (h >> 32) as usize & block_mask
}

/// The block of `hash`'s counters, and their four (word in the block, shift) pairs.
#[inline]
fn counters(hash: u64, block_mask: usize) -> (usize, [(usize, u32); 4]) {
    // The map's hash (foldhash) is good, but the block and the counters must not use
    // the same bits as the map's buckets or each other: remix, then take the block
    // from the high half and the counters from the low half.
    let h = mix(hash);
    let c = h as u32;
    let mut out = [(0, 0); 4];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = counter(c, i);
    }
    (block_of(h, block_mask), out)
}

/// Counter `i` (of four) of the mixed hash's low half `c`: its word in the block (one of
/// the two words `2i`, `2i + 1`) and its shift in that word.
#[inline(always)]
fn counter(c: u32, i: usize) -> (usize, u32) {
    let b = c >> (i * 8);
    let nibble = (b >> 1) & 15;
    ((b & 1) as usize + 2 * i, nibble * 4)
}

impl FrequencySketch {
    /// A sketch sized for a cache of `capacity` entries.
    pub fn new(capacity: u64) -> Self {
        let words = (capacity.clamp(8, 1 << 30) as usize).next_power_of_two();
        // (At least one block of 8 words; at most 8 GiB.)
        FrequencySketch {
            table: (0..words / 8)
                .map(|_| Block(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            block_mask: words / 8 - 1,
        }
    }

    /// Bytes of counters.
    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.table)
    }

    /// Every word, in order.
    fn words(&self) -> impl Iterator<Item = &AtomicU64> {
        self.table.iter().flat_map(|b| b.0.iter())
    }

    /// The estimated number of recorded events of `hash` since the halvings began to
    /// fade it (0 to 15).
    #[inline]
    pub fn frequency(&self, hash: u64) -> u8 {
        // The counters of `counters`, read as they are computed, the minimum kept in a
        // word (a conditional move each): about half the instructions of a pass over
        // `counters`' array, and this is read for every entry the eviction hand scores.
        let h = mix(hash);
        let words = &self.table[block_of(h, self.block_mask)].0;
        let c = h as u32;
        let mut least = 15;
        for i in 0..4 {
            let (w, shift) = counter(c, i);
            // Relaxed: a statistic; see the module docs. (`& 7`: `w` is below 8, which
            // spares the bounds check.)
            least = least.min((words[w & 7].load(Ordering::Relaxed) >> shift) & 15);
        }
        least as u8
    }

    /// Asks the processor to fetch the line of `hash`'s counters (they share one block),
    /// before [`frequency`](Self::frequency) reads them.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        crate::sync::prefetch(&self.table[block_of(mix(hash), self.block_mask)]);
    }

    /// Records one event of `hash`: each of its counters below 15 goes up by one. Returns
    /// whether any did (a key already at 15 everywhere changes nothing).
    #[inline]
    pub fn increment(&self, hash: u64) -> bool {
        let mut added = false;
        let (block, slots) = counters(hash, self.block_mask);
        let words = &self.table[block].0;
        for (w, shift) in slots {
            // (`& 7`: as in `frequency`.)
            let word = &words[w & 7];
            // Relaxed: a statistic; see the module docs.
            let old = word.load(Ordering::Relaxed);
            if (old >> shift) & 15 != 15 {
                // Relaxed, and no retry: a lost race loses this event (module docs).
                let _ = word.compare_exchange_weak(
                    old,
                    old + (1 << shift),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                added = true;
            }
        }
        added
    }

    /// Halves every counter. Returns the number of counters that were odd (the events
    /// the halving lost to rounding, times four), for the caller's event count.
    pub fn halve(&self) -> u64 {
        let mut odd = 0;
        for word in self.words() {
            // Relaxed: a statistic; a racing increment may be lost or survive unhalved
            // (module docs).
            let w = word.load(Ordering::Relaxed);
            odd += u64::from((w & ONE_MASK).count_ones());
            word.store((w >> 1) & RESET_MASK, Ordering::Relaxed);
        }
        odd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_at_fifteen() {
        let s = FrequencySketch::new(1024);
        for i in 0..20u8 {
            assert_eq!(s.frequency(42), i.min(15));
            assert_eq!(s.increment(42), i < 15);
        }
        assert_eq!(s.frequency(42), 15);
    }

    #[test]
    fn counters_do_not_spill_into_their_neighbours() {
        // Saturating one key must leave every other counter of the table at zero: an
        // increment past 15 would carry into the next nibble.
        let s = FrequencySketch::new(64);
        for _ in 0..100 {
            s.increment(7);
        }
        let nonzero: u32 = s
            .words()
            .map(|w| {
                let w = w.load(Ordering::Relaxed);
                (0..16).filter(|i| (w >> (i * 4)) & 15 != 0).count() as u32
            })
            .sum();
        assert_eq!(nonzero, 4, "exactly the key's four counters are set");
    }

    #[test]
    fn halving_halves_every_counter() {
        let s = FrequencySketch::new(1024);
        for _ in 0..13 {
            s.increment(1);
        }
        for _ in 0..4 {
            s.increment(2);
        }
        s.increment(3);
        let odd = s.halve();
        assert_eq!((s.frequency(1), s.frequency(2), s.frequency(3)), (6, 2, 0));
        // 13 and 1 are odd, in four counters each (unless two keys share one).
        assert_eq!(odd, 8);
    }

    #[test]
    fn estimates_separate_hot_from_cold_keys() {
        // 1,000 keys once each and 50 keys ten times each, in a sketch for 1,000 entries:
        // collisions may inflate a cold key, but not to the hot keys' count.
        let s = FrequencySketch::new(1000);
        let hash = |k: u64| k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for k in 0..1000 {
            s.increment(hash(k));
        }
        for _ in 0..10 {
            for k in 1000..1050 {
                s.increment(hash(k));
            }
        }
        let cold_over_2 = (0..1000).filter(|&k| s.frequency(hash(k)) > 2).count();
        assert!(cold_over_2 < 10, "{cold_over_2} cold keys look warm");
        assert!((1000..1050).all(|k| s.frequency(hash(k)) >= 10));
    }
}
