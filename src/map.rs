//! The safe public API: [`HashMap`], its pinned handle [`HashMapRef`], and the builder.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::time::Duration;

use crate::clock::{Clock, Expiry, NEVER};
use crate::raw::{self, Inserted, Now, OwnedCell, Policy, RawMap};
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
pub struct HashMap<K, V, S = DefaultHashBuilder> {
    raw: RawMap<K, V>,
    hasher: S,
    clock: Clock,
    default_ttl: Option<Duration>,
    collector: Collector,
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
    capacity: usize,
    hasher: S,
    default_ttl: Option<Duration>,
    clock: Clock,
    _marker: PhantomData<fn() -> (K, V)>,
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

    /// The TTL given to entries written by plain [`insert`](HashMapRef::insert) and
    /// friends (everything but [`insert_with_ttl`](HashMapRef::insert_with_ttl)).
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
            guard: LocalGuard {
                inner: self.collector.pin(),
            },
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
            guard: OwnedGuard {
                inner: self.collector.pin_owned(),
            },
        }
    }

    /// The number of entries not yet unlinked: an upper bound on the live entries, as it
    /// also counts entries that expired but were not swept yet. Approximate while other
    /// threads write.
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
            for b in first..(first + CHUNK).min(size) {
                let swept = self.raw.sweep_bucket(b, size, &mut now, &guard);
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

/// A guard of [`HashMap::pin`]: keeps what the handle reads alive. Not `Send`.
pub struct LocalGuard<'map> {
    inner: reclaim::Guard<'map>,
}

/// A guard of [`HashMap::pin_owned`]: like [`LocalGuard`], but `Send`.
pub struct OwnedGuard<'map> {
    inner: reclaim::OwnedGuard<'map>,
}

mod sealed {
    /// The guard a handle operates under. Public in a private module, so that the
    /// crate's reclamation types stay out of the public API.
    pub trait Sealed {
        #[doc(hidden)]
        fn raw_guard(&self) -> &crate::reclaim::Guard<'_>;
    }
}

/// The guards a [`HashMapRef`] can hold. Sealed.
pub trait Guard: sealed::Sealed {}

impl sealed::Sealed for LocalGuard<'_> {
    #[inline]
    fn raw_guard(&self) -> &reclaim::Guard<'_> {
        &self.inner
    }
}

impl sealed::Sealed for OwnedGuard<'_> {
    #[inline]
    fn raw_guard(&self) -> &reclaim::Guard<'_> {
        &self.inner
    }
}

impl Guard for LocalGuard<'_> {}
impl Guard for OwnedGuard<'_> {}

impl fmt::Debug for LocalGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalGuard")
    }
}

impl fmt::Debug for OwnedGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnedGuard")
    }
}

/// A pinned handle to a [`HashMap`]: every operation goes through it.
///
/// ```compile_fail
/// // A reference cannot outlive the handle it came from.
/// let map = ttlmap::HashMap::new();
/// let v = {
///     let m = map.pin();
///     m.insert(1, 1);
///     m.get(&1).unwrap()
/// };
/// println!("{v}");
/// ```
///
/// ```compile_fail
/// // A `pin()` handle is not `Send` (use `pin_owned`).
/// fn assert_send<T: Send>(_: T) {}
/// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::new();
/// assert_send(map.pin());
/// ```
pub struct HashMapRef<'map, K, V, S, G> {
    map: &'map HashMap<K, V, S>,
    guard: G,
}

impl<K, V, S, G> fmt::Debug for HashMapRef<'_, K, V, S, G>
where
    K: fmt::Debug,
    V: fmt::Debug,
    G: Guard,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The error of [`HashMapRef::try_insert`] when the key holds a live value.
#[derive(Debug, PartialEq, Eq)]
pub struct OccupiedError<'a, V: 'a> {
    /// The value in the map.
    pub current: &'a V,
    /// The value that was not inserted.
    pub not_inserted: V,
}

/// What [`HashMapRef::compute`]'s closure asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Operation<V, T> {
    /// Insert (or replace with) this value.
    Insert(V),
    /// Remove the entry. Panics if the entry is absent (as papaya does).
    Remove,
    /// Do nothing and return this.
    Abort(T),
}

