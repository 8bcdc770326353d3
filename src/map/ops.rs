//! The one implementation of every map operation.
//!
//! Each operation is a method of [`HashMap`] taking the reclamation guard it runs under
//! (`g`); references it returns live as long as that borrow. The pinned handle
//! ([`HashMapRef`](super::HashMapRef), whose guard is its own map's by construction)
//! and the guard-based methods (`map.get(&k, &guard)`, after [`HashMap::verify`]) both
//! call these, so the two APIs cannot drift apart.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use super::{Cursor, HashMap, Scan};
use crate::cache::{Delivery, RemovalCause};
use crate::clock::{Expiry, NEVER};
use crate::raw::{self, Inserted, Now, OwnedCell, Policy};
use crate::reclaim::Guard as RawGuard;

/// The error of [`try_insert`](super::HashMapRef::try_insert) when the key holds a live
/// value: the value in the map and the one given back.
///
/// # Examples
/// ```
/// let map = ttlmap::HashMap::new();
/// let m = map.pin();
/// m.insert(1, "a");
/// let ttlmap::OccupiedError { current, not_inserted } = m.try_insert(1, "b").unwrap_err();
/// assert_eq!((current, not_inserted), (&"a", "b"));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct OccupiedError<'a, V: 'a> {
    /// The value in the map.
    pub current: &'a V,
    /// The value that was not inserted.
    pub not_inserted: V,
}

/// What the closure of [`compute`](super::HashMapRef::compute) asks for.
///
/// # Examples
/// ```
/// use ttlmap::{Compute, Operation};
/// let map = ttlmap::HashMap::new();
/// let m = map.pin();
/// assert_eq!(m.compute(1, |_| Operation::<u8, _>::Abort("no")), Compute::Aborted("no"));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum Operation<V, T> {
    /// Insert (or replace with) this value.
    Insert(V),
    /// Remove the entry. Panics if the entry is absent (as papaya does).
    Remove,
    /// Do nothing and return this.
    Abort(T),
}

/// The result of [`compute`](super::HashMapRef::compute).
///
/// # Examples
/// ```
/// use ttlmap::{Compute, Operation};
/// let map = ttlmap::HashMap::new();
/// let m = map.pin();
/// assert_eq!(m.compute('a', |_| Operation::<_, ()>::Insert(1)), Compute::Inserted(&'a', &1));
/// ```
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

