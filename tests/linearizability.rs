//! Linearizability of every single-key operation, checked on recorded concurrent
//! histories rather than on two-operation loom models.
//!
//! # What is recorded
//! Worker threads (2–4) run planned random operations on a `HashMap<u64, u64>` with a
//! small key space (2–8 keys, half of a round's operations on one hot key; one hasher
//! puts every key in one bucket chain, in pairs of equal hashes) in many short
//! *rounds* (`harness.rs`, plans in `plan.rs`). A round starts at a spinning barrier,
//! so that the workers leave it together and really overlap, and ends at one, after
//! which the main thread reads every key (`get`, and `ttl` when there is a clock) while
//! nothing else runs. With a clock, worker 0 also advances it a few times a round,
//! between its operations, and sometimes calls `purge_expired`.
//!
//! For each operation the worker logs its thread, the call with its arguments, the
//! result, and two ticks of one shared `AtomicU64` counter (`fetch_add`, SeqCst) taken
//! immediately before the call and immediately after it returned: the operation took
//! effect somewhere between them, so an operation whose response tick is below
//! another's invocation tick must be ordered before it. Values name their writer
//! (`(thread + 1) << 48 | seq << 16`, increments in the low bits), so a lost update or a
//! value nobody wrote cannot pass for a legal one.
//!
//! # What is checked
//! Linearizability is local (Herlihy & Wing 1990, Thm. 1): a history is linearizable iff
//! its restriction to every object is. Every key is an object of its own here, so each
//! key's operations are checked separately (porcupine's P-compositionality), which keeps
//! each search small. Rounds are separated in real time by the barriers, so a round's
//! history on a key is checked from the state the main thread read at the end of the
//! previous round, and those closing reads are themselves the last operations of the
//! round's history, so the state carried over is the one every linearization of the
//! round ends in. (They read a live entry's value and its remaining time at a clock
//! that does not move between rounds; an entry expired by then is as good as absent to
//! every later operation, since the clock never goes back.) A per-key history holds at
//! most [`harness::MAX_OPS_PER_KEY`] operations.
//!
//! The checker ([`checker::check`]) is the Wing & Gong (1993) search with Lowe's (2017)
//! memoisation: depth-first, it picks any operation that may be linearized next (one
//! invoked before every other remaining operation returned), applies it to the
//! sequential model if the model produces the recorded result, recurses, and backtracks;
//! a pair (set of linearized operations, model state) that failed once is not explored
//! again. With at most one pending operation per thread the branching is at most the
//! thread count, and a history of 24 operations costs a few dozen search steps (each
//! test prints the largest). On failure it prints the key's history as a timeline, the
//! longest linearizable prefix it found and what the model expected of each operation
//! that could have come next.
//!
//! # The model, and time
//! The sequential specification ([`model::Spec::apply`]) is a function of the key's
//! state (absent, or a value with a deadline), the call, and the clock reading `now`
//! the operation decided expiry with: a value is live iff `now < deadline`. The map
//! reads its clock at most once per operation, lazily, somewhere inside the call, so the
//! tests read the `ManualClock` themselves right before and right after each call and
//! the model accepts any reading in that interval. One thread advances the clock by a
//! fixed step ([`CLOCK_STEP`]), so the candidate readings are the few multiples of the
//! step in the interval, and TTLs are mostly multiples of half a step, so deadlines land
//! both on and between clock values.
//!
//! Two facts shape the model; each comes from a correct execution it must accept.
//! - *The readings of successive operations need not increase along the linearization.*
//!   An `insert_with_ttl` may read the clock at 5, be overtaken by a `get` that reads 10
//!   and sees the old value, then install its value with deadline `5 + ttl`. Forcing
//!   monotone readings would reject that (the insert would have to read ≥ 10), so each
//!   operation picks its reading independently from its own interval.
//! - *An entry whose deadline the clock has reached may be unlinked at any moment* by a
//!   sweep that another key's write runs, or by `purge_expired`, neither of which is in
//!   this key's history. After that even an operation whose own (earlier) reading is
//!   below the deadline finds the key absent. So before any operation the model may drop
//!   an entry whose deadline is at most the clock read *after* that operation: a sweep
//!   that happened before the operation took effect read a clock at least that
//!   deadline, and the test's later reading is at least that.
//!
//! Both rules are needed: without either, the checker rejects histories of the map that
//! are linearizable (seen in these tests: an `update_or_insert` read the clock before
//! the old entry's deadline, found the entry already swept, and inserted with a deadline
//! computed from that early reading).
//!
//! What the model still pins down, and the tests check: every result of every call, the
//! value and deadline a write leaves (observed by later `ttl`/`get`), that an entry is
//! live for every operation that ran wholly before its deadline and absent for every
//! operation that started at or after it, that no entry disappears before its deadline
//! (nothing may drop it then), and that a successful `set_ttl`/`persist` is never lost
//! to an expiry. What it cannot see: *which* clock reading inside an interval an
//! operation used, nor when exactly a sweep ran.
//!
//! # Showing that the checker can fail
//! Unit tests feed it hand-written histories, linearizable and not. The `broken_*` tests
//! run the same harness on adapters that implement one operation non-atomically (a
//! `get` then a write), and assert that the checker finds the violation.
//!
//! # Refreshes
//! The checker found races of refreshes (`set_ttl`, `persist`) with writes of the same
//! key and with expiry, and of `ttl` with both (issue #10, fixed); the regression tests
//! `*_racing_*_is_linearizable` run those mixes. The broad plans (`Mix::Everything`)
//! still send refreshes in each round only to keys that get no write that round, with
//! TTLs that outlast the round, and call `ttl` only in the closing reads: the dedicated
//! mixes cover the rest.
//!
//! # How much they overlap
//! A test can only catch a race its threads run into. Each run prints the share of
//! operations whose call overlapped another thread's call on the same key; it depends
//! on how many CPUs are free (on a busy 2-CPU machine the threads often share one, and
//! whole runs show 0 %). The broken adapters yield inside their window, so that they
//! are caught on one CPU too.

