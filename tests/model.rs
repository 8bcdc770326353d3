//! Model-based tests: random operation sequences are applied both to `ttlmap::HashMap`
//! (driven by a `ManualClock`) and to a `std::collections::HashMap` model that tracks
//! every entry's deadline, and every return value is compared. Most sequences use 12
//! keys, so that operations hit each other; the many-key ones use 4096, with bulk fills
//! and removals, so that growth through many directory segments, `shrink_to_fit` and the
//! sweep over thousands of buckets meet the model too.
//!
//! The model keeps entries that expired but were not yet unlinked by the map: `len()`
//! is only known to lie between the number of live entries and the number of entries
//! the model still holds, except right after `purge_expired` and `clear`, where it is
//! exact.

use std::collections::HashMap as StdMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quickcheck::{Arbitrary, Gen, QuickCheck};
use ttlmap::{Compute, Expiry, HashMap, ManualClock, Operation, RemovalCause};

/// The key type: wide enough for the many-key variant.
type Key = u16;

/// Keys are drawn from a small space so that operations hit each other.
const KEYS: Key = 12;
/// The key space of the many-key variant: up to 4096 buckets, 13 directory segments.
const MANY_KEYS: Key = 4096;

/// TTLs in milliseconds: mostly "round" values (so that clock advances land exactly on
/// deadlines), sometimes anything in 0..5000 ms; zero is common.
fn arb_ttl_ms(g: &mut Gen) -> u64 {
    if bool::arbitrary(g) {
        *g.choose(&[0u64, 0, 1, 500, 1000, 2000, 2500, 4999])
            .unwrap()
    } else {
        u64::arbitrary(g) % 5000
    }
}

fn arb_key(g: &mut Gen, keys: Key) -> Key {
    Key::arbitrary(g) % keys
}

fn arb_val(g: &mut Gen) -> u32 {
    u32::arbitrary(g) % 1000
}

/// What the closure given to `compute` does.
#[derive(Clone, Copy, Debug)]
enum ComputeKind {
    /// Present: insert `v`. Absent: insert `v`.
    Set(u32),
    /// Present: insert old + `d`. Absent: abort.
    AddOrAbort(u32),
    /// Present: remove. Absent: abort.
    RemoveOrAbort,
    /// Present: remove. Absent: insert `v`.
    RemoveOrInsert(u32),
    /// Present: abort. Absent: insert `v`.
    InsertIfAbsent(u32),
    /// Always abort.
    Abort,
}

/// An owned copy of a `Compute` result.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Inserted(Key, u32),
    /// Key, old value, new value.
    Updated(Key, u32, u32),
    Removed(Key, u32),
    Aborted(u8),
}

#[derive(Clone, Debug)]
enum Op {
    Insert(Key, u32),
    InsertWithTtl(Key, u32, u64),
    Get(Key),
    GetKeyValue(Key),
    ContainsKey(Key),
    Remove(Key),
    RemoveEntry(Key),
    /// Removes if the value is below the threshold.
    RemoveIf(Key, u32),
    TryInsert(Key, u32),
    GetOrInsert(Key, u32),
    GetOrInsertWith(Key, u32),
    /// Adds to the value.
    Update(Key, u32),
    /// Adds to the value, or inserts.
    UpdateOrInsert(Key, u32, u32),
    UpdateOrInsertWith(Key, u32, u32),
    Compute(Key, ComputeKind),
    Ttl(Key),
    SetTtl(Key, u64),
    Persist(Key),
    PurgeExpired,
    /// `HashMap::shrink_to_fit` (`&mut`, between handles).
    ShrinkToFit,
    /// Keeps values not divisible by the modulus.
    Retain(u32),
    Clear,
    /// Advances the clock by this many milliseconds.
    Advance(u64),
    /// Writes keys `from..from + n` (with this TTL in milliseconds, or the default).
    Fill(Key, Key, Option<u64>),
    /// Removes keys `from..from + n`.
    RemoveRange(Key, Key),
    Iter,
    Len,
}