/// The result of [`HashMapRef::compute`].
#[derive(Debug, PartialEq, Eq)]
pub enum Compute<'g, K, V, T> {
    /// A new entry was inserted.
    Inserted(&'g K, &'g V),
    /// The entry's value was replaced.
    Updated {
        /// The entry before.
        old: (&'g K, &'g V),
        /// The entry after.
        new: (&'g K, &'g V),
    },
    /// The entry was removed.
    Removed(&'g K, &'g V),
    /// The closure aborted with this value.
    Aborted(T),
}

impl<'map, K, V, S, G> HashMapRef<'map, K, V, S, G>
where
    G: Guard,
{
    /// The map this handle pins.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::new();
    /// assert!(std::ptr::eq(map.pin().map(), &map));
    /// ```
    pub fn map(&self) -> &'map HashMap<K, V, S> {
        self.map
    }

    #[inline]
    fn g(&self) -> &reclaim::Guard<'_> {
        sealed::Sealed::raw_guard(&self.guard)
    }

    #[inline]
    fn now(&self) -> Now<'map> {
        Now::new(&self.map.clock)
    }

    /// An identifier of the reclamation registration this handle is pinned with (for
    /// diagnostics and tests: two handles alive on different threads never share one).
    #[doc(hidden)]
    pub fn registration_id(&self) -> usize {
        self.g().registration()
    }

    /// See [`HashMap::len`].
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert('a', 1);
    /// assert_eq!(m.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// See [`HashMap::is_empty`].
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::new();
    /// assert!(map.pin().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A weakly consistent iterator over the live entries: every entry live for the
    /// whole iteration is seen exactly once; entries inserted or removed meanwhile may
    /// or may not be; expired entries are skipped.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 10);
    /// m.insert(2, 20);
    /// let mut all: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
    /// all.sort();
    /// assert_eq!(all, [(1, 10), (2, 20)]);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            raw: self.map.raw.iter(&self.map.clock, self.g()),
        }
    }

    /// The keys of [`iter`](HashMapRef::iter).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// map.pin().insert("k", 1);
    /// assert_eq!(map.pin().keys().collect::<Vec<_>>(), [&"k"]);
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V> {
        Keys { iter: self.iter() }
    }

    /// The values of [`iter`](HashMapRef::iter).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// map.pin().insert("k", 1);
    /// assert_eq!(map.pin().values().collect::<Vec<_>>(), [&1]);
    /// ```
    pub fn values(&self) -> Values<'_, K, V> {
        Values { iter: self.iter() }
    }

    /// Removes every entry.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 1);
    /// m.clear();
    /// assert!(m.is_empty());
    /// ```
    pub fn clear(&self) {
        self.map.raw.clear(&mut self.now(), self.g());
    }

    /// Keeps only the live entries for which `f` returns `true`. Expired entries are not
    /// shown to `f` (they are absent already). `f` may see an entry twice if the entry
    /// changes while `f` decides (a concurrent refresh that makes it expire, or a write
    /// that replaces it). If `f` panics, the entries it already rejected stay removed and
    /// the rest stay in place.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// for i in 0..10 { m.insert(i, i); }
    /// m.retain(|_, v| v % 2 == 0);
    /// assert_eq!(m.len(), 5);
    /// ```
    pub fn retain<F>(&self, mut f: F)
    where
        F: FnMut(&K, &V) -> bool,
    {
        self.map.raw.retain_raw(
            &mut self.now(),
            |node, cell, live| !live || f(&node.key, &cell.value),
            self.g(),
        );
    }

    /// Unlinks every entry expired at the time of the call, returning how many. Their
    /// memory is freed once no pinned handle can still read them — this one included,
    /// so it comes back only after this handle is dropped: prefer
    /// [`HashMap::purge_expired`], which frees as it goes.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let clock = ttlmap::ManualClock::new();
    /// let map = ttlmap::HashMap::builder().clock(clock.clone()).build();
    /// let m = map.pin();
    /// m.insert_with_ttl(1, 1, Duration::from_secs(1));
    /// m.insert(2, 2);
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(m.len(), 2); // expired, not yet unlinked
    /// assert_eq!(m.purge_expired(), 1);
    /// assert_eq!(m.len(), 1);
    /// ```
    pub fn purge_expired(&self) -> usize {
        self.map.raw.purge_expired(&mut self.now(), self.g())
    }
}

