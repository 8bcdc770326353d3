//! One interface over every compared map.
//!
//! [`BenchMap`] is what all workloads are written against (u64 keys and values, the same
//! hasher everywhere); [`Table`] turns any `BenchMap` into a `bustle` collection; the
//! visitors enumerate the maps so each workload is one generic function.
//!
//! Every operation pins on its own (`map.pin().get(&k)`), the way a typical user writes it.

use std::collections::HashMap as StdHashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// The hasher every map runs with in the headline tables.
pub type Hasher = foldhash::fast::RandomState;

/// A concurrent u64 → u64 map as the workloads use it.
pub trait BenchMap: Send + Sync + 'static {
    /// Name shown in the tables.
    const NAME: &'static str;
    /// An empty map without a capacity hint.
    fn new() -> Self;
    /// An empty map sized for `n` entries.
    fn with_capacity(n: usize) -> Self;
    /// Whether `k` is present.
    fn get(&self, k: &u64) -> bool;
    /// Inserts or replaces; returns whether `k` was new.
    fn insert(&self, k: u64, v: u64) -> bool;
    /// Removes; returns whether `k` was present.
    fn remove(&self, k: &u64) -> bool;
    /// Increments the value of `k` in place; returns whether `k` was present.
    fn update(&self, k: &u64) -> bool;
    /// Runs the map's own clean-up (expired-entry purge, pending maintenance), if it has
    /// one; returns whether it has one.
    fn maintain(&self) -> bool {
        false
    }
    /// Gives memory back with exclusive access (`shrink_to_fit`), if the map can;
    /// returns whether it can.
    fn shrink(&mut self) -> bool {
        false
    }
}

/// `ttlmap::HashMap` (entries without TTL).
pub struct TtlMap(ttlmap::HashMap<u64, u64, Hasher>);

impl BenchMap for TtlMap {
    const NAME: &'static str = "ttlmap";
    fn new() -> Self {
        Self(ttlmap::HashMap::with_hasher(Hasher::default()))
    }
    fn with_capacity(n: usize) -> Self {
        Self(ttlmap::HashMap::with_capacity_and_hasher(
            n,
            Hasher::default(),
        ))
    }
    fn get(&self, k: &u64) -> bool {
        self.0.pin().get(k).is_some()
    }
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.pin().insert(k, v).is_none()
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.pin().remove(k).is_some()
    }
    fn update(&self, k: &u64) -> bool {
        self.0.pin().update(*k, |v| v + 1).is_some()
    }
    fn maintain(&self) -> bool {
        self.0.purge_expired();
        true
    }
    fn shrink(&mut self) -> bool {
        self.0.shrink_to_fit();
        true
    }
}

/// `std::sync::Mutex<std::collections::HashMap>`.
pub struct MutexMap(Mutex<StdHashMap<u64, u64, Hasher>>);

impl BenchMap for MutexMap {
    const NAME: &'static str = "Mutex<HashMap>";
    fn new() -> Self {
        Self(Mutex::new(StdHashMap::with_hasher(Hasher::default())))
    }
    fn with_capacity(n: usize) -> Self {
        Self(Mutex::new(StdHashMap::with_capacity_and_hasher(
            n,
            Hasher::default(),
        )))
    }
    fn get(&self, k: &u64) -> bool {
        self.0.lock().unwrap().contains_key(k)
    }
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.lock().unwrap().insert(k, v).is_none()
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.lock().unwrap().remove(k).is_some()
    }
    fn update(&self, k: &u64) -> bool {
        self.0.lock().unwrap().get_mut(k).map(|v| *v += 1).is_some()
    }
    fn shrink(&mut self) -> bool {
        self.0.get_mut().unwrap().shrink_to_fit();
        true
    }
}

/// `std::sync::RwLock<std::collections::HashMap>`.
pub struct RwLockMap(RwLock<StdHashMap<u64, u64, Hasher>>);

