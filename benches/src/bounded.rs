//! Throughput of the bounded caches: bustle's read_heavy and exchange mixes against a
//! cache bounded below the data set, so that inserts evict.
//!
//! bustle itself cannot run a cache: it asserts that every key it inserted and has not
//! removed is found, and an evicted key is not. So [`run_mix`] replays bustle 0.5's
//! `run_silently` without its assertions: the same key counts per thread, the same
//! shuffled 100-operation mix, the same LCG over each thread's keys for reads and
//! updates, inserts of fresh keys in order, removes of the oldest inserted keys, the
//! prefill before the clock starts and the cache dropped after it stops. Only the random
//! numbers differ (SplitMix64 instead of rand's SmallRng).

use std::sync::{Arc, Barrier};
use std::time::Instant;

use crate::adapters::{for_each_bounded_map, BoundedMap, BoundedVisitor};
use crate::hitratio::traces::Rng;
use crate::report::{count_label, num, ratio, Section, Table};
use crate::throughput::{MixSpec, MIXES};
use crate::{median, Config};

/// One operation of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Insert,
    Remove,
    Update,
}

/// The mixes of this section: read_heavy and exchange (rapid_grow only grows).
pub fn mixes() -> [&'static MixSpec; 2] {
    [&MIXES[0], &MIXES[1]]
}

/// The bound the caches get for `spec` at 2^`capacity_log2`: half of the prefill, the
/// entries in the map when the mix starts (the mixes keep that number about constant:
/// as many removes as inserts), so that the prefill already evicts and every insert of
/// the mix does.
pub fn bound(spec: &MixSpec, threads: usize, capacity_log2: u8) -> usize {
    (spec.prefill_per_thread(threads, capacity_log2) * threads / 2).max(1)
}

/// The shuffled mix of 100 operations.
fn op_mix(spec: &MixSpec, rng: &mut Rng) -> Vec<Op> {
    let m = spec.mix;
    assert_eq!(m.upsert, 0, "no upserts in the bounded mixes");
    let mut ops: Vec<Op> = [
        (Op::Read, m.read),
        (Op::Insert, m.insert),
        (Op::Remove, m.remove),
        (Op::Update, m.update),
    ]
    .iter()
    .flat_map(|&(op, n)| std::iter::repeat_n(op, usize::from(n)))
    .collect();
    assert_eq!(ops.len(), 100, "mix fractions must add up to 100 %");
    for i in (1..ops.len()).rev() {
        ops.swap(i, rng.below(i + 1));
    }
    ops
}

/// What one run of a mix measured.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// Million operations per second over the timed window.
    pub mops: f64,
    /// Entries in the cache after the mix.
    pub len_after: usize,
    /// Reads (`get`) that found their key.
    pub read_hits: u64,
    /// Reads made.
    pub reads: u64,
}

