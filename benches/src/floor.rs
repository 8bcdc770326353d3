//! The split-ordered floor: a bare split-ordered table that does only the work the design
//! itself requires, to measure how far the structure, not `ttlmap`'s implementation of
//! it, can go on a workload.
//!
//! It is **not a map to use**: it has every bucket linked up front and never grows (it
//! needs a capacity hint), no TTL, no length counter, and it updates values in place
//! (`fetch_add`). Its nodes are 32 bytes (next, split-order key, key, value) against
//! `ttlmap`'s 56 (a value cell pointer, a deadline and the bounded cache's word more).
//! What it keeps is what every split-ordered table with epoch reclamation pays, and
//! papaya pays too: an epoch pin per operation (crossbeam's default collector), the
//! bucket sentinel loaded from the directory, then the chain in split order; a CAS to
//! link, a CAS to mark and a CAS to unlink, and a deferred free of each unlinked node.
//! So its throughput is a ceiling for `ttlmap`'s design (sentinels in a directory, one
//! sorted chain per bucket) on the same machine, keys and hasher, short of changing the
//! design itself; `benches/examples/probe.rs` runs it beside `ttlmap` and papaya.
//!
//! The table is generic over its reclamation ([`Reclaim`]): the pin, the load ordering
//! of a link and the deferred free are all that differ. [`Floor`] pins with crossbeam
//! (a `lock cmpxchg` per pin on x86), [`FloorSeize`] with seize 0.5 as papaya does (a
//! plain store and a compiler fence per pin, a `membarrier` per batch of retired
//! nodes). [`FloorHeld`] and [`FloorSeizeHeld`] keep one guard per thread across
//! [`HOLD`] operations: what the two would give if the pin were free.
//!
//! It is also generic over its bucket slots ([`Slot`]): [`Slot16`] is a sentinel as
//! `ttlmap` has it (a `next` and a split-order key, 16 bytes), [`Slot8`] only the `next`
//! word, since a sentinel's key is a function of its index and no walk of the floor reads
//! it ([`FloorSlot8`]: the directory at half the size, the layout alternative #11 asked
//! to try).

use std::cell::UnsafeCell;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::LazyLock;

use crossbeam_epoch as epoch;
use seize::Guard as _;

use crate::adapters::{BenchMap, Hasher};

/// Tag of an entry's `next`: the entry is deleted.
const MARK: usize = 1;
/// Tag of every pointer to a sentinel: the next bucket begins (a walk stops there).
const SENT: usize = 2;

#[repr(C, align(16))]
struct Link {
    next: AtomicUsize,
    so: u64,
}

#[repr(C)]
struct Node {
    link: Link,
    key: u64,
    val: AtomicU64,
}

/// A bucket's slot in the directory: the sentinel, which a walk meets as a pointer tagged
/// [`SENT`] and never reads beyond its `next`.
pub trait Slot: Send + Sync + 'static {
    /// The floor's name in the tables, if the slot changes it (else its reclamation's).
    const NAME: Option<&'static str>;
    /// The sentinel of bucket `b`, not linked yet.
    fn new(b: usize) -> Self;
    /// Its successor.
    fn next(&self) -> &AtomicUsize;
}

/// A sentinel as `ttlmap` lays it out: `next` and the bucket's split-order key (written,
/// never read: it is there for the size).
#[repr(C, align(16))]
pub struct Slot16 {
    next: AtomicUsize,
    so: u64,
}

impl Slot for Slot16 {
    const NAME: Option<&'static str> = None;

    fn new(b: usize) -> Self {
        Slot16 {
            next: AtomicUsize::new(0),
            so: (b as u64).reverse_bits(),
        }
    }

    fn next(&self) -> &AtomicUsize {
        &self.next
    }
}

/// A sentinel of one word: `next` only.
#[repr(C, align(8))]
pub struct Slot8 {
    next: AtomicUsize,
}

impl Slot for Slot8 {
    const NAME: Option<&'static str> = Some("floor, 8-byte slots");

    fn new(_: usize) -> Self {
        Slot8 {
            next: AtomicUsize::new(0),
        }
    }

