//! [`HashSet`]: papaya's concurrent set, whose members may expire. A thin layer over
//! `HashMap<K, ()>`: every operation is the map's (`map/ops.rs`), so the set has the
//! map's guarantees (linearizable single-key operations, lazy expiry, sweeping,
//! reclamation) and no engine of its own.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use crate::clock::{Clock, Expiry};
use crate::map::{
    sealed, Cursor, DefaultHashBuilder, Guard, HashMap, HashMapBuilder, Iter, LocalGuard,
    OwnedGuard, Scan,
};
use crate::reclaim;

/// A lock-free concurrent hash set whose members may expire: papaya's `HashSet`, plus
/// TTLs ([`insert_with_ttl`](HashSetRef::insert_with_ttl), the builder's
/// [`default_ttl`](HashSetBuilder::default_ttl)) — a dedup window, a rate limiter, a
/// set of recently seen tokens.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// // Drop a message seen in the last ten minutes.
/// let seen: ttlmap::HashSet<u64> = ttlmap::HashSet::builder()
///     .default_ttl(Duration::from_secs(600))
///     .build();
/// let s = seen.pin();
/// assert!(s.insert(42)); // first time: process it
/// assert!(!s.insert(42)); // a duplicate (and the window restarts)
/// assert!(s.contains(&42));
/// ```
pub struct HashSet<K, S = DefaultHashBuilder> {
    map: HashMap<K, (), S>,
}

/// Builds a [`HashSet`] with a capacity hint, a hasher, a default TTL or a clock.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let set: ttlmap::HashSet<&str> = ttlmap::HashSet::builder()
///     .capacity(1_000)
///     .default_ttl(Duration::from_secs(60))
///     .build();
/// set.pin().insert("expires in a minute");
/// ```
pub struct HashSetBuilder<K, S = DefaultHashBuilder> {
    map: HashMapBuilder<K, (), S>,
}

impl<K> HashSetBuilder<K> {
    /// Sets the hasher.
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u8, std::hash::RandomState> =
    ///     ttlmap::HashSet::builder().hasher(std::hash::RandomState::new()).build();
    /// assert!(set.is_empty());
    /// ```
    pub fn hasher<S>(self, hasher: S) -> HashSetBuilder<K, S> {
        HashSetBuilder {
            map: self.map.hasher(hasher),
        }
    }
}

impl<K, S> HashSetBuilder<K, S> {
    /// A hint of how many members the set will hold (clamped if huge).
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u8> = ttlmap::HashSet::builder().capacity(64).build();
    /// assert!(set.is_empty());
    /// ```
    pub fn capacity(self, capacity: usize) -> Self {
        HashSetBuilder {
            map: self.map.capacity(capacity),
        }
    }

    /// The TTL of members added by plain [`insert`](HashSetRef::insert).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let set = ttlmap::HashSet::builder().default_ttl(Duration::from_secs(5)).build();
    /// set.pin().insert(1);
    /// assert!(matches!(set.pin().ttl(&1), Some(ttlmap::Expiry::In(_))));
    /// ```
    pub fn default_ttl(self, ttl: Duration) -> Self {
        HashSetBuilder {
            map: self.map.default_ttl(ttl),
        }
    }

    /// The clock expiry is decided with; [`Clock::system`] by default.
    ///
    /// # Examples
    /// ```
    /// let clock = ttlmap::ManualClock::new();
    /// let set: ttlmap::HashSet<u8> = ttlmap::HashSet::builder().clock(clock).build();
    /// assert_eq!(set.clock().granularity(), std::time::Duration::ZERO);
    /// ```
    pub fn clock(self, clock: impl Into<Clock>) -> Self {
        HashSetBuilder {
            map: self.map.clock(clock),
        }
    }

    /// Builds the set.
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u8> = ttlmap::HashSet::builder().build();
    /// assert!(set.is_empty());
    /// ```
    pub fn build(self) -> HashSet<K, S> {
        HashSet {
            map: self.map.build(),
        }
    }
}

