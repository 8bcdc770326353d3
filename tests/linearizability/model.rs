//! The sequential specification of *one key* of the map, with the clock reading as an
//! input of every operation (see the module docs of `tests/linearizability.rs` for why
//! that is the right shape and how the checker uses it).

use std::fmt;
use std::time::Duration;

use ttlmap::Expiry;

/// A deadline that never comes (the map's `NEVER`).
pub const NEVER: u64 = u64::MAX;

/// A TTL argument meaning `Duration::MAX` (which the map saturates to "never").
pub const TTL_FOREVER: u64 = u64::MAX;

/// Nanoseconds of one clock step in the tests with a moving clock; only used to print
/// times readably (`2.5ms`).
pub const MS: u64 = 1_000_000;

/// The value of the key, with its deadline in clock ticks (nanoseconds elapsed on the
/// `ManualClock`): live while `now < deadline`; `0` is "expired from the start"
/// (`Duration::ZERO`), [`NEVER`] is "no deadline".
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Entry {
    pub value: u64,
    pub deadline: u64,
}

impl Entry {
    pub fn live_at(&self, now: u64) -> bool {
        self.deadline == NEVER || now < self.deadline
    }
}

/// The abstract state of one key: absent, or a value with a deadline. An entry whose
/// deadline passed stays in the state (it is absent only to operations whose clock
/// reading is past it); the checker may drop it, see `Spec::successors`.
pub type State = Option<Entry>;

/// The closure given to `update` and `update_or_insert`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fun {
    /// `|v| v + 1`: keeps the writer tag of the value (see [`Val`]).
    Incr,
    /// `|_| c`.
    Set(u64),
}

impl Fun {
    pub fn apply(self, v: u64) -> u64 {
        match self {
            Fun::Incr => v + 1,
            Fun::Set(c) => c,
        }
    }
}

/// The closure given to `compute`: a pure function of the entry it sees.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ComputeKind {
    /// Present: `Insert(v + 1)`. Absent: `Abort`.
    IncrOrAbort,
    /// Present: `Remove`. Absent: `Insert(c)`.
    RemoveOrInsert(u64),
    /// Present: `Abort`. Absent: `Insert(c)`.
    InsertIfAbsent(u64),
    /// Present: `Remove`. Absent: `Abort`.
    RemoveOrAbort,
}

/// What a [`ComputeKind`] decides (`ttlmap::Operation` without the lifetimes).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Decision {
    Insert(u64),
    Remove,
    Abort,
}

impl ComputeKind {
    pub fn decide(self, current: Option<u64>) -> Decision {
        match (self, current) {
            (ComputeKind::IncrOrAbort, Some(v)) => Decision::Insert(v + 1),
            (ComputeKind::IncrOrAbort, None) => Decision::Abort,
            (ComputeKind::RemoveOrInsert(_), Some(_)) => Decision::Remove,
            (ComputeKind::RemoveOrInsert(c), None) => Decision::Insert(c),
            (ComputeKind::InsertIfAbsent(_), Some(_)) => Decision::Abort,
            (ComputeKind::InsertIfAbsent(c), None) => Decision::Insert(c),
            (ComputeKind::RemoveOrAbort, Some(_)) => Decision::Remove,
            (ComputeKind::RemoveOrAbort, None) => Decision::Abort,
        }
    }
}

/// One operation on the key, with its arguments. TTLs are in clock ticks (nanoseconds);
/// [`TTL_FOREVER`] stands for `Duration::MAX`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Call {
    Get,
    ContainsKey,
    Insert(u64),
    InsertWithTtl(u64, u64),
    Remove,
    TryInsert(u64),
    GetOrInsert(u64),
    GetOrInsertWith(u64),
    Update(Fun),
    UpdateOrInsert(Fun, u64),
    Compute(ComputeKind),
    /// `remove_if(|_, v| v % 2 == 0)`.
    RemoveIfEven,
    Ttl,
    SetTtl(u64),
    Persist,
}

/// The result of `compute`, owned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ComputeOut {
    Inserted(u64),
    Updated(u64, u64),
    Removed(u64),
    Aborted,
}

