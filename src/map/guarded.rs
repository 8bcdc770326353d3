//! papaya's guard-based API: every operation of the pinned handle as a method of
//! [`HashMap`] that takes a guard (`map.get(&k, &guard)`), with references tied to the
//! guard. Each checks the guard ([`HashMap::verify`]) and runs the one implementation
//! (`ops.rs`).

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use super::guard::Lengthen;
use super::{Compute, Cursor, Guard, HashMap, Iter, Keys, OccupiedError, Operation, Scan, Values};
use crate::clock::Expiry;

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Whether `key` is present and not expired.
    ///
    /// # Panics
    /// Every method taking a guard panics if the guard was made by another map.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, "a", &guard);
    /// assert!(map.contains_key(&1, &guard));
    /// assert!(!map.contains_key(&2, &guard));
    /// ```
    #[inline]
    pub fn contains_key<Q>(&self, key: &Q, guard: &impl Guard) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_key_value_in(key, self.verify(guard)).is_some()
    }

    /// The value of `key`, if present and not expired; it lives as long as the guard.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(String::from("a"), 1, &guard);
    /// assert_eq!(map.get("a", &guard), Some(&1));
    /// assert_eq!(map.get("b", &guard), None);
    /// ```
    ///
    /// ```should_panic
    /// // A guard belongs to the map that made it.
    /// let (a, b) = (ttlmap::HashMap::<u8, u8>::new(), ttlmap::HashMap::<u8, u8>::new());
    /// b.get(&1, &a.guard());
    /// ```
    #[inline]
    pub fn get<'g, Q>(&self, key: &Q, guard: &'g impl Guard) -> Option<&'g V>
    where
        K: Borrow<Q> + 'g,
        Q: Hash + Eq + ?Sized,
    {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.get_key_value_in(key, g).map(|(_, v)| v).lengthen() }
    }

    /// The stored key and value of `key`, if present and not expired.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, 'x', &guard);
    /// assert_eq!(map.get_key_value(&1, &guard), Some((&1, &'x')));
    /// ```
    #[inline]
    pub fn get_key_value<'g, Q>(&self, key: &Q, guard: &'g impl Guard) -> Option<(&'g K, &'g V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.get_key_value_in(key, g).lengthen() }
    }

    /// Inserts `key` → `value` with the map's default TTL (none unless the builder set
    /// one), returning the previous *live* value.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(map.insert(37, "a", &guard), None);
    /// assert_eq!(map.insert(37, "b", &guard), Some(&"a"));
    /// assert_eq!(map.get(&37, &guard), Some(&"b"));
    /// ```
    #[inline]
    pub fn insert<'g>(&self, key: K, value: V, guard: &'g impl Guard) -> Option<&'g V> {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.insert_in(key, value, self.default_ttl, g).lengthen() }
    }

    /// Inserts `key` → `value` expiring after `ttl`, returning the previous live value;
    /// see [`HashMapRef::insert_with_ttl`](super::HashMapRef::insert_with_ttl).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert_with_ttl("token", 1, Duration::from_secs(60), &guard);
    /// assert_eq!(map.get("token", &guard), Some(&1));
    /// ```
    #[inline]
    pub fn insert_with_ttl<'g>(
        &self,
        key: K,
        value: V,
        ttl: Duration,
        guard: &'g impl Guard,
    ) -> Option<&'g V> {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.insert_in(key, value, Some(ttl), g).lengthen() }
    }

    /// Inserts only if `key` has no live value; otherwise gives `value` back with the
    /// current one.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(map.try_insert(37, "a", &guard), Ok(&"a"));
    /// let err = map.try_insert(37, "b", &guard).unwrap_err();
    /// assert_eq!((err.current, err.not_inserted), (&"a", "b"));
    /// ```
    #[inline]
    pub fn try_insert<'g>(
        &self,
        key: K,
        value: V,
        guard: &'g impl Guard,
    ) -> Result<&'g V, OccupiedError<'g, V>> {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.try_insert_in(key, value, g).lengthen() }
    }

    /// Inserts `f()` only if `key` has no live value: `Ok(inserted)`, or `Err(current)`
    /// without running `f`.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(map.try_insert_with(37, || "a", &guard), Ok(&"a"));
    /// assert_eq!(map.try_insert_with(37, || unreachable!(), &guard), Err(&"a"));
    /// ```
    #[inline]
    pub fn try_insert_with<'g, F>(
        &self,
        key: K,
        f: F,
        guard: &'g impl Guard,
    ) -> Result<&'g V, &'g V>
    where
        F: FnOnce() -> V,
        K: 'g,
    {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.try_insert_with_in(key, f, g).lengthen() }
    }

    /// The live value of `key`, inserting `value` if there is none.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(map.get_or_insert("a", 3, &guard), &3);
    /// assert_eq!(map.get_or_insert("a", 6, &guard), &3);
    /// ```
    #[inline]
    pub fn get_or_insert<'g>(&self, key: K, value: V, guard: &'g impl Guard) -> &'g V {
        match self.try_insert(key, value, guard) {
            Ok(v) => v,
            Err(e) => e.current,
        }
    }

    /// The live value of `key`, inserting `f()` if there is none (`f` runs only then).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(map.get_or_insert_with("a", || 3, &guard), &3);
    /// assert_eq!(map.get_or_insert_with("a", || 6, &guard), &3);
    /// ```
    #[inline]
    pub fn get_or_insert_with<'g, F>(&self, key: K, f: F, guard: &'g impl Guard) -> &'g V
    where
        F: FnOnce() -> V,
        K: 'g,
    {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.get_or_insert_with_in(key, f, g).lengthen() }
    }

    /// Replaces the live value of `key` with `update(&old)`, atomically (`update` may run
    /// more than once); keeps the deadline. The new value, or `None` if absent or expired.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert("a", 1, &guard);
    /// assert_eq!(map.update("a", |v| v + 1, &guard), Some(&2));
    /// assert_eq!(map.update("b", |v| v + 1, &guard), None);
    /// ```
    #[inline]
    pub fn update<'g, F>(&self, key: K, update: F, guard: &'g impl Guard) -> Option<&'g V>
    where
        F: Fn(&V) -> V,
        K: 'g,
    {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.update_in(key, update, g).lengthen() }
    }

    /// Updates the live value of `key` with `update`, or inserts `value` if there is none.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(*map.update_or_insert("a", |i| i + 1, 0, &guard), 0);
    /// assert_eq!(*map.update_or_insert("a", |i| i + 1, 0, &guard), 1);
    /// ```
    #[inline]
    pub fn update_or_insert<'g, F>(
        &self,
        key: K,
        update: F,
        value: V,
        guard: &'g impl Guard,
    ) -> &'g V
    where
        F: Fn(&V) -> V,
        K: 'g,
    {
        self.update_or_insert_with(key, update, || value, guard)
    }

    /// Updates the live value of `key` with `update`, or inserts `f()` if there is none.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(*map.update_or_insert_with("a", |i| i + 1, || 0, &guard), 0);
    /// assert_eq!(*map.update_or_insert_with("a", |i| i + 1, || 0, &guard), 1);
    /// ```
    #[inline]
    pub fn update_or_insert_with<'g, U, F>(
        &self,
        key: K,
        update: U,
        f: F,
        guard: &'g impl Guard,
    ) -> &'g V
    where
        F: FnOnce() -> V,
        U: Fn(&V) -> V,
        K: 'g,
    {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.update_or_insert_with_in(key, update, f, g).lengthen() }
    }

    /// A general atomic read-modify-write; see
    /// [`HashMapRef::compute`](super::HashMapRef::compute).
    ///
    /// # Examples
    /// ```
    /// use ttlmap::{Compute, Operation};
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// let bump = |e: Option<(&char, &u32)>| match e {
    ///     Some((_, v)) if *v >= 2 => Operation::Remove,
    ///     Some((_, v)) => Operation::Insert(v + 1),
    ///     None => Operation::Abort(()),
    /// };
    /// assert_eq!(map.compute('a', bump, &guard), Compute::Aborted(()));
    /// map.insert('a', 1, &guard);
    /// assert_eq!(
    ///     map.compute('a', bump, &guard),
    ///     Compute::Updated { old: (&'a', &1), new: (&'a', &2) }
    /// );
    /// assert_eq!(map.compute('a', bump, &guard), Compute::Removed(&'a', &2));
    /// ```
    #[inline]
    pub fn compute<'g, F, T>(
        &self,
        key: K,
        compute: F,
        guard: &'g impl Guard,
    ) -> Compute<'g, K, V, T>
    where
        F: FnMut(Option<(&'g K, &'g V)>) -> Operation<V, T>,
    {
        let g = self.verify(guard);
        let mut compute = compute;
        // SAFETY: what the closure is shown and what `compute_in` returns was read under
        // `g`, which `verify` accepted for this map.
        unsafe {
            self.compute_in(key, |e| compute(e.lengthen()), g)
                .lengthen()
        }
    }

    /// Removes `key`, returning its live value (an expired entry counts as absent).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, "a", &guard);
    /// assert_eq!(map.remove(&1, &guard), Some(&"a"));
    /// assert_eq!(map.remove(&1, &guard), None);
    /// ```
    #[inline]
    pub fn remove<'g, Q>(&self, key: &Q, guard: &'g impl Guard) -> Option<&'g V>
    where
        K: Borrow<Q> + 'g,
        Q: Hash + Eq + ?Sized,
    {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.remove_entry_in(key, g).map(|(_, v)| v).lengthen() }
    }

    /// Removes `key`, returning its stored key and live value.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, "a", &guard);
    /// assert_eq!(map.remove_entry(&1, &guard), Some((&1, &"a")));
    /// ```
    #[inline]
    pub fn remove_entry<'g, Q>(&self, key: &Q, guard: &'g impl Guard) -> Option<(&'g K, &'g V)>
    where
        K: Borrow<Q> + 'g,
        Q: Hash + Eq + ?Sized,
    {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.remove_entry_in(key, g).lengthen() }
    }

    /// Removes `key` if `should_remove` approves its live entry; see
    /// [`HashMapRef::remove_if`](super::HashMapRef::remove_if).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, "a", &guard);
    /// assert_eq!(map.remove_if(&1, |_, v| *v == "b", &guard), Err((&1, &"a")));
    /// assert_eq!(map.remove_if(&1, |_, v| *v == "a", &guard), Ok(Some((&1, &"a"))));
    /// assert_eq!(map.remove_if(&1, |_, _| true, &guard), Ok(None));
    /// ```
    #[inline]
    #[allow(clippy::type_complexity)]
    pub fn remove_if<'g, Q, F>(
        &self,
        key: &Q,
        should_remove: F,
        guard: &'g impl Guard,
    ) -> Result<Option<(&'g K, &'g V)>, (&'g K, &'g V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&K, &V) -> bool,
    {
        let g = self.verify(guard);
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { self.remove_if_in(key, should_remove, g).lengthen() }
    }

    /// A hint that `additional` more entries are coming. It does nothing: the table
    /// grows by adding bucket sentinels between entries, never by copying them, so
    /// there is nothing to prepare (a capacity hint at construction,
    /// [`HashMap::with_capacity`], does link buckets up front). Kept for papaya's API.
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<&str, i32> = ttlmap::HashMap::new();
    /// map.reserve(10, &map.guard());
    /// ```
    #[inline]
    pub fn reserve(&self, additional: usize, guard: &impl Guard) {
        let _ = (additional, self.verify(guard));
    }

    /// The remaining lifetime of `key`: `None` if absent or expired; see
    /// [`HashMapRef::ttl`](super::HashMapRef::ttl).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ttlmap::Expiry;
    /// let clock = ttlmap::ManualClock::new();
    /// let map = ttlmap::HashMap::builder().clock(clock.clone()).build();
    /// let guard = map.guard();
    /// map.insert_with_ttl(1, 1, Duration::from_secs(10), &guard);
    /// clock.advance(Duration::from_secs(4));
    /// assert_eq!(map.ttl(&1, &guard), Some(Expiry::In(Duration::from_secs(6))));
    /// ```
    #[inline]
    pub fn ttl<Q>(&self, key: &Q, guard: &impl Guard) -> Option<Expiry>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let g = self.verify(guard);
        self.ttl_in(key, g)
    }

    /// Sets the TTL of the live entry `key` to `ttl` from now; `false` if absent or
    /// expired. See [`HashMapRef::set_ttl`](super::HashMapRef::set_ttl).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, 1, &guard);
    /// assert!(map.set_ttl(&1, Duration::from_secs(30), &guard));
    /// assert!(!map.set_ttl(&2, Duration::from_secs(30), &guard));
    /// ```
    #[inline]
    pub fn set_ttl<Q>(&self, key: &Q, ttl: Duration, guard: &impl Guard) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let g = self.verify(guard);
        self.set_ttl_in(key, Some(ttl), g)
    }

    /// Removes the deadline of the live entry `key`; `false` if absent or expired.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert_with_ttl(1, 1, Duration::from_secs(5), &guard);
    /// assert!(map.persist(&1, &guard));
    /// assert_eq!(map.ttl(&1, &guard), Some(ttlmap::Expiry::Never));
    /// ```
    #[inline]
    pub fn persist<Q>(&self, key: &Q, guard: &impl Guard) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let g = self.verify(guard);
        self.set_ttl_in(key, None, g)
    }
}