impl<K, S> fmt::Debug for HashSetBuilder<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HashSetBuilder").field(&self.map).finish()
    }
}

impl<K> HashSet<K> {
    /// An empty set with the default hasher and no default TTL.
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u32> = ttlmap::HashSet::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> HashSet<K> {
        HashSet::builder().build()
    }

    /// An empty set sized for about `capacity` members (a hint; clamped if huge).
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u32> = ttlmap::HashSet::with_capacity(100);
    /// assert!(set.is_empty());
    /// ```
    pub fn with_capacity(capacity: usize) -> HashSet<K> {
        HashSet::builder().capacity(capacity).build()
    }

    /// A builder for a set with a default TTL, a capacity hint, a hasher or a clock.
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u32> = ttlmap::HashSet::builder().capacity(16).build();
    /// assert!(set.is_empty());
    /// ```
    pub fn builder() -> HashSetBuilder<K> {
        HashSetBuilder {
            map: HashMap::builder(),
        }
    }
}

impl<K, S: Default> Default for HashSet<K, S> {
    fn default() -> HashSet<K, S> {
        HashSet::with_hasher(S::default())
    }
}

impl<K, S> HashSet<K, S> {
    /// An empty set with the given hasher.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::with_hasher(std::hash::RandomState::new());
    /// set.pin().insert(1);
    /// ```
    pub fn with_hasher(hasher: S) -> HashSet<K, S> {
        HashSet {
            map: HashMap::with_hasher(hasher),
        }
    }

    /// An empty set with a capacity hint and the given hasher.
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u8, _> =
    ///     ttlmap::HashSet::with_capacity_and_hasher(64, std::hash::RandomState::new());
    /// assert!(set.is_empty());
    /// ```
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> HashSet<K, S> {
        HashSet {
            map: HashMap::with_capacity_and_hasher(capacity, hasher),
        }
    }

    /// Pins the current thread, returning a handle for any number of operations; see
    /// [`HashMap::pin`].
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert("a");
    /// assert!(s.contains("a"));
    /// ```
    #[inline]
    pub fn pin(&self) -> HashSetRef<'_, K, S, LocalGuard<'_>> {
        HashSetRef {
            set: self,
            guard: self.map.guard(),
        }
    }

    /// Like [`pin`](HashSet::pin), but the handle is `Send`; see [`HashMap::pin_owned`].
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::new();
    /// std::thread::scope(|s| {
    ///     let h = set.pin_owned();
    ///     s.spawn(move || h.insert(1));
    /// });
    /// assert!(set.pin().contains(&1));
    /// ```
    pub fn pin_owned(&self) -> HashSetRef<'_, K, S, OwnedGuard<'_>> {
        HashSetRef {
            set: self,
            guard: self.map.owned_guard(),
        }
    }

