//! The raw engine: a split-ordered lock-free list with expiring value cells.
//!
//! Everything here takes a guard and hands out references bounded by it; the safe API in
//! `map.rs` pins for the user. Submodules: [`node`] (list elements, cells, split-order
//! keys), [`directory`] (bucket sentinels), [`counter`] (sharded length).
//!
//! # The protocol and why it is correct
//!
//! **Structure** [SS06 §2]. All entries of the map sit in one Harris–Michael list sorted
//! by split-order key `so` (the bit-reversed hash with the low bit set). Bucket `b`'s
//! sentinel (key `reverse(b)`, low bit clear) sits right before the entries whose hash
//! ends in `b`; with `size` buckets an operation starts at sentinel `hash & (size - 1)`.
//! Doubling `size` creates new sentinels *between* existing entries, so nothing is ever
//! moved or copied; a thread with a stale `size` starts at an ancestor sentinel and
//! still finds everything [SS06 §2, the "recursive split ordering"]. Sentinels are never
//! deleted, so a bucket pointer never dangles. A sentinel is linked through its parent by
//! the one thread that claimed it, and published by setting the `READY` tag of its own
//! `next` only once linked (`directory.rs`); until then everyone starts from an ancestor.
//! The buckets a capacity hint asks for are linked up front, before the map is shared.
//!
//! **Lookups** read `next` pointers with Acquire, compare `so` first (and stop at the
//! first larger one, or, walking from their own bucket, at the first pointer to another
//! bucket's sentinel while the bucket count is unchanged: see [`Start`]), compare keys
//! only on equal `so`, never write and never help. Every
//! node a lookup visits was reachable at some moment during the lookup (the hindsight
//! lemma, O'Hearn et al., PODC 2010), so the answer is that of some moment inside the
//! call: linearizable. A value counts only if its node's `val` is a cell that is live at
//! the operation's single clock reading.
//!
//! **Writes** [M02; SS06 App. A]. `find` returns the window `(prev, cur)` of a key and
//! unlinks marked nodes it passes, one CAS each; only the thread whose CAS unlinks a node
//! retires it. An insert of a new key links a new node with a CAS on `prev` (its
//! linearization point) at the *head* of its run of equal `so`, so two inserts into the
//! same run race on the same word. Every other change of an entry — insert over an
//! existing key, update, remove, expiry — is *decided* by a CAS that freezes the entry's
//! current cell with what replaces it (a new cell, or a removal), and then *installed*
//! into the node's `val` by whoever gets there first ([`RawMap::settle`]); the decision is
//! the linearization point (`cell.rs`, `value.rs`). Installing a removal tombstones `val`
//! (that thread retires the last cell; the length dropped at the decision), then the
//! node's `next` is marked, then the node is unlinked — the order of
//! ConcurrentSkipListMap's deletion.
//! A key is never re-inserted into a tombstoned node: a writer that meets one helps mark
//! it and retries, so at most one reachable node per key has cells.
//!
//! **Expiry** (design.md §2). The deadline lives in the cell's deadline word. An expirer
//! (the sweep or `purge_expired`) decides a removal like a delete, with a freezing CAS
//! that succeeds only on the expired deadline it read; an insert over an expired cell
//! decides a replacement instead. A refresh (`set_ttl`, `persist`) CASes the same open
//! word, so of a refresh and any decision about the cell (expiry, update, remove, insert)
//! exactly one wins: a refresh that succeeded is never lost, and `update`, which keeps
//! the deadline of the cell it replaces, reads it in the very CAS that decides the
//! replacement (loom models `update.rs`: two updaters racing a refresh).
//!
//! **Sweeping.** Each write of a map whose clock reached the earliest deadline ever
//! written sweeps one bucket, in cursor order, unlinking the expired entries in it, and
//! goes on to the next bucket while the last one held any, up to
//! [`MAX_SWEEP_BUCKETS_PER_WRITE`] (so a mass expiry is cleaned up several times faster,
//! while a write in a map with nothing to reclaim pays for one bucket). A bucket is
//! swept as the interval of split-order keys it covers (entered from its nearest ready
//! ancestor if it has no sentinel yet), so a full cycle covers every entry once even
//! while buckets are being initialised, and an entry that expired at time t is unlinked
//! by at most `size` writes after t (counting the writes of all threads). The bucket
//! count doubles only once the length exceeds `LOAD_FACTOR · size` (`LOAD_FACTOR` = 1),
//! so `size ≤ max(2 · peak length, capacity hint)`: an expired entry is unlinked within
//! two peak lengths of writes.
//!
//! **Reclamation.** Unlinked nodes and replaced or tombstoned cells are retired to the
//! map's epoch collector (`reclaim.rs`) and freed once no guard that could have read
//! them remains.

mod cell;
mod counter;
mod directory;
#[cfg(feature = "bench-internals")]
pub(crate) use directory::mapped_bytes;
#[cfg(ttlmap_loom)]
pub(crate) use filter::mask as filter_mask;
mod expiry;
mod filter;
mod node;
mod retire;
mod value;
mod walk;

use crossbeam_utils::CachePadded;
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ptr;

use self::cell::live_at;
pub(crate) use self::cell::Cell;
use self::counter::Counter;
pub(crate) use self::counter::Event;
use self::directory::Directory;
use self::filter::Probe;
pub(crate) use self::node::Node;
use self::node::{
    is_marked, is_tomb, keep_ready, marked, owns_first, so_bucket, so_entry, successor,
    to_sentinel, untagged, Link, OWNS_FIRST, SENT,
};
pub(crate) use self::retire::free_batch;
pub(crate) use self::walk::ScanFrom;
use self::walk::Walk;
use crate::cache::Bound;
pub(crate) use crate::cache::RemovalCause as Cause;
use crate::clock::Clock;
use crate::reclaim::RawGuard;
use crate::sync::{AtomicPtr, AtomicUsize, Ordering};

/// Entries per bucket before the bucket count doubles: chains of 0.5–1 entries. (2 cost
/// 55% more per hit at 1M keys; 1 costs 8.4 more bytes per entry and ~20% per insert.)
const LOAD_FACTOR: usize = 1;

/// Probes an eviction's sample issues together (`sample`).
const PROBE_BATCH: usize = 8;
/// How far ahead (in buckets) a long walk of the directory fetches it (`walk_range`): 1 KiB.
const WALK_AHEAD: usize = 64;
/// At most how many buckets one write sweeps for expired entries (it stops after the
/// first bucket that held none).
pub(crate) const MAX_SWEEP_BUCKETS_PER_WRITE: usize = 4;
/// A capacity hint never asks for more buckets than this (2^22 ≈ 100 MiB of sentinels
/// at most); the table still grows past it on demand.
const MAX_HINT_BUCKETS: usize = 1 << 22;
/// The bucket count never exceeds this (bucket indices must fit the split-order key).
const MAX_BUCKETS: usize = 1 << (usize::BITS - 2);

/// One clock reading per operation, taken only if an entry with a deadline is met.
#[derive(Clone)]
pub(crate) struct Now<'c> {
    clock: &'c Clock,
    at: Option<u64>,
}