impl<K, V, S> HashMap<K, V, S> {
    /// A reading of the map's clock, taken when first needed.
    #[inline]
    pub(crate) fn now(&self) -> Now<'_> {
        Now::new(&self.clock)
    }

    /// The deadline for an entry written now with `ttl` (or none).
    #[inline]
    pub(crate) fn deadline(&self, ttl: Option<Duration>) -> u64 {
        match ttl {
            None => NEVER,
            Some(ttl) => self.clock.deadline_after(ttl),
        }
    }

    /// Opens the delivery of the listener's calls for one operation (`cache/events.rs`),
    /// if the map has a listener. Call it after the operation's guard exists.
    #[inline]
    pub(crate) fn events(&self) -> Option<Delivery> {
        match &self.raw.cache {
            Some(b) if b.listens() => Some(Delivery::open()),
            _ => None,
        }
    }

    /// The weight of `value` written for `key` (0 if the map tracks no weights). Runs the
    /// user's weigher: call it before the engine, so that a panicking weigher leaves the
    /// map untouched.
    #[inline]
    fn weight_of(&self, key: &K, value: &V) -> u32 {
        self.raw.cache.as_ref().map_or(0, |b| b.weigh(key, value))
    }

    /// A value to write for `key`, with its weight ([`weight_of`](Self::weight_of)).
    #[inline]
    pub(crate) fn owned_cell(&self, key: &K, value: V, deadline: u64) -> OwnedCell<V> {
        let w = self.weight_of(key, &value);
        OwnedCell::new(value, deadline).weighing(w)
    }

    /// Before an insert of a key hashing to `hash`: lets a bounded map's policy fetch the
    /// lines its bookkeeping of a new key reads, while the engine walks the list
    /// (`Bound::before_insert`; nothing without a bound).
    #[inline]
    fn before_insert(&self, hash: u64) {
        if let Some(b) = &self.raw.cache {
            b.before_insert(hash);
        }
    }

    /// After a write of `node`'s value `cell` weighing `weight`: tells the policy of a
    /// new key (`new_key`: its hash) and evicts down to the bound (`cache/bound.rs`).
    #[inline]
    fn written(
        &self,
        node: &raw::Node<K, V>,
        cell: &raw::Cell<V>,
        weight: u32,
        new_key: Option<u64>,
        now: &mut Now<'_>,
        g: &RawGuard<'_>,
    ) {
        if let Some(b) = &self.raw.cache {
            let candidate = new_key.and_then(|hash| b.on_insert(node, hash));
            b.enforce(
                &self.raw,
                candidate,
                Some((node, cell, weight)),
                usize::MAX,
                now,
                g.protect(),
            );
        }
    }

    pub(crate) fn clear_in(&self, g: &RawGuard<'_>) {
        let _events = self.events();
        self.raw.clear(&mut self.now(), g.protect());
    }

    pub(crate) fn retain_in<F>(&self, mut f: F, g: &RawGuard<'_>)
    where
        F: FnMut(&K, &V) -> bool,
    {
        let _events = self.events();
        self.raw.retain_raw(
            &mut self.now(),
            |node, cell, live| !live || f(&node.key, &cell.value),
            g.protect(),
        );
    }

    pub(crate) fn scan_in<'g, G>(
        &'g self,
        cursor: Cursor,
        g: &'g RawGuard<'_>,
    ) -> Scan<'g, K, V, G> {
        Scan::new(
            self.raw.scan_from(cursor.into_raw(), g.protect()),
            &self.clock,
            cursor,
        )
    }

    pub(crate) fn purge_expired_in(&self, g: &RawGuard<'_>) -> usize {
        let _events = self.events();
        self.raw.purge_expired(&mut self.now(), g.protect())
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The live entry of `key`: its node and current cell.
    #[inline(always)]
    fn lookup<'g, Q>(
        &'g self,
        key: &Q,
        now: &mut Now<'_>,
        g: &'g RawGuard<'_>,
    ) -> Option<(&'g raw::Node<K, V>, &'g raw::Cell<V>)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup_pred(key, now, g)
            .map(|(node, cell, _)| (node, cell))
    }

    /// [`lookup`](Self::lookup), with where the node was found (for a removal under `g`).
    #[inline(always)]
    fn lookup_pred<'g, Q>(
        &'g self,
        key: &Q,
        now: &mut Now<'_>,
        g: &'g RawGuard<'_>,
    ) -> Option<(&'g raw::Node<K, V>, &'g raw::Cell<V>, raw::Pred<'g>)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // A key the bucket filter rules out needs no pin at all.
        let hash = self.hash(key);
        let found = self.raw.get_pred(hash, key, now, || g.protect());
        if let (Some(b), Some((node, _, _, _))) = (&self.raw.cache, found) {
            b.on_hit(node, hash);
        }
        found.map(|(node, cell, _, pred)| (node, cell, pred))
    }

    /// [`lookup`](Self::lookup), counted as a hit or a miss when the map records them.
    #[inline(always)]
    fn counted_lookup<'g, Q>(
        &'g self,
        key: &Q,
        now: &mut Now<'_>,
        g: &'g RawGuard<'_>,
    ) -> Option<(&'g raw::Node<K, V>, &'g raw::Cell<V>)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let found = self.lookup(key, now, g);
        if let Some(b) = &self.raw.cache {
            if b.record_stats {
                self.raw.count_lookup(found.is_some());
            }
        }
        found
    }

    #[inline(always)]
    pub(crate) fn get_key_value_in<'g, Q>(
        &'g self,
        key: &Q,
        g: &'g RawGuard<'_>,
    ) -> Option<(&'g K, &'g V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.counted_lookup(key, &mut self.now(), g)
            .map(|(n, c)| (&n.key, &c.value))
    }

    /// [`get_key_value_in`](Self::get_key_value_in) without counting a hit or a miss:
    /// a lookup inside an operation that counted its own already (`get_or_load`'s).
    #[inline]
    pub(crate) fn peek_in<'g, Q>(&'g self, key: &Q, g: &'g RawGuard<'_>) -> Option<(&'g K, &'g V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(key, &mut self.now(), g)
            .map(|(n, c)| (&n.key, &c.value))
    }

    /// Inserts with an explicit deadline (`NEVER` for none), returning the previous live
    /// value.
    #[inline(always)]
    pub(crate) fn insert_deadline_in<'g>(
        &'g self,
        key: K,
        value: V,
        deadline: u64,
        now: &mut Now<'_>,
        g: &'g RawGuard<'_>,
    ) -> Option<&'g V> {
        let _events = self.events();
        let hash = self.hash(&key);
        self.before_insert(hash);
        let cell = self.owned_cell(&key, value, deadline);
        let w = cell.weight();
        match self
            .raw
            .insert(hash, key, cell, Policy::Replace, now, g.protect())
        {
            Inserted::New(node, cell) => {
                self.written(node, cell, w, Some(hash), now, g);
                None
            }
            Inserted::Replaced { node, old, new } => {
                self.written(node, new, w, None, now, g);
                old.map(|c| &c.value)
            }
            Inserted::Occupied { .. } => unreachable!("Policy::Replace never reports Occupied"),
        }
    }

    #[inline(always)]
    pub(crate) fn insert_in<'g>(
        &'g self,
        key: K,
        value: V,
        ttl: Option<Duration>,
        g: &'g RawGuard<'_>,
    ) -> Option<&'g V> {
        let mut now = self.now();
        let deadline = self.deadline(ttl);
        self.insert_deadline_in(key, value, deadline, &mut now, g)
    }

    pub(crate) fn try_insert_in<'g>(
        &'g self,
        key: K,
        value: V,
        g: &'g RawGuard<'_>,
    ) -> Result<&'g V, OccupiedError<'g, V>> {
        let mut now = self.now();
        let deadline = self.deadline(self.default_ttl);
        let cell = self.owned_cell(&key, value, deadline);
        match self.insert_if_vacant(key, cell, &mut now, g) {
            Ok(v) => Ok(v),
            Err((current, _key, cell)) => Err(OccupiedError {
                current,
                not_inserted: cell.into_value(),
            }),
        }
    }

    /// Inserts `cell` if `key` has no live value; else the current value and ours back.
    #[allow(clippy::type_complexity)]
    fn insert_if_vacant<'g>(
        &'g self,
        key: K,
        cell: OwnedCell<V>,
        now: &mut Now<'_>,
        g: &'g RawGuard<'_>,
    ) -> Result<&'g V, (&'g V, K, OwnedCell<V>)> {
        let _events = self.events();
        let hash = self.hash(&key);
        self.before_insert(hash);
        let w = cell.weight();
        match self
            .raw
            .insert(hash, key, cell, Policy::IfVacant, now, g.protect())
        {
            Inserted::New(n, c) => {
                self.written(n, c, w, Some(hash), now, g);
                Ok(&c.value)
            }
            // Over an expired value: a new entry for the policy too.
            Inserted::Replaced {
                node: n, new: c, ..
            } => {
                self.written(n, c, w, Some(hash), now, g);
                Ok(&c.value)
            }
            Inserted::Occupied {
                current, key, cell, ..
            } => Err((&current.value, key, cell)),
        }
    }

    /// `Ok(inserted)` if `key` was vacant (`f` ran), else `Err(current)` (`f` did not run,
    /// or its value lost a race and was dropped).
    pub(crate) fn try_insert_with_in<'g, F>(
        &'g self,
        key: K,
        f: F,
        g: &'g RawGuard<'_>,
    ) -> Result<&'g V, &'g V>
    where
        F: FnOnce() -> V,
    {
        let mut now = self.now();
        if let Some((_, c)) = self.counted_lookup(&key, &mut now, g) {
            return Err(&c.value);
        }
        let deadline = self.deadline(self.default_ttl);
        let cell = self.owned_cell(&key, f(), deadline);
        self.insert_if_vacant(key, cell, &mut now, g)
            .map_err(|(current, _, _)| current)
    }

    pub(crate) fn get_or_insert_with_in<'g, F>(&'g self, key: K, f: F, g: &'g RawGuard<'_>) -> &'g V
    where
        F: FnOnce() -> V,
    {
        match self.try_insert_with_in(key, f, g) {
            Ok(v) | Err(v) => v,
        }
    }

    #[inline(always)]
    pub(crate) fn update_in<'g, F>(&'g self, key: K, f: F, g: &'g RawGuard<'_>) -> Option<&'g V>
    where
        F: Fn(&V) -> V,
    {
        self.update_live(&key, &f, &mut self.now(), g)
    }

    /// One atomic `update` of the live value of `key`, or `None` if there is none.
    #[inline(always)]
    fn update_live<'g, F>(
        &'g self,
        key: &K,
        f: &F,
        now: &mut Now<'_>,
        g: &'g RawGuard<'_>,
    ) -> Option<&'g V>
    where
        F: Fn(&V) -> V,
    {
        let _events = self.events();
        loop {
            let (node, cell) = self.lookup(key, now, g)?;
            let value = f(&cell.value);
            let weight = self.weight_of(key, &value);
            if let Ok(new) = self
                .raw
                .replace_value(node, cell, value, weight, now, g.protect())
            {
                self.written(node, new, weight, None, now, g);
                return Some(&new.value);
            }
        }
    }

    pub(crate) fn update_or_insert_with_in<'g, U, F>(
        &'g self,
        key: K,
        update: U,
        f: F,
        g: &'g RawGuard<'_>,
    ) -> &'g V
    where
        F: FnOnce() -> V,
        U: Fn(&V) -> V,
    {
        let mut now = self.now();
        let mut key = key;
        let mut init = Some(f);
        let mut cell: Option<OwnedCell<V>> = None;
        loop {
            if let Some(v) = self.update_live(&key, &update, &mut now, g) {
                return v;
            }
            let c = match cell.take() {
                Some(c) => c,
                None => {
                    let f = init.take().expect("the initialiser runs once");
                    let deadline = self.deadline(self.default_ttl);
                    self.owned_cell(&key, f(), deadline)
                }
            };
            match self.insert_if_vacant(key, c, &mut now, g) {
                Ok(v) => return v,
                Err((_, k, c)) => {
                    key = k;
                    cell = Some(c);
                }
            }
        }
    }

    pub(crate) fn compute_in<'g, F, T>(
        &'g self,
        key: K,
        mut f: F,
        g: &'g RawGuard<'_>,
    ) -> Compute<'g, K, V, T>
    where
        F: FnMut(Option<(&'g K, &'g V)>) -> Operation<V, T>,
    {
        let _events = self.events();
        let mut now = self.now();
        let hash = self.hash(&key);
        let raw = &self.raw;
        let mut key = key;
        loop {
            match self.lookup(&key, &mut now, g) {
                Some((node, cell)) => match f(Some((&node.key, &cell.value))) {
                    Operation::Insert(v) => {
                        let weight = self.weight_of(&node.key, &v);
                        if let Ok(new) =
                            raw.replace_value(node, cell, v, weight, &mut now, g.protect())
                        {
                            self.written(node, new, weight, None, &mut now, g);
                            return Compute::Updated {
                                old: (&node.key, &cell.value),
                                new: (&node.key, &new.value),
                            };
                        }
                    }
                    Operation::Remove => {
                        if raw.remove_cell(node, cell, |d| explicit(now.live(d)), g.protect()) {
                            raw.sweep_step(&mut now, g.protect());
                            return Compute::Removed(&node.key, &cell.value);
                        }
                    }
                    Operation::Abort(t) => return Compute::Aborted(t),
                },
                None => match f(None) {
                    Operation::Insert(v) => {
                        let deadline = self.deadline(self.default_ttl);
                        let cell = self.owned_cell(&key, v, deadline);
                        let w = cell.weight();
                        match raw.insert(hash, key, cell, Policy::IfVacant, &mut now, g.protect()) {
                            Inserted::New(n, c)
                            | Inserted::Replaced {
                                node: n, new: c, ..
                            } => {
                                self.written(n, c, w, Some(hash), &mut now, g);
                                return Compute::Inserted(&n.key, &c.value);
                            }
                            Inserted::Occupied { key: k, .. } => key = k,
                        }
                    }
                    Operation::Remove => panic!("Cannot remove `None` entry."),
                    Operation::Abort(t) => return Compute::Aborted(t),
                },
            }
        }
    }

    #[allow(clippy::type_complexity)]
    #[inline(always)]
    pub(crate) fn remove_if_in<'g, Q, F>(
        &'g self,
        key: &Q,
        mut f: F,
        g: &'g RawGuard<'_>,
    ) -> Result<Option<(&'g K, &'g V)>, (&'g K, &'g V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&K, &V) -> bool,
    {
        let _events = self.events();
        let mut now = self.now();
        loop {
            let Some((node, cell, pred)) = self.lookup_pred(key, &mut now, g) else {
                return Ok(None);
            };
            if !f(&node.key, &cell.value) {
                return Err((&node.key, &cell.value));
            }
            if self.raw.remove_cell_after(
                node,
                cell,
                |d| explicit(now.live(d)),
                Some(pred),
                g.protect(),
            ) {
                self.raw.sweep_step(&mut now, g.protect());
                return Ok(Some((&node.key, &cell.value)));
            }
        }
    }

    #[inline(always)]
    pub(crate) fn remove_entry_in<'g, Q>(
        &'g self,
        key: &Q,
        g: &'g RawGuard<'_>,
    ) -> Option<(&'g K, &'g V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.remove_if_in(key, |_, _| true, g) {
            Ok(removed) => removed,
            Err(_) => unreachable!("the predicate always agrees"),
        }
    }

    pub(crate) fn ttl_in<Q>(&self, key: &Q, g: &RawGuard<'_>) -> Option<Expiry>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // One reading of the precise clock decides liveness and the time left, so `ttl`
        // never reports more than the TTL that was set (the coarse clock lags), and
        // never `In(0)` for an entry it calls live. (It may call an entry expired up to
        // the coarse clock's lag before `get` stops returning it.)
        let mut now = Now::precise(&self.clock);
        let (_, _, d) = self
            .raw
            .get(self.hash(key), key, &mut now, || g.protect())?;
        Some(match d {
            NEVER => Expiry::Never,
            d => Expiry::In(Duration::from_nanos(d - now.get())),
        })
    }

    /// Sets the deadline of the live entry `key` to `ttl` from now (`None`: no deadline).
    pub(crate) fn set_ttl_in<Q>(&self, key: &Q, ttl: Option<Duration>, g: &RawGuard<'_>) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        // Spares the clock reads below for a key the bucket filter rules out (`get`
        // inside `set_deadline` checks the filter again, one cached word, before pinning).
        if !self.raw.may_contain(hash) {
            return false;
        }
        let mut now = self.now();
        let deadline = self.deadline(ttl);
        self.raw
            .set_deadline(hash, key, deadline, &mut now, || g.protect())
    }
}

/// The cause of a user's removal of a value that is `live`: a removal only ever accepts
/// a live value (an expired one is absent), so `None` otherwise.
#[inline]
fn explicit(live: bool) -> Option<RemovalCause> {
    live.then_some(RemovalCause::Explicit)
}
