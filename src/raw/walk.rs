//! Walking every entry of the map, bucket by bucket (`iter`, `retain`, `clear`).
//!
//! Following the list from its head would visit every sentinel in split order, which is
//! a random order through the directory: one cache miss per bucket even where buckets
//! are empty (a map built with a large capacity hint). Instead a [`Walk`] takes the
//! buckets of a bucket-count snapshot in index order, which reads the directory
//! sequentially, and walks each bucket as the interval of split-order keys it covers,
//! as the sweep does (`expiry.rs`): from its sentinel, or from its nearest ready
//! ancestor while it has none, up to the interval's end. A pointer to another bucket's
//! sentinel ends a walk that started at its own bucket without a load ([`Start`]).
//!
//! The intervals of one bucket count partition the keys, so an entry that is in the map
//! for the whole walk is yielded exactly once, even if the table grows meanwhile; an
//! entry inserted or removed during the walk may or may not be (weak consistency, as
//! before: every node a walk visits was reachable at some moment during it).

use std::marker::PhantomData;

use super::node::{bucket_interval, untagged, Link, Node};
use super::{RawMap, Start};
use crate::reclaim::RawGuard;
use crate::sync::Ordering;

/// Every entry node of a map (with a cell or not), bucket by bucket; see the module docs.
pub(crate) struct Walk<'g, K, V> {
    map: &'g RawMap<K, V>,
    /// The bucket-count snapshot whose intervals the walk covers.
    size: usize,
    /// The next bucket to start.
    bucket: usize,
    /// The current bucket's start, `None` between buckets.
    start: Option<Start<'g>>,
    /// The raw `next` value to follow.
    cur: *mut Link,
    /// The current bucket's interval `[lo, hi)`; `hi` is `None` for the last one.
    lo: u64,
    hi: Option<u64>,
    _marker: PhantomData<&'g Node<K, V>>,
}

impl<K, V> RawMap<K, V> {
    /// A walk over every entry node; the guard keeps each yielded node alive.
    pub(crate) fn walk<'g, G: RawGuard>(&'g self, _guard: &'g G) -> Walk<'g, K, V> {
        Walk {
            map: self,
            // Relaxed: any bucket count partitions the keys; see the module docs.
            size: self.size.load(Ordering::Relaxed),
            bucket: 0,
            start: None,
            cur: std::ptr::null_mut(),
            lo: 0,
            hi: None,
            _marker: PhantomData,
        }
    }
}

impl<'g, K, V> Iterator for Walk<'g, K, V> {
    type Item = &'g Node<K, V>;

    fn next(&mut self) -> Option<&'g Node<K, V>> {
        loop {
            let Some(start) = self.start else {
                if self.bucket == self.size {
                    return None;
                }
                let b = self.bucket;
                self.bucket += 1;
                (self.lo, self.hi) = bucket_interval(b, self.size);
                let start = self.map.start_at(b, self.size);
                // Acquire: pairs with the Release CAS that linked the successor (`find`).
                self.cur = start.link.next.load(Ordering::Acquire);
                self.start = Some(start);
                continue;
            };
            let p = untagged(self.cur);
            if p.is_null() || start.ends_at(self.cur, &self.map.size) {
                self.start = None;
                continue;
            }
            // SAFETY: loaded under the walk's guard from an element reachable during the
            // walk; elements are freed only after every such guard is gone.
            let link = unsafe { &*p };
            if self.hi.is_some_and(|hi| link.so() >= hi) {
                self.start = None;
                continue;
            }
            // Acquire: as above. A marked `next` still leads forward (it is frozen).
            self.cur = link.next.load(Ordering::Acquire);
            if link.is_entry() && link.so() >= self.lo {
                // SAFETY: an entry's link starts a live `Node`.
                return Some(unsafe { Node::from_link(p) });
            }
        }
    }
}

/// Every entry node whose split-order key is greater than `after`, in list order (which
/// is split order): the walk of a resumable scan (`map/scan.rs`).
///
/// Entries never move in the list and their keys never change, so "the entries with a
/// key greater than `after`" is a fixed part of the list, whatever the bucket count or
/// directory (growth, `shrink_to_fit`) is when the walk starts. The walk starts at the
/// sentinel of the bucket whose interval holds `after + 1` (or its nearest ready
/// ancestor: every ancestor's key is smaller), skips the entries up to `after`, and then
/// follows the list to its end through every later bucket. As for [`Walk`], an entry
/// that is in the list for the whole walk is yielded once, and the keys it yields never
/// decrease (every `next`, marked or not, leads to a key at least as large).
pub(crate) struct ScanFrom<'g, K, V> {
    /// The raw `next` value to follow; null once the walk is over.
    cur: *mut Link,
    /// Only entries with a larger split-order key are yielded.
    after: u64,
    _marker: PhantomData<&'g Node<K, V>>,
}

impl<K, V> RawMap<K, V> {
    /// A walk over the entry nodes with split-order keys greater than `after`; the guard
    /// keeps each yielded node alive. Never writes (a bucket without a sentinel yet is
    /// entered from its nearest ready ancestor).
    pub(crate) fn scan_from<'g, G: RawGuard>(
        &'g self,
        after: u64,
        _guard: &'g G,
    ) -> ScanFrom<'g, K, V> {
        let cur = match after.checked_add(1) {
            // No key is greater than the largest one.
            None => std::ptr::null_mut(),
            Some(first) => {
                // Relaxed: any bucket count's intervals cover every key; see `walk`.
                let size = self.size.load(Ordering::Relaxed);
                // The bucket whose interval holds `first`: its index is the key's top bits,
                // reversed (as `so_entry` reverses a hash).
                let b = (first.reverse_bits() as usize) & (size - 1);
                let start = self.start_at(b, size);
                debug_assert!(start.link.so() <= first);
                // Acquire: pairs with the Release CAS that linked the successor (`find`).
                start.link.next.load(Ordering::Acquire)
            }
        };
        ScanFrom {
            cur,
            after,
            _marker: PhantomData,
        }
    }
}

impl<'g, K, V> Iterator for ScanFrom<'g, K, V> {
    type Item = &'g Node<K, V>;

    fn next(&mut self) -> Option<&'g Node<K, V>> {
        loop {
            let p = untagged(self.cur);
            if p.is_null() {
                return None;
            }
            // SAFETY: loaded under the walk's guard from an element reachable during the
            // walk; elements are freed only after every such guard is gone.
            let link = unsafe { &*p };
            // Acquire: as in `scan_from`. A marked `next` still leads forward (it is frozen).
            self.cur = link.next.load(Ordering::Acquire);
            if link.is_entry() && link.so() > self.after {
                // SAFETY: an entry's link starts a live `Node`.
                return Some(unsafe { Node::from_link(p) });
            }
        }
    }
}
