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
//! # Making the threads overlap
//! Spawning a thread costs more than a hundred map operations, so threads that simply
//! ran their sequence once after a blocking barrier mostly ran one after another. Here
//! each thread runs its sequence for several *rounds* (up to [`MAX_ROUNDS`], and up to
//! [`ROUND_BUDGET`] single-key operations' worth per thread, so that an input stays in
//! the milliseconds), and every round starts at a spinning barrier (the threads do not
//! park, so they leave it within a microsecond or so of each other). The input
//! chooses, in a trailer read after the thread sequences: the number of rounds, whether
//! rounds after the first also start at the barrier, how many of the 8 keys are used
//! (fewer keys, more same-key races), and how often each thread yields its CPU between
//! operations. The yields matter when the threads share a CPU (2 vCPUs, 3 threads, other
//! load): without them a thread then runs a whole round before the next one gets the
//! CPU. `Spin` operations let the input shift one thread against the others. A missing
//! trailer means the most overlap (every round synchronised, [`MAX_ROUNDS`] rounds
//! within the budget, all keys, a yield every 16 operations), so inputs written before
//! the trailer existed keep their operations and now run them concurrently.
//!
//! Failures here may not reproduce deterministically (thread scheduling).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use ttlmap::{Compute, HashMap, ManualClock, Operation};

const KEYS: u8 = 8;
const MAX_OPS_PER_THREAD: usize = 96;
/// At most this many passes over each thread's sequence.
pub const MAX_ROUNDS: u16 = 32;
/// The choices of `Plan::yield_every`, the first one for inputs without a trailer.
const YIELD_EVERY: [usize; 8] = [16, 0, 1, 2, 4, 8, 32, 64];

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
    /// The key this operation may write a value of its own to, with `keys` keys.
    fn writes(self, keys: u8) -> Option<u8> {
        match self {
            COp::Insert(k)
            | COp::InsertTtl(k, _)
            | COp::TryInsert(k)
            | COp::GetOrInsertWith(k)
            | COp::Update(k)
            | COp::UpdateOrInsert(k)
            | COp::Compute(k, _) => Some(k % keys),
            _ => None,
        }
    }
}

impl COp {
    /// A rough cost in units of a single-key operation (about a microsecond without
    /// ASan), to bound the rounds of an input (see [`ROUND_BUDGET`]).
    fn cost(self) -> u32 {
        match self {
            // A new map (collector, table) and a copy of every entry.
            COp::CloneMap => 32,
            // `n` spin-loop hints, and a yield for one `n` in 16.
            COp::Spin(n) => 1 + n as u32 / 64 + if n.is_multiple_of(16) { 3 } else { 0 },
            // Walk every bucket.
            COp::PurgeExpired | COp::Retain(_) | COp::Iter | COp::Clear => 2,
            _ => 1,
        }
    }
}

/// The most cost (see [`COp::cost`]) that one thread spends over all its rounds: a few
/// milliseconds per input without ASan.
const ROUND_BUDGET: u32 = 4096;

