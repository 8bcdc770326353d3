//! The bounded cache's state and its eviction: the capacity, the weigher, the weighted
//! size, the removal listener, and the policy (created when the map first holds a
//! sixteenth of its capacity: `POLICY_AT`).
//!
//! # What the engine tells us
//! The raw engine calls [`Bound::linked`] when it links a new node, [`Bound::replaced`]
//! when it decides a replacement, and [`Bound::removed`] when it decides a removal (each
//! decision is one freezing CAS, made by exactly one thread: `raw/cell.rs`). These do the
//! weight accounting and queue the listener's call (`events.rs`); no user code runs
//! inside the engine.
//!
//! # Weights
//! With a bound or a weigher, every value carries its weight (1 without a weigher),
//! fixed when it is written: a node's first value's in the node's cache word
//! (`meta.rs`), every later value's in its heap cell (`raw/cell.rs`). `weighted` is the
//! sum of the weights of the current values of the entries whose removal is not decided,
//! kept by the decisions themselves, each exactly once (one freezing CAS per change,
//! `raw/cell.rs`): `linked` adds a new node's weight, `replaced` adds the new value's
//! weight minus the old one's, `removed` subtracts the old one's. The old value's weight
//! is read before the deciding CAS, while the cell cannot have been retired yet (a cell is
//! retired only after it is frozen). Each delta is exact whatever order the additions
//! land in, so the sum is exact at quiescence. (An earlier design kept one weight per
//! node and swapped it in at each replacement: two replacements' swaps could land in the
//! opposite order of their decisions, leaving the node counted at a weight its value no
//! longer had; loom model `update_vs_update_weights`.) The total is transiently below the
//! truth when a removal's subtraction lands before the insert's `linked` addition (it may
//! even wrap below zero, read as 0). `weighted` is one shared counter (not sharded): the
//! inserting thread must read the true total to keep the bound hard.
//!
//! # The bound
//! After an insert that added weight, the inserting call evicts ([`Bound::enforce`])
//! until the weighted size it reads (with an RMW, so the latest value) is within the
//! capacity. So when a call returns, the excess is at most what inserts still running on
//! other threads added (they evict for it before they return). An entry heavier than the
//! whole capacity is inserted and then removed at once (cause `Size`); `max_capacity(0)`
//! holds nothing.

use std::ptr;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::events;
use super::policy::Ranker;
use super::pool::{self, Pool, Pooled, Pools};
use super::{Choice, Config, Policy, Sampled};
use crate::raw::{Cell, Node, Now, RawMap};
use crate::reclaim::RawGuard;
use crate::sync::{AtomicPtr, AtomicU64, Ordering};

/// Why an entry left the map, as the eviction listener is told.
///
/// # Examples
/// ```
/// use std::sync::{Arc, Mutex};
/// use ttlmap::RemovalCause;
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let map = ttlmap::HashMap::builder()
///     .eviction_listener(move |k: &u32, _v: &u32, cause| log.lock().unwrap().push((*k, cause)))
///     .build();
/// map.pin().insert(1, 10);
/// map.pin().insert(1, 11);
/// map.pin().remove(&1);
/// assert_eq!(
///     *seen.lock().unwrap(),
///     [(1, RemovalCause::Replaced), (1, RemovalCause::Explicit)]
/// );
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RemovalCause {
    /// Its deadline passed before it was removed, overwritten, swept or purged.
    Expired,
    /// Removed by the user: `remove`, `remove_if`, `retain`, `clear`, `compute`'s remove.
    Explicit,
    /// A live value overwritten by `insert`, `update` or `compute`.
    Replaced,
    /// Evicted by the capacity bound (or not admitted).
    Size,
}

pub(crate) type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> u32 + Send + Sync>;
pub(crate) type Listener<K, V> = Arc<dyn Fn(&K, &V, RemovalCause) + Send + Sync>;

/// No bound.
pub(crate) const UNBOUNDED: u64 = u64::MAX;

/// The bounded cache's options, as the builder collects them.
pub(crate) struct Options<K, V> {
    pub(crate) max_capacity: Option<u64>,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) record_stats: bool,
}