impl BenchMap for RwLockMap {
    const NAME: &'static str = "RwLock<HashMap>";
    fn new() -> Self {
        Self(RwLock::new(StdHashMap::with_hasher(Hasher::default())))
    }
    fn with_capacity(n: usize) -> Self {
        Self(RwLock::new(StdHashMap::with_capacity_and_hasher(
            n,
            Hasher::default(),
        )))
    }
    fn get(&self, k: &u64) -> bool {
        self.0.read().unwrap().contains_key(k)
    }
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.write().unwrap().insert(k, v).is_none()
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.write().unwrap().remove(k).is_some()
    }
    fn update(&self, k: &u64) -> bool {
        self.0
            .write()
            .unwrap()
            .get_mut(k)
            .map(|v| *v += 1)
            .is_some()
    }
    fn shrink(&mut self) -> bool {
        self.0.get_mut().unwrap().shrink_to_fit();
        true
    }
}

/// `dashmap::DashMap`.
pub struct DashMap(dashmap::DashMap<u64, u64, Hasher>);

impl BenchMap for DashMap {
    const NAME: &'static str = "dashmap";
    fn new() -> Self {
        Self(dashmap::DashMap::with_hasher(Hasher::default()))
    }
    fn with_capacity(n: usize) -> Self {
        Self(dashmap::DashMap::with_capacity_and_hasher(
            n,
            Hasher::default(),
        ))
    }
    fn get(&self, k: &u64) -> bool {
        self.0.get(k).is_some()
    }
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.insert(k, v).is_none()
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.remove(k).is_some()
    }
    fn update(&self, k: &u64) -> bool {
        self.0.get_mut(k).map(|mut v| *v += 1).is_some()
    }
    fn shrink(&mut self) -> bool {
        self.0.shrink_to_fit();
        true
    }
}

/// `papaya::HashMap` (default collector and resize settings).
pub struct Papaya(papaya::HashMap<u64, u64, Hasher>);

impl BenchMap for Papaya {
    const NAME: &'static str = "papaya";
    fn new() -> Self {
        Self(papaya::HashMap::with_hasher(Hasher::default()))
    }
    fn with_capacity(n: usize) -> Self {
        Self(papaya::HashMap::with_capacity_and_hasher(
            n,
            Hasher::default(),
        ))
    }
    fn get(&self, k: &u64) -> bool {
        self.0.pin().get(k).is_some()
    }
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.pin().insert(k, v).is_none()
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.pin().remove(k).is_some()
    }
    fn update(&self, k: &u64) -> bool {
        self.0.pin().update(*k, |v| v + 1).is_some()
    }
}

/// `scc::HashMap`.
pub struct Scc(scc::HashMap<u64, u64, Hasher>);

impl BenchMap for Scc {
    const NAME: &'static str = "scc::HashMap";
    fn new() -> Self {
        Self(scc::HashMap::with_hasher(Hasher::default()))
    }
    fn with_capacity(n: usize) -> Self {
        Self(scc::HashMap::with_capacity_and_hasher(n, Hasher::default()))
    }
    fn get(&self, k: &u64) -> bool {
        self.0.read_sync(k, |_, _| ()).is_some()
    }
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.upsert_sync(k, v).is_none()
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.remove_sync(k).is_some()
    }
    fn update(&self, k: &u64) -> bool {
        self.0.update_sync(k, |_, v| *v += 1).is_some()
    }
}

/// `flurry::HashMap`.
pub struct Flurry(flurry::HashMap<u64, u64, Hasher>);

impl BenchMap for Flurry {
    const NAME: &'static str = "flurry";
    fn new() -> Self {
        Self(flurry::HashMap::with_hasher(Hasher::default()))
    }
    fn with_capacity(n: usize) -> Self {
        Self(flurry::HashMap::with_capacity_and_hasher(
            n,
            Hasher::default(),
        ))
    }
    fn get(&self, k: &u64) -> bool {
        self.0.pin().get(k).is_some()
    }
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.pin().insert(k, v).is_none()
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.pin().remove(k).is_some()
    }
    fn update(&self, k: &u64) -> bool {
        self.0
            .pin()
            .compute_if_present(k, |_, v| Some(v + 1))
            .is_some()
    }
}

/// `moka::sync::Cache` without a size bound or expiry.
///
/// moka's `insert` does not report whether the key was new; it is counted as new (the
/// bustle mixes only insert fresh keys).
pub struct Moka(moka::sync::Cache<u64, u64, Hasher>);

