//! The per-entry cache word: the policy's stamp and flags, and the entry's weight, in 8
//! bytes of the node.

use crate::sync::{AtomicU64, Ordering};

/// Bits 0..32: the weight of the node's first value (as the weigher gave it).
const WEIGHT_MASK: u64 = u32::MAX as u64;
/// Bits 33..62: the stamp, the policy clock modulo 2^29.
const STAMP_SHIFT: u32 = 33;
pub(super) const STAMP_BITS: u32 = 29;
pub(super) const STAMP_MASK: u64 = (1 << STAMP_BITS) - 1;
/// Flag: inserted and not yet judged at the window's exit.
pub(super) const NEW: u64 = 1 << 62;
/// Flag: hit since it entered the main region (segmented LRU's protected segment).
pub(super) const PROTECTED: u64 = 1 << 63;
/// The bits the policy owns; the others (the weight, and bit 32, unused) are the map's.
const POLICY_BITS: u64 = !(WEIGHT_MASK | 1 << 32);

/// An entry's policy metadata (the policy's part of the node's cache word). `Copy`.
///
/// | bits   | field |
/// |--------|-------|
/// | 0..33  | (the map's: the first value's weight; zero in a `Meta` the policy builds) |
/// | 33..62 | stamp: the policy's insert clock, modulo 2^29, at the entry's last refresh (its insert, or a hit that found the stamp stale) |
/// | 62     | `NEW`: inserted, not yet judged at the window's exit (admission) |
/// | 63     | `PROTECTED`: hit since it entered the main region |
///
/// Stamps are compared by their age modulo 2^29 ([`Meta::age`]): an entry not refreshed
/// for 2^29 inserts looks young again, which shifts one eviction choice and nothing else.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Meta(pub(super) u64);

impl Meta {
    pub(super) fn new(stamp: u64, flags: u64) -> Meta {
        Meta((stamp & STAMP_MASK) << STAMP_SHIFT | flags & (NEW | PROTECTED))
    }

    /// The policy clock's reading (modulo 2^29) at the entry's last refresh.
    pub fn stamp(self) -> u64 {
        (self.0 >> STAMP_SHIFT) & STAMP_MASK
    }

    /// Inserts since the last refresh, modulo 2^29, at policy clock `now`.
    #[inline]
    pub fn age(self, now: u64) -> u64 {
        now.wrapping_sub(self.stamp()) & STAMP_MASK
    }

    /// Whether the entry has not yet been judged at the window's exit.
    pub fn is_new(self) -> bool {
        self.0 & NEW != 0
    }

    /// Whether the entry was hit since it entered the main region.
    pub fn is_protected(self) -> bool {
        self.0 & PROTECTED != 0
    }

    pub(super) fn flags(self) -> u64 {
        self.0 & (NEW | PROTECTED)
    }
}

/// The node's cache word: a [`Meta`] for the policy, and the first value's weight.
///
/// The policy's accesses are `Relaxed` hints: no memory is published through the word,
/// racing policy writers (two readers refreshing one entry, a reader and the evicting
/// writer that judges it) store values that are equally good, and a lost store costs at
/// most one slightly worse eviction choice. A hit stores only when the stamp is stale or
/// a flag must be set, so a hot entry's line is not written on every hit. Policy stores
/// are read-modify-writes that keep the weight bits.
///
/// The weight bits never change after the node is created; the map's weighted size is
/// kept by the writers' decisions (`cache/bound.rs`), not in this word.
#[derive(Debug, Default)]
pub struct AtomicMeta(AtomicU64);

impl AtomicMeta {
    /// A word holding `m` (and weight 0).
    pub fn new(m: Meta) -> Self {
        AtomicMeta(AtomicU64::new(m.0 & POLICY_BITS))
    }

    /// A word with weight `w` and no policy bits (a node before the policy saw it).
    pub(crate) fn with_weight(w: u32) -> Self {
        AtomicMeta(AtomicU64::new(u64::from(w)))
    }

    /// The current metadata.
    #[inline]
    pub fn load(&self) -> Meta {
        // Relaxed: a policy hint (type docs).
        Meta(self.0.load(Ordering::Relaxed) & POLICY_BITS)
    }

    /// Replaces the policy's bits with `m`'s, keeping the weight.
    #[inline]
    pub(crate) fn store(&self, m: Meta) {
        // Relaxed: a policy hint (type docs); the RMW keeps the weight bits.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                Some(w & !POLICY_BITS | m.0 & POLICY_BITS)
            });
    }

    /// Clears the `NEW` flag.
    #[inline]
    pub(super) fn clear_new(&self) {
        // Relaxed: a policy hint (type docs).
        self.0.fetch_and(!NEW, Ordering::Relaxed);
    }

    /// The weight the node was created with: its first value's (the weights of later
    /// values live in their heap cells, `raw/cell.rs`). Never changes.
    pub(crate) fn weight(&self) -> u32 {
        // Relaxed: written before the node was published, never changed.
        (self.0.load(Ordering::Relaxed) & WEIGHT_MASK) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_stores_keep_the_weight() {
        let w = AtomicMeta::with_weight(u32::MAX);
        w.store(Meta::new(12345, NEW | PROTECTED));
        assert_eq!(w.weight(), u32::MAX);
        assert_eq!(w.load(), Meta::new(12345, NEW | PROTECTED));
        w.clear_new();
        assert_eq!(w.load(), Meta::new(12345, PROTECTED));
        assert_eq!(w.weight(), u32::MAX);
    }

    #[test]
    fn ages_wrap_modulo_the_stamp_width() {
        let m = Meta::new(STAMP_MASK, 0);
        assert_eq!(m.age(STAMP_MASK + 1), 1);
        assert_eq!(m.age(STAMP_MASK + 11), 11);
        assert_eq!(Meta::new(5, 0).age(5), 0);
    }
}
