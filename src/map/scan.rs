//! The resumable scan: [`Cursor`], [`Scan`] and [`ScanPage`].
//!
//! # Why a cursor can be a `u64`
//! Every entry sits in one list sorted by its *split-order key* (its hash, bit-reversed,
//! with the low bit set), and neither growth nor `shrink_to_fit` ever moves an entry or
//! changes its key: they only add or rebuild the bucket sentinels between entries. So
//! "the entries after key `c`" names the same entries before and after any resize, and
//! a scan that yields entries in list order can be resumed from the key of the last entry
//! it yielded ([`RawMap::scan_from`](crate::raw) walks from there).
//!
//! # Runs of equal keys
//! Different keys may share a split-order key (their hashes agree in the low 63 bits:
//! with the default hasher practically never, with a poor or adversarial hasher often).
//! Such a *run* lies contiguously in the list, in no order a cursor could name, so a
//! cursor can only stand between runs. A scan therefore reads one entry ahead: it knows
//! whether the last entry it yielded ended its run. [`Scan::cursor`] inside a run points
//! before the run (its entries are yielded again on resumption: at least once, never
//! missed); [`Scan::page`] never ends inside a run, so resuming after a page is exact.
//!
//! # Guarantee
//! An entry live from the first call of a scan to the last is yielded exactly once across
//! resumptions from cursors taken between runs (after [`Scan::page`], or wherever
//! [`Scan::at_boundary`] holds), whatever growth or shrinking happens in between: the
//! cursor splits the key space in two, each scan yields every entry that stays live
//! through it in its part of the list, and no run is split between two scans. Entries
//! inserted or removed meanwhile may or may not be yielded; expired ones are skipped.

use std::fmt;
use std::marker::PhantomData;

use super::LocalGuard;
use crate::clock::Clock;
use crate::raw::{self, Now};

/// A position in a map's split order: where a [`Scan`] resumes.
///
/// A cursor is a plain `u64` ([`into_raw`](Cursor::into_raw),
/// [`from_raw`](Cursor::from_raw)), so it can cross a process or a wire, as Redis's
/// `SCAN` cursor does. It means "after the entries whose hash maps below this point", so
/// it is only meaningful for the map it came from (or one with the same hasher and seed);
/// any `u64` is a valid cursor, and a meaningless one only makes the scan start elsewhere.
///
/// # Examples
/// ```
/// use ttlmap::Cursor;
/// let map: ttlmap::HashMap<u32, u32> = (0..100).map(|i| (i, i)).collect();
/// let (mut cursor, mut seen) = (Cursor::START, 0);
/// while cursor != Cursor::END {
///     let m = map.pin();
///     let mut scan = m.iter_from(cursor);
///     seen += scan.page(10).count();
///     cursor = Cursor::from_raw(scan.cursor().into_raw()); // e.g. sent to a client and back
/// }
/// assert_eq!(seen, 100);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Cursor(u64);

impl Cursor {
    /// The start of a scan: before every entry.
    pub const START: Cursor = Cursor(0);

    /// The end of a scan, which [`Scan::cursor`] returns once no entry is left: a scan
    /// from here yields nothing.
    pub const END: Cursor = Cursor(u64::MAX);

    /// The cursor as a number (to store or send).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ttlmap::Cursor::START.into_raw(), 0);
    /// ```
    pub fn into_raw(self) -> u64 {
        self.0
    }

    /// The cursor [`into_raw`](Cursor::into_raw) returned this number for.
    ///
    /// # Examples
    /// ```
    /// use ttlmap::Cursor;
    /// assert_eq!(Cursor::from_raw(Cursor::END.into_raw()), Cursor::END);
    /// ```
    pub fn from_raw(raw: u64) -> Cursor {
        Cursor(raw)
    }
}

/// A resumable scan over the live entries of a map, in split order; from
/// [`HashMapRef::iter_from`](super::HashMapRef::iter_from) or
/// [`HashMap::iter_from`](super::HashMap::iter_from).
///
/// [`cursor`](Scan::cursor) tells where to resume; see the module-level guarantee in
/// [`Cursor`]'s docs and [`Scan::page`].
pub struct Scan<'g, K, V, G = LocalGuard<'g>> {
    raw: raw::ScanFrom<'g, K, V>,
    now: Now<'g>,
    visited: usize,
    /// The split-order key of the last entry yielded (at first: the start cursor).
    last: u64,
    /// The cursor before the run of `last`: where to resume while that run is unfinished.
    run_start: u64,
    /// The next live entry (node and current cell), read ahead; `None` once the walk
    /// is over.
    ahead: Option<(&'g raw::Node<K, V>, &'g raw::Cell<V>)>,
    _guard: PhantomData<&'g G>,
}

/// A long scan re-reads the clock after this many entries.
const CLOCK_REREAD: usize = 64;

impl<'g, K, V, G> Scan<'g, K, V, G> {
    pub(super) fn new(raw: raw::ScanFrom<'g, K, V>, clock: &'g Clock, from: Cursor) -> Self {
        let mut scan = Scan {
            raw,
            now: Now::new(clock),
            visited: 0,
            last: from.0,
            run_start: from.0,
            ahead: None,
            _guard: PhantomData,
        };
        scan.read_ahead();
        scan
    }

