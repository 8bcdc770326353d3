//! The harness: runs planned operations on the map in rounds, records them, and checks
//! every per-key history (see the module docs of `tests/linearizability.rs`).

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use ttlmap::{Compute, Expiry, Guard, HashMap, HashMapRef, ManualClock, Operation};

use super::checker::{check, History, Op, Violation};
use super::model::{
    tag, Call, ComputeOut, Decision, Entry, Ret, Spec, State, MS, NEVER, TTL_FOREVER,
};
use super::plan::{plan, Action, Mix, Rng, Step};

/// At most this many operations on one key in one round, the main thread's included
/// (the search's cost grows with it; 24 is plenty for one round).
pub const MAX_OPS_PER_KEY: usize = 24;

/// What one `advance` moves the clock by in the tests with TTLs.
pub const CLOCK_STEP: u64 = MS;

/// The thread id of the main thread's closing reads (and refills).
const MAIN: usize = usize::MAX;

/// The writer id in the values the main thread writes (`refill`).
const MAIN_WRITER: usize = 9;

/// Keys the tests do not look at, inserted first so that the table has grown and the
/// tested keys sit among others.
const BYSTANDERS: std::ops::Range<u64> = 1000..1016;

// ---------------------------------------------------------------------------------------
// Running operations
// ---------------------------------------------------------------------------------------

/// A TTL argument of a [`Call`] as a `Duration`.
fn dur(ttl: u64) -> Duration {
    if ttl == TTL_FOREVER {
        Duration::MAX
    } else {
        Duration::from_nanos(ttl)
    }
}

/// Runs `call` on `key` through the public API and copies the result out.
fn execute<S: BuildHasher, G: Guard>(
    m: &HashMapRef<'_, u64, u64, S, G>,
    key: u64,
    call: Call,
) -> Ret {
    match call {
        Call::Get => Ret::Value(m.get(&key).copied()),
        Call::ContainsKey => Ret::Bool(m.contains_key(&key)),
        Call::Insert(v) => Ret::Value(m.insert(key, v).copied()),
        Call::InsertWithTtl(v, t) => Ret::Value(m.insert_with_ttl(key, v, dur(t)).copied()),
        Call::Remove => Ret::Value(m.remove(&key).copied()),
        Call::TryInsert(v) => Ret::TryInsert(match m.try_insert(key, v) {
            Ok(inserted) => Ok(*inserted),
            Err(e) => {
                assert_eq!(e.not_inserted, v, "try_insert gave back another value");
                Err(*e.current)
            }
        }),
        Call::GetOrInsert(v) => Ret::One(*m.get_or_insert(key, v)),
        Call::GetOrInsertWith(v) => Ret::One(*m.get_or_insert_with(key, || v)),
        Call::Update(f) => Ret::Value(m.update(key, |x| f.apply(*x)).copied()),
        Call::UpdateOrInsert(f, v) => Ret::One(*m.update_or_insert(key, |x| f.apply(*x), v)),
        Call::Compute(kind) => {
            let out = m.compute(key, |e| match kind.decide(e.map(|(_, v)| *v)) {
                Decision::Insert(v) => Operation::Insert(v),
                Decision::Remove => Operation::Remove,
                Decision::Abort => Operation::Abort(()),
            });
            Ret::Compute(match out {
                Compute::Inserted(_, v) => ComputeOut::Inserted(*v),
                Compute::Updated { old, new } => ComputeOut::Updated(*old.1, *new.1),
                Compute::Removed(_, v) => ComputeOut::Removed(*v),
                Compute::Aborted(()) => ComputeOut::Aborted,
            })
        }
        Call::RemoveIfEven => Ret::RemoveIf(match m.remove_if(&key, |_, v| v % 2 == 0) {
            Ok(removed) => Ok(removed.map(|(_, v)| *v)),
            Err((_, v)) => Err(*v),
        }),
        Call::Ttl => Ret::Ttl(m.ttl(&key)),
        Call::SetTtl(t) => Ret::Bool(m.set_ttl(&key, dur(t))),
        Call::Persist => Ret::Bool(m.persist(&key)),
    }
}

