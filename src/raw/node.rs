//! The list's nodes and value cells, and the split-order keys that sort them.
//!
//! # Layout
//! Every list element starts with a [`Link`] (`next`, `so`), so the list can be walked
//! without knowing whether an element is a bucket sentinel (a [`Link`] stored inline in
//! the bucket directory) or an entry (a heap [`Node`]). The low bit of `so` tells them
//! apart: sentinels have even split-order keys, entries odd ones [SS06 §2.1].
//!
//! # Node states
//! | state      | `val`              | `next` mark | reachable | who moves it on                |
//! |------------|--------------------|-------------|-----------|--------------------------------|
//! | live       | cell, deadline > now | clear     | yes       | writers (CAS `val`)            |
//! | expired    | cell, deadline ≤ now | clear     | yes       | the sweep or purge: claim the deadline, CAS `val` to null; or an insert: CAS in a live cell |
//! | tombstoned | null               | clear       | yes       | the tombstoner, or any helper: set the mark |
//! | marked     | null               | set         | yes       | any traversal: CAS `prev.next` past it |
//! | unlinked   | null               | set         | no (to new guards) | the unlinker retired it  |
//! | freed      | —                  | —           | no        | the collector, after every older guard |
//!
//! A node only moves down this table (but for an insert reviving an expired entry with a
//! new cell). `val` goes null exactly once (whoever does it
//! retires the last cell and decrements the length), `next` is marked only after `val`
//! is null, and only the thread whose CAS unlinks a node retires it.
//!
//! # Cells
//! A [`Cell`] holds the value and its deadline. The value never changes; the deadline
//! changes only by CAS (a refresh, `persist`, or an expirer *claiming* it by CASing it to
//! `EXPIRED`), so a refresh and an expiry of the same cell race on one word and exactly
//! one of them wins.

use std::mem::ManuallyDrop;
use std::ptr;

use crate::clock::{EXPIRED, NEVER};
use crate::sync::{AtomicPtr, AtomicU64, Ordering};

/// Tag bit of an entry's `next`: the entry is logically deleted (its `val` is null).
pub(crate) const MARK: usize = 1;
/// Tag bit of a sentinel's `next`: the sentinel is claimed (and maybe linked) but not yet
/// published as ready; lookups start from an ancestor meanwhile. Every CAS on a `next`
/// carries this bit over from the value it replaces.
pub(crate) const BUSY: usize = 2;
/// Tag bit of every pointer *to* a sentinel, wherever it is stored: a lookup that meets
/// it knows, without loading the sentinel, that the next element starts another bucket.
/// It belongs to the pointer value, so it travels with it from `next` to `next`.
pub(crate) const SENT: usize = 4;
/// A sentinel's `next` before its bucket was claimed (`BUSY | SENT` with no address:
/// no real pointer to a sentinel is null, so this value is never a successor).
pub(crate) const UNINIT: usize = BUSY | SENT;
/// All tag bits of a `next` pointer.
const TAGS: usize = 7;

// The tags live in the low bits of a `*mut Link`, so links must be 8-aligned.
const _: () = assert!(std::mem::align_of::<Link>() >= 8);

/// The part of every list element that the list itself reads.
#[repr(C)]
pub(crate) struct Link {
    /// The successor, with [`MARK`] set once this element is logically deleted.
    pub(crate) next: AtomicPtr<Link>,
    /// The split-order key; immutable once the element is reachable.
    pub(crate) so: u64,
}

impl Link {
    pub(crate) fn new(so: u64) -> Link {
        Link {
            next: AtomicPtr::new(ptr::null_mut()),
            so,
        }
    }

    /// Whether this element is an entry (a [`Node`]) rather than a bucket sentinel.
    #[inline]
    pub(crate) fn is_entry(&self) -> bool {
        self.so & 1 == 1
    }
}

/// A key-value entry of the list.
#[repr(C)]
pub(crate) struct Node<K, V> {
    /// Must stay the first field: `*mut Link` and `*mut Node` are cast into each other.
    pub(crate) link: Link,
    /// The current cell, or null once the entry is tombstoned.
    pub(crate) val: AtomicPtr<Cell<V>>,
    pub(crate) key: K,
}