impl<K, V> Default for Options<K, V> {
    fn default() -> Self {
        Options {
            max_capacity: None,
            weigher: None,
            listener: None,
            record_stats: false,
        }
    }
}

/// Entries offered to the policy per eviction at most (its `sample` setting). Two under
/// loom: every probe of the sample is a few more atomic loads for the model checker to
/// interleave, and 16 (32 probes) made the bounded models run for tens of minutes.
const MAX_SAMPLE: usize = if crate::sync::LOOM { 2 } else { 32 };
/// An eviction gives up after this many rounds that evicted nothing (every victim it
/// chose was removed by someone else first, or the map showed nothing to evict).
const MAX_FUTILE_ROUNDS: usize = 8;

/// The bounded cache's state of one map; see the module docs.
pub(crate) struct Bound<K, V> {
    /// The bound on the weighted size ([`UNBOUNDED`]: none).
    capacity: AtomicU64,
    /// Whether weights are tracked (a bound or a weigher was set).
    accounting: bool,
    /// The sum of the weights of the entries whose removal is not decided.
    weighted: CachePadded<AtomicU64>,
    weigher: Option<Weigher<K, V>>,
    listener: Option<Listener<K, V>>,
    /// Whether hits and misses are counted.
    pub(crate) record_stats: bool,
    /// The policy and the eviction pools, created once the map first holds
    /// `1 / POLICY_AT` of its capacity; never replaced before the map is dropped.
    policy: AtomicPtr<Evictor>,
}

impl<K, V> Bound<K, V> {
    /// The state for `o`, or `None` if `o` asks for nothing (a plain map).
    pub(crate) fn new(o: Options<K, V>) -> Option<Bound<K, V>> {
        if o.max_capacity.is_none()
            && o.weigher.is_none()
            && o.listener.is_none()
            && !o.record_stats
        {
            return None;
        }
        Some(Bound {
            capacity: AtomicU64::new(o.max_capacity.unwrap_or(UNBOUNDED)),
            accounting: o.max_capacity.is_some() || o.weigher.is_some(),
            weighted: CachePadded::new(AtomicU64::new(0)),
            weigher: o.weigher,
            listener: o.listener,
            record_stats: o.record_stats,
            policy: AtomicPtr::new(ptr::null_mut()),
        })
    }

    /// The bound, if any.
    pub(crate) fn max_capacity(&self) -> Option<u64> {
        // Relaxed: a setting; `enforce` re-reads it every round.
        match self.capacity.load(Ordering::Relaxed) {
            UNBOUNDED => None,
            c => Some(c),
        }
    }

    /// Whether this map has a bound whose weights are tracked (`set_max_capacity` needs it).
    pub(crate) fn tracks_weights(&self) -> bool {
        self.accounting
    }

    pub(crate) fn set_capacity(&self, capacity: u64) {
        // Relaxed: a setting read afresh by every `enforce` round; the caller enforces.
        self.capacity.store(capacity, Ordering::Relaxed);
    }

    /// The weighted size (the sum of the weights of the entries whose removal is not
    /// decided), if weights are tracked.
    pub(crate) fn weighted_size(&self) -> Option<u64> {
        // Relaxed: a statistic.
        self.accounting
            .then(|| below_zero_is_zero(self.weighted.load(Ordering::Relaxed)))
    }

    /// The number of entries whose removal is not decided, if one word counts them: with
    /// a bound and no weigher every weight is 1, so the weighted size is that number.
    pub(crate) fn entry_count(&self) -> Option<u64> {
        match self.weigher {
            None => self.weighted_size(),
            Some(_) => None,
        }
    }

    /// The weight of a value about to be written for `key` (1 without a weigher, 0 if
    /// weights are not tracked). Runs the user's weigher: call it before the engine.
    pub(crate) fn weigh(&self, key: &K, value: &V) -> u32 {
        match &self.weigher {
            Some(w) => w(key, value),
            None => u32::from(self.accounting),
        }
    }

    pub(crate) fn listens(&self) -> bool {
        self.listener.is_some()
    }