impl BenchMap for Moka {
    const NAME: &'static str = "moka (unbounded)";
    fn new() -> Self {
        Self(moka::sync::Cache::builder().build_with_hasher(Hasher::default()))
    }
    fn with_capacity(n: usize) -> Self {
        Self(
            moka::sync::Cache::builder()
                .initial_capacity(n)
                .build_with_hasher(Hasher::default()),
        )
    }
    fn get(&self, k: &u64) -> bool {
        self.0.get(k).is_some()
    }
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.insert(k, v);
        true
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.remove(k).is_some()
    }
    fn update(&self, k: &u64) -> bool {
        use moka::ops::compute::{CompResult, Op};
        let result = self.0.entry_by_ref(k).and_compute_with(|e| match e {
            Some(e) => Op::Put(e.into_value() + 1),
            None => Op::Nop,
        });
        matches!(result, CompResult::ReplacedWith(_))
    }
    fn maintain(&self) -> bool {
        self.0.run_pending_tasks();
        true
    }
}

/// Calls back once per compared concurrent map type.
pub trait MapVisitor {
    /// Called with each map type in turn.
    fn visit<M: BenchMap>(&mut self);
}

/// The `--maps` selection: lowercase name fragments; unset means every map.
static SELECTED: OnceLock<Vec<String>> = OnceLock::new();

/// Restricts every workload to the maps whose name contains one of `fragments`
/// (case-insensitive). Call once, before any workload; later calls are ignored.
pub fn select_maps(fragments: &[String]) {
    let _ = SELECTED.set(fragments.iter().map(|f| f.to_lowercase()).collect());
}

/// Whether the map (or reference row) called `name` is selected (see [`select_maps`]).
pub fn is_selected(name: &str) -> bool {
    SELECTED.get().is_none_or(|frags| {
        let name = name.to_lowercase();
        frags.iter().any(|f| name.contains(f.as_str()))
    })
}

/// Visits every selected concurrent map of the comparison, ttlmap first.
pub fn for_each_map(v: &mut impl MapVisitor) {
    fn visit<M: BenchMap>(v: &mut impl MapVisitor) {
        if is_selected(M::NAME) {
            v.visit::<M>();
        }
    }
    visit::<TtlMap>(v);
    visit::<MutexMap>(v);
    visit::<RwLockMap>(v);
    visit::<DashMap>(v);
    visit::<Papaya>(v);
    visit::<Scc>(v);
    visit::<Flurry>(v);
    visit::<Moka>(v);
}

/// A [`BenchMap`] as a `bustle` collection; the handle is a clone of the `Arc`.
pub struct Table<M>(Arc<M>);

impl<M: BenchMap> bustle::Collection for Table<M> {
    type Handle = Self;
    fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(M::with_capacity(capacity)))
    }
    fn pin(&self) -> Self::Handle {
        Self(Arc::clone(&self.0))
    }
}

impl<M: BenchMap> bustle::CollectionHandle for Table<M> {
    type Key = u64;
    fn get(&mut self, key: &u64) -> bool {
        self.0.get(key)
    }
    fn insert(&mut self, key: &u64) -> bool {
        self.0.insert(*key, *key)
    }
    fn remove(&mut self, key: &u64) -> bool {
        self.0.remove(key)
    }
    fn update(&mut self, key: &u64) -> bool {
        self.0.update(key)
    }
}

/// Lookups (`get`, `update`) made by a [`Counted`] collection, and how many found the key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lookups {
    /// `get` calls.
    pub gets: u64,
    /// `get` calls that found the key.
    pub get_hits: u64,
    /// `update` calls.
    pub updates: u64,
    /// `update` calls that found the key.
    pub update_hits: u64,
}

/// Totals of every [`Counted`] handle dropped since the last [`take_lookups`].
static LOOKUPS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// The lookups counted by [`Counted`] handles dropped since the last call, and resets them.
pub fn take_lookups() -> Lookups {
    // Relaxed: counters; the handles that added to them ran on threads that bustle joined
    // before `run_silently` returned to our thread, which orders their adds before this.
    let [gets, get_hits, updates, update_hits] = LOOKUPS.each_ref().map(|c| c.swap(0, Relaxed));
    Lookups {
        gets,
        get_hits,
        updates,
        update_hits,
    }
}

