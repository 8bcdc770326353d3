//! Latency: percentiles of single inserts while a map grows from empty.

use std::time::Instant;

use crate::adapters::{is_selected, BenchMap, DashMap, Papaya, TtlMap};
use crate::charts::{Charts, Series};
use crate::report::{num, ratio, Section, Table};
use crate::{median, Config};

/// Distinct, scattered keys.
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Sorted per-insert latencies (ns) of growing an empty map to `keys` entries with
/// `threads` threads inserting disjoint keys.
fn grow<M: BenchMap>(keys: u64, threads: usize) -> Vec<u32> {
    let map = M::new();
    let mut all: Vec<u32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                let map = &map;
                s.spawn(move || {
                    let mine = (t..keys).step_by(threads);
                    let mut lat = Vec::with_capacity(keys.div_ceil(threads as u64) as usize);
                    for i in mine {
                        let start = Instant::now();
                        map.insert(key(i), i);
                        lat.push(u32::try_from(start.elapsed().as_nanos()).unwrap_or(u32::MAX));
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    drop(map);
    all.sort_unstable();
    all
}

/// The value at percentile `p` (0–100) of sorted samples.
fn pct(sorted: &[u32], p: f64) -> f64 {
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)])
}

const PCTS: [(&str, f64); 5] = [
    ("p50", 50.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
    ("p99.99", 99.99),
    ("max", 100.0),
];

/// Points of the percentile curve, denser toward the tail; the maximum is drawn at
/// percentile 100·(1 − 1/n), where the tail axis of the chart ends.
fn curve(sorted: &[u32]) -> Vec<(f64, f64)> {
    let n = sorted.len() as f64;
    let tail_max = n.log10();
    let max = f64::from(sorted[sorted.len() - 1]);
    (0..)
        .map(|i| f64::from(i) * 0.05)
        .take_while(|x| *x < tail_max)
        .map(|x| 100.0 * (1.0 - 10f64.powf(-x)))
        .map(|p| (p, pct(sorted, p)))
        .chain(std::iter::once((100.0 * (1.0 - 1.0 / n), max)))
        .collect()
}

struct Measured {
    name: &'static str,
    threads: usize,
    /// Median over repetitions of each of `PCTS`, in ns.
    pcts: Vec<f64>,
    curve: Vec<(f64, f64)>,
}

fn measure<M: BenchMap>(cfg: &Config, threads: usize) -> Measured {
    let keys = 1u64 << cfg.latency_keys_log2;
    let mut samples = vec![Vec::new(); PCTS.len()];
    let mut last = Vec::new();
    for _ in 0..cfg.reps {
        last = grow::<M>(keys, threads);
        for (s, (_, p)) in samples.iter_mut().zip(PCTS) {
            s.push(pct(&last, p));
        }
    }
    let pcts: Vec<f64> = samples.iter().map(|s| median(s)).collect();
    eprintln!(
        "  latency: {:<16} {threads}t p50 {:.0} ns p99.9 {:.0} ns",
        M::NAME,
        pcts[0],
        pcts[2]
    );
    Measured {
        name: M::NAME,
        threads,
        pcts,
        curve: curve(&last),
    }
}

/// Runs the latency workload and returns the report section.
pub fn run(cfg: &Config, charts: &Charts) -> Section {
    let mut rows = Vec::new();
    for &threads in cfg.threads {
        if is_selected(TtlMap::NAME) {
            rows.push(measure::<TtlMap>(cfg, threads));
        }
        if is_selected(Papaya::NAME) {
            rows.push(measure::<Papaya>(cfg, threads));
        }
        if is_selected(DashMap::NAME) {
            rows.push(measure::<DashMap>(cfg, threads));
        }
    }

    let mut sec = Section::new("Insert latency while growing");
    sec.text(format!(
        "Each thread inserts its share of 2^{} distinct keys into one map created empty (no \
         capacity hint) and times every insert with `Instant::now()` (timer overhead, ~20–40 ns, \
         included for every map). Percentiles over all inserts of all threads; median of {} \
         repetition(s) per percentile. Every map is built with `with_hasher` \
         (`foldhash::fast::RandomState`) before the first timed insert, so no map gets a \
         capacity hint (nor, for ttlmap, huge-page advice: it advises only segments a hint \
         allocates); the plain `System` allocator.",
        cfg.latency_keys_log2, cfg.reps
    ));
    let mut t = Table::new(
        ["map", "threads"]
            .into_iter()
            .map(String::from)
            .chain(PCTS.iter().map(|(n, _)| format!("{n} (ns)"))),
    );
    for m in &rows {
        t.row(
            [m.name.to_string(), m.threads.to_string()]
                .into_iter()
                .chain(m.pcts.iter().map(|v| num(*v, 0))),
        );
    }
    for &threads in cfg.threads {
        let find = |name: &str| rows.iter().find(|m| m.name == name && m.threads == threads);
        if let (Some(ours), Some(papaya)) = (find("ttlmap"), find("papaya")) {
            t.row(
                ["**ttlmap / papaya**".to_string(), threads.to_string()]
                    .into_iter()
                    .chain(
                        ours.pcts
                            .iter()
                            .zip(&papaya.pcts)
                            .map(|(a, b)| ratio(*a, *b)),
                    ),
            );
        }
    }
    sec.table("Insert latency (lower is better)", &t);
    for &threads in cfg.threads {
        let series: Vec<Series<(f64, f64)>> = rows
            .iter()
            .filter(|m| m.threads == threads)
            .map(|m| Series {
                name: m.name.to_string(),
                values: m.curve.clone(),
            })
            .collect();
        sec.chart(
            &format!("Insert latency percentiles, {threads} thread(s)"),
            charts.percentile_lines(
                &format!("latency_{threads}t.png"),
                &format!(
                    "Insert latency while growing to 2^{} keys, {threads} thread(s)",
                    cfg.latency_keys_log2
                ),
                &series,
            ),
        );
    }
    sec
}