/// A deliberately wrong implementation of one operation, to show that the checker
/// catches it: each reads with `get`, waits a little (to widen the race window), and
/// then writes, so that a concurrent write in between is lost or duplicated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Broken {
    Nothing,
    /// `update` as `get` + `insert`: concurrent increments get lost.
    Update,
    /// `remove` as `get` + `remove`, returning what `get` saw: two removes can both
    /// return the value.
    Remove,
    /// `set_ttl` as `get` + `insert_with_ttl`: a concurrent write is overwritten.
    SetTtl,
}

/// The map under test (with the clock it was built with), possibly with one operation
/// replaced by a broken one.
struct Subject<S> {
    map: HashMap<u64, u64, S>,
    clock: Option<ManualClock>,
    broken: Broken,
}

impl<S: BuildHasher> Subject<S> {
    fn call(&self, key: u64, call: Call) -> Ret {
        let m = self.map.pin();
        // Widen the window between the read and the write: spin (for a thread running
        // beside us), then yield (for one waiting for our CPU, on a busy machine).
        let widen = || {
            (0..200).for_each(|_| std::hint::spin_loop());
            thread::yield_now();
        };
        match (self.broken, call) {
            (Broken::Update, Call::Update(f)) => Ret::Value(m.get(&key).copied().map(|v| {
                widen();
                m.insert(key, f.apply(v));
                f.apply(v)
            })),
            (Broken::Remove, Call::Remove) => {
                let seen = m.get(&key).copied();
                widen();
                m.remove(&key);
                Ret::Value(seen)
            }
            (Broken::SetTtl, Call::SetTtl(t)) => Ret::Bool(
                m.get(&key)
                    .copied()
                    .map(|v| {
                        widen();
                        m.insert_with_ttl(key, v, dur(t));
                    })
                    .is_some(),
            ),
            _ => execute(&m, key, call),
        }
    }

    /// The clock reading in ticks (0 if the map's clock is the system's, which these
    /// maps never read: no entry of theirs has a deadline).
    fn now(&self) -> u64 {
        self.clock
            .as_ref()
            .map_or(0, |c| c.elapsed().as_nanos() as u64)
    }
}

// ---------------------------------------------------------------------------------------
// Configurations
// ---------------------------------------------------------------------------------------

/// How keys are hashed.
#[derive(Clone, Copy, Debug)]
pub enum Hashing {
    /// The map's default (foldhash, randomly seeded).
    Default,
    /// [`Runs`]: every key in bucket 0, and keys in pairs with equal hashes.
    Colliding,
}

/// A hasher under which key `k` hashes to `(k / 2) << 40`: every key of a table smaller
/// than 2^40 buckets lands in bucket 0's chain, and keys `2i` and `2i + 1` have the same
/// hash, hence the same split-order key, so they share a run that only `Eq` tells apart.
#[derive(Clone, Copy, Default)]
struct Runs;

#[derive(Default)]
struct RunsHasher(u64);

impl Hasher for RunsHasher {
    fn finish(&self) -> u64 {
        (self.0 / 2) << 40
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, k: u64) {
        self.0 = k;
    }
}

impl BuildHasher for Runs {
    type Hasher = RunsHasher;
    fn build_hasher(&self) -> RunsHasher {
        RunsHasher::default()
    }
}

/// Expiry in a configuration: a `ManualClock` that worker 0 advances between its ops.
#[derive(Clone, Copy, Debug)]
pub struct Ttls {
    /// The map's default TTL, in ticks.
    pub default_ttl: Option<u64>,
    /// Worker 0 advances the clock by [`CLOCK_STEP`] between 1 and this many times a
    /// round, and sometimes calls `purge_expired` after.
    pub max_advances: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub name: &'static str,
    pub threads: usize,
    pub keys: u64,
    pub ops_per_thread: usize,
    /// Fresh maps, one after the other.
    pub maps: usize,
    /// Rounds on each map.
    pub rounds: usize,
    pub hashing: Hashing,
    pub ttl: Option<Ttls>,
    pub mix: Mix,
    /// Before each round the main thread writes every key afresh (`insert_with_ttl`,
    /// three steps), so that a mix without writes has entries to work on.
    pub refill: bool,
    pub broken: Broken,
    pub seed: u64,
}

