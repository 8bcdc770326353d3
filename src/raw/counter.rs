//! The element count, sharded so that writers on different threads never share a line.
//!
//! SS06 bumps one shared counter per insert (§2.3); on a contended map that one cache
//! line serialises every writer. Here each thread adds to its own cache-padded shard
//! (picked by a per-thread index) and readers sum the shards; the sum is clamped at zero
//! because a shard can go negative when one thread removes what another inserted.

use crossbeam_utils::CachePadded;

use crate::sync::{shard_count, thread_index, AtomicUsize, Ordering};

pub(crate) struct Counter {
    shards: Box<[CachePadded<AtomicUsize>]>,
}

impl Counter {
    pub(crate) fn new() -> Counter {
        let n = shard_count();
        Counter {
            shards: (0..n)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
        }
    }

    #[inline]
    fn shard(&self) -> &AtomicUsize {
        &self.shards[thread_index() & (self.shards.len() - 1)]
    }

    /// Adds one and returns the (approximate) new total if this thread should check the
    /// load factor now: on every insert with one shard, else on every 8th of this
    /// shard's. Summing reads every other shard's line, which the other writers keep
    /// taking back (at 2 threads, summing on every insert cost 6 % of the exchange mix),
    /// so growth may lag by up to 8 entries per shard.
    #[inline]
    pub(crate) fn increment(&self) -> Option<usize> {
        // Relaxed: the count is a statistic; nothing is published through it.
        let mine = self.shard().fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if self.shards.len() == 1 || mine % 8 == 0 {
            Some(self.sum())
        } else {
            None
        }
    }

    #[inline]
    pub(crate) fn decrement(&self) {
        // Relaxed: as in `increment`. Wrapping is intended (a shard may go "negative").
        self.shard().fetch_sub(1, Ordering::Relaxed);
    }

    /// The sum of all shards, clamped at zero.
    pub(crate) fn sum(&self) -> usize {
        let total = self
            .shards
            .iter()
            // Relaxed: an approximate count by definition, see the module docs.
            .fold(0usize, |acc, s| acc.wrapping_add(s.load(Ordering::Relaxed)));
        if (total as isize) < 0 {
            0
        } else {
            total
        }
    }
}