/// What an operation returned, with references copied out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ret {
    /// `get`, `insert`, `insert_with_ttl`, `remove`, `update`.
    Value(Option<u64>),
    /// `contains_key`, `set_ttl`, `persist`.
    Bool(bool),
    /// `get_or_insert`, `get_or_insert_with`, `update_or_insert`.
    One(u64),
    /// `try_insert`: `Ok(inserted)` or `Err(current)`.
    TryInsert(Result<u64, u64>),
    Compute(ComputeOut),
    /// `remove_if`: `Ok(removed)`, or `Err(current)` if the predicate refused.
    RemoveIf(Result<Option<u64>, u64>),
    Ttl(Option<Expiry>),
}

/// The sequential specification of the map, for one key.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The map's default TTL in ticks (applies to `insert`, `try_insert`, the insert of
    /// `get_or_insert*`, `update_or_insert` and `compute`).
    pub default_ttl: Option<u64>,
    /// The clock moves in steps of exactly this many ticks (`ManualClock::advance` by a
    /// fixed amount), so the readings an operation can have taken are the multiples of
    /// it between the two readings around the call. `0`: the clock never moves.
    pub clock_step: u64,
}

impl Spec {
    /// The map without TTLs and with a clock that never moves.
    pub const TIMELESS: Spec = Spec {
        default_ttl: None,
        clock_step: 0,
    };

    /// The deadline of a value written at `now` with `ttl` (`None`: no deadline).
    pub fn deadline(ttl: Option<u64>, now: u64) -> u64 {
        match ttl {
            None | Some(TTL_FOREVER) => NEVER,
            Some(0) => 0,
            Some(t) => now.saturating_add(t),
        }
    }

    /// Executes `call` atomically on `state` with clock reading `now`: its result and the
    /// state after it. This is the whole specification; it mirrors `docs/api.md`.
    pub fn apply(&self, state: State, call: Call, now: u64) -> (Ret, State) {
        let live = state.filter(|e| e.live_at(now));
        let fresh = |value| {
            Some(Entry {
                value,
                deadline: Self::deadline(self.default_ttl, now),
            })
        };
        // A replaced value keeps its entry's deadline.
        let replaced = |e: Entry, value| Some(Entry { value, ..e });
        match call {
            Call::Get => (Ret::Value(live.map(|e| e.value)), state),
            Call::ContainsKey => (Ret::Bool(live.is_some()), state),
            Call::Insert(v) => (Ret::Value(live.map(|e| e.value)), fresh(v)),
            Call::InsertWithTtl(v, ttl) => (
                Ret::Value(live.map(|e| e.value)),
                Some(Entry {
                    value: v,
                    deadline: Self::deadline(Some(ttl), now),
                }),
            ),
            Call::Remove => match live {
                Some(e) => (Ret::Value(Some(e.value)), None),
                None => (Ret::Value(None), state),
            },
            Call::TryInsert(v) => match live {
                Some(e) => (Ret::TryInsert(Err(e.value)), state),
                None => (Ret::TryInsert(Ok(v)), fresh(v)),
            },
            Call::GetOrInsert(v) | Call::GetOrInsertWith(v) => match live {
                Some(e) => (Ret::One(e.value), state),
                None => (Ret::One(v), fresh(v)),
            },
            Call::Update(f) => match live {
                Some(e) => (
                    Ret::Value(Some(f.apply(e.value))),
                    replaced(e, f.apply(e.value)),
                ),
                None => (Ret::Value(None), state),
            },
            Call::UpdateOrInsert(f, v) => match live {
                Some(e) => (Ret::One(f.apply(e.value)), replaced(e, f.apply(e.value))),
                None => (Ret::One(v), fresh(v)),
            },
            Call::Compute(kind) => match (live, kind.decide(live.map(|e| e.value))) {
                (Some(e), Decision::Insert(v)) => (
                    Ret::Compute(ComputeOut::Updated(e.value, v)),
                    replaced(e, v),
                ),
                (Some(e), Decision::Remove) => (Ret::Compute(ComputeOut::Removed(e.value)), None),
                (None, Decision::Insert(v)) => (Ret::Compute(ComputeOut::Inserted(v)), fresh(v)),
                (None, Decision::Remove) => unreachable!("no ComputeKind removes an absent entry"),
                (_, Decision::Abort) => (Ret::Compute(ComputeOut::Aborted), state),
            },
            Call::RemoveIfEven => match live {
                Some(e) if e.value % 2 == 0 => (Ret::RemoveIf(Ok(Some(e.value))), None),
                Some(e) => (Ret::RemoveIf(Err(e.value)), state),
                None => (Ret::RemoveIf(Ok(None)), state),
            },
            Call::Ttl => {
                let ttl = live.map(|e| match e.deadline {
                    NEVER => Expiry::Never,
                    d => Expiry::In(Duration::from_nanos(d - now)),
                });
                (Ret::Ttl(ttl), state)
            }
            Call::SetTtl(ttl) => match live {
                Some(e) => (
                    Ret::Bool(true),
                    Some(Entry {
                        deadline: Self::deadline(Some(ttl), now),
                        ..e
                    }),
                ),
                None => (Ret::Bool(false), state),
            },
            Call::Persist => match live {
                Some(e) => (
                    Ret::Bool(true),
                    Some(Entry {
                        deadline: NEVER,
                        ..e
                    }),
                ),
                None => (Ret::Bool(false), state),
            },
        }
    }