    /// The policy, if the map has held `1 / POLICY_AT` of its capacity once.
    #[inline]
    pub(crate) fn policy(&self) -> Option<&Policy> {
        self.evictor().map(|e| &e.policy)
    }

    /// The policy and the pools, if the map has held `1 / POLICY_AT` of its capacity once.
    #[inline]
    fn evictor(&self) -> Option<&Evictor> {
        // Acquire: pairs with the Release CAS that published the policy.
        let p = self.policy.load(Ordering::Acquire);
        // SAFETY: a published policy is never freed before the map (`Drop`).
        (!p.is_null()).then(|| unsafe { &*p })
    }

    // ----- hooks the engine calls at its decisions ---------------------------------

    /// A new node was linked with weight `w` in its word (added even if the node was
    /// replaced or removed since: those subtract from `w` on their own).
    #[inline]
    pub(crate) fn linked(&self, w: u32) {
        if self.accounting {
            // Relaxed: the total is a sum of RMWs; see the module docs.
            self.weighted.fetch_add(u64::from(w), Ordering::Relaxed);
        }
    }

    /// A replacement of `node`'s value `old` (weighing `old_weight`) by a value weighing
    /// `weight` was decided.
    #[inline]
    pub(crate) fn replaced(
        &self,
        node: &Node<K, V>,
        old: &Cell<V>,
        old_weight: u32,
        weight: u32,
        cause: RemovalCause,
    ) {
        if self.accounting && old_weight != weight {
            // Relaxed: see `linked`. Wrapping: the difference may be negative.
            let delta = u64::from(weight).wrapping_sub(u64::from(old_weight));
            self.weighted.fetch_add(delta, Ordering::Relaxed);
        }
        self.tell(&node.key, &old.value, cause);
    }

    /// The removal of `node`, whose last value `old` weighs `old_weight`, was decided.
    #[inline]
    pub(crate) fn removed(
        &self,
        node: &Node<K, V>,
        old: &Cell<V>,
        old_weight: u32,
        cause: RemovalCause,
    ) {
        if self.accounting {
            // Relaxed: see `linked`.
            self.weighted
                .fetch_sub(u64::from(old_weight), Ordering::Relaxed);
        }
        self.tell(&node.key, &old.value, cause);
    }

    #[inline]
    fn tell(&self, key: &K, value: &V, cause: RemovalCause) {
        if self.listener.is_some() {
            events::push(self, key, value, cause);
        }
    }

    /// The options the map was built with (for `Clone`).
    pub(crate) fn options(&self) -> Options<K, V> {
        Options {
            max_capacity: self.max_capacity(),
            weigher: self.weigher.clone(),
            listener: self.listener.clone(),
            record_stats: self.record_stats,
        }
    }

    /// Calls the listener (for `events.rs`).
    pub(crate) fn call_listener(&self, key: &K, value: &V, cause: RemovalCause) {
        if let Some(l) = &self.listener {
            l(key, value, cause);
        }
    }

    // ----- eviction ------------------------------------------------------------------

    /// A lookup found `node`, whose key hashes to `hash`: tells the policy (if it exists
    /// yet), which writes the node's word only when its stamp is stale.
    #[inline]
    pub(crate) fn on_hit(&self, node: &Node<K, V>, hash: u64) {
        if let Some(policy) = self.policy() {
            policy.on_hit(policy_hash(hash), &node.meta);
        }
    }

    /// An insert of a key hashing to `hash` is about to run: fetches the policy's lines
    /// for it meanwhile (see [`Policy::prefetch_insert`]), if the policy exists yet.
    #[inline]
    pub(crate) fn before_insert(&self, hash: u64) {
        // Under loom a prefetch does nothing, and the policy's load would be one more
        // atomic access per insert for the model checker to interleave.
        if crate::sync::LOOM {
            return;
        }
        if let Some(policy) = self.policy() {
            policy.prefetch_insert(policy_hash(hash));
        }
    }