    fn next(&self) -> &AtomicUsize {
        &self.next
    }
}

/// See the module docs; `R` is the reclamation, `S` the bucket slot.
pub struct SplitFloor<R: Reclaim, S: Slot = Slot16> {
    dir: Box<[S]>,
    mask: usize,
    hasher: Hasher,
    reclaim: R,
}

/// The floor pinned with crossbeam's default collector, once per operation.
pub type Floor = SplitFloor<Epoch>;
/// The floor pinned with a seize 0.5 collector of its own, once per operation.
pub type FloorSeize = SplitFloor<Seize>;
/// The floor with a crossbeam guard held across [`HOLD`] operations per thread.
pub type FloorHeld = SplitFloor<EpochHeld>;
/// The floor with a seize guard held across [`HOLD`] operations per thread.
pub type FloorSeizeHeld = SplitFloor<SeizeHeld>;
/// [`Floor`] with 8-byte bucket slots ([`Slot8`]).
pub type FloorSlot8 = SplitFloor<Epoch, Slot8>;

/// The search window of a key: `prev` held `cur`; `found` is the key's node.
struct Window<'a> {
    prev: &'a AtomicUsize,
    cur: usize,
    found: Option<&'a Node>,
}

impl<R: Reclaim, S: Slot> SplitFloor<R, S> {
    fn bucket_count(n: usize) -> usize {
        n.next_power_of_two().max(2)
    }

    fn locate(&self, key: u64) -> (usize, u64) {
        let h = self.hasher.hash_one(key);
        ((h as usize) & self.mask, h.reverse_bits() | 1)
    }

    /// Harris–Michael find within the key's own bucket, unlinking (and retiring) marked
    /// nodes.
    fn find<'a>(&'a self, key: u64, guard: &'a R::Guard<'_>) -> (Window<'a>, u64) {
        let (b, so) = self.locate(key);
        'retry: loop {
            let mut prev = self.dir[b].next();
            // R::LOAD (Acquire at least): pairs with the Release CAS that linked the node.
            let mut cur = prev.load(R::LOAD);
            let found = loop {
                if cur == 0 || cur & SENT != 0 {
                    break None;
                }
                // SAFETY: loaded under `guard`; unlinked nodes are freed only after it.
                let node = unsafe { &*(cur as *const Node) };
                // R::LOAD: as above.
                let next = node.link.next.load(R::LOAD);
                if next & MARK != 0 {
                    // AcqRel: Release keeps our reads before the unlink.
                    if prev
                        .compare_exchange(cur, next & !MARK, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        continue 'retry;
                    }
                    // SAFETY: our CAS unlinked it; only one CAS can.
                    unsafe { R::retire(guard, cur) };
                    cur = next & !MARK;
                    continue;
                }
                if node.link.so > so {
                    break None;
                }
                if node.link.so == so && node.key == key {
                    break Some(node);
                }
                prev = &node.link.next;
                cur = next;
            };
            return (Window { prev, cur, found }, so);
        }
    }
}

