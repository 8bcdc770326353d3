//! How the engine hands its garbage to reclamation, and frees it.
//!
//! An unlinked node and a replaced heap cell are retired *intrusively*: reclamation
//! keeps each thread's retired objects in a list linked through a word of the objects
//! themselves, and defers one destructor per batch of them (`reclaim.rs`), so retiring
//! allocates nothing and a mass expiry never needs memory to free memory. The word is
//! the node's `val` (a tombstone by then: the link keeps the [`TOMB`] bit, so a guard
//! still reading the node sees a tombstone) or a heap cell's spare `link` word. The list
//! holds *handles*: the address of an object's link word with its kind in bits 1–2.
//!
//! The inline first cell of a node has no spare word (its value and deadline may still
//! be read after it is replaced), so its release is deferred on its own.

use super::cell::Cell;
use super::node::{Node, TOMB};
use crate::reclaim::RawGuard;
use crate::sync::{AtomicPtr, Ordering};

/// Handle kind: an unlinked node that owns its first value ([`Node::free_with_first`]).
const NODE_WITH_FIRST: usize = 0;
/// Handle kind: an unlinked node whose first cell was retired on its own ([`Node::free`]).
const NODE: usize = 2;
/// Handle kind: a replaced heap cell ([`Cell::free`]).
const HEAP_CELL: usize = 4;
/// The kind bits of a handle (bit 0 is [`TOMB`] inside a stored link).
const KIND: usize = 6;

// Handles keep the kind in the low bits of an 8-aligned link word's address.
const _: () = assert!(std::mem::align_of::<AtomicPtr<()>>() >= 8);

/// Retires `node`, which the caller's CAS just unlinked; `owns_first` says whether its
/// first value goes with it (`OWNS_FIRST`, see `node.rs`).
///
/// # Safety
/// - `node` is unreachable for guards pinned from now on, and retired exactly once.
pub(crate) unsafe fn retire_node<K, V, G: RawGuard>(
    node: *mut Node<K, V>,
    owns_first: bool,
    guard: &G,
) {
    // SAFETY: (caller) the node is not freed before this retirement is processed.
    let slot = unsafe { Node::link_slot(node) };
    let kind = if owns_first { NODE_WITH_FIRST } else { NODE };
    let handle = slot.cast::<u8>().map_addr(|a| a | kind);
    // SAFETY: caller; the link below is written before reclamation can read it.
    unsafe {
        guard.retire_linked(handle, |next| {
            // Relaxed: guards reading this node only need to see a tombstone, which every
            // value written here is; the freeing thread reads it after reclamation's
            // synchronisation.
            (*slot).store(next.map_addr(|a| a | TOMB).cast(), Ordering::Relaxed);
        })
    };
}

/// Retires `cell`, which the caller's CAS just moved `node.val` past: a heap cell joins
/// the retirement list; the inline first cell is handed to the node's handshake.
///
/// # Safety
/// - `cell` was installed in `node.val` until our CAS, so it is retired exactly once.
pub(crate) unsafe fn retire_cell<K, V, G: RawGuard>(
    node: &Node<K, V>,
    cell: *mut Cell<V>,
    guard: &G,
) {
    if node.is_first(cell) {
        // SAFETY: `cell` is `node`'s first cell, as `Node::alloc` stored it in `val`
        // (with the whole node's provenance: `release_first` may free the node).
        let node = unsafe { Node::<K, V>::of_first(cell) };
        // SAFETY: the first cell is unreachable for new guards (caller); the node is
        // not: `release_first` touches only the cell until `Node::free` ran too.
        unsafe { guard.retire(node, Node::release_first) };
    } else {
        // SAFETY: a heap cell (every cell but the first one), not freed before this
        // retirement is processed (caller).
        let slot = unsafe { Cell::link_slot(cell) };
        let handle = slot.cast::<u8>().cast_mut().map_addr(|a| a | HEAP_CELL);
        // SAFETY: caller; only the retirer writes a heap cell's link word (until now it
        // held the value's weight).
        // Relaxed: the freeing thread reads it after reclamation's synchronisation.
        unsafe { guard.retire_linked(handle, |next| (*slot).store(next, Ordering::Relaxed)) };
    }
}

/// Frees a batch of retired objects (the list that starts at `head`), returning how
/// many. Never unwinds: user `Drop` panics are caught by the destructors.
///
/// # Safety
/// - `head` is a list built by [`retire_node`] and [`retire_cell`] for a map of this
///   `K` and `V`, and no guard that could reach any of its objects remains.
pub(crate) unsafe fn free_batch<K, V>(head: *mut u8) -> usize {
    let mut handle = head;
    let mut freed = 0;
    while !handle.is_null() {
        let kind = handle.addr() & KIND;
        let slot = handle.map_addr(|a| a & !KIND);
        // SAFETY: every handle addresses the link word of a retired object of its kind
        // (caller), not yet freed; its successor is read before the object is freed.
        unsafe {
            match kind {
                HEAP_CELL => {
                    let slot = slot.cast::<AtomicPtr<u8>>();
                    // Relaxed: written by the retirer, ordered before us by reclamation.
                    handle = (*slot).load(Ordering::Relaxed);
                    Cell::<V>::free(Cell::of_link_slot(slot));
                }
                _ => {
                    let slot = slot.cast::<AtomicPtr<Cell<V>>>();
                    // Relaxed: written by the retirer, ordered before us by reclamation.
                    handle = (*slot).load(Ordering::Relaxed).cast::<u8>();
                    handle = handle.map_addr(|a| a & !TOMB);
                    let node = Node::<K, V>::of_link_slot(slot);
                    if kind == NODE_WITH_FIRST {
                        Node::free_with_first(node);
                    } else {
                        Node::free(node);
                    }
                }
            }
        }
        freed += 1;
    }
    freed
}
