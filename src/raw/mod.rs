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
//! the one thread that claimed it, and published by clearing the `BUSY` tag of its own
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
//! same run race on the same word. A key's value changes by a CAS on the node's `val`
//! (linearization point of insert-over-existing, update, replace). A delete CASes `val`
//! to null (its linearization point; the winner retires the cell and decrements the
//! length), then marks `next`, then unlinks — the order of ConcurrentSkipListMap's
//! deletion. A key is never re-inserted into a node with a null `val`: a writer that
//! meets one helps mark it and retries, so at most one reachable node per key has a cell.
//!
//! **Expiry** (design.md §2). The deadline lives in the cell. An expirer (the sweep or
//! `purge_expired`) first *claims* the cell by CASing its deadline to `EXPIRED`, then
//! tombstones it with the same `val` CAS as a delete; an insert over an expired cell
//! simply replaces it. A refresh (`set_ttl`, `persist`) CASes the same deadline word, so
//! of a refresh and an expiry exactly one wins: a refresh is never lost to an expiry. A
//! refresh then re-checks with a CAS of `val` onto itself that its cell is still current,
//! and refreshes the new cell if it was replaced. `update` keeps the deadline of the
//! cell it replaces, and after its CAS it carries over any refresh that landed on the old
//! cell in between (the RMW in the refresh's check is what makes the two see each other:
//! loom model `update_vs_set_ttl`).
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

mod counter;
mod directory;
mod expiry;
mod node;
mod walk;

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ptr;

use self::counter::Counter;
use self::directory::Directory;
use self::node::{
    is_marked, keep_busy, marked, owns_first, so_bucket, so_entry, successor, to_sentinel,
    untagged, Link, BUSY, OWNS_FIRST, SENT,
};
pub(crate) use self::node::{Cell, Node};
use self::walk::Walk;
use crate::clock::{Clock, NEVER};
use crate::reclaim::RawGuard;
use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Entries per bucket before the bucket count doubles: chains of 0.5–1 entries. (2 cost
/// 55% more per hit at 1M keys; 1 costs 8.4 more bytes per entry and ~20% per insert.)
const LOAD_FACTOR: usize = 1;
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

    #[inline]
    pub(crate) fn get(&mut self) -> u64 {
        *self.at.get_or_insert_with(|| self.clock.now())
    }
}

/// A value with its deadline, not in the map yet (and not allocated: a new key's value
/// goes inline into its node, a replacement into a heap [`Cell`]).
pub(crate) struct OwnedCell<V> {
    value: V,
    deadline: u64,
}

impl<V> OwnedCell<V> {
    pub(crate) fn new(value: V, deadline: u64) -> OwnedCell<V> {
        OwnedCell { value, deadline }
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
        Cell::alloc(self.value, self.deadline)
    }

