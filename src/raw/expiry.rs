//! Reclaiming expired entries that nobody reads: the incremental sweep and the purge.
//!
//! A lookup treats an expired cell as absent but never writes, so without this module an
//! expired entry that is never touched again would stay in memory for good. Writers
//! therefore each sweep a bucket (`sweep_step`), in the order of a shared cursor, while
//! the clock is at or past the *sweep hint*, a lower bound on every deadline in the map;
//! `purge_expired` sweeps the whole list at once. Sweeping an entry means deciding its
//! removal with a freezing CAS that succeeds only on the expired deadline it read (so no
//! refresh can revive it, `cell.rs`), installing it, and unlinking the node.
//!
//! # The sweep hint, and switching sweeping off
//! A write that publishes a deadline *notes* it afterwards, lowering the hint. Nothing
//! ever needs to raise it, but a hint that only goes down makes every write of a map that
//! once held a deadline read the clock and sweep a bucket forever, even when no entry has
//! a deadline any more. So a *pass* — a full cycle over the buckets of one bucket count,
//! claimed by writers a bucket at a time next to their ordinary sweep, or a purge — that
//! finds no entry with a deadline raises the hint to "never" (a purge, which sees every
//! entry itself, raises it to the earliest deadline it met).
//!
//! The race is with writes during the pass: an entry published after the pass swept its
//! bucket is not seen. The hint word therefore carries the pass's id and a `DIRTY` bit:
//! starting a pass *arms* the word (sets its id, clears `DIRTY`), every note of a
//! deadline sets `DIRTY` (a read-modify-write whenever the word is clean), so does a pass
//! sweeper that meets a deadline, and the pass raises the hint only with a CAS that
//! expects its own id and a clean word. A note that finds the word already dirty and the
//! bound low enough writes nothing, which is safe only if the pass that armed it later
//! sees the published entry: the note issues a SeqCst fence between its publication and
//! its read of the hint, and the pass one between arming and sweeping, so either the
//! pass's sweep sees the entry or the note sees the armed word and dirties it (loom
//! models in `loom-tests/tests/sweep.rs`). A pass sweeper still running when the pass ends reports a
//! deadline it meets by lowering the hint again. The id (23 bits) keeps the raise of a
//! stalled old pass from succeeding on a newer pass's armed word; it would take 2^23
//! passes during one stall to repeat, and even then the worst outcome is an expired
//! entry swept late (when it is read, purged, or the next deadline is noted), never an
//! unsafe state.

use super::cell::live_at;
use super::node::{bucket_interval, is_marked, untagged, Node};
use super::{Now, RawMap, Start, MAX_SWEEP_BUCKETS_PER_WRITE};
use crate::clock::NEVER;
use crate::reclaim::RawGuard;
use crate::sync::{fence, AtomicU64, AtomicUsize, Ordering};

/// The hint's bound is `deadline >> UNIT_SHIFT` (units of ~16.8 ms, rounded down: a lower
/// bound stays one), in the word's top 40 bits.
const UNIT_SHIFT: u32 = 24;
/// The bound of a map with no deadline.
const NEVER_UNITS: u64 = (1 << 40) - 1;
/// Hint word: the armed pass's id, in bits 1..24.
const ID_SHIFT: u32 = 1;
const ID_MASK: u64 = ((1 << 23) - 1) << ID_SHIFT;
/// Hint word: set by any note or seen deadline since the last arming.
const DIRTY: u64 = 1;

/// Pass word: the pass id in the top 24 bits, the next bucket to claim below.
const PASS_ID_SHIFT: u32 = 40;
const PASS_BUCKETS: u64 = (1 << PASS_ID_SHIFT) - 1;
/// Pass word's bucket while a pass is being started: claims wait for it.
const STARTING: u64 = PASS_BUCKETS;

#[inline]
fn bound(word: u64) -> u64 {
    word >> UNIT_SHIFT
}

#[inline]
fn units(deadline: u64) -> u64 {
    if deadline == NEVER {
        NEVER_UNITS
    } else {
        deadline >> UNIT_SHIFT
    }
}

/// The sweep's shared state.
pub(crate) struct Sweep {
    /// Next bucket the incremental sweep looks at.
    cursor: AtomicUsize,
    /// The sweep hint (see the module docs): bound, armed pass id, `DIRTY`.
    hint: AtomicU64,
    /// The running pass: `id << 40 | next bucket`, 0 if none.
    pass: AtomicU64,
    /// The bucket count the running pass covers.
    pass_size: AtomicUsize,
    /// No pass starts before the cursor reaches this (one pass per cycle at most).
    pass_not_before: AtomicUsize,
    /// Source of pass ids.
    pass_ids: AtomicU64,
}