/// A barrier whose waiters spin (yielding now and then, for when there are more
/// threads than CPUs) instead of parking, so that they all leave it at about the same
/// time. Reusable: `generation` counts completed waits.
struct SpinBarrier {
    n: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    fn new(n: usize) -> SpinBarrier {
        SpinBarrier {
            n,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    fn wait(&self) {
        // Acquire: pairs with the Release increment below that ended the previous wait,
        // so that our `arrived` increment comes after its reset.
        let generation = self.generation.load(Ordering::Acquire);
        // AcqRel: the last arriver's RMW reads every other arriver's.
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            // Relaxed: published by the Release increment below.
            self.arrived.store(0, Ordering::Relaxed);
            // Release: pairs with the Acquire loads of the waiters (and of the next wait).
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        // Acquire: pairs with the Release increment of the last arriver.
        while self.generation.load(Ordering::Acquire) == generation {
            spins = spins.wrapping_add(1);
            // Every few µs, let an arriver that shares our CPU run (sched_yield returns at
            // once when nothing else is runnable here, so this costs nothing when the
            // threads have CPUs of their own).
            if spins.is_multiple_of(128) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
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
    /// Index of the writing operation in its thread's sequence.
    seq: u16,
    /// The pass over that sequence (tells apart the values of one op's repetitions).
    round: u16,
    key: u8,
}

/// A value that knows who wrote it, owns heap memory and counts its lifecycle.
struct Val<'c> {
    tag: Box<Tag>,
    counters: &'c Counters,
}

impl<'c> Val<'c> {
    fn new(counters: &'c Counters, thread: u8, seq: u16, round: u16, key: u8) -> Val<'c> {
        // Relaxed: a counter, read after every thread is joined.
        counters.created.fetch_add(1, Ordering::Relaxed);
        Val {
            tag: Box::new(Tag {
                thread,
                seq,
                round,
                key,
            }),
            counters,
        }
    }

    /// Whether this value was made by operation `seq` of thread `t` in round `round`.
    fn is(&self, t: u8, seq: u16, round: u16) -> bool {
        (self.tag.thread, self.tag.seq, self.tag.round) == (t, seq, round)
    }
}

impl Clone for Val<'_> {
    fn clone(&self) -> Self {
        let t = &*self.tag;
        Val::new(self.counters, t.thread, t.seq, t.round, t.key)
    }
}

impl Drop for Val<'_> {
    fn drop(&mut self) {
        // Relaxed: a counter, read after the map is dropped and every thread joined.
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
    /// Keys `0..keys` are used (`1..=KEYS`).
    keys: u8,
    /// Passes over each thread's sequence (`1..=MAX_ROUNDS`).
    rounds: u16,
    /// Whether every round (not only the first) starts at the barrier.
    sync_rounds: bool,
    /// Each thread yields its CPU before every `yield_every`-th operation (0: never).
    yield_every: usize,
}

impl Plan {
    /// The key of an operation's key argument.
    fn key(&self, k: u8) -> u8 {
        k % self.keys
    }

    /// Panics unless `v` is a value written under `key` by a writing op of the plan.
    fn check(&self, key: u8, v: &Val<'_>, what: &str) {
        let t = &*v.tag;
        assert_eq!(t.key, key, "{what}: value {t:?} read under key {key}");
        assert!(
            t.round < self.rounds,
            "{what}: value {t:?} from a non-existent round"
        );
        let ops = self
            .threads
            .get(t.thread as usize)
            .unwrap_or_else(|| panic!("{what}: value {t:?} from a non-existent thread"));
        let op = ops
            .get(t.seq as usize)
            .unwrap_or_else(|| panic!("{what}: value {t:?} from a non-existent op"));
        assert_eq!(
            op.writes(self.keys),
            Some(key),
            "{what}: value {t:?} not written by {op:?}"
        );
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
    // The trailer; each value falls back to the most concurrency when the input ends.
    let (Ok(fewer_rounds), Ok(fewer_keys), Ok(free_running), Ok(yields)) = (
        u.int_in_range(0..=MAX_ROUNDS - 1),
        u.int_in_range(0..=KEYS - 1),
        bool::arbitrary(&mut u),
        u.int_in_range(0..=YIELD_EVERY.len() - 1),
    ) else {
        return;
    };
    // Every thread runs the same number of rounds (they meet at the barrier), as many as
    // the costliest thread's budget allows.
    let costliest = threads
        .iter()
        .map(|ops| ops.iter().map(|op| op.cost()).sum::<u32>())
        .max()
        .unwrap_or(0);
    let affordable = u16::try_from(ROUND_BUDGET / costliest.max(1)).unwrap_or(u16::MAX);
    let plan = Plan {
        threads,
        keys: KEYS - fewer_keys,
        rounds: (MAX_ROUNDS - fewer_rounds).min(affordable).max(1),
        sync_rounds: !free_running,
        yield_every: YIELD_EVERY[yields],
    };
    let counters = Counters::default();
    let clock = ManualClock::new();
    {
        let map: HashMap<u8, Val<'_>> = HashMap::builder().clock(clock.clone()).build();
        let barrier = SpinBarrier::new(n as usize);
        std::thread::scope(|s| {
            let handles: Vec<_> = plan
                .threads
                .iter()
                .enumerate()
                .map(|(t, ops)| {
                    let (map, plan, counters, clock, barrier) =
                        (&map, &plan, &counters, &clock, &barrier);
                    s.spawn(move || {
                        for round in 0..plan.rounds {
                            if round == 0 || plan.sync_rounds {
                                barrier.wait();
                            }
                            worker(map, plan, counters, clock, t as u8, round, ops);
                        }
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
        assert_eq!(
            m.len(),
            count,
            "len() after purge_expired vs iter().count()"
        );
        for k in 0..plan.keys {
            let got = m.get(&k);
            assert_eq!(got.is_some(), seen[k as usize], "get({k}) vs iter");
            if let Some(v) = got {
                plan.check(k, v, "final get");
            }
        }
    }
    // Relaxed: the threads were joined (which synchronises) and the map dropped here.
    let created = counters.created.load(Ordering::Relaxed);
    let dropped = counters.dropped.load(Ordering::Relaxed);
    assert_eq!(
        created, dropped,
        "values created {created} != dropped {dropped}"
    );
}

/// One pass (round `round`) of thread `t` over its sequence `ops`.
fn worker<'c>(
    map: &HashMap<u8, Val<'c>>,
    plan: &Plan,
    counters: &'c Counters,
    clock: &ManualClock,
    t: u8,
    round: u16,
    ops: &[COp],
) {
    let mut i = 0;
    while i < ops.len() {
        let m = map.pin();
        // References read through `m`: must stay valid and unchanged while `m` lives.
        let mut refs: Vec<Kept<'_, 'c>> = Vec::new();
        while i < ops.len() {
            let seq = i as u16;
            let op = ops[i];
            i += 1;
            if plan.yield_every != 0 && i.is_multiple_of(plan.yield_every) {
                std::thread::yield_now();
            }
            let new = |k: u8| Val::new(counters, t, seq, round, k);
            match op {
                COp::Insert(k) => {
                    let k = plan.key(k);
                    if let Some(v) = m.insert(k, new(k)) {
                        keep(plan, &mut refs, k, v, "insert: previous");
                    }
                }
                COp::InsertTtl(k, n) => {
                    let k = plan.key(k);
                    if let Some(v) = m.insert_with_ttl(k, new(k), Duration::from_nanos(n as u64)) {
                        keep(plan, &mut refs, k, v, "insert_with_ttl: previous");
                    }
                }
                COp::Get(k) => {
                    let k = plan.key(k);
                    if let Some(v) = m.get(&k) {
                        keep(plan, &mut refs, k, v, "get");
                    }
                }
                COp::Remove(k) => {
                    let k = plan.key(k);
                    if let Some((kk, v)) = m.remove_entry(&k) {
                        assert_eq!(*kk, k);
                        keep(plan, &mut refs, k, v, "remove");
                    }
                }
                COp::RemoveIf(k, who) => {
                    let k = plan.key(k);
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
                    let k = plan.key(k);
                    match m.try_insert(k, new(k)) {
                        Ok(v) => {
                            // `Ok` means *our* value went in (raw insert's `Inserted::New`
                            // must return the cell it published, not whatever is there now).
                            assert!(
                                v.is(t, seq, round),
                                "try_insert Ok with a foreign value {:?}",
                                v.tag
                            );
                            keep(plan, &mut refs, k, v, "try_insert: inserted")
                        }
                        Err(e) => {
                            keep(plan, &mut refs, k, e.current, "try_insert: current");
                            assert!(
                                e.not_inserted.is(t, seq, round),
                                "try_insert Err gave back {:?}",
                                e.not_inserted.tag
                            );
                        }
                    }
                }
                COp::GetOrInsertWith(k) => {
                    let k = plan.key(k);
                    let v = m.get_or_insert_with(k, || new(k));
                    keep(plan, &mut refs, k, v, "get_or_insert_with");
                }
                COp::Update(k) => {
                    let k = plan.key(k);
                    if let Some(v) = m.update(k, |old| {
                        plan.check(k, old, "update: old");
                        new(k)
                    }) {
                        keep(plan, &mut refs, k, v, "update: new");
                    }
                }
                COp::UpdateOrInsert(k) => {
                    let k = plan.key(k);
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
                    let k = plan.key(k);
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
                        Compute::Inserted(_, v) if !v.is(t, seq, round) => {
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
                    m.set_ttl(&plan.key(k), Duration::from_nanos(n as u64));
                }
                COp::Persist(k) => {
                    m.persist(&plan.key(k));
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
                    for _ in 0..n {
                        std::hint::spin_loop();
                    }
                    if n.is_multiple_of(16) {
                        std::thread::yield_now();
                    }
                }
            }
        }
        for (k, v, (thread, seq, round)) in &refs {
            assert_eq!(v.tag.key, *k, "a reference changed while pinned");
            assert!(
                v.is(*thread, *seq, *round),
                "a reference changed while pinned"
            );
        }
        drop(refs);
        drop(m);
    }
}

/// A reference kept to re-check: key, value, and the value's (thread, seq, round).
type Kept<'g, 'c> = (u8, &'g Val<'c>, (u8, u16, u16));

/// Checks `v` and remembers it (bounded) to re-check before the handle is dropped.
fn keep<'g, 'c>(plan: &Plan, refs: &mut Vec<Kept<'g, 'c>>, k: u8, v: &'g Val<'c>, what: &str) {
    plan.check(k, v, what);
    if refs.len() < 64 {
        refs.push((k, v, (v.tag.thread, v.tag.seq, v.tag.round)));
    }
}