impl<'c> Now<'c> {
    #[inline]
    pub(crate) fn new(clock: &'c Clock) -> Now<'c> {
        Now { clock, at: None }
    }

    /// A reading taken now from the precise clock (which the coarse one never passes),
    /// for an operation that reports a remaining time: deciding liveness and computing
    /// what is left from one reading keeps the two consistent.
    #[inline]
    pub(crate) fn precise(clock: &'c Clock) -> Now<'c> {
        Now {
            clock,
            at: Some(clock.precise_now()),
        }
    }

    #[inline]
    pub(crate) fn get(&mut self) -> u64 {
        *self.at.get_or_insert_with(|| self.clock.now())
    }

    /// Whether deadline `d` is live at this reading (taken only if `d` is finite).
    #[inline]
    pub(crate) fn live(&mut self, d: u64) -> bool {
        live_at(d, &mut || self.get())
    }

    /// Forgets the reading, so that the next `get` reads the clock again (a long walk
    /// does this every so often, or it would judge late entries by an old time).
    #[inline]
    pub(crate) fn refresh(&mut self) {
        self.at = None;
    }
}

/// A value with its deadline, not in the map yet (and not allocated: a new key's value
/// goes inline into its node, a replacement into a heap [`Cell`]).
pub(crate) struct OwnedCell<V> {
    value: V,
    deadline: u64,
    /// The weight the bounded cache's weigher gave the entry (0 without a weigher).
    weight: u32,
}

impl<V> OwnedCell<V> {
    pub(crate) fn new(value: V, deadline: u64) -> OwnedCell<V> {
        OwnedCell {
            value,
            deadline,
            weight: 0,
        }
    }

    /// The same cell, weighing `weight`.
    pub(crate) fn weighing(self, weight: u32) -> OwnedCell<V> {
        OwnedCell { weight, ..self }
    }

    /// The value's weight.
    pub(crate) fn weight(&self) -> u32 {
        self.weight
    }

    /// Takes the value back.
    pub(crate) fn into_value(self) -> V {
        self.value
    }

    fn deadline(&self) -> u64 {
        self.deadline
    }

    /// Moves the value into a heap cell, unshared until the caller publishes it.
    fn into_heap(self) -> *mut Cell<V> {
        Cell::alloc(self.value, self.deadline, self.weight)
    }

    /// Takes the value back out of a heap cell from [`OwnedCell::into_heap`].
    ///
    /// # Safety
    /// - `cell` came from `into_heap` and was never published.
    unsafe fn from_heap(cell: *mut Cell<V>, weight: u32) -> OwnedCell<V> {
        // SAFETY: caller.
        let (value, deadline) = unsafe { Cell::into_parts(cell) };
        OwnedCell {
            value,
            deadline,
            weight,
        }
    }
}

/// What [`RawMap::insert`] does when the key is present and live.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Replace the value (and deadline).
    Replace,
    /// Leave it and give the key and cell back.
    IfVacant,
}

pub(crate) enum Inserted<'g, K, V> {
    /// A new node. (A vacant key.)
    New(&'g Node<K, V>, &'g Cell<V>),
    /// The key's node existed; its cell was replaced. `old` is the previous *live* value.
    Replaced {
        node: &'g Node<K, V>,
        old: Option<&'g Cell<V>>,
        new: &'g Cell<V>,
    },
    /// `Policy::IfVacant` found a live value.
    Occupied {
        current: &'g Cell<V>,
        key: K,
        cell: OwnedCell<V>,
    },
}

/// Whether a lookup may compare `K`s before split-order keys ([`RawMap::get_walk`]): a
/// key of at most a word without drop glue (an integer, a `char`, a pair of `u32`s) is
/// compared from the node's own line, in fewer instructions than the bit reversal of
/// the split-order key. A key that owns heap data (a `String`) may point elsewhere, and
/// comparing it with every entry of the bucket would load their data; so may a
/// reference, which this lets through (a performance guess, never a correctness one:
/// either order finds the same node, for an `Eq` consistent with `Hash`; an inconsistent
/// one, a logic error, may now match another key's entry: see the crate docs).
const fn compares_cheaply<K>() -> bool {
    !std::mem::needs_drop::<K>() && std::mem::size_of::<K>() <= 8
}

/// Where a walk starts: a ready sentinel, and the bucket count `size` if that sentinel
/// is the walked key's own bucket at that count (else 0).
///
/// The own bucket's entries are exactly the keys in its split-order interval, and every
/// other sentinel below `size` lies outside that interval. So a walk from its own bucket
/// that meets a pointer tagged `SENT` while the bucket count is still `size` has passed
/// every entry of the interval and can stop without loading that sentinel (saving a cache
/// miss per miss-lookup). Why "still": a sentinel *inside* the interval belongs to a
/// bucket ≥ `size`, which only a thread that read a larger count can link; our Acquire
/// loads of `next` happen after its linking CAS, so by read-read coherence our re-read
/// of the count sees that larger value too.
#[derive(Clone, Copy)]
struct Start<'a> {
    link: &'a Link,
    own_size: usize,
}

impl<'a> Start<'a> {
    /// A start that is not the walked key's own bucket (an ancestor, the head, or a
    /// walk that must pass other sentinels): it never stops early.
    fn unowned(link: &'a Link) -> Start<'a> {
        Start { link, own_size: 0 }
    }

    /// Whether a walk from here may stop at `p`, a pointer it is about to follow.
    #[inline]
    fn ends_at(&self, p: *mut Link, size: &AtomicUsize) -> bool {
        // Relaxed: see the type's docs (coherence, ordered after our Acquire loads).
        to_sentinel(p) && self.own_size != 0 && size.load(Ordering::Relaxed) == self.own_size
    }
}

/// The search window of a key: `prev` held `expected` (the successor, with `prev`'s
/// `READY` bit if it is a ready sentinel), and `found` is the key's node.
struct Window<'g, K, V> {
    prev: &'g AtomicPtr<Link>,
    expected: *mut Link,
    found: Option<&'g Node<K, V>>,
}

/// Where a lookup found its node: the link `prev` it followed to it, holding `expected`
/// (the node, with `prev`'s tags), both read under the lookup's guard. A removal under the
/// same guard unlinks the node with one CAS of `prev` ([`RawMap::unlink_after`]) instead
/// of walking its bucket again.
#[derive(Clone, Copy)]
pub(crate) struct Pred<'g> {
    prev: &'g AtomicPtr<Link>,
    expected: *mut Link,
}

/// A lookup's answer: the node, its current cell, that cell's deadline, and where the
/// node was found.
pub(crate) type Found<'g, K, V> = (&'g Node<K, V>, &'g Cell<V>, u64, Pred<'g>);

/// A marker invariant in `K` and `V` (see `RawMap::_marker`).
type Invariant<K, V> = fn(K, V) -> (K, V);

/// The raw lock-free table. Owns every node still in the list.
pub(crate) struct RawMap<K, V> {
    dir: Directory,
    /// Bucket count, a power of two ≥ 2; only grows.
    size: AtomicUsize,
    count: Counter,
    /// The incremental sweep's cursor and hint (`expiry.rs`), on lines of their own:
    /// writers with TTLs `fetch_add` its cursor, and every lookup reads `size`, which
    /// shared its line (offsets 1584 and 1592 in the map).
    sweep: CachePadded<expiry::Sweep>,
    /// The bounded cache's state (`cache/bound.rs`): `None` for a map without a bound,
    /// weigher, listener or statistics of hits, which then pays nothing for them.
    pub(crate) cache: Option<Box<Bound<K, V>>>,
    /// Set once `free_all` ran (the map's drop), so that it runs once.
    freed: bool,
    /// Owns `K`s and `V`s, and is *invariant* in both: `insert` takes `&self`, so a
    /// covariant map could be viewed as holding shorter-lived keys and take one that
    /// dies before the map (a use-after-free from safe code: see the `compile_fail`
    /// example on `HashMap`). The bounded cache's closures over `&K` and `&V` need it too.
    _marker: PhantomData<(K, V, Invariant<K, V>)>,
}

impl<K, V> RawMap<K, V> {
    pub(crate) fn with_capacity(capacity: usize) -> RawMap<K, V> {
        let buckets = (capacity / LOAD_FACTOR)
            .clamp(2, MAX_HINT_BUCKETS)
            .next_power_of_two();
        RawMap {
            dir: Directory::with_ready(buckets),
            size: AtomicUsize::new(buckets),
            count: Counter::new(),
            sweep: CachePadded::new(expiry::Sweep::new()),
            cache: None,
            freed: false,
            _marker: PhantomData,
        }
    }

    /// Entries with a cell (live or expired but not yet tombstoned).
    ///
    /// A bounded map without a weigher reads its bound's count, one word that every
    /// decision adds to at once. The shards' sum is not a snapshot: a reader preempted
    /// between two shards' loads adds values from different moments, and under churn the
    /// shards drift apart (one thread inserts, another evicts), so the sum was seen at
    /// 1224 in a map bounded at 1000 with 4 writers (`tests/bounded.rs`, four threads).
    pub(crate) fn len(&self) -> usize {
        match self.cache.as_ref().and_then(|b| b.entry_count()) {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => self.count.sum(),
        }
    }