    /// The clock readings an operation may have taken, given the readings `lo` before
    /// its call and `hi` after it returned.
    pub fn readings(&self, (lo, hi): (u64, u64)) -> impl Iterator<Item = u64> {
        assert!(lo <= hi, "the clock went backwards: {lo} > {hi}");
        assert!(
            self.clock_step != 0 || lo == hi,
            "the clock moved in a test that says it does not"
        );
        let step = self.clock_step.max(1);
        (lo..=hi).step_by(step as usize)
    }

    /// The states an operation that ran in clock interval `clock` may have found the
    /// key in, given that the operations before it left `state`: that one, and absent
    /// if `state`'s entry had expired by the end of the interval, since a sweep may have
    /// unlinked it before the operation took effect (after which the key is absent even
    /// to a clock reading before the deadline).
    pub fn found(&self, state: State, clock: (u64, u64)) -> impl Iterator<Item = State> {
        let swept = matches!(state, Some(e) if e.deadline <= clock.1);
        std::iter::once(state).chain(swept.then_some(None))
    }

    /// Every state the key can be in after an operation that ran in clock interval
    /// `clock`, made the call `call` on `state` and returned `ret` (none if `ret` is
    /// impossible): for each state it may have found ([`Spec::found`]) and each clock
    /// reading it may have taken ([`Spec::readings`]), the one `apply` gives if it
    /// returns `ret`.
    pub fn successors(
        &self,
        state: State,
        call: Call,
        ret: Ret,
        clock: (u64, u64),
        out: &mut Vec<State>,
    ) {
        out.clear();
        for before in self.found(state, clock) {
            for now in self.readings(clock) {
                let (r, after) = self.apply(before, call, now);
                if r == ret && !out.contains(&after) {
                    out.push(after);
                }
            }
        }
    }
}

/// A value written by the tests: `(thread + 1) << 48 | seq << 16 | increments`, so that
/// every written value names its writer and a lost or foreign value shows.
pub fn tag(thread: usize, seq: u64) -> u64 {
    assert!(seq < 1 << 32, "sequence number overflow");
    ((thread as u64 + 1) << 48) | (seq << 16)
}

/// Displays a value as `t<thread>.<seq>` (`+<n>` after `n` increments).
pub struct Val(pub u64);

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (writer, seq, inc) = (self.0 >> 48, (self.0 >> 16) & 0xFFFF_FFFF, self.0 & 0xFFFF);
        if writer == 0 {
            return write!(f, "{}", self.0);
        }
        write!(f, "t{}.{}", writer - 1, seq)?;
        if inc != 0 {
            write!(f, "+{inc}")?;
        }
        Ok(())
    }
}

