//! [`HashMapBuilder`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::{DefaultHashBuilder, HashMap};
use crate::cache::{Bound, Options, RemovalCause};
use crate::clock::Clock;
use crate::raw::{self, RawMap};
use crate::reclaim::Collector;

/// Builds a [`HashMap`] with a capacity hint, a hasher, a default TTL or a clock, and
/// makes it a bounded cache ([`max_capacity`](Self::max_capacity),
/// [`weigher`](Self::weigher), [`eviction_listener`](Self::eviction_listener),
/// [`record_stats`](Self::record_stats)).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let map: ttlmap::HashMap<u64, String> = ttlmap::HashMap::builder()
///     .capacity(1_000)
///     .default_ttl(Duration::from_secs(60))
///     .build();
/// map.pin().insert(1, "expires in a minute".into());
/// ```
pub struct HashMapBuilder<K, V, S = DefaultHashBuilder> {
    pub(crate) capacity: usize,
    pub(super) hasher: S,
    pub(super) default_ttl: Option<Duration>,
    pub(super) clock: Clock,
    pub(crate) cache: Options<K, V>,
    pub(super) _marker: PhantomData<fn() -> (K, V)>,
}

impl<K, V> HashMapBuilder<K, V> {
    /// Sets the hasher.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8, std::hash::RandomState> =
    ///     ttlmap::HashMap::builder().hasher(std::hash::RandomState::new()).build();
    /// assert!(map.is_empty());
    /// ```
    pub fn hasher<S>(self, hasher: S) -> HashMapBuilder<K, V, S> {
        HashMapBuilder {
            capacity: self.capacity,
            hasher,
            default_ttl: self.default_ttl,
            clock: self.clock,
            cache: self.cache,
            _marker: PhantomData,
        }
    }
}

impl<K, V, S> HashMapBuilder<K, V, S> {
    /// A hint of how many entries the map will hold. Huge hints are clamped (the table
    /// grows on demand anyway), never an abort.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::builder().capacity(usize::MAX).build();
    /// assert!(map.is_empty());
    /// ```
    pub fn capacity(self, capacity: usize) -> Self {
        HashMapBuilder { capacity, ..self }
    }

    /// The TTL given to entries written by plain [`insert`](crate::HashMapRef::insert) and
    /// friends (everything but [`insert_with_ttl`](crate::HashMapRef::insert_with_ttl)).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let map = ttlmap::HashMap::builder().default_ttl(Duration::from_secs(5)).build();
    /// map.pin().insert(1, 1);
    /// assert!(matches!(map.pin().ttl(&1), Some(ttlmap::Expiry::In(_))));
    /// ```
    pub fn default_ttl(self, ttl: Duration) -> Self {
        HashMapBuilder {
            default_ttl: Some(ttl),
            ..self
        }
    }

    /// The clock expiry is decided with; [`Clock::system`] by default.
    ///
    /// # Examples
    /// ```
    /// let clock = ttlmap::ManualClock::new();
    /// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::builder().clock(clock).build();
    /// assert_eq!(map.clock().granularity(), std::time::Duration::ZERO);
    /// ```
    pub fn clock(self, clock: impl Into<Clock>) -> Self {
        HashMapBuilder {
            clock: clock.into(),
            ..self
        }
    }

    /// Makes the map a bounded cache: inserting past `max_capacity` entries (or, with a
    /// [`weigher`](Self::weigher), past that total weight) evicts others, chosen by the
    /// eviction policy (a sampled W-TinyLFU). The bound is hard: eviction runs inside the
    /// inserting call, so once a call returns the map exceeds the bound by at most what
    /// inserts still running on other threads added. `max_capacity(0)` holds nothing.
    /// The bound can change later with [`HashMap::set_max_capacity`]; use
    /// `max_capacity(u64::MAX)` for a map to be bounded only later.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::builder().max_capacity(100).build();
    /// for i in 0..1000 {
    ///     map.pin().insert(i, i);
    /// }
    /// assert_eq!(map.len(), 100);
    /// assert_eq!(map.stats().evictions, 900);
    /// ```
    pub fn max_capacity(mut self, max_capacity: u64) -> Self {
        self.cache.max_capacity = Some(max_capacity);
        self
    }