#[path = "linearizability/checker.rs"]
mod checker;
#[path = "linearizability/harness.rs"]
mod harness;
#[path = "linearizability/model.rs"]
mod model;
#[path = "linearizability/plan.rs"]
mod plan;

use std::time::Duration;

use checker::{check, History, Op};
use harness::{assert_caught, assert_linearizable, Broken, Config, Hashing, Ttls, CLOCK_STEP};
use model::{Call, ComputeKind, ComputeOut, Entry, Fun, Ret, Spec, State, MS, NEVER};
use plan::Mix;
use ttlmap::Expiry;

// ---------------------------------------------------------------------------------------
// The map's histories
// ---------------------------------------------------------------------------------------

const NO_TTL: Config = Config {
    name: "no TTL, default hasher",
    threads: 3,
    keys: 6,
    ops_per_thread: 20,
    maps: 32,
    rounds: 250,
    hashing: Hashing::Default,
    ttl: None,
    mix: Mix::Everything,
    refill: false,
    broken: Broken::Nothing,
    seed: 1,
};

const COLLIDING: Config = Config {
    name: "no TTL, keys in one chain and in shared runs",
    threads: 4,
    keys: 8,
    ops_per_thread: 16,
    hashing: Hashing::Colliding,
    seed: 2,
    ..NO_TTL
};

const TTL: Config = Config {
    name: "TTLs, moving clock",
    threads: 3,
    keys: 4,
    ops_per_thread: 16,
    ttl: Some(Ttls {
        default_ttl: None,
        max_advances: 3,
    }),
    seed: 3,
    ..NO_TTL
};

const DEFAULT_TTL: Config = Config {
    name: "TTLs and a default TTL, moving clock, keys in shared runs",
    threads: 2,
    keys: 4,
    ops_per_thread: 20,
    hashing: Hashing::Colliding,
    ttl: Some(Ttls {
        default_ttl: Some(2 * CLOCK_STEP),
        max_advances: 3,
    }),
    seed: 4,
    ..NO_TTL
};

