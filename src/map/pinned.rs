//! The pinned handle [`HashMapRef`] and its operations.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use super::guard::sealed;
use super::{Compute, Cursor, Guard, HashMap, Iter, Keys, OccupiedError, Operation, Scan, Values};
use crate::clock::Expiry;
use crate::reclaim;

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
    pub(super) map: &'map HashMap<K, V, S>,
    pub(super) guard: G,
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
    pub(super) fn g(&self) -> &reclaim::Guard<'_> {
        sealed::Sealed::raw_guard(&self.guard)
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
    pub fn iter(&self) -> Iter<'_, K, V, G> {
        Iter::new(self.map.raw.iter(&self.map.clock, self.g().protect()))
    }

    /// A resumable scan over the live entries, from `cursor` ([`Cursor::START`] for the
    /// beginning) on, in split order: [`Scan::cursor`] at any point tells where to
    /// resume, in this handle or a later one, even after the map grew or shrank. An
    /// entry live from the first call to the last is yielded exactly once across
    /// resumptions taken between runs of equal split-order keys (see [`Scan::page`]).
    ///
    /// # Examples
    /// ```
    /// use ttlmap::Cursor;
    /// let map: ttlmap::HashMap<u32, u32> = (0..10).map(|i| (i, i)).collect();
    /// let (mut cursor, mut seen) = (Cursor::START, Vec::new());
    /// while cursor != Cursor::END {
    ///     let m = map.pin();
    ///     let mut scan = m.iter_from(cursor);
    ///     seen.extend(scan.page(3).map(|(k, _)| *k));
    ///     cursor = scan.cursor();
    ///     drop(m);
    ///     map.pin().insert(100 + seen.len() as u32, 0); // the map changes in between
    /// }
    /// seen.retain(|k| *k < 100);
    /// seen.sort();
    /// assert_eq!(seen, (0..10).collect::<Vec<_>>());
    /// ```
    pub fn iter_from(&self, cursor: Cursor) -> Scan<'_, K, V, G> {
        self.map.scan_in(cursor, self.g())
    }

    /// The keys of [`iter`](HashMapRef::iter).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// map.pin().insert("k", 1);
    /// assert_eq!(map.pin().keys().collect::<Vec<_>>(), [&"k"]);
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V, G> {
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
    pub fn values(&self) -> Values<'_, K, V, G> {
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
        self.map.clear_in(self.g());
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
    pub fn retain<F>(&self, f: F)
    where
        F: FnMut(&K, &V) -> bool,
    {
        self.map.retain_in(f, self.g());
    }

    /// A hint that `additional` more entries are coming; it does nothing (see
    /// [`HashMap::reserve`]).
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::new();
    /// map.pin().reserve(100);
    /// ```
    pub fn reserve(&self, additional: usize) {
        let _ = additional;
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
        self.map.purge_expired_in(self.g())
    }
}

impl<'map, K, V, S, G> HashMapRef<'map, K, V, S, G>
where
    K: Hash + Eq,
    S: BuildHasher,
    G: Guard,
{
    /// The value of `key`, if present and not expired.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// map.pin().insert(String::from("a"), 1);
    /// assert_eq!(map.pin().get("a"), Some(&1));
    /// assert_eq!(map.pin().get("b"), None);
    /// ```
    #[inline(always)]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_key_value_in(key, self.g()).map(|(_, v)| v)
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
        self.map.get_key_value_in(key, self.g())
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
    #[inline(always)]
    pub fn insert(&self, key: K, value: V) -> Option<&V> {
        self.map
            .insert_in(key, value, self.map.default_ttl, self.g())
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
    #[inline(always)]
    pub fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) -> Option<&V> {
        self.map.insert_in(key, value, Some(ttl), self.g())
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
        self.map.try_insert_in(key, value, self.g())
    }

    /// Inserts `f()` only if `key` has no live value: `Ok(inserted)`, or `Err(current)`
    /// without running `f`.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.try_insert_with(1, || "a"), Ok(&"a"));
    /// assert_eq!(m.try_insert_with(1, || unreachable!()), Err(&"a"));
    /// ```
    pub fn try_insert_with<F>(&self, key: K, f: F) -> Result<&V, &V>
    where
        F: FnOnce() -> V,
    {
        self.map.try_insert_with_in(key, f, self.g())
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
        self.map.get_or_insert_with_in(key, f, self.g())
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
    #[inline(always)]
    pub fn update<F>(&self, key: K, update: F) -> Option<&V>
    where
        F: Fn(&V) -> V,
    {
        self.map.update_in(key, update, self.g())
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
        self.map.update_or_insert_with_in(key, update, f, self.g())
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
    pub fn compute<'g, F, T>(&'g self, key: K, compute: F) -> Compute<'g, K, V, T>
    where
        F: FnMut(Option<(&'g K, &'g V)>) -> Operation<V, T>,
    {
        self.map.compute_in(key, compute, self.g())
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
    #[inline(always)]
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
        self.map.remove_entry_in(key, self.g())
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
    pub fn remove_if<Q, F>(&self, key: &Q, should_remove: F) -> Result<Option<(&K, &V)>, (&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&K, &V) -> bool,
    {
        self.map.remove_if_in(key, should_remove, self.g())
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
        self.map.ttl_in(key, self.g())
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
        self.map.set_ttl_in(key, Some(ttl), self.g())
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
        self.map.set_ttl_in(key, None, self.g())
    }
}

impl<'a, K, V, S, G: Guard> IntoIterator for &'a HashMapRef<'_, K, V, S, G> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V, G>;

    fn into_iter(self) -> Iter<'a, K, V, G> {
        self.iter()
    }
}