impl<R: Reclaim, S: Slot> BenchMap for SplitFloor<R, S> {
    const NAME: &'static str = match S::NAME {
        Some(name) => name,
        None => R::NAME,
    };

    fn new() -> Self {
        Self::with_capacity(1 << 16)
    }

    fn with_capacity(n: usize) -> Self {
        let buckets = Self::bucket_count(n);
        let bits = buckets.trailing_zeros();
        let dir: Box<[S]> = (0..buckets).map(S::new).collect();
        // Link the sentinels in split order: the i-th is bucket reverse(i).
        let in_order = |i: usize| ((i as u64).reverse_bits() >> (64 - bits)) as usize;
        for i in 0..buckets - 1 {
            let next = &dir[in_order(i + 1)] as *const S as usize;
            dir[in_order(i)]
                .next()
                .store(next | SENT, Ordering::Relaxed);
        }
        Self {
            dir,
            mask: buckets - 1,
            hasher: Hasher::default(),
            reclaim: R::default(),
        }
    }

    fn get(&self, k: &u64) -> bool {
        let _guard = self.reclaim.pin();
        let (b, so) = self.locate(*k);
        // R::LOAD (Acquire at least): pairs with the Release CAS that linked the node.
        let mut cur = self.dir[b].next().load(R::LOAD);
        loop {
            if cur == 0 || cur & SENT != 0 {
                return false;
            }
            // SAFETY: loaded under `_guard`; unlinked nodes are freed only after it.
            let node = unsafe { &*((cur & !MARK) as *const Node) };
            if node.link.so > so {
                return false;
            }
            // R::LOAD: as above.
            let next = node.link.next.load(R::LOAD);
            if node.link.so == so && node.key == *k {
                return next & MARK == 0;
            }
            cur = next;
        }
    }

    fn insert(&self, k: u64, v: u64) -> bool {
        let guard = self.reclaim.pin();
        let mut new: *mut Node = std::ptr::null_mut();
        loop {
            let (w, so) = self.find(k, &guard);
            if let Some(node) = w.found {
                // Release: pairs with Acquire readers of the value.
                node.val.store(v, Ordering::Release);
                if !new.is_null() {
                    // SAFETY: ours, never published.
                    drop(unsafe { Box::from_raw(new) });
                }
                return false;
            }
            if new.is_null() {
                new = Box::into_raw(Box::new(Node {
                    link: Link {
                        next: AtomicUsize::new(0),
                        so,
                    },
                    key: k,
                    val: AtomicU64::new(v),
                }));
            }
            // SAFETY: ours until the CAS below publishes it.
            let n = unsafe { &*new };
            // Relaxed: published by the Release CAS below.
            n.link.next.store(w.cur, Ordering::Relaxed);
            // AcqRel: Release publishes the node; pairs with the Acquire loads of `next`.
            if w.prev
                .compare_exchange(w.cur, new as usize, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return true;
            }
        }
    }

    fn remove(&self, k: &u64) -> bool {
        let guard = self.reclaim.pin();
        loop {
            let (w, _) = self.find(*k, &guard);
            let Some(node) = w.found else {
                return false;
            };
            // R::LOAD (Acquire at least): pairs with the CAS that wrote it.
            let next = node.link.next.load(R::LOAD);
            if next & MARK != 0 {
                continue;
            }
            // AcqRel: the mark is the delete's linearization point.
            if node
                .link
                .next
                .compare_exchange(next, next | MARK, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            // AcqRel: a failed unlink is left to the next `find` that passes.
            if w.prev
                .compare_exchange(w.cur, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // SAFETY: our CAS unlinked it; only one CAS can.
                unsafe { R::retire(&guard, w.cur) };
            }
            return true;
        }
    }

    fn update(&self, k: &u64) -> bool {
        let guard = self.reclaim.pin();
        let (w, _) = self.find(*k, &guard);
        match w.found {
            Some(node) => {
                // AcqRel: a read-modify-write of the value.
                node.val.fetch_add(1, Ordering::AcqRel);
                true
            }
            None => false,
        }
    }
}

impl<R: Reclaim, S: Slot> Drop for SplitFloor<R, S> {
    fn drop(&mut self) {
        // The dropping thread's held guard, if any, goes first: a map it kept pinned
        // would hold back the reclamation of every map built after it.
        R::release();
        // Frees the nodes still linked (unlinked ones are in the epoch collector).
        let mut cur = self.dir[0].next().load(Ordering::Relaxed);
        while cur != 0 {
            let p = cur & !MARK;
            if cur & SENT != 0 {
                // SAFETY: a sentinel in `dir`.
                cur = unsafe { &*((p & !SENT) as *const S) }
                    .next()
                    .load(Ordering::Relaxed);
                continue;
            }
            // SAFETY: a linked node, allocated by `insert`, freed once here.
            let node = unsafe { Box::from_raw(p as *mut Node) };
            cur = node.link.next.load(Ordering::Relaxed);
        }
    }
}

/// Frees a node that was unlinked and whose grace period has passed.
///
/// # Safety
/// `p` is a `Box<Node>` from `insert`, unlinked, which no guard can still reach; freed once.
unsafe fn free_node(p: usize) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(p as *mut Node) });
}

