//! The resumable scan (`iter_from`, `Cursor`): every entry live from the first call to
//! the last is yielded exactly once across resumptions, while the table grows, after
//! `shrink_to_fit`, and with runs of keys whose hashes are equal (a custom hasher).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use quickcheck::{quickcheck, TestResult};
use ttlmap::{Cursor, HashMap, ManualClock};

/// Hashes a `u64` key so that keys come in runs of `1 << shift` with one split-order key:
/// equal after `>> shift`, and (for odd keys) differing in the top bit, which the
/// split-order key drops. Runs are spread over the buckets by a multiplication.
#[derive(Clone, Copy, Default)]
struct Runs<const SHIFT: u32>;

struct RunHasher<const SHIFT: u32>(u64);

impl<const SHIFT: u32> BuildHasher for Runs<SHIFT> {
    type Hasher = RunHasher<SHIFT>;
    fn build_hasher(&self) -> RunHasher<SHIFT> {
        RunHasher(0)
    }
}

impl<const SHIFT: u32> Hasher for RunHasher<SHIFT> {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, k: u64) {
        self.0 = k;
    }
    fn finish(&self) -> u64 {
        let h = (self.0 >> SHIFT).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1;
        h | (self.0 & 1) << 63
    }
}

/// Scans the whole map a page at a time, running `between(page_index, map)` after each
/// page (with no handle alive), and returns every key yielded, with repeats.
fn scan_in_pages<S: BuildHasher>(
    map: &mut HashMap<u64, u64, S>,
    page: usize,
    mut between: impl FnMut(usize, &mut HashMap<u64, u64, S>),
) -> Vec<u64> {
    let (mut cursor, mut yielded, mut pages) = (Cursor::START, Vec::new(), 0);
    while cursor != Cursor::END {
        {
            let m = map.pin();
            let mut scan = m.iter_from(cursor);
            for (k, v) in scan.page(page) {
                assert_eq!(k, v, "a key came with another key's value");
                yielded.push(*k);
            }
            assert!(scan.at_boundary(), "a page ended inside a run");
            // The cursor crosses a "wire".
            cursor = Cursor::from_raw(scan.cursor().into_raw());
        }
        between(pages, map);
        pages += 1;
        assert!(pages < 100_000, "the scan does not end");
    }
    yielded
}

fn counts(keys: &[u64]) -> BTreeMap<u64, usize> {
    let mut c = BTreeMap::new();
    for k in keys {
        *c.entry(*k).or_default() += 1;
    }
    c
}

/// Growth between every page (the bucket count doubles several times), then removal of
/// everything added and `shrink_to_fit` (the directory is rebuilt smaller), then growth
/// again: the 2,000 original keys, in runs of 4 equal split-order keys, are each yielded
/// exactly once; keys added meanwhile at most once.
#[test]
fn exactly_once_across_growth_shrink_and_runs() {
    let mut map: HashMap<u64, u64, Runs<2>> = HashMap::with_hasher(Runs);
    let original: Vec<u64> = (0..2_000).collect();
    for &k in &original {
        map.pin().insert(k, k);
    }
    let buckets_before = map.bucket_count();
    let mut next = 1_000_000u64;
    let (mut max_buckets, mut after_shrink) = (0, None);
    let yielded = scan_in_pages(&mut map, 37, |page, map| {
        match page {
            // Grow: 400 new keys per page.
            0..=9 => {
                let m = map.pin();
                for _ in 0..400 {
                    m.insert(next, next);
                    next += 1;
                }
            }
            // Remove what was added and give the buckets back.
            10 => {
                map.pin().retain(|k, _| *k < 1_000_000);
                max_buckets = map.bucket_count();
                map.shrink_to_fit();
                after_shrink = Some(map.bucket_count());
            }
            // And grow again, more slowly.
            _ => {
                let m = map.pin();
                for _ in 0..50 {
                    m.insert(next, next);
                    next += 1;
                }
            }
        }
    });
    let after_shrink = after_shrink.expect("the scan ended before the shrink");
    assert!(max_buckets > buckets_before, "the table did not grow");
    assert!(after_shrink < max_buckets, "the table did not shrink");
    let counts = counts(&yielded);
    for k in &original {
        assert_eq!(
            counts.get(k),
            Some(&1),
            "original key {k} yielded {:?} times",
            counts.get(k)
        );
    }
    assert!(
        counts.values().all(|&n| n == 1),
        "a key added meanwhile was yielded twice"
    );
}

/// A map whose keys all share one hash: a single run of 300 entries, which a page must
/// take whole (a cursor cannot stand inside it).
#[test]
fn a_run_is_never_split_by_a_page() {
    let mut map: HashMap<u64, u64, Runs<20>> = HashMap::with_hasher(Runs);
    for k in (0..300).map(|k| k * 2) {
        map.pin().insert(k, k);
    }
    let yielded = scan_in_pages(&mut map, 7, |_, _| {});
    assert_eq!(yielded.len(), 300, "the run was split or repeated");
    assert_eq!(counts(&yielded).len(), 300);
}

/// A cursor taken inside a run points before it: resuming yields the whole run again
/// (at least once, never missed), and `at_boundary` says so.
#[test]
fn a_cursor_inside_a_run_repeats_the_run_rather_than_skip_it() {
    let map: HashMap<u64, u64, Runs<2>> = HashMap::with_hasher(Runs);
    for k in 0..4 {
        map.pin().insert(k, k); // one run of four
    }
    map.pin().insert(1 << 40, 1 << 40); // and one more entry elsewhere
    let m = map.pin();
    let mut scan = m.iter_from(Cursor::START);
    let mut first = Vec::new();
    while first.len() < 5 {
        let (k, _) = scan.next().unwrap();
        first.push(*k);
        if *k < 4 && first.iter().filter(|k| **k < 4).count() == 2 {
            break; // two of the run's four yielded
        }
    }
    assert!(!scan.at_boundary());
    let again: BTreeSet<u64> = m.iter_from(scan.cursor()).map(|(k, _)| *k).collect();
    assert!(
        (0..4).all(|k| again.contains(&k)),
        "entries of the run were skipped"
    );
}

