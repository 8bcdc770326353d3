//! A monotonic event count that writers advance without sharing a cache line per event.
//!
//! Each thread adds to its own cache-padded shard (picked by [`thread_index`], as the
//! map's length counter does) and publishes to the shared total once every [`BATCH`] of
//! its own events, so the total is written once per `BATCH` events and lags the truth
//! by less than `BATCH` per shard. Readers load the total only: one relaxed load of a
//! line that changes once per batch.

use crossbeam_utils::CachePadded;

use crate::sync::{shard_count, thread_index, AtomicU64, Ordering};

/// Events a shard gathers before it publishes them to the total.
pub(crate) const BATCH: u64 = 16;

/// The sharded, batched count; see the module docs.
pub(crate) struct Ticker {
    total: CachePadded<AtomicU64>,
    shards: Box<[CachePadded<AtomicU64>]>,
}

impl Ticker {
    pub(crate) fn new() -> Ticker {
        let n = shard_count();
        Ticker {
            total: CachePadded::new(AtomicU64::new(0)),
            shards: (0..n)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
        }
    }

    /// The published total.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        // Relaxed: a clock for ordering policy decisions; nothing is published through it.
        self.total.load(Ordering::Relaxed)
    }

    /// Counts one event. When this event completes a batch of this shard's, publishes the
    /// batch and returns the total before and after it (the caller checks whether the
    /// total crossed a period boundary: exactly one caller sees each crossing).
    #[inline]
    pub(crate) fn advance(&self) -> Option<(u64, u64)> {
        let shard = &self.shards[thread_index() & (self.shards.len() - 1)];
        // Relaxed: a private tally (other threads only share the shard when there are
        // more threads than shards); only the total is read elsewhere.
        let mine = shard.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if mine % BATCH == 0 {
            // Relaxed: as in `now`; the RMW alone makes each crossing seen once.
            let old = self.total.fetch_add(BATCH, Ordering::Relaxed);
            Some((old, old + BATCH))
        } else {
            None
        }
    }

    /// Bytes this ticker owns (padding included).
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + std::mem::size_of_val(&*self.shards)
    }
}

impl std::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticker").field("now", &self.now()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_once_per_batch() {
        let t = Ticker::new();
        for _ in 1..BATCH {
            assert_eq!(t.advance(), None);
        }
        assert_eq!(
            t.now(),
            0,
            "nothing is published before a batch is complete"
        );
        assert_eq!(t.advance(), Some((0, BATCH)));
        assert_eq!(t.now(), BATCH);
        for _ in 1..BATCH {
            assert_eq!(t.advance(), None);
        }
        assert_eq!(t.advance(), Some((BATCH, 2 * BATCH)));
    }
}