/// Displays clock ticks as milliseconds.
pub struct Time(pub u64);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            NEVER => write!(f, "never"),
            t if t % MS == 0 => write!(f, "{}ms", t / MS),
            t => write!(f, "{}ms", t as f64 / MS as f64),
        }
    }
}

pub struct StateDisplay(pub State);

impl fmt::Display for StateDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => write!(f, "absent"),
            Some(Entry {
                value,
                deadline: NEVER,
            }) => write!(f, "{}", Val(value)),
            Some(Entry { value, deadline }) => {
                write!(f, "{} until {}", Val(value), Time(deadline))
            }
        }
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "None".into(), |v| format!("Some({})", Val(v)))
}

fn ttl_arg(t: u64) -> String {
    if t == TTL_FOREVER {
        "MAX".into()
    } else {
        Time(t).to_string()
    }
}

fn fun(f: Fun) -> String {
    match f {
        Fun::Incr => "+1".into(),
        Fun::Set(c) => format!("={}", Val(c)),
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Call::Get => write!(f, "get"),
            Call::ContainsKey => write!(f, "contains_key"),
            Call::Insert(v) => write!(f, "insert({})", Val(v)),
            Call::InsertWithTtl(v, t) => write!(f, "insert_with_ttl({}, {})", Val(v), ttl_arg(t)),
            Call::Remove => write!(f, "remove"),
            Call::TryInsert(v) => write!(f, "try_insert({})", Val(v)),
            Call::GetOrInsert(v) => write!(f, "get_or_insert({})", Val(v)),
            Call::GetOrInsertWith(v) => write!(f, "get_or_insert_with({})", Val(v)),
            Call::Update(u) => write!(f, "update({})", fun(u)),
            Call::UpdateOrInsert(u, v) => write!(f, "update_or_insert({}, {})", fun(u), Val(v)),
            Call::Compute(ComputeKind::IncrOrAbort) => write!(f, "compute(+1 | abort)"),
            Call::Compute(ComputeKind::RemoveOrInsert(c)) => {
                write!(f, "compute(remove | insert {})", Val(c))
            }
            Call::Compute(ComputeKind::InsertIfAbsent(c)) => {
                write!(f, "compute(abort | insert {})", Val(c))
            }
            Call::Compute(ComputeKind::RemoveOrAbort) => write!(f, "compute(remove | abort)"),
            Call::RemoveIfEven => write!(f, "remove_if(even)"),
            Call::Ttl => write!(f, "ttl"),
            Call::SetTtl(t) => write!(f, "set_ttl({})", ttl_arg(t)),
            Call::Persist => write!(f, "persist"),
        }
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Ret::Value(v) => write!(f, "{}", opt(v)),
            Ret::Bool(b) => write!(f, "{b}"),
            Ret::One(v) => write!(f, "{}", Val(v)),
            Ret::TryInsert(Ok(v)) => write!(f, "Ok({})", Val(v)),
            Ret::TryInsert(Err(v)) => write!(f, "Err(current {})", Val(v)),
            Ret::Compute(ComputeOut::Inserted(v)) => write!(f, "Inserted({})", Val(v)),
            Ret::Compute(ComputeOut::Updated(a, b)) => {
                write!(f, "Updated({} -> {})", Val(a), Val(b))
            }
            Ret::Compute(ComputeOut::Removed(v)) => write!(f, "Removed({})", Val(v)),
            Ret::Compute(ComputeOut::Aborted) => write!(f, "Aborted"),
            Ret::RemoveIf(Ok(v)) => write!(f, "Ok({})", opt(v)),
            Ret::RemoveIf(Err(v)) => write!(f, "Err(kept {})", Val(v)),
            Ret::Ttl(None) => write!(f, "None"),
            Ret::Ttl(Some(Expiry::Never)) => write!(f, "Some(Never)"),
            Ret::Ttl(Some(Expiry::In(d))) => {
                write!(f, "Some(In {})", Time(d.as_nanos() as u64))
            }
        }
    }
}
