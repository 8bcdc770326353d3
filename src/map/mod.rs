//! The safe public API: [`HashMap`], its pinned handle [`HashMapRef`], and the builder.
//!
//! - `mod.rs`: the map, its construction and maintenance;
//! - `builder.rs`: [`HashMapBuilder`];
//! - `bounded.rs`: the bounded cache's methods (`set_max_capacity`, `stats`, ...);
//! - `guard.rs`: the guards ([`LocalGuard`], [`OwnedGuard`], the sealed [`Guard`] trait);
//! - `ops.rs`: the one implementation of every operation, under a reclamation guard;
//! - `guarded.rs`: papaya's guard-based API (`map.get(&k, &guard)`);
//! - `pinned.rs`: the pinned handle [`HashMapRef`] (`map.pin().get(&k)`);
//! - `iter.rs`: the iterators;
//! - `loader.rs`: single-flight loading (`get_or_load`);
//! - `scan.rs`: the resumable scan ([`Cursor`], [`Scan`]);
//! - `traits.rs`: std traits (`Debug`, `Clone`, `PartialEq`, `Extend`, ...).

mod bounded;
mod builder;
mod guard;
mod guarded;
mod iter;
mod loader;
mod ops;
mod pinned;
mod scan;
mod traits;

use std::marker::PhantomData;
use std::time::Duration;

pub use self::builder::HashMapBuilder;
pub(crate) use self::guard::sealed;
pub use self::guard::{Guard, LocalGuard, OwnedGuard};
pub use self::iter::{Iter, Keys, Values};
pub use self::ops::{Compute, OccupiedError, Operation};
pub use self::pinned::HashMapRef;
pub use self::scan::{Cursor, Scan, ScanPage};
use crate::clock::{Clock, NEVER};
use crate::raw::{self, Now, RawMap};
use crate::reclaim::{self, Collector};

/// The default hasher: foldhash's fast, randomly seeded hasher.
pub type DefaultHashBuilder = foldhash::fast::RandomState;

/// A lock-free concurrent hash map whose entries may expire.
///
/// Operations go through a pinned handle, [`HashMap::pin`]; references it returns live
/// as long as the handle. See the [crate documentation](crate) for the guarantees.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let map = ttlmap::HashMap::new();
/// let m = map.pin();
/// m.insert("session-1", 42);
/// m.insert_with_ttl("session-2", 7, Duration::from_secs(30));
/// assert_eq!(m.get("session-1"), Some(&42));
/// assert_eq!(m.len(), 2);
/// ```
///
/// The map is invariant in `K` and `V`: it cannot be viewed as a map of shorter-lived
/// keys, which would let it keep a key past its lifetime.
/// ```compile_fail
/// let map: ttlmap::HashMap<&'static str, u8> = ttlmap::HashMap::new();
/// {
///     let s = String::from("a short-lived key");
///     let short: &ttlmap::HashMap<&str, u8> = &map; // error: `map` is invariant
///     short.pin().insert(s.as_str(), 1);
/// }
/// ```
pub struct HashMap<K, V, S = DefaultHashBuilder> {
    pub(crate) raw: RawMap<K, V>,
    pub(crate) hasher: S,
    pub(crate) clock: Clock,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) collector: Collector,
    pub(crate) loads: loader::Loads<K>,
}

impl<K, V, S> Drop for HashMap<K, V, S> {
    fn drop(&mut self) {
        // Every node still linked, then every pending destructor; a panicking key or
        // value destructor among them surfaces once all of them ran (`reclaim::panics`).
        self.raw.free_all();
        self.collector.shutdown();
        reclaim::resume();
    }
}

// SAFETY: the map owns its keys and values (moving it moves them: `K, V: Send`); the
// collector and directory are plain owned memory.
unsafe impl<K: Send, V: Send, S: Send> Send for HashMap<K, V, S> {}
// SAFETY: through `&HashMap` many threads read keys and values (`Sync`), and retired ones
// are dropped by whichever thread collects (`Send`); all shared mutation is atomic.
unsafe impl<K: Send + Sync, V: Send + Sync, S: Sync> Sync for HashMap<K, V, S> {}

