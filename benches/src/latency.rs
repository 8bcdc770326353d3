//! Latency: percentiles of single inserts while a map grows from empty.
//!
//! `TTLMAP_LATENCY_TRACE=<µs>` in the environment adds a diagnostic pass before the timed
//! runs (see [`trace`]): every insert slower than that many µs, with the page faults and
//! context switches it took, and a clock-only loop's stalls for comparison.

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
    if let Some(threshold) = trace::threshold() {
        trace::run(cfg, threshold);
    }
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

/// A diagnostic mode (`TTLMAP_LATENCY_TRACE=<µs>` in the environment): before the section
/// runs, grow each selected map once per thread count and print every insert slower than
/// the threshold, or that mapped a directory segment or slept, with what happened during
/// it: the thread's page faults and context switches (`getrusage(RUSAGE_THREAD)` around every insert, so the inserts are slower
/// than in the timed runs) and, for ttlmap, whether it mapped a directory segment.
mod trace {
    use std::time::Instant;

    use crate::adapters::{is_selected, BenchMap, Papaya, TtlMap};
    use crate::Config;

    /// The threshold in µs, if the mode is on.
    pub(super) fn threshold() -> Option<u64> {
        std::env::var("TTLMAP_LATENCY_TRACE").ok()?.parse().ok()
    }

    /// `struct rusage` of Linux (x86-64 and aarch64 alike: 2 timevals, 14 longs).
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Rusage {
        utime: [i64; 2],
        stime: [i64; 2],
        longs: [i64; 14],
    }

    extern "C" {
        fn getrusage(who: i32, usage: *mut Rusage) -> i32;
    }

    const RUSAGE_THREAD: i32 = 1;

    /// (minor faults, voluntary switches, involuntary switches) of this thread so far.
    fn usage() -> [i64; 3] {
        let mut u = Rusage::default();
        // SAFETY: `u` is a valid `struct rusage` to write; RUSAGE_THREAD is Linux's.
        unsafe { getrusage(RUSAGE_THREAD, &mut u) };
        [u.longs[4], u.longs[12], u.longs[13]]
    }

    struct Slow {
        thread: u64,
        /// Index of the insert among this thread's.
        nth: u64,
        /// Since the start of the growth, µs.
        at: u64,
        lat: u64,
        faults: i64,
        vcsw: i64,
        ivcsw: i64,
        mapped: usize,
    }

    fn grow<M: BenchMap>(keys: u64, threads: usize, threshold: u64) {
        let map = M::new();
        let t0 = Instant::now();
        let mut all: Vec<Slow> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads as u64)
                .map(|t| {
                    let map = &map;
                    s.spawn(move || {
                        let mut slow = Vec::new();
                        let (mut segs, mut seg_max) = (0u64, 0u64);
                        for (nth, i) in (t..keys).step_by(threads).enumerate() {
                            let (u0, m0) = (usage(), ttlmap::mapped_bytes());
                            let start = Instant::now();
                            map.insert(super::key(i), i);
                            let lat = start.elapsed().as_micros() as u64;
                            let (u1, m1) = (usage(), ttlmap::mapped_bytes());
                            let mapped = m1.saturating_sub(m0);
                            if mapped > 0 {
                                segs += 1;
                                seg_max = seg_max.max(lat);
                            }
                            if lat >= threshold || mapped > 0 || u1[1] > u0[1] {
                                slow.push(Slow {
                                    thread: t,
                                    nth: nth as u64,
                                    at: start.duration_since(t0).as_micros() as u64,
                                    lat,
                                    faults: u1[0] - u0[0],
                                    vcsw: u1[1] - u0[1],
                                    ivcsw: u1[2] - u0[2],
                                    mapped,
                                });
                            }
                        }
                        eprintln!(
                            "    thread {t}: {segs} inserts mapped a segment, slowest {seg_max} µs"
                        );
                        slow
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let total = t0.elapsed();
        drop(map);
        all.sort_by_key(|s| s.at);
        let slow: Vec<&Slow> = all.iter().filter(|s| s.lat >= threshold).collect();
        let count = |f: &dyn Fn(&Slow) -> bool| slow.iter().filter(|s| f(s)).count();
        eprintln!(
            "  trace {} {threads}t: {} inserts ≥ {threshold} µs (preempted {}, slept {}, \
             faulted {}, none of these {}; max of the last {} µs), growth took {:.2} s",
            M::NAME,
            slow.len(),
            count(&|s| s.ivcsw > 0),
            count(&|s| s.vcsw > 0),
            count(&|s| s.ivcsw == 0 && s.vcsw == 0 && s.faults > 0),
            count(&|s| s.ivcsw == 0 && s.vcsw == 0 && s.faults == 0),
            slow.iter()
                .filter(|s| s.ivcsw == 0 && s.vcsw == 0 && s.faults == 0)
                .map(|s| s.lat)
                .max()
                .unwrap_or(0),
            total.as_secs_f64()
        );
        for s in &all {
            eprintln!(
                "    t{} #{:>8} (≈{:>8} keys) at {:>8} µs: {:>6} µs, {:>4} faults, {} vcsw, {} ivcsw{}",
                s.thread,
                s.nth,
                s.nth * threads as u64,
                s.at,
                s.lat,
                s.faults,
                s.vcsw,
                s.ivcsw,
                if s.mapped > 0 {
                    format!(", mapped {} KiB", s.mapped >> 10)
                } else {
                    String::new()
                }
            );
        }
    }

    /// The machine's own stalls, for comparison: `threads` threads that only read the
    /// clock for `secs` seconds, and every gap of at least `threshold` µs between two
    /// reads, split by whether the thread was switched out meanwhile.
    fn hiccups(secs: u64, threads: usize, threshold: u64) {
        let per_thread: Vec<(usize, usize, u64)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(move || {
                        let t0 = Instant::now();
                        let (mut switched, mut quiet, mut quiet_max) = (0, 0, 0);
                        let mut u0 = usage();
                        let mut last = Instant::now();
                        while t0.elapsed().as_secs() < secs {
                            let now = Instant::now();
                            let gap = now.duration_since(last).as_micros() as u64;
                            if gap >= threshold {
                                let u1 = usage();
                                if u1[1] > u0[1] || u1[2] > u0[2] {
                                    switched += 1;
                                } else {
                                    quiet += 1;
                                    quiet_max = quiet_max.max(gap);
                                }
                                u0 = u1;
                                last = Instant::now();
                            } else {
                                last = now;
                            }
                        }
                        (switched, quiet, quiet_max)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (t, (switched, quiet, quiet_max)) in per_thread.iter().enumerate() {
            eprintln!(
                "  trace clock-only {threads}t, thread {t}, {secs} s: gaps ≥ {threshold} µs: \
                 {switched} switched out, {quiet} not (the longest {quiet_max} µs)"
            );
        }
    }

    pub(super) fn run(cfg: &Config, threshold: u64) {
        let keys = 1u64 << cfg.latency_keys_log2;
        for &threads in cfg.threads {
            hiccups(5, threads, threshold);
            if is_selected(TtlMap::NAME) {
                grow::<TtlMap>(keys, threads, threshold);
            }
            if is_selected(Papaya::NAME) {
                grow::<Papaya>(keys, threads, threshold);
            }
        }
    }
}
