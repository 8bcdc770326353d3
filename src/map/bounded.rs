//! The bounded cache's methods of [`HashMap`]: the bound, the weighted size, statistics.

use super::HashMap;
use crate::cache::Stats;
use crate::raw::{Event, Now};

impl<K, V, S> HashMap<K, V, S> {
    /// The bound on the entries (or their total weight), if the map has one
    /// ([`HashMapBuilder::max_capacity`](super::HashMapBuilder::max_capacity)).
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::builder().max_capacity(5).build();
    /// assert_eq!(map.max_capacity(), Some(5));
    /// assert_eq!(ttlmap::HashMap::<u8, u8>::new().max_capacity(), None);
    /// ```
    pub fn max_capacity(&self) -> Option<u64> {
        self.raw.cache.as_ref().and_then(|b| b.max_capacity())
    }

    /// Changes the bound. Inserts obey the new bound at once; a shrink evicts down to it
    /// (cause [`Size`](crate::RemovalCause::Size)) before the call returns, pinning a
    /// stretch of evictions at a time so that their memory can be reclaimed as it goes.
    ///
    /// # Panics
    /// If the map was built without
    /// [`max_capacity`](super::HashMapBuilder::max_capacity) or a
    /// [`weigher`](super::HashMapBuilder::weigher): such a map does not track the
    /// weights a bound needs. Build it with `max_capacity(u64::MAX)` to bound it later.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::builder().max_capacity(u64::MAX).build();
    /// for i in 0..100 {
    ///     map.pin().insert(i, i);
    /// }
    /// map.set_max_capacity(10);
    /// assert_eq!(map.len(), 10);
    /// assert_eq!(map.max_capacity(), Some(10));
    /// ```
    pub fn set_max_capacity(&self, max_capacity: u64) {
        /// Evictions under one pin.
        const CHUNK: usize = 1024;
        let b = match &self.raw.cache {
            Some(b) if b.tracks_weights() => b,
            _ => panic!(
                "ttlmap: set_max_capacity on a map built without max_capacity or a weigher \
                 (build it with max_capacity(u64::MAX) to bound it later)"
            ),
        };
        b.set_capacity(max_capacity);
        let mut now = Now::new(&self.clock);
        loop {
            let guard = self.collector.pin();
            // After the guard: delivered before the guard goes.
            let _events = self.events();
            let before = b.weighted_size();
            if b.enforce(&self.raw, None, None, CHUNK, &mut now, guard.protect()) {
                return;
            }
            // No progress: what is left over the bound is in inserts still running on
            // other threads, which evict for it themselves.
            if b.weighted_size() >= before {
                return;
            }
        }
    }

    /// The total weight of the entries: with a [`weigher`](super::HashMapBuilder::weigher),
    /// the sum of their weights; else their number ([`len`](HashMap::len)).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::builder().weigher(|_: &u8, v: &Vec<u8>| v.len() as u32).build();
    /// map.pin().insert(1, vec![0; 10]);
    /// assert_eq!(map.weighted_size(), 10);
    /// ```
    pub fn weighted_size(&self) -> u64 {
        self.raw
            .cache
            .as_ref()
            .and_then(|b| b.weighted_size())
            .unwrap_or(self.raw.len() as u64)
    }

    /// A snapshot of the map's statistics ([`Stats`]).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// map.pin().insert(1, 1);
    /// map.pin().insert(1, 2);
    /// map.pin().remove(&1);
    /// let s = map.stats();
    /// assert_eq!((s.inserts, s.updates, s.removals, s.entries), (1, 1, 1, 0));
    /// ```
    pub fn stats(&self) -> Stats {
        let raw = &self.raw;
        let entries = raw.len() as u64;
        Stats {
            hits: raw.events(Event::Hit),
            misses: raw.events(Event::Miss),
            inserts: raw.events(Event::Insert),
            updates: raw.events(Event::Update),
            removals: raw.events(Event::Removal),
            evictions: raw.events(Event::Eviction),
            expirations: raw.events(Event::Expiration),
            entries,
            weighted_size: self.weighted_size(),
            heap_bytes: (std::mem::size_of::<Self>()
                + raw.heap_bytes()
                + raw.cache.as_ref().map_or(0, |b| b.bytes())) as u64,
            garbage_bytes: self.collector.garbage_objects() * raw.garbage_object_bytes() as u64,
        }
    }
}