/// Refreshes against writes, where no known bug is: see `Mix::SetTtlVsWrites`.
const SET_TTL_VS_WRITES: Config = Config {
    name: "set_ttl against inserts and removes",
    threads: 3,
    keys: 2,
    ops_per_thread: 12,
    mix: Mix::SetTtlVsWrites,
    seed: 8,
    ..TTL
};

#[test]
fn single_key_ops_are_linearizable() {
    assert_linearizable(&NO_TTL);
}

#[test]
fn single_key_ops_are_linearizable_on_colliding_keys() {
    assert_linearizable(&COLLIDING);
}

#[test]
fn ttl_ops_are_linearizable_under_a_moving_clock() {
    assert_linearizable(&TTL);
}

#[test]
fn ttl_ops_are_linearizable_with_a_default_ttl() {
    assert_linearizable(&DEFAULT_TTL);
}

#[test]
fn set_ttl_racing_inserts_and_removes_is_linearizable() {
    assert_linearizable(&SET_TTL_VS_WRITES);
}

/// The configurations above, with 10 times the maps.
#[test]
#[ignore = "long: run with --ignored"]
fn long_linearizability_soak() {
    for cfg in [NO_TTL, COLLIDING, TTL, DEFAULT_TTL, SET_TTL_VS_WRITES] {
        assert_linearizable(&Config {
            maps: cfg.maps * 10,
            seed: cfg.seed + 100,
            ..cfg
        });
    }
}

// ---------------------------------------------------------------------------------------
// Regressions: refreshes racing writes and expiry (issue #10)
// ---------------------------------------------------------------------------------------

/// Regression: a `set_ttl(k, Duration::ZERO)` that returned `true` was undone by a write
/// racing it. `update` (and `update_or_insert`, `compute`) gave its new cell the
/// deadline it had read *before* its CAS of `val` and carried a refresh over afterwards,
/// except an `EXPIRED` one, which is what a zero TTL stores, so the expiry was dropped;
/// `insert` judged the old value live, then CASed `val`, which a change of the deadline
/// did not disturb, and reported the expired value as the previous live one. Every
/// change of an entry is now decided by a CAS on the current cell's deadline word, the
/// word a refresh CASes too.
#[test]
fn set_ttl_zero_racing_a_write_is_linearizable() {
    assert_linearizable(&Config {
        name: "set_ttl(ZERO) against writes",
        threads: 2,
        keys: 2,
        maps: 20,
        mix: Mix::RefreshesVsWrites { zero: true },
        seed: 5,
        ..TTL
    });
}

/// Regression: a refresh (`set_ttl` with a positive TTL, `persist`) racing an `update`
/// was carried over to the update's new cell only after that cell was published, so in
/// between the new cell showed the old deadline, and if a second update replaced it
/// first, the refresh was lost for good.
#[test]
fn refresh_racing_a_write_is_linearizable() {
    assert_linearizable(&Config {
        name: "set_ttl and persist against writes",
        threads: 2,
        keys: 2,
        maps: 40,
        mix: Mix::RefreshesVsWrites { zero: false },
        seed: 6,
        ..TTL
    });
}

/// Regression: refreshes racing expiry, with no write of the key at all (the main
/// thread writes each key before the round; the workers only read and refresh, and
/// worker 0 moves the clock and purges). `set_ttl` made its change before checking that
/// its cell was still current and never undid it (so it could report `false` after its
/// own change expired the entry, or apply twice); `ttl` loaded the deadline twice, and
/// read the clock again for the time left, so it could report `Some(In(0))` for an entry
/// it had found live.
#[test]
fn refresh_and_ttl_racing_expiry_is_linearizable() {
    assert_linearizable(&Config {
        name: "ttl and refreshes against expiry",
        threads: 2,
        keys: 1,
        ops_per_thread: 11,
        maps: 64,
        ttl: Some(Ttls {
            default_ttl: None,
            max_advances: 8,
        }),
        mix: Mix::TtlVsRefreshes,
        refill: true,
        seed: 7,
        ..TTL
    });
}