    /// The shards' sum, which drives growth on every map (tests compare it with `len` at
    /// rest, where a bounded map's two counts agree).
    pub(crate) fn counted_len(&self) -> usize {
        self.count.sum()
    }

    /// The current bucket count (for tests and diagnostics).
    pub(crate) fn buckets(&self) -> usize {
        // Relaxed: a statistic.
        self.size.load(Ordering::Relaxed)
    }

    // ----- hooks of the bounded cache and the statistics ----------------------------

    /// The always-on event counts (`Stats`).
    pub(crate) fn events(&self, e: Event) -> u64 {
        self.count.events(e)
    }

    /// An estimate of the bytes the map owns (`Stats::heap_bytes`): the nodes of the
    /// entries with their inline keys and values, the heap cells of values written more
    /// than once, and the directory.
    pub(crate) fn heap_bytes(&self) -> usize {
        let cells = self.count.events(Event::HeapCells) as usize;
        self.len() * std::mem::size_of::<Node<K, V>>()
            + cells.min(self.len()) * std::mem::size_of::<cell::HeapCell<V>>()
            + self.dir.bytes()
    }

    /// The size of a retired object for `Stats::garbage_bytes` (a node: the larger of
    /// the two kinds, so the estimate errs high).
    pub(crate) fn garbage_object_bytes(&self) -> usize {
        std::mem::size_of::<Node<K, V>>()
    }

    /// Counts a hit or a miss (the caller checked that hits are recorded).
    #[inline]
    pub(crate) fn count_lookup(&self, hit: bool) {
        self.count.bump(if hit { Event::Hit } else { Event::Miss });
    }

    /// The weight of `node`'s cell `cell`, which the caller is about to freeze, for the
    /// bounded cache's accounting (0 if the map tracks no weights). Read *before* the
    /// freezing CAS: only then is it the weight if the CAS succeeds (`Cell::heap_weight`).
    #[inline]
    fn weight_to_freeze(&self, node: &Node<K, V>, cell: &Cell<V>) -> u32 {
        match &self.cache {
            Some(b) if b.tracks_weights() => {
                // DELIBERATELY BROKEN (loom demo, `--cfg ttlmap_broken_bound` only): the
                // weight of the node's first value stands for its current one's (the
                // one-weight-per-node design before per-cell weights).
                #[cfg(ttlmap_broken_bound)]
                return node.meta.weight();
                #[allow(unreachable_code)]
                if node.is_first(cell as *const Cell<V> as *mut Cell<V>) {
                    node.meta.weight()
                } else {
                    // SAFETY: a heap cell (not the first), not freed: the caller's guard
                    // read it from the chain.
                    unsafe { Cell::heap_weight(cell) }
                }
            }
            _ => 0,
        }
    }

    /// Our CAS decided that `node`'s current cell `old` (of weight `old_weight`, read
    /// before the CAS) is replaced by a value weighing `weight` (cause `Replaced`, or
    /// `Expired` if `old` had expired).
    #[inline]
    fn decided_replacement(
        &self,
        node: &Node<K, V>,
        old: &Cell<V>,
        old_weight: u32,
        weight: u32,
        cause: Cause,
    ) {
        // The new value is in a heap cell (until it is retired: `installed`).
        self.count.bump(Event::HeapCells);
        if cause == Cause::Replaced {
            self.count.bump(Event::Update);
        } else {
            self.count.bump(Event::Expiration);
            self.count.bump(Event::Insert);
        }
        if let Some(b) = &self.cache {
            b.replaced(node, old, old_weight, weight, cause);
        }
    }

    /// Our CAS decided that `node`, whose current cell is `old` (of weight `old_weight`,
    /// read before the CAS), is removed.
    #[inline]
    fn decided_removal(&self, node: &Node<K, V>, old: &Cell<V>, old_weight: u32, cause: Cause) {
        self.count.bump(match cause {
            Cause::Expired => Event::Expiration,
            Cause::Size => Event::Eviction,
            _ => Event::Removal,
        });
        if let Some(b) = &self.cache {
            b.removed(node, old, old_weight, cause);
        }
    }