impl Arbitrary for ComputeKind {
    fn arbitrary(g: &mut Gen) -> Self {
        match u8::arbitrary(g) % 6 {
            0 => ComputeKind::Set(arb_val(g)),
            1 => ComputeKind::AddOrAbort(arb_val(g)),
            2 => ComputeKind::RemoveOrAbort,
            3 => ComputeKind::RemoveOrInsert(arb_val(g)),
            4 => ComputeKind::InsertIfAbsent(arb_val(g)),
            _ => ComputeKind::Abort,
        }
    }
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        arb_op(g, KEYS)
    }
}

/// A random operation on keys `0..keys`.
fn arb_op(g: &mut Gen, keys: Key) -> Op {
    let k = arb_key(g, keys);
    match u8::arbitrary(g) % 26 {
        0 | 1 => Op::Insert(k, arb_val(g)),
        2..=4 => Op::InsertWithTtl(k, arb_val(g), arb_ttl_ms(g)),
        5 => Op::Get(k),
        6 => Op::GetKeyValue(k),
        7 => Op::ContainsKey(k),
        8 => Op::Remove(k),
        9 => Op::RemoveEntry(k),
        10 => Op::RemoveIf(k, arb_val(g)),
        11 => Op::TryInsert(k, arb_val(g)),
        12 => Op::GetOrInsert(k, arb_val(g)),
        13 => Op::GetOrInsertWith(k, arb_val(g)),
        14 => Op::Update(k, arb_val(g)),
        15 => Op::UpdateOrInsert(k, arb_val(g), arb_val(g)),
        16 => Op::UpdateOrInsertWith(k, arb_val(g), arb_val(g)),
        17 => Op::Compute(k, ComputeKind::arbitrary(g)),
        18 => Op::Ttl(k),
        19 => Op::SetTtl(k, arb_ttl_ms(g)),
        20 => Op::Persist(k),
        21 => Op::PurgeExpired,
        22 => {
            if u8::arbitrary(g) % 4 == 0 {
                Op::Clear
            } else {
                Op::Retain(u32::arbitrary(g) % 4 + 2)
            }
        }
        23 | 24 => Op::Advance(arb_ttl_ms(g)),
        _ => match u8::arbitrary(g) % 5 {
            0 => Op::ShrinkToFit,
            1 | 2 => Op::Iter,
            _ => Op::Len,
        },
    }
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The reference model: every entry the map may still hold, with its deadline in
/// nanoseconds on the manual clock (`None` = never expires).
struct Model {
    now: u64,
    default_ttl: Option<Duration>,
    entries: StdMap<Key, (u32, Option<u64>)>,
}

impl Model {
    fn new(default_ttl: Option<Duration>) -> Model {
        Model {
            now: 0,
            default_ttl,
            entries: StdMap::new(),
        }
    }

    fn deadline(&self, ttl: Option<Duration>) -> Option<u64> {
        ttl.map(|t| self.now + t.as_nanos() as u64)
    }

    fn is_live(&self, e: &(u32, Option<u64>)) -> bool {
        e.1.is_none_or(|d| self.now < d)
    }

    fn live(&self, k: Key) -> Option<u32> {
        self.entries
            .get(&k)
            .filter(|e| self.is_live(e))
            .map(|e| e.0)
    }

    fn live_count(&self) -> usize {
        self.entries.values().filter(|e| self.is_live(e)).count()
    }

    fn sorted_live(&self) -> Vec<(Key, u32)> {
        let mut v: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| self.is_live(e))
            .map(|(k, e)| (*k, e.0))
            .collect();
        v.sort_unstable();
        v
    }

    /// Writes `v` with a fresh deadline from `ttl`, returning the previous live value.
    fn put(&mut self, k: Key, v: u32, ttl: Option<Duration>) -> Option<u32> {
        let old = self.live(k);
        let d = self.deadline(ttl);
        self.entries.insert(k, (v, d));
        old
    }

    /// Replaces the live value of `k`, keeping its deadline.
    fn replace(&mut self, k: Key, v: u32) {
        self.entries.get_mut(&k).expect("live entry").0 = v;
    }

    fn remove_live(&mut self, k: Key) -> Option<u32> {
        let v = self.live(k)?;
        self.entries.remove(&k);
        Some(v)
    }
}

