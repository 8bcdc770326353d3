//! [`Stats`]: a snapshot of a map's counters, sizes and memory.

/// A snapshot of a map's statistics ([`HashMap::stats`](crate::HashMap::stats)).
///
/// Hits and misses are counted only if the map was built with
/// [`record_stats`](crate::HashMapBuilder::record_stats) (each lookup then writes its
/// thread's own counter); every other counter is always on. Counters are per thread and
/// summed when the snapshot is taken, so a snapshot taken while other threads write is
/// approximate.
///
/// # Examples
/// ```
/// let map = ttlmap::HashMap::builder().max_capacity(2).record_stats().build();
/// let m = map.pin();
/// m.insert(1, "a");
/// m.insert(2, "b");
/// m.insert(3, "c"); // evicts one entry
/// assert_eq!(m.get(&4), None);
/// let s = map.stats();
/// assert_eq!((s.inserts, s.evictions, s.entries, s.misses), (3, 1, 2, 1));
/// assert!(s.heap_bytes > 0);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lookups (`get`, `contains_key`, `get_key_value`, the lookup of `get_or_insert_with`
    /// and friends) that found a live value; 0 unless `record_stats()`.
    pub hits: u64,
    /// Lookups that found none; 0 unless `record_stats()`.
    pub misses: u64,
    /// Values written for a key that had no live value (including over an expired one).
    pub inserts: u64,
    /// Live values replaced (`insert` over a live value, `update`, `compute`).
    pub updates: u64,
    /// Entries removed by the user (cause [`Explicit`](crate::RemovalCause::Explicit)).
    pub removals: u64,
    /// Entries evicted by the bound (cause [`Size`](crate::RemovalCause::Size)).
    pub evictions: u64,
    /// Entries that left after their deadline (cause
    /// [`Expired`](crate::RemovalCause::Expired)).
    pub expirations: u64,
    /// Entries inserted and not yet removed, evicted or expired away
    /// ([`HashMap::len`](crate::HashMap::len)).
    pub entries: u64,
    /// [`HashMap::weighted_size`](crate::HashMap::weighted_size).
    pub weighted_size: u64,
    /// An estimate of the bytes the map owns: its nodes (with their keys and values
    /// inline, `size_of` each: what a key or value owns on the heap is not seen), the
    /// heap cells of replaced values, the bucket directory, and the policy.
    pub heap_bytes: u64,
    /// Bytes of removed entries and values not yet freed (waiting for reclamation).
    pub garbage_bytes: u64,
}

impl Stats {
    /// `hits / (hits + misses)`, 0.0 when both are 0.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ttlmap::Stats::default().hit_ratio(), 0.0);
    /// ```
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}