    /// Calls `f(node, current cell, expired)` for entries with a cell until `k` of the
    /// calls returned `true` (the caller's "new to the sample"): an eviction's sample, from
    /// the random seed `from`.
    ///
    /// It probes random buckets and takes every entry of each (from its sentinel up to the
    /// next pointer tagged as a sentinel, which ends the chain without a load): the probes
    /// are independent chains of one or two loads, which the processor overlaps, where `k`
    /// consecutive entries of the list are `2k` dependent cache misses (sampling 16
    /// consecutive entries cost 2–4 µs per eviction at 16k–131k entries, 63 % of an
    /// evicting insert: /tmp/evprof). Every entry is as likely to be sampled as its bucket,
    /// which is independent of its recency and frequency. (Taking only each bucket's first
    /// entry cost up to 5 points of hit ratio on OLTP: entries behind another in their
    /// bucket were never evicted.)
    ///
    /// A table of at most `2k` buckets is probed in full instead (every bucket once, from
    /// a random one), so a map of at most `k` entries shows every one of them, an expired
    /// one included, to the policy. `f` answers `false` for an entry it was already
    /// offered: two random probes may land on one bucket, and a bucket without a sentinel
    /// yet is walked from its nearest ready ancestor's, whose entries its probe offers
    /// too. (Probing distinct buckets of a large table too, in an arithmetic sequence from
    /// a random start with a random odd step, cost a point of hit ratio on zipf-0.8 at 25k
    /// entries, 37.6–37.9 against 38.6–38.8, and half a point on zipf-1; the cause was not
    /// found.) If the probes find nothing (a map with far more buckets than entries), it
    /// walks the buckets in index order from a random one instead, wrapping round once,
    /// and stops at the first entry it takes ([`walk_range`](Self::walk_range)), so that
    /// a non-empty map always shows one (but for entries behind a sentinel being
    /// initialised at that moment, which the walk skips, as the hand does). That walk reads
    /// the directory sequentially, 16 bytes a bucket, where following the list visits the
    /// sentinels in split order, one dependent cache miss each: with one entry in 16,384
    /// buckets, the list walk (to `k` entries, so through the whole list) cost 169 µs per
    /// evicting insert.
    pub(crate) fn sample<'g, G: RawGuard>(
        &'g self,
        from: u64,
        k: usize,
        now: &mut Now<'_>,
        guard: &'g G,
        mut f: impl FnMut(&'g Node<K, V>, &'g Cell<V>, bool) -> bool,
    ) {
        // Acquire: as in `start`.
        let size = self.size.load(Ordering::Acquire);
        // Offers `node` if it has a cell; returns how many the caller took so far.
        let mut n = 0;
        let mut offer = |node: &'g Node<K, V>| {
            if let Some((cell, d)) = node.current() {
                if f(node, cell, !now.live(d)) {
                    n += 1;
                }
            }
            n
        };
        let mut taken = 0;
        // A small table is probed bucket by bucket from a random one, a larger one at
        // random buckets.
        let small = size <= 2 * k;
        let probes = if small { size } else { 2 * k };
        // Batches of `PROBE_BATCH` probes in three passes, so that their cache misses
        // overlap instead of following one another: the buckets (their lines fetched),
        // each bucket's first element (its line fetched), then the walks. (All `2k` probes
        // in one batch made a sample of a cache-resident 16k-entry map 23 % slower: most
        // samples are full before the last probes.)
        let mut x = from | 1;
        let mut bucket = |i: usize| {
            if small {
                (from as usize).wrapping_add(i) & (size - 1)
            } else {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as usize & (size - 1)
            }
        };
        let mut buckets = [0usize; PROBE_BATCH];
        let mut heads = [ptr::null_mut::<Link>(); PROBE_BATCH];
        for batch in (0..probes).step_by(PROBE_BATCH) {
            let n = (probes - batch).min(PROBE_BATCH);
            for (i, b) in buckets[..n].iter_mut().enumerate() {
                *b = bucket(batch + i);
                self.dir.prefetch_bucket(*b);
            }
            for (&b, head) in buckets[..n].iter().zip(&mut heads) {
                // Acquire: pairs with the Release CAS that linked the successor (`find`).
                let p = self.start_at(b, size).link.next.load(Ordering::Acquire);
                if !untagged(p).is_null() && !to_sentinel(p) {
                    crate::sync::prefetch(untagged(p));
                }
                *head = p;
            }
            for &head in &heads[..n] {
                let full = self.walk_chain(head, guard, |node| {
                    taken = offer(node);
                    taken == k
                });
                if full {
                    return;
                }
            }
        }
        // A small table's probes walked every bucket already.
        if taken > 0 || small {
            return;
        }
        self.walk_range(from as usize, size, size, guard, |node| offer(node) > 0);
    }

    /// Calls `f(node, current cell, expired)` for every entry with a cell of the `n`
    /// buckets from bucket `from` on, in index order, wrapping at the bucket count: a
    /// stretch of the eviction hand (`cache/pool.rs`). Returns the bucket count, or
    /// `None` without walking anything if it is at most `min_size`.
    ///
    /// Each bucket's entries are its chain, from its sentinel up to the next pointer
    /// tagged as a sentinel (as [`sample`](Self::sample) takes them); the sentinels are
    /// read in address order (several to a directory line) and the chains' first lines
    /// fetched before any is walked, in batches of `PROBE_BATCH`. A bucket whose sentinel
    /// is not seen ready is skipped: its entries are in the chain of its nearest ready
    /// ancestor, a bucket of lower index that the hand walks in its turn, so a full round
    /// of the hand offers every entry once (`sample` walks the ancestor's chain instead,
    /// and the caller counts an entry offered twice once).
    pub(crate) fn walk_buckets<'g, G: RawGuard>(
        &'g self,
        from: usize,
        n: usize,
        min_size: usize,
        now: &mut Now<'_>,
        guard: &'g G,
        mut f: impl FnMut(&'g Node<K, V>, &'g Cell<V>, bool),
    ) -> Option<usize> {
        // Acquire: as in `start`.
        let size = self.size.load(Ordering::Acquire);
        if size <= min_size {
            return None;
        }
        self.walk_range(from, n.min(size), size, guard, |node| {
            if let Some((cell, d)) = node.current() {
                f(node, cell, !now.live(d));
            }
            false
        });
        Some(size)
    }

    /// Calls `f` with each entry (with a cell or not) of the ready buckets among the `n`
    /// from bucket `from` on, in index order, wrapping at `size` (a bucket count read
    /// with Acquire), until `f` returns `true`; returns whether it did.
    ///
    /// The walk of [`walk_buckets`](Self::walk_buckets) and of the sample's fallback: the
    /// sentinels are read in address order, `PROBE_BATCH` at a time, and the first line of
    /// each non-empty chain fetched before the batch's chains are walked. An empty bucket
    /// costs the read of its sentinel, 16 bytes of the directory (its `next` is tagged as
    /// pointing to a sentinel, or to the end): no node is loaded.
    fn walk_range<'g, G: RawGuard>(
        &'g self,
        from: usize,
        n: usize,
        size: usize,
        guard: &'g G,
        mut f: impl FnMut(&'g Node<K, V>) -> bool,
    ) -> bool {
        debug_assert!(n <= size && size.is_power_of_two());
        let mut heads = [ptr::null_mut::<Link>(); PROBE_BATCH];
        // A long walk (a sparse table's: the hand's far stretches, the sample's fallback)
        // also fetches the directory `WALK_AHEAD` buckets ahead, past its end too (the
        // hand's next stretch starts there). A dense table's stretches, of at most 8
        // buckets, do not.
        let ahead = n > PROBE_BATCH;
        for batch in (0..n).step_by(PROBE_BATCH) {
            let m = (n - batch).min(PROBE_BATCH);
            let mut any = false;
            if ahead {
                let b = from.wrapping_add(batch + WALK_AHEAD);
                // A batch covers 128 bytes of sentinels, two lines.
                self.dir.prefetch_bucket(b & (size - 1));
                self.dir
                    .prefetch_bucket(b.wrapping_add(PROBE_BATCH / 2) & (size - 1));
            }
            for (i, head) in heads[..m].iter_mut().enumerate() {
                let b = from.wrapping_add(batch + i) & (size - 1);
                *head = match self.dir.ready_bucket(b) {
                    // Acquire: pairs with the Release CAS that linked the successor
                    // (`find`).
                    Some(link) => link.next.load(Ordering::Acquire),
                    None => ptr::null_mut(),
                };
                if !untagged(*head).is_null() && !to_sentinel(*head) {
                    crate::sync::prefetch(untagged(*head));
                    any = true;
                }
            }
            if any {
                for &head in &heads[..m] {
                    if self.walk_chain(head, guard, &mut f) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Calls `f` with each entry of the chain that `p` starts (a pointer loaded with
    /// Acquire under `guard` from a reachable element's `next`), up to the end of the list
    /// or the next pointer tagged as a sentinel, which ends the chain without a load;
    /// returns `true` as soon as `f` does, else `false`.
    #[inline]
    fn walk_chain<'g, G: RawGuard>(
        &'g self,
        mut p: *mut Link,
        _guard: &'g G,
        mut f: impl FnMut(&'g Node<K, V>) -> bool,
    ) -> bool {
        while !untagged(p).is_null() && !to_sentinel(p) {
            // SAFETY: loaded under `guard` from a reachable element (the caller's, then
            // the previous entry's `next`); elements are freed only after every guard that
            // could reach them is gone. Not a sentinel (the pointer's tag), so an entry's
            // link, which starts a node.
            let node = unsafe { Node::<K, V>::from_link(untagged(p)) };
            if f(node) {
                return true;
            }
            // Acquire: pairs with the Release CAS that linked the successor (`find`).
            p = node.link.next.load(Ordering::Acquire);
        }
        false
    }

    /// An entry whose hash is `hash` (with bit 63 set, as split-order keys keep it),
    /// with its current cell and whether it expired (the window's candidate, a pooled
    /// entry).
    ///
    /// It walks the list from the hash's bucket's sentinel (or its nearest ready
    /// ancestor's) and stops at the first element, sentinel or entry, whose key is greater
    /// than the hash's: the list is sorted. (It used to stop at the first greater *entry*,
    /// walking past every sentinel before it: in a table of a million buckets and a
    /// thousand entries, about a thousand sentinels in split order, one dependent miss
    /// each, for every hash no longer in the map, 180 µs per evicting insert.)
    pub(crate) fn find_hash<'g, G: RawGuard>(
        &'g self,
        hash: u64,
        now: &mut Now<'_>,
        _guard: &'g G,
    ) -> Option<(&'g Node<K, V>, &'g Cell<V>, bool)> {
        let so = so_entry(hash);
        // Relaxed: any bucket count's intervals cover every key (as in `scan_from`).
        let size = self.size.load(Ordering::Relaxed);
        let start = self.start_at((hash as usize) & (size - 1), size);
        debug_assert!(start.link.so() < so);
        // Acquire: pairs with the Release CAS that linked the successor (`find`).
        let mut p = start.link.next.load(Ordering::Acquire);
        loop {
            let l = untagged(p);
            if l.is_null() {
                return None;
            }
            // SAFETY: loaded under `guard` from a reachable element (the start, then the
            // previous element's `next`); elements are freed only after every guard that
            // could reach them is gone.
            let link = unsafe { &*l };
            let key = link.so();
            if key > so {
                return None;
            }
            // Acquire: as above. A marked `next` still leads forward (it is frozen).
            p = link.next.load(Ordering::Acquire);
            if key == so {
                // SAFETY: an odd key is an entry's, whose link starts a live `Node`.
                let node = unsafe { Node::<K, V>::from_link(l) };
                if let Some((cell, d)) = node.current() {
                    return Some((node, cell, !now.live(d)));
                }
            }
        }
    }

    // ----- buckets ---------------------------------------------------------------

    /// The sentinel to start from for `hash`: its bucket's, or the nearest ready
    /// ancestor's while that bucket is being initialised by another thread.
    #[inline]
    fn start<G: RawGuard>(&self, hash: u64, guard: &G) -> Start<'_> {
        // Acquire: any size, even a stale one, gives a correct start [SS06 §2]; Acquire
        // (pairs with the SeqCst CAS of growth) because a bucket we initialise for it
        // inherits its parent's filter on the strength of this read (`filter.rs`).
        let size = self.size.load(Ordering::Acquire);
        let b = (hash as usize) & (size - 1);
        let bucket = self.dir.bucket(b);
        if bucket.is_ready() {
            return Start {
                link: bucket,
                own_size: size,
            };
        }
        let link = self.init_bucket(b, guard);
        Start {
            link,
            own_size: if ptr::eq(link, bucket) { size } else { 0 },
        }
    }

    /// The sentinel a lookup starts from: `hash`'s bucket if it is ready, else its
    /// nearest ready ancestor. Allocates nothing and writes nothing (bucket 0 is always
    /// ready), so reads never initialise buckets; writers do.
    #[inline]
    fn read_start(&self, hash: u64) -> Start<'_> {
        // Relaxed: see `start`.
        let size = self.size.load(Ordering::Relaxed);
        self.start_at((hash as usize) & (size - 1), size)
    }

    /// Where a walk of bucket `b` of a table of `size` buckets starts: its sentinel if
    /// ready, else its nearest ready ancestor's (never writes).
    #[inline]
    fn start_at(&self, mut b: usize, size: usize) -> Start<'_> {
        let mut own_size = size;
        loop {
            if let Some(link) = self.dir.ready_bucket(b) {
                return Start { link, own_size };
            }
            b = parent(b);
            own_size = 0;
        }
    }

    #[cold]
    #[inline(never)]
    fn init_bucket<G: RawGuard>(&self, b: usize, guard: &G) -> &Link {
        debug_assert!(b != 0, "bucket 0 is ready from the start");
        let parent = parent(b);
        let pb = self.dir.bucket(parent);
        let parent_link = if pb.is_ready() {
            pb
        } else {
            self.init_bucket(parent, guard)
        };
        let sentinel = self.dir.bucket(b);
        if !sentinel.claim() {
            // Someone else is linking it (or just did): use it if ready, else the parent.
            return if sentinel.is_ready() {
                sentinel
            } else {
                parent_link
            };
        }
        let so = so_bucket(b);
        sentinel.set_so(so);
        self.inherit_filter(b);
        let sentinel_ptr = sentinel as *const Link as *mut Link;
        loop {
            let from = Start::unowned(parent_link);
            let w = self.find::<_, G>(from, so, |_: &Node<K, V>| false, guard);
            // Relaxed: published by the Release CAS below. `READY` stays off until the
            // sentinel is linked, so nobody starts from it before. (Never 0: the end of
            // the list is `END`.)
            sentinel
                .next
                .store(successor(w.expected), Ordering::Relaxed);
            // AcqRel: Release publishes the sentinel's `next`; pairs with Acquire loads of
            // `next`. Acquire on failure for the next window.
            if w.prev
                .compare_exchange(
                    w.expected,
                    keep_ready(sentinel_ptr.map_addr(|a| a | SENT), w.expected),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                break;
            }
        }
        sentinel.publish();
        sentinel
    }

    /// Doubles the bucket count if `count` exceeds the load factor.
    #[inline]
    fn maybe_grow(&self, count: usize) {
        // Relaxed: see `start`.
        let size = self.size.load(Ordering::Relaxed);
        // The new buckets' segment is allocated before the count that uses them is
        // published, by one thread (`Directory::prepare_doubling`); `false` means another
        // thread is allocating it and will publish the doubling.
        if count > size.saturating_mul(LOAD_FACTOR)
            && size < MAX_BUCKETS
            && self.dir.prepare_doubling(size)
        {
            // SeqCst: the bucket filter's store-buffering argument needs growth in the
            // single total order (`filter.rs`); a locked CAS either way on x86. Losing the
            // race means someone else doubled it [SS06 §2.3].
            let _ = self
                .size
                .compare_exchange(size, size * 2, Ordering::SeqCst, Ordering::Relaxed);
        }
    }

    // ----- the list --------------------------------------------------------------

    /// Harris–Michael `find` from `start`: the window where an entry with key `so`
    /// matching `is_key` is or would be inserted (at the head of its equal-`so` run),
    /// unlinking every marked node on the way.
    fn find<'g, F, G>(
        &'g self,
        start: Start<'g>,
        so: u64,
        mut is_key: F,
        guard: &'g G,
    ) -> Window<'g, K, V>
    where
        F: FnMut(&Node<K, V>) -> bool,
        G: RawGuard,
    {
        'retry: loop {
            let mut prev = &start.link.next;
            // Acquire: pairs with the Release CAS that linked the node, so its fields are
            // initialised. `prev_val` is `prev`'s raw value: a sentinel's carries READY.
            let mut prev_val = prev.load(Ordering::Acquire);
            // The head of the run of equal `so`: where a new key of that run goes.
            let mut run: Option<(&'g AtomicPtr<Link>, *mut Link)> = None;
            loop {
                debug_assert!(!is_marked(prev_val));
                let cur = untagged(prev_val);
                if cur.is_null() || start.ends_at(prev_val, &self.size) {
                    break;
                }
                // SAFETY: `cur` was loaded under `guard` from a reachable node, and nodes
                // are freed only after every guard that could load them is gone.
                let link = unsafe { &*cur };
                // Acquire: as above, for the successor.
                let next = link.next.load(Ordering::Acquire);
                if is_marked(next) {
                    let Some(succ) = Self::unlink_marked(prev, prev_val, cur, next, guard) else {
                        continue 'retry;
                    };
                    if let Some((run_prev, run_val)) = &mut run {
                        if std::ptr::eq(*run_prev, prev) {
                            *run_val = succ;
                        }
                    }
                    prev_val = succ;
                    continue;
                }
                if link.so() > so {
                    break;
                }
                if link.so() == so && link.is_entry() {
                    if run.is_none() {
                        run = Some((prev, prev_val));
                    }
                    // SAFETY: an entry's link is the first field of its live `Node`.
                    let node = unsafe { Node::<K, V>::from_link(cur) };
                    if is_key(node) {
                        return Window {
                            prev,
                            expected: prev_val,
                            found: Some(node),
                        };
                    }
                }
                prev = &link.next;
                prev_val = next;
            }
            let (prev, expected) = run.unwrap_or((prev, prev_val));
            return Window {
                prev,
                expected,
                found: None,
            };
        }
    }

    /// The node holding `key`, its current cell and that cell's deadline, if the cell is
    /// live. Never writes. `pin` gives the guard the walk needs; it is called only if the
    /// bucket filter lets the key through, so a lookup that the filter answers never pins
    /// (a handle pins lazily, `reclaim::Guard::protect`).
    ///
    /// Inlined whole, down from `HashMapRef::get` with the walk (`#[inline(always)]` on
    /// each step): left to the compiler, `get` stayed a call with a prologue and an
    /// epilogue of its own, and the walk another. Inlined, a get cost 101 instructions on
    /// a hit with the handle held and 78 on a miss the filter answers, against 124 and 92
    /// (88 and 68 since the filter's bits come from a table; callgrind, 1,000 keys,
    /// `/tmp/ghmodes`; papaya: 50 and 39).
    #[inline(always)]
    pub(crate) fn get<'g, Q, G>(
        &'g self,
        hash: u64,
        key: &Q,
        now: &mut Now<'_>,
        pin: impl Fn() -> &'g G,
    ) -> Option<(&'g Node<K, V>, &'g Cell<V>, u64)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        G: RawGuard + 'g,
    {
        self.get_pred(hash, key, now, pin)
            .map(|(node, cell, d, _)| (node, cell, d))
    }

    /// [`RawMap::get`], with where the node was found (for a removal under the same
    /// guard).
    #[inline(always)]
    pub(crate) fn get_pred<'g, Q, G>(
        &'g self,
        hash: u64,
        key: &Q,
        now: &mut Now<'_>,
        pin: impl Fn() -> &'g G,
    ) -> Option<Found<'g, K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        G: RawGuard + 'g,
    {
        // The common case reads the segment table once for the filter word and the
        // sentinel (`probe`); a bucket that is not valid and ready yet takes the general
        // path.
        let start = match self.probe(hash) {
            Probe::Absent => return None,
            Probe::Ready { bucket, size } => Start {
                link: bucket,
                own_size: size,
            },
            Probe::Slow => {
                if !self.may_contain(hash) {
                    return None;
                }
                self.read_start(hash)
            }
        };
        self.get_walk(start, hash, key, now, pin())
    }

    /// [`RawMap::get`] after the bucket filter said the key may be here: the walk from
    /// `start`, under `guard` (pinned before the walk's first load of an element).
    #[inline(always)]
    fn get_walk<'g, Q, G>(
        &'g self,
        start: Start<'g>,
        hash: u64,
        key: &Q,
        now: &mut Now<'_>,
        guard: &'g G,
    ) -> Option<Found<'g, K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        G: RawGuard,
    {
        let _ = guard;
        // The answer once the key's (first) node is found, reached from `prev` holding
        // `expected`: its current cell if live.
        let mut found = |node: &'g Node<K, V>, prev: &'g AtomicPtr<Link>, expected| {
            node.current().and_then(|(cell, d)| {
                live_at(d, &mut || now.get()).then_some((node, cell, d, Pred { prev, expected }))
            })
        };
        let mut prev = &start.link.next;
        // Acquire: pairs with the Release CAS that linked the node (see `find`).
        let mut next = prev.load(Ordering::Acquire);
        if compares_cheaply::<K>() {
            // Keys first: the bucket's chain up to the next pointer tagged as a
            // sentinel, comparing keys without the split-order key (whose bit reversal
            // is a fifth of a hit's instructions). The first node with the key is the one
            // the ordered walk below would stop at: keys are unique to a hash, and no
            // entry of another bucket is passed (the chain ends at the next sentinel while
            // the count is `start`'s). If the count changed there, the ordered walk goes
            // on from that sentinel.
            loop {
                let cur = untagged(next);
                if cur.is_null() {
                    return None;
                }
                if to_sentinel(next) {
                    if start.ends_at(next, &self.size) {
                        return None;
                    }
                    break;
                }
                // SAFETY: as below; not tagged as a sentinel, so an entry's link, which
                // starts a live `Node`.
                let node = unsafe { Node::<K, V>::from_link(cur) };
                if node.key.borrow() == key {
                    return found(node, prev, next);
                }
                prev = &node.link.next;
                // Acquire: as above.
                next = prev.load(Ordering::Acquire);
            }
        }
        let so = so_entry(hash);
        loop {
            let cur = untagged(next);
            if cur.is_null() || start.ends_at(next, &self.size) {
                return None;
            }
            // SAFETY: loaded under `guard` from a node reachable at some point during this
            // traversal; see `find`.
            let link = unsafe { &*cur };
            // One load of the (immutable) split-order key: entries' keys are odd and
            // `so` is, so equal keys mean an entry.
            let link_so = link.so();
            if link_so > so {
                return None;
            }
            if link_so == so {
                // SAFETY: an entry's link starts a live `Node`.
                let node = unsafe { Node::<K, V>::from_link(cur) };
                if node.key.borrow() == key {
                    return found(node, prev, next);
                }
            }
            prev = &link.next;
            // Acquire: as above.
            next = prev.load(Ordering::Acquire);
        }
    }

    /// Inserts `key` → `cell`, or replaces the value of a present key (`Policy::Replace`),
    /// or reports it (`Policy::IfVacant`). An expired entry counts as vacant.
    pub(crate) fn insert<'g, G: RawGuard>(
        &'g self,
        hash: u64,
        key: K,
        cell: OwnedCell<V>,
        policy: Policy,
        now: &mut Now<'_>,
        guard: &'g G,
    ) -> Inserted<'g, K, V>
    where
        K: Eq,
    {
        let deadline = cell.deadline();
        let so = so_entry(hash);
        self.prefetch_filter(hash);
        let start = self.start(hash, guard);
        let mut pending = Pending::new(key, cell);
        let result = loop {
            let w = self.find(start, so, |n| n.key == *pending.key(), guard);
            if let Some(node) = w.found {
                match self.install(node, &mut pending, deadline, policy, now, guard) {
                    Some(done) => break done,
                    None => continue,
                }
            }
            if !pending.has_node() {
                // Before the first attempt to link it: the bucket filter must hold the
                // key from then on (`filter.rs`).
                // Acquire: as in `start`.
                self.mark_filter(hash, self.size.load(Ordering::Acquire));
            }
            let node = pending.node(so);
            // SAFETY: `node` is ours and unpublished.
            let n = unsafe { &*node };
            // The weight it is linked with (the first value's: `linked` adds it).
            let weight = pending.weight();
            // Relaxed: node and cell are still ours. Read the cell *before* publishing:
            // once linked, another thread may replace it or tombstone the node (regression:
            // fuzz/artifacts/concurrent/crash-32beebae…, a null or foreign cell returned).
            let cell = n.val.load(Ordering::Relaxed);
            debug_assert!(n.is_first(cell));
            // Relaxed: published by the Release CAS below.
            n.link.next.store(successor(w.expected), Ordering::Relaxed);
            // DELIBERATELY BROKEN (loom demo, `--cfg ttlmap_broken` only): a plain store
            // instead of the linking CAS, so a racing insert's node can be overwritten.
            #[cfg(ttlmap_broken)]
            let w = {
                w.prev.store(node as *mut Link, Ordering::Release);
                // The CAS below then compares `node` with itself and succeeds.
                Window::<K, V> {
                    prev: w.prev,
                    expected: node as *mut Link,
                    found: None,
                }
            };
            // AcqRel: Release publishes the node and cell (pairs with Acquire loads of
            // `next`); Acquire on failure for the fresh window.
            if w.prev
                .compare_exchange(
                    w.expected,
                    keep_ready(node as *mut Link, w.expected),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                // Loom only: a no-op read-modify-write of the link we just made, so that the
                // model checker may schedule another thread between our link and our use
                // of the cell read before it (loom checks a racing write only against the
                // last access to the atomic; without a write here, nothing lets it switch
                // threads inside this window). Makes `loom-tests/tests/regressions.rs` able
                // to catch the fuzz-found bug of reading the cell after the link.
                #[cfg(all(ttlmap_loom, feature = "loom"))]
                let _ = w
                    .prev
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, Some);
                pending.published();
                self.note_deadline(deadline);
                let total = self.count.inserted();
                if let Some(b) = &self.cache {
                    b.linked(weight);
                }
                if let Some(total) = total {
                    self.maybe_grow(total);
                }
                // SAFETY: our cell, just published; whoever moves `val` past it retires
                // it, and it is freed only after our guard is gone.
                break Inserted::New(n, unsafe { &*cell });
            }
        };
        self.sweep_step(now, guard);
        result
    }

    /// Puts the pending cell into the existing `node`, per `policy`: decides the
    /// replacement of its current cell (or, if the entry is being deleted, returns `None`
    /// to retry from `find`, which unlinks it).
    fn install<'g, G: RawGuard>(
        &'g self,
        node: &'g Node<K, V>,
        pending: &mut Pending<K, V>,
        deadline: u64,
        policy: Policy,
        now: &mut Now<'_>,
        guard: &'g G,
    ) -> Option<Inserted<'g, K, V>> {
        // The value goes into a heap cell, boxed at the first attempt and unboxed again if
        // we give up (a panic in between would only leak: nothing there panics).
        let mut new: *mut Cell<V> = ptr::null_mut();
        loop {
            let Some((cur, d)) = node.current() else {
                // Deleted, or a deletion is decided: install it, help mark the node so
                // that `find` unlinks it, and retry.
                self.settle(node, guard);
                mark(&node.link);
                pending.unbox();
                return None;
            };
            let live = live_at(d, &mut || now.get());
            if live && policy == Policy::IfVacant {
                pending.unbox();
                let (key, cell) = pending.take();
                return Some(Inserted::Occupied {
                    current: cur,
                    key,
                    cell,
                });
            }
            if new.is_null() {
                new = pending.boxed();
            }
            let old_weight = self.weight_to_freeze(node, cur);
            if cur.freeze(d, new).is_ok() {
                let cause = if live {
                    Cause::Replaced
                } else {
                    Cause::Expired
                };
                self.decided_replacement(node, cur, old_weight, pending.weight(), cause);
                // The deadline we published, noted after it is published (see
                // `note_deadline`). Not re-read from the cell: an update may already have
                // replaced it, carrying the deadline over without noting it.
                self.note_deadline(deadline);
                self.settle(node, guard);
                // SAFETY: our cell, published by the freeze; retired only after our guard.
                let new = unsafe { &*new };
                // Drops the spare key, last: the map is consistent if `K::drop` panics.
                pending.published();
                return Some(Inserted::Replaced {
                    node,
                    old: live.then_some(cur),
                    new,
                });
            }
        }
    }
}