    /// A guard for the guard-based methods; see [`HashMap::guard`].
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::new();
    /// let guard = set.guard();
    /// set.insert('a', &guard);
    /// assert_eq!(set.get(&'a', &guard), Some(&'a'));
    /// ```
    #[inline]
    pub fn guard(&self) -> LocalGuard<'_> {
        self.map.guard()
    }

    /// A `Send` guard; see [`HashMap::owned_guard`].
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::new();
    /// let guard = set.owned_guard();
    /// set.insert(1, &guard);
    /// assert!(set.contains(&1, &guard));
    /// ```
    pub fn owned_guard(&self) -> OwnedGuard<'_> {
        self.map.owned_guard()
    }

    /// The number of members inserted and not yet removed (it may count expired ones
    /// until they are swept); see [`HashMap::len`].
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1, 2]);
    /// assert_eq!(set.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether [`len`](HashSet::len) is zero.
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u8> = ttlmap::HashSet::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The set's clock.
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u8> = ttlmap::HashSet::new();
    /// assert!(set.clock().granularity() < std::time::Duration::from_secs(1));
    /// ```
    pub fn clock(&self) -> &Clock {
        self.map.clock()
    }

    /// The set's hasher.
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u8> = ttlmap::HashSet::new();
    /// let _hasher = set.hasher();
    /// ```
    pub fn hasher(&self) -> &S {
        self.map.hasher()
    }

    /// Unlinks every member expired at the time of the call and frees their memory as
    /// it goes; see [`HashMap::purge_expired`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let clock = ttlmap::ManualClock::new();
    /// let set = ttlmap::HashSet::builder().clock(clock.clone()).build();
    /// set.pin().insert_with_ttl("token", Duration::from_secs(1));
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(set.purge_expired(), 1);
    /// assert!(set.is_empty());
    /// ```
    pub fn purge_expired(&self) -> usize {
        self.map.purge_expired()
    }

    /// Gives back the memory the set holds beyond its members; see
    /// [`HashMap::shrink_to_fit`].
    ///
    /// # Examples
    /// ```
    /// let mut set: ttlmap::HashSet<u32> = (0..1000).collect();
    /// set.pin().retain(|k| *k < 10);
    /// set.shrink_to_fit();
    /// assert_eq!(set.len(), 10);
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.map.shrink_to_fit();
    }

    /// Removes every member.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1, 2]);
    /// set.clear(&set.guard());
    /// assert!(set.is_empty());
    /// ```
    pub fn clear(&self, guard: &impl Guard) {
        self.map.clear(guard);
    }

    /// Keeps only the live members for which `f` returns `true`.
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u32> = (0..10).collect();
    /// set.retain(|k| k % 2 == 0, &set.guard());
    /// assert_eq!(set.len(), 5);
    /// ```
    pub fn retain<F>(&self, mut f: F, guard: &impl Guard)
    where
        F: FnMut(&K) -> bool,
    {
        self.map.retain(|k, _| f(k), guard);
    }

    /// A weakly consistent iterator over the live members; see [`HashMap::iter`].
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1, 2]);
    /// let guard = set.guard();
    /// let mut all: Vec<_> = set.iter(&guard).copied().collect();
    /// all.sort();
    /// assert_eq!(all, [1, 2]);
    /// ```
    pub fn iter<'g, G: Guard>(&self, guard: &'g G) -> SetIter<'g, K, G> {
        SetIter {
            iter: self.map.iter(guard),
        }
    }

    /// A resumable scan from `cursor`; see [`HashMapRef::iter_from`](crate::HashMapRef::iter_from).
    ///
    /// # Examples
    /// ```
    /// use ttlmap::Cursor;
    /// let set = ttlmap::HashSet::from([1, 2, 3]);
    /// let guard = set.guard();
    /// let mut scan = set.iter_from(Cursor::START, &guard);
    /// let first: Vec<_> = scan.page(1).collect();
    /// let rest: Vec<_> = set.iter_from(scan.cursor(), &guard).collect();
    /// assert_eq!(first.len() + rest.len(), 3);
    /// ```
    pub fn iter_from<'g, G: Guard>(&self, cursor: Cursor, guard: &'g G) -> SetScan<'g, K, G> {
        SetScan {
            scan: self.map.iter_from(cursor, guard),
        }
    }
}