/// Asserts that two sorted entry lists are equal, naming only the differences (a map of
/// thousands of keys would print pages).
fn assert_same(got: &[(Key, u32)], want: &[(Key, u32)], ctx: &str) {
    if got != want {
        let missing: Vec<_> = want.iter().filter(|e| !got.contains(e)).collect();
        let extra: Vec<_> = got.iter().filter(|e| !want.contains(e)).collect();
        let dups = got.windows(2).filter(|w| w[0] == w[1]).count();
        panic!(
            "{ctx}: {} entries, {} expected; missing {missing:?}, unexpected {extra:?}, \
             {dups} duplicates",
            got.len(),
            want.len()
        );
    }
}

/// Applies `ops` to a fresh map and the model, checking every result.
fn run(ops: &[Op], default_ttl: Option<Duration>) {
    run_bounded(ops, default_ttl, None);
}

/// [`run`], on a map bounded to `cap` entries if `cap` is set: the listener reports each
/// eviction (`Size`), after which the model forgets the entry (it must hold that entry,
/// with that value, so each is reported once), and the bound holds after every
/// operation. Not for [`Op::Fill`], whose evictions may precede its own writes.
fn run_bounded(ops: &[Op], default_ttl: Option<Duration>, cap: Option<u64>) {
    let clock = ManualClock::new();
    let mut builder = HashMap::builder().clock(clock.clone());
    if let Some(t) = default_ttl {
        builder = builder.default_ttl(t);
    }
    let evicted: Arc<Mutex<Vec<(Key, u32)>>> = Arc::default();
    if let Some(cap) = cap {
        let log = evicted.clone();
        builder = builder
            .max_capacity(cap)
            .eviction_listener(move |k: &Key, v: &u32, cause| {
                if cause == RemovalCause::Size {
                    log.lock().unwrap().push((*k, *v));
                }
            });
    }
    let mut map: HashMap<Key, u32> = builder.build();
    let mut model = Model::new(default_ttl);
    let dttl = model.default_ttl;

    for (i, op) in ops.iter().enumerate() {
        let ctx = format!("op #{i}: {op:?} at t={}ns", model.now);
        if let Op::ShrinkToFit = op {
            // Nothing visible changes; `len` still counts unpurged expired entries.
            let len = map.len();
            map.shrink_to_fit();
            assert_eq!(map.len(), len, "{ctx}");
            assert!(
                map.bucket_count() <= len.max(2).next_power_of_two(),
                "{ctx}"
            );
            continue;
        }
        // A fresh pinned handle per operation, as a user would.
        let m = map.pin();
        match *op {
            Op::Insert(k, v) => {
                let want = model.put(k, v, dttl);
                assert_eq!(m.insert(k, v).copied(), want, "{ctx}");
            }
            Op::InsertWithTtl(k, v, t) => {
                let want = model.put(k, v, Some(ms(t)));
                assert_eq!(m.insert_with_ttl(k, v, ms(t)).copied(), want, "{ctx}");
            }
            Op::Get(k) => assert_eq!(m.get(&k).copied(), model.live(k), "{ctx}"),
            Op::GetKeyValue(k) => assert_eq!(
                m.get_key_value(&k).map(|(k, v)| (*k, *v)),
                model.live(k).map(|v| (k, v)),
                "{ctx}"
            ),
            Op::ContainsKey(k) => {
                assert_eq!(m.contains_key(&k), model.live(k).is_some(), "{ctx}")
            }
            Op::Remove(k) => {
                let want = model.remove_live(k);
                assert_eq!(m.remove(&k).copied(), want, "{ctx}");
            }
            Op::RemoveEntry(k) => {
                let want = model.remove_live(k).map(|v| (k, v));
                assert_eq!(m.remove_entry(&k).map(|(k, v)| (*k, *v)), want, "{ctx}");
            }
            Op::RemoveIf(k, below) => {
                let got = m
                    .remove_if(&k, |kk, v| {
                        assert_eq!(*kk, k, "{ctx}: predicate saw another key");
                        *v < below
                    })
                    .map(|o| o.map(|(k, v)| (*k, *v)))
                    .map_err(|(k, v)| (*k, *v));
                let want = match model.live(k) {
                    None => Ok(None),
                    Some(v) if v < below => {
                        model.entries.remove(&k);
                        Ok(Some((k, v)))
                    }
                    Some(v) => Err((k, v)),
                };
                assert_eq!(got, want, "{ctx}");
            }
            Op::TryInsert(k, v) => {
                let got = m
                    .try_insert(k, v)
                    .copied()
                    .map_err(|e| (*e.current, e.not_inserted));
                let want = match model.live(k) {
                    Some(cur) => Err((cur, v)),
                    None => {
                        model.put(k, v, dttl);
                        Ok(v)
                    }
                };
                assert_eq!(got, want, "{ctx}");
            }
            Op::GetOrInsert(k, v) => {
                let got = *m.get_or_insert(k, v);
                let want = model.live(k).unwrap_or_else(|| {
                    model.put(k, v, dttl);
                    v
                });
                assert_eq!(got, want, "{ctx}");
            }
            Op::GetOrInsertWith(k, v) => {
                let present = model.live(k).is_some();
                let mut calls = 0;
                let got = *m.get_or_insert_with(k, || {
                    calls += 1;
                    v
                });
                let want = model.live(k).unwrap_or_else(|| {
                    model.put(k, v, dttl);
                    v
                });
                assert_eq!(got, want, "{ctx}");
                assert_eq!(calls, usize::from(!present), "{ctx}: initialiser calls");
            }
            Op::Update(k, d) => {
                let got = m.update(k, |v| v + d).copied();
                let want = model.live(k).map(|v| v + d);
                if let Some(nv) = want {
                    model.replace(k, nv);
                }
                assert_eq!(got, want, "{ctx}");
            }
            Op::UpdateOrInsert(k, d, v) => {
                let got = *m.update_or_insert(k, |old| old + d, v);
                let want = match model.live(k) {
                    Some(old) => {
                        model.replace(k, old + d);
                        old + d
                    }
                    None => {
                        model.put(k, v, dttl);
                        v
                    }
                };
                assert_eq!(got, want, "{ctx}");
            }
            Op::UpdateOrInsertWith(k, d, v) => {
                let present = model.live(k).is_some();
                let mut calls = 0;
                let got = *m.update_or_insert_with(
                    k,
                    |old| old + d,
                    || {
                        calls += 1;
                        v
                    },
                );
                let want = match model.live(k) {
                    Some(old) => {
                        model.replace(k, old + d);
                        old + d
                    }
                    None => {
                        model.put(k, v, dttl);
                        v
                    }
                };
                assert_eq!(got, want, "{ctx}");
                assert_eq!(calls, usize::from(!present), "{ctx}: initialiser calls");
            }
            Op::Compute(k, kind) => {
                let got = m.compute(k, |e| {
                    if let Some((kk, _)) = e {
                        assert_eq!(*kk, k, "{ctx}: compute saw another key");
                    }
                    match (kind, e.map(|(_, v)| *v)) {
                        (ComputeKind::Set(v), _) => Operation::Insert(v),
                        (ComputeKind::AddOrAbort(d), Some(old)) => Operation::Insert(old + d),
                        (ComputeKind::AddOrAbort(_), None) => Operation::Abort(0u8),
                        (ComputeKind::RemoveOrAbort, Some(_)) => Operation::Remove,
                        (ComputeKind::RemoveOrAbort, None) => Operation::Abort(1),
                        (ComputeKind::RemoveOrInsert(_), Some(_)) => Operation::Remove,
                        (ComputeKind::RemoveOrInsert(v), None) => Operation::Insert(v),
                        (ComputeKind::InsertIfAbsent(_), Some(_)) => Operation::Abort(2),
                        (ComputeKind::InsertIfAbsent(v), None) => Operation::Insert(v),
                        (ComputeKind::Abort, _) => Operation::Abort(3),
                    }
                });
                let got = match got {
                    Compute::Inserted(k, v) => Out::Inserted(*k, *v),
                    Compute::Updated { old, new } => {
                        assert_eq!(old.0, new.0, "{ctx}: updated key changed");
                        Out::Updated(*old.0, *old.1, *new.1)
                    }
                    Compute::Removed(k, v) => Out::Removed(*k, *v),
                    Compute::Aborted(t) => Out::Aborted(t),
                };
                let old = model.live(k);
                let want = match (kind, old) {
                    (ComputeKind::Set(v), Some(o)) => {
                        model.replace(k, v);
                        Out::Updated(k, o, v)
                    }
                    (ComputeKind::Set(v), None)
                    | (ComputeKind::RemoveOrInsert(v), None)
                    | (ComputeKind::InsertIfAbsent(v), None) => {
                        model.put(k, v, dttl);
                        Out::Inserted(k, v)
                    }
                    (ComputeKind::AddOrAbort(d), Some(o)) => {
                        model.replace(k, o + d);
                        Out::Updated(k, o, o + d)
                    }
                    (ComputeKind::AddOrAbort(_), None) => Out::Aborted(0),
                    (ComputeKind::RemoveOrAbort, Some(o))
                    | (ComputeKind::RemoveOrInsert(_), Some(o)) => {
                        model.entries.remove(&k);
                        Out::Removed(k, o)
                    }
                    (ComputeKind::RemoveOrAbort, None) => Out::Aborted(1),
                    (ComputeKind::InsertIfAbsent(_), Some(_)) => Out::Aborted(2),
                    (ComputeKind::Abort, _) => Out::Aborted(3),
                };
                assert_eq!(got, want, "{ctx}");
            }
            Op::Ttl(k) => {
                let want =
                    model
                        .entries
                        .get(&k)
                        .filter(|e| model.is_live(e))
                        .map(|&(_, d)| match d {
                            None => Expiry::Never,
                            Some(d) => Expiry::In(Duration::from_nanos(d - model.now)),
                        });
                assert_eq!(m.ttl(&k), want, "{ctx}");
            }
            Op::SetTtl(k, t) => {
                let live = model.live(k).is_some();
                if live {
                    let d = model.deadline(Some(ms(t)));
                    model.entries.get_mut(&k).unwrap().1 = d;
                }
                assert_eq!(m.set_ttl(&k, ms(t)), live, "{ctx}");
            }
            Op::Persist(k) => {
                let live = model.live(k).is_some();
                if live {
                    model.entries.get_mut(&k).unwrap().1 = None;
                }
                assert_eq!(m.persist(&k), live, "{ctx}");
            }
            Op::ShrinkToFit => unreachable!("handled before pinning"),
            Op::PurgeExpired => {
                let before = m.len();
                let purged = m.purge_expired();
                let now = model.now;
                model.entries.retain(|_, e| e.1.is_none_or(|d| now < d));
                assert_eq!(m.len(), model.entries.len(), "{ctx}: len after purge");
                assert_eq!(
                    before - purged,
                    model.entries.len(),
                    "{ctx}: purge count (len before {before})"
                );
            }
            Op::Retain(modulus) => {
                let mut seen = Vec::new();
                m.retain(|k, v| {
                    seen.push((*k, *v));
                    v % modulus != 0
                });
                seen.sort_unstable();
                assert_same(&seen, &model.sorted_live(), &format!("{ctx}: retain saw"));
                let now = model.now;
                model
                    .entries
                    .retain(|_, e| e.1.is_some_and(|d| now >= d) || e.0 % modulus != 0);
            }
            Op::Clear => {
                m.clear();
                model.entries.clear();
                assert_eq!(m.len(), 0, "{ctx}");
                assert!(m.is_empty(), "{ctx}");
            }
            Op::Advance(t) => {
                clock.advance(ms(t));
                model.now += ms(t).as_nanos() as u64;
            }
            Op::Fill(from, n, ttl) => {
                for k in from..from.saturating_add(n) {
                    let ttl = ttl.map(ms);
                    let want = model.put(k, u32::from(k), ttl.or(dttl));
                    let got = match ttl {
                        Some(t) => m.insert_with_ttl(k, u32::from(k), t),
                        None => m.insert(k, u32::from(k)),
                    };
                    assert_eq!(got.copied(), want, "{ctx}: key {k}");
                }
            }
            Op::RemoveRange(from, n) => {
                for k in from..from.saturating_add(n) {
                    let want = model.remove_live(k);
                    assert_eq!(m.remove(&k).copied(), want, "{ctx}: key {k}");
                }
            }
            Op::Iter => {
                let mut got: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
                got.sort_unstable();
                let want = model.sorted_live();
                assert_same(&got, &want, &ctx);
                let mut keys: Vec<Key> = m.keys().copied().collect();
                keys.sort_unstable();
                assert_eq!(
                    keys,
                    want.iter().map(|e| e.0).collect::<Vec<_>>(),
                    "{ctx}: keys"
                );
                let mut vals: Vec<u32> = m.values().copied().collect();
                vals.sort_unstable();
                let mut want_vals: Vec<u32> = want.iter().map(|e| e.1).collect();
                want_vals.sort_unstable();
                assert_eq!(vals, want_vals, "{ctx}: values");
            }
            Op::Len => {}
        }
        // Evictions: the model forgets them; the bound holds.
        for (k, v) in std::mem::take(&mut *evicted.lock().unwrap()) {
            let held = model.entries.remove(&k).map(|e| e.0);
            assert_eq!(held, Some(v), "{ctx}: evicted {k} (value {v}) not held");
        }
        if let Some(cap) = cap {
            assert!(map.weighted_size() <= cap, "{ctx}: over the bound");
            assert!(m.len() <= cap as usize, "{ctx}: len over the bound");
        }
        // After every operation: live ≤ len ≤ entries the map may still hold.
        let len = m.len();
        assert!(
            model.live_count() <= len && len <= model.entries.len(),
            "{ctx}: len {len} outside [{}, {}]",
            model.live_count(),
            model.entries.len()
        );
        assert_eq!(map.len(), len, "{ctx}: HashMap::len vs HashMapRef::len");
    }

    // Finally: purging makes len exact, and the map agrees with the model.
    let m = map.pin();
    m.purge_expired();
    assert_eq!(m.len(), model.live_count(), "final len");
    let mut got: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
    got.sort_unstable();
    assert_same(&got, &model.sorted_live(), "final contents");
}