impl<K, V> RawMap<K, V> {
    /// The sentinel to start from for the node with split-order key `so` (its hash is
    /// `so` reversed, up to the top bit, which no bucket index reaches).
    fn start_of<G: RawGuard>(&self, so: u64, guard: &G) -> Start<'_> {
        self.start(so.reverse_bits(), guard)
    }

    /// Unlinks the marked `cur` by CASing `prev` (which held `prev_val`) past it to its
    /// successor `successor(next)`, keeping `prev`'s `READY` bit. Returns the value `prev`
    /// now holds, or `None` if `prev` changed and the caller must restart.
    #[inline]
    fn unlink_marked<G: RawGuard>(
        prev: &AtomicPtr<Link>,
        prev_val: *mut Link,
        cur: *mut Link,
        next: *mut Link,
        guard: &G,
    ) -> Option<*mut Link> {
        debug_assert!(is_marked(next) && cur == untagged(prev_val));
        let succ = keep_ready(successor(next), prev_val);
        // AcqRel: Release keeps our earlier reads before the unlink; Acquire on failure
        // re-reads a fresh `prev`.
        prev.compare_exchange(prev_val, succ, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        // SAFETY: marked ⇒ an entry (sentinels are never marked); our CAS made it
        // unreachable for new guards, and only one CAS can do that. A marked `next` never
        // changes again, so `next` tells for good whether the node owns its first value.
        unsafe { retire::retire_node(cur as *mut Node<K, V>, owns_first(next), guard) };
        Some(succ)
    }

    /// Unlinks the marked `node`: with one CAS of the link a lookup under `guard` found it
    /// through (`pred`), if that link still holds it unmarked (so its owner is not deleted
    /// and still in the list, whose marked links never change), else by walking its bucket
    /// ([`unlink`](Self::unlink)). Saves a removal its second walk (an insert + remove
    /// pair: 1,218 → 1,170 instructions, `/tmp/ghchurn`).
    pub(crate) fn unlink_after<G: RawGuard>(
        &self,
        node: &Node<K, V>,
        pred: Option<Pred<'_>>,
        guard: &G,
    ) {
        if let Some(Pred { prev, expected }) = pred {
            let cur = ptr::from_ref(&node.link).cast_mut();
            // Acquire: pairs with the marking CAS (ours or a helper's); marked, it never
            // changes again.
            let next = node.link.next.load(Ordering::Acquire);
            // The lookup's walk passes marked links too; a marked link never changes, so
            // only an unmarked one is ours to CAS (as `find`'s `prev` always is).
            if untagged(expected) == cur
                && !is_marked(expected)
                && is_marked(next)
                && Self::unlink_marked(prev, expected, cur, next, guard).is_some()
            {
                return;
            }
        }
        self.unlink(node, guard);
    }

    /// Unlinks the marked `node` (and any marked neighbour in its run).
    pub(crate) fn unlink<G: RawGuard>(&self, node: &Node<K, V>, guard: &G) {
        let start = self.start_of(node.link.so(), guard);
        self.find(start, node.link.so(), |_| false, guard);
    }

    /// Rebuilds the directory for the current length (exclusive access): frees the
    /// entries that are deleted but still linked, and every bucket beyond
    /// `len / LOAD_FACTOR` (rounded up to a power of two, at least 2). The bucket count
    /// otherwise never shrinks.
    pub(crate) fn shrink_to_fit(&mut self) {
        // `&mut self`: no guard exists, so the list is ours to relink (Relaxed loads).
        let mut entries = Vec::new();
        let mut cur = untagged(self.dir.head().next.load(Ordering::Relaxed));
        while !cur.is_null() {
            // SAFETY: reachable, hence not freed, and exclusively ours.
            let link = unsafe { &*cur };
            let raw_next = link.next.load(Ordering::Relaxed);
            let next = untagged(raw_next);
            if link.is_entry() {
                // SAFETY: an entry's link starts its node.
                let node = unsafe { Node::<K, V>::from_link(cur) };
                if is_tomb(node.val.load(Ordering::Relaxed)) {
                    // SAFETY: tombstoned (its removal counted; its last cell retired,
                    // or kept by the node if marked `OWNS_FIRST`) and now unlinked by us;
                    // nobody can read it.
                    unsafe { Node::free_tombstoned(cur as *mut Node<K, V>, raw_next) };
                } else {
                    entries.push(cur);
                }
            }
            cur = next;
        }
        let size = self.size.load(Ordering::Relaxed);
        let buckets = (entries.len() / LOAD_FACTOR)
            .clamp(2, size)
            .next_power_of_two();
        // The old directory goes (its segments freed); the entries move to the new one.
        self.dir = Directory::with_entries(buckets, &entries);
        self.size.store(buckets, Ordering::Relaxed);
        self.sweep.reset();
    }

    /// Deletes every entry, live or expired.
    pub(crate) fn clear<G: RawGuard>(&self, now: &mut Now<'_>, guard: &G) {
        self.retain_raw(now, |_, _, _| false, guard);
    }

    /// Deletes each entry for which `keep(node, current cell, live)` is false, where
    /// `live` says whether the cell is live at `now`. The clock is re-read every
    /// [`CLOCK_REREAD`] entries, so a long walk judges late entries by a recent time.
    pub(crate) fn retain_raw<F, G>(&self, now: &mut Now<'_>, mut keep: F, guard: &G)
    where
        F: FnMut(&Node<K, V>, &Cell<V>, bool) -> bool,
        G: RawGuard,
    {
        for (i, node) in self.walk(guard).enumerate() {
            if i % CLOCK_REREAD == CLOCK_REREAD - 1 {
                now.refresh();
            }
            while let Some((cell, d)) = node.current() {
                let mut live = now.live(d);
                if keep(node, cell, live) {
                    break;
                }
                // A refresh may change the deadline before our decision: ask again only
                // if that changed whether the entry is live.
                let mut keeps = false;
                let accept = |d: u64| {
                    let now_live = live_at(d, &mut || now.get());
                    if now_live != live {
                        live = now_live;
                        keeps = keep(node, cell, live);
                    }
                    (!keeps).then_some(if live {
                        Cause::Explicit
                    } else {
                        Cause::Expired
                    })
                };
                if self.remove_cell(node, cell, accept, guard) {
                    break;
                }
            }
        }
    }

    /// A weakly consistent walk over the live entries (see [`Walk`]).
    pub(crate) fn iter<'g, G: RawGuard>(
        &'g self,
        clock: &'g Clock,
        guard: &'g G,
    ) -> Iter<'g, K, V> {
        Iter {
            walk: self.walk(guard),
            now: Now::new(clock),
            visited: 0,
        }
    }
}