impl<K, S> HashSet<K, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Whether `key` is a live member.
    ///
    /// # Panics
    /// Every method taking a guard panics if the guard was made by another map or set.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1]);
    /// let guard = set.guard();
    /// assert!(set.contains(&1, &guard));
    /// assert!(!set.contains(&2, &guard));
    /// ```
    #[inline]
    pub fn contains<Q>(&self, key: &Q, guard: &impl Guard) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key, guard)
    }

    /// The stored member equal to `key`, if live.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([String::from("a")]);
    /// let guard = set.guard();
    /// assert_eq!(set.get("a", &guard).map(String::as_str), Some("a"));
    /// ```
    #[inline]
    pub fn get<'g, Q>(&self, key: &Q, guard: &'g impl Guard) -> Option<&'g K>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_key_value(key, guard).map(|(k, _)| k)
    }

    /// Adds `key` with the set's default TTL (none unless the builder set one): `true`
    /// if it was not a live member. Adding a live member again restarts its TTL (as the
    /// map's `insert` replaces the value and its deadline) and returns `false`.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::new();
    /// let guard = set.guard();
    /// assert!(set.insert(37, &guard));
    /// assert!(!set.insert(37, &guard));
    /// ```
    #[inline]
    pub fn insert(&self, key: K, guard: &impl Guard) -> bool {
        self.map.insert(key, (), guard).is_none()
    }

    /// Adds `key` expiring after `ttl`: `true` if it was not a live member. See
    /// [`HashMapRef::insert_with_ttl`](crate::HashMapRef::insert_with_ttl).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let set = ttlmap::HashSet::new();
    /// let guard = set.guard();
    /// assert!(set.insert_with_ttl("token", Duration::from_secs(60), &guard));
    /// assert!(set.contains("token", &guard));
    /// ```
    #[inline]
    pub fn insert_with_ttl(&self, key: K, ttl: Duration, guard: &impl Guard) -> bool {
        self.map.insert_with_ttl(key, (), ttl, guard).is_none()
    }

    /// Removes `key`: `true` if it was a live member.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1]);
    /// let guard = set.guard();
    /// assert!(set.remove(&1, &guard));
    /// assert!(!set.remove(&1, &guard));
    /// ```
    #[inline]
    pub fn remove<Q>(&self, key: &Q, guard: &impl Guard) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove_entry(key, guard).is_some()
    }

    /// A hint that does nothing; see [`HashMap::reserve`].
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u8> = ttlmap::HashSet::new();
    /// set.reserve(10, &set.guard());
    /// ```
    #[inline]
    pub fn reserve(&self, additional: usize, guard: &impl Guard) {
        self.map.reserve(additional, guard);
    }

    /// The remaining lifetime of `key`: `None` if not a live member.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1]);
    /// assert_eq!(set.ttl(&1, &set.guard()), Some(ttlmap::Expiry::Never));
    /// ```
    #[inline]
    pub fn ttl<Q>(&self, key: &Q, guard: &impl Guard) -> Option<Expiry>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.ttl(key, guard)
    }

    /// Sets the TTL of the live member `key` to `ttl` from now; `false` if it is not one.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let set = ttlmap::HashSet::from([1]);
    /// assert!(set.set_ttl(&1, Duration::from_secs(5), &set.guard()));
    /// ```
    #[inline]
    pub fn set_ttl<Q>(&self, key: &Q, ttl: Duration, guard: &impl Guard) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.set_ttl(key, ttl, guard)
    }

    /// Removes the deadline of the live member `key`; `false` if it is not one.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let set = ttlmap::HashSet::new();
    /// let guard = set.guard();
    /// set.insert_with_ttl(1, Duration::from_secs(5), &guard);
    /// assert!(set.persist(&1, &guard));
    /// assert_eq!(set.ttl(&1, &guard), Some(ttlmap::Expiry::Never));
    /// ```
    #[inline]
    pub fn persist<Q>(&self, key: &Q, guard: &impl Guard) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.persist(key, guard)
    }
}

/// A pinned handle to a [`HashSet`]: every operation goes through it.
///
/// ```compile_fail
/// // A member cannot outlive the handle it came from.
/// let set = ttlmap::HashSet::new();
/// let k = {
///     let s = set.pin();
///     s.insert(1);
///     s.get(&1).unwrap()
/// };
/// println!("{k}");
/// ```
pub struct HashSetRef<'set, K, S, G> {
    set: &'set HashSet<K, S>,
    guard: G,
}