impl<'map, K, V, S, G> HashMapRef<'map, K, V, S, G>
where
    K: Hash + Eq,
    S: BuildHasher,
    G: Guard,
{
    #[inline]
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.map.hasher.hash_one(key)
    }

    /// The live entry of `key`: its node and current cell.
    #[inline]
    fn lookup<Q>(&self, key: &Q, now: &mut Now<'_>) -> Option<(&raw::Node<K, V>, &raw::Cell<V>)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map
            .raw
            .get(self.hash(key), key, now, self.g())
            .map(|(node, cell, _)| (node, cell))
    }

    /// The deadline for an entry written now with `ttl` (or none).
    #[inline]
    fn deadline(&self, ttl: Option<Duration>) -> u64 {
        match ttl {
            None => NEVER,
            Some(ttl) => self.map.clock.deadline_after(ttl),
        }
    }

    /// The value of `key`, if present and not expired.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// map.pin().insert(String::from("a"), 1);
    /// assert_eq!(map.pin().get("a"), Some(&1));
    /// assert_eq!(map.pin().get("b"), None);
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(key, &mut self.now()).map(|(_, c)| &c.value)
    }

    /// The stored key and value of `key`, if present and not expired.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// map.pin().insert(1, 'x');
    /// assert_eq!(map.pin().get_key_value(&1), Some((&1, &'x')));
    /// ```
    #[inline]
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(key, &mut self.now())
            .map(|(n, c)| (&n.key, &c.value))
    }

    /// Whether `key` is present and not expired.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// map.pin().insert(1, ());
    /// assert!(map.pin().contains_key(&1));
    /// ```
    #[inline]
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    fn insert_deadline(&self, key: K, value: V, deadline: u64, now: &mut Now<'_>) -> Option<&V> {
        let hash = self.hash(&key);
        let cell = OwnedCell::new(value, deadline);
        match self
            .map
            .raw
            .insert(hash, key, cell, Policy::Replace, now, self.g())
        {
            Inserted::New(..) => None,
            Inserted::Replaced { old, .. } => old.map(|c| &c.value),
            Inserted::Occupied { .. } => unreachable!("Policy::Replace never reports Occupied"),
        }
    }

    /// Inserts `key` → `value` with the map's default TTL (none unless the builder set
    /// one), returning the previous *live* value.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.insert(1, "a"), None);
    /// assert_eq!(m.insert(1, "b"), Some(&"a"));
    /// ```
    #[inline]
    pub fn insert(&self, key: K, value: V) -> Option<&V> {
        let mut now = self.now();
        let deadline = self.deadline(self.map.default_ttl);
        self.insert_deadline(key, value, deadline, &mut now)
    }

    /// Inserts `key` → `value` expiring after `ttl`, returning the previous live value.
    /// `Duration::ZERO` inserts an already expired entry; a TTL too large to represent
    /// (up to `Duration::MAX`) means "never".
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert_with_ttl("token", 1, Duration::from_secs(60));
    /// assert_eq!(m.get("token"), Some(&1));
    /// m.insert_with_ttl("gone", 2, Duration::ZERO);
    /// assert_eq!(m.get("gone"), None);
    /// ```
    #[inline]
    pub fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) -> Option<&V> {
        let mut now = self.now();
        let deadline = self.deadline(Some(ttl));
        self.insert_deadline(key, value, deadline, &mut now)
    }

    /// Inserts only if `key` has no live value; otherwise gives `value` back with the
    /// current one.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.try_insert(1, "a"), Ok(&"a"));
    /// let err = m.try_insert(1, "b").unwrap_err();
    /// assert_eq!((err.current, err.not_inserted), (&"a", "b"));
    /// ```
    pub fn try_insert(&self, key: K, value: V) -> Result<&V, OccupiedError<'_, V>> {
        let mut now = self.now();
        let deadline = self.deadline(self.map.default_ttl);
        match self.insert_if_vacant(key, OwnedCell::new(value, deadline), &mut now) {
            Ok(v) => Ok(v),
            Err((current, _key, cell)) => Err(OccupiedError {
                current,
                not_inserted: cell.into_value(),
            }),
        }
    }

    /// Inserts `cell` if `key` has no live value; else the current value and ours back.
    #[allow(clippy::type_complexity)]
    fn insert_if_vacant(
        &self,
        key: K,
        cell: OwnedCell<V>,
        now: &mut Now<'_>,
    ) -> Result<&V, (&V, K, OwnedCell<V>)> {
        let hash = self.hash(&key);
        match self
            .map
            .raw
            .insert(hash, key, cell, Policy::IfVacant, now, self.g())
        {
            Inserted::New(_, c) | Inserted::Replaced { new: c, .. } => Ok(&c.value),
            Inserted::Occupied {
                current, key, cell, ..
            } => Err((&current.value, key, cell)),
        }
    }

    /// The live value of `key`, inserting `value` if there is none. Of racing callers
    /// exactly one inserts, and all of them get its value.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.get_or_insert(1, "a"), &"a");
    /// assert_eq!(m.get_or_insert(1, "b"), &"a");
    /// ```
    pub fn get_or_insert(&self, key: K, value: V) -> &V {
        match self.try_insert(key, value) {
            Ok(v) => v,
            Err(e) => e.current,
        }
    }

    /// Like [`get_or_insert`](HashMapRef::get_or_insert), computing the value only if
    /// the key is vacant. If `f` panics the map is unchanged.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.get_or_insert_with(1, || "a"), &"a");
    /// assert_eq!(m.get_or_insert_with(1, || unreachable!()), &"a");
    /// ```
    pub fn get_or_insert_with<F>(&self, key: K, f: F) -> &V
    where
        F: FnOnce() -> V,
    {
        let mut now = self.now();
        if let Some((_, c)) = self.lookup(&key, &mut now) {
            return &c.value;
        }
        let deadline = self.deadline(self.map.default_ttl);
        match self.insert_if_vacant(key, OwnedCell::new(f(), deadline), &mut now) {
            Ok(v) | Err((v, _, _)) => v,
        }
    }

    /// Replaces the live value of `key` with `f(&old)`, atomically: concurrent updates
    /// are never lost (`f` may run more than once). Keeps the entry's deadline. Returns
    /// the new value, or `None` if the key is absent or expired.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert("hits", 1);
    /// assert_eq!(m.update("hits", |v| v + 1), Some(&2));
    /// assert_eq!(m.update("misses", |v| v + 1), None);
    /// ```
    pub fn update<F>(&self, key: K, f: F) -> Option<&V>
    where
        F: Fn(&V) -> V,
    {
        let mut now = self.now();
        self.update_live(&key, &f, &mut now)
    }

    /// One atomic `update` of the live value of `key`, or `None` if there is none.
    fn update_live<F>(&self, key: &K, f: &F, now: &mut Now<'_>) -> Option<&V>
    where
        F: Fn(&V) -> V,
    {
        loop {
            let (node, cell) = self.lookup(key, now)?;
            let value = f(&cell.value);
            if let Ok(new) = self.map.raw.replace_value(node, cell, value, now, self.g()) {
                return Some(&new.value);
            }
        }
    }

    /// Updates the live value of `key` with `update`, or inserts `value` if there is
    /// none.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.update_or_insert('a', |v| v + 1, 0), &0);
    /// assert_eq!(m.update_or_insert('a', |v| v + 1, 0), &1);
    /// ```
    pub fn update_or_insert<F>(&self, key: K, update: F, value: V) -> &V
    where
        F: Fn(&V) -> V,
    {
        self.update_or_insert_with(key, update, || value)
    }

    /// Updates the live value of `key` with `update`, or inserts `f()` if there is none
    /// (`f` runs at most once).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.update_or_insert_with('a', |v| v + 1, || 10), &10);
    /// assert_eq!(m.update_or_insert_with('a', |v| v + 1, || 10), &11);
    /// ```
    pub fn update_or_insert_with<U, F>(&self, key: K, update: U, f: F) -> &V
    where
        F: FnOnce() -> V,
        U: Fn(&V) -> V,
    {
        let mut now = self.now();
        let mut key = key;
        let mut init = Some(f);
        let mut cell: Option<OwnedCell<V>> = None;
        loop {
            if let Some(v) = self.update_live(&key, &update, &mut now) {
                return v;
            }
            let c = match cell.take() {
                Some(c) => c,
                None => {
                    let f = init.take().expect("the initialiser runs once");
                    let deadline = self.deadline(self.map.default_ttl);
                    OwnedCell::new(f(), deadline)
                }
            };
            match self.insert_if_vacant(key, c, &mut now) {
                Ok(v) => return v,
                Err((_, k, c)) => {
                    key = k;
                    cell = Some(c);
                }
            }
        }
    }

    /// A general atomic read-modify-write, as papaya's: `f` sees the live entry (or
    /// `None`) and returns what to do; if the entry changed meanwhile, `f` runs again.
    /// Returning [`Operation::Remove`] for an absent entry panics, as in papaya (the map
    /// is left unchanged). A replaced value keeps the entry's deadline; an inserted one
    /// gets the default TTL.
    ///
    /// # Examples
    /// ```
    /// use ttlmap::{Compute, Operation};
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// let bump = |e: Option<(&char, &u32)>| match e {
    ///     Some((_, v)) if *v >= 2 => Operation::Remove,
    ///     Some((_, v)) => Operation::Insert(v + 1),
    ///     None => Operation::Abort("absent"),
    /// };
    /// assert_eq!(m.compute('a', bump), Compute::Aborted("absent"));
    /// m.insert('a', 1);
    /// assert_eq!(m.compute('a', bump), Compute::Updated { old: (&'a', &1), new: (&'a', &2) });
    /// assert_eq!(m.compute('a', bump), Compute::Removed(&'a', &2));
    /// ```
    pub fn compute<'g, F, T>(&'g self, key: K, mut f: F) -> Compute<'g, K, V, T>
    where
        F: FnMut(Option<(&'g K, &'g V)>) -> Operation<V, T>,
    {
        let mut now = self.now();
        let hash = self.hash(&key);
        let raw = &self.map.raw;
        let mut key = key;
        loop {
            match self.lookup(&key, &mut now) {
                Some((node, cell)) => match f(Some((&node.key, &cell.value))) {
                    Operation::Insert(v) => {
                        if let Ok(new) = raw.replace_value(node, cell, v, &mut now, self.g()) {
                            return Compute::Updated {
                                old: (&node.key, &cell.value),
                                new: (&node.key, &new.value),
                            };
                        }
                    }
                    Operation::Remove => {
                        if raw.remove_cell(node, cell, |d| now.live(d), self.g()) {
                            raw.sweep_step(&mut now, self.g());
                            return Compute::Removed(&node.key, &cell.value);
                        }
                    }
                    Operation::Abort(t) => return Compute::Aborted(t),
                },
                None => match f(None) {
                    Operation::Insert(v) => {
                        let deadline = self.deadline(self.map.default_ttl);
                        let cell = OwnedCell::new(v, deadline);
                        match raw.insert(hash, key, cell, Policy::IfVacant, &mut now, self.g()) {
                            Inserted::New(n, c)
                            | Inserted::Replaced {
                                node: n, new: c, ..
                            } => return Compute::Inserted(&n.key, &c.value),
                            Inserted::Occupied { key: k, .. } => key = k,
                        }
                    }
                    Operation::Remove => panic!("Cannot remove `None` entry."),
                    Operation::Abort(t) => return Compute::Aborted(t),
                },
            }
        }
    }

    /// Removes `key`, returning its live value (an expired entry counts as absent).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// map.pin().insert(1, "a");
    /// assert_eq!(map.pin().remove(&1), Some(&"a"));
    /// assert_eq!(map.pin().remove(&1), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key`, returning its stored key and live value.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// map.pin().insert(1, "a");
    /// assert_eq!(map.pin().remove_entry(&1), Some((&1, &"a")));
    /// ```
    pub fn remove_entry<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.remove_if(key, |_, _| true) {
            Ok(removed) => removed,
            Err(_) => unreachable!("the predicate always agrees"),
        }
    }

    /// Removes `key` if `f` approves its live entry: `Ok(Some(entry))` if removed,
    /// `Ok(None)` if absent, `Err(entry)` if `f` said no. `f` may run more than once.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 10);
    /// assert_eq!(m.remove_if(&1, |_, v| *v > 100), Err((&1, &10)));
    /// assert_eq!(m.remove_if(&1, |_, v| *v == 10), Ok(Some((&1, &10))));
    /// assert_eq!(m.remove_if(&1, |_, _| true), Ok(None));
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn remove_if<Q, F>(&self, key: &Q, mut f: F) -> Result<Option<(&K, &V)>, (&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&K, &V) -> bool,
    {
        let mut now = self.now();
        loop {
            let Some((node, cell)) = self.lookup(key, &mut now) else {
                return Ok(None);
            };
            if !f(&node.key, &cell.value) {
                return Err((&node.key, &cell.value));
            }
            if self
                .map
                .raw
                .remove_cell(node, cell, |d| now.live(d), self.g())
            {
                self.map.raw.sweep_step(&mut now, self.g());
                return Ok(Some((&node.key, &cell.value)));
            }
        }
    }

    /// The remaining lifetime of `key`: `None` if absent or expired.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ttlmap::{Expiry, HashMap, ManualClock};
    /// let clock = ManualClock::new();
    /// let map = HashMap::builder().clock(clock.clone()).build();
    /// let m = map.pin();
    /// m.insert(1, 1);
    /// m.insert_with_ttl(2, 2, Duration::from_secs(10));
    /// clock.advance(Duration::from_secs(4));
    /// assert_eq!(m.ttl(&1), Some(Expiry::Never));
    /// assert_eq!(m.ttl(&2), Some(Expiry::In(Duration::from_secs(6))));
    /// assert_eq!(m.ttl(&3), None);
    /// ```
    pub fn ttl<Q>(&self, key: &Q) -> Option<Expiry>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // One reading of the precise clock decides liveness and the time left, so `ttl`
        // never reports more than the TTL that was set (the coarse clock lags), and
        // never `In(0)` for an entry it calls live. (It may call an entry expired up to
        // the coarse clock's lag before `get` stops returning it.)
        let mut now = Now::precise(&self.map.clock);
        let (_, _, d) = self.map.raw.get(self.hash(key), key, &mut now, self.g())?;
        Some(match d {
            NEVER => Expiry::Never,
            d => Expiry::In(Duration::from_nanos(d - now.get())),
        })
    }

    /// Sets the TTL of the live entry `key` to `ttl` from now; `false` if absent or
    /// expired. Races with expiry are decided on one word: a refresh that returns `true`
    /// is never lost to a concurrent sweep.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 1);
    /// assert!(m.set_ttl(&1, Duration::from_secs(30)));
    /// assert!(!m.set_ttl(&2, Duration::from_secs(30)));
    /// ```
    pub fn set_ttl<Q>(&self, key: &Q, ttl: Duration) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut now = self.now();
        let deadline = self.deadline(Some(ttl));
        self.map
            .raw
            .set_deadline(self.hash(key), key, deadline, &mut now, self.g())
    }

    /// Removes the deadline of the live entry `key`; `false` if absent or expired.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert_with_ttl(1, 1, Duration::from_secs(5));
    /// assert!(m.persist(&1));
    /// assert_eq!(m.ttl(&1), Some(ttlmap::Expiry::Never));
    /// ```
    pub fn persist<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut now = self.now();
        self.map
            .raw
            .set_deadline(self.hash(key), key, NEVER, &mut now, self.g())
    }
}

