//! Throughput: the three bustle mixes as conc-map-bench runs them.

use bustle::{Mix, Workload};

use crate::adapters::{for_each_map, BenchMap, MapVisitor, Table as Bustle};
use crate::charts::{Charts, Series};
use crate::floor::Floor;
use crate::report::{num, ratio, Section, Table};
use crate::{median, Config};

/// A bustle mix and its prefill fraction.
pub struct MixSpec {
    pub name: &'static str,
    pub mix: Mix,
    pub prefill: f64,
}

impl MixSpec {
    /// Runs this mix once on a fresh `M` of 2^`capacity_log2` (ops = capacity), as
    /// conc-map-bench does, and returns Mops/s.
    pub fn run<M: BenchMap>(&self, threads: usize, capacity_log2: u8, seed: [u8; 32]) -> f64 {
        let measured = Workload::new(threads, self.mix)
            .initial_capacity_log2(capacity_log2)
            .prefill_fraction(self.prefill)
            .operations(1.0)
            .seed(seed)
            .run_silently::<Bustle<M>>();
        measured.throughput / 1e6
    }
}

const fn mix(read: u8, insert: u8, remove: u8, update: u8) -> Mix {
    Mix {
        read,
        insert,
        remove,
        update,
        upsert: 0,
    }
}

/// The three mixes of conc-map-bench.
pub const MIXES: [MixSpec; 3] = [
    MixSpec {
        name: "read_heavy",
        mix: mix(98, 1, 1, 0),
        prefill: 0.75,
    },
    MixSpec {
        name: "exchange",
        mix: mix(10, 40, 40, 10),
        prefill: 0.75,
    },
    MixSpec {
        name: "rapid_grow",
        mix: mix(5, 80, 5, 10),
        prefill: 0.0,
    },
];

/// Mops/s samples of one map, one vector per (mix, threads) cell.
struct Row {
    name: &'static str,
    cells: Vec<Vec<f64>>,
}

/// Runs every (mix, threads) cell once per map, appending to `rows`.
struct Repetition<'a> {
    cfg: &'a Config,
    rep: usize,
    rows: &'a mut Vec<Row>,
    next: usize,
}

impl MapVisitor for Repetition<'_> {
    fn visit<M: BenchMap>(&mut self) {
        let cells = MIXES.len() * self.cfg.threads.len();
        if self.rows.len() == self.next {
            self.rows.push(Row {
                name: M::NAME,
                cells: vec![Vec::new(); cells],
            });
        }
        let row = &mut self.rows[self.next];
        self.next += 1;
        // The same seed for every map within a repetition: identical key sequences.
        let seed = [self.rep as u8 ^ 0x5a; 32];
        for (mi, m) in MIXES.iter().enumerate() {
            for (ti, &threads) in self.cfg.threads.iter().enumerate() {
                let mops = m.run::<M>(threads, self.cfg.capacity_log2, seed);
                eprintln!(
                    "  throughput rep {}/{}: {:<18} {:<10} {}t {:>7.2} Mops/s",
                    self.rep + 1,
                    self.cfg.reps,
                    M::NAME,
                    m.name,
                    threads,
                    mops
                );
                row.cells[mi * self.cfg.threads.len() + ti].push(mops);
            }
        }
    }
}

/// Runs the throughput workloads and returns the report section.
pub fn run(cfg: &Config, charts: &Charts) -> Section {
    let mut rows = Vec::new();
    for rep in 0..cfg.reps {
        // Maps interleaved per repetition, so a slow phase of the machine hits all of them.
        let mut repetition = Repetition {
            cfg,
            rep,
            rows: &mut rows,
            next: 0,
        };
        for_each_map(&mut repetition);
        // The design's ceiling, as a reference row (not a map: see `floor`).
        repetition.visit::<Floor>();
    }

    let labels: Vec<String> = MIXES
        .iter()
        .flat_map(|m| cfg.threads.iter().map(move |t| format!("{} {t}t", m.name)))
        .collect();
    let mut medians = Table::new(std::iter::once("map".to_string()).chain(labels.clone()));
    let mut spread = medians.clone();
    for r in &rows {
        medians.row(
            std::iter::once(r.name.to_string()).chain(r.cells.iter().map(|c| num(median(c), 2))),
        );
        spread.row(
            std::iter::once(r.name.to_string()).chain(r.cells.iter().map(|c| {
                let lo = c.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                format!("{}–{}", num(lo, 2), num(hi, 2))
            })),
        );
    }
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    for (a, b) in [
        ("ttlmap", "papaya"),
        (Floor::NAME, "papaya"),
        ("ttlmap", Floor::NAME),
    ] {
        if let (Some(a_row), Some(b_row)) = (find(a), find(b)) {
            medians.row(
                std::iter::once(format!("**{a} / {b}**")).chain(
                    a_row
                        .cells
                        .iter()
                        .zip(&b_row.cells)
                        .map(|(x, y)| ratio(median(x), median(y))),
                ),
            );
        }
    }

    let mut sec = Section::new("Throughput (bustle mixes)");
    sec.text(format!(
        "Mixes as conc-map-bench uses them (read/insert/remove/update %): read_heavy 98/1/1/0 \
         prefilled 75 %, exchange 10/40/40/10 prefilled 75 %, rapid_grow 5/80/5/10 from empty. \
         Initial capacity 2^{cap}, operations = capacity, u64 keys, one pin per operation. \
         Median of {reps} repetition(s); the same seed for every map within a repetition.",
        cap = cfg.capacity_log2,
        reps = cfg.reps,
    ));
    sec.text(format!(
        "The row *{floor}* is not a map but the ceiling of ttlmap's design on this machine \
         (`benches/src/floor.rs`): a bare split-ordered table that keeps only what the \
         structure itself requires (an epoch pin per operation, the bucket sentinel, the \
         sorted chain, a CAS to link, mark and unlink, a deferred free) and drops the rest: \
         no TTL (32-byte nodes instead of 48), no length counter, no growth (all buckets \
         linked up front), values updated in place. Where *{floor} / papaya* is below a \
         target, no tuning of ttlmap's implementation reaches that target.",
        floor = Floor::NAME,
    ));
    sec.table("Mops/s (median; higher is better)", &medians);
    sec.table("Spread: min–max Mops/s over the repetitions", &spread);
    let series: Vec<Series<f64>> = rows
        .iter()
        .filter(|r| r.name != Floor::NAME)
        .map(|r| Series {
            name: r.name.to_string(),
            values: r.cells.iter().map(|c| median(c)).collect(),
        })
        .collect();
    sec.chart(
        "Throughput, Mops/s (median)",
        charts.grouped_bars(
            "throughput.png",
            "Throughput (Mops/s, median; higher is better)",
            "Mops/s",
            &labels,
            &series,
        ),
    );
    sec
}
