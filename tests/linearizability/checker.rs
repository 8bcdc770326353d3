//! A Wing–Gong linearizability checker with Lowe's memoisation, for the history of one
//! key (see the module docs of `tests/linearizability.rs`).

use std::collections::HashSet;
use std::fmt;

use super::model::{Call, Ret, Spec, State, StateDisplay, Time};

/// Most operations one history may hold (the search keeps the linearized set in a `u64`).
pub const MAX_OPS: usize = 64;

/// One completed operation: who made which call and got what, between which ticks of
/// the history's logical clock, and between which readings of the map's clock.
#[derive(Clone, Copy, Debug)]
pub struct Op {
    pub thread: usize,
    pub call: Call,
    pub ret: Ret,
    /// Ticks of the global counter taken right before the call and right after it
    /// returned: the operation took effect somewhere in between.
    pub inv: u64,
    pub res: u64,
    /// The map's clock read right before the call and right after it returned.
    pub clock: (u64, u64),
}

/// The operations on one key in one round, and the key's state before them.
#[derive(Clone, Debug)]
pub struct History {
    /// Where the history comes from, for the report ("map 3, round 17, key 5").
    pub label: String,
    pub init: State,
    pub ops: Vec<Op>,
}

/// How hard the search worked.
#[derive(Clone, Copy, Debug, Default)]
pub struct Effort {
    /// Search nodes visited (calls of the recursive step).
    pub nodes: u64,
}

/// A history with no linearization, and the furthest the search got.
#[derive(Debug)]
pub struct Violation {
    pub spec: Spec,
    pub history: History,
    /// Ops (indices into `history.ops`, by invocation) of the longest linearizable
    /// prefix found, in their linearization order.
    pub prefix: Vec<usize>,
    /// The state after that prefix.
    pub state: State,
}

/// Checks that `history` is linearizable with respect to `spec`: that some total order
/// of its operations (1) extends their real-time order — an operation that returned
/// before another was invoked comes first — and (2) is a legal sequential run of `spec`
/// from `history.init`, each operation returning what it returned.
///
/// The search (Wing & Gong 1993): repeatedly pick an operation that may go next — one
/// invoked before every other remaining operation returned — apply it to the model if
/// its result allows, recurse, and backtrack on failure. Lowe's memoisation (2017, the
/// core of porcupine): the pair (set of operations linearized, model state) determines
/// the rest of the search, so a pair that failed once is never explored again.
pub fn check(spec: &Spec, history: History) -> Result<Effort, Box<Violation>> {
    let n = history.ops.len();
    assert!(
        n <= MAX_OPS,
        "{}: {n} ops, at most {MAX_OPS}",
        history.label
    );
    let mut ops = history.ops;
    ops.sort_by_key(|op| op.inv);
    for op in &ops {
        assert!(
            op.inv < op.res,
            "{}: an op returned before its call",
            history.label
        );
    }
    let history = History { ops, ..history };
    let mut search = Search {
        spec,
        ops: &history.ops,
        all: if n == 64 { u64::MAX } else { (1 << n) - 1 },
        failed: HashSet::new(),
        path: Vec::new(),
        best: (Vec::new(), history.init),
        effort: Effort::default(),
    };
    if search.linearize(0, history.init) {
        return Ok(search.effort);
    }
    let (prefix, state) = search.best;
    Err(Box::new(Violation {
        spec: *spec,
        history,
        prefix,
        state,
    }))
}

struct Search<'a> {
    spec: &'a Spec,
    /// Sorted by invocation.
    ops: &'a [Op],
    all: u64,
    /// Lowe's memo: (linearized set, state) pairs from which no linearization exists.
    failed: HashSet<(u64, State)>,
    path: Vec<usize>,
    best: (Vec<usize>, State),
    effort: Effort,
}