    /// A new entry with this `hash` and cache word `node` was linked: tells the policy
    /// (if it exists yet) and returns the window's candidate.
    pub(crate) fn on_insert(&self, node: &Node<K, V>, hash: u64) -> Option<u64> {
        let policy = self.policy()?;
        let ins = policy.on_insert(policy_hash(hash));
        node.meta.store(ins.meta);
        ins.candidate
    }

    /// Evicts until the weighted size is within the capacity (see the module docs), or
    /// `limit` entries were evicted; returns whether it is within. `candidate` is the
    /// window's candidate named by the insert, `fresh` the entry just written (removed
    /// first if it alone outweighs the capacity).
    pub(crate) fn enforce<G: RawGuard>(
        &self,
        raw: &RawMap<K, V>,
        mut candidate: Option<u64>,
        fresh: Option<(&Node<K, V>, &Cell<V>, u32)>,
        limit: usize,
        now: &mut Now<'_>,
        guard: &G,
    ) -> bool {
        if !self.accounting {
            return true;
        }
        // Relaxed: a setting.
        let cap = self.capacity.load(Ordering::Relaxed);
        if let Some((node, cell, weight)) = fresh {
            if u64::from(weight) > cap {
                raw.remove_cell(node, cell, |_| Some(RemovalCause::Size), guard);
            }
        }
        let (mut futile, mut evicted) = (0, 0);
        loop {
            // An RMW: reads the latest total in its modification order, which a plain
            // load need not (the bound must see every completed insert). AcqRel: the
            // capacity is a Relaxed setting, so a `set_max_capacity` that stored a new one
            // publishes it with this RMW's Release to every enforcing insert whose RMW
            // comes later in the total's order (its Acquire here; the RMWs between them
            // continue the release sequence): that insert's load of the capacity below
            // sees the new one. Else the shrink reads a total without the insert's weight
            // and returns, while the insert reads the old capacity: neither evicts for it
            // (loom: `set_max_capacity_vs_insert`).
            let total = below_zero_is_zero(self.weighted.fetch_add(0, Ordering::AcqRel));
            let cap = self.capacity.load(Ordering::Relaxed);
            if total > cap / POLICY_AT && self.policy().is_none() {
                self.create_policy(raw);
            }
            if total <= cap {
                return true;
            }
            if evicted == limit {
                return false;
            }
            if self.evict_one(raw, candidate.take(), now, guard) {
                futile = 0;
                evicted += 1;
            } else {
                futile += 1;
                if futile >= MAX_FUTILE_ROUNDS {
                    return false;
                }
            }
        }
    }

    /// Chooses a victim (the window's candidate, or main's victim from the pool or a
    /// sample) and removes it. `false` if nothing was removed.
    fn evict_one<G: RawGuard>(
        &self,
        raw: &RawMap<K, V>,
        candidate: Option<u64>,
        now: &mut Now<'_>,
        guard: &G,
    ) -> bool {
        // `enforce` evicts only over the capacity, hence over `cap / POLICY_AT`, where it has
        // made sure the policy exists (its creation never fails: a lost race leaves the
        // winner's).
        let e = self
            .evictor()
            .expect("enforce creates the policy before it evicts");
        let k = e.policy.config().sample.clamp(1, MAX_SAMPLE);
        if let Some(done) = self.evict_pooled(raw, e, k, candidate, now, guard) {
            return done;
        }
        self.evict_sampled(raw, &e.policy, k, candidate, now, guard)
    }

