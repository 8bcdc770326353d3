//! Value cells: a value with its deadline word, and the transitions of that word.
//!
//! # The deadline word
//! A cell's value never changes. Its 64-bit deadline word is the cell's whole state:
//!
//! | word                         | state    | meaning                                             |
//! |------------------------------|----------|-----------------------------------------------------|
//! | `d` (bit 63 clear)           | open     | the entry's value is this cell's, live while `now < d` ([`NEVER`]: always; [`EXPIRED`]: never) |
//! | `FROZEN` + successor address | frozen   | a writer decided what replaces this cell: the successor cell, whose value and deadline are the entry's from then on |
//! | `FROZEN` + 0                 | removed  | a writer decided to delete the entry (a remove, or an expirer that claimed it) |
//!
//! A word goes from open to open (a refresh: `set_ttl`, `persist`), or from open to frozen
//! (a decision), and a frozen word never changes again — until the cell is freed, when a
//! retired inline first cell reuses it for its handshake marks (`node.rs`). Every change
//! of an entry — insert over an existing key, update, remove, expiry — is *decided* by a
//! CAS that freezes the entry's current cell (the end of its chain, below) with the
//! successor; that CAS is the operation's linearization point. A refresh CASes the open
//! word, so a refresh and any decision about the same cell race on one word and exactly
//! one of them wins: a refresh that succeeded is never lost, and an update that carries a
//! deadline over reads it in the same CAS that freezes it (loom models `update.rs`).
//!
//! # Chains
//! A node's `val` points to the cell *installed* last. Deciding and installing are two
//! steps: after the freezing CAS, anyone who sees the frozen cell in `val` helps move
//! `val` on to the successor (`RawMap::settle`), and the one whose CAS does it retires the
//! cell it replaced. So `val` may briefly lag behind the decisions: the installed cell is
//! frozen, and its successor (maybe frozen too) leads to the *current* cell, the one open
//! cell at the end of the chain, which readers use (never writing). Every cell of a chain
//! is installed in turn, and each is retired exactly once, by the CAS that moves `val`
//! past it.

use std::ptr;

use crate::clock::{EXPIRED, NEVER};
use crate::sync::{AtomicPtr, AtomicU64, Ordering};

/// Bit 63 of a deadline word: the cell is frozen (its low bits address the successor, or
/// are 0 for a removal). Real deadlines keep it clear ([`NEVER`] is below it).
const FROZEN: u64 = 1 << 63;
const _: () = assert!(NEVER < FROZEN);

/// A value with its deadline word.
///
/// A cell lives inline in its node (the node's first value) or on the heap (every later
/// value, allocated by [`Cell::alloc`] inside a [`HeapCell`]).
#[repr(C)]
pub(crate) struct Cell<V> {
    pub(super) deadline: AtomicU64,
    pub(crate) value: V,
}

/// What a deadline word says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum State<V> {
    /// Open, with this deadline.
    Open(u64),
    /// Frozen: replaced by this cell.
    Replaced(*mut Cell<V>),
    /// Frozen: the entry is deleted.
    Removed,
}

/// Whether deadline `d` is live at the clock reading `now()` (read lazily: entries
/// without a deadline never read the clock).
#[inline]
pub(crate) fn live_at(d: u64, now: &mut impl FnMut() -> u64) -> bool {
    d == NEVER || (d != EXPIRED && now() < d)
}

impl<V> Cell<V> {
    /// The cell's state, as one atomic read.
    #[inline]
    pub(crate) fn state(&self) -> State<V> {
        // Acquire: pairs with the AcqRel CASes that open, refresh or freeze the word, so
        // that a reader that sees a successor sees its contents (published by the freeze).
        decode(self.deadline.load(Ordering::Acquire))
    }

    /// The current cell of the chain that starts at `self`, with its open deadline, or
    /// `None` if the chain ends in a removal. Never writes.
    #[inline]
    pub(crate) fn current(&self) -> Option<(&Cell<V>, u64)> {
        let mut cell = self;
        loop {
            match cell.state() {
                State::Open(d) => return Some((cell, d)),
                State::Removed => return None,
                // SAFETY: a successor is published by the freezing CAS (which our Acquire
                // read synchronises with) and retired only after `val` moved past it,
                // which is after `val` moved past `cell`: whatever guard protects `cell`
                // protects it too.
                State::Replaced(next) => cell = unsafe { &*next },
            }
        }
    }

