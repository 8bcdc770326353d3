//! The pinned handle [`HashMapRef`] and its operations.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use super::guard::sealed;
use super::{Guard, HashMap, Iter, Keys, Values};
use crate::clock::{Expiry, NEVER};
use crate::raw::{self, Inserted, Now, OwnedCell, Policy};
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
    pub(super) fn g(&self) -> &reclaim::Guard<'_> {
        sealed::Sealed::raw_guard(&self.guard)
    }

    #[inline]
    pub(super) fn now(&self) -> Now<'map> {
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

    pub(super) fn insert_deadline(
        &self,
        key: K,
        value: V,
        deadline: u64,
        now: &mut Now<'_>,
    ) -> Option<&V> {
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