    /// [`evict_one`](Self::evict_one) with main's victim taken from the calling thread's
    /// pool, fed by the hand (`pool.rs`). `None` (nothing done) when the table has at most
    /// `2k` buckets (the sample then shows every entry), when another thread holds the
    /// pool, or when the hand and the pool found nothing: the caller samples instead.
    /// `Some(false)` (nothing removed, no sample) when far stretches walked a whole round of
    /// the table and found nothing.
    fn evict_pooled<G: RawGuard>(
        &self,
        raw: &RawMap<K, V>,
        e: &Evictor,
        k: usize,
        candidate: Option<u64>,
        now: &mut Now<'_>,
        guard: &G,
    ) -> Option<bool> {
        let policy = &e.policy;
        let mut pool = e.pools.try_lock()?;
        let rank = policy.ranker();
        // The candidate is found before the walk only if the pool may judge it: a full
        // pool (a small table, which samples, never fills one: its walks feed nothing).
        let early = pool
            .is_full()
            .then(|| find_candidate(raw, candidate, now, guard));
        if let Some(Some(((node, cell, false), hash))) = early {
            if self.rejects_unwalked(raw, policy, &mut pool, &rank, node, hash, now) {
                drop(pool);
                return Some(self.evict(raw, node, cell, now, guard));
            }
        }
        // A table of at most `2k` buckets samples (every bucket): the hand's first walk
        // finds it so and walks nothing (the stretch it claimed is skipped, which costs
        // nothing: the hand's position is arbitrary).
        let mut hand = Hand {
            raw,
            policy,
            rank: &rank,
            small: 2 * k,
            size: 0,
            expired: None,
        };
        let (mut fresh, mut walked) = (0, 0);
        for _ in 0..pool::MAX_CLAIMS {
            let (from, n) = e.pools.claim();
            let found = hand.walk(&mut pool, from, n, now, guard)?;
            e.pools.adapt(n, found);
            fresh += found;
            walked += n;
            if fresh >= pool::FRESH || hand.expired.is_some() {
                break;
            }
        }
        let mut victim = hand.victim(&mut pool, now, guard);
        if victim.is_none() && walked < hand.size {
            // Nothing in the stretches nor in the pool: a sparse table. Far stretches,
            // doubling, until one holds an entry or a whole round is walked.
            let mut n = pool::FAR_STRETCH;
            while walked < hand.size {
                let found = hand.walk(&mut pool, e.pools.claim_far(n), n, now, guard)?;
                walked += n;
                if found > 0 {
                    break;
                }
                n = (2 * n).min(pool::MAX_FAR_STRETCH);
            }
            victim = hand.victim(&mut pool, now, guard);
            if victim.is_none() {
                // A whole round found nothing (or what it found is gone already): the
                // sample's walk would find nothing either. `enforce` tries again.
                return Some(false);
            }
        }
        let cand = early.unwrap_or_else(|| find_candidate(raw, candidate, now, guard));
        let cand_sampled = cand.map(|((node, _, expired), hash)| Sampled {
            hash,
            meta: &node.meta,
            expired,
        });
        // An expired entry goes first (the candidate, if it expired too, as the policy
        // says).
        let (node, cell, expired, at) = victim?;
        let sample = [Sampled {
            hash: match at {
                Some(i) => pool.get(i).hash,
                None => policy_hash_of(node),
            },
            meta: &node.meta,
            expired,
        }];
        let (node, cell) = match policy.choose_victim(cand_sampled.as_ref(), &sample) {
            Some(Choice::Sampled(_)) => {
                if let Some(i) = at {
                    pool.remove(i);
                }
                (node, cell)
            }
            Some(Choice::Candidate) => match cand {
                Some(((node, cell, _), hash)) => {
                    pool.remove_hash(hash);
                    (node, cell)
                }
                None => return Some(false),
            },
            None => return Some(false),
        };
        drop(pool);
        Some(self.evict(raw, node, cell, now, guard))
    }