// ---------------------------------------------------------------------------------------
// The checker catches broken implementations
// ---------------------------------------------------------------------------------------

#[test]
fn broken_non_atomic_update_is_caught() {
    assert_caught(&Config {
        name: "broken update",
        broken: Broken::Update,
        keys: 2,
        maps: 1,
        rounds: 300,
        ..NO_TTL
    });
}

#[test]
fn broken_non_atomic_remove_is_caught() {
    assert_caught(&Config {
        name: "broken remove",
        broken: Broken::Remove,
        keys: 2,
        maps: 1,
        rounds: 300,
        ..NO_TTL
    });
}

#[test]
fn broken_non_atomic_set_ttl_is_caught() {
    assert_caught(&Config {
        name: "broken set_ttl",
        broken: Broken::SetTtl,
        maps: 1,
        rounds: 300,
        ..SET_TTL_VS_WRITES
    });
}

// ---------------------------------------------------------------------------------------
// The checker on hand-written histories
// ---------------------------------------------------------------------------------------

/// Values for hand-written histories.
const A: u64 = 1 << 48 | 1 << 16; // t0.1
const B: u64 = 2 << 48 | 1 << 16; // t1.1

/// An op of a hand-written history, with a clock that does not move.
fn op(thread: usize, (inv, res): (u64, u64), call: Call, ret: Ret) -> Op {
    timed(thread, (inv, res), (0, 0), call, ret)
}

/// An op with the clock readings (in ms) around it.
fn timed(thread: usize, (inv, res): (u64, u64), (c0, c1): (u64, u64), call: Call, ret: Ret) -> Op {
    Op {
        thread,
        call,
        ret,
        inv,
        res,
        clock: (c0 * MS, c1 * MS),
    }
}

fn linearizable(spec: Spec, init: State, ops: Vec<Op>) -> bool {
    check(
        &spec,
        History {
            label: "hand-written".into(),
            init,
            ops,
        },
    )
    .is_ok()
}

fn value(v: u64) -> State {
    Some(Entry {
        value: v,
        deadline: NEVER,
    })
}

/// `value` with a deadline at `ms` milliseconds.
fn until(v: u64, ms: u64) -> State {
    Some(Entry {
        value: v,
        deadline: ms * MS,
    })
}

const TIMED: Spec = Spec {
    default_ttl: None,
    clock_step: MS,
};

#[test]
fn checker_accepts_a_sequential_history() {
    let ops = vec![
        op(0, (0, 1), Call::Insert(A), Ret::Value(None)),
        op(1, (2, 3), Call::Get, Ret::Value(Some(A))),
        op(0, (4, 5), Call::Update(Fun::Incr), Ret::Value(Some(A + 1))),
        op(1, (6, 7), Call::TryInsert(B), Ret::TryInsert(Err(A + 1))),
        op(1, (8, 9), Call::RemoveIfEven, Ret::RemoveIf(Err(A + 1))),
        op(0, (10, 11), Call::Remove, Ret::Value(Some(A + 1))),
        op(1, (12, 13), Call::ContainsKey, Ret::Bool(false)),
    ];
    assert!(linearizable(Spec::TIMELESS, None, ops));
}

#[test]
fn checker_accepts_a_read_overlapping_a_write_either_way() {
    for seen in [None, Some(A)] {
        let ops = vec![
            op(0, (0, 3), Call::Insert(A), Ret::Value(None)),
            op(1, (1, 2), Call::Get, Ret::Value(seen)),
        ];
        assert!(linearizable(Spec::TIMELESS, None, ops), "get saw {seen:?}");
    }
}

#[test]
fn checker_rejects_a_value_never_written() {
    let ops = vec![
        op(0, (0, 1), Call::Insert(A), Ret::Value(None)),
        op(1, (2, 3), Call::Get, Ret::Value(Some(B))),
    ];
    assert!(!linearizable(Spec::TIMELESS, None, ops));
}