impl<'a, K, V, S, G: Guard> IntoIterator for &'a HashMapRef<'_, K, V, S, G> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

/// Iterator over the live entries of a map; see [`HashMapRef::iter`].
pub struct Iter<'g, K, V> {
    raw: raw::Iter<'g, K, V>,
}

impl<'g, K, V> Iterator for Iter<'g, K, V> {
    type Item = (&'g K, &'g V);

    #[inline]
    fn next(&mut self) -> Option<(&'g K, &'g V)> {
        self.raw.next().map(|(k, c, _)| (k, &c.value))
    }
}

impl<K, V> fmt::Debug for Iter<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Iter")
    }
}

/// Iterator over the keys of the live entries; see [`HashMapRef::keys`].
pub struct Keys<'g, K, V> {
    iter: Iter<'g, K, V>,
}

impl<'g, K, V> Iterator for Keys<'g, K, V> {
    type Item = &'g K;

    #[inline]
    fn next(&mut self) -> Option<&'g K> {
        self.iter.next().map(|(k, _)| k)
    }
}

impl<K, V> fmt::Debug for Keys<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys")
    }
}

/// Iterator over the values of the live entries; see [`HashMapRef::values`].
pub struct Values<'g, K, V> {
    iter: Iter<'g, K, V>,
}

