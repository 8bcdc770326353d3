//! Single-flight loading: [`HashMapRef::get_or_load`] and
//! [`HashMapRef::try_get_or_load`] (and their guard-based twins on [`HashMap`]).
//!
//! # Protocol
//!
//! A hit is one ordinary lookup: no lock, no allocation. A miss goes to the map's
//! registry of *flights* ([`Loads`]): a few shards, allocated on the first miss, each a
//! `Mutex<Vec<Flight>>`; a key's flights live in the shard its hash picks. A flight
//! records the hash, a pointer to the leader's key, the leader's thread and a condition
//! variable its waiters sleep on. Under the shard's lock a caller looks for a flight of
//! its key (equal hash, then `Eq` through the pointer):
//!
//! - **none**: it registers one and becomes the *leader*. It releases the lock, looks the
//!   key up once more (a leader that finished between its first lookup and its
//!   registration inserted before it deregistered, which this caller's lock acquisition
//!   saw), and if still absent runs its loader with no lock held. It then *lands*: under
//!   the lock it clears the flight's key pointer (its key is about to move into the map),
//!   releases the lock, inserts with the map's default TTL as `try_insert` does (a live
//!   value some other writer put there meanwhile wins, and the loaded one is dropped),
//!   and finally removes the flight under the lock and wakes its waiters. A panicking or
//!   failing loader removes the flight and wakes the waiters the same way (a drop guard),
//!   so nothing is left behind.
//! - **another thread's flight**: it sleeps on the flight's condition variable until the
//!   flight has left the shard (no spinning), then looks the key up. A hit is the
//!   leader's value; a miss means the leader failed (or the value is already gone): it
//!   starts over, and the first of the woken callers to take the lock leads.
//! - **its own thread's flight, still loading**: the loader re-entered for its own key,
//!   which would wait for itself forever: it panics instead.
//!
//! A landing flight (key pointer cleared) cannot compare keys: another thread with an
//! equal hash waits for it conservatively, which lasts as long as that insert (including
//! any listener it runs); the calling thread's own landing flights are skipped, so an
//! eviction listener may use `get_or_load` on any key. (The one cost of this: a listener
//! that, during a landing, waits for another thread's load which itself waits for a key
//! of equal hash deadlocks; that takes two distinct keys with one 64-bit hash.) The
//! alternative, deregistering before the insert, would let a caller arriving in between
//! miss both the flight and the value and load a second time.
//!
//! No lock is held while the loader runs, while inserting or looking up, or while
//! waking; the shard lock covers only the registry and the keys' `Eq`. Poisoning is
//! ignored: every critical section leaves the registry consistent at every point where
//! user code (`Eq`) may panic.
//!
//! Handles stay pinned for the whole call, the loader's run and the wait included: a
//! slow loader delays reclamation of the whole map, as any long-held handle does.
//! Callers in different threads whose loaders wait for each other's keys deadlock, as
//! with any single-flight cache.

use std::convert::Infallible;
use std::hash::{BuildHasher, Hash};
use std::ptr;
use std::sync::{Arc, PoisonError};

use crossbeam_utils::CachePadded;

use super::guard::Lengthen;
use super::{Guard, HashMap, HashMapRef};
use crate::reclaim::Guard as RawGuard;
use crate::sync::{self, AtomicPtr, Condvar, Mutex, MutexGuard, Ordering, ThreadId};

/// Shards of a registry (one under loom, to keep the models small).
const SHARDS: usize = if sync::LOOM { 1 } else { 16 };

/// The in-flight loads of one map. Costs one null pointer until the first miss of
/// `get_or_load`, which allocates the shards. (The map is invariant in `K` anyway,
/// `raw::RawMap`'s marker, so the pointer is typed.)
pub(crate) struct Loads<K> {
    /// Null, or a `Box<Shards<K>>` owned by this registry, freed by its drop.
    shards: AtomicPtr<Shards<K>>,
}

type Shard<K> = Mutex<Vec<Flight<K>>>;

struct Shards<K>([CachePadded<Shard<K>>; SHARDS]);

