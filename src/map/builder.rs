//! [`HashMapBuilder`].

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use super::{DefaultHashBuilder, HashMap};
use crate::clock::Clock;
use crate::raw::{self, RawMap};
use crate::reclaim::Collector;

/// Builds a [`HashMap`] with a capacity hint, a hasher, a default TTL or a clock.
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

    /// Builds the map.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::builder().build();
    /// assert!(map.is_empty());
    /// ```
    pub fn build(self) -> HashMap<K, V, S> {
        HashMap {
            raw: RawMap::with_capacity(self.capacity),
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
            .finish_non_exhaustive()
    }
}