#[test]
fn random_ops_match_model_without_default_ttl() {
    fn prop(ops: Vec<Op>) -> bool {
        run(&ops, None);
        true
    }
    QuickCheck::new()
        .tests(2000)
        .quickcheck(prop as fn(Vec<Op>) -> bool);
}

/// A small capacity bound.
#[derive(Clone, Copy, Debug)]
struct Cap(u64);

impl Arbitrary for Cap {
    fn arbitrary(g: &mut Gen) -> Self {
        Cap(*g.choose(&[0u64, 1, 3, 8, 20]).unwrap())
    }
}

#[test]
fn random_ops_on_a_bounded_map_match_model_minus_reported_evictions() {
    fn prop(cap: Cap, ttl: Option<DefaultTtl>, ops: Vec<Op>) -> bool {
        run_bounded(&ops, ttl.map(|t| ms(t.0)), Some(cap.0));
        true
    }
    QuickCheck::new()
        .tests(2000)
        .quickcheck(prop as fn(Cap, Option<DefaultTtl>, Vec<Op>) -> bool);
}

/// A default TTL from the builder, applied to every write but `insert_with_ttl`.
#[derive(Clone, Copy, Debug)]
struct DefaultTtl(u64);

impl Arbitrary for DefaultTtl {
    fn arbitrary(g: &mut Gen) -> Self {
        DefaultTtl(*g.choose(&[0u64, 1, 700, 1000, 3000]).unwrap())
    }
}

