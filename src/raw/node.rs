//! The list's nodes and value cells, and the split-order keys that sort them.
//!
//! # Layout
//! Every list element starts with a [`Link`] (`next`, `so`), so the list can be walked
//! without knowing whether an element is a bucket sentinel (a [`Link`] stored inline in
//! the bucket directory) or an entry (a heap [`Node`]). The low bit of `so` tells them
//! apart: sentinels have even split-order keys, entries odd ones [SS06 §2.1].
//!
//! # Node states
//! | state      | `val`                 | `next` mark | reachable | who moves it on                |
//! |------------|-----------------------|-------------|-----------|--------------------------------|
//! | live       | a cell (see `cell.rs` for its chain) | clear | yes | writers decide on the cell, then install (`RawMap::settle`) |
//! | tombstoned | [`TOMB`]              | clear       | yes       | the tombstoner, or any helper: set the mark |
//! | marked     | [`TOMB`]              | set         | yes       | any traversal: CAS `prev.next` past it |
//! | unlinked   | `TOMB` + garbage link | set         | no (to new guards) | the unlinker retired it  |
//! | freed      | —                     | —           | no        | the collector, after every older guard |
//!
//! A node only moves down this table. `val` becomes a tombstone exactly once, by the CAS
//! that installs a removal decision (that thread retires the last cell); `next` is marked
//! only after that, and only the thread whose CAS unlinks a node retires it. Once
//! unlinked, `val` doubles as the node's link in a retirement list (`raw/retire.rs`): it
//! keeps the [`TOMB`] bit, so a guard still reading the node sees a tombstone whatever
//! else the word holds.
//!
//! # The first cell lives in the node
//! A node is allocated with its first cell inline (`Node::first`), so an insert makes one
//! allocation and a lookup of a never-replaced value loads no second line. A later value
//! gets a heap cell. The inline cell is retired like any other (when `val` moves past
//! it), but its memory is the node's, so the node may only be freed once both deferred
//! destructors ran: the inline value's ([`Node::release_first`]) and the node's own
//! ([`Node::free`]). They may run in either order, on any threads (each thread's garbage
//! is collected on its own schedule). Each one, when done, swaps a mark into the inline
//! cell's deadline word, a word nobody else reads or writes any more by then; the one
//! that finds the other's mark deallocates. Real deadlines never take those two values
//! ([`crate::clock::MIN_DEADLINE`]).
//!
//! The common case skips that handshake: a node deleted while its first cell is still
//! current (never replaced) keeps its first value to the end. The deleter installs the
//! tombstone as usual but retires nothing; instead its marking CAS sets [`OWNS_FIRST`]
//! along with [`MARK`], and whoever unlinks a node marked so retires it to be freed with
//! [`Node::free_with_first`], which drops key and first value and deallocates at once
//! (one retirement and one touch of the node's memory instead of two). If another thread
//! marked the node first (a helper that saw the tombstone), the flag is not there, and the
//! deleter retires the first cell through the handshake as before. Dropping the first
//! value only with the node is safe: the node is freed after every guard that could have
//! loaded it, which includes every guard that loaded its first cell.
//!
//! Every destructor here runs user `Drop` code through [`crate::reclaim::catching`]: a
//! panicking key or value never stops the rest of the free (its memory, the other field,
//! the handshake), and the panic is handed to the reclamation's panic policy.

use std::alloc::{self, Layout};
use std::cell::UnsafeCell;
use std::mem::{offset_of, ManuallyDrop};
use std::ptr::{self, addr_of, addr_of_mut};

use super::cell::Cell;
use crate::cache::AtomicMeta;
use crate::reclaim::catching;
use crate::sync::{AtomicPtr, AtomicU64, Ordering};

/// Tag bit of a node's `val`: the entry is deleted (a tombstone). Cells are 8-aligned, so
/// no cell pointer has it; an unlinked node's `val` keeps it under its garbage link.
pub(crate) const TOMB: usize = 1;

