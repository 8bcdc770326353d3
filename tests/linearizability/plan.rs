//! The plans: which thread makes which call on which key, round by round, drawn from
//! a seeded generator.

use super::harness::{Config, CLOCK_STEP, MAX_OPS_PER_KEY};
use super::model::{tag, Call, ComputeKind, Fun, TTL_FOREVER};

/// A small xorshift generator (the plans are reproducible from the seed; the
/// interleavings are not).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }
}

/// One planned step of a worker: a pause (spin iterations), then an action.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub pause: u32,
    pub action: Action,
}

#[derive(Clone, Copy, Debug)]
pub enum Action {
    /// A recorded operation.
    Call { key: u64, call: Call },
    /// Advance the clock by [`CLOCK_STEP`], then maybe `purge_expired` (not recorded:
    /// the model allows for both, see the module docs).
    Tick { purge: bool },
}

/// TTLs (in ticks) for `insert_with_ttl`: half steps, whole steps, zero and `MAX`.
fn random_ttl(rng: &mut Rng) -> u64 {
    let s = CLOCK_STEP;
    rng.pick(&[0, s / 2, s, s, 3 * s / 2, 2 * s, 2 * s, 3 * s, TTL_FOREVER])
}

/// TTLs (in ticks) for `set_ttl`: never zero, and if not `short`, longer than a round
/// lasts on the clock (known bugs, see `Mix::Everything`).
fn random_refresh_ttl(rng: &mut Rng, short: bool) -> u64 {
    let s = CLOCK_STEP;
    if short {
        rng.pick(&[s / 2, s, s, 3 * s / 2, 2 * s, 2 * s, 3 * s, TTL_FOREVER])
    } else {
        rng.pick(&[4 * s, 5 * s, 6 * s, TTL_FOREVER])
    }
}

/// Which operations a plan draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// Every operation (the TTL ones only with a clock), leaving the refresh races to
    /// the dedicated mixes below (the bugs they pinned are fixed): no `set_ttl(ZERO)`; in each round the
    /// refreshes (`set_ttl`, `persist`) go only to keys that get no write that round,
    /// and `set_ttl` only sets TTLs longer than the clock moves in a round (so that no
    /// sweep races it); and `ttl` is called only by the closing reads.
    Everything,
    /// Refreshes (`set_ttl` with short TTLs, `ZERO` among them if `zero`, and `persist`)
    /// racing writes, and reads.
    RefreshesVsWrites { zero: bool },
    /// `set_ttl` with TTLs that outlast the round racing `insert`, `insert_with_ttl`,
    /// `try_insert` and `remove` (which, unlike `update` and friends, carry no refresh
    /// over), and reads.
    SetTtlVsWrites,
    /// `ttl` and `get` racing refreshes to TTLs that expire within the round (1 ns, half
    /// a step, a step), and the sweeps that then unlink the entry; no writes (use with
    /// `refill`).
    TtlVsRefreshes,
}

/// What one key may get in one round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Draw {
    /// Reads and writes, with TTLs if the map has a clock, but no refresh.
    Writes { with_ttl: bool },
    /// Reads and refreshes.
    Refreshes,
    /// `Mix::RefreshesVsWrites`.
    RefreshesVsWrites { zero: bool },
    /// `Mix::SetTtlVsWrites`.
    SetTtlVsWrites,
    /// `Mix::TtlVsRefreshes`.
    TtlVsRefreshes,
}