    /// Takes the value back out of a heap cell from [`OwnedCell::into_heap`].
    ///
    /// # Safety
    /// - `cell` came from `into_heap` and was never published.
    unsafe fn from_heap(cell: *mut Cell<V>) -> OwnedCell<V> {
        // SAFETY: caller.
        let (value, deadline) = unsafe { Cell::into_parts(cell) };
        OwnedCell { value, deadline }
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
/// `BUSY` bit if it is a sentinel being published), and `found` is the key's node.
struct Window<'g, K, V> {
    prev: &'g AtomicPtr<Link>,
    expected: *mut Link,
    found: Option<&'g Node<K, V>>,
}

/// The raw lock-free table. Owns every node still in the list.
pub(crate) struct RawMap<K, V> {
    dir: Directory,
    /// Bucket count, a power of two ≥ 2; only grows.
    size: AtomicUsize,
    count: Counter,
    /// Next bucket the incremental sweep looks at.
    sweep_cursor: AtomicUsize,
    /// A lower bound on every deadline ever written (`NEVER` if none was): lowered
    /// before each cell with a deadline is published, never raised. While the clock is
    /// below it nothing can have expired, and writes skip sweeping.
    earliest_deadline: AtomicU64,
    _marker: PhantomData<(K, V)>,
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
            sweep_cursor: AtomicUsize::new(0),
            earliest_deadline: AtomicU64::new(NEVER),
            _marker: PhantomData,
        }
    }

    /// Entries with a cell (live or expired but not yet tombstoned).
    pub(crate) fn len(&self) -> usize {
        self.count.sum()
    }

    /// The current bucket count (for tests and diagnostics).
    pub(crate) fn buckets(&self) -> usize {
        // Relaxed: a statistic.
        self.size.load(Ordering::Relaxed)
    }

    /// Records a deadline about to be published, lowering `earliest_deadline`.
    #[inline]
    pub(crate) fn note_deadline(&self, deadline: u64) {
        // Relaxed: a hint for skipping sweeps; a sweeper that reads a stale (higher)
        // value only skips work that a later write does. Lowering only, so no write is
        // lost to a racing one: the CAS retries while ours is still lower.
        let mut cur = self.earliest_deadline.load(Ordering::Relaxed);
        while deadline < cur {
            match self.earliest_deadline.compare_exchange_weak(
                cur,
                deadline,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Whether an entry may have expired at the clock reading of `now` (which is read
    /// only if some entry has a deadline).
    #[inline]
    pub(crate) fn may_have_expired(&self, now: &mut Now<'_>) -> bool {
        // Relaxed: see `note_deadline`.
        let earliest = self.earliest_deadline.load(Ordering::Relaxed);
        earliest != NEVER && now.get() >= earliest
    }

    // ----- buckets ---------------------------------------------------------------

    /// The sentinel to start from for `hash`: its bucket's, or the nearest ready
    /// ancestor's while that bucket is being initialised by another thread.
    #[inline]
    fn start<G: RawGuard>(&self, hash: u64, guard: &G) -> Start<'_> {
        // Relaxed: any size, even a stale one, gives a correct start [SS06 §2].
        let size = self.size.load(Ordering::Relaxed);
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
        debug_assert_eq!(sentinel.so, so);
        let sentinel_ptr = sentinel as *const Link as *mut Link;
        loop {
            let from = Start::unowned(parent_link);
            let w = self.find::<_, G>(from, so, |_: &Node<K, V>| false, guard);
            // Relaxed: published by the Release CAS below. `BUSY` stays on until the
            // sentinel is linked, so nobody starts from it before.
            let succ = successor(w.expected).map_addr(|a| a | BUSY);
            sentinel.next.store(succ, Ordering::Relaxed);
            // AcqRel: Release publishes the sentinel's `next`; pairs with Acquire loads of
            // `next`. Acquire on failure for the next window.
            if w.prev
                .compare_exchange(
                    w.expected,
                    keep_busy(sentinel_ptr.map_addr(|a| a | SENT), w.expected),
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
        if count > size.saturating_mul(LOAD_FACTOR) && size < MAX_BUCKETS {
            // Relaxed: losing the race means someone else doubled it [SS06 §2.3].
            let _ =
                self.size
                    .compare_exchange(size, size * 2, Ordering::Relaxed, Ordering::Relaxed);
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
            // initialised. `prev_val` is `prev`'s raw value: a sentinel's may carry BUSY.
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
                if link.so > so {
                    break;
                }
                if link.so == so && link.is_entry() {
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

    /// The node holding `key` with its current cell, if that cell is live. Never writes.
    #[inline]
    pub(crate) fn get<'g, Q, G>(
        &'g self,
        hash: u64,
        key: &Q,
        now: &mut Now<'_>,
        guard: &'g G,
    ) -> Option<(&'g Node<K, V>, &'g Cell<V>)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        G: RawGuard,
    {
        let _ = guard;
        let so = so_entry(hash);
        let start = self.read_start(hash);
        // Acquire: pairs with the Release CAS that linked the node (see `find`).
        let mut next = start.link.next.load(Ordering::Acquire);
        loop {
            let cur = untagged(next);
            if cur.is_null() || start.ends_at(next, &self.size) {
                return None;
            }
            // SAFETY: loaded under `guard` from a node reachable at some point during this
            // traversal; see `find`.
            let link = unsafe { &*cur };
            if link.so > so {
                return None;
            }
            if link.so == so && link.is_entry() {
                // SAFETY: an entry's link starts a live `Node`.
                let node = unsafe { Node::<K, V>::from_link(cur) };
                if node.key.borrow() == key {
                    // Acquire: pairs with the AcqRel CAS that installed the cell.
                    let cell = node.val.load(Ordering::Acquire);
                    if cell.is_null() {
                        return None;
                    }
                    // SAFETY: the cell was current under `guard`, so it is not freed yet.
                    let cell = unsafe { &*cell };
                    return cell.is_live(&mut || now.get()).then_some((node, cell));
                }
            }
            // Acquire: as above.
            next = link.next.load(Ordering::Acquire);
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
        self.note_deadline(cell.deadline());
        let so = so_entry(hash);
        let start = self.start(hash, guard);
        let mut pending = Pending::new(key, cell);
        let result = loop {
            let w = self.find(start, so, |n| n.key == *pending.key(), guard);
            if let Some(node) = w.found {
                match self.install(node, &mut pending, policy, now, guard) {
                    Some(done) => break done,
                    None => continue,
                }
            }
            let node = pending.node(so);
            // SAFETY: `node` is ours and unpublished.
            let n = unsafe { &*node };
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
                    keep_busy(node as *mut Link, w.expected),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                pending.published();
                if let Some(total) = self.count.increment() {
                    self.maybe_grow(total);
                }
                // SAFETY: our cell, just published; whoever replaces or tombstones it
                // retires it, and it is freed only after our guard is gone.
                break Inserted::New(n, unsafe { &*cell });
            }
        };
        self.sweep_step(now, guard);
        result
    }

    /// Puts the pending cell into the existing `node`, per `policy`. `None`: the node is
    /// being deleted; retry from `find`.
    fn install<'g, G: RawGuard>(
        &'g self,
        node: &'g Node<K, V>,
        pending: &mut Pending<K, V>,
        policy: Policy,
        now: &mut Now<'_>,
        guard: &'g G,
    ) -> Option<Inserted<'g, K, V>> {
        // Acquire: pairs with the AcqRel CAS that installed the cell.
        let mut cur = node.val.load(Ordering::Acquire);
        // The value goes into a heap cell, boxed at the first CAS attempt and unboxed
        // again if we give up (a panic in between would only leak: nothing there panics).
        let mut new: *mut Cell<V> = ptr::null_mut();
        loop {
            if cur.is_null() {
                // Being deleted: help mark it so that `find` unlinks it.
                mark(&node.link);
                pending.unbox();
                return None;
            }
            // SAFETY: current under `guard`, so not freed before the guard is.
            let cur_cell = unsafe { &*cur };
            let live = cur_cell.is_live(&mut || now.get());
            if live && policy == Policy::IfVacant {
                pending.unbox();
                let (key, cell) = pending.take();
                return Some(Inserted::Occupied {
                    current: cur_cell,
                    key,
                    cell,
                });
            }
            if new.is_null() {
                new = pending.boxed();
            }
            // AcqRel: Release publishes the new cell; Acquire (also on failure) pairs with
            // the writer of the cell we read next.
            match node
                .val
                .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // SAFETY: our CAS made `cur` unreachable for new guards, and only the
                    // CAS that replaces a cell retires it.
                    unsafe { self.retire_cell(node, cur, guard) };
                    // Drops the spare key, last: a panicking `K::drop` must not stop the
                    // retirement above.
                    pending.published();
                    return Some(Inserted::Replaced {
                        node,
                        old: live.then_some(cur_cell),
                        // SAFETY: published by us; retired only after our guard.
                        new: unsafe { &*new },
                    });
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Retires `cell`, which our CAS just replaced in `node.val`: a heap cell is freed by
    /// the collector, the inline first cell is handed to the node's handshake.
    ///
    /// # Safety
    /// - `cell` was `node`'s current cell until our CAS, so it is retired exactly once.
    unsafe fn retire_cell<G: RawGuard>(&self, node: &Node<K, V>, cell: *mut Cell<V>, guard: &G) {
        if node.is_first(cell) {
            // SAFETY: `cell` is `node`'s first cell, as `Node::alloc` stored it in `val`
            // (with the whole node's provenance: `release_first` may free the node).
            let node = unsafe { Node::<K, V>::of_first(cell) };
            // SAFETY: the first cell is unreachable for new guards (caller); the node is
            // not: `release_first` touches only the cell until `Node::free` ran too.
            unsafe { guard.retire(node, Node::release_first) };
        } else {
            // SAFETY: a heap cell, unreachable for new guards (caller).
            unsafe { guard.retire(cell, Cell::free) };
        }
    }
}

impl<K, V> RawMap<K, V> {
    /// The sentinel to start from for the node with split-order key `so` (its hash is
    /// `so` reversed, up to the top bit, which no bucket index reaches).
    fn start_of<G: RawGuard>(&self, so: u64, guard: &G) -> Start<'_> {
        self.start(so.reverse_bits(), guard)
    }

    /// Replaces the value of `node`, whose current cell is `cur`, keeping the deadline.
    /// `Err` gives the value back if `cur` is no longer current.
    pub(crate) fn replace_value<'g, G: RawGuard>(
        &'g self,
        node: &'g Node<K, V>,
        cur: &'g Cell<V>,
        value: V,
        now: &mut Now<'_>,
        guard: &'g G,
    ) -> Result<&'g Cell<V>, V> {
        let deadline = cur.deadline();
        let new = OwnedCell::new(value, deadline).into_heap();
        let cur_ptr = cur as *const Cell<V> as *mut Cell<V>;
        // AcqRel: Release publishes the new cell; Acquire pairs with the previous writer.
        match node
            .val
            .compare_exchange(cur_ptr, new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(old) => {
                // SAFETY: our CAS made `cur` unreachable for new guards; only the CAS
                // that replaces a cell retires it. `old` is the pointer `val` held (the
                // allocation's provenance; `cur_ptr` comes from a reference).
                unsafe { self.retire_cell(node, old, guard) };
                // SAFETY: published by us; retired only after our guard.
                let new = unsafe { &*new };
                // A refresh that hit the old cell between our read of its deadline and
                // our CAS must not be lost: carry it over (unless the new cell was
                // refreshed itself since, or the old one was only claimed as expired).
                let after = cur.deadline();
                if after != deadline && after != crate::clock::EXPIRED {
                    new.replace_deadline(deadline, after);
                }
                self.sweep_step(now, guard);
                Ok(new)
            }
            // SAFETY: the CAS failed, so `new` was never published.
            Err(_) => Err(unsafe { OwnedCell::from_heap(new) }.into_value()),
        }
    }

    /// Deletes `node` if its current cell is still `cur`: tombstone (the linearization
    /// point), mark, unlink. `false` if `cur` is no longer current.
    pub(crate) fn remove_cell<'g, G: RawGuard>(
        &'g self,
        node: &'g Node<K, V>,
        cur: &'g Cell<V>,
        guard: &'g G,
    ) -> bool {
        if !self.tombstone(node, cur as *const Cell<V> as *mut Cell<V>, guard) {
            return false;
        }
        self.unlink(node, guard);
        true
    }

    /// The delete's linearization point and its bookkeeping: CASes `node.val` from
    /// `cell` to null, decrements the length, marks `next` and retires `cell` (unless
    /// the node keeps it, see below). `false` if `cell` is no longer current (a replacing
    /// or deleting CAS won).
    fn tombstone<G: RawGuard>(&self, node: &Node<K, V>, cell: *mut Cell<V>, guard: &G) -> bool {
        // AcqRel: races every other CAS of `val`; Release orders our reads before it.
        let Ok(cell) =
            node.val
                .compare_exchange(cell, ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire)
        else {
            return false;
        };
        self.count.decrement();
        // The inline first cell stays with the node if our CAS is the one that marks it
        // (`OWNS_FIRST`): its unlinker then frees both at once (node.rs, "The first cell
        // lives in the node").
        let kept = node.is_first(cell) && mark_owning_first(&node.link);
        if !kept {
            // SAFETY: our CAS made the cell unreachable; only the tombstoning CAS retires
            // it, and the node does not own it (no `OWNS_FIRST` from us). (`cell` is the
            // pointer `val` held, with its allocation's provenance, not the caller's,
            // which may come from a reference.)
            unsafe { self.retire_cell(node, cell, guard) };
            mark(&node.link);
        }
        true
    }

    /// Unlinks the marked `cur` by CASing `prev` (which held `prev_val`) past it to its
    /// successor `successor(next)`, keeping `prev`'s `BUSY` bit. Returns the value `prev`
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
        let succ = keep_busy(successor(next), prev_val);
        // AcqRel: Release keeps our earlier reads before the unlink; Acquire on failure
        // re-reads a fresh `prev`.
        prev.compare_exchange(prev_val, succ, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        // SAFETY: marked ⇒ an entry (sentinels are never marked); our CAS made it
        // unreachable for new guards, and only one CAS can do that. A marked `next` never
        // changes again, so `next` tells for good whether the node owns its first value.
        unsafe { guard.retire(cur, Node::<K, V>::unlinked_free(next)) };
        Some(succ)
    }

    /// Unlinks the marked `node` (and any marked neighbour in its run).
    fn unlink<G: RawGuard>(&self, node: &Node<K, V>, guard: &G) {
        let start = self.start_of(node.link.so, guard);
        self.find(start, node.link.so, |_| false, guard);
    }

    /// Changes the deadline of the live entry `key` to `deadline`.
    pub(crate) fn set_deadline<Q, G>(
        &self,
        hash: u64,
        key: &Q,
        deadline: u64,
        now: &mut Now<'_>,
        guard: &G,
    ) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        G: RawGuard,
    {
        self.note_deadline(deadline);
        loop {
            let Some((node, cell)) = self.get(hash, key, now, guard) else {
                return false;
            };
            if !cell.set_deadline(now.get(), deadline) {
                return false;
            }
            // Is the cell still current? This must be a read-modify-write, not a load
            // (loom model `update_vs_set_ttl`): with a plain load, this check and the
            // load of the old deadline after `replace_value`'s CAS form a store-buffering
            // pattern, where both read stale values and the refresh is lost. As an RMW it
            // sits in `val`'s modification order: a replacing CAS after it reads from it
            // (AcqRel: Release here pairs with that CAS's Acquire), so it sees our new
            // deadline and carries it over; a replacing CAS before it makes it fail.
            let cell_ptr = cell as *const Cell<V> as *mut Cell<V>;
            if node
                .val
                .compare_exchange(cell_ptr, cell_ptr, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // A cell never becomes current again once replaced, so it was current
                // from our deadline CAS until now.
                return true;
            }
        }
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
                if node.val.load(Ordering::Relaxed).is_null() {
                    // SAFETY: tombstoned (its length decremented; its last cell retired,
                    // or kept by the node if marked `OWNS_FIRST`) and now unlinked by us;
                    // nobody can read it.
                    unsafe { Node::<K, V>::unlinked_free(raw_next)(cur) };
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
        self.sweep_cursor.store(0, Ordering::Relaxed);
    }

    /// Deletes every entry, live or expired.
    pub(crate) fn clear<G: RawGuard>(&self, guard: &G) {
        self.retain_raw(|_, _| false, guard);
    }

    /// Deletes each entry whose current cell fails `keep` (expired ones are skipped by
    /// callers that want std's semantics; `clear` passes them all).
    pub(crate) fn retain_raw<F, G>(&self, mut keep: F, guard: &G)
    where
        F: FnMut(&Node<K, V>, &Cell<V>) -> bool,
        G: RawGuard,
    {
        for node in self.walk(guard) {
            loop {
                // Acquire: pairs with the CAS that installed the cell.
                let cell = node.val.load(Ordering::Acquire);
                if cell.is_null() {
                    break;
                }
                // SAFETY: current under `guard`.
                let cell = unsafe { &*cell };
                if keep(node, cell) || self.remove_cell(node, cell, guard) {
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
        }
    }
}

/// Iterator over live entries; see `RawMap::iter`.
pub(crate) struct Iter<'g, K, V> {
    walk: Walk<'g, K, V>,
    now: Now<'g>,
}

impl<'g, K, V> Iterator for Iter<'g, K, V> {
    type Item = (&'g K, &'g Cell<V>);

    fn next(&mut self) -> Option<(&'g K, &'g Cell<V>)> {
        for node in self.walk.by_ref() {
            // Acquire: pairs with the CAS that installed the cell.
            let cell = node.val.load(Ordering::Acquire);
            if cell.is_null() {
                continue;
            }
            // SAFETY: current under the guard that `'g` borrows.
            let cell: &'g Cell<V> = unsafe { &*cell };
            if cell.is_live(&mut || self.now.get()) {
                return Some((&node.key, cell));
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

/// Marks `link.next` (idempotent). The node's `val` must already be null.
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
    Boxed(K, *mut Cell<V>),
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
            PendingState::Parts(k, _) | PendingState::Boxed(k, _) => k,
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
                let (k, value, deadline) = unsafe { Node::unpublish(n) };
                (k, OwnedCell::new(value, deadline))
            }
            // SAFETY: the cell was never published (else the state would be `Done`).
            PendingState::Boxed(k, c) => (k, unsafe { OwnedCell::from_heap(c) }),
            PendingState::Done => unreachable!("pending insert used after completion"),
        }
    }

    /// The node to link (allocated on first use), holding the value inline.
    fn node(&mut self, so: u64) -> *mut Node<K, V> {
        if let PendingState::Node(n) = self.state {
            return n;
        }
        let (k, c) = self.take();
        let n = Node::alloc(so, k, c.value, c.deadline);
        self.state = PendingState::Node(n);
        n
    }

    /// The value in a heap cell, for installing into an existing node.
    fn boxed(&mut self) -> *mut Cell<V> {
        let (k, c) = self.take();
        let cell = c.into_heap();
        self.state = PendingState::Boxed(k, cell);
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

impl<K, V> Drop for RawMap<K, V> {
    fn drop(&mut self) {
        // `&mut self`: no guard exists, so nothing else reads the list. Free every node
        // still linked and its cell; unlinked nodes were retired and are freed by the
        // collector (which the map drops after this).
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
                // entry, since the pointer is not tagged `SENT`. Its cell (if any) is
                // current, hence owned by it; a first cell that is no longer current was
                // retired, and its handshake with `Node::free` runs when the collector
                // is dropped.
                unsafe {
                    cur = (*node).link.next.load(Ordering::Relaxed);
                    let cell = (*node).val.load(Ordering::Relaxed);
                    if (*node).is_first(cell) || owns_first(cur) {
                        Node::free_with_first(node);
                    } else {
                        if !cell.is_null() {
                            Cell::free(cell);
                        }
                        Node::free(node);
                    }
                }
            }
        }
    }
}