/// Whether a loaded `val` is a tombstone (with or without a garbage link).
#[inline]
pub(crate) fn is_tomb<V>(val: *mut Cell<V>) -> bool {
    val.addr() & TOMB != 0
}

/// The plain tombstone a removal installs.
#[inline]
pub(crate) fn tomb<V>() -> *mut Cell<V> {
    ptr::without_provenance_mut(TOMB)
}

/// Tag bit of an entry's `next`: the entry is logically deleted (its `val` is a tombstone).
pub(crate) const MARK: usize = 1;
/// Tag bit of a sentinel's `next`: the bucket is ready (linked and published). A
/// sentinel whose `next` is 0 is uninitialised (a fresh segment comes zeroed from the
/// OS); one whose `next` is non-zero without this bit is claimed and being linked, and
/// lookups start from an ancestor meanwhile. Every CAS on a `next` carries this bit over
/// from the value it replaces.
pub(crate) const READY: usize = 2;
/// Tag bit of every pointer *to* a sentinel, wherever it is stored: a lookup that meets
/// it knows, without loading the sentinel, that the next element starts another bucket.
/// It belongs to the pointer value, so it travels with it from `next` to `next`.
pub(crate) const SENT: usize = 4;
/// Tag bit of a *marked entry's* `next` (with [`MARK`]): the node still owns its first
/// value, which its deferred free drops (see the module docs). The same bit as `READY`,
/// which only a sentinel's `next` carries, and sentinels are never marked; `successor`
/// strips it like `MARK`, so it never travels.
pub(crate) const OWNS_FIRST: usize = READY;
/// The end of the list, as a `next` stores it: `SENT` with no address, never null. So a
/// claimed sentinel's `next` is never 0, and 0 can mean "uninitialised". Every walk
/// already ends there: its address (`untagged`) is null, and it is tagged `SENT`.
pub(crate) const END: usize = SENT;
/// All tag bits of a `next` pointer.
const TAGS: usize = 7;

// The tags live in the low bits of a `*mut Link`, so links must be 8-aligned.
const _: () = assert!(std::mem::align_of::<Link>() >= 8);

/// The part of every list element that the list itself reads.
#[repr(C)]
pub(crate) struct Link {
    /// The successor, with [`MARK`] set once this element is logically deleted.
    pub(crate) next: AtomicPtr<Link>,
    /// The split-order key; written once before the element is reachable (a sentinel's by
    /// the thread that claims its bucket, since a fresh segment comes zeroed), immutable
    /// from then on. An atomic only so that it can be written through a shared
    /// reference: std's even under loom (it synchronises nothing; every read of it comes
    /// after the Acquire load that reached the element), and a Relaxed load is a plain one.
    so: std::sync::atomic::AtomicU64,
}

impl Link {
    pub(crate) fn new(so: u64) -> Link {
        Link {
            next: AtomicPtr::new(end()),
            so: std::sync::atomic::AtomicU64::new(so),
        }
    }