impl Config {
    fn spec(&self) -> Spec {
        match self.ttl {
            None => Spec::TIMELESS,
            Some(t) => Spec {
                default_ttl: t.default_ttl,
                clock_step: CLOCK_STEP,
            },
        }
    }

    /// Operations the main thread adds to each key's history of a round: the closing
    /// reads, and the refill before it.
    pub fn main_ops(&self) -> usize {
        usize::from(self.refill) + if self.ttl.is_some() { 2 } else { 1 }
    }
}

// ---------------------------------------------------------------------------------------
// Rounds
// ---------------------------------------------------------------------------------------

/// A spinning barrier that a panicking participant poisons (so that the others panic
/// too instead of waiting forever).
///
/// It spins (yielding now and then, for machines with fewer CPUs than threads) rather
/// than sleeping: threads woken from a futex tend to be woken onto the waker's CPU, where
/// they run one after the other and never overlap; threads that never sleep get spread
/// over the CPUs, and leave the barrier together.
struct Rendezvous {
    parties: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    poisoned: AtomicBool,
}

impl Rendezvous {
    fn new(parties: usize) -> Rendezvous {
        Rendezvous {
            parties,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
        }
    }

    fn wait(&self) {
        // Every party reads the generation before it arrives, and it moves on only once
        // all have arrived, so all of them wait for the same change.
        let generation = self.generation.load(SeqCst);
        if self.arrived.fetch_add(1, SeqCst) + 1 == self.parties {
            self.arrived.store(0, SeqCst);
            self.generation.fetch_add(1, SeqCst);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(SeqCst) == generation {
            assert!(
                !self.poisoned.load(SeqCst),
                "another thread of the run panicked"
            );
            spins += 1;
            if spins % 32 == 0 {
                thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    fn poison(&self) {
        self.poisoned.store(true, SeqCst);
    }
}

/// Poisons the rendezvous if its thread unwinds.
struct PoisonOnPanic<'a>(&'a Rendezvous);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.poison();
        }
    }
}

/// One logged operation, before it is sorted into its key's history.
struct Record {
    round: usize,
    key: u64,
    op: Op,
}

/// Calls `call` and logs it with its counter ticks and clock readings.
fn record<S: BuildHasher>(
    subject: &Subject<S>,
    counter: &AtomicU64,
    thread: usize,
    key: u64,
    call: Call,
) -> Op {
    let inv = counter.fetch_add(1, SeqCst);
    let before = subject.now();
    let ret = subject.call(key, call);
    let after = subject.now();
    let res = counter.fetch_add(1, SeqCst);
    Op {
        thread,
        call,
        ret,
        inv,
        res,
        clock: (before, after),
    }
}

/// The state the closing reads of a quiet moment (clock `now`) show.
fn read_state(get: Ret, ttl: Option<Ret>, now: u64) -> State {
    match (get, ttl) {
        (Ret::Value(Some(value)), None | Some(Ret::Ttl(Some(Expiry::Never)))) => Some(Entry {
            value,
            deadline: NEVER,
        }),
        (Ret::Value(Some(value)), Some(Ret::Ttl(Some(Expiry::In(d))))) => Some(Entry {
            value,
            deadline: now + d.as_nanos() as u64,
        }),
        // Absent, or reads that disagree (the round's own check reports that).
        _ => None,
    }
}

/// What a run found.
#[derive(Default)]
struct Outcome {
    histories: usize,
    ops: usize,
    /// Worker ops whose interval overlaps that of another thread's op on the same key.
    overlapping: usize,
    /// The most ops on one key pending at one time.
    max_pending: usize,
    nodes: u64,
    max_nodes: u64,
    violations: Vec<Violation>,
}

