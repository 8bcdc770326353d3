//! Criterion micro-benches: single operations at 1K and 1M u64 keys, ttlmap against papaya
//! and `Mutex<HashMap>` (insert_with_ttl: ttlmap against moka), all with
//! `foldhash::fast::RandomState`.
//!
//! `cargo bench -p ttlmap-bench --bench micro` (add `-- --test` for a one-iteration check).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use ttlmap_bench::adapters::{
    for_each_ttl_map, BenchMap, MapVisitor, MutexMap, Papaya, TtlMap, TtlSubject, TtlVisitor,
};

const SIZES: [(&str, u64); 2] = [("1K", 1_000), ("1M", 1_000_000)];

/// TTL long enough that nothing expires while measuring.
const LONG: Duration = Duration::from_secs(3600);

/// Distinct, scattered keys; `key(i)` for `i < n` are the ones a map of size `n` holds.
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn prefilled<M: BenchMap>(n: u64) -> M {
    let m = M::with_capacity(n as usize);
    (0..n).for_each(|i| {
        m.insert(key(i), i);
    });
    m
}

/// Times `iters` operations `op(map, i)` on maps from `setup`, using a fresh map for each
/// run of `n` operations (setup and drop are not timed).
fn batched<T>(iters: u64, n: u64, setup: impl Fn() -> T, op: impl Fn(&T, u64)) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let map = setup();
        let len = n.min(iters - done);
        let start = Instant::now();
        (0..len).for_each(|i| op(&map, i));
        total += start.elapsed();
        drop(map);
        done += len;
    }
    total
}

/// Cycles through `0..n`.
struct Cycle(u64, u64);

impl Cycle {
    fn next(&mut self) -> u64 {
        self.0 = if self.0 + 1 == self.1 { 0 } else { self.0 + 1 };
        self.0
    }
}

#[derive(Clone, Copy)]
enum Op {
    GetHit,
    GetMiss,
    Insert,
    Remove,
    Update,
}

impl Op {
    const ALL: [(Op, &'static str); 5] = [
        (Op::GetHit, "get_hit"),
        (Op::GetMiss, "get_miss"),
        (Op::Insert, "insert"),
        (Op::Remove, "remove"),
        (Op::Update, "update"),
    ];
}

/// Benchmarks one operation at one size for each visited map.
struct Run<'a, 'c> {
    group: &'a mut BenchmarkGroup<'c, WallTime>,
    op: Op,
    size: (&'static str, u64),
}

impl MapVisitor for Run<'_, '_> {
    fn visit<M: BenchMap>(&mut self) {
        let (label, n) = self.size;
        let op = self.op;
        self.group
            .bench_function(BenchmarkId::new(M::NAME, label), |b| match op {
                Op::GetHit | Op::GetMiss | Op::Update => {
                    let map = prefilled::<M>(n);
                    let mut i = Cycle(0, n);
                    // Misses look up keys n..2n, never inserted.
                    let offset = if matches!(op, Op::GetMiss) { n } else { 0 };
                    b.iter(|| {
                        let k = key(i.next() + offset);
                        if matches!(op, Op::Update) {
                            black_box(map.update(black_box(&k)))
                        } else {
                            black_box(map.get(black_box(&k)))
                        }
                    });
                }
                // New keys into a map presized for n (it holds < n keys while timed).
                Op::Insert => b.iter_custom(|iters| {
                    batched(
                        iters,
                        n,
                        || M::with_capacity(n as usize),
                        |m, i| {
                            black_box(m.insert(key(i), i));
                        },
                    )
                }),
                // Present keys out of a map holding n (it holds > 0 keys while timed).
                // Always whole batches of n removes, scaled to the iterations asked for:
                // the first removes out of a freshly built map are not representative,
                // and with a slow setup criterion would otherwise time only a few dozen.
                Op::Remove => b.iter_custom(|iters| {
                    let batches = iters.div_ceil(n);
                    let total = batched(
                        batches * n,
                        n,
                        || prefilled::<M>(n),
                        |m, i| {
                            black_box(m.remove(&key(i)));
                        },
                    );
                    total.mul_f64(iters as f64 / (batches * n) as f64)
                }),
            });
    }
}

/// insert_with_ttl of new keys for each TTL map.
struct TtlRun<'a, 'c> {
    group: &'a mut BenchmarkGroup<'c, WallTime>,
    size: (&'static str, u64),
}

impl TtlVisitor for TtlRun<'_, '_> {
    fn visit<T: TtlSubject>(&mut self) {
        let (label, n) = self.size;
        self.group
            .bench_function(BenchmarkId::new(T::NAME, label), |b| {
                b.iter_custom(|iters| {
                    batched(
                        iters,
                        n,
                        || T::build(n as usize, LONG),
                        |m, i| {
                            m.insert_ttl(key(i), i, LONG);
                        },
                    )
                })
            });
    }
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, n: u64) {
    if n >= 1_000_000 {
        // Setting up a 1M map per batch is slow; fewer, longer samples.
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
    }
}

fn micro(c: &mut Criterion) {
    for (op, name) in Op::ALL {
        let mut group = c.benchmark_group(name);
        for size in SIZES {
            configure(&mut group, size.1);
            let mut run = Run {
                group: &mut group,
                op,
                size,
            };
            run.visit::<TtlMap>();
            run.visit::<Papaya>();
            run.visit::<MutexMap>();
        }
        group.finish();
    }
    let mut group = c.benchmark_group("insert_with_ttl");
    for size in SIZES {
        configure(&mut group, size.1);
        for_each_ttl_map(&mut TtlRun {
            group: &mut group,
            size,
        });
    }
    group.finish();
}

criterion_group!(benches, micro);
criterion_main!(benches);