/// Runs `spec` once on a fresh `M` bounded to `max_capacity`, with bustle's sizes at
/// 2^`capacity_log2` (ops = capacity) on `threads` threads.
pub fn run_mix<M: BoundedMap>(
    spec: &MixSpec,
    threads: usize,
    capacity_log2: u8,
    max_capacity: usize,
    seed: u64,
) -> Run {
    let total_ops = 1usize << capacity_log2;
    let nkeys = spec.keys_per_thread(threads, capacity_log2);
    let prefill = spec.prefill_per_thread(threads, capacity_log2);
    assert!(nkeys.is_power_of_two() && nkeys > 4);
    let mut rng = Rng(seed);
    let ops = op_mix(spec, &mut rng);
    let keys: Vec<Vec<u64>> = (0..threads)
        .map(|_| {
            let mut r = Rng(rng.next_u64());
            (0..nkeys).map(|_| r.next_u64()).collect()
        })
        .collect();
    let cache = Arc::new(M::bounded(max_capacity));
    std::thread::scope(|s| {
        for k in &keys {
            let cache = &cache;
            s.spawn(move || k[..prefill].iter().for_each(|&key| cache.insert(key, key)));
        }
    });
    let ops_per_thread = total_ops / threads;
    let barrier = Barrier::new(threads + 1);
    let (spent, tallies) = std::thread::scope(|s| {
        let workers: Vec<_> = keys
            .iter()
            .map(|k| {
                let (cache, ops, barrier) = (&cache, &ops, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let t = mix(&**cache, k, ops, ops_per_thread, prefill);
                    barrier.wait();
                    t
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        let spent = start.elapsed();
        let tallies: Vec<(u64, u64)> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        (spent, tallies)
    });
    let len_after = cache.entries();
    drop(cache);
    Run {
        mops: (ops_per_thread * threads) as f64 / spent.as_secs_f64() / 1e6,
        len_after,
        reads: tallies.iter().map(|t| t.0).sum(),
        read_hits: tallies.iter().map(|t| t.1).sum(),
    }
}

/// bustle 0.5's `mix` loop without its assertions; returns (reads, reads that hit).
fn mix<M: BoundedMap>(
    cache: &M,
    keys: &[u64],
    ops: &[Op],
    n: usize,
    prefilled: usize,
) -> (u64, u64) {
    let nkeys = keys.len();
    let (a, c, mask) = (nkeys / 2 + 1, nkeys / 4 - 1, nkeys - 1);
    let (mut erase_seq, mut insert_seq, mut find_seq) = (0, prefilled, 0);
    let (mut reads, mut hits) = (0u64, 0u64);
    for op in ops.iter().cycle().take(n) {
        match op {
            Op::Read => {
                reads += 1;
                hits += u64::from(cache.get(&keys[find_seq]));
                find_seq = (a * find_seq + c) & mask;
            }
            Op::Insert => {
                cache.insert(keys[insert_seq], keys[insert_seq]);
                insert_seq += 1;
            }
            Op::Remove => {
                if erase_seq == insert_seq {
                    std::hint::black_box(cache.remove(&keys[find_seq]));
                    find_seq = (a * find_seq + c) & mask;
                } else {
                    std::hint::black_box(cache.remove(&keys[erase_seq]));
                    erase_seq += 1;
                }
            }
            Op::Update => {
                std::hint::black_box(cache.update(&keys[find_seq]));
                find_seq = (a * find_seq + c) & mask;
            }
        }
    }
    (reads, hits)
}

/// Samples of one cache, one vector per (mix, threads) cell.
struct Row {
    name: &'static str,
    cells: Vec<Vec<Run>>,
}

struct Repetition<'a> {
    cfg: &'a Config,
    rep: usize,
    rows: &'a mut Vec<Row>,
    next: usize,
}

impl BoundedVisitor for Repetition<'_> {
    fn visit<M: BoundedMap>(&mut self) {
        let cells = mixes().len() * self.cfg.threads.len();
        if self.rows.len() == self.next {
            self.rows.push(Row {
                name: M::NAME,
                cells: vec![Vec::new(); cells],
            });
        }
        let row = &mut self.rows[self.next];
        self.next += 1;
        // The same seed for every cache within a repetition: identical key sequences.
        let seed = 0x5a5a_0000 + self.rep as u64;
        for (mi, m) in mixes().into_iter().enumerate() {
            for (ti, &threads) in self.cfg.threads.iter().enumerate() {
                let cap = bound(m, threads, self.cfg.capacity_log2);
                let r = run_mix::<M>(m, threads, self.cfg.capacity_log2, cap, seed);
                eprintln!(
                    "  bounded rep {}/{}: {:<20} {:<10} {}t {:>7.2} Mops/s (bound {}, {} after, \
                     {:.1} % of reads hit)",
                    self.rep + 1,
                    self.cfg.reps,
                    M::NAME,
                    m.name,
                    threads,
                    r.mops,
                    cap,
                    r.len_after,
                    100.0 * r.read_hits as f64 / r.reads.max(1) as f64,
                );
                row.cells[mi * self.cfg.threads.len() + ti].push(r);
            }
        }
    }
}

/// Runs the bounded-cache throughput workloads and returns the report section.
pub fn run(cfg: &Config, _charts: &crate::charts::Charts) -> Section {
    let mut rows: Vec<Row> = Vec::new();
    for rep in 0..cfg.reps {
        // Caches interleaved per repetition, so a slow phase of the machine hits all.
        for_each_bounded_map(&mut Repetition {
            cfg,
            rep,
            rows: &mut rows,
            next: 0,
        });
    }
    let cells: Vec<(&MixSpec, usize)> = mixes()
        .into_iter()
        .flat_map(|m| cfg.threads.iter().map(move |&t| (m, t)))
        .collect();
    let labels: Vec<String> = cells
        .iter()
        .map(|(m, t)| format!("{} {t}t", m.name))
        .collect();
    let mops = |r: &Row, i: usize| median(&r.cells[i].iter().map(|x| x.mops).collect::<Vec<_>>());
    let mut medians = Table::new(std::iter::once("cache".to_string()).chain(labels.clone()));
    let mut spread = medians.clone();
    let mut hits = medians.clone();
    for r in &rows {
        medians.row(
            std::iter::once(r.name.to_string()).chain((0..cells.len()).map(|i| num(mops(r, i), 2))),
        );
        spread.row(
            std::iter::once(r.name.to_string()).chain(r.cells.iter().map(|c| {
                let lo = c.iter().map(|x| x.mops).fold(f64::INFINITY, f64::min);
                let hi = c.iter().map(|x| x.mops).fold(f64::NEG_INFINITY, f64::max);
                format!("{}–{}", num(lo, 2), num(hi, 2))
            })),
        );
        hits.row(
            std::iter::once(r.name.to_string()).chain(r.cells.iter().map(|c| {
                let (reads, hit): (u64, u64) = c
                    .iter()
                    .fold((0, 0), |(a, b), x| (a + x.reads, b + x.read_hits));
                let len = c.last().map_or(0, |x| x.len_after);
                format!(
                    "{} % / {}",
                    num(100.0 * hit as f64 / reads.max(1) as f64, 1),
                    count_label(len as u64)
                )
            })),
        );
    }
    let find = |name: &str| rows.iter().find(|r| r.name.starts_with(name));
    let ours = find("ttlmap");
    for peer in ["moka", "quick_cache"] {
        if let (Some(a), Some(b)) = (ours, find(peer)) {
            medians.row(
                std::iter::once(format!("**ttlmap / {peer}**"))
                    .chain((0..cells.len()).map(|i| ratio(mops(a, i), mops(b, i)))),
            );
        }
    }
    let bounds: Vec<String> = cells
        .iter()
        .map(|(m, t)| {
            format!(
                "{} {t}t: {}",
                m.name,
                count_label(bound(m, *t, cfg.capacity_log2) as u64)
            )
        })
        .collect();

    let mut sec = Section::new("Bounded cache throughput");
    sec.text(format!(
        "bustle's read_heavy (98/1/1/0) and exchange (10/40/40/10) mixes, prefilled 75 % of \
         2^{cap}, operations = 2^{cap}, against caches bounded to **half the prefill** ({bounds}), \
         so that the prefill already evicts and every insert of the mix does. bustle itself \
         asserts that no inserted key goes missing, which a cache breaks, so the mixes run in \
         `benches/src/bounded.rs`: bustle 0.5's loop (key counts per thread, shuffled \
         100-operation mix, LCG over each thread's keys for reads and updates, prefill before \
         the clock, drop after it) without the assertions. Caches: \
         `ttlmap::HashMap::builder().capacity(n).max_capacity(n)`, moka 0.12 \
         `sync::Cache::builder().max_capacity(n).initial_capacity(n)`, quick_cache 0.7 \
         `sync::Cache::with(n, n, UnitWeighter, ..)`; all hash with \
         `foldhash::fast::RandomState`, one pin per operation for ttlmap. `update` is an \
         atomic read-modify-write on ttlmap (`update`) and moka (`and_compute_with`); on \
         quick_cache a `get` then a `replace`. Median of {reps} repetition(s), caches \
         interleaved within each, the same keys for every cache within a repetition.",
        cap = cfg.capacity_log2,
        bounds = bounds.join(", "),
        reps = cfg.reps,
    ));
    sec.table("Mops/s (median; higher is better)", &medians);
    sec.table("Spread: min–max Mops/s over the repetitions", &spread);
    sec.table(
        "Reads that found their key (all repetitions) / entries after the last run: \
         the bound held and the caches evicted",
        &hits,
    );
    sec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{MokaBounded, QuickCacheBounded, TtlMapBounded};

    /// Each cache stays within its bound through the mix, and the bound bites: reads hit
    /// less often than on a cache large enough for everything.
    fn bound_holds_and_bites<M: BoundedMap>() {
        let spec = mixes()[1];
        let cap = bound(spec, 1, 12);
        let small = run_mix::<M>(spec, 1, 12, cap, 7);
        let large = run_mix::<M>(spec, 1, 12, 1 << 20, 7);
        assert!(
            small.len_after <= cap,
            "{}: {} entries over a bound of {cap}",
            M::NAME,
            small.len_after
        );
        assert!(
            large.len_after > cap,
            "{}: unbounded run kept {}",
            M::NAME,
            large.len_after
        );
        assert!(
            small.read_hits < large.read_hits,
            "{}: {} hits bounded, {} unbounded",
            M::NAME,
            small.read_hits,
            large.read_hits
        );
    }

    #[test]
    fn ttlmap_bound_holds_and_bites() {
        bound_holds_and_bites::<TtlMapBounded>();
    }

    #[test]
    fn moka_bound_holds_and_bites() {
        bound_holds_and_bites::<MokaBounded>();
    }

    #[test]
    fn quick_cache_bound_holds_and_bites() {
        bound_holds_and_bites::<QuickCacheBounded>();
    }
}