/// A [`Table`] whose handles count their lookups and hits (see [`take_lookups`]): an
/// instrumented run, to measure how many of a mix's reads find their key. Not timed.
pub struct Counted<M> {
    table: Table<M>,
    counts: Lookups,
}

impl<M: BenchMap> bustle::Collection for Counted<M> {
    type Handle = Self;
    fn with_capacity(capacity: usize) -> Self {
        Self {
            table: <Table<M> as bustle::Collection>::with_capacity(capacity),
            counts: Lookups::default(),
        }
    }
    fn pin(&self) -> Self::Handle {
        Self {
            table: Table(Arc::clone(&self.table.0)),
            counts: Lookups::default(),
        }
    }
}

impl<M: BenchMap> bustle::CollectionHandle for Counted<M> {
    type Key = u64;
    fn get(&mut self, key: &u64) -> bool {
        let hit = self.table.0.get(key);
        self.counts.gets += 1;
        self.counts.get_hits += u64::from(hit);
        hit
    }
    fn insert(&mut self, key: &u64) -> bool {
        self.table.0.insert(*key, *key)
    }
    fn remove(&mut self, key: &u64) -> bool {
        self.table.0.remove(key)
    }
    fn update(&mut self, key: &u64) -> bool {
        let hit = self.table.0.update(key);
        self.counts.updates += 1;
        self.counts.update_hits += u64::from(hit);
        hit
    }
}

impl<M> Drop for Counted<M> {
    fn drop(&mut self) {
        let c = self.counts;
        for (total, n) in LOOKUPS
            .iter()
            .zip([c.gets, c.get_hits, c.updates, c.update_hits])
        {
            // Relaxed: see `take_lookups`.
            total.fetch_add(n, Relaxed);
        }
    }
}

/// A map whose entries expire, as the TTL workloads use it.
pub trait TtlSubject: Send + Sync + 'static {
    /// Name shown in the tables.
    const NAME: &'static str;
    /// An empty map sized for `capacity` entries. `ttl` is the per-cache TTL for maps that
    /// only have one; maps with per-entry TTL ignore it.
    fn build(capacity: usize, ttl: Duration) -> Self;
    /// Inserts `k` so that it expires after `ttl`.
    fn insert_ttl(&self, k: u64, v: u64, ttl: Duration);
    /// Whether `k` is present and live.
    fn get(&self, k: &u64) -> bool;
    /// Removes; returns whether `k` was present.
    fn remove(&self, k: &u64) -> bool;
    /// Explicitly frees what has expired (`purge_expired`, `run_pending_tasks`).
    fn maintain(&self);
}

impl TtlSubject for TtlMap {
    const NAME: &'static str = "ttlmap insert_with_ttl";
    fn build(capacity: usize, _ttl: Duration) -> Self {
        <Self as BenchMap>::with_capacity(capacity)
    }
    fn insert_ttl(&self, k: u64, v: u64, ttl: Duration) {
        self.0.pin().insert_with_ttl(k, v, ttl);
    }
    fn get(&self, k: &u64) -> bool {
        BenchMap::get(self, k)
    }
    fn remove(&self, k: &u64) -> bool {
        BenchMap::remove(self, k)
    }
    fn maintain(&self) {
        self.0.purge_expired();
    }
}

/// `ttlmap::HashMap` built with a map-wide `default_ttl`, filled with plain `insert`
/// (the counterpart of moka's per-cache `time_to_live`).
pub struct TtlMapDefault(ttlmap::HashMap<u64, u64, Hasher>);

impl TtlSubject for TtlMapDefault {
    const NAME: &'static str = "ttlmap default_ttl";
    fn build(capacity: usize, ttl: Duration) -> Self {
        Self(
            ttlmap::HashMap::builder()
                .capacity(capacity)
                .hasher(Hasher::default())
                .default_ttl(ttl)
                .build(),
        )
    }
    fn insert_ttl(&self, k: u64, v: u64, _ttl: Duration) {
        self.0.pin().insert(k, v);
    }
    fn get(&self, k: &u64) -> bool {
        self.0.pin().get(k).is_some()
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.pin().remove(k).is_some()
    }
    fn maintain(&self) {
        self.0.purge_expired();
    }
}