impl Sweep {
    pub(crate) fn new() -> Sweep {
        Sweep {
            cursor: AtomicUsize::new(0),
            hint: AtomicU64::new(NEVER_UNITS << UNIT_SHIFT | DIRTY),
            pass: AtomicU64::new(0),
            pass_size: AtomicUsize::new(0),
            pass_not_before: AtomicUsize::new(0),
            pass_ids: AtomicU64::new(0),
        }
    }

    /// Resets the cursors (the map was rebuilt under `&mut`).
    pub(crate) fn reset(&mut self) {
        // Relaxed: `&mut self`.
        self.cursor.store(0, Ordering::Relaxed);
        self.pass.store(0, Ordering::Relaxed);
        self.pass_not_before.store(0, Ordering::Relaxed);
        // Dirty: no pass is armed.
        self.hint.fetch_or(DIRTY, Ordering::Relaxed);
    }

    /// A fresh pass id (never 0).
    fn next_id(&self) -> u64 {
        // Relaxed: only distinctness matters.
        self.pass_ids.fetch_add(1, Ordering::Relaxed) % (ID_MASK >> ID_SHIFT) + 1
    }

    /// Arms the hint for pass `id`: its id, not dirty, the bound kept. Then a SeqCst
    /// fence, so that the sweeps that follow see every entry whose note read the hint
    /// before this (see the module docs).
    fn arm(&self, id: u64) {
        // Relaxed: the value to CAS against.
        let mut w = self.hint.load(Ordering::Relaxed);
        loop {
            let armed = (w & !(ID_MASK | DIRTY)) | id << ID_SHIFT;
            // AcqRel: synchronises with the notes before it (their publications happen
            // before our sweeps).
            match self
                .hint
                .compare_exchange_weak(w, armed, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => w = actual,
            }
        }
        // SeqCst: pairs with the fence in `note` (store-buffering between our arming and
        // our sweeps' reads of the list, and a note's publication and its read of the hint).
        fence(Ordering::SeqCst);
    }