    /// Whether the window's candidate (`node`, live, known by `hash`) loses its contest
    /// against the pool's best as it is, before the hand walks; it is then dropped from
    /// the pool (if pooled) and the caller evicts it. Called with a full pool (the caller
    /// looks the candidate up early only then); only when no entry can have expired, the
    /// candidate is unjudged, and this is not one of the evictions that walk anyway: see
    /// "Judged before the walk" in `pool.rs`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn rejects_unwalked(
        &self,
        raw: &RawMap<K, V>,
        policy: &Policy,
        pool: &mut Pool,
        rank: &Ranker,
        node: &Node<K, V>,
        hash: u64,
        now: &mut Now<'_>,
    ) -> bool {
        debug_assert!(
            pool.is_full(),
            "judged before the walk with a pool not full"
        );
        if !node.meta.load().is_new() || raw.may_have_expired(now) {
            return false;
        }
        if pool.walk_due() {
            return false;
        }
        let Some(i) = pool.best(rank) else {
            return false;
        };
        if policy.admits(hash, pool.get(i).hash) {
            // The walk decides, as it did before (and the pool's best is found again).
            return false;
        }
        policy.reject(hash);
        pool.remove_hash(hash);
        true
    }

    /// [`evict_one`](Self::evict_one) with main's victim chosen among `k` random entries.
    fn evict_sampled<G: RawGuard>(
        &self,
        raw: &RawMap<K, V>,
        policy: &Policy,
        k: usize,
        candidate: Option<u64>,
        now: &mut Now<'_>,
        guard: &G,
    ) -> bool {
        let mut entries: Vec<(&Node<K, V>, &Cell<V>)> = Vec::with_capacity(k);
        let mut sample: Vec<Sampled<'_>> = Vec::with_capacity(k);
        raw.sample(random(), k, now, guard, |node, cell, expired| {
            // An entry offered twice (two probes of one bucket, or of a bucket and its
            // unready child) counts once.
            if entries.iter().any(|&(n, _)| std::ptr::eq(n, node)) {
                return false;
            }
            let hash = policy_hash_of(node);
            policy.prefetch(hash);
            entries.push((node, cell));
            sample.push(Sampled {
                hash,
                meta: &node.meta,
                expired,
            });
            true
        });
        let cand = candidate.and_then(|h| raw.find_hash(h, now, guard));
        let cand_sampled = cand.map(|(node, _, expired)| Sampled {
            hash: policy_hash_of(node),
            meta: &node.meta,
            expired,
        });
        let (node, cell) = match policy.choose_victim(cand_sampled.as_ref(), &sample) {
            Some(Choice::Candidate) => match cand {
                Some((node, cell, _)) => (node, cell),
                None => return false,
            },
            Some(Choice::Sampled(i)) => entries[i],
            None => return false,
        };
        self.evict(raw, node, cell, now, guard)
    }

    /// Removes `node` (current value `cell`) with cause `Size`, or `Expired` if it
    /// expired.
    fn evict<G: RawGuard>(
        &self,
        raw: &RawMap<K, V>,
        node: &Node<K, V>,
        cell: &Cell<V>,
        now: &mut Now<'_>,
        guard: &G,
    ) -> bool {
        raw.remove_cell(
            node,
            cell,
            |d| {
                Some(if now.live(d) {
                    RemovalCause::Size
                } else {
                    RemovalCause::Expired
                })
            },
            guard,
        )
    }

    /// Creates the policy, sized for the entries the map can hold: the capacity without
    /// a weigher, else `POLICY_AT` times the current length (the map holds
    /// `1 / POLICY_AT` of its capacity's weight now).
    #[cold]
    fn create_policy(&self, raw: &RawMap<K, V>) {
        // Relaxed: a setting.
        let cap = self.capacity.load(Ordering::Relaxed);
        let entries = if self.weigher.is_some() {
            (raw.len() as u64).saturating_mul(POLICY_AT)
        } else {
            cap
        };
        let p = Box::into_raw(Box::new(Evictor {
            policy: Policy::new(entries.clamp(16, MAX_POLICY_ENTRIES), Config::default()),
            pools: Pools::new(),
        }));
        // Release: publishes the policy (pairs with the Acquire in `policy`). Relaxed on
        // failure: another thread's policy won, ours is freed unseen.
        if self
            .policy
            .compare_exchange(ptr::null_mut(), p, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            // SAFETY: ours, never published.
            drop(unsafe { Box::from_raw(p) });
        }
    }

    /// Bytes the policy owns (for `Stats::heap_bytes`).
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .evictor()
                .map_or(0, |e| e.policy.bytes() + e.pools.bytes())
    }
}