    /// The split-order key.
    #[inline]
    pub(crate) fn so(&self) -> u64 {
        // Relaxed: see the field's docs.
        self.so.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the split-order key of a claimed sentinel before it is linked.
    #[inline]
    pub(crate) fn set_so(&self, so: u64) {
        // Relaxed: published by the Release CAS that links the sentinel.
        self.so.store(so, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this element is an entry (a [`Node`]) rather than a bucket sentinel.
    #[inline]
    pub(crate) fn is_entry(&self) -> bool {
        self.so() & 1 == 1
    }
}

/// Handshake mark in a retired inline cell's deadline: its value was dropped.
const FIRST_DROPPED: u64 = 1;
/// Handshake mark in a retired inline cell's deadline: the node's key was dropped.
const NODE_DONE: u64 = 2;
const _: () =
    assert!(FIRST_DROPPED < crate::clock::MIN_DEADLINE && NODE_DONE < crate::clock::MIN_DEADLINE);

/// A key-value entry of the list.
#[repr(C)]
pub(crate) struct Node<K, V> {
    /// Must stay the first field: `*mut Link` and `*mut Node` are cast into each other.
    pub(crate) link: Link,
    /// The installed cell (at first [`Node::first`], later a heap cell), or a tombstone
    /// ([`TOMB`]) once the entry is deleted.
    pub(crate) val: AtomicPtr<Cell<V>>,
    /// The bounded cache's word: the eviction policy's metadata and the entry's weight
    /// (`cache/meta.rs`). Zero, and never touched, in a map without a bound or weigher.
    /// (8 bytes that fit the allocator's size class of a node of two `u64`s: 56 bytes,
    /// in the same 64-byte chunk as 48.)
    pub(crate) meta: AtomicMeta,
    pub(crate) key: K,
    /// The first cell, inline. Dropped by hand (see the module docs), hence
    /// `ManuallyDrop`; `UnsafeCell` because its value is dropped in place through a
    /// shared node.
    first: UnsafeCell<ManuallyDrop<Cell<V>>>,
}

impl<K, V> Node<K, V> {
    /// Allocates an unlinked node whose current cell is its inline first cell.
    pub(crate) fn alloc(so: u64, key: K, value: V, deadline: u64, weight: u32) -> *mut Node<K, V> {
        debug_assert!(so & 1 == 1);
        let node = Box::into_raw(Box::new(Node {
            link: Link::new(so),
            val: AtomicPtr::new(ptr::null_mut()),
            meta: AtomicMeta::with_weight(weight),
            key,
            first: UnsafeCell::new(ManuallyDrop::new(Cell {
                deadline: AtomicU64::new(deadline),
                value,
            })),
        }));
        // SAFETY: just allocated, ours. Relaxed: the node is published by a Release CAS.
        unsafe { (*node).val.store(Node::first_ptr(node), Ordering::Relaxed) };
        node
    }

    /// The inline first cell of `node`.
    ///
    /// # Safety
    /// - `node` points to a node that is not deallocated.
    #[inline]
    unsafe fn first_ptr(node: *const Node<K, V>) -> *mut Cell<V> {
        // SAFETY: caller: the node is allocated. `addr_of!` creates no reference, so the
        // result keeps `node`'s provenance (the whole allocation, for the pointers from
        // `Box::into_raw` and from the list). `ManuallyDrop` is `repr(transparent)`.
        unsafe { UnsafeCell::raw_get(addr_of!((*node).first)).cast::<Cell<V>>() }
    }

    /// The node whose inline first cell `cell` is: the inverse of `first_ptr`, keeping
    /// `cell`'s provenance (so the node can be freed through it, which a pointer made
    /// from a `&Node` would not allow).
    ///
    /// # Safety
    /// - `cell` is a node's first cell, as stored in `val` by [`Node::alloc`].
    #[inline]
    pub(crate) unsafe fn of_first(cell: *mut Cell<V>) -> *mut Node<K, V> {
        // SAFETY: caller: `cell` lies `offset_of!(first)` bytes into its node.
        unsafe { cell.byte_sub(offset_of!(Node<K, V>, first)).cast() }
    }

    /// Whether `cell` is this node's inline first cell.
    #[inline]
    pub(crate) fn is_first(&self, cell: *const Cell<V>) -> bool {
        // SAFETY: `self` is a live node.
        ptr::eq(cell, unsafe { Node::first_ptr(self) })
    }

    /// The entry's current cell and its open deadline; `None` once it is deleted (or a
    /// deletion is decided). Never writes.
    #[inline]
    pub(crate) fn current(&self) -> Option<(&Cell<V>, u64)> {
        // Acquire: pairs with the CAS that installed the cell.
        let head = self.val.load(Ordering::Acquire);
        if is_tomb(head) {
            return None;
        }
        // SAFETY: installed while the caller's guard (which keeps this node) was pinned or
        // later, so it is retired only after that guard is gone.
        unsafe { &*head }.current()
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

    /// Frees a node that was never published, returning its key, value, deadline and
    /// weight.
    ///
    /// # Safety
    /// - `node` came from [`Node::alloc`] and was never made reachable by other threads,
    ///   so its current cell is still the inline one.
    pub(crate) unsafe fn unpublish(node: *mut Node<K, V>) -> (K, V, u64, u32) {
        // SAFETY: we own the node (caller); each field is read out exactly once, and
        // `dealloc` drops none of them again.
        unsafe {
            let first = Node::first_ptr(node);
            let key = ptr::read(&(*node).key);
            let value = ptr::read(&(*first).value);
            // Relaxed: unshared.
            let deadline = (*first).word().load(Ordering::Relaxed);
            let weight = (*node).meta.weight();
            Node::dealloc(node);
            (key, value, deadline, weight)
        }
    }

    /// Deferred destructor of a retired inline first cell: drops its value, then frees
    /// the node if [`Node::free`] already ran.
    ///
    /// # Safety
    /// - `node`'s `val` moved away from its first cell, no guard can still read that cell,
    ///   and this runs once per node.
    pub(crate) unsafe fn release_first(node: *mut Node<K, V>) {
        // SAFETY: nobody reads the first cell any more (caller), and the node memory is
        // still allocated: only this function or `free`, whichever runs second, frees it.
        unsafe {
            let first = Node::first_ptr(node);
            catching(|| ptr::drop_in_place(addr_of_mut!((*first).value)));
            // AcqRel: pairs with the swap in `free`; the second of the two sees the
            // other's drop done before it deallocates.
            if (*first).word().swap(FIRST_DROPPED, Ordering::AcqRel) == NODE_DONE {
                Node::dealloc(node);
            }
        }
    }

    /// Frees an unlinked node (deferred destructor of the unlink): drops its key, then
    /// deallocates it if its first cell's value was dropped already.
    ///
    /// # Safety
    /// - `node` came from [`Node::alloc`], is unreachable, and no guard can still read it;
    /// - its first cell was retired (`val` moved past it, and it is not marked
    ///   [`OWNS_FIRST`]). A heap cell that `val` may still name is owned elsewhere.
    pub(crate) unsafe fn free(node: *mut Node<K, V>) {
        // SAFETY: nobody reads the node any more (caller); the first cell's deadline is
        // touched only by `release_first` and us from now on.
        unsafe {
            catching(|| ptr::drop_in_place(addr_of_mut!((*node).key)));
            let first = Node::first_ptr(node);
            // AcqRel: see `release_first`.
            if (*first).word().swap(NODE_DONE, Ordering::AcqRel) == FIRST_DROPPED {
                Node::dealloc(node);
            }
        }
    }

    /// Frees a node that still owns its first value: drops key and first value and
    /// deallocates. Used for a node whose first cell is still installed when the map is
    /// dropped, and (deferred) for a node unlinked while marked [`OWNS_FIRST`].
    ///
    /// # Safety
    /// - exclusive access to `node` (no guard can still read it), which came from
    ///   [`Node::alloc`], and its first cell was never retired: it is still installed,
    ///   or the node was tombstoned from it and marked `OWNS_FIRST`.
    pub(crate) unsafe fn free_with_first(node: *mut Node<K, V>) {
        // SAFETY: caller: exclusive, nothing dropped yet. Each drop runs once, and a
        // panic in one does not skip the other nor the deallocation.
        unsafe {
            catching(|| ptr::drop_in_place(addr_of_mut!((*node).key)));
            catching(|| ptr::drop_in_place(addr_of_mut!((*Node::first_ptr(node)).value)));
            Node::dealloc(node);
        }
    }

    /// Frees a tombstoned node at once, given its last `next`: with its first value if
    /// it owns it ([`OWNS_FIRST`]), else through the handshake with its retired first
    /// cell. For a map being rebuilt or dropped.
    ///
    /// # Safety
    /// - exclusive access (no guard exists), `node` is tombstoned (its last cell retired,
    ///   or kept if marked `OWNS_FIRST`) and nobody can reach it any more.
    pub(crate) unsafe fn free_tombstoned(node: *mut Node<K, V>, next: *mut Link) {
        // SAFETY: caller.
        unsafe {
            if owns_first(next) {
                Node::free_with_first(node);
            } else {
                Node::free(node);
            }
        }
    }

    /// The word a retired node links through: its `val` (a tombstone by then).
    ///
    /// # Safety
    /// - `node` is not deallocated.
    pub(crate) unsafe fn link_slot(node: *mut Node<K, V>) -> *mut AtomicPtr<Cell<V>> {
        // SAFETY: caller; no reference is created.
        unsafe { addr_of_mut!((*node).val) }
    }

    /// The node whose link word is `slot` (the inverse of [`Node::link_slot`]).
    ///
    /// # Safety
    /// - `slot` came from [`Node::link_slot`].
    pub(crate) unsafe fn of_link_slot(slot: *mut AtomicPtr<Cell<V>>) -> *mut Node<K, V> {
        // SAFETY: caller: `slot` lies `offset_of!(val)` bytes into its node.
        unsafe { slot.byte_sub(offset_of!(Node<K, V>, val)).cast() }
    }

    /// Deallocates `node` whose key and first value were dropped or moved out already.
    ///
    /// # Safety
    /// - exclusive access to `node`, which came from [`Node::alloc`].
    unsafe fn dealloc(node: *mut Node<K, V>) {
        // SAFETY: caller. The atomics are dropped in place (no-ops with std; loom
        // tracks them), then the memory goes back with the layout `Box` used.
        unsafe {
            ptr::drop_in_place(addr_of_mut!((*node).link));
            ptr::drop_in_place(addr_of_mut!((*node).val));
            ptr::drop_in_place(addr_of_mut!((*Node::first_ptr(node)).deadline));
            alloc::dealloc(node as *mut u8, Layout::new::<Node<K, V>>());
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

/// The split-order keys `[lo, hi)` of bucket `b` of a table of `size` buckets (`hi` is
/// `None` for the last bucket in split order, whose interval runs to the end). The
/// intervals of one `size` partition all keys.
#[inline]
pub(crate) fn bucket_interval(b: usize, size: usize) -> (u64, Option<u64>) {
    let lo = so_bucket(b);
    (
        lo,
        lo.checked_add(1u64 << (u64::BITS - size.trailing_zeros())),
    )
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
/// the field it was read from (`MARK`, `READY`), with the `SENT` bit of the pointer.
#[inline]
pub(crate) fn successor(p: *mut Link) -> *mut Link {
    p.map_addr(|a| a & !(MARK | READY))
}

/// The end of the list ([`END`]).
#[inline]
pub(crate) fn end() -> *mut Link {
    ptr::without_provenance_mut(END)
}

/// Whether `p` points to a sentinel (see [`SENT`]).
#[inline]
pub(crate) fn to_sentinel(p: *mut Link) -> bool {
    p.addr() & SENT != 0
}

/// `p` with the `READY` bit of `from`: what a CAS writes over `from`.
#[inline]
pub(crate) fn keep_ready(p: *mut Link, from: *mut Link) -> *mut Link {
    p.map_addr(|a| a | (from.addr() & READY))
}

/// Whether an entry's `next` says its node still owns its first value: marked with
/// [`OWNS_FIRST`] (an unmarked entry's `next` never carries that bit).
#[inline]
pub(crate) fn owns_first(next: *mut Link) -> bool {
    next.addr() & (MARK | OWNS_FIRST) == MARK | OWNS_FIRST
}

/// Whether a sentinel's `next` says its bucket is ready.
#[inline]
pub(crate) fn has_ready(p: *mut Link) -> bool {
    p.addr() & READY != 0
}