impl Search<'_> {
    /// Whether the ops not in `done` can be linearized after those in `done`, which
    /// left the key in `state`.
    fn linearize(&mut self, done: u64, state: State) -> bool {
        self.effort.nodes += 1;
        if done == self.all {
            return true;
        }
        if !self.failed.insert((done, state)) {
            return false;
        }
        if self.path.len() > self.best.0.len() {
            self.best = (self.path.clone(), state);
        }
        let pending = |i: usize| done & (1 << i) == 0;
        // An op may go next iff no other remaining op returned before it was invoked.
        let first_res = (0..self.ops.len())
            .filter(|&i| pending(i))
            .map(|i| self.ops[i].res)
            .min()
            .expect("some op remains");
        let mut next = Vec::new();
        for i in (0..self.ops.len()).filter(|&i| pending(i)) {
            let op = self.ops[i];
            if op.inv > first_res {
                break; // sorted by invocation: no later op can go next either
            }
            self.spec
                .successors(state, op.call, op.ret, op.clock, &mut next);
            for &after in &next {
                self.path.push(i);
                if self.linearize(done | (1 << i), after) {
                    return true;
                }
                self.path.pop();
            }
        }
        false
    }
}

impl fmt::Display for Violation {
    /// The history as a timeline (one row per op, its bar spanning its call), then the
    /// longest linearizable prefix and the ops that could not follow it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.history;
        writeln!(f, "NOT LINEARIZABLE: {}", h.label)?;
        writeln!(f, "  initial state: {}", StateDisplay(h.init))?;
        // Columns: the distinct ticks, in order.
        let mut ticks: Vec<u64> = h.ops.iter().flat_map(|op| [op.inv, op.res]).collect();
        ticks.sort_unstable();
        let col = |t: u64| ticks.binary_search(&t).unwrap();
        let moving_clock = h.ops.iter().any(|op| op.clock != (0, 0));
        for (i, op) in h.ops.iter().enumerate() {
            let (a, b) = (col(op.inv), col(op.res));
            let bar: String = (0..ticks.len())
                .map(|c| match c {
                    c if c == a => '[',
                    c if c == b => ']',
                    c if c > a && c < b => '-',
                    _ => ' ',
                })
                .collect();
            let who = if op.thread == usize::MAX {
                "main".to_string()
            } else {
                format!("t{}", op.thread)
            };
            write!(f, "  #{i:<2} {who:<4} {bar} ")?;
            if moving_clock {
                write!(f, "clock {}..{}  ", Time(op.clock.0), Time(op.clock.1))?;
            }
            writeln!(f, "{} -> {}", op.call, op.ret)?;
        }
        let prefix: Vec<String> = self.prefix.iter().map(|i| format!("#{i}")).collect();
        writeln!(
            f,
            "  longest linearizable prefix ({} of {} ops): {}",
            self.prefix.len(),
            h.ops.len(),
            if prefix.is_empty() {
                "(none)".to_string()
            } else {
                prefix.join(" ")
            }
        )?;
        writeln!(f, "  state after it: {}", StateDisplay(self.state))?;
        writeln!(f, "  none of the ops that may go next can, from there:")?;
        let pending: Vec<&Op> = (0..h.ops.len())
            .filter(|i| !self.prefix.contains(i))
            .map(|i| &h.ops[i])
            .collect();
        let first_res = pending.iter().map(|op| op.res).min().unwrap_or(0);
        for (i, op) in h.ops.iter().enumerate() {
            if self.prefix.contains(&i) || op.inv > first_res {
                continue;
            }
            let mut expected: Vec<String> = Vec::new();
            for before in self.spec.found(self.state, op.clock) {
                for now in self.spec.readings(op.clock) {
                    let r = self.spec.apply(before, op.call, now).0.to_string();
                    if !expected.contains(&r) {
                        expected.push(r);
                    }
                }
            }
            writeln!(
                f,
                "    #{i} {} returned {}, the model gives {}",
                op.call,
                op.ret,
                expected.join(" or ")
            )?;
        }
        Ok(())
    }
}