impl<K, V, S> HashMap<K, V, S> {
    /// Removes every entry.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, "a", &guard);
    /// map.clear(&guard);
    /// assert!(map.is_empty());
    /// ```
    #[inline]
    pub fn clear(&self, guard: &impl Guard) {
        let g = self.verify(guard);
        self.clear_in(g);
    }

    /// Keeps only the live entries for which `f` returns `true`; see
    /// [`HashMapRef::retain`](super::HashMapRef::retain).
    ///
    /// # Examples
    /// ```
    /// let map: ttlmap::HashMap<i32, i32> = (0..8).map(|x| (x, x * 10)).collect();
    /// map.retain(|&k, _| k % 2 == 0, &map.guard());
    /// assert_eq!(map.len(), 4);
    /// ```
    #[inline]
    pub fn retain<F>(&self, f: F, guard: &impl Guard)
    where
        F: FnMut(&K, &V) -> bool,
    {
        let g = self.verify(guard);
        self.retain_in(f, g);
    }

    /// A weakly consistent iterator over the live entries; see
    /// [`HashMapRef::iter`](super::HashMapRef::iter).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::from([("a", 1), ("b", 2)]);
    /// let guard = map.guard();
    /// let mut all: Vec<_> = map.iter(&guard).collect();
    /// all.sort();
    /// assert_eq!(all, [(&"a", &1), (&"b", &2)]);
    /// ```
    #[inline]
    pub fn iter<'g, G: Guard>(&self, guard: &'g G) -> Iter<'g, K, V, G> {
        let g = self.verify(guard);
        // SAFETY: the walk reads entries under `g`, which `verify` accepted for this
        // map; the map's table and clock live as long as its guards (`Lengthen`).
        let (raw, clock) = unsafe { (&self.raw, &self.clock).lengthen() };
        Iter::new(raw.iter(clock, g.protect()))
    }

    /// A resumable scan from `cursor`; see
    /// [`HashMapRef::iter_from`](super::HashMapRef::iter_from).
    ///
    /// # Examples
    /// ```
    /// use ttlmap::Cursor;
    /// let map = ttlmap::HashMap::from([(1, 'a'), (2, 'b')]);
    /// let guard = map.guard();
    /// let mut scan = map.iter_from(Cursor::START, &guard);
    /// let first = scan.next().unwrap();
    /// let rest: Vec<_> = map.iter_from(scan.cursor(), &guard).collect();
    /// assert_eq!(rest.len(), 1);
    /// assert_ne!(rest[0], first);
    /// ```
    #[inline]
    pub fn iter_from<'g, G: Guard>(&self, cursor: Cursor, guard: &'g G) -> Scan<'g, K, V, G> {
        let g = self.verify(guard);
        // SAFETY: the scan reads entries under `g`, which `verify` accepted for this
        // map; the map's table and clock live as long as its guards (`Lengthen`).
        let (raw, clock) = unsafe { (&self.raw, &self.clock).lengthen() };
        Scan::new(raw.scan_from(cursor.into_raw(), g.protect()), clock, cursor)
    }

    /// The keys of [`iter`](HashMap::iter).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::from([("a", 1)]);
    /// assert_eq!(map.keys(&map.guard()).collect::<Vec<_>>(), [&"a"]);
    /// ```
    #[inline]
    pub fn keys<'g, G: Guard>(&self, guard: &'g G) -> Keys<'g, K, V, G> {
        Keys {
            iter: self.iter(guard),
        }
    }

    /// The values of [`iter`](HashMap::iter).
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::from([("a", 1)]);
    /// assert_eq!(map.values(&map.guard()).collect::<Vec<_>>(), [&1]);
    /// ```
    #[inline]
    pub fn values<'g, G: Guard>(&self, guard: &'g G) -> Values<'g, K, V, G> {
        Values {
            iter: self.iter(guard),
        }
    }
}
