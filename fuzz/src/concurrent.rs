//! `concurrent`: 2–3 threads run fuzzer-chosen operation sequences on one shared map.
//!
//! The interleaving is up to the OS, so only interleaving-independent invariants are
//! checked:
//! - every value read (get, remove, insert's previous value, compute, iteration, retain,
//!   a clone of the map) belongs to the key it was read under and was written by an
//!   operation of some thread that writes that key;
//! - references handed out by a pinned handle stay valid (and unchanged) while it lives
//!   (values own a `Box`, so a premature free is an ASan use-after-free);
//! - in quiescence, after `purge_expired()`, `len()` equals `iter().count()`, keys are
//!   unique and `get` agrees with iteration;
//! - after the map is dropped, every value ever created was dropped exactly once
//!   (creation/drop counters; a double drop is also an ASan double free).
//!
//! Failures here may not reproduce deterministically (thread scheduling).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use ttlmap::{Compute, HashMap, ManualClock, Operation};

const KEYS: u8 = 8;
const MAX_OPS_PER_THREAD: usize = 96;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum COp {
    Insert(u8),
    InsertTtl(u8, u8),
    Get(u8),
    Remove(u8),
    RemoveIf(u8, u8),
    TryInsert(u8),
    GetOrInsertWith(u8),
    Update(u8),
    UpdateOrInsert(u8),
    Compute(u8, u8),
    SetTtl(u8, u8),
    Persist(u8),
    PurgeExpired,
    Retain(u8),
    Iter,
    Clear,
    Advance(u8),
    Repin,
    CloneMap,
    Spin(u8),
}