    /// Ends pass `id`: raises the hint's bound to `units` if the word is still armed
    /// for `id` and clean (no deadline noted or seen since arming).
    fn raise(&self, id: u64, units: u64) {
        // Relaxed: the value to CAS against.
        let w = self.hint.load(Ordering::Relaxed);
        if w & (ID_MASK | DIRTY) == id << ID_SHIFT && units > bound(w) {
            // AcqRel: ordered with every note (all RMWs on the word, or readers past the
            // fence); a failure means a note came first.
            let _ = self.hint.compare_exchange(
                w,
                units << UNIT_SHIFT | id << ID_SHIFT,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// Records deadline `deadline` (units): lowers the bound and dirties the word. With
    /// `publishing`, the caller just published an entry with that deadline and the read
    /// of the hint must come after a SeqCst fence (see the module docs); a pass sweeper
    /// reporting what it saw needs none.
    fn lower(&self, units: u64, publishing: bool) {
        // Relaxed: the value to compare and CAS against.
        let mut w = self.hint.load(Ordering::Relaxed);
        if w & DIRTY != 0 && bound(w) <= units {
            if !publishing {
                return;
            }
            // SeqCst: pairs with the fence in `arm`.
            fence(Ordering::SeqCst);
            w = self.hint.load(Ordering::Relaxed);
            if w & DIRTY != 0 && bound(w) <= units {
                return;
            }
        }
        loop {
            let lowered = bound(w).min(units) << UNIT_SHIFT | (w & ID_MASK) | DIRTY;
            // AcqRel: Release orders our publication before an arming that reads this
            // (so that pass sees the entry); the CAS races arming and raising.
            match self
                .hint
                .compare_exchange_weak(w, lowered, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => w = actual,
            }
        }
    }
}

/// What sweeping a range found: entries it unlinked, entries it left (live, or deleted
/// by someone else meanwhile), and the earliest deadline of the live ones.
pub(crate) struct Swept {
    pub(crate) removed: usize,
    pub(crate) live: usize,
    pub(crate) earliest: u64,
}

impl<K, V> RawMap<K, V> {
    /// Records a deadline just published (a new entry, a replacement, a refresh).
    #[inline]
    pub(crate) fn note_deadline(&self, deadline: u64) {
        if deadline != NEVER {
            self.sweep.lower(units(deadline), true);
        }
    }

    /// Whether an entry may have expired at the clock reading of `now` (which is read
    /// only if some entry has a deadline).
    #[inline]
    pub(crate) fn may_have_expired(&self, now: &mut Now<'_>) -> bool {
        // Relaxed: a hint; a stale (higher) value only skips work a later write does.
        let b = bound(self.sweep.hint.load(Ordering::Relaxed));
        b != NEVER_UNITS && units(now.get()) >= b
    }

    /// The incremental sweep: a write's share of the work.
    #[inline]
    pub(crate) fn sweep_step<G: RawGuard>(&self, now: &mut Now<'_>, guard: &G) {
        // Until the clock reaches the hint there is nothing to reclaim; maps without
        // deadlines never even read the clock here.
        if self.may_have_expired(now) {
            self.sweep_buckets(now, guard);
            self.pass_step(now, guard);
        }
    }

    #[inline(never)]
    fn sweep_buckets<G: RawGuard>(&self, now: &mut Now<'_>, guard: &G) {
        // Relaxed: any bucket count gives a correct range; see `start`.
        let size = self.size.load(Ordering::Relaxed);
        for _ in 0..MAX_SWEEP_BUCKETS_PER_WRITE {
            // Relaxed: the cursor only spreads the work; its RMW gives each writer its
            // own bucket, and every bucket is visited once per `size` increments.
            let b = self.sweep.cursor.fetch_add(1, Ordering::Relaxed) & (size - 1);
            let swept = self.sweep_bucket(b, size, now, guard);
            // Go on while there is garbage about (or the bucket was empty, which was
            // cheap); stop at the first bucket of entries that are all live.
            if swept.removed == 0 && swept.live > 0 {
                break;
            }
        }
    }

    /// One bucket of the switch-off pass (starting one if none runs and a cycle passed
    /// since the last one).
    #[inline(never)]
    fn pass_step<G: RawGuard>(&self, now: &mut Now<'_>, guard: &G) {
        let sweep = &self.sweep;
        // Acquire: pairs with the Release store that publishes a pass (its size).
        let mut p = sweep.pass.load(Ordering::Acquire);
        if p == 0 {
            self.start_pass();
            return;
        }
        let (id, b, size) = loop {
            let id = p >> PASS_ID_SHIFT;
            let b = (p & PASS_BUCKETS) as usize;
            // Relaxed: published by the pass word we read with Acquire.
            let size = sweep.pass_size.load(Ordering::Relaxed);
            if id == 0 || b >= size {
                return; // none, starting, or every bucket claimed
            }
            // The claimer of the last bucket ends the pass for everyone.
            let next = if b + 1 == size { 0 } else { p + 1 };
            // AcqRel: claims are totally ordered; Acquire for the next attempt's size.
            match sweep
                .pass
                .compare_exchange(p, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break (id, b, size),
                Err(actual) => p = actual,
            }
        };
        let swept = self.sweep_bucket(b, size, now, guard);
        if swept.earliest != NEVER {
            // A deadline: this pass cannot switch sweeping off. Report it (a raise that
            // already happened is undone) and end the pass early.
            sweep.lower(units(swept.earliest), false);
            // AcqRel: as above; fails harmlessly if the pass moved on or ended.
            let mut p = sweep.pass.load(Ordering::Acquire);
            while p >> PASS_ID_SHIFT == id {
                match sweep
                    .pass
                    .compare_exchange(p, 0, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => break,
                    Err(actual) => p = actual,
                }
            }
        } else if b + 1 == size {
            sweep.raise(id, NEVER_UNITS);
        }
    }

    /// Starts a pass if none runs and the cursor went round once since the last one.
    #[cold]
    fn start_pass(&self) {
        let sweep = &self.sweep;
        // Relaxed: a rate limit.
        let cursor = sweep.cursor.load(Ordering::Relaxed);
        if cursor < sweep.pass_not_before.load(Ordering::Relaxed) {
            return;
        }
        let id = sweep.next_id();
        // Claim the start: no bucket can be claimed until the pass is armed.
        // AcqRel: orders us after the pass that ended (and its claims).
        if sweep
            .pass
            .compare_exchange(
                0,
                id << PASS_ID_SHIFT | STARTING,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return;
        }
        sweep.arm(id);
        // Relaxed: a stale count gives a correct pass (the intervals of any count
        // partition the keys).
        let size = self.size.load(Ordering::Relaxed);
        sweep.pass_size.store(size, Ordering::Relaxed);
        // Relaxed: a rate limit.
        sweep
            .pass_not_before
            .store(cursor.wrapping_add(size), Ordering::Relaxed);
        // Release: publishes `pass_size` to the claimers' Acquire loads of the pass word.
        sweep.pass.store(id << PASS_ID_SHIFT, Ordering::Release);
    }

    /// Sweeps bucket `b` of a table of `size` buckets.
    ///
    /// Bucket b's entries are exactly those with `so` in [lo, lo + span): sweep that
    /// interval, from b's sentinel or (if b is not initialised) from its nearest ready
    /// ancestor. Sweeping by key interval rather than by sentinel keeps the bound exact
    /// while other writes initialise buckets mid-cycle, and stays correct if `size` is
    /// stale (the intervals of any size partition the keys).
    pub(crate) fn sweep_bucket<G: RawGuard>(
        &self,
        b: usize,
        size: usize,
        now: &mut Now<'_>,
        guard: &G,
    ) -> Swept {
        let (lo, hi) = bucket_interval(b, size);
        self.sweep_range(self.start_at(b, size), lo, hi, now, guard)
    }

    /// Unlinks every entry that is expired at the clock reading of `now`, and raises the
    /// sweep hint to the earliest deadline left unless a deadline was published meanwhile.
    pub(crate) fn purge_expired<G: RawGuard>(&self, now: &mut Now<'_>, guard: &G) -> usize {
        let id = self.begin_purge();
        let swept = self.sweep_range(Start::unowned(self.dir.head()), 0, None, now, guard);
        self.end_purge(id, swept.earliest);
        swept.removed
    }

    /// Arms the sweep hint for a purge that is about to sweep every bucket; returns its
    /// pass id for [`RawMap::end_purge`].
    pub(crate) fn begin_purge(&self) -> u64 {
        let id = self.sweep.next_id();
        self.sweep.arm(id);
        id
    }

    /// Ends a purge that swept every bucket and saw `earliest` as the earliest deadline
    /// of the entries it left.
    pub(crate) fn end_purge(&self, id: u64, earliest: u64) {
        self.sweep.raise(id, units(earliest));
    }

    /// Sweeps the entries with `so` in `[lo, hi)` (to the end if `hi` is `None`),
    /// walking from `start`, which sorts at or before `lo` (and ends the walk at a
    /// sentinel without loading it when it is `lo`'s own bucket: see [`Start`]).
    fn sweep_range<G: RawGuard>(
        &self,
        start: Start<'_>,
        lo: u64,
        hi: Option<u64>,
        now: &mut Now<'_>,
        guard: &G,
    ) -> Swept {
        debug_assert!(start.link.so() <= lo);
        let mut swept = Swept {
            removed: 0,
            live: 0,
            earliest: NEVER,
        };
        // Where to restart after a failed unlink: the last sentinel passed (never marked).
        let mut anchor = start.link;
        'retry: loop {
            let mut prev = &anchor.next;
            // Acquire: see `find`. As there, `prev_val` is `prev`'s raw value.
            let mut prev_val = prev.load(Ordering::Acquire);
            loop {
                let cur = untagged(prev_val);
                if cur.is_null() || start.ends_at(prev_val, &self.size) {
                    return swept;
                }
                // SAFETY: loaded under `guard` from a reachable node; see `find`.
                let link = unsafe { &*cur };
                // Acquire: see `find`.
                let next = link.next.load(Ordering::Acquire);
                if is_marked(next) {
                    let Some(succ) = Self::unlink_marked(prev, prev_val, cur, next, guard) else {
                        continue 'retry;
                    };
                    prev_val = succ;
                    continue;
                }
                if hi.is_some_and(|hi| link.so() >= hi) {
                    return swept;
                }
                if !link.is_entry() {
                    anchor = link;
                } else if link.so() >= lo {
                    // SAFETY: an entry's link starts a live `Node`.
                    let node = unsafe { Node::<K, V>::from_link(cur) };
                    match self.reap(node, now, guard) {
                        Reaped::Removed => {
                            swept.removed += 1;
                            // `next` is marked now: go round again to unlink it.
                            continue;
                        }
                        Reaped::Live(d) => {
                            swept.live += 1;
                            swept.earliest = swept.earliest.min(d);
                        }
                        Reaped::Gone => swept.live += 1,
                    }
                }
                prev = &link.next;
                prev_val = next;
            }
        }
    }

    /// Deletes `node` if its current cell is expired: decides the removal with a CAS that
    /// only succeeds on the expired deadline, installs it and marks the node.
    fn reap<G: RawGuard>(&self, node: &Node<K, V>, now: &mut Now<'_>, guard: &G) -> Reaped {
        loop {
            let Some((cell, d)) = node.current() else {
                return Reaped::Gone;
            };
            if live_at(d, &mut || now.get()) {
                return Reaped::Live(d);
            }
            let old_weight = self.weight_to_freeze(node, cell);
            if cell.freeze(d, std::ptr::null_mut()).is_ok() {
                self.decided_removal(node, cell, old_weight, super::Cause::Expired);
                self.settle(node, guard);
                super::mark(&node.link);
                return Reaped::Removed;
            }
        }
    }
}

/// What [`RawMap::reap`] found.
enum Reaped {
    /// Expired: its removal is decided and installed, the node marked.
    Removed,
    /// Live, with this deadline.
    Live(u64),
    /// Deleted by someone else.
    Gone,
}
