//! Reclaiming expired entries that nobody reads: the incremental sweep and the purge.
//!
//! A lookup treats an expired cell as absent but never writes, so without this module an
//! expired entry that is never touched again would stay in memory for good. Writers
//! therefore each sweep a bucket (`sweep_step`), in the order of a shared cursor, once
//! the clock has reached the earliest deadline ever written (before that nothing can
//! have expired); `purge_expired` sweeps the whole list at once.
//! Sweeping an entry means: claim its cell's deadline (so that no refresh can revive
//! it), tombstone `val` with a CAS, mark `next`, and unlink it as `find` does.

use super::node::{bucket_interval, is_marked, untagged, Node};
use super::{Now, RawMap, Start, MAX_SWEEP_BUCKETS_PER_WRITE};
use crate::reclaim::RawGuard;
use crate::sync::Ordering;

/// What sweeping a range found: entries it tombstoned, and entries it left (live, or
/// tombstoned by someone else meanwhile).
pub(crate) struct Swept {
    pub(crate) removed: usize,
    pub(crate) live: usize,
}

impl<K, V> RawMap<K, V> {
    /// The incremental sweep: a write's share of the work.
    #[inline]
    pub(crate) fn sweep_step<G: RawGuard>(&self, now: &mut Now<'_>, guard: &G) {
        // Until the clock reaches the earliest deadline ever written there is nothing to
        // reclaim; maps without deadlines never even read the clock here.
        if self.may_have_expired(now) {
            self.sweep_buckets(now, guard);
        }
    }

    #[inline(never)]
    fn sweep_buckets<G: RawGuard>(&self, now: &mut Now<'_>, guard: &G) {
        // Relaxed: any bucket count gives a correct range; see `start`.
        let size = self.size.load(Ordering::Relaxed);
        for _ in 0..MAX_SWEEP_BUCKETS_PER_WRITE {
            // Relaxed: the cursor only spreads the work; its RMW gives each writer its
            // own bucket, and every bucket is visited once per `size` increments.
            let b = self.sweep_cursor.fetch_add(1, Ordering::Relaxed) & (size - 1);
            let swept = self.sweep_bucket(b, size, now, guard);
            // Go on while there is garbage about (or the bucket was empty, which was
            // cheap); stop at the first bucket of entries that are all live.
            if swept.removed == 0 && swept.live > 0 {
                break;
            }
        }
    }

    /// Sweeps bucket `b` of a table of `size` buckets.
    ///
    /// Bucket b's entries are exactly those with `so` in [lo, lo + span): sweep that
    /// interval, from b's sentinel or (if b is not initialised) from its nearest ready
    /// ancestor. Sweeping by key interval rather than by sentinel keeps the bound exact
    /// while other writes initialise buckets mid-cycle, and stays correct if `size` is
    /// stale (the intervals of any size partition the keys).
    pub(crate) fn sweep_bucket<G: RawGuard>(
        &self,
        b: usize,
        size: usize,
        now: &mut Now<'_>,
        guard: &G,
    ) -> Swept {
        let (lo, hi) = bucket_interval(b, size);
        self.sweep_range(self.start_at(b, size), lo, hi, now, guard)
    }

    /// Unlinks every entry that is expired at the clock reading of `now`.
    pub(crate) fn purge_expired<G: RawGuard>(&self, now: &mut Now<'_>, guard: &G) -> usize {
        let start = Start::unowned(self.dir.head());
        self.sweep_range(start, 0, None, now, guard).removed
    }

    /// Sweeps the entries with `so` in `[lo, hi)` (to the end if `hi` is `None`),
    /// walking from `start`, which sorts at or before `lo` (and ends the walk at a
    /// sentinel without loading it when it is `lo`'s own bucket: see [`Start`]).
    fn sweep_range<G: RawGuard>(
        &self,
        start: Start<'_>,
        lo: u64,
        hi: Option<u64>,
        now: &mut Now<'_>,
        guard: &G,
    ) -> Swept {
        debug_assert!(start.link.so <= lo);
        let mut swept = Swept {
            removed: 0,
            live: 0,
        };
        // Where to restart after a failed unlink: the last sentinel passed (never marked).
        let mut anchor = start.link;
        'retry: loop {
            let mut prev = &anchor.next;
            // Acquire: see `find`. As there, `prev_val` is `prev`'s raw value.
            let mut prev_val = prev.load(Ordering::Acquire);
            loop {
                let cur = untagged(prev_val);
                if cur.is_null() || start.ends_at(prev_val, &self.size) {
                    return swept;
                }
                // SAFETY: loaded under `guard` from a reachable node; see `find`.
                let link = unsafe { &*cur };
                // Acquire: see `find`.
                let next = link.next.load(Ordering::Acquire);
                if is_marked(next) {
                    let Some(succ) = Self::unlink_marked(prev, prev_val, cur, next, guard) else {
                        continue 'retry;
                    };
                    prev_val = succ;
                    continue;
                }
                if hi.is_some_and(|hi| link.so >= hi) {
                    return swept;
                }
                if !link.is_entry() {
                    anchor = link;
                } else if link.so >= lo {
                    // SAFETY: an entry's link starts a live `Node`.
                    let node = unsafe { Node::<K, V>::from_link(cur) };
                    if self.reap(node, now, guard) {
                        swept.removed += 1;
                        // `next` is marked now: go round again to unlink it.
                        continue;
                    }
                    swept.live += 1;
                }
                prev = &link.next;
                prev_val = next;
            }
        }
    }

    /// Tombstones `node` if its current cell is expired: claim, then CAS `val` to null.
    fn reap<G: RawGuard>(&self, node: &Node<K, V>, now: &mut Now<'_>, guard: &G) -> bool {
        // Acquire: pairs with the CAS that installed the cell.
        let cell = node.val.load(Ordering::Acquire);
        if cell.is_null() {
            return false;
        }
        // SAFETY: current under `guard`.
        let c = unsafe { &*cell };
        if !c.claim_expired(&mut || now.get()) {
            return false;
        }
        // A replacing insert may win the CAS; the claimed cell is then retired by it.
        self.tombstone(node, cell, guard)
    }
}