    /// Decides the successor of this open cell: CASes its word from `Open(expected)` to
    /// frozen with `next` (null: a removal). On failure returns the state found instead.
    ///
    /// `next` must be fully initialised: the CAS publishes it (Release).
    pub(crate) fn freeze(&self, expected: u64, next: *mut Cell<V>) -> Result<(), State<V>> {
        debug_assert!(expected & FROZEN == 0);
        let word = FROZEN | next.expose_provenance() as u64;
        debug_assert!(
            word & !FROZEN == next.addr() as u64,
            "pointer wider than 63 bits"
        );
        // AcqRel: Release publishes `next`'s contents to whoever follows the chain (their
        // Acquire in `state`); the CAS races refreshes and other decisions on this word.
        self.deadline
            .compare_exchange(expected, word, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(decode)
    }

    /// A refresh: changes the open deadline `expected` (the caller checked it is live) to
    /// `deadline`. `Err` gives the state found instead (the caller re-examines it).
    pub(crate) fn refresh(&self, expected: u64, deadline: u64) -> Result<(), State<V>> {
        debug_assert!(expected & FROZEN == 0 && deadline & FROZEN == 0);
        // DELIBERATELY BROKEN (loom demo, `--cfg ttlmap_broken` only): a plain store
        // instead of the CAS, so a racing decision (update, expiry) can be overwritten or
        // lose the refresh.
        #[cfg(ttlmap_broken)]
        {
            let _ = expected;
            self.deadline.store(deadline, Ordering::Release);
            return Ok(());
        }
        // AcqRel: races `freeze` on the same word (exactly one of them wins).
        #[cfg(not(ttlmap_broken))]
        self.deadline
            .compare_exchange(expected, deadline, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(decode)
    }

    /// The raw word, for the handshake of a retired inline cell (`node.rs`).
    pub(super) fn word(&self) -> &AtomicU64 {
        &self.deadline
    }
}

/// Decodes a deadline word.
#[inline]
fn decode<V>(word: u64) -> State<V> {
    if word & FROZEN == 0 {
        State::Open(word)
    } else if word == FROZEN {
        State::Removed
    } else {
        // The address was exposed by the freezing CAS (`freeze`).
        State::Replaced(ptr::with_exposed_provenance_mut((word & !FROZEN) as usize))
    }
}

/// A heap cell: a [`Cell`] followed by the word its retirement links through (a retired
/// cell may still be read by guards older than its retirement, so the link cannot reuse
/// any word of the cell itself).
#[repr(C)]
pub(crate) struct HeapCell<V> {
    /// Must stay first: a `*mut Cell<V>` from [`Cell::alloc`] is also a `*mut HeapCell<V>`.
    cell: Cell<V>,
    /// Until the cell is retired, the weight of its value (the bounded cache's, as the
    /// weigher gave it: `cache/bound.rs`); then the next object of a retirement list
    /// (`reclaim.rs`), written only by the retirer. Atomic: a writer that reads the
    /// weight of a cell it is about to freeze may lose that race and read it while the
    /// winner's retirement writes it (it then discards what it read).
    link: AtomicPtr<u8>,
}

impl<V> Cell<V> {
    /// A heap cell holding `value` of weight `weight`, open with `deadline`, unshared.
    pub(crate) fn alloc(value: V, deadline: u64, weight: u32) -> *mut Cell<V> {
        debug_assert!(deadline & FROZEN == 0);
        let boxed = Box::into_raw(Box::new(HeapCell {
            cell: Cell {
                deadline: AtomicU64::new(deadline),
                value,
            },
            link: AtomicPtr::new(ptr::without_provenance_mut(weight as usize)),
        }));
        // `HeapCell` is `repr(C)` with the cell first: same address, whole-box provenance.
        boxed.cast()
    }

    /// Sets the deadline of a heap cell that nobody else can see yet.
    ///
    /// # Safety
    /// - `cell` came from [`Cell::alloc`] and is not shared.
    pub(crate) unsafe fn set_unshared(cell: *mut Cell<V>, deadline: u64) {
        debug_assert!(deadline & FROZEN == 0);
        // SAFETY: caller: ours alone. Relaxed: published later by a Release CAS.
        unsafe { (*cell).deadline.store(deadline, Ordering::Relaxed) };
    }

    /// Takes the value and deadline back out of a heap cell that was never published.
    ///
    /// # Safety
    /// - `cell` came from [`Cell::alloc`] and was never shared.
    pub(crate) unsafe fn into_parts(cell: *mut Cell<V>) -> (V, u64) {
        // SAFETY: caller: exclusive ownership of the box, which `alloc` made.
        let heap = unsafe { Box::from_raw(cell.cast::<HeapCell<V>>()) };
        let HeapCell { cell, .. } = *heap;
        // Relaxed: unshared.
        let deadline = cell.deadline.load(Ordering::Relaxed);
        (cell.value, deadline)
    }

    /// The word a retired heap cell links through.
    ///
    /// # Safety
    /// - `cell` came from [`Cell::alloc`] and is not freed.
    pub(crate) unsafe fn link_slot(cell: *mut Cell<V>) -> *const AtomicPtr<u8> {
        // SAFETY: caller: `cell` addresses a live `HeapCell` (same address, whole-box
        // provenance); `addr_of!` creates no reference.
        unsafe { ptr::addr_of!((*cell.cast::<HeapCell<V>>()).link) }
    }

    /// The weight of the value of heap cell `cell`, read while `cell` is not retired.
    ///
    /// # Safety
    /// - `cell` came from [`Cell::alloc`] and is not freed (the caller's guard).
    ///
    /// The result is the weight only if `cell` was not retired before this read; a
    /// caller that reads it *before* its freezing CAS on `cell` succeeds has that: a
    /// cell is retired only after it is frozen, by a thread that saw the freeze.
    pub(crate) unsafe fn heap_weight(cell: *const Cell<V>) -> u32 {
        // SAFETY: caller.
        let slot = unsafe { Cell::link_slot(cell as *mut Cell<V>) };
        // Relaxed: the weight was written before the cell was published (by the Release
        // freeze of its predecessor, or the node's linking CAS), which our Acquire read
        // of the chain saw; a retirer's store is excluded as the docs say.
        // SAFETY: the slot of a live heap cell.
        unsafe { (*slot).load(Ordering::Relaxed) }.addr() as u32
    }

    /// The heap cell whose link word is `slot` (the inverse of [`Cell::link_slot`]).
    ///
    /// # Safety
    /// - `slot` came from [`Cell::link_slot`].
    pub(crate) unsafe fn of_link_slot(slot: *const AtomicPtr<u8>) -> *mut Cell<V> {
        // SAFETY: caller: `slot` lies `offset_of!(link)` bytes into its `HeapCell`.
        unsafe {
            slot.byte_sub(std::mem::offset_of!(HeapCell<V>, link))
                .cast::<Cell<V>>()
                .cast_mut()
        }
    }

    /// Frees a heap cell: drops its value (a panic in `V::drop` is caught and handed to
    /// the reclamation's panic policy) and deallocates.
    ///
    /// # Safety
    /// - `cell` came from [`Cell::alloc`], and nobody can read it any more.
    pub(crate) unsafe fn free(cell: *mut Cell<V>) {
        let heap = cell.cast::<HeapCell<V>>();
        // SAFETY: caller: exclusive; the value is dropped once, here.
        crate::reclaim::catching(|| unsafe {
            ptr::drop_in_place(ptr::addr_of_mut!((*heap).cell.value))
        });
        // SAFETY: the value is gone; the rest has no drop glue but loom's atomics, which
        // `drop_in_place` of the word handles; then the box's memory goes back.
        unsafe {
            ptr::drop_in_place(ptr::addr_of_mut!((*heap).cell.deadline));
            std::alloc::dealloc(heap.cast(), std::alloc::Layout::new::<HeapCell<V>>());
        }
    }
}