/// The total as read, where a "negative" one counts as zero. The total is below the true
/// sum while an insert is between its link and its `linked` call and its node was
/// replaced or removed meanwhile (those subtract from a weight not yet added), and it may
/// then wrap below zero: read as it is, an insert would evict for a map that is nearly
/// empty (loom: `insert_vs_remove_then_insert_no_spurious_eviction`). A true total never
/// reaches 2^63 (that is 2^31 entries of the largest weight).
#[inline]
fn below_zero_is_zero(total: u64) -> u64 {
    if (total as i64) < 0 {
        0
    } else {
        total
    }
}

/// The map creates its policy when its weighted size first exceeds `capacity / POLICY_AT`.
///
/// Entries written before the policy exists carry no metadata (stamp 0, never in the
/// window) and no sketch counts, and the policy's window and ghosts start from nothing.
/// Created at half the capacity (as Caffeine sizes its sketch lazily), the policy cost
/// the real map 0.6–1.3 points of hit ratio against the same policy run from the first
/// request (loop at 5k: 66.1 against 67.4; zipf-0.8 at 25k / 100k: 38.6–38.9 / 49.5
/// against 39.5 / 50.4); at a sixteenth, 67.4 and 39.3 / 50.1 (`examples/policy_sweep.rs
/// map`). The price: a map that stops at a sixteenth of its bound holds a policy of
/// 30–48 bytes per entry of capacity (`cache/mod.rs`, "Memory"), about 16 times that per
/// entry it holds.
const POLICY_AT: u64 = 16;

/// The policy is sized for at most this many entries (its sketch then takes 32 MiB); a
/// larger cache still works, with a sketch that counts less precisely.
const MAX_POLICY_ENTRIES: u64 = 1 << 21;

impl<K, V> Drop for Bound<K, V> {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, nothing to synchronise with.
        let p = self.policy.load(Ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: published once, never freed before; `&mut self`: nobody reads it.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// The hash the policy knows an entry by: the map's hash with bit 63 set, which is what
/// the node's split-order key keeps of it (`raw/node.rs`, `so_entry`).
#[inline]
fn policy_hash(hash: u64) -> u64 {
    hash | 1 << 63
}

#[inline]
fn policy_hash_of<K, V>(node: &Node<K, V>) -> u64 {
    node.link.so().reverse_bits()
}

/// The policy and the eviction pools of a map, allocated together when the map first
/// holds `1 / POLICY_AT` of its capacity.
struct Evictor {
    policy: Policy,
    pools: Pools,
}

/// A victim for main: the entry, its current cell, whether it expired, and its index in
/// the pool (`None`: not pooled).
type Victim<'g, K, V> = (&'g Node<K, V>, &'g Cell<V>, bool, Option<usize>);

/// Entries of a hand's stretch whose scoring waits for their sketch lines (`evict_pooled`).
const WALK_BUFFER: usize = 8;

/// An eviction's hand (`evict_pooled`): what it needs to feed the pool from the stretches
/// it claims, and the first expired entry they held.
struct Hand<'a, 'g, K, V> {
    raw: &'g RawMap<K, V>,
    policy: &'a Policy,
    rank: &'a Ranker,
    /// A table of at most this many buckets is sampled instead.
    small: usize,
    /// The bucket count, as the last walk read it.
    size: usize,
    expired: Option<(&'g Node<K, V>, &'g Cell<V>)>,
}

impl<'g, K, V> Hand<'_, 'g, K, V> {
    /// Offers `pool` the entries of the `n` buckets from `from` on (modulo the bucket
    /// count), except an expired one, kept in `expired` if it is the first; returns how
    /// many entries the stretch held, or `None` (nothing walked) if the table has at most
    /// `small` buckets. Records the bucket count it read in `size`.
    fn walk<G: RawGuard>(
        &mut self,
        pool: &mut Pool,
        from: usize,
        n: usize,
        now: &mut Now<'_>,
        guard: &'g G,
    ) -> Option<usize> {
        let (policy, rank, expired) = (self.policy, self.rank, &mut self.expired);
        // The stretch's entries, scored once the walk is over: their sketch lines are
        // fetched meanwhile (a stretch rarely holds more than `WALK_BUFFER`; the rest are
        // offered one by one).
        let mut batch = [Pooled::default(); WALK_BUFFER];
        let (mut found, mut buffered) = (0, 0);
        self.size =
            self.raw
                .walk_buckets(from, n, self.small, now, guard, |node, cell, is_expired| {
                    found += 1;
                    if is_expired {
                        expired.get_or_insert((node, cell));
                        return;
                    }
                    let (hash, meta) = (policy_hash_of(node), node.meta.load());
                    if let Some(slot) = batch.get_mut(buffered) {
                        policy.prefetch(hash);
                        slot.hash = hash;
                        slot.score.meta = meta;
                        buffered += 1;
                    } else {
                        let score = policy.score(hash, meta);
                        pool.feed(&[Pooled { hash, score }], rank);
                    }
                })?;
        for p in &mut batch[..buffered] {
            p.score = policy.score(p.hash, p.score.meta);
        }
        pool.feed(&batch[..buffered], rank);
        Some(found)
    }

    /// The victim so far: the first expired entry the stretches held, else the pool's
    /// best ([`pick`]).
    fn victim<G: RawGuard>(
        &self,
        pool: &mut Pool,
        now: &mut Now<'_>,
        guard: &'g G,
    ) -> Option<Victim<'g, K, V>> {
        match self.expired {
            Some((node, cell)) => Some((node, cell, true, None)),
            None => pick(pool, self.raw, self.policy, self.rank, now, guard),
        }
    }
}