/// A long walk re-reads the clock after this many entries.
const CLOCK_REREAD: usize = 64;

/// Iterator over live entries (key, current cell, its deadline); see `RawMap::iter`.
pub(crate) struct Iter<'g, K, V> {
    walk: Walk<'g, K, V>,
    now: Now<'g>,
    visited: usize,
}

impl<'g, K, V> Iterator for Iter<'g, K, V> {
    type Item = (&'g K, &'g Cell<V>, u64);

    fn next(&mut self) -> Option<(&'g K, &'g Cell<V>, u64)> {
        for node in self.walk.by_ref() {
            self.visited += 1;
            if self.visited % CLOCK_REREAD == 0 {
                self.now.refresh();
            }
            if let Some((cell, d)) = node.current() {
                if live_at(d, &mut || self.now.get()) {
                    return Some((&node.key, cell, d));
                }
            }
        }
        None
    }
}

/// The parent of bucket `b ≠ 0`: `b` without its highest set bit [SS06 §2.1].
#[inline]
fn parent(b: usize) -> usize {
    debug_assert!(b != 0);
    b & !(1usize << (usize::BITS - 1 - b.leading_zeros()))
}

/// Marks `link.next` with [`OWNS_FIRST`] unless it is marked already; `true` if this
/// call marked it. Only the thread that tombstoned the node from its first cell may call
/// it (the flag hands that cell to the node's unlinker).
fn mark_owning_first(link: &Link) -> bool {
    // Acquire: we only need the current value to CAS against.
    let mut next = link.next.load(Ordering::Acquire);
    while !is_marked(next) {
        // AcqRel: as in `mark`. The flag rides on the mark, so whoever reads the mark
        // (to unlink the node) reads the flag with it.
        match link.next.compare_exchange_weak(
            next,
            marked(next).map_addr(|a| a | OWNS_FIRST),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return true,
            Err(actual) => next = actual,
        }
    }
    false
}

