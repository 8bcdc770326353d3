//! The per-entry policy word: a stamp and two flags, in 8 bytes of the node.

use crate::sync::{AtomicU64, Ordering};

/// Bits of [`Meta`] that hold the stamp; the flags live above them.
pub(super) const STAMP_BITS: u32 = 56;
pub(super) const STAMP_MASK: u64 = (1 << STAMP_BITS) - 1;
/// Flag: inserted and not yet judged at the window's exit.
pub(super) const NEW: u64 = 1 << STAMP_BITS;
/// Flag: hit since it entered the main region (segmented LRU's protected segment).
pub(super) const PROTECTED: u64 = 1 << (STAMP_BITS + 1);

/// An entry's policy metadata. `Copy`; a map keeps it in an [`AtomicMeta`] in the node.
///
/// | bits   | field |
/// |--------|-------|
/// | 0..56  | stamp: the policy's insert clock at the entry's last refresh (its insert, or a hit that found the stamp stale) |
/// | 56     | `NEW`: inserted, not yet judged at the window's exit (admission) |
/// | 57     | `PROTECTED`: hit since it entered the main region |
/// | 58..64 | zero |
///
/// 56 bits of inserts do not wrap in practice (2^56 inserts at 10^9 a second take two
/// years; a stamp that did wrap only makes one entry look young).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Meta(pub(super) u64);

impl Meta {
    pub(super) fn new(stamp: u64, flags: u64) -> Meta {
        Meta(stamp & STAMP_MASK | flags)
    }

    /// The policy clock's reading at the entry's last refresh.
    pub fn stamp(self) -> u64 {
        self.0 & STAMP_MASK
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
        self.0 & !STAMP_MASK
    }
}

/// A [`Meta`] in an atomic word: the 8 bytes a bounded map adds to each node.
///
/// Every access is `Relaxed`: the word is a hint for the policy, no memory is published
/// through it, and racing writers (two readers refreshing one entry, a reader and the
/// evicting writer that judges it) store values that are equally good; a lost store
/// costs at most one slightly worse eviction choice. A hit stores only when the stamp is
/// stale or a flag must be set, so a hot entry's line is not written on every hit.
#[derive(Debug, Default)]
pub struct AtomicMeta(AtomicU64);

impl AtomicMeta {
    /// A word holding `m`.
    pub fn new(m: Meta) -> Self {
        AtomicMeta(AtomicU64::new(m.0))
    }

    /// The current metadata.
    #[inline]
    pub fn load(&self) -> Meta {
        // Relaxed: a policy hint (type docs).
        Meta(self.0.load(Ordering::Relaxed))
    }

    #[inline]
    pub(super) fn store(&self, m: Meta) {
        // Relaxed: a policy hint (type docs).
        self.0.store(m.0, Ordering::Relaxed);
    }
}