/// The reclamation a [`SplitFloor`] pins and retires with. Everything else (nodes, walk,
/// CASes) is the same for every implementation.
pub trait Reclaim: Default + Send + Sync + 'static {
    /// Name of the floor in the tables.
    const NAME: &'static str;
    /// Ordering of every load of a link (a pointer that may lead to a retired node).
    /// At least Acquire: pairs with the Release CAS that linked the node. seize asks
    /// for SeqCst (`seize::Guard::protect`) so that the load is ordered after the light
    /// barrier of the pin in the total order with its heavy barrier; on x86 both are a
    /// plain `mov`.
    const LOAD: Ordering;
    /// What a pinned operation holds.
    type Guard<'a>;
    /// Pins the current thread for one operation.
    fn pin(&self) -> Self::Guard<'_>;
    /// Defers the free of the node at `p` until every guard that could reach it is gone.
    ///
    /// # Safety
    /// `p` is a node that the caller's CAS has just unlinked (only one CAS can), and it
    /// was loaded under `guard`.
    unsafe fn retire(guard: &Self::Guard<'_>, p: usize);
    /// Drops the guard the current thread holds across operations, if it holds one.
    fn release() {}
}

/// crossbeam-epoch's default (global) collector, pinned per operation.
#[derive(Default)]
pub struct Epoch;

impl Reclaim for Epoch {
    const NAME: &'static str = "split-order floor";
    const LOAD: Ordering = Ordering::Acquire;
    type Guard<'a> = epoch::Guard;

    #[inline]
    fn pin(&self) -> epoch::Guard {
        epoch::pin()
    }

    unsafe fn retire(guard: &epoch::Guard, p: usize) {
        // SAFETY: unreachable for new guards (the caller's contract); freed once, after
        // every guard pinned before the unlink is gone.
        unsafe { guard.defer_unchecked(move || free_node(p)) };
    }
}

/// seize 0.5's reclamation, with a collector per map as papaya has.
#[derive(Default)]
pub struct Seize(seize::Collector);

/// seize's reclaimer for a node.
///
/// # Safety
/// As [`free_node`].
unsafe fn seize_free(p: *mut Node, _: &seize::Collector) {
    // SAFETY: seize calls it once, after every guard that could reach `p` is gone.
    unsafe { free_node(p as usize) };
}

impl Reclaim for Seize {
    const NAME: &'static str = "floor, seize";
    const LOAD: Ordering = Ordering::SeqCst;
    type Guard<'a> = seize::LocalGuard<'a>;

    #[inline]
    fn pin(&self) -> seize::LocalGuard<'_> {
        self.0.enter()
    }

    unsafe fn retire(guard: &seize::LocalGuard<'_>, p: usize) {
        // SAFETY: unreachable for threads that enter after the unlink (the caller's
        // contract); a `Box<Node>`, which `seize_free` frees.
        unsafe { guard.defer_retire(p as *mut Node, seize_free) };
    }
}

/// Operations per held guard in [`EpochHeld`] and [`SeizeHeld`].
pub const HOLD: u32 = 64;

/// A guard held by the current thread across [`HOLD`] operations: `ops` are left
/// before it is refreshed.
struct Held<G> {
    guard: Option<G>,
    ops: u32,
}

/// A pointer to the guard the current thread holds in its [`Held`] slot.
///
/// It stays valid for one operation: only the next `pin` on this thread (the next
/// operation; operations do not nest) refreshes or replaces that guard, and the slot
/// lives until the thread exits. `!Send`, as the guard is.
pub struct HeldGuard<'a, G> {
    guard: *const G,
    _map: PhantomData<&'a ()>,
}

impl<G> HeldGuard<'_, G> {
    fn get(&self) -> &G {
        // SAFETY: see the type's docs; the guard outlives the operation that holds `self`.
        unsafe { &*self.guard }
    }
}