impl<'set, K, S, G: Guard> HashSetRef<'set, K, S, G> {
    #[inline]
    fn g(&self) -> &reclaim::Guard<'_> {
        sealed::Sealed::raw_guard(&self.guard)
    }

    #[inline]
    fn map(&self) -> &'set HashMap<K, (), S> {
        &self.set.map
    }

    /// The set this handle pins.
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u8> = ttlmap::HashSet::new();
    /// assert!(std::ptr::eq(set.pin().set(), &set));
    /// ```
    pub fn set(&self) -> &'set HashSet<K, S> {
        self.set
    }

    /// See [`HashSet::len`].
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1]);
    /// assert_eq!(set.pin().len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// See [`HashSet::is_empty`].
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u8> = ttlmap::HashSet::new();
    /// assert!(set.pin().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Removes every member.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1]);
    /// set.pin().clear();
    /// assert!(set.is_empty());
    /// ```
    pub fn clear(&self) {
        self.map().clear_in(self.g());
    }

    /// Keeps only the live members for which `f` returns `true`.
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u32> = (0..10).collect();
    /// set.pin().retain(|k| *k < 3);
    /// assert_eq!(set.len(), 3);
    /// ```
    pub fn retain<F>(&self, mut f: F)
    where
        F: FnMut(&K) -> bool,
    {
        self.map().retain_in(|k, _| f(k), self.g());
    }

    /// A hint that does nothing; see [`HashMap::reserve`].
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u8> = ttlmap::HashSet::new();
    /// set.pin().reserve(10);
    /// ```
    pub fn reserve(&self, additional: usize) {
        let _ = additional;
    }

    /// A weakly consistent iterator over the live members.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from(['a']);
    /// assert_eq!(set.pin().iter().collect::<Vec<_>>(), [&'a']);
    /// ```
    pub fn iter(&self) -> SetIter<'_, K, G> {
        let map = self.map();
        SetIter {
            iter: Iter::new(map.raw.iter(&map.clock, self.g().protect())),
        }
    }

    /// A resumable scan from `cursor`; see
    /// [`HashMapRef::iter_from`](crate::HashMapRef::iter_from).
    ///
    /// # Examples
    /// ```
    /// use ttlmap::Cursor;
    /// let set: ttlmap::HashSet<u32> = (0..10).collect();
    /// let s = set.pin();
    /// let mut scan = s.iter_from(Cursor::START);
    /// let mut seen: Vec<u32> = scan.page(4).copied().collect();
    /// seen.extend(s.iter_from(scan.cursor()).copied());
    /// seen.sort();
    /// assert_eq!(seen, (0..10).collect::<Vec<_>>());
    /// ```
    pub fn iter_from(&self, cursor: Cursor) -> SetScan<'_, K, G> {
        SetScan {
            scan: self.map().scan_in(cursor, self.g()),
        }
    }

    /// Unlinks every member expired at the time of the call, returning how many; see
    /// [`HashMapRef::purge_expired`](crate::HashMapRef::purge_expired) (prefer
    /// [`HashSet::purge_expired`], which frees as it goes).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let clock = ttlmap::ManualClock::new();
    /// let set = ttlmap::HashSet::builder().clock(clock.clone()).build();
    /// let s = set.pin();
    /// s.insert_with_ttl(1, Duration::from_secs(1));
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(s.purge_expired(), 1);
    /// ```
    pub fn purge_expired(&self) -> usize {
        self.map().purge_expired_in(self.g())
    }
}