/// Without runs (the default hasher), a cursor is exact after any entry: stopping after
/// every single entry still yields each key once.
#[test]
fn one_entry_per_resumption() {
    let map: HashMap<u64, u64> = (0..500).map(|k| (k, k)).collect();
    let (mut cursor, mut yielded) = (Cursor::START, Vec::new());
    loop {
        let m = map.pin();
        let mut scan = m.iter_from(cursor);
        let Some((k, _)) = scan.next() else { break };
        assert!(scan.at_boundary());
        yielded.push(*k);
        cursor = scan.cursor();
    }
    yielded.sort();
    assert_eq!(yielded, (0..500).collect::<Vec<_>>());
    assert_eq!(map.pin().iter_from(Cursor::END).count(), 0);
}

/// Expired entries are skipped, as by `iter`; a cursor past everything reports `END`.
#[test]
fn expired_entries_are_skipped() {
    let clock = ManualClock::new();
    let map = HashMap::builder().clock(clock.clone()).build();
    let m = map.pin();
    for k in 0u64..100 {
        if k % 2 == 0 {
            m.insert(k, k);
        } else {
            m.insert_with_ttl(k, k, Duration::from_secs(1));
        }
    }
    clock.advance(Duration::from_secs(1));
    let mut scan = m.iter_from(Cursor::START);
    let mut keys: Vec<u64> = scan.by_ref().map(|(k, _)| *k).collect();
    keys.sort();
    assert_eq!(keys, (0..100).step_by(2).collect::<Vec<_>>());
    assert_eq!(scan.cursor(), Cursor::END);
}

/// The guard-based form resumes the same way.
#[test]
fn guard_based_scan() {
    let map: HashMap<u64, u64> = (0..50).map(|k| (k, k)).collect();
    let guard = map.guard();
    let mut scan = map.iter_from(Cursor::START, &guard);
    let mut keys: Vec<u64> = scan.page(20).map(|(k, _)| *k).collect();
    keys.extend(map.iter_from(scan.cursor(), &guard).map(|(k, _)| *k));
    keys.sort();
    assert_eq!(keys, (0..50).collect::<Vec<_>>());
}

/// A step of the property below: a change of the map, or a page of the scan.
#[derive(Clone, Debug)]
enum Step {
    Insert(u16),
    Remove(u16),
    Page(u8),
    Grow(u8),
    Shrink,
}

impl quickcheck::Arbitrary for Step {
    fn arbitrary(g: &mut quickcheck::Gen) -> Step {
        match u8::arbitrary(g) % 10 {
            0..=2 => Step::Insert(u16::arbitrary(g) % 512),
            3..=4 => Step::Remove(u16::arbitrary(g) % 512),
            5..=7 => Step::Page(u8::arbitrary(g) % 16),
            8 => Step::Grow(u8::arbitrary(g)),
            _ => Step::Shrink,
        }
    }
}

quickcheck! {
    /// Any interleaving of inserts, removes, growth and shrinks with the pages of one
    /// scan (keys in runs of 8 with equal split-order keys): every key present from the
    /// start to the end and never removed is yielded exactly once; no key is yielded
    /// twice; every key yielded was in the map at some point of the scan.
    fn scan_yields_survivors_exactly_once(initial: Vec<u16>, steps: Vec<Step>) -> TestResult {
        let mut map: HashMap<u64, u64, Runs<3>> = HashMap::with_hasher(Runs);
        let mut present: BTreeSet<u64> = BTreeSet::new();
        for k in initial {
            let k = u64::from(k % 512);
            map.pin().insert(k, k);
            present.insert(k);
        }
        let mut survivors = present.clone();
        let mut ever = present.clone();
        let (mut cursor, mut yielded) = (Cursor::START, Vec::new());
        let mut steps = steps.into_iter();
        let mut grown = 10_000u64;
        while cursor != Cursor::END {
            match steps.next().unwrap_or(Step::Page(8)) {
                Step::Insert(k) => {
                    let k = u64::from(k);
                    map.pin().insert(k, k);
                    present.insert(k);
                    ever.insert(k);
                }
                Step::Remove(k) => {
                    let k = u64::from(k);
                    map.pin().remove(&k);
                    present.remove(&k);
                    survivors.remove(&k);
                }
                Step::Grow(n) => {
                    let m = map.pin();
                    for _ in 0..u64::from(n) * 4 {
                        m.insert(grown, grown);
                        ever.insert(grown);
                        grown += 1;
                    }
                }
                Step::Shrink => {
                    map.pin().retain(|k, _| *k < 10_000);
                    map.shrink_to_fit();
                }
                Step::Page(n) => {
                    let m = map.pin();
                    let mut scan = m.iter_from(cursor);
                    yielded.extend(scan.page(usize::from(n)).map(|(k, _)| *k));
                    cursor = scan.cursor();
                }
            }
        }
        let counts = counts(&yielded);
        for k in &survivors {
            if counts.get(k) != Some(&1) {
                return TestResult::error(format!("survivor {k} yielded {:?} times", counts.get(k)));
            }
        }
        if let Some((k, n)) = counts.iter().find(|(_, n)| **n > 1) {
            return TestResult::error(format!("key {k} yielded {n} times"));
        }
        if let Some(k) = counts.keys().find(|k| !ever.contains(k)) {
            return TestResult::error(format!("key {k} was never in the map"));
        }
        TestResult::passed()
    }
}