/// Takes the next operation's guard from `slot`: pins with `enter` on first use, then
/// refreshes with `refresh` every [`HOLD`] operations (which lets reclamation advance).
///
/// # Safety
/// `slot` is the current thread's own, and no [`HeldGuard`] taken from it earlier is
/// still in use (operations do not nest).
#[inline]
unsafe fn take_held<'a, G>(
    slot: &UnsafeCell<Held<G>>,
    enter: impl FnOnce() -> G,
    refresh: impl FnOnce(&mut G),
) -> HeldGuard<'a, G> {
    // SAFETY: the caller's contract: no other reference into the slot is alive.
    let held = unsafe { &mut *slot.get() };
    if held.ops == 0 {
        match &mut held.guard {
            Some(guard) => refresh(guard),
            None => held.guard = Some(enter()),
        }
        held.ops = HOLD;
    }
    held.ops -= 1;
    let guard = held.guard.as_ref().expect("pinned above") as *const G;
    HeldGuard {
        guard,
        _map: PhantomData,
    }
}

/// Drops the guard held in `slot` with `unpin`.
///
/// # Safety
/// As [`take_held`].
unsafe fn release_held<G>(slot: &UnsafeCell<Held<G>>, unpin: impl FnOnce(G)) {
    // SAFETY: the caller's contract.
    let held = unsafe { &mut *slot.get() };
    held.ops = 0;
    if let Some(guard) = held.guard.take() {
        unpin(guard);
    }
}

/// A seize guard held in a thread-local. `ManuallyDrop` keeps the slot free of a
/// destructor: the guard is dropped by [`SeizeExit`] instead, whose destructor is
/// registered after seize's own thread-exit destructor (which frees the thread's id for
/// reuse) and so runs before it. A guard dropped after that would leave a reservation
/// that a new thread with the same id may already be using.
type SeizeSlot = ManuallyDrop<seize::LocalGuard<'static>>;

thread_local! {
    // crossbeam tolerates either order: a `Local` is finalized only once both its handle
    // and its last guard are gone.
    static EPOCH_HELD: UnsafeCell<Held<epoch::Guard>> =
        const { UnsafeCell::new(Held { guard: None, ops: 0 }) };
    static SEIZE_HELD: UnsafeCell<Held<SeizeSlot>> =
        const { UnsafeCell::new(Held { guard: None, ops: 0 }) };
    static SEIZE_EXIT: SeizeExit = const { SeizeExit };
}

/// Drops the current thread's held seize guard when the thread exits (see [`SeizeSlot`]).
struct SeizeExit;

impl Drop for SeizeExit {
    fn drop(&mut self) {
        SeizeHeld::release();
    }
}

/// The collector of [`SeizeHeld`]: global, so that a thread can keep a guard of it in
/// a thread-local after any one map is gone.
static SEIZE_GLOBAL: LazyLock<seize::Collector> = LazyLock::new(seize::Collector::new);

/// crossbeam's default collector, one pin per thread held across [`HOLD`] operations.
#[derive(Default)]
pub struct EpochHeld;

impl Reclaim for EpochHeld {
    const NAME: &'static str = "floor, epoch held";
    const LOAD: Ordering = Ordering::Acquire;
    type Guard<'a> = HeldGuard<'a, epoch::Guard>;

    #[inline]
    fn pin(&self) -> Self::Guard<'_> {
        // SAFETY: this thread's slot; operations do not nest.
        EPOCH_HELD.with(|slot| unsafe { take_held(slot, epoch::pin, epoch::Guard::repin) })
    }

    unsafe fn retire(guard: &Self::Guard<'_>, p: usize) {
        // SAFETY: as `Epoch::retire`.
        unsafe { Epoch::retire(guard.get(), p) };
    }

    fn release() {
        // SAFETY: this thread's slot, from `Drop` (no operation in progress).
        EPOCH_HELD.with(|slot| unsafe { release_held(slot, drop) });
    }
}

/// A global seize collector, one guard per thread held across [`HOLD`] operations.
#[derive(Default)]
pub struct SeizeHeld;

impl Reclaim for SeizeHeld {
    const NAME: &'static str = "floor, seize held";
    const LOAD: Ordering = Ordering::SeqCst;
    type Guard<'a> = HeldGuard<'a, SeizeSlot>;