/// One load in progress, in the shard of its hash.
struct Flight<K> {
    hash: u64,
    /// The leader's key while its loader runs; null once it lands (the key then moves
    /// into the map). Read only under the shard's lock, and the leader clears it under
    /// that lock before moving the key.
    key: *const K,
    leader: ThreadId,
    /// Where the waiters sleep. The `Arc` also names the flight: its address stays unique
    /// while anyone holds a clone.
    done: Arc<Condvar>,
}

impl<K> Loads<K> {
    pub(crate) fn new() -> Loads<K> {
        Loads {
            shards: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The shard of `hash`, allocating the shards on first use.
    fn shard(&self, hash: u64) -> &Shard<K> {
        // Acquire: pairs with the AcqRel CAS in `allocate` that published the shards.
        let mut shards = self.shards.load(Ordering::Acquire);
        if shards.is_null() {
            shards = self.allocate();
        }
        // SAFETY: non-null, it points to the shards this registry owns, freed only by its
        // drop (which `&self` rules out), and initialised before publication (above).
        let shards = unsafe { &*shards };
        &shards.0[(hash as usize) & (SHARDS - 1)]
    }

    #[cold]
    #[inline(never)]
    fn allocate(&self) -> *mut Shards<K> {
        let new = Box::into_raw(Box::new(Shards(std::array::from_fn(|_| {
            CachePadded::new(Mutex::new(Vec::new()))
        }))));
        // AcqRel: the Release half publishes the shards to `shard`'s Acquire load; the
        // Acquire half (on failure too) makes the winner's shards visible to a loser.
        match self.shards.compare_exchange(
            ptr::null_mut(),
            new,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => new,
            Err(current) => {
                // SAFETY: `new` came from `Box::into_raw` above and was never shared.
                drop(unsafe { Box::from_raw(new) });
                current
            }
        }
    }

    /// The number of loads in progress (tests).
    fn in_flight(&self) -> usize {
        // Acquire: pairs with the AcqRel CAS in `allocate`.
        let shards = self.shards.load(Ordering::Acquire);
        if shards.is_null() {
            return 0;
        }
        // SAFETY: as in `shard`.
        let shards = unsafe { &*shards };
        shards.0.iter().map(|s| lock(s).len()).sum()
    }
}

impl<K> Drop for Loads<K> {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, no other thread can reach the registry any more.
        let shards = self.shards.load(Ordering::Relaxed);
        if !shards.is_null() {
            // SAFETY: it came from `Box::into_raw` in `allocate` and is freed only here.
            let shards = unsafe { Box::from_raw(shards) };
            debug_assert!(shards.0.iter().all(|s| lock(s).is_empty()));
        }
    }
}

/// Locks a shard, ignoring poison (see the module docs).
fn lock<K>(shard: &Shard<K>) -> MutexGuard<'_, Vec<Flight<K>>> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a caller found in its key's shard.
enum Found {
    /// No flight of the key: lead.
    Nothing,
    /// Another thread's flight of the key (or a landing one of an equal hash): wait.
    Other(Arc<Condvar>),
    /// The caller's own thread is loading this key: its loader re-entered.
    Own,
}

/// Looks for a flight of `key` in `flights` (under the shard's lock).
fn find<K: Eq>(flights: &[Flight<K>], hash: u64, key: &K, me: ThreadId) -> Found {
    let mut found = Found::Nothing;
    for f in flights.iter().filter(|f| f.hash == hash) {
        let mine = f.leader == me;
        if f.key.is_null() {
            // Landing: the key is moving into the map and cannot be compared. Our own
            // thread is past its loader (in the insert, e.g. in an eviction listener):
            // never wait for ourselves.
            if !mine && matches!(found, Found::Nothing) {
                found = Found::Other(f.done.clone());
            }
            continue;
        }
        // SAFETY: a non-null key pointer is the leader's key, which stays in place until
        // the leader clears the pointer under this shard's lock, which we hold. `K: Sync`
        // whenever another thread can get here (the map is shared).
        if unsafe { &*f.key } != key {
            continue;
        }
        if mine {
            return Found::Own;
        }
        if matches!(found, Found::Nothing) {
            found = Found::Other(f.done.clone());
        }
    }
    found
}

/// A registered flight, led by the current thread: dropping it (on return, `Err` or
/// unwind) removes the flight and wakes its waiters.
struct Leading<'a, K> {
    shard: &'a Shard<K>,
    done: Arc<Condvar>,
}