/// A random call; values written are fresh tags of `thread`.
fn random_call(rng: &mut Rng, thread: usize, seq: &mut u64, draw: Draw) -> Call {
    let mut fresh = || {
        *seq += 1;
        tag(thread, *seq)
    };
    let kinds = match draw {
        Draw::Refreshes => {
            return match rng.below(5) {
                0 => Call::Get,
                1 => Call::ContainsKey,
                2 => Call::Persist,
                _ => Call::SetTtl(random_refresh_ttl(rng, false)),
            }
        }
        Draw::RefreshesVsWrites { zero } => {
            return match rng.below(12) {
                0..=1 if zero => Call::SetTtl(0),
                0..=1 => Call::SetTtl(random_refresh_ttl(rng, true)),
                2..=3 => Call::Persist,
                4 => Call::Insert(fresh()),
                5..=6 => Call::Update(Fun::Incr),
                7 => Call::UpdateOrInsert(Fun::Incr, fresh()),
                8 => Call::Compute(ComputeKind::IncrOrAbort),
                9 => Call::RemoveIfEven,
                10 => Call::Ttl,
                _ => Call::Get,
            }
        }
        Draw::SetTtlVsWrites => {
            return match rng.below(8) {
                0..=2 => Call::SetTtl(random_refresh_ttl(rng, false)),
                3 => Call::Insert(fresh()),
                4 => Call::InsertWithTtl(fresh(), random_ttl(rng)),
                5 => Call::TryInsert(fresh()),
                6 => Call::Remove,
                _ => Call::Get,
            }
        }
        Draw::TtlVsRefreshes => {
            return match rng.below(7) {
                0..=2 => Call::Ttl,
                3..=4 => Call::SetTtl(rng.pick(&[1, CLOCK_STEP / 2, CLOCK_STEP])),
                5 => Call::Persist,
                _ => Call::Get,
            }
        }
        Draw::Writes { with_ttl: false } => 21,
        Draw::Writes { with_ttl: true } => 23,
    };
    match rng.below(kinds) {
        0..=2 => Call::Get,
        3 => Call::ContainsKey,
        4..=6 => Call::Insert(fresh()),
        7..=8 => Call::Remove,
        9 => Call::TryInsert(fresh()),
        10 => Call::GetOrInsert(fresh()),
        11 => Call::GetOrInsertWith(fresh()),
        12..=13 => Call::Update(Fun::Incr),
        14 => Call::Update(Fun::Set(fresh())),
        15 => Call::UpdateOrInsert(Fun::Incr, fresh()),
        16 => Call::UpdateOrInsert(Fun::Set(fresh()), fresh()),
        17 => Call::Compute(ComputeKind::IncrOrAbort),
        18 => Call::Compute(match rng.below(3) {
            0 => ComputeKind::RemoveOrInsert(fresh()),
            1 => ComputeKind::InsertIfAbsent(fresh()),
            _ => ComputeKind::RemoveOrAbort,
        }),
        19..=20 => Call::RemoveIfEven,
        _ => Call::InsertWithTtl(fresh(), random_ttl(rng)),
    }
}

/// The plans of one map: `[round][thread]`, each key's ops per round capped so that its
/// history, closing reads included, stays within [`MAX_OPS_PER_KEY`].
pub fn plan(cfg: &Config, rng: &mut Rng) -> Vec<Vec<Vec<Step>>> {
    let cap = MAX_OPS_PER_KEY - cfg.main_ops();
    let mut seqs = vec![0u64; cfg.threads];
    (0..cfg.rounds)
        .map(|_| {
            let mut per_key = vec![0usize; cfg.keys as usize];
            // Half the ops of a round go to one hot key, so that threads meet on it.
            let hot = rng.below(cfg.keys);
            let draws: Vec<Draw> = (0..cfg.keys)
                .map(|_| match (cfg.mix, cfg.ttl.is_some()) {
                    (Mix::RefreshesVsWrites { zero }, _) => Draw::RefreshesVsWrites { zero },
                    (Mix::SetTtlVsWrites, _) => Draw::SetTtlVsWrites,
                    (Mix::TtlVsRefreshes, _) => Draw::TtlVsRefreshes,
                    (Mix::Everything, true) if rng.below(2) == 0 => Draw::Refreshes,
                    (Mix::Everything, with_ttl) => Draw::Writes { with_ttl },
                })
                .collect();
            (0..cfg.threads)
                .map(|t| {
                    let mut steps = Vec::new();
                    for _ in 0..cfg.ops_per_thread {
                        let open: Vec<u64> = (0..cfg.keys)
                            .filter(|&k| per_key[k as usize] < cap)
                            .collect();
                        if open.is_empty() {
                            break;
                        }
                        let key = if open.contains(&hot) && rng.below(2) == 0 {
                            hot
                        } else {
                            rng.pick(&open)
                        };
                        per_key[key as usize] += 1;
                        let pause = if rng.below(4) == 0 {
                            rng.below(16) as u32
                        } else {
                            0
                        };
                        let call = random_call(rng, t, &mut seqs[t], draws[key as usize]);
                        steps.push(Step {
                            pause,
                            action: Action::Call { key, call },
                        });
                    }
                    if let (0, Some(ttl)) = (t, cfg.ttl) {
                        for _ in 0..1 + rng.below(ttl.max_advances) {
                            let at = rng.below(steps.len() as u64 + 1) as usize;
                            let purge = rng.below(4) == 0;
                            steps.insert(
                                at,
                                Step {
                                    pause: 0,
                                    action: Action::Tick { purge },
                                },
                            );
                        }
                    }
                    steps
                })
                .collect()
        })
        .collect()
}