    /// Gives each entry a weight, taken when its value is written (0 is allowed: such an
    /// entry never counts against the bound); [`max_capacity`](Self::max_capacity) then
    /// bounds the total weight. An entry heavier than the whole capacity is not admitted:
    /// it leaves at once, with cause [`Size`](RemovalCause::Size).
    ///
    /// The weigher runs on the writing thread before the write; if it panics, the write
    /// does not happen and the panic propagates.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::builder()
    ///     .max_capacity(10)
    ///     .weigher(|_k: &u32, v: &String| v.len() as u32)
    ///     .build();
    /// map.pin().insert(1, "abcd".to_string());
    /// map.pin().insert(2, "efgh".to_string());
    /// assert_eq!(map.weighted_size(), 8);
    /// map.pin().insert(3, "ijkl".to_string()); // 12 > 10: one entry goes
    /// assert_eq!(map.weighted_size(), 8);
    /// ```
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.cache.weigher = Some(Arc::new(weigher));
        self
    }

    /// Calls `listener` once for every entry that leaves the map, with why
    /// ([`RemovalCause`]), on the thread whose operation removed it, after that
    /// operation's changes took effect and before it returns. The listener may call into
    /// the map. A panicking listener propagates to that operation's caller once every
    /// other listener call of the operation ran; the map stays consistent. Dropping the
    /// map calls no listener.
    ///
    /// # Examples
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let evicted = Arc::new(AtomicUsize::new(0));
    /// let count = evicted.clone();
    /// let map = ttlmap::HashMap::builder()
    ///     .max_capacity(10)
    ///     .eviction_listener(move |_k: &u32, _v: &u32, cause| {
    ///         if cause == ttlmap::RemovalCause::Size {
    ///             count.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     })
    ///     .build();
    /// for i in 0..15 {
    ///     map.pin().insert(i, i);
    /// }
    /// assert_eq!(evicted.load(Ordering::Relaxed), 5);
    /// ```
    pub fn eviction_listener(
        mut self,
        listener: impl Fn(&K, &V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.cache.listener = Some(Arc::new(listener));
        self
    }

    /// Counts hits and misses in [`HashMap::stats`] (each lookup then writes a counter of
    /// its own thread; the other counters are always on).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::builder().record_stats().build();
    /// map.pin().insert(1, 1);
    /// map.pin().get(&1);
    /// map.pin().get(&2);
    /// assert_eq!(map.stats().hit_ratio(), 0.5);
    /// ```
    pub fn record_stats(mut self) -> Self {
        self.cache.record_stats = true;
        self
    }

    /// Builds the map.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::builder().build();
    /// assert!(map.is_empty());
    /// ```
    pub fn build(self) -> HashMap<K, V, S> {
        let mut raw = RawMap::with_capacity(self.capacity);
        raw.cache = Bound::new(self.cache).map(Box::new);
        HashMap {
            raw,
            hasher: self.hasher,
            clock: self.clock,
            default_ttl: self.default_ttl,
            collector: Collector::new(raw::free_batch::<K, V>),
            loads: super::loader::Loads::new(),
        }
    }
}

impl<K, V, S> fmt::Debug for HashMapBuilder<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashMapBuilder")
            .field("capacity", &self.capacity)
            .field("default_ttl", &self.default_ttl)
            .field("clock", &self.clock)
            .field("max_capacity", &self.cache.max_capacity)
            .field("weigher", &self.cache.weigher.is_some())
            .field("eviction_listener", &self.cache.listener.is_some())
            .field("record_stats", &self.cache.record_stats)
            .finish_non_exhaustive()
    }
}