/// The window's candidate, found by its hash (if still in the map): the entry, its current
/// cell, whether it expired, and the hash.
///
/// (The hashes the policy knows the candidate and the victim by are the ones they were
/// found by: `find_hash` finds the entry whose split-order key holds that hash, so
/// `policy_hash_of` need not compute them again from the key.)
#[inline]
#[allow(clippy::type_complexity)]
fn find_candidate<'g, K, V, G: RawGuard>(
    raw: &'g RawMap<K, V>,
    candidate: Option<u64>,
    now: &mut Now<'_>,
    guard: &'g G,
) -> Option<((&'g Node<K, V>, &'g Cell<V>, bool), u64)> {
    candidate.and_then(|h| Some((raw.find_hash(h, now, guard)?, h)))
}

/// Re-checks of a pooled entry's word per eviction: the prototype's bound
/// (`evict_proto.rs`); past it the entry last re-scored is taken as it is.
const MAX_RESCORES: usize = 4;

/// A pooled entry found again by its hash (the best one in `pool`, with its index), with
/// its current cell and whether it expired; `None` if every pooled entry is gone.
///
/// The best entry's word is re-read: if it changed since it was scored (a hit refreshed
/// or protected it), it is re-scored and the best is chosen again, at most
/// `MAX_RESCORES` times. A hash whose entry is gone is dropped from the pool.
fn pick<'g, K, V, G: RawGuard>(
    pool: &mut Pool,
    raw: &'g RawMap<K, V>,
    policy: &Policy,
    rank: &Ranker,
    now: &mut Now<'_>,
    guard: &'g G,
) -> Option<Victim<'g, K, V>> {
    let mut tries = 0;
    loop {
        let i = pool.best(rank)?;
        let p = pool.get(i);
        let Some((node, cell, expired)) = raw.find_hash(p.hash, now, guard) else {
            pool.remove(i);
            continue;
        };
        let meta = node.meta.load();
        tries += 1;
        if expired || meta == p.score.meta || tries > MAX_RESCORES {
            return Some((node, cell, expired, Some(i)));
        }
        pool.set(
            i,
            Pooled {
                hash: p.hash,
                score: policy.score(p.hash, meta),
            },
            rank,
        );
    }
}

/// A per-thread xorshift: where an eviction starts sampling.
fn random() -> u64 {
    use std::cell::Cell as StdCell;
    if crate::sync::LOOM {
        // Loom replays each interleaving and needs the same choices every run; a
        // thread-local seeded by an address (and kept across runs) is neither.
        return 0;
    }
    thread_local! {
        static STATE: StdCell<u64> = StdCell::new({
            // A distinct seed per thread: the address of a thread-local, mixed.
            let x = 0u8;
            (&x as *const u8 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}