#[test]
fn random_ops_match_model_with_default_ttl() {
    fn prop(ttl: DefaultTtl, ops: Vec<Op>) -> bool {
        run(&ops, Some(ms(ttl.0)));
        true
    }
    QuickCheck::new()
        .tests(2000)
        .quickcheck(prop as fn(DefaultTtl, Vec<Op>) -> bool);
}

/// Long sequences over a larger generator size, so that the table grows and the
/// incremental sweep runs through several cycles.
#[test]
fn long_random_sequences_match_model() {
    fn prop(ops: Vec<Op>) -> bool {
        run(&ops, None);
        true
    }
    QuickCheck::new()
        .tests(200)
        .rng(Gen::new(1000))
        .quickcheck(prop as fn(Vec<Op>) -> bool);
}

/// Operation sequences over [`MANY_KEYS`] keys: bulk fills (up to 2500 keys, with or
/// without TTLs) and bulk removals grow the table through many directory segments and
/// shrink it again (`shrink_to_fit` rebuilds it), and single operations on random keys
/// meet them, as do iteration, `retain`, purges and the incremental sweep.
#[derive(Clone, Debug)]
struct ManyKeys(Vec<Op>);

impl Arbitrary for ManyKeys {
    fn arbitrary(g: &mut Gen) -> Self {
        let len = usize::arbitrary(g) % g.size().max(1);
        let ops = (0..len)
            .map(|_| {
                let from = Key::arbitrary(g) % MANY_KEYS;
                match u8::arbitrary(g) % 20 {
                    0..=2 => {
                        let n = (Key::arbitrary(g) % 2500).min(MANY_KEYS - from);
                        let ttl = (u8::arbitrary(g) % 3 != 0).then(|| arb_ttl_ms(g));
                        Op::Fill(from, n, ttl)
                    }
                    3 => Op::RemoveRange(from, (Key::arbitrary(g) % 1500).min(MANY_KEYS - from)),
                    4 => Op::ShrinkToFit,
                    _ => arb_op(g, MANY_KEYS),
                }
            })
            .collect();
        ManyKeys(ops)
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        Box::new(self.0.shrink().map(ManyKeys))
    }
}