impl<K, V> Node<K, V> {
    /// Allocates an unlinked node holding `cell`.
    pub(crate) fn alloc(so: u64, key: K, cell: *mut Cell<V>) -> *mut Node<K, V> {
        debug_assert!(so & 1 == 1);
        Box::into_raw(Box::new(Node {
            link: Link::new(so),
            val: AtomicPtr::new(cell),
            key,
        }))
    }

    /// Views a link as the entry it starts.
    ///
    /// # Safety
    /// - `link` points to the `link` field of a live `Node<K, V>` (`(*link).is_entry()`).
    #[inline]
    pub(crate) unsafe fn from_link<'a>(link: *const Link) -> &'a Node<K, V> {
        // SAFETY: `Node` is `repr(C)` with `link` first, so the addresses coincide, and
        // the caller guarantees the node is live for 'a.
        unsafe { &*(link as *const Node<K, V>) }
    }

    /// Frees a node that was never published, returning its key and cell to the caller.
    ///
    /// # Safety
    /// - `node` came from [`Node::alloc`] and was never made reachable by other threads.
    pub(crate) unsafe fn unpublish(node: *mut Node<K, V>) -> (K, *mut Cell<V>) {
        // SAFETY: we own the allocation (caller); `ManuallyDrop` stops the key from being
        // dropped twice, once here and once by the returned copy.
        let node = ManuallyDrop::new(unsafe { Box::from_raw(node) });
        // SAFETY: `node` is never used again, so reading the key out moves it.
        let key = unsafe { ptr::read(&node.key) };
        let cell = node.val.load(Ordering::Relaxed); // Relaxed: never shared.
                                                     // SAFETY: same allocation, key already moved out; drop the rest without it.
        unsafe { drop_box_without_key(ManuallyDrop::into_inner(node)) };
        (key, cell)
    }

    /// Frees an unlinked node, dropping its key (its last cell was retired separately).
    ///
    /// # Safety
    /// - `node` came from [`Node::alloc`], is unreachable, and no guard can still read it;
    /// - its `val` is null, or the cell it points to is owned elsewhere.
    pub(crate) unsafe fn free(node: *mut Node<K, V>) {
        // SAFETY: caller guarantees exclusive ownership of a `Box`-allocated node.
        drop(unsafe { Box::from_raw(node) });
    }

    /// Like [`Node::free`], from the `*mut Link` that the list stores.
    ///
    /// # Safety
    /// As [`Node::free`].
    pub(crate) unsafe fn free_link(link: *mut Link) {
        // SAFETY: forwarded to the caller.
        unsafe { Node::<K, V>::free(link as *mut Node<K, V>) }
    }
}

/// Deallocates a boxed node whose key was already moved out.
///
/// # Safety
/// - `node.key` was moved out with `ptr::read` and must not be dropped again.
unsafe fn drop_box_without_key<K, V>(node: Box<Node<K, V>>) {
    let raw = Box::into_raw(node);
    // SAFETY: dealloc the box's memory as `ManuallyDrop<Node>` (same layout), which
    // drops no field; `link` and `val` have no destructors of their own.
    drop(unsafe { Box::from_raw(raw as *mut ManuallyDrop<Node<K, V>>) });
}

/// An immutable value with its (CAS-only) deadline.
pub(crate) struct Cell<V> {
    deadline: AtomicU64,
    pub(crate) value: V,
}

impl<V> Cell<V> {
    pub(crate) fn alloc(value: V, deadline: u64) -> *mut Cell<V> {
        Box::into_raw(Box::new(Cell {
            deadline: AtomicU64::new(deadline),
            value,
        }))
    }

    /// Frees a cell.
    ///
    /// # Safety
    /// - `cell` came from [`Cell::alloc`], and nobody can read it any more.
    pub(crate) unsafe fn free(cell: *mut Cell<V>) {
        // SAFETY: caller.
        drop(unsafe { Box::from_raw(cell) });
    }

    /// Takes the value back out of a cell that was never published.
    ///
    /// # Safety
    /// - `cell` came from [`Cell::alloc`] and was never shared.
    pub(crate) unsafe fn into_value(cell: *mut Cell<V>) -> V {
        // SAFETY: caller: exclusive ownership of the box.
        unsafe { Box::from_raw(cell) }.value
    }

    /// The deadline as one atomic read.
    #[inline]
    pub(crate) fn deadline(&self) -> u64 {
        // Acquire: pairs with the AcqRel CAS in `set_deadline`/`claim`, so that a reader
        // that sees a refreshed deadline also sees everything the refresher did before.
        self.deadline.load(Ordering::Acquire)
    }