/// `moka::sync::Cache` with a per-cache `time_to_live`.
pub struct MokaTtl(moka::sync::Cache<u64, u64, Hasher>);

impl TtlSubject for MokaTtl {
    const NAME: &'static str = "moka time_to_live";
    fn build(capacity: usize, ttl: Duration) -> Self {
        Self(
            moka::sync::Cache::builder()
                .initial_capacity(capacity)
                .time_to_live(ttl)
                .build_with_hasher(Hasher::default()),
        )
    }
    fn insert_ttl(&self, k: u64, v: u64, _ttl: Duration) {
        self.0.insert(k, v);
    }
    fn get(&self, k: &u64) -> bool {
        self.0.get(k).is_some()
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.remove(k).is_some()
    }
    fn maintain(&self) {
        self.0.run_pending_tasks();
    }
}

/// A value carrying its own TTL, for moka's per-entry [`moka::Expiry`].
#[derive(Clone, Copy, Debug)]
pub struct Timed {
    /// The payload.
    pub value: u64,
    /// How long the entry lives after it is written.
    pub ttl: Duration,
}

/// Reads each entry's TTL from its [`Timed`] value.
pub struct PerEntryExpiry;

impl moka::Expiry<u64, Timed> for PerEntryExpiry {
    fn expire_after_create(&self, _k: &u64, v: &Timed, _at: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
    fn expire_after_update(
        &self,
        _k: &u64,
        v: &Timed,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// `moka::sync::Cache` with a per-entry `Expiry`.
pub struct MokaExpiry(moka::sync::Cache<u64, Timed, Hasher>);

impl TtlSubject for MokaExpiry {
    const NAME: &'static str = "moka per-entry Expiry";
    fn build(capacity: usize, _ttl: Duration) -> Self {
        Self(
            moka::sync::Cache::builder()
                .initial_capacity(capacity)
                .expire_after(PerEntryExpiry)
                .build_with_hasher(Hasher::default()),
        )
    }
    fn insert_ttl(&self, k: u64, value: u64, ttl: Duration) {
        self.0.insert(k, Timed { value, ttl });
    }
    fn get(&self, k: &u64) -> bool {
        self.0.get(k).is_some()
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.remove(k).is_some()
    }
    fn maintain(&self) {
        self.0.run_pending_tasks();
    }
}

/// Calls back once per compared TTL map type.
pub trait TtlVisitor {
    /// Called with each TTL map type in turn.
    fn visit<T: TtlSubject>(&mut self);
}

/// Visits every selected TTL map of the comparison, ttlmap first.
pub fn for_each_ttl_map(v: &mut impl TtlVisitor) {
    fn visit<T: TtlSubject>(v: &mut impl TtlVisitor) {
        if is_selected(T::NAME) {
            v.visit::<T>();
        }
    }
    visit::<TtlMap>(v);
    visit::<TtlMapDefault>(v);
    visit::<MokaTtl>(v);
    visit::<MokaExpiry>(v);
}

/// A size-bounded concurrent u64 → u64 cache, as the bounded workloads use it (the same
/// operations as [`BenchMap`], but a key inserted earlier may be gone: evicted).
pub trait BoundedMap: Send + Sync + 'static {
    /// Name shown in the tables.
    const NAME: &'static str;
    /// An empty cache holding at most `max_capacity` entries, sized for that many.
    fn bounded(max_capacity: usize) -> Self;
    /// Whether `k` is present.
    fn get(&self, k: &u64) -> bool;
    /// Inserts or replaces.
    fn insert(&self, k: u64, v: u64);
    /// Removes; returns whether `k` was present.
    fn remove(&self, k: &u64) -> bool;
    /// Increments the value of `k` if present; returns whether it was.
    fn update(&self, k: &u64) -> bool;
    /// Entries held now (to check that the bound holds and evictions happened).
    fn entries(&self) -> usize;
}

/// `ttlmap::HashMap` built with `max_capacity(n)` and a capacity hint of `n`.
pub struct TtlMapBounded(ttlmap::HashMap<u64, u64, Hasher>);

impl BoundedMap for TtlMapBounded {
    const NAME: &'static str = "ttlmap max_capacity";
    fn bounded(max_capacity: usize) -> Self {
        Self(
            ttlmap::HashMap::builder()
                .capacity(max_capacity)
                .hasher(Hasher::default())
                .max_capacity(max_capacity as u64)
                .build(),
        )
    }
    fn get(&self, k: &u64) -> bool {
        self.0.pin().get(k).is_some()
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.pin().insert(k, v);
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.pin().remove(k).is_some()
    }
    fn update(&self, k: &u64) -> bool {
        self.0.pin().update(*k, |v| v + 1).is_some()
    }
    fn entries(&self) -> usize {
        self.0.len()
    }
}

/// `moka::sync::Cache` with `max_capacity(n)` and `initial_capacity(n)`.
pub struct MokaBounded(moka::sync::Cache<u64, u64, Hasher>);

impl BoundedMap for MokaBounded {
    const NAME: &'static str = "moka max_capacity";
    fn bounded(max_capacity: usize) -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(max_capacity as u64)
                .initial_capacity(max_capacity)
                .build_with_hasher(Hasher::default()),
        )
    }
    fn get(&self, k: &u64) -> bool {
        self.0.get(k).is_some()
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v);
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.remove(k).is_some()
    }
    fn update(&self, k: &u64) -> bool {
        use moka::ops::compute::{CompResult, Op};
        let result = self.0.entry_by_ref(k).and_compute_with(|e| match e {
            Some(e) => Op::Put(e.into_value() + 1),
            None => Op::Nop,
        });
        matches!(result, CompResult::ReplacedWith(_))
    }
    fn entries(&self) -> usize {
        // moka applies evictions in its maintenance; count after it.
        self.0.run_pending_tasks();
        self.0.entry_count() as usize
    }
}