impl Outcome {
    fn summary(&self, cfg: &Config) -> String {
        format!(
            "{}: {} maps x {} rounds, {} threads, {} keys: {} histories, {} ops, {:.0}% of them \
             overlapping another thread's op on their key, up to {} pending at once; {} search \
             nodes (at most {} for one history); {} violations",
            cfg.name,
            cfg.maps,
            cfg.rounds,
            cfg.threads,
            cfg.keys,
            self.histories,
            self.ops,
            100.0 * self.overlapping as f64 / self.ops.max(1) as f64,
            self.max_pending,
            self.nodes,
            self.max_nodes,
            self.violations.len()
        )
    }

    fn add(&mut self, spec: &Spec, history: History) {
        let ops = &history.ops;
        self.histories += 1;
        self.ops += ops.len();
        self.overlapping += ops
            .iter()
            .filter(|a| {
                ops.iter()
                    .any(|b| a.thread != b.thread && a.inv < b.res && b.inv < a.res)
            })
            .count();
        let pending = ops
            .iter()
            .map(|a| {
                ops.iter()
                    .filter(|b| b.inv <= a.inv && a.inv < b.res)
                    .count()
            })
            .max()
            .unwrap_or(0);
        self.max_pending = self.max_pending.max(pending);
        match check(spec, history) {
            Ok(effort) => {
                self.nodes += effort.nodes;
                self.max_nodes = self.max_nodes.max(effort.nodes);
            }
            Err(v) => self.violations.push(*v),
        }
    }
}

/// Runs `cfg` and checks every per-key history.
fn run(cfg: &Config) -> Outcome {
    // One run at a time: the tests of this file run in parallel, and threads that share
    // two CPUs with another run's threads rarely overlap each other.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    match cfg.hashing {
        Hashing::Default => run_with(cfg, ttlmap::DefaultHashBuilder::default),
        Hashing::Colliding => run_with(cfg, || Runs),
    }
}

fn run_with<S: BuildHasher + Send + Sync>(cfg: &Config, hasher: impl Fn() -> S) -> Outcome {
    let spec = cfg.spec();
    let mut rng = Rng::new(cfg.seed);
    let mut outcome = Outcome::default();
    for map_index in 0..cfg.maps {
        let clock = cfg.ttl.map(|_| ManualClock::new());
        let mut builder = HashMap::builder().hasher(hasher());
        if let Some(clock) = &clock {
            builder = builder.clock(clock.clone());
        }
        if let Some(ttl) = cfg.ttl.and_then(|t| t.default_ttl) {
            builder = builder.default_ttl(Duration::from_nanos(ttl));
        }
        let subject = Subject {
            map: builder.build(),
            clock,
            broken: cfg.broken,
        };
        for k in BYSTANDERS {
            subject.map.pin().insert(k, k);
        }
        let run = Run {
            cfg,
            subject: &subject,
            plans: plan(cfg, &mut rng),
            rendezvous: Rendezvous::new(cfg.threads + 1),
            counter: AtomicU64::new(0),
        };
        let (records, init) = thread::scope(|s| {
            let run = &run;
            let workers: Vec<_> = (0..cfg.threads)
                .map(|t| s.spawn(move || run.worker(t)))
                .collect();
            let (closing, init) = run.main();
            let mut records: Vec<Record> = workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect();
            records.extend(closing);
            (records, init)
        });

        // Sort the records into per-(round, key) histories and check each.
        let mut histories: Vec<Vec<Vec<Op>>> =
            vec![vec![Vec::new(); cfg.keys as usize]; cfg.rounds];
        for r in records {
            histories[r.round][r.key as usize].push(r.op);
        }
        for (round, per_key) in histories.into_iter().enumerate() {
            for (key, ops) in per_key.into_iter().enumerate() {
                let history = History {
                    label: format!("{}: map {map_index}, round {round}, key {key}", cfg.name),
                    init: init[round][key],
                    ops,
                };
                outcome.add(&spec, history);
            }
        }
    }
    outcome
}

/// The rounds on one map: what the threads share.
struct Run<'a, S> {
    cfg: &'a Config,
    subject: &'a Subject<S>,
    /// `[round][thread]`.
    plans: Vec<Vec<Vec<Step>>>,
    rendezvous: Rendezvous,
    /// The logical clock of the history: ticks before and after every call.
    counter: AtomicU64,
}