    /// Whether the cell is live at time `now` (computed lazily: entries without a
    /// deadline never read the clock).
    #[inline]
    pub(crate) fn is_live(&self, now: &mut impl FnMut() -> u64) -> bool {
        let d = self.deadline();
        d == NEVER || (d != EXPIRED && now() < d)
    }

    /// Changes the deadline of a cell that is live at `now`. Returns `false` if the cell
    /// expired (or was claimed by an expirer) first.
    pub(crate) fn set_deadline(&self, now: u64, deadline: u64) -> bool {
        let mut cur = self.deadline();
        loop {
            if cur == EXPIRED || (cur != NEVER && cur <= now) {
                return false;
            }
            // DELIBERATELY BROKEN (loom demo, `--cfg ttlmap_broken` only): a plain store
            // instead of the CAS, so a racing expirer's claim can be overwritten or lost.
            #[cfg(ttlmap_broken)]
            {
                self.deadline.store(deadline, Ordering::Release);
                return true;
            }
            // AcqRel: the CAS races `claim` on the same word; Acquire on failure pairs
            // with the winner's release.
            match self.deadline.compare_exchange_weak(
                cur,
                deadline,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Sets the deadline to `to` if it is still `from` (carrying a refresh over to a
    /// replacement cell); a later refresh of this cell wins.
    pub(crate) fn replace_deadline(&self, from: u64, to: u64) {
        // AcqRel: races `set_deadline`/`claim_expired` on the same word.
        let _ = self
            .deadline
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Claims an expired cell for unlinking: CASes its deadline to `EXPIRED` so that no
    /// refresh can revive it. Returns `false` if the cell is live at `now` (read lazily).
    pub(crate) fn claim_expired(&self, now: &mut impl FnMut() -> u64) -> bool {
        let mut cur = self.deadline();
        loop {
            if cur == EXPIRED {
                return true;
            }
            if cur == NEVER || cur > now() {
                return false;
            }
            // DELIBERATELY BROKEN (loom demo, `--cfg ttlmap_broken` only): plain store.
            #[cfg(ttlmap_broken)]
            {
                self.deadline.store(EXPIRED, Ordering::Release);
                return true;
            }
            // AcqRel: pairs with the CAS in `set_deadline` (one of the two wins).
            match self.deadline.compare_exchange_weak(
                cur,
                EXPIRED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// Split-order key of an entry with hash `h`: bit-reversed, low bit set [SS06 §2.1].
#[inline]
pub(crate) fn so_entry(h: u64) -> u64 {
    (h | 1 << 63).reverse_bits()
}

/// Split-order key of the sentinel of bucket `b`: bit-reversed, low bit clear.
#[inline]
pub(crate) fn so_bucket(b: usize) -> u64 {
    (b as u64).reverse_bits()
}

/// Tagged-pointer helpers for `Link::next`.
#[inline]
pub(crate) fn is_marked(p: *mut Link) -> bool {
    p.addr() & MARK != 0
}

#[inline]
pub(crate) fn marked(p: *mut Link) -> *mut Link {
    p.map_addr(|a| a | MARK)
}

/// The pointer without any tag bit.
#[inline]
pub(crate) fn untagged(p: *mut Link) -> *mut Link {
    p.map_addr(|a| a & !TAGS)
}

/// The successor `p` names, as another `next` should store it: without the state bits of
/// the field it was read from (`MARK`, `BUSY`), with the `SENT` bit of the pointer.
#[inline]
pub(crate) fn successor(p: *mut Link) -> *mut Link {
    p.map_addr(|a| a & !(MARK | BUSY))
}

/// Whether `p` points to a sentinel (see [`SENT`]).
#[inline]
pub(crate) fn to_sentinel(p: *mut Link) -> bool {
    p.addr() & SENT != 0
}

/// `p` with the `BUSY` bit of `from`: what a CAS writes over `from`.
#[inline]
pub(crate) fn keep_busy(p: *mut Link, from: *mut Link) -> *mut Link {
    p.map_addr(|a| a | (from.addr() & BUSY))
}

#[inline]
pub(crate) fn is_busy(p: *mut Link) -> bool {
    p.addr() & BUSY != 0
}
