//! `ops`: every public single-threaded operation of `ttlmap::HashMap<u16, u32>` on a
//! `ManualClock`, diffed against a `std::collections::HashMap<u16, (u32, deadline)>`.
//!
//! Semantics checked (from the crate docs): an entry is live iff `now < deadline`;
//! `deadline = now + ttl` (ZERO: expired at once; saturating to never); `update` and
//! `compute` replacements keep the deadline; inserts without a TTL get the default
//! TTL; `len()` counts entries not yet unlinked, so it is compared exactly only right
//! after `purge_expired()`/`clear()`, and otherwise must be `>=` the live count.

use std::collections::HashMap as StdMap;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use ttlmap::{Compute, Expiry, HashMap, ManualClock, Operation};

use crate::{
    advanced, deadline_after, expect_documented_panic, expect_panic, inject, InjectedPanic, Ttl,
    NEVER,
};

/// The [`InjectedPanic`] of a panicking user closure.
const CLOSURE: &str = "ops: user closure";
/// The documented panic of `compute` returning `Operation::Remove` for an absent key.
const REMOVE_ABSENT: &str = "Cannot remove `None` entry.";

type K = u16;
type V = u32;

#[derive(Arbitrary, Debug)]
struct Config {
    capacity: u8,
    default_ttl: Option<Ttl>,
    /// Start the clock here (tests deadlines near saturation).
    start: Option<Ttl>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ComputeAction {
    /// Present: insert `v + a`; absent: insert `a`.
    Add(V),
    /// Present: remove; absent: `Operation::Remove` (documented to panic, map unchanged).
    Remove,
    /// Present: remove; absent: abort.
    RemoveOrAbort(u8),
    /// Abort with this.
    Abort(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum PanicOp {
    GetOrInsertWith(u8),
    Update(u8),
    UpdateOrInsertWith(u8),
    UpdateOrInsertWithInit(u8),
    Compute(u8),
    RemoveIf(u8),
    /// `retain` whose predicate rejects by `bit` and panics on its `after`-th call.
    Retain {
        bit: u8,
        after: u8,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Insert(u8, V),
    InsertWithTtl(u8, V, Ttl),
    /// Bulk insert of `start..start+count` (grows the table).
    InsertRange {
        start: u8,
        count: u8,
        ttl: Option<Ttl>,
    },
    Get(u8),
    GetKeyValue(u8),
    ContainsKey(u8),
    Remove(u8),
    RemoveEntry(u8),
    /// Removes iff bit `bit` of the value is set.
    RemoveIf(u8, u8),
    TryInsert(u8, V),
    GetOrInsert(u8, V),
    GetOrInsertWith(u8, V),
    Update(u8, V),
    UpdateOrInsert(u8, V, V),
    UpdateOrInsertWith(u8, V, V),
    Compute(u8, ComputeAction),
    Ttl(u8),
    SetTtl(u8, Ttl),
    Persist(u8),
    PurgeExpired,
    /// Keeps the values whose bit `bit` is clear.
    Retain(u8),
    Clear,
    Iter,
    Keys,
    Values,
    Len,
    Advance(Ttl),
    /// Drops the pinned handle (and every reference borrowed from it) and pins again.
    Repin,
    /// `Clone` and `PartialEq` of the whole map.
    Clone,
    /// `Extend<(K, V)>` for `&HashMap`.
    Extend(u8, u8, V),
    /// A user closure/predicate panics.
    Panic(PanicOp),
}

struct Model {
    now: u64,
    default_deadline: Option<Duration>,
    entries: StdMap<K, (V, u64)>,
}

impl Model {
    fn live(&self, k: K) -> Option<V> {
        match self.entries.get(&k) {
            Some(&(v, d)) if self.now < d => Some(v),
            _ => None,
        }
    }
    fn live_entry(&self, k: K) -> Option<(V, u64)> {
        match self.entries.get(&k) {
            Some(&(v, d)) if self.now < d => Some((v, d)),
            _ => None,
        }
    }
    fn default_deadline(&self) -> u64 {
        match self.default_deadline {
            None => NEVER,
            Some(t) => deadline_after(self.now, t),
        }
    }
    /// Insert with the default TTL, returning the previous live value.
    fn insert(&mut self, k: K, v: V, deadline: u64) -> Option<V> {
        let prev = self.live(k);
        self.entries.insert(k, (v, deadline));
        prev
    }
    fn live_sorted(&self) -> Vec<(K, V)> {
        let mut all: Vec<(K, V)> = self
            .entries
            .iter()
            .filter(|(_, &(_, d))| self.now < d)
            .map(|(&k, &(v, _))| (k, v))
            .collect();
        all.sort_unstable();
        all
    }
    fn live_count(&self) -> usize {
        self.entries
            .values()
            .filter(|&&(_, d)| self.now < d)
            .count()
    }
    fn expiry(&self, k: K) -> Option<Expiry> {
        self.live_entry(k).map(|(_, d)| match d {
            NEVER => Expiry::Never,
            d => Expiry::In(Duration::from_nanos(d - self.now)),
        })
    }
}

/// A result of `compute`, owned, for comparison.
#[derive(Debug, PartialEq, Eq)]
enum Computed {
    Inserted(K, V),
    Updated { old: (K, V), new: (K, V) },
    Removed(K, V),
    Aborted(u8),
}

fn own(c: Compute<'_, K, V, u8>) -> Computed {
    match c {
        Compute::Inserted(k, v) => Computed::Inserted(*k, *v),
        Compute::Updated { old, new } => Computed::Updated {
            old: (*old.0, *old.1),
            new: (*new.0, *new.1),
        },
        Compute::Removed(k, v) => Computed::Removed(*k, *v),
        Compute::Aborted(t) => Computed::Aborted(t),
    }
}

const MAX_OPS: usize = 1024;
const MAX_REFS: usize = 256;

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(cfg) = Config::arbitrary(&mut u) else {
        return;
    };
    let clock = ManualClock::new();
    if let Some(t) = cfg.start {
        clock.advance(t.get());
    }
    let mut builder = HashMap::builder()
        .clock(clock.clone())
        .capacity(cfg.capacity as usize);
    if let Some(t) = cfg.default_ttl {
        builder = builder.default_ttl(t.get());
    }
    let map: HashMap<K, V> = builder.build();
    let mut model = Model {
        now: cfg.start.map_or(0, |t| advanced(0, t.get())),
        default_deadline: cfg.default_ttl.map(Ttl::get),
        entries: StdMap::new(),
    };
    assert_eq!(clock.elapsed(), Duration::from_nanos(model.now));

    let mut ops = 0;
    'pin: while !u.is_empty() && ops < MAX_OPS {
        let m = map.pin();
        // References handed out by `m`, with the value they must keep showing while `m`
        // is alive (values are immutable; the memory must not be reclaimed meanwhile).
        let mut refs: Vec<(&V, V)> = Vec::new();
        while !u.is_empty() && ops < MAX_OPS {
            let Ok(op) = Op::arbitrary(&mut u) else {
                break 'pin;
            };
            ops += 1;
            step(&map, &m, &clock, &mut model, &mut refs, op);
            if refs.len() > MAX_REFS {
                check_refs(&refs);
                refs.clear();
            }
            if matches!(op, Op::Repin) {
                check_refs(&refs);
                continue 'pin;
            }
        }
        check_refs(&refs);
        break;
    }

    // Final full comparison.
    let m = map.pin();
    let mut all: Vec<(K, V)> = m.iter().map(|(k, v)| (*k, *v)).collect();
    all.sort_unstable();
    assert_eq!(all, model.live_sorted(), "final contents");
    for (&k, _) in model.entries.iter() {
        assert_eq!(m.get(&k).copied(), model.live(k), "final get({k})");
        assert_eq!(m.ttl(&k), model.expiry(k), "final ttl({k})");
    }
    m.purge_expired();
    assert_eq!(m.len(), model.live_count(), "final len after purge");
}

fn check_refs(refs: &[(&V, V)]) {
    for (i, (r, v)) in refs.iter().enumerate() {
        assert_eq!(**r, *v, "reference #{i} changed while pinned");
    }
}

fn step<'g>(
    map: &HashMap<K, V>,
    m: &'g ttlmap::HashMapRef<'_, K, V, ttlmap::DefaultHashBuilder, ttlmap::LocalGuard<'_>>,
    clock: &ManualClock,
    model: &mut Model,
    refs: &mut Vec<(&'g V, V)>,
    op: Op,
) {
    let key = |k: u8| k as K;
    match op {
        Op::Insert(k, v) => {
            let k = key(k);
            let got = m.insert(k, v);
            let d = model.default_deadline();
            let want = model.insert(k, v, d);
            assert_eq!(got.copied(), want, "insert({k}, {v})");
            refs.extend(got.map(|r| (r, *r)));
        }
        Op::InsertWithTtl(k, v, t) => {
            let k = key(k);
            let got = m.insert_with_ttl(k, v, t.get());
            let d = deadline_after(model.now, t.get());
            let want = model.insert(k, v, d);
            assert_eq!(got.copied(), want, "insert_with_ttl({k}, {v}, {t:?})");
        }
        Op::InsertRange { start, count, ttl } => {
            for i in 0..(count % 64) as K {
                let k = start as K + i;
                let v = 0x8000_0000 | k as V;
                let (got, d) = match ttl {
                    None => (m.insert(k, v), model.default_deadline()),
                    Some(t) => (
                        m.insert_with_ttl(k, v, t.get()),
                        deadline_after(model.now, t.get()),
                    ),
                };
                let want = model.insert(k, v, d);
                assert_eq!(got.copied(), want, "range insert({k})");
            }
        }
        Op::Get(k) => {
            let k = key(k);
            let got = m.get(&k);
            assert_eq!(got.copied(), model.live(k), "get({k})");
            refs.extend(got.map(|r| (r, *r)));
        }
        Op::GetKeyValue(k) => {
            let k = key(k);
            let got = m.get_key_value(&k);
            assert_eq!(
                got.map(|(a, b)| (*a, *b)),
                model.live(k).map(|v| (k, v)),
                "get_key_value({k})"
            );
        }
        Op::ContainsKey(k) => {
            let k = key(k);
            assert_eq!(
                m.contains_key(&k),
                model.live(k).is_some(),
                "contains_key({k})"
            );
        }
        Op::Remove(k) => {
            let k = key(k);
            let got = m.remove(&k);
            let want = model.live(k);
            if want.is_some() {
                // An expired entry is absent: `remove` need not unlink it (a sweep will).
                model.entries.remove(&k);
            }
            assert_eq!(got.copied(), want, "remove({k})");
            // A removed value stays readable while the handle is pinned.
            refs.extend(got.map(|r| (r, *r)));
        }
        Op::RemoveEntry(k) => {
            let k = key(k);
            let got = m.remove_entry(&k);
            let want = model.live(k);
            if want.is_some() {
                model.entries.remove(&k);
            }
            assert_eq!(
                got.map(|(a, b)| (*a, *b)),
                want.map(|v| (k, v)),
                "remove_entry({k})"
            );
        }
        Op::RemoveIf(k, bit) => {
            let k = key(k);
            let pred = |v: &V| (v >> (bit % 32)) & 1 == 1;
            let mut calls = 0;
            let got = m.remove_if(&k, |kk, v| {
                calls += 1;
                assert_eq!(*kk, k);
                pred(v)
            });
            let got = match got {
                Ok(o) => Ok(o.map(|(a, b)| (*a, *b))),
                Err((a, b)) => Err((*a, *b)),
            };
            let want = match model.live(k) {
                None => Ok(None),
                Some(v) if pred(&v) => {
                    model.entries.remove(&k);
                    Ok(Some((k, v)))
                }
                Some(v) => Err((k, v)),
            };
            assert_eq!(got, want, "remove_if({k}, bit {bit})");
            let expected_calls = usize::from(want != Ok(None));
            assert_eq!(
                calls, expected_calls,
                "remove_if({k}) predicate calls single-threaded"
            );
        }
        Op::TryInsert(k, v) => {
            let k = key(k);
            let got = m.try_insert(k, v);
            let got = match got {
                Ok(r) => Ok(*r),
                Err(e) => Err((*e.current, e.not_inserted)),
            };
            let want = match model.live(k) {
                Some(cur) => Err((cur, v)),
                None => {
                    let d = model.default_deadline();
                    model.insert(k, v, d);
                    Ok(v)
                }
            };
            assert_eq!(got, want, "try_insert({k}, {v})");
        }
        Op::GetOrInsert(k, v) => {
            let k = key(k);
            let got = *m.get_or_insert(k, v);
            let want = match model.live(k) {
                Some(cur) => cur,
                None => {
                    let d = model.default_deadline();
                    model.insert(k, v, d);
                    v
                }
            };
            assert_eq!(got, want, "get_or_insert({k}, {v})");
        }
        Op::GetOrInsertWith(k, v) => {
            let k = key(k);
            let mut calls = 0;
            let got = *m.get_or_insert_with(k, || {
                calls += 1;
                v
            });
            let want = match model.live(k) {
                Some(cur) => {
                    assert_eq!(calls, 0, "get_or_insert_with({k}) ran f on an occupied key");
                    cur
                }
                None => {
                    assert_eq!(calls, 1, "get_or_insert_with({k}) on a vacant key");
                    let d = model.default_deadline();
                    model.insert(k, v, d);
                    v
                }
            };
            assert_eq!(got, want, "get_or_insert_with({k}, {v})");
        }
        Op::Update(k, a) => {
            let k = key(k);
            let got = m.update(k, |v| v.wrapping_add(a));
            let want = model.live_entry(k).map(|(v, d)| {
                let n = v.wrapping_add(a);
                model.entries.insert(k, (n, d)); // keeps the deadline
                n
            });
            assert_eq!(got.copied(), want, "update({k}, +{a})");
            refs.extend(got.map(|r| (r, *r)));
        }
        Op::UpdateOrInsert(k, a, v) => {
            let k = key(k);
            let got = *m.update_or_insert(k, |x| x.wrapping_add(a), v);
            let want = match model.live_entry(k) {
                Some((x, d)) => {
                    model.entries.insert(k, (x.wrapping_add(a), d));
                    x.wrapping_add(a)
                }
                None => {
                    let d = model.default_deadline();
                    model.insert(k, v, d);
                    v
                }
            };
            assert_eq!(got, want, "update_or_insert({k}, +{a}, {v})");
        }
        Op::UpdateOrInsertWith(k, a, v) => {
            let k = key(k);
            let mut calls = 0;
            let got = *m.update_or_insert_with(
                k,
                |x| x.wrapping_add(a),
                || {
                    calls += 1;
                    v
                },
            );
            let want = match model.live_entry(k) {
                Some((x, d)) => {
                    assert_eq!(
                        calls, 0,
                        "update_or_insert_with({k}) ran init on a live key"
                    );
                    model.entries.insert(k, (x.wrapping_add(a), d));
                    x.wrapping_add(a)
                }
                None => {
                    assert_eq!(calls, 1, "update_or_insert_with({k}) init calls");
                    let d = model.default_deadline();
                    model.insert(k, v, d);
                    v
                }
            };
            assert_eq!(got, want, "update_or_insert_with({k}, +{a}, {v})");
        }
        Op::Compute(k, action) => {
            let k = key(k);
            let mut calls = 0;
            let f = |e: Option<(&K, &V)>| {
                calls += 1;
                match (action, e) {
                    (ComputeAction::Add(a), Some((_, v))) => Operation::Insert(v.wrapping_add(a)),
                    (ComputeAction::Add(a), None) => Operation::Insert(a),
                    (ComputeAction::Remove, _) => Operation::Remove,
                    (ComputeAction::RemoveOrAbort(_), Some(_)) => Operation::Remove,
                    (ComputeAction::RemoveOrAbort(t), None) => Operation::Abort(t),
                    (ComputeAction::Abort(t), _) => Operation::Abort(t),
                }
            };
            let live = model.live_entry(k);
            if matches!(action, ComputeAction::Remove) && live.is_none() {
                // Documented: panics ("Cannot remove `None` entry."), map unchanged.
                let r = expect_documented_panic(REMOVE_ABSENT, || own(m.compute(k, f)));
                assert!(
                    r.is_none(),
                    "compute({k}) Remove on an absent key did not panic: {r:?}"
                );
                return;
            }
            let got = own(m.compute(k, f));
            assert_eq!(calls, 1, "compute({k}) closure calls single-threaded");
            let want = match (action, live) {
                (ComputeAction::Add(a), Some((v, d))) => {
                    model.entries.insert(k, (v.wrapping_add(a), d));
                    Computed::Updated {
                        old: (k, v),
                        new: (k, v.wrapping_add(a)),
                    }
                }
                (ComputeAction::Add(a), None) => {
                    let d = model.default_deadline();
                    model.insert(k, a, d);
                    Computed::Inserted(k, a)
                }
                (ComputeAction::Remove | ComputeAction::RemoveOrAbort(_), Some((v, _))) => {
                    model.entries.remove(&k);
                    Computed::Removed(k, v)
                }
                (ComputeAction::RemoveOrAbort(t) | ComputeAction::Abort(t), _) => {
                    Computed::Aborted(t)
                }
                (ComputeAction::Remove, None) => unreachable!(),
            };
            assert_eq!(got, want, "compute({k}, {action:?})");
        }
        Op::Ttl(k) => {
            let k = key(k);
            assert_eq!(m.ttl(&k), model.expiry(k), "ttl({k}) at {}", model.now);
        }
        Op::SetTtl(k, t) => {
            let k = key(k);
            let got = m.set_ttl(&k, t.get());
            let want = match model.live_entry(k) {
                Some((v, _)) => {
                    model
                        .entries
                        .insert(k, (v, deadline_after(model.now, t.get())));
                    true
                }
                None => false,
            };
            assert_eq!(got, want, "set_ttl({k}, {t:?})");
        }
        Op::Persist(k) => {
            let k = key(k);
            let got = m.persist(&k);
            let want = match model.live_entry(k) {
                Some((v, _)) => {
                    model.entries.insert(k, (v, NEVER));
                    true
                }
                None => false,
            };
            assert_eq!(got, want, "persist({k})");
        }
        Op::PurgeExpired => {
            let before = m.len();
            let expired_in_model = model.entries.len() - model.live_count();
            let purged = m.purge_expired();
            let after = m.len();
            assert_eq!(after, model.live_count(), "len after purge_expired");
            assert_eq!(before - purged, after, "purge_expired count vs len");
            assert!(
                purged <= expired_in_model,
                "purged {purged} > expired {expired_in_model}"
            );
            let now = model.now;
            model.entries.retain(|_, &mut (_, d)| now < d);
        }
        Op::Retain(bit) => {
            let keep = |v: &V| (v >> (bit % 32)) & 1 == 0;
            let mut seen = Vec::new();
            m.retain(|k, v| {
                seen.push((*k, *v));
                keep(v)
            });
            seen.sort_unstable();
            assert_eq!(seen, model.live_sorted(), "retain saw");
            let now = model.now;
            model.entries.retain(|_, &mut (v, d)| now >= d || keep(&v));
        }
        Op::Clear => {
            m.clear();
            model.entries.clear();
            assert_eq!(m.len(), 0, "len after clear");
            assert!(m.is_empty());
            assert_eq!(m.iter().count(), 0);
        }
        Op::Iter => {
            let mut all: Vec<(K, V)> = m.iter().map(|(k, v)| (*k, *v)).collect();
            all.sort_unstable();
            assert_eq!(all, model.live_sorted(), "iter");
            if let Some((_, v)) = m.iter().next() {
                refs.push((v, *v));
            }
        }
        Op::Keys => {
            let mut ks: Vec<K> = m.keys().copied().collect();
            ks.sort_unstable();
            let want: Vec<K> = model.live_sorted().into_iter().map(|(k, _)| k).collect();
            assert_eq!(ks, want, "keys");
        }
        Op::Values => {
            let mut vs: Vec<V> = m.values().copied().collect();
            vs.sort_unstable();
            let mut want: Vec<V> = model.live_sorted().into_iter().map(|(_, v)| v).collect();
            want.sort_unstable();
            assert_eq!(vs, want, "values");
        }
        Op::Len => {
            let len = m.len();
            assert_eq!(len, map.len());
            assert_eq!(m.is_empty(), len == 0);
            assert!(
                model.live_count() <= len,
                "len {len} < live {}",
                model.live_count()
            );
            assert!(
                len <= model.entries.len(),
                "len {len} > entries ever linked {}",
                model.entries.len()
            );
        }
        Op::Advance(t) => {
            clock.advance(t.get());
            model.now = advanced(model.now, t.get());
            assert_eq!(clock.elapsed(), Duration::from_nanos(model.now));
        }
        Op::Repin => {}
        Op::Clone => {
            let copy = map.clone();
            {
                let c = copy.pin();
                let mut all: Vec<(K, V)> = c.iter().map(|(k, v)| (*k, *v)).collect();
                all.sort_unstable();
                assert_eq!(all, model.live_sorted(), "clone contents");
                for (k, _) in model.live_sorted() {
                    assert_eq!(c.ttl(&k), model.expiry(k), "clone ttl({k})");
                }
                c.purge_expired();
                assert_eq!(c.len(), model.live_count(), "clone len after purge");
            }
            assert!(copy == *map, "clone != original");
        }
        Op::Extend(start, count, v) => {
            let items: Vec<(K, V)> = (0..count % 32)
                .map(|i| (start.wrapping_add(i) as K, v.wrapping_add(i as V)))
                .collect();
            let mut r = map;
            r.extend(items.iter().copied());
            for (k, v) in items {
                let d = model.default_deadline();
                model.insert(k, v, d);
            }
        }
        Op::Panic(p) => {
            // The closure panics: the map must be unchanged (retain: partially applied).
            let r = match p {
                PanicOp::GetOrInsertWith(k) => {
                    let k = key(k);
                    if model.live(k).is_some() {
                        // f is not called on a live key: an ordinary lookup.
                        assert_eq!(
                            Some(*m.get_or_insert_with(k, || panic!("f called on a live key"))),
                            model.live(k)
                        );
                        return;
                    }
                    expect_panic(|| {
                        m.get_or_insert_with(k, || inject(CLOSURE));
                    })
                }
                PanicOp::Update(k) => {
                    let k = key(k);
                    if model.live(k).is_none() {
                        assert_eq!(m.update(k, |_| panic!("f called on an absent key")), None);
                        return;
                    }
                    expect_panic(|| {
                        m.update(k, |_| inject(CLOSURE));
                    })
                }
                PanicOp::UpdateOrInsertWith(k) => {
                    let k = key(k);
                    if model.live(k).is_none() {
                        return;
                    }
                    expect_panic(|| {
                        m.update_or_insert_with(k, |_| inject(CLOSURE), || 0);
                    })
                }
                PanicOp::UpdateOrInsertWithInit(k) => {
                    let k = key(k);
                    if model.live(k).is_some() {
                        return;
                    }
                    expect_panic(|| {
                        m.update_or_insert_with(k, |v| *v, || inject(CLOSURE));
                    })
                }
                PanicOp::Compute(k) => {
                    let k = key(k);
                    expect_panic(|| {
                        m.compute(k, |_| -> Operation<V, ()> { inject(CLOSURE) });
                    })
                }
                PanicOp::RemoveIf(k) => {
                    let k = key(k);
                    if model.live(k).is_none() {
                        assert_eq!(
                            m.remove_if(&k, |_, _| panic!("f called on an absent key")),
                            Ok(None)
                        );
                        return;
                    }
                    expect_panic(|| {
                        let _ = m.remove_if(&k, |_, _| inject(CLOSURE));
                    })
                }
                PanicOp::Retain { bit, after } => {
                    let keep = |v: &V| (v >> (bit % 32)) & 1 == 0;
                    let mut seen: Vec<(K, V)> = Vec::new();
                    let r = expect_panic(|| {
                        m.retain(|k, v| {
                            if seen.len() == after as usize {
                                inject(CLOSURE);
                            }
                            seen.push((*k, *v));
                            keep(v)
                        })
                    });
                    let live = model.live_sorted();
                    let want = if live.len() > after as usize {
                        Err(InjectedPanic(CLOSURE))
                    } else {
                        Ok(())
                    };
                    assert_eq!(r, want, "retain panic");
                    for (k, v) in seen {
                        assert_eq!(model.live(k), Some(v), "retain showed ({k}, {v})");
                        if !keep(&v) {
                            model.entries.remove(&k);
                        }
                    }
                    return;
                }
            };
            assert_eq!(
                r,
                Err(InjectedPanic(CLOSURE)),
                "{p:?}: the closure did not panic"
            );
            // Map unchanged: check the key space touched.
            let mut all: Vec<(K, V)> = m.iter().map(|(k, v)| (*k, *v)).collect();
            all.sort_unstable();
            assert_eq!(all, model.live_sorted(), "after panic in {p:?}");
        }
    }
}