    /// Reads the next live entry into `ahead`.
    fn read_ahead(&mut self) {
        for node in self.raw.by_ref() {
            self.visited += 1;
            if self.visited % CLOCK_REREAD == 0 {
                self.now.refresh();
            }
            if let Some((cell, d)) = node.current() {
                if self.now.live(d) {
                    self.ahead = Some((node, cell));
                    return;
                }
            }
        }
        self.ahead = None;
    }

    /// Whether the next entry belongs to the run of the last one yielded (same
    /// split-order key): the cursor cannot stand here.
    #[inline]
    fn in_run(&self) -> bool {
        self.ahead.is_some_and(|(n, _)| n.link.so() == self.last)
    }

    /// Where to resume: right after the last entry yielded, at the start of the next
    /// run. [`Cursor::END`] once no entry is left.
    ///
    /// If the last entry yielded is inside a run of entries with the same split-order key
    /// (hashes equal in their low 63 bits), the cursor points *before* that run, so the
    /// run's entries already yielded are yielded again on resumption (never missed).
    /// [`page`](Scan::page) never stops inside a run; [`at_boundary`](Scan::at_boundary)
    /// tells whether the cursor is exact.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::from([(1, 'a'), (2, 'b'), (3, 'c')]);
    /// let m = map.pin();
    /// let mut scan = m.iter_from(ttlmap::Cursor::START);
    /// let first = scan.next().unwrap();
    /// let rest: Vec<_> = m.iter_from(scan.cursor()).collect();
    /// assert_eq!(rest.len(), 2);
    /// assert!(!rest.contains(&first));
    /// ```
    pub fn cursor(&self) -> Cursor {
        if self.ahead.is_none() {
            Cursor::END
        } else if self.in_run() {
            Cursor(self.run_start)
        } else {
            Cursor(self.last)
        }
    }

    /// Whether [`cursor`](Scan::cursor) resumes exactly after the last entry yielded:
    /// `false` only inside a run of entries with equal split-order keys.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::from([(1, 'a')]);
    /// let m = map.pin();
    /// let mut scan = m.iter_from(ttlmap::Cursor::START);
    /// scan.next();
    /// assert!(scan.at_boundary());
    /// ```
    pub fn at_boundary(&self) -> bool {
        !self.in_run()
    }

    /// The next page: at least `n` more entries (fewer only at the end), extended to the
    /// end of a run of equal split-order keys, so that [`cursor`](Scan::cursor) after it
    /// resumes exactly — as Redis's `SCAN` returns whole buckets.
    ///
    /// # Examples
    /// ```
    /// use ttlmap::Cursor;
    /// let map: ttlmap::HashMap<u32, ()> = (0..25).map(|i| (i, ())).collect();
    /// let m = map.pin();
    /// let mut scan = m.iter_from(Cursor::START);
    /// assert_eq!(scan.page(10).count(), 10);
    /// assert_eq!(scan.page(10).count(), 10);
    /// assert_eq!(scan.page(10).count(), 5);
    /// assert_eq!(scan.cursor(), Cursor::END);
    /// ```
    pub fn page(&mut self, n: usize) -> ScanPage<'_, 'g, K, V, G> {
        ScanPage {
            scan: self,
            left: n,
        }
    }
}

impl<'g, K, V, G> Iterator for Scan<'g, K, V, G> {
    type Item = (&'g K, &'g V);

    fn next(&mut self) -> Option<(&'g K, &'g V)> {
        let (node, cell) = self.ahead?;
        let so = node.link.so();
        if so != self.last {
            // Every live entry of the previous run was yielded: the next one is past it.
            self.run_start = self.last;
            self.last = so;
        }
        self.read_ahead();
        Some((&node.key, &cell.value))
    }
}

// SAFETY: as for `Iter` (`iter.rs`): the scan reads the list under the guard it borrows
// for `'g`, which stays pinned wherever the scan moves; it hands out `&K` and `&V`.
unsafe impl<K: Sync, V: Sync, G: Send> Send for Scan<'_, K, V, G> {}

impl<K, V, G> fmt::Debug for Scan<'_, K, V, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scan")
            .field("cursor", &self.cursor())
            .finish_non_exhaustive()
    }
}

/// A page of a [`Scan`]: see [`Scan::page`].
pub struct ScanPage<'s, 'g, K, V, G = LocalGuard<'g>> {
    scan: &'s mut Scan<'g, K, V, G>,
    left: usize,
}

impl<'g, K, V, G> Iterator for ScanPage<'_, 'g, K, V, G> {
    type Item = (&'g K, &'g V);

    fn next(&mut self) -> Option<(&'g K, &'g V)> {
        if self.left > 0 {
            self.left -= 1;
            self.scan.next()
        } else if self.scan.in_run() {
            self.scan.next()
        } else {
            None
        }
    }
}

impl<K, V, G> fmt::Debug for ScanPage<'_, '_, K, V, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanPage")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}