#[test]
fn checker_rejects_a_stale_read_after_a_completed_write() {
    let history = |read: (u64, u64)| {
        vec![
            op(0, (0, 1), Call::Insert(A), Ret::Value(None)),
            op(0, (2, 5), Call::Insert(B), Ret::Value(Some(A))),
            op(1, read, Call::Get, Ret::Value(Some(A))),
        ]
    };
    assert!(!linearizable(Spec::TIMELESS, None, history((6, 7))));
    // The same read overlapping the second write may still see the first value.
    assert!(linearizable(Spec::TIMELESS, None, history((4, 7))));
}

#[test]
fn checker_rejects_a_read_that_precedes_the_write_it_saw() {
    let history = |write: (u64, u64)| {
        vec![
            op(1, (0, 1), Call::Get, Ret::Value(Some(A))),
            op(0, write, Call::Insert(A), Ret::Value(None)),
        ]
    };
    assert!(!linearizable(Spec::TIMELESS, None, history((2, 3))));
    assert!(linearizable(Spec::TIMELESS, None, history((0, 3))));
}

#[test]
fn checker_rejects_two_removes_of_one_value() {
    let history = |second: Option<u64>| {
        vec![
            op(0, (0, 3), Call::Remove, Ret::Value(Some(A))),
            op(1, (1, 2), Call::Remove, Ret::Value(second)),
        ]
    };
    assert!(!linearizable(Spec::TIMELESS, value(A), history(Some(A))));
    assert!(linearizable(Spec::TIMELESS, value(A), history(None)));
}

#[test]
fn checker_rejects_a_lost_increment() {
    let history = |second: u64| {
        vec![
            op(0, (0, 3), Call::Update(Fun::Incr), Ret::Value(Some(A + 1))),
            op(
                1,
                (1, 4),
                Call::UpdateOrInsert(Fun::Incr, B),
                Ret::One(second),
            ),
            op(2, (5, 6), Call::Get, Ret::Value(Some(A + 2))),
        ]
    };
    assert!(!linearizable(Spec::TIMELESS, value(A), history(A + 1)));
    assert!(linearizable(Spec::TIMELESS, value(A), history(A + 2)));
}

#[test]
fn checker_rejects_two_winners_of_get_or_insert() {
    let history = |second: u64| {
        vec![
            op(0, (0, 3), Call::GetOrInsert(A), Ret::One(A)),
            op(1, (1, 4), Call::Compute(ComputeKind::InsertIfAbsent(B)), {
                Ret::Compute(if second == B {
                    ComputeOut::Inserted(B)
                } else {
                    ComputeOut::Aborted
                })
            }),
        ]
    };
    assert!(!linearizable(Spec::TIMELESS, None, history(B)));
    assert!(linearizable(Spec::TIMELESS, None, history(A)));
}

#[test]
fn checker_rejects_expiry_before_the_deadline() {
    // Live until 2ms: a read that ran wholly at 1ms must see it, one at 1..2ms need not.
    let read = |clock, seen| vec![timed(0, (0, 1), clock, Call::Get, Ret::Value(seen))];
    assert!(!linearizable(TIMED, until(A, 2), read((1, 1), None)));
    assert!(linearizable(TIMED, until(A, 2), read((1, 2), None)));
    assert!(linearizable(TIMED, until(A, 2), read((1, 1), Some(A))));
}

#[test]
fn checker_rejects_a_read_at_or_after_the_deadline() {
    let read = |clock, seen| vec![timed(0, (0, 1), clock, Call::Get, Ret::Value(seen))];
    assert!(!linearizable(TIMED, until(A, 2), read((2, 2), Some(A))));
    assert!(!linearizable(TIMED, until(A, 2), read((2, 3), Some(A))));
    assert!(linearizable(TIMED, until(A, 2), read((1, 2), Some(A))));
}