impl<'set, K, S, G> HashSetRef<'set, K, S, G>
where
    K: Hash + Eq,
    S: BuildHasher,
    G: Guard,
{
    /// Whether `key` is a live member.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1]);
    /// assert!(set.pin().contains(&1));
    /// ```
    #[inline]
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// The stored member equal to `key`, if live.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1]);
    /// assert_eq!(set.pin().get(&1), Some(&1));
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&K>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map().get_key_value_in(key, self.g()).map(|(k, _)| k)
    }

    /// Adds `key` with the set's default TTL: `true` if it was not a live member (see
    /// [`HashSet::insert`]).
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::new();
    /// assert!(set.pin().insert(1));
    /// assert!(!set.pin().insert(1));
    /// ```
    #[inline]
    pub fn insert(&self, key: K) -> bool {
        let map = self.map();
        map.insert_in(key, (), map.default_ttl, self.g()).is_none()
    }

    /// Adds `key` expiring after `ttl`: `true` if it was not a live member.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let clock = ttlmap::ManualClock::new();
    /// let set = ttlmap::HashSet::builder().clock(clock.clone()).build();
    /// let s = set.pin();
    /// assert!(s.insert_with_ttl("nonce", Duration::from_secs(30)));
    /// clock.advance(Duration::from_secs(30));
    /// assert!(!s.contains("nonce"));
    /// assert!(s.insert_with_ttl("nonce", Duration::from_secs(30))); // fresh again
    /// ```
    #[inline]
    pub fn insert_with_ttl(&self, key: K, ttl: Duration) -> bool {
        self.map().insert_in(key, (), Some(ttl), self.g()).is_none()
    }

    /// Removes `key`: `true` if it was a live member.
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1]);
    /// assert!(set.pin().remove(&1));
    /// ```
    #[inline]
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map().remove_entry_in(key, self.g()).is_some()
    }

    /// The remaining lifetime of `key`: `None` if not a live member.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let set = ttlmap::HashSet::new();
    /// set.pin().insert_with_ttl(1, Duration::from_secs(9));
    /// assert!(matches!(set.pin().ttl(&1), Some(ttlmap::Expiry::In(_))));
    /// ```
    #[inline]
    pub fn ttl<Q>(&self, key: &Q) -> Option<Expiry>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map().ttl_in(key, self.g())
    }

    /// Sets the TTL of the live member `key` to `ttl` from now; `false` if not one.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let set = ttlmap::HashSet::from([1]);
    /// assert!(set.pin().set_ttl(&1, Duration::from_secs(5)));
    /// assert!(!set.pin().set_ttl(&2, Duration::from_secs(5)));
    /// ```
    #[inline]
    pub fn set_ttl<Q>(&self, key: &Q, ttl: Duration) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map().set_ttl_in(key, Some(ttl), self.g())
    }

    /// Removes the deadline of the live member `key`; `false` if not one.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let set = ttlmap::HashSet::new();
    /// set.pin().insert_with_ttl(1, Duration::from_secs(5));
    /// assert!(set.pin().persist(&1));
    /// ```
    #[inline]
    pub fn persist<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map().set_ttl_in(key, None, self.g())
    }
}

impl<K: fmt::Debug, S, G: Guard> fmt::Debug for HashSetRef<'_, K, S, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<'a, K, S, G: Guard> IntoIterator for &'a HashSetRef<'_, K, S, G> {
    type Item = &'a K;
    type IntoIter = SetIter<'a, K, G>;

    fn into_iter(self) -> SetIter<'a, K, G> {
        self.iter()
    }
}

/// Iterator over the live members of a set; see [`HashSetRef::iter`].
pub struct SetIter<'g, K, G = LocalGuard<'g>> {
    iter: Iter<'g, K, (), G>,
}

impl<'g, K, G> Iterator for SetIter<'g, K, G> {
    type Item = &'g K;

    #[inline]
    fn next(&mut self) -> Option<&'g K> {
        self.iter.next().map(|(k, _)| k)
    }
}

impl<K, G> fmt::Debug for SetIter<'_, K, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SetIter")
    }
}

/// A resumable scan over the live members of a set; see [`HashSetRef::iter_from`] and
/// [`Scan`].
pub struct SetScan<'g, K, G = LocalGuard<'g>> {
    scan: Scan<'g, K, (), G>,
}