impl<K, V> HashMap<K, V> {
    /// An empty map with the default hasher and no default TTL.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u32, u32> = ttlmap::HashMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> HashMap<K, V> {
        HashMap::builder().build()
    }

    /// An empty map sized for about `capacity` entries (a hint; clamped if huge).
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u32, u32> = ttlmap::HashMap::with_capacity(10_000);
    /// assert!(map.is_empty());
    /// ```
    pub fn with_capacity(capacity: usize) -> HashMap<K, V> {
        HashMap::builder().capacity(capacity).build()
    }

    /// A builder for a map with a default TTL, a capacity hint, a hasher or a clock.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u32, u32> = ttlmap::HashMap::builder().capacity(16).build();
    /// assert!(map.is_empty());
    /// ```
    pub fn builder() -> HashMapBuilder<K, V> {
        HashMapBuilder {
            capacity: 0,
            hasher: DefaultHashBuilder::default(),
            default_ttl: None,
            clock: Clock::system(),
            cache: Default::default(),
            _marker: PhantomData,
        }
    }
}

impl<K, V, S: Default> Default for HashMap<K, V, S> {
    fn default() -> HashMap<K, V, S> {
        HashMap::with_hasher(S::default())
    }
}

impl<K, V, S> HashMap<K, V, S> {
    /// An empty map with the given hasher.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8, _> =
    ///     ttlmap::HashMap::with_hasher(std::hash::RandomState::new());
    /// map.pin().insert(1, 2);
    /// ```
    pub fn with_hasher(hasher: S) -> HashMap<K, V, S> {
        HashMap::with_capacity_and_hasher(0, hasher)
    }

    /// An empty map with a capacity hint and the given hasher.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8, _> =
    ///     ttlmap::HashMap::with_capacity_and_hasher(64, std::hash::RandomState::new());
    /// assert!(map.is_empty());
    /// ```
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> HashMap<K, V, S> {
        HashMap::builder().capacity(capacity).hasher(hasher).build()
    }

    /// Pins the current thread, returning a handle for any number of operations.
    ///
    /// While a handle lives, nothing it could have read is freed: hold handles briefly
    /// (see the crate docs on reclamation).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, "one");
    /// assert_eq!(m.get(&1), Some(&"one"));
    /// ```
    #[inline]
    pub fn pin(&self) -> HashMapRef<'_, K, V, S, LocalGuard<'_>> {
        HashMapRef {
            map: self,
            guard: LocalGuard::new(&self.collector),
        }
    }

    /// Like [`pin`](HashMap::pin), but the handle is `Send`: it may be held across an
    /// `.await` or moved to another thread. Costs an allocation.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// std::thread::scope(|s| {
    ///     let m = map.pin_owned();
    ///     s.spawn(move || {
    ///         m.insert(1, 2);
    ///     });
    /// });
    /// assert_eq!(map.pin().get(&1), Some(&2));
    /// ```
    pub fn pin_owned(&self) -> HashMapRef<'_, K, V, S, OwnedGuard<'_>> {
        HashMapRef {
            map: self,
            guard: OwnedGuard::new(&self.collector),
        }
    }

