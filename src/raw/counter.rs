//! The element count and the always-on statistics, sharded so that writers on different
//! threads never share a line.
//!
//! SS06 bumps one shared counter per insert (§2.3); on a contended map that one cache
//! line serialises every writer. Here each thread adds to its own cache-padded shard
//! (picked by a per-thread index) and readers sum the shards; the sum is clamped at zero
//! because a shard can go negative when one thread removes what another inserted.

use crossbeam_utils::CachePadded;

use crate::sync::{shard_count, thread_index, AtomicU64, AtomicUsize, Ordering};

/// The events [`Counter::bump`] counts (`Stats` in `cache/stats.rs` reports them).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Event {
    /// A value was written for a key that had none live.
    Insert,
    /// A live value was replaced.
    Update,
    /// An entry was removed by the user (cause `Explicit`).
    Removal,
    /// An entry was evicted by the bound (cause `Size`).
    Eviction,
    /// An entry left after its deadline (cause `Expired`).
    Expiration,
    /// A lookup found a live value (counted only with `record_stats`).
    Hit,
    /// A lookup found none (counted only with `record_stats`).
    Miss,
    /// A gauge, not an event: heap cells installed or decided and not yet retired (the
    /// values of entries written more than once).
    HeapCells,
}

const EVENTS: usize = 8;

/// One thread's shard: the length and the event counts, in one line.
struct Shard {
    len: AtomicUsize,
    events: [AtomicU64; EVENTS],
}

pub(crate) struct Counter {
    shards: Box<[CachePadded<Shard>]>,
}

impl Counter {
    pub(crate) fn new() -> Counter {
        let n = shard_count();
        Counter {
            shards: (0..n)
                .map(|_| {
                    CachePadded::new(Shard {
                        len: AtomicUsize::new(0),
                        events: std::array::from_fn(|_| AtomicU64::new(0)),
                    })
                })
                .collect(),
        }
    }

    #[inline]
    fn my_shard(&self) -> &Shard {
        &self.shards[thread_index() & (self.shards.len() - 1)]
    }

    #[inline]
    fn shard(&self) -> &AtomicUsize {
        &self.my_shard().len
    }

    /// Counts one `e` (on this thread's shard).
    #[inline]
    pub(crate) fn bump(&self, e: Event) {
        // Relaxed: a statistic; nothing is published through it.
        self.my_shard().events[e as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one `e` back (for the gauge; wrapping, as `decrement`).
    #[inline]
    pub(crate) fn unbump(&self, e: Event) {
        // Relaxed: as in `bump`.
        self.my_shard().events[e as usize].fetch_sub(1, Ordering::Relaxed);
    }

    /// The total of `e` over all shards.
    pub(crate) fn events(&self, e: Event) -> u64 {
        self.shards
            .iter()
            // Relaxed: a statistic (a snapshot while other threads count).
            .map(|s| s.events[e as usize].load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
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
            .fold(0usize, |acc, s| {
                acc.wrapping_add(s.len.load(Ordering::Relaxed))
            });
        if (total as isize) < 0 {
            0
        } else {
            total
        }
    }
}