impl<'g, K, V> Iterator for Values<'g, K, V> {
    type Item = &'g V;

    #[inline]
    fn next(&mut self) -> Option<&'g V> {
        self.iter.next().map(|(_, v)| v)
    }
}

impl<K, V> fmt::Debug for Values<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Values")
    }
}

// ----- std traits ------------------------------------------------------------------

impl<K, V, S> fmt::Debug for HashMap<K, V, S>
where
    K: fmt::Debug,
    V: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.pin().iter()).finish()
    }
}

impl<K, V, S> PartialEq for HashMap<K, V, S>
where
    K: Hash + Eq,
    V: PartialEq,
    S: BuildHasher,
{
    /// Equal when both hold the same live entries (deadlines are not compared).
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.pin(), other.pin());
        a.iter().count() == b.iter().count() && a.iter().all(|(k, v)| b.get(k) == Some(v))
    }
}

impl<K, V, S> Eq for HashMap<K, V, S>
where
    K: Hash + Eq,
    V: Eq,
    S: BuildHasher,
{
}

impl<K, V, S> Clone for HashMap<K, V, S>
where
    K: Clone + Hash + Eq,
    V: Clone,
    S: BuildHasher + Clone,
{
    /// A deep copy of the live entries, keeping each entry's deadline and sharing the
    /// clock.
    fn clone(&self) -> HashMap<K, V, S> {
        let other = HashMapBuilder {
            capacity: self.len(),
            hasher: self.hasher.clone(),
            default_ttl: self.default_ttl,
            clock: self.clock.clone(),
            _marker: PhantomData,
        }
        .build();
        {
            let (src, dst) = (self.pin(), other.pin());
            let mut now = dst.now();
            for (k, cell, deadline) in self.raw.iter(&self.clock, src.g()) {
                let (key, value) = (k.clone(), cell.value.clone());
                dst.insert_deadline(key, value, deadline, &mut now);
            }
        }
        other
    }
}

impl<K, V, S> Extend<(K, V)> for &HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    fn extend<T: IntoIterator<Item = (K, V)>>(&mut self, iter: T) {
        let m = self.pin();
        for (k, v) in iter {
            m.insert(k, v);
        }
    }
}

impl<'a, K, V, S> Extend<(&'a K, &'a V)> for &HashMap<K, V, S>
where
    K: Copy + Hash + Eq,
    V: Copy,
    S: BuildHasher,
{
    fn extend<T: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: T) {
        self.extend(iter.into_iter().map(|(&k, &v)| (k, v)));
    }
}

impl<K, V, S> FromIterator<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher + Default,
{
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let iter = iter.into_iter();
        let map = HashMap::with_capacity_and_hasher(iter.size_hint().0, S::default());
        (&map).extend(iter);
        map
    }
}

impl<K, V, const N: usize> From<[(K, V); N]> for HashMap<K, V>
where
    K: Hash + Eq,
{
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}