impl<'g, K, G> SetScan<'g, K, G> {
    /// Where to resume; see [`Scan::cursor`].
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1]);
    /// let s = set.pin();
    /// let mut scan = s.iter_from(ttlmap::Cursor::START);
    /// scan.next();
    /// assert_eq!(scan.cursor(), ttlmap::Cursor::END);
    /// ```
    pub fn cursor(&self) -> Cursor {
        self.scan.cursor()
    }

    /// Whether [`cursor`](SetScan::cursor) is exact; see [`Scan::at_boundary`].
    ///
    /// # Examples
    /// ```
    /// let set = ttlmap::HashSet::from([1]);
    /// assert!(set.pin().iter_from(ttlmap::Cursor::START).at_boundary());
    /// ```
    pub fn at_boundary(&self) -> bool {
        self.scan.at_boundary()
    }

    /// The next page of at least `n` members, never ending inside a run; see
    /// [`Scan::page`].
    ///
    /// # Examples
    /// ```
    /// let set: ttlmap::HashSet<u32> = (0..5).collect();
    /// let s = set.pin();
    /// let mut scan = s.iter_from(ttlmap::Cursor::START);
    /// assert_eq!(scan.page(3).count(), 3);
    /// assert_eq!(scan.page(3).count(), 2);
    /// ```
    pub fn page(&mut self, n: usize) -> impl Iterator<Item = &'g K> + '_ {
        self.scan.page(n).map(|(k, _)| k)
    }
}

impl<'g, K, G> Iterator for SetScan<'g, K, G> {
    type Item = &'g K;

    #[inline]
    fn next(&mut self) -> Option<&'g K> {
        self.scan.next().map(|(k, _)| k)
    }
}

impl<K, G> fmt::Debug for SetScan<'_, K, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetScan")
            .field("cursor", &self.scan.cursor())
            .finish_non_exhaustive()
    }
}

// ----- std traits ------------------------------------------------------------------

impl<K: fmt::Debug, S> fmt::Debug for HashSet<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.pin().iter()).finish()
    }
}

impl<K, S> PartialEq for HashSet<K, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Equal when both hold the same live members (deadlines are not compared).
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<K, S> Eq for HashSet<K, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
}

impl<K, S> Clone for HashSet<K, S>
where
    K: Clone + Hash + Eq,
    S: BuildHasher + Clone,
{
    /// A deep copy of the live members, keeping each member's deadline.
    fn clone(&self) -> HashSet<K, S> {
        HashSet {
            map: self.map.clone(),
        }
    }
}

impl<K, S> Extend<K> for &HashSet<K, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    fn extend<T: IntoIterator<Item = K>>(&mut self, iter: T) {
        let s = self.pin();
        for k in iter {
            s.insert(k);
        }
    }
}

impl<'a, K, S> Extend<&'a K> for &HashSet<K, S>
where
    K: Copy + Hash + Eq + 'a,
    S: BuildHasher,
{
    fn extend<T: IntoIterator<Item = &'a K>>(&mut self, iter: T) {
        self.extend(iter.into_iter().copied());
    }
}

impl<K, S> FromIterator<K> for HashSet<K, S>
where
    K: Hash + Eq,
    S: BuildHasher + Default,
{
    fn from_iter<T: IntoIterator<Item = K>>(iter: T) -> Self {
        let iter = iter.into_iter();
        let set = HashSet::with_capacity_and_hasher(iter.size_hint().0, S::default());
        (&set).extend(iter);
        set
    }
}

impl<K, const N: usize> From<[K; N]> for HashSet<K>
where
    K: Hash + Eq,
{
    fn from(members: [K; N]) -> Self {
        members.into_iter().collect()
    }
}

#[cfg(feature = "serde")]
impl<K, S> HashSet<K, S> {
    /// The map underneath (for `serde.rs`).
    pub(crate) fn as_map(&self) -> &HashMap<K, (), S> {
        &self.map
    }

    /// A set over `map` (for `serde.rs`).
    pub(crate) fn from_map(map: HashMap<K, (), S>) -> HashSet<K, S> {
        HashSet { map }
    }
}

#[cfg(feature = "serde")]
impl<K, S> HashSetBuilder<K, S> {
    /// The map builder underneath (for `serde.rs`).
    pub(crate) fn into_map(self) -> HashMapBuilder<K, (), S> {
        self.map
    }
}