impl COp {
    /// The key this operation may write a value of its own to.
    fn writes(self) -> Option<u8> {
        match self {
            COp::Insert(k)
            | COp::InsertTtl(k, _)
            | COp::TryInsert(k)
            | COp::GetOrInsertWith(k)
            | COp::Update(k)
            | COp::UpdateOrInsert(k)
            | COp::Compute(k, _) => Some(k % KEYS),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Counters {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

#[derive(Debug, PartialEq, Eq)]
struct Tag {
    thread: u8,
    seq: u16,
    key: u8,
}

/// A value that knows who wrote it, owns heap memory and counts its lifecycle.
struct Val<'c> {
    tag: Box<Tag>,
    counters: &'c Counters,
}

impl<'c> Val<'c> {
    fn new(counters: &'c Counters, thread: u8, seq: u16, key: u8) -> Val<'c> {
        counters.created.fetch_add(1, Ordering::Relaxed);
        Val {
            tag: Box::new(Tag { thread, seq, key }),
            counters,
        }
    }
}

impl Clone for Val<'_> {
    fn clone(&self) -> Self {
        Val::new(self.counters, self.tag.thread, self.tag.seq, self.tag.key)
    }
}

impl Drop for Val<'_> {
    fn drop(&mut self) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

impl PartialEq for Val<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.tag == other.tag
    }
}

struct Plan {
    threads: Vec<Vec<COp>>,
}

impl Plan {
    /// Panics unless `v` is a value written under `key` by a writing op of the plan.
    fn check(&self, key: u8, v: &Val<'_>, what: &str) {
        let t = &*v.tag;
        assert_eq!(t.key, key, "{what}: value {t:?} read under key {key}");
        let ops = self
            .threads
            .get(t.thread as usize)
            .unwrap_or_else(|| panic!("{what}: value {t:?} from a non-existent thread"));
        let op = ops
            .get(t.seq as usize)
            .unwrap_or_else(|| panic!("{what}: value {t:?} from a non-existent op"));
        assert_eq!(op.writes(), Some(key), "{what}: value {t:?} not written by {op:?}");
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(n) = u.int_in_range(2..=3u8) else {
        return;
    };
    let mut threads = Vec::new();
    for _ in 0..n {
        let Ok(len) = u.int_in_range(0..=MAX_OPS_PER_THREAD) else {
            return;
        };
        let mut ops = Vec::with_capacity(len);
        for _ in 0..len {
            match COp::arbitrary(&mut u) {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        threads.push(ops);
    }
    let plan = Plan { threads };
    let counters = Counters::default();
    let clock = ManualClock::new();
    {
        let map: HashMap<u8, Val<'_>> = HashMap::builder().clock(clock.clone()).build();
        let barrier = Barrier::new(n as usize);
        std::thread::scope(|s| {
            let handles: Vec<_> = plan
                .threads
                .iter()
                .enumerate()
                .map(|(t, ops)| {
                    let (map, plan, counters, clock, barrier) =
                        (&map, &plan, &counters, &clock, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        worker(map, plan, counters, clock, t as u8, ops);
                    })
                })
                .collect();
            // Join explicitly: unlike the scope's implicit wait (which returns once the
            // closures are done), `join` waits for the OS threads to exit, TLS
            // destructors included. Otherwise libFuzzer's per-input leak check races
            // with thread exit and reports std's `Thread` handle or glibc's TLS-dtor
            // list node as leaked (false positives seen after ~13k and ~11k runs).
            for h in handles {
                if let Err(e) = h.join() {
                    std::panic::resume_unwind(e);
                }
            }
        });

        // Quiescence.
        let m = map.pin();
        m.purge_expired();
        let mut seen = [false; KEYS as usize];
        let mut count = 0;
        for (k, v) in m.iter() {
            plan.check(*k, v, "final iter");
            assert!(!seen[*k as usize], "key {k} seen twice in quiescence");
            seen[*k as usize] = true;
            count += 1;
        }
        assert_eq!(m.len(), count, "len() after purge_expired vs iter().count()");
        for k in 0..KEYS {
            let got = m.get(&k);
            assert_eq!(got.is_some(), seen[k as usize], "get({k}) vs iter");
            if let Some(v) = got {
                plan.check(k, v, "final get");
            }
        }
    }
    let created = counters.created.load(Ordering::SeqCst);
    let dropped = counters.dropped.load(Ordering::SeqCst);
    assert_eq!(created, dropped, "values created {created} != dropped {dropped}");
}

fn worker<'c>(
    map: &HashMap<u8, Val<'c>>,
    plan: &Plan,
    counters: &'c Counters,
    clock: &ManualClock,
    t: u8,
    ops: &[COp],
) {
    let mut i = 0;
    while i < ops.len() {
        let m = map.pin();
        // References read through `m`: must stay valid and unchanged while `m` lives.
        let mut refs: Vec<(u8, &Val<'c>, u16)> = Vec::new();
        while i < ops.len() {
            let seq = i as u16;
            let op = ops[i];
            i += 1;
            let new = |k: u8| Val::new(counters, t, seq, k);
            match op {
                COp::Insert(k) => {
                    let k = k % KEYS;
                    if let Some(v) = m.insert(k, new(k)) {
                        keep(plan, &mut refs, k, v, "insert: previous");
                    }
                }
                COp::InsertTtl(k, n) => {
                    let k = k % KEYS;
                    if let Some(v) = m.insert_with_ttl(k, new(k), Duration::from_nanos(n as u64)) {
                        keep(plan, &mut refs, k, v, "insert_with_ttl: previous");
                    }
                }
                COp::Get(k) => {
                    let k = k % KEYS;
                    if let Some(v) = m.get(&k) {
                        keep(plan, &mut refs, k, v, "get");
                    }
                }
                COp::Remove(k) => {
                    let k = k % KEYS;
                    if let Some((kk, v)) = m.remove_entry(&k) {
                        assert_eq!(*kk, k);
                        keep(plan, &mut refs, k, v, "remove");
                    }
                }
                COp::RemoveIf(k, who) => {
                    let k = k % KEYS;
                    let r = m.remove_if(&k, |kk, v| {
                        assert_eq!(*kk, k);
                        v.tag.thread == who % 3
                    });
                    match r {
                        Ok(Some((_, v))) => {
                            assert_eq!(v.tag.thread, who % 3, "remove_if removed a rejected value");
                            keep(plan, &mut refs, k, v, "remove_if: removed");
                        }
                        Ok(None) => {}
                        Err((_, v)) => {
                            assert_ne!(v.tag.thread, who % 3, "remove_if kept an approved value");
                            keep(plan, &mut refs, k, v, "remove_if: kept");
                        }
                    }
                }
                COp::TryInsert(k) => {
                    let k = k % KEYS;
                    match m.try_insert(k, new(k)) {
                        Ok(v) => {
                            // `Ok` means *our* value went in (raw insert's `Inserted::New`
                            // must return the cell it published, not whatever is there now).
                            assert_eq!((v.tag.thread, v.tag.seq), (t, seq), "try_insert Ok with a foreign value");
                            keep(plan, &mut refs, k, v, "try_insert: inserted")
                        }
                        Err(e) => {
                            keep(plan, &mut refs, k, e.current, "try_insert: current");
                            assert_eq!((e.not_inserted.tag.thread, e.not_inserted.tag.seq), (t, seq));
                        }
                    }
                }
                COp::GetOrInsertWith(k) => {
                    let k = k % KEYS;
                    let v = m.get_or_insert_with(k, || new(k));
                    keep(plan, &mut refs, k, v, "get_or_insert_with");
                }
                COp::Update(k) => {
                    let k = k % KEYS;
                    if let Some(v) = m.update(k, |old| {
                        plan.check(k, old, "update: old");
                        new(k)
                    }) {
                        keep(plan, &mut refs, k, v, "update: new");
                    }
                }
                COp::UpdateOrInsert(k) => {
                    let k = k % KEYS;
                    let v = m.update_or_insert_with(
                        k,
                        |old| {
                            plan.check(k, old, "update_or_insert: old");
                            new(k)
                        },
                        || new(k),
                    );
                    keep(plan, &mut refs, k, v, "update_or_insert");
                }
                COp::Compute(k, a) => {
                    let k = k % KEYS;
                    let r = m.compute(k, |e| match (e, a % 3) {
                        (Some((kk, old)), 0) => {
                            assert_eq!(*kk, k);
                            plan.check(k, old, "compute: old");
                            Operation::Insert(new(k))
                        }
                        (Some(_), 1) => Operation::Remove,
                        (None, 0 | 1) => Operation::Insert(new(k)),
                        _ => Operation::Abort(()),
                    });
                    match r {
                        Compute::Inserted(_, v) if (v.tag.thread, v.tag.seq) != (t, seq) => {
                            panic!("compute Inserted a foreign value {:?}", v.tag);
                        }
                        Compute::Inserted(kk, v) | Compute::Removed(kk, v) => {
                            assert_eq!(*kk, k);
                            keep(plan, &mut refs, k, v, "compute: inserted/removed");
                        }
                        Compute::Updated { old, new } => {
                            keep(plan, &mut refs, k, old.1, "compute: old");
                            keep(plan, &mut refs, k, new.1, "compute: new");
                        }
                        Compute::Aborted(()) => {}
                    }
                }
                COp::SetTtl(k, n) => {
                    m.set_ttl(&(k % KEYS), Duration::from_nanos(n as u64));
                }
                COp::Persist(k) => {
                    m.persist(&(k % KEYS));
                }
                COp::PurgeExpired => {
                    m.purge_expired();
                }
                COp::Retain(who) => m.retain(|k, v| {
                    plan.check(*k, v, "retain");
                    v.tag.thread != who % 4
                }),
                COp::Iter => {
                    for (k, v) in m.iter() {
                        keep(plan, &mut refs, *k, v, "iter");
                    }
                }
                COp::Clear => m.clear(),
                COp::Advance(n) => clock.advance(Duration::from_nanos(n as u64)),
                COp::Repin => break,
                COp::CloneMap => {
                    let copy = map.clone();
                    let c = copy.pin();
                    for (k, v) in c.iter() {
                        plan.check(*k, v, "clone");
                    }
                }
                COp::Spin(n) => {
                    for _ in 0..(n as u32) * 8 {
                        std::hint::spin_loop();
                    }
                    if n % 16 == 0 {
                        std::thread::yield_now();
                    }
                }
            }
        }
        for (k, v, seq) in &refs {
            assert_eq!(v.tag.key, *k, "a reference changed while pinned");
            assert_eq!(v.tag.seq, *seq, "a reference changed while pinned");
        }
        drop(refs);
        drop(m);
    }
}

/// Checks `v` and remembers it (bounded) to re-check before the handle is dropped.
fn keep<'g, 'c>(
    plan: &Plan,
    refs: &mut Vec<(u8, &'g Val<'c>, u16)>,
    k: u8,
    v: &'g Val<'c>,
    what: &str,
) {
    plan.check(k, v, what);
    if refs.len() < 64 {
        refs.push((k, v, v.tag.seq));
    }
}