impl<K> Leading<'_, K> {
    /// The leader's key is about to move: clear the pointer waiters compare with.
    fn land(&self) {
        let mut flights = lock(self.shard);
        if let Some(f) = flights
            .iter_mut()
            .find(|f| Arc::ptr_eq(&f.done, &self.done))
        {
            f.key = ptr::null();
        }
    }
}

impl<K> Drop for Leading<'_, K> {
    fn drop(&mut self) {
        let mut flights = lock(self.shard);
        if let Some(i) = flights
            .iter()
            .position(|f| Arc::ptr_eq(&f.done, &self.done))
        {
            flights.swap_remove(i);
        }
        drop(flights);
        // The waiters check under the lock whether the flight is still there, so waking
        // them after the removal (and after the unlock) loses no wakeup.
        self.done.notify_all();
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// The one implementation of `try_get_or_load`: the fast path.
    #[inline]
    pub(crate) fn try_get_or_load_in<'g, F, E>(
        &'g self,
        key: K,
        loader: F,
        g: &'g RawGuard<'_>,
    ) -> Result<&'g V, E>
    where
        F: FnOnce() -> Result<V, E>,
    {
        match self.get_key_value_in(&key, g) {
            Some((_, v)) => Ok(v),
            None => self.load_slow(key, loader, g),
        }
    }

    /// A miss: join the key's flight, or lead one (see the module docs).
    #[cold]
    #[inline(never)]
    fn load_slow<'g, F, E>(&'g self, key: K, loader: F, g: &'g RawGuard<'_>) -> Result<&'g V, E>
    where
        F: FnOnce() -> Result<V, E>,
    {
        let hash = self.hash(&key);
        let shard = self.loads.shard(hash);
        let me = sync::thread_id();
        loop {
            let mut flights = lock(shard);
            match find(&flights, hash, &key, me) {
                Found::Own => {
                    drop(flights);
                    reentered();
                }
                Found::Other(done) => {
                    while flights.iter().any(|f| Arc::ptr_eq(&f.done, &done)) {
                        flights = done.wait(flights).unwrap_or_else(PoisonError::into_inner);
                    }
                    drop(flights);
                    if let Some((_, v)) = self.peek_in(&key, g) {
                        return Ok(v);
                    }
                    // The leader failed, or its value is gone already: start over.
                }
                Found::Nothing => {
                    let done = Arc::new(Condvar::new());
                    flights.push(Flight {
                        hash,
                        key: &key,
                        leader: me,
                        done: done.clone(),
                    });
                    drop(flights);
                    let leading = Leading { shard, done };
                    // A leader that finished after our first lookup inserted before it
                    // deregistered, and our lock acquisition saw the deregistration.
                    if let Some((_, v)) = self.peek_in(&key, g) {
                        return Ok(v);
                    }
                    // On `Err` or a panic, `leading` drops: the flight goes, waiters wake.
                    let value = loader()?;
                    leading.land();
                    let (v, lost) = match self.try_insert_in(key, value, g) {
                        Ok(v) => (v, None),
                        Err(occupied) => (occupied.current, Some(occupied.not_inserted)),
                    };
                    drop(leading);
                    drop(lost);
                    return Ok(v);
                }
            }
        }
    }

    /// The guard-based [`HashMapRef::get_or_load`]: the live value of `key`, or the value
    /// of a single-flight `loader` run, tied to `guard`.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(map.get_or_load("a", || 1, &guard), &1);
    /// assert_eq!(map.get_or_load("a", || unreachable!(), &guard), &1);
    /// ```
    #[inline]
    pub fn get_or_load<'g, F>(&self, key: K, loader: F, guard: &'g impl Guard) -> &'g V
    where
        F: FnOnce() -> V,
        K: 'g,
    {
        let g = self.verify(guard);
        let v = infallible(self.try_get_or_load_in(key, || Ok(loader()), g));
        // SAFETY: read under `g`, which `verify` accepted for this map.
        unsafe { v.lengthen() }
    }

    /// The guard-based [`HashMapRef::try_get_or_load`].
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(map.try_get_or_load("a", || Err("down"), &guard), Err("down"));
    /// assert_eq!(map.try_get_or_load("a", || Ok::<_, &str>(1), &guard), Ok(&1));
    /// ```
    #[inline]
    pub fn try_get_or_load<'g, F, E>(
        &self,
        key: K,
        loader: F,
        guard: &'g impl Guard,
    ) -> Result<&'g V, E>
    where
        F: FnOnce() -> Result<V, E>,
        K: 'g,
    {
        let g = self.verify(guard);
        match self.try_get_or_load_in(key, loader, g) {
            // SAFETY: read under `g`, which `verify` accepted for this map.
            Ok(v) => Ok(unsafe { v.lengthen() }),
            Err(e) => Err(e),
        }
    }
}