#[test]
fn checker_rejects_a_wrong_remaining_ttl() {
    let ttl = |clock, ms| {
        vec![
            timed(
                0,
                (0, 1),
                (0, 0),
                Call::InsertWithTtl(A, 3 * MS),
                Ret::Value(None),
            ),
            timed(
                1,
                (2, 3),
                clock,
                Call::Ttl,
                Ret::Ttl(Some(Expiry::In(Duration::from_millis(ms)))),
            ),
        ]
    };
    assert!(linearizable(TIMED, None, ttl((1, 1), 2)));
    assert!(!linearizable(TIMED, None, ttl((1, 1), 3)));
    assert!(linearizable(TIMED, None, ttl((1, 2), 1)));
}

#[test]
fn checker_allows_an_expired_entry_to_be_swept_only_after_its_deadline() {
    // Live until 2ms. An insert that read the clock at 1ms found the key absent and
    // wrote a deadline of 1 + 2 = 3ms (ttl at 2ms: 1ms left): possible only if a sweep
    // unlinked the entry first, which needs the clock at 2ms by the insert's end.
    let history = |insert_clock| {
        vec![
            timed(
                0,
                (0, 1),
                insert_clock,
                Call::InsertWithTtl(B, 2 * MS),
                Ret::Value(None),
            ),
            timed(
                1,
                (2, 3),
                (2, 2),
                Call::Ttl,
                Ret::Ttl(Some(Expiry::In(Duration::from_millis(1)))),
            ),
        ]
    };
    assert!(linearizable(TIMED, until(A, 2), history((1, 2))));
    assert!(!linearizable(TIMED, until(A, 2), history((1, 1))));
}

#[test]
fn checker_rejects_a_lost_refresh() {
    let history = |refreshed| {
        vec![
            timed(
                0,
                (0, 1),
                (0, 0),
                Call::SetTtl(3 * MS),
                Ret::Bool(refreshed),
            ),
            timed(1, (2, 3), (2, 2), Call::Get, Ret::Value(None)),
        ]
    };
    assert!(!linearizable(TIMED, until(A, 1), history(true)));
    assert!(!linearizable(TIMED, until(A, 1), history(false)));
    // A refresh that found the entry expired (its reading at 1ms) loses, and may say so.
    let late = vec![
        timed(0, (0, 1), (0, 1), Call::SetTtl(3 * MS), Ret::Bool(false)),
        timed(1, (2, 3), (2, 2), Call::Get, Ret::Value(None)),
    ];
    assert!(linearizable(TIMED, until(A, 1), late));
}

#[test]
fn checker_applies_the_default_ttl() {
    let spec = Spec {
        default_ttl: Some(2 * MS),
        ..TIMED
    };
    let history = |seen| {
        vec![
            timed(0, (0, 1), (0, 0), Call::Insert(A), Ret::Value(None)),
            timed(
                0,
                (2, 3),
                (0, 0),
                Call::Update(Fun::Incr),
                Ret::Value(Some(A + 1)),
            ),
            timed(1, (4, 5), (2, 2), Call::Get, Ret::Value(seen)),
        ]
    };
    assert!(linearizable(spec, None, history(None)));
    assert!(!linearizable(spec, None, history(Some(A + 1))));
}

#[test]
fn violation_report_shows_the_history_and_the_stuck_ops() {
    let ops = vec![
        op(0, (0, 1), Call::Insert(A), Ret::Value(None)),
        op(1, (2, 5), Call::Remove, Ret::Value(Some(A))),
        op(2, (3, 4), Call::Get, Ret::Value(Some(B))),
    ];
    let v = check(
        &Spec::TIMELESS,
        History {
            label: "report".into(),
            init: None,
            ops,
        },
    )
    .unwrap_err();
    let report = v.to_string();
    eprintln!("{report}");
    assert_eq!(v.prefix, [0, 1], "{report}");
    for needle in [
        "NOT LINEARIZABLE: report",
        "#2  t2      []  get -> Some(t1.1)",
        "longest linearizable prefix (2 of 3 ops): #0 #1",
        "#2 get returned Some(t1.1), the model gives None",
    ] {
        assert!(report.contains(needle), "no {needle:?} in\n{report}");
    }
}