#[test]
fn random_ops_over_many_keys_match_model() {
    fn prop(ops: ManyKeys) -> bool {
        run(&ops.0, None);
        true
    }
    QuickCheck::new()
        .tests(MANY_KEY_TESTS)
        .rng(Gen::new(40))
        .quickcheck(prop as fn(ManyKeys) -> bool);
}

#[test]
fn random_ops_over_many_keys_match_model_with_default_ttl() {
    fn prop(ttl: DefaultTtl, ops: ManyKeys) -> bool {
        run(&ops.0, Some(ms(ttl.0)));
        true
    }
    QuickCheck::new()
        .tests(MANY_KEY_TESTS)
        .rng(Gen::new(40))
        .quickcheck(prop as fn(DefaultTtl, ManyKeys) -> bool);
}

/// Cases per many-key property: a few seconds for the whole file on a busy machine.
const MANY_KEY_TESTS: u64 = 300;

/// A few hand-written sequences that pin down the semantics the model encodes.
#[test]
fn model_semantics_spot_checks() {
    use Op::*;
    run(
        &[
            InsertWithTtl(1, 10, 1000),
            Advance(999),
            Get(1),
            Ttl(1),
            Advance(1),
            Get(1),
            Update(1, 1),
            SetTtl(1, 1000),
            Persist(1),
            TryInsert(1, 5),
            Ttl(1),
            PurgeExpired,
        ],
        None,
    );
    run(
        &[
            InsertWithTtl(2, 1, 0),
            Get(2),
            Len,
            Insert(2, 3),
            Get(2),
            Update(2, 1),
            Ttl(2),
            SetTtl(2, 0),
            Get(2),
            PurgeExpired,
            Iter,
        ],
        None,
    );
    run(
        &[
            Insert(3, 1),
            Update(3, 1),
            Advance(499),
            Ttl(3),
            Advance(1),
            Get(3),
            GetOrInsert(3, 9),
            Iter,
        ],
        Some(ms(500)),
    );
}