impl<K, V, S> HashMap<K, V, S> {
    /// The number of `get_or_load` calls loading right now (diagnostics and tests: 0
    /// whenever no call is running, or a flight was leaked).
    #[doc(hidden)]
    pub fn loads_in_flight(&self) -> usize {
        self.loads.in_flight()
    }
}

impl<K, V, S, G> HashMapRef<'_, K, V, S, G>
where
    K: Hash + Eq,
    S: BuildHasher,
    G: Guard,
{
    /// The live value of `key`, or the value of `loader` if there is none, with
    /// single-flight semantics: of racing callers for one absent key, one runs its loader
    /// and the others wait (blocking, not spinning) for its value.
    ///
    /// - A hit costs what [`get`](HashMapRef::get) does; `loader` does not run.
    /// - The loaded value is inserted with the map's default TTL, as
    ///   [`try_insert`](HashMapRef::try_insert) does. If another writer inserted a live
    ///   value for `key` while the loader ran, that value wins: it is what every caller
    ///   gets, and the loaded value is dropped.
    /// - If the loader panics, the panic propagates to this caller and one of the waiters
    ///   then runs its own loader.
    /// - `loader` may use the map, for other keys: no lock is held while it runs. Calling
    ///   `get_or_load` for the same key from inside its own loader panics instead of
    ///   deadlocking. This handle stays pinned throughout (see [`HashMap::pin`]).
    ///
    /// # Panics
    /// If `loader` panics, or re-enters `get_or_load` for the key it is loading.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.get_or_load(7, || 49), &49);
    /// assert_eq!(m.get_or_load(7, || unreachable!("a hit")), &49);
    /// ```
    ///
    /// ```should_panic
    /// // A loader that needs its own key would wait for itself: it panics.
    /// let map = ttlmap::HashMap::new();
    /// map.pin().get_or_load(1, || *map.pin().get_or_load(1, || 2));
    /// ```
    #[inline]
    pub fn get_or_load<F>(&self, key: K, loader: F) -> &V
    where
        F: FnOnce() -> V,
    {
        infallible(self.map.try_get_or_load_in(key, || Ok(loader()), self.g()))
    }

    /// Like [`get_or_load`](HashMapRef::get_or_load), with a loader that may fail. Its
    /// error is returned to this caller only, the map is unchanged, and one of the
    /// callers that were waiting for it runs its own loader instead.
    ///
    /// # Panics
    /// If `loader` panics, or re-enters for the key it is loading.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.try_get_or_load("k", || "x".parse::<u32>()).map_err(drop), Err(()));
    /// assert!(m.get("k").is_none());
    /// assert_eq!(m.try_get_or_load("k", || "42".parse::<u32>()), Ok(&42));
    /// ```
    #[inline]
    pub fn try_get_or_load<F, E>(&self, key: K, loader: F) -> Result<&V, E>
    where
        F: FnOnce() -> Result<V, E>,
    {
        self.map.try_get_or_load_in(key, loader, self.g())
    }
}

#[inline]
fn infallible<T>(r: Result<T, Infallible>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => match e {},
    }
}

#[cold]
#[inline(never)]
fn reentered() -> ! {
    panic!(
        "ttlmap: get_or_load re-entered for the key its own loader is loading on this \
         thread (it would wait for itself forever)"
    );
}