    /// A guard for the guard-based methods (`map.get(&k, &guard)`): while it lives,
    /// nothing it could have read is freed. Not `Send`; see [`HashMap::owned_guard`].
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert('A', 1, &guard);
    /// assert_eq!(map.get(&'A', &guard), Some(&1));
    /// ```
    #[inline]
    pub fn guard(&self) -> LocalGuard<'_> {
        LocalGuard::new(&self.collector)
    }

    /// Like [`guard`](HashMap::guard), but `Send` (not `Sync`): it may be held across an
    /// `.await` or moved to another thread. Costs an allocation.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.owned_guard();
    /// let m = &map;
    /// std::thread::scope(|s| {
    ///     s.spawn(move || assert_eq!(m.insert(1, 2, &guard), None));
    /// });
    /// assert_eq!(map.pin().get(&1), Some(&2));
    /// ```
    pub fn owned_guard(&self) -> OwnedGuard<'_> {
        OwnedGuard::new(&self.collector)
    }

    /// The number of entries inserted and not yet removed, evicted or reclaimed after
    /// their expiry: an upper bound on the live entries, as it also counts entries that
    /// expired but were not swept yet.
    ///
    /// Approximate while other threads write: it sums per-thread counts, read one after
    /// the other. A map with a [`max_capacity`](HashMapBuilder::max_capacity) and no
    /// weigher counts in one word instead, so its `len()` exceeds the capacity by at most
    /// one entry per insert still running (the same bound as
    /// [`weighted_size`](HashMap::weighted_size)).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// map.pin().insert(1, 1);
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// The per-thread shards' count of entries, which drives growth on every map and is
    /// [`len`](HashMap::len) on every map but a bounded one without a weigher (for tests:
    /// at rest the two agree).
    #[doc(hidden)]
    pub fn counted_len(&self) -> usize {
        self.raw.counted_len()
    }

    /// Whether [`len`](HashMap::len) is zero.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map's clock.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::new();
    /// assert!(map.clock().granularity() < std::time::Duration::from_secs(1));
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The map's hasher.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::new();
    /// let _hasher = map.hasher();
    /// ```
    pub fn hasher(&self) -> &S {
        &self.hasher
    }

    /// Unlinks every entry expired at the time of the call, returning how many, and
    /// frees their memory as it goes.
    ///
    /// Unlike [`HashMapRef::purge_expired`], which holds its handle's pin throughout (so
    /// nothing it unlinks can be freed before the handle is dropped), this pins one
    /// stretch of the table at a time and then drives the collector, so the memory
    /// comes back by the time it returns — unless another thread holds a pinned handle,
    /// which delays it until that handle is dropped.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let clock = ttlmap::ManualClock::new();
    /// let map = ttlmap::HashMap::builder().clock(clock.clone()).build();
    /// for i in 0..1000 {
    ///     map.pin().insert_with_ttl(i, i, Duration::from_secs(1));
    /// }
    /// clock.advance(Duration::from_secs(1));
    /// let purged = map.purge_expired();
    /// assert!(purged <= 1000); // ordinary writes may have swept some already
    /// assert!(map.is_empty());
    /// ```
    pub fn purge_expired(&self) -> usize {
        /// Buckets swept under one pin.
        const CHUNK: usize = 256;
        let size = self.raw.buckets();
        let mut now = Now::new(&self.clock);
        now.get(); // One clock reading for the whole purge.
        let id = self.raw.begin_purge();
        let (mut removed, mut earliest) = (0, NEVER);
        for first in (0..size).step_by(CHUNK) {
            let guard = self.collector.pin();
            // After the guard: delivered before the guard goes.
            let _events = self.events();
            for b in first..(first + CHUNK).min(size) {
                let swept = self.raw.sweep_bucket(b, size, &mut now, guard.protect());
                removed += swept.removed;
                earliest = earliest.min(swept.earliest);
            }
            // Dropping the guard drives reclamation once enough was retired.
        }
        self.raw.end_purge(id, earliest);
        // What is left over from the last chunks goes now.
        self.collector.pin().reclaim_on_drop();
        removed
    }

    /// Gives back the memory the map holds beyond its entries: runs every pending
    /// destructor of removed entries and values, and shrinks the bucket directory to the
    /// current length (the map otherwise never shrinks it).
    ///
    /// It takes `&mut self`, so no thread may use the map meanwhile; it costs one walk
    /// over the map. Entries that expired but were not purged yet still count: call
    /// [`HashMap::purge_expired`] first to drop them.
    ///
    /// # Examples
    /// ```
    /// let mut map = ttlmap::HashMap::new();
    /// for i in 0..10_000 {
    ///     map.pin().insert(i, i);
    /// }
    /// map.pin().retain(|k, _| *k < 10);
    /// map.shrink_to_fit();
    /// assert_eq!(map.len(), 10);
    /// assert_eq!(map.pin().get(&3), Some(&3));
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.raw.shrink_to_fit();
        // No guard of this map exists (`&mut self`): shutting the collector down runs all
        // of its pending destructors at once.
        self.collector.shutdown();
        self.collector = Collector::new(raw::free_batch::<K, V>);
        reclaim::resume();
    }

    /// Whether writes currently sweep for expired entries: the clock has reached the
    /// earliest deadline the map may still hold (diagnostics and tests).
    #[doc(hidden)]
    pub fn sweeping(&self) -> bool {
        self.raw.may_have_expired(&mut Now::new(&self.clock))
    }

    /// The current number of buckets (diagnostics).
    #[doc(hidden)]
    pub fn bucket_count(&self) -> usize {
        self.raw.buckets()
    }
}