/// Marks `link.next` (idempotent). The node's `val` must already be a tombstone.
fn mark(link: &Link) {
    // Acquire: we only need the current value to CAS against.
    let mut next = link.next.load(Ordering::Acquire);
    while !is_marked(next) {
        // AcqRel: the mark freezes `next`; it pairs with the Acquire load in `find`.
        match link.next.compare_exchange_weak(
            next,
            marked(next),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return,
            Err(actual) => next = actual,
        }
    }
}

/// The key and value of an insert: first loose, then inside a node not yet published,
/// or (while being installed into an existing node) with the value in an unpublished heap
/// cell. Dropping it frees whatever it still owns, so an unwinding `Eq` leaks nothing.
struct Pending<K, V> {
    state: PendingState<K, V>,
}

enum PendingState<K, V> {
    Parts(K, OwnedCell<V>),
    Node(*mut Node<K, V>),
    Boxed(K, *mut Cell<V>, u32),
    Done,
}

impl<K, V> Pending<K, V> {
    fn new(key: K, cell: OwnedCell<V>) -> Pending<K, V> {
        Pending {
            state: PendingState::Parts(key, cell),
        }
    }

    fn key(&self) -> &K {
        match &self.state {
            PendingState::Parts(k, _) | PendingState::Boxed(k, _, _) => k,
            // SAFETY: our unpublished node.
            PendingState::Node(n) => unsafe { &(**n).key },
            PendingState::Done => unreachable!("pending insert used after completion"),
        }
    }