/// `quick_cache::sync::Cache` of `n` items (unit weights), sized for `n`.
///
/// quick_cache has no atomic read-modify-write short of `entry` (a write lock and, on a
/// miss, a placeholder); `update` is a `get` then a `replace` of a present key, the
/// cheaper way for it.
pub struct QuickCacheBounded(
    quick_cache::sync::Cache<
        u64,
        u64,
        quick_cache::UnitWeighter,
        Hasher,
        quick_cache::sync::DefaultLifecycle<u64, u64>,
    >,
);

impl BoundedMap for QuickCacheBounded {
    const NAME: &'static str = "quick_cache";
    fn bounded(max_capacity: usize) -> Self {
        Self(quick_cache::sync::Cache::with(
            max_capacity,
            max_capacity as u64,
            quick_cache::UnitWeighter,
            Hasher::default(),
            quick_cache::sync::DefaultLifecycle::default(),
        ))
    }
    fn get(&self, k: &u64) -> bool {
        self.0.get(k).is_some()
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v);
    }
    fn remove(&self, k: &u64) -> bool {
        self.0.remove(k).is_some()
    }
    fn update(&self, k: &u64) -> bool {
        match self.0.get(k) {
            Some(v) => self.0.replace(*k, v + 1, false).is_ok(),
            None => false,
        }
    }
    fn entries(&self) -> usize {
        self.0.len()
    }
}

/// Calls back once per compared bounded cache type.
pub trait BoundedVisitor {
    /// Called with each bounded cache type in turn.
    fn visit<M: BoundedMap>(&mut self);
}

/// Visits every selected bounded cache of the comparison, ttlmap first.
pub fn for_each_bounded_map(v: &mut impl BoundedVisitor) {
    fn visit<M: BoundedMap>(v: &mut impl BoundedVisitor) {
        if is_selected(M::NAME) {
            v.visit::<M>();
        }
    }
    visit::<TtlMapBounded>(v);
    visit::<MokaBounded>(v);
    visit::<QuickCacheBounded>(v);
}