impl<S: BuildHasher + Sync> Run<'_, S> {
    /// Worker `t`: its plan of every round, between the rendezvous; its log.
    fn worker(&self, t: usize) -> Vec<Record> {
        let _poison = PoisonOnPanic(&self.rendezvous);
        let mut log = Vec::new();
        for (round, plan) in self.plans.iter().enumerate() {
            self.rendezvous.wait();
            for step in &plan[t] {
                (0..step.pause).for_each(|_| std::hint::spin_loop());
                match step.action {
                    Action::Call { key, call } => {
                        let op = record(self.subject, &self.counter, t, key, call);
                        log.push(Record { round, key, op });
                    }
                    Action::Tick { purge } => {
                        let clock = self.subject.clock.as_ref().expect("ticks need a clock");
                        clock.advance(Duration::from_nanos(CLOCK_STEP));
                        if purge {
                            self.subject.map.purge_expired();
                        }
                    }
                }
            }
            self.rendezvous.wait();
        }
        log
    }

    /// The main thread: between the rounds, while nothing else runs, the closing reads
    /// of every key (and the refills, if asked for). Returns them, and the state of
    /// every key before every round (`[round][key]`).
    fn main(&self) -> (Vec<Record>, Vec<Vec<State>>) {
        let (cfg, subject, counter) = (self.cfg, self.subject, &self.counter);
        let _poison = PoisonOnPanic(&self.rendezvous);
        let mut closing = Vec::new();
        let mut init = vec![vec![None; cfg.keys as usize]];
        let mut seq = 0;
        let mut refill = |round, closing: &mut Vec<Record>| {
            for key in (0..cfg.keys).filter(|_| cfg.refill) {
                seq += 1;
                let call = Call::InsertWithTtl(tag(MAIN_WRITER, seq), 3 * CLOCK_STEP);
                let op = record(subject, counter, MAIN, key, call);
                closing.push(Record { round, key, op });
            }
        };
        refill(0, &mut closing);
        for round in 0..cfg.rounds {
            self.rendezvous.wait(); // the round starts
            self.rendezvous.wait(); // the round is over
            let mut states = Vec::new();
            for key in 0..cfg.keys {
                let get = record(subject, counter, MAIN, key, Call::Get);
                let ttl = cfg
                    .ttl
                    .map(|_| record(subject, counter, MAIN, key, Call::Ttl));
                assert_eq!(get.clock.0, get.clock.1, "the clock moved between rounds");
                states.push(read_state(get.ret, ttl.map(|op| op.ret), get.clock.0));
                for op in [Some(get), ttl].into_iter().flatten() {
                    closing.push(Record { round, key, op });
                }
            }
            init.push(states);
            if round + 1 < cfg.rounds {
                refill(round + 1, &mut closing);
            }
        }
        (closing, init)
    }
}

/// Runs `cfg`, prints its summary, and fails with the first violations, if any.
pub fn assert_linearizable(cfg: &Config) {
    let outcome = run(cfg);
    eprintln!("{}", outcome.summary(cfg));
    if let Some(first) = outcome.violations.first() {
        for v in outcome.violations.iter().take(3) {
            eprintln!("{v}\n");
        }
        panic!(
            "{} of {} histories are not linearizable; the first:\n{first}",
            outcome.violations.len(),
            outcome.histories
        );
    }
}

/// Runs `cfg` (on a broken adapter) until the checker finds a violation, and fails if
/// it never does. Usually the first map does it; the retries only keep a machine too
/// busy to run two threads at once from failing the test.
pub fn assert_caught(cfg: &Config) {
    let mut histories = 0;
    for attempt in 0..20 {
        let outcome = run(&Config {
            seed: cfg.seed + attempt,
            ..*cfg
        });
        eprintln!("{}", outcome.summary(cfg));
        histories += outcome.histories;
        if let Some(v) = outcome.violations.first() {
            eprintln!("caught, as it should be:\n{v}");
            return;
        }
    }
    panic!(
        "the checker missed {:?} in {histories} histories",
        cfg.broken
    );
}
