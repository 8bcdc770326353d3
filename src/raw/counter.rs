//! The element count and the always-on statistics, sharded so that writers on different
//! threads never share a line.
//!
//! SS06 bumps one shared counter per insert (§2.3); on a contended map that one cache
//! line serialises every writer. Here each thread adds to its own cache-padded shard
//! (picked by a per-thread index) and readers sum the shards.
//!
//! The length is not a counter of its own: it is the entries inserted less those removed,
//! evicted or expired, from the event counts that `Stats` reports anyway. An insert or a
//! removal then makes one locked read-modify-write of the count instead of two (each is a
//! full barrier on x86, which keeps the processor from overlapping the operation's cache
//! misses with the next one's). A removal leaves the length when it is *decided* (the
//! freezing CAS that counts its event), not when its tombstone is installed; the sum is
//! clamped at zero because a shard can go negative when one thread removes what another
//! inserted.

use crossbeam_utils::CachePadded;

use crate::sync::{shard_count, thread_index, AtomicU64, Ordering};

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

/// One thread's shard: the event counts, in one line.
struct Shard {
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

    /// Counts one `e` (on this thread's shard).
    #[inline]
    pub(crate) fn bump(&self, e: Event) {
        // Relaxed: a statistic; nothing is published through it.
        self.my_shard().events[e as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one `e` back (for the gauge; wrapping: a shard may go "negative").
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

    /// Counts an insert of a new entry (an [`Event::Insert`] that linked a node) and
    /// returns the (approximate) new length if this thread should check the load factor
    /// now: on every insert with one shard, else on every 8th of this shard's. Summing
    /// reads every other shard's line, which the other writers keep taking back (at 2
    /// threads, summing on every insert cost 6 % of the exchange mix), so growth may lag
    /// by up to 8 entries per shard.
    #[inline]
    pub(crate) fn inserted(&self) -> Option<usize> {
        // Relaxed: as in `bump`.
        let mine = self.my_shard().events[Event::Insert as usize]
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        if self.shards.len() == 1 || mine % 8 == 0 {
            Some(self.sum())
        } else {
            None
        }
    }

    /// The length: inserts less removals, evictions and expirations over all shards,
    /// clamped at zero.
    pub(crate) fn sum(&self) -> usize {
        let total = self.shards.iter().fold(0u64, |acc, s| {
            // Relaxed: an approximate count by definition, see the module docs.
            let e = |e: Event| s.events[e as usize].load(Ordering::Relaxed);
            acc.wrapping_add(e(Event::Insert))
                .wrapping_sub(e(Event::Removal))
                .wrapping_sub(e(Event::Eviction))
                .wrapping_sub(e(Event::Expiration))
        });
        if (total as i64) < 0 {
            0
        } else {
            usize::try_from(total).unwrap_or(usize::MAX)
        }
    }
}