    #[inline]
    fn pin(&self) -> Self::Guard<'_> {
        let enter = || {
            let guard = SEIZE_GLOBAL.enter();
            // After `enter` registered seize's thread-exit destructor: see `SeizeSlot`.
            SEIZE_EXIT.with(|_| ());
            ManuallyDrop::new(guard)
        };
        // SAFETY: this thread's slot; operations do not nest.
        SEIZE_HELD.with(|slot| unsafe { take_held(slot, enter, |g: &mut SeizeSlot| g.refresh()) })
    }

    unsafe fn retire(guard: &Self::Guard<'_>, p: usize) {
        // SAFETY: as `Seize::retire`.
        unsafe { guard.get().defer_retire(p as *mut Node, seize_free) };
    }

    fn release() {
        // SAFETY: this thread's slot, from `Drop` (no operation in progress).
        SEIZE_HELD
            .with(|slot| unsafe { release_held(slot, |g| drop(ManuallyDrop::into_inner(g))) });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicI64;
    use std::sync::Barrier;

    use super::*;

    const THREADS: u64 = 4;
    /// Keys of one thread's own range.
    const OWN: u64 = 2_000;
    /// Keys every thread inserts and removes.
    const SHARED: u64 = 16;
    const ROUNDS: u64 = 30_000;

    /// Threads insert, get and remove their own keys (outcomes known) and race on a few
    /// shared ones, in a table of few buckets so that chains are long and unlinks race.
    /// For each shared key, successful inserts minus successful removes must be whether
    /// it is present at the end. Run under ASan, the free of unlinked nodes is checked.
    fn smoke<M: BenchMap>() {
        let map = M::with_capacity(8);
        let balance: Vec<AtomicI64> = (0..SHARED).map(|_| AtomicI64::new(0)).collect();
        let start = Barrier::new(THREADS as usize);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (map, balance, start) = (&map, &balance, &start);
                s.spawn(move || {
                    start.wait();
                    let own = |i: u64| 1_000 + t * OWN + i;
                    for i in 0..OWN {
                        assert!(map.insert(own(i), i), "own key {} new", own(i));
                    }
                    for i in 0..OWN {
                        assert!(map.get(&own(i)), "own key {} present", own(i));
                        assert!(!map.insert(own(i), i + 1), "own key {} replaced", own(i));
                    }
                    for i in (0..OWN).step_by(2) {
                        assert!(map.remove(&own(i)), "own key {} removed", own(i));
                    }
                    for i in 0..OWN {
                        assert_eq!(map.get(&own(i)), i % 2 == 1, "own key {}", own(i));
                        assert_eq!(map.update(&own(i)), i % 2 == 1, "own key {}", own(i));
                    }
                    for r in 0..ROUNDS {
                        let k = (r * 7 + t) % SHARED;
                        // Relaxed: summed after the scope joins the threads.
                        if r % 2 == 0 {
                            if map.insert(k, r) {
                                balance[k as usize].fetch_add(1, Ordering::Relaxed);
                            }
                        } else if map.remove(&k) {
                            balance[k as usize].fetch_sub(1, Ordering::Relaxed);
                        }
                        map.get(&((r * 13) % SHARED));
                    }
                });
            }
        });
        for (k, b) in balance.iter().enumerate() {
            // Relaxed: the threads were joined.
            let b = b.load(Ordering::Relaxed);
            assert_eq!(
                b,
                i64::from(map.get(&(k as u64))),
                "shared key {k}: balance {b}"
            );
        }
    }

    #[test]
    fn smoke_epoch() {
        smoke::<Floor>();
    }

    #[test]
    fn smoke_seize() {
        smoke::<FloorSeize>();
    }

    #[test]
    fn smoke_epoch_held() {
        smoke::<FloorHeld>();
    }

    #[test]
    fn smoke_seize_held() {
        smoke::<FloorSeizeHeld>();
    }

    #[test]
    fn smoke_slot8() {
        smoke::<FloorSlot8>();
    }
}