    /// Takes the key and value back out (freeing the node or heap cell, if any).
    fn take(&mut self) -> (K, OwnedCell<V>) {
        match std::mem::replace(&mut self.state, PendingState::Done) {
            PendingState::Parts(k, c) => (k, c),
            PendingState::Node(n) => {
                // SAFETY: never published; we own it.
                let (k, value, deadline, weight) = unsafe { Node::unpublish(n) };
                (k, OwnedCell::new(value, deadline).weighing(weight))
            }
            // SAFETY: the cell was never published (else the state would be `Done`).
            PendingState::Boxed(k, c, w) => (k, unsafe { OwnedCell::from_heap(c, w) }),
            PendingState::Done => unreachable!("pending insert used after completion"),
        }
    }

    /// The weight of the pending value.
    fn weight(&self) -> u32 {
        match &self.state {
            PendingState::Parts(_, c) => c.weight,
            PendingState::Boxed(_, _, w) => *w,
            // SAFETY: our unpublished node.
            PendingState::Node(n) => unsafe { (**n).meta.weight() },
            PendingState::Done => unreachable!("pending insert used after completion"),
        }
    }

    /// Whether the node to link was allocated already (a retry of the linking CAS).
    fn has_node(&self) -> bool {
        matches!(self.state, PendingState::Node(_))
    }

    /// The node to link (allocated on first use), holding the value inline.
    fn node(&mut self, so: u64) -> *mut Node<K, V> {
        if let PendingState::Node(n) = self.state {
            return n;
        }
        let (k, c) = self.take();
        let n = Node::alloc(so, k, c.value, c.deadline, c.weight);
        self.state = PendingState::Node(n);
        n
    }

    /// The value in a heap cell, for installing into an existing node.
    fn boxed(&mut self) -> *mut Cell<V> {
        let (k, c) = self.take();
        let w = c.weight;
        let cell = c.into_heap();
        self.state = PendingState::Boxed(k, cell, w);
        cell
    }

    /// Undoes [`Pending::boxed`], if it was called.
    fn unbox(&mut self) {
        if let PendingState::Boxed(..) = self.state {
            let (k, c) = self.take();
            self.state = PendingState::Parts(k, c);
        }
    }

    /// The node or heap cell was published: the map owns it now (and the key, if it was
    /// loose, is dropped).
    fn published(&mut self) {
        self.state = PendingState::Done;
    }
}

impl<K, V> Drop for Pending<K, V> {
    fn drop(&mut self) {
        if !matches!(self.state, PendingState::Done) {
            drop(self.take());
        }
    }
}

impl<K, V> RawMap<K, V> {
    /// Frees every node still linked, with its cells (for the map's drop; idempotent).
    /// Unlinked nodes were retired and are freed by the collector.
    pub(crate) fn free_all(&mut self) {
        if std::mem::replace(&mut self.freed, true) {
            return;
        }
        // `&mut self`: no guard exists, so nothing else reads the list.
        //
        // Sentinel by sentinel in memory order rather than along the list (whose split
        // order interleaves the directory's segments): every entry sits in the chain
        // behind exactly one linked sentinel, the closest before it.
        for sentinel in self.dir.ready() {
            // Relaxed: exclusive access.
            let mut cur = sentinel.next.load(Ordering::Relaxed);
            while !untagged(cur).is_null() && !to_sentinel(cur) {
                let node = untagged(cur) as *mut Node<K, V>;
                // SAFETY: reachable, hence not retired, and exclusively ours now; an
                // entry, since the pointer is not tagged `SENT`.
                unsafe {
                    cur = (*node).link.next.load(Ordering::Relaxed);
                    Self::free_linked(node, cur);
                }
            }
        }
    }

    /// Frees a node that is still linked, with its installed cell and every decided
    /// successor of it (none once every operation has returned, as each installs what
    /// it decided, but a chain costs nothing to handle).
    ///
    /// # Safety
    /// - exclusive access (no guard exists); `node` is not reachable any more; `next` is
    ///   its `next`.
    unsafe fn free_linked(node: *mut Node<K, V>, next: *mut Link) {
        // SAFETY: caller: exclusive. Every cell of the chain after the installed one is a
        // heap cell owned by the map (decided, never installed, never retired); the
        // installed one is the node's first cell or a heap cell, owned by the node. A
        // first cell that is no longer installed was retired, and its handshake with
        // `Node::free` runs when the collector shuts down.
        unsafe {
            // Relaxed: exclusive.
            let head = (*node).val.load(Ordering::Relaxed);
            if is_tomb(head) {
                return Node::free_tombstoned(node, next);
            }
            let mut succ = match (*head).state() {
                cell::State::Replaced(succ) => succ,
                _ => ptr::null_mut(),
            };
            while !succ.is_null() {
                let after = match (*succ).state() {
                    cell::State::Replaced(after) => after,
                    _ => ptr::null_mut(),
                };
                Cell::free(succ);
                succ = after;
            }
            if (*node).is_first(head) {
                Node::free_with_first(node);
            } else {
                Cell::free(head);
                Node::free(node);
            }
        }
    }
}

impl<K, V> Drop for RawMap<K, V> {
    fn drop(&mut self) {
        self.free_all();
    }
}
