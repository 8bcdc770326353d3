//! Changing an entry's value: decide by freezing the current cell, then install.
//!
//! See `cell.rs` for the deadline word and the chain from the installed cell to the
//! current one. Every change of an existing entry is decided by [`Cell::freeze`] on its
//! current cell and then installed by [`RawMap::settle`], which any thread may finish.

use std::ptr;

use super::cell::{live_at, Cell, State};
use super::node::{is_tomb, tomb, Node};
use super::retire::retire_cell;
use super::{mark, mark_owning_first, Cause, Now, Pred, RawMap};
use crate::reclaim::RawGuard;
use crate::sync::Ordering;

impl<K, V> RawMap<K, V> {
    /// Installs every decision taken on `node`: moves `val` along the chain of frozen
    /// cells to the current cell (or to a tombstone). Whoever's CAS moves `val` past a
    /// cell retires it; whoever's installs the tombstone also does the delete's
    /// bookkeeping (length, mark). Returns what `val` holds at the end.
    pub(crate) fn settle<G: RawGuard>(&self, node: &Node<K, V>, guard: &G) -> *mut Cell<V> {
        // Acquire: pairs with the CAS that installed the cell.
        let mut head = node.val.load(Ordering::Acquire);
        loop {
            if is_tomb(head) {
                return head;
            }
            // SAFETY: loaded from `val` under `guard` (or the successor of a cell that
            // was), so retired, if at all, only after the guard was pinned.
            let next = match unsafe { &*head }.state() {
                State::Open(_) => return head,
                State::Replaced(next) => next,
                State::Removed => tomb(),
            };
            // AcqRel: Release passes on what our Acquire read of `head`'s word saw (the
            // successor's contents, published by its freeze): a reader that loads `next`
            // from `val` never reads `head`'s word, so it synchronises through this CAS.
            // Acquire pairs with the CAS that installed what we read next.
            match node
                .val
                .compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // SAFETY: our CAS moved `val` past `head`; only that CAS retires it.
                    unsafe { self.installed(node, head, is_tomb(next), guard) };
                    head = next;
                }
                Err(actual) => head = actual,
            }
        }
    }

    /// The bookkeeping of the CAS that moved `node.val` past `old`, to a tombstone if
    /// `removed`.
    ///
    /// # Safety
    /// - our CAS just moved `val` past `old` (so this runs once per cell).
    unsafe fn installed<G: RawGuard>(
        &self,
        node: &Node<K, V>,
        old: *mut Cell<V>,
        removed: bool,
        guard: &G,
    ) {
        if !node.is_first(old) {
            self.count.unbump(super::Event::HeapCells);
        }
        if !removed {
            // SAFETY: caller.
            unsafe { retire_cell(node, old, guard) };
            return;
        }
        // The inline first cell stays with the node if our CAS is the one that marks it
        // (`OWNS_FIRST`): its unlinker then frees both at once (node.rs, "The first cell
        // lives in the node").
        if !(node.is_first(old) && mark_owning_first(&node.link)) {
            mark(&node.link);
            // SAFETY: caller; the node does not own the cell (no `OWNS_FIRST` from us).
            unsafe { retire_cell(node, old, guard) };
        }
    }

    /// Decides that `node` is deleted, if `accept` approves the deadline of its current
    /// cell `cur` (re-read after a refresh) and names the removal's cause, then installs
    /// the decision and unlinks the node. `false` if `cur` is no longer current or
    /// `accept` refused.
    pub(crate) fn remove_cell<G: RawGuard>(
        &self,
        node: &Node<K, V>,
        cur: &Cell<V>,
        accept: impl FnMut(u64) -> Option<Cause>,
        guard: &G,
    ) -> bool {
        self.remove_cell_after(node, cur, accept, None, guard)
    }

    /// [`remove_cell`](Self::remove_cell) of a node that a lookup under `guard` found
    /// through `pred` (see [`RawMap::unlink_after`]).
    pub(crate) fn remove_cell_after<G: RawGuard>(
        &self,
        node: &Node<K, V>,
        cur: &Cell<V>,
        mut accept: impl FnMut(u64) -> Option<Cause>,
        pred: Option<Pred<'_>>,
        guard: &G,
    ) -> bool {
        let mut state = cur.state();
        let cause = loop {
            let State::Open(d) = state else {
                return false;
            };
            let Some(cause) = accept(d) else {
                return false;
            };
            let old_weight = self.weight_to_freeze(node, cur);
            match cur.freeze(d, ptr::null_mut()) {
                Ok(()) => break (cause, old_weight),
                Err(found) => state = found,
            }
        };
        self.decided_removal(node, cur, cause.1, cause.0);
        self.settle(node, guard);
        // Our decision is installed (by us or a helper); the node is ours to unlink.
        // Mark it in case the installer has not yet (idempotent).
        mark(&node.link);
        self.unlink_after(node, pred, guard);
        true
    }

    /// Replaces the value of `node`, whose current cell is `cur` (live at `now`), keeping
    /// its deadline: the deadline is read by the same CAS that decides the replacement,
    /// so a refresh of `cur` either lands before (and is carried over) or fails and
    /// retries on the new cell. `Err` gives the value back if `cur` is no longer current
    /// or no longer live.
    pub(crate) fn replace_value<'g, G: RawGuard>(
        &'g self,
        node: &'g Node<K, V>,
        cur: &'g Cell<V>,
        value: V,
        weight: u32,
        now: &mut Now<'_>,
        guard: &'g G,
    ) -> Result<&'g Cell<V>, V> {
        let State::Open(mut d) = cur.state() else {
            return Err(value);
        };
        let new = Cell::alloc(value, d, weight);
        loop {
            if !live_at(d, &mut || now.get()) {
                break;
            }
            let old_weight = self.weight_to_freeze(node, cur);
            match cur.freeze(d, new) {
                Ok(()) => {
                    self.decided_replacement(node, cur, old_weight, weight, Cause::Replaced);
                    self.settle(node, guard);
                    self.sweep_step(now, guard);
                    // SAFETY: published by our freeze; retired only after our guard.
                    return Ok(unsafe { &*new });
                }
                Err(State::Open(refreshed)) => {
                    d = refreshed;
                    // SAFETY: `new` is still ours (the freeze failed).
                    unsafe { Cell::set_unshared(new, d) };
                }
                Err(_) => break,
            }
        }
        // SAFETY: never published (every freeze failed).
        Err(unsafe { Cell::into_parts(new) }.0)
    }

    /// A refresh: changes the deadline of the live entry `key` to `deadline`. The CAS on
    /// the current cell's open deadline is the linearization point: an open cell is the
    /// entry's current one (every change of the entry freezes it first). `pin` as in
    /// [`RawMap::get`].
    pub(crate) fn set_deadline<'g, Q, G>(
        &'g self,
        hash: u64,
        key: &Q,
        deadline: u64,
        now: &mut Now<'_>,
        pin: impl Fn() -> &'g G,
    ) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + ?Sized,
        G: RawGuard + 'g,
    {
        'lookup: loop {
            let Some((_, cur, mut d)) = self.get(hash, key, now, &pin) else {
                return false;
            };
            loop {
                match cur.refresh(d, deadline) {
                    Ok(()) => {
                        self.note_deadline(deadline);
                        return true;
                    }
                    Err(State::Open(found)) if live_at(found, &mut || now.get()) => d = found,
                    Err(State::Open(_)) => return false,
                    // Replaced or removed meanwhile: look again.
                    Err(_) => continue 'lookup,
                }
            }
        }
    }
}
