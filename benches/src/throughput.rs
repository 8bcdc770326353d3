//! Throughput: the three bustle mixes as conc-map-bench runs them.

use bustle::{Mix, Workload};

use crate::adapters::{
    for_each_map, is_selected, take_lookups, BenchMap, Counted, DashMap, Lookups, MapVisitor,
    Table as Bustle,
};
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

    /// Runs this mix once, untimed, on a dashmap whose handles count lookups, and returns
    /// how many `get`s and `update`s found their key. bustle asserts the outcome of every
    /// lookup of a key not yet removed, so any correct map gives the same counts.
    pub fn lookups(&self, threads: usize, capacity_log2: u8, seed: [u8; 32]) -> Lookups {
        take_lookups();
        Workload::new(threads, self.mix)
            .initial_capacity_log2(capacity_log2)
            .prefill_fraction(self.prefill)
            .operations(1.0)
            .seed(seed)
            .run_silently::<Counted<DashMap>>();
        take_lookups()
    }

    /// The keys bustle 0.5 generates per thread (`run_silently`): the larger of the
    /// capacity and the inserts the mix can make, plus the prefill, split over the threads
    /// and rounded up to a power of two. Reads and updates draw among all of them.
    pub fn keys_per_thread(&self, threads: usize, capacity_log2: u8) -> usize {
        let capacity = 1usize << capacity_log2;
        let prefill = (capacity as f64 * self.prefill) as usize;
        let max_inserts = capacity.div_ceil(100) * usize::from(self.mix.insert + self.mix.upsert);
        (capacity.max(max_inserts) + prefill)
            .div_ceil(threads)
            .next_power_of_two()
    }

    /// Keys in the map before the mix starts, per thread.
    pub fn prefill_per_thread(&self, threads: usize, capacity_log2: u8) -> usize {
        ((1usize << capacity_log2) as f64 * self.prefill) as usize / threads
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
        if is_selected(Floor::NAME) {
            repetition.visit::<Floor>();
        }
    }
    let lookups: Vec<(&MixSpec, usize, Lookups)> = MIXES
        .iter()
        .flat_map(|m| cfg.threads.iter().map(move |&t| (m, t)))
        .map(|(m, t)| {
            let l = m.lookups(t, cfg.capacity_log2, [0x5a; 32]);
            eprintln!(
                "  throughput lookups: {:<10} {t}t {:.1} % of gets miss",
                m.name,
                miss_pct(l.gets, l.get_hits)
            );
            (m, t, l)
        })
        .collect();

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
        "What each map is given. Every map is built by bustle with a capacity hint of \
         2^{cap}: `with_capacity_and_hasher(2^{cap}, _)` for ttlmap, papaya, dashmap, \
         scc, flurry and std's map behind `Mutex`/`RwLock`, `builder().initial_capacity(2^{cap})` \
         for moka (unbounded, no expiry). For ttlmap the hint means its first 2^{cap} \
         buckets are allocated and linked before the run, and the directory segments of 2 MiB \
         or more are advised onto transparent huge pages (`madvise(MADV_HUGEPAGE)`; THP mode \
         on this machine in the list above); the other maps get no such advice (ttlmap does not \
         advise segments it allocates while growing). The split-order floor links all its \
         buckets up front, without advice. Every map hashes with \
         `foldhash::fast::RandomState` (one random seed per map). Key generation, \
         construction and the prefill happen before bustle starts its clock, and the maps \
         are dropped after it stops: the timed window holds the operation mix only. This \
         process runs on the plain `System` allocator (the heap is counted in a separate \
         process, `ttlmap-bench-memory`).",
        cap = cfg.capacity_log2,
    ));
    if let Some((m, t, l)) = lookups.first() {
        let keys = m.keys_per_thread(*t, cfg.capacity_log2);
        sec.text(format!(
            "Most reads miss. bustle 0.5 draws the key of each `get` and `update` with an LCG \
             (x → (n/2 + 1)·x + n/4 − 1 mod n) over all n keys it generated for a thread: \
             n = {keys} for {name} at {t} thread(s), the prefill plus the inserts the mix can \
             make, rounded up to a power of two. Only the prefilled {in_map:.1} % of them (and \
             those inserted since) are in the map; and as the LCG steps by about n/4 and a run \
             uses about half of its period, the share of reads that find their key is not that \
             share either. So it is counted, in an instrumented untimed run of each mix (the \
             seed of the first repetition, on dashmap; bustle asserts the outcome of every \
             lookup of a key not yet removed, so every correct map sees the same): \
             **{miss:.1} % of {name}'s gets miss** at {t} thread(s). All mixes in the last table.",
            name = m.name,
            in_map = in_map_pct(m, *t, cfg.capacity_log2),
            miss = miss_pct(l.gets, l.get_hits),
        ));
    }
    sec.text(format!(
        "The row *{floor}* is not a map but a reference: the bare split-ordered layout \
         that ttlmap started from (`benches/src/floor.rs`), a table that keeps only what \
         that layout requires (an epoch pin per operation, the bucket sentinel, the sorted \
         chain, a CAS to link, mark and unlink, a deferred free) and drops the rest: no TTL \
         (32-byte nodes instead of 48), no length counter, no growth (all buckets linked up \
         front), values updated in place. It is the ceiling of *that layout*, not of split \
         ordering: it has no bucket filter, so ttlmap, which reads a 16-bit filter word per \
         bucket before the directory, can pass it on lookups that miss (*ttlmap / {floor}* \
         above 1×).",
        floor = Floor::NAME,
    ));
    sec.table("Mops/s (median; higher is better)", &medians);
    sec.table("Spread: min–max Mops/s over the repetitions", &spread);
    let mut lt = Table::new([
        "mix",
        "threads",
        "keys generated per thread",
        "of which in the map at start",
        "gets",
        "gets that miss",
        "updates",
        "updates that miss",
    ]);
    for (m, t, l) in &lookups {
        lt.row([
            m.name.to_string(),
            t.to_string(),
            m.keys_per_thread(*t, cfg.capacity_log2).to_string(),
            pct_cell(in_map_pct(m, *t, cfg.capacity_log2)),
            l.gets.to_string(),
            pct_cell(miss_pct(l.gets, l.get_hits)),
            l.updates.to_string(),
            pct_cell(miss_pct(l.updates, l.update_hits)),
        ]);
    }
    sec.table(
        "Lookups that miss (instrumented run, not timed; counted, not assumed)",
        &lt,
    );
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

/// "12.3 %", or "—" if `x` is not finite.
fn pct_cell(x: f64) -> String {
    if x.is_finite() {
        format!("{} %", num(x, 1))
    } else {
        "—".into()
    }
}

/// Percentage of `total` lookups that did not find their key (NaN if there were none).
fn miss_pct(total: u64, hits: u64) -> f64 {
    if total == 0 {
        f64::NAN
    } else {
        100.0 * (total - hits) as f64 / total as f64
    }
}

/// Percentage of the keys bustle generates per thread that are in the map when the mix
/// starts (the prefill).
fn in_map_pct(m: &MixSpec, threads: usize, capacity_log2: u8) -> f64 {
    100.0 * m.prefill_per_thread(threads, capacity_log2) as f64
        / m.keys_per_thread(threads, capacity_log2) as f64
}

#[cfg(test)]
mod tests {
    use bustle::{Collection, CollectionHandle};

    use std::sync::Mutex;

    use super::*;
    use crate::adapters::MutexMap;

    /// The lookup counters are process-wide: tests that read them take turns.
    static COUNTERS: Mutex<()> = Mutex::new(());

    #[test]
    fn counted_handles_count_lookups_and_hits() {
        let _turn = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
        take_lookups();
        let map = Counted::<MutexMap>::with_capacity(16);
        let mut h = map.pin();
        for k in [1, 2, 3] {
            assert!(h.insert(&k));
        }
        assert!(h.get(&1));
        assert!(!h.get(&9));
        assert!(!h.get(&8));
        assert!(h.update(&2));
        assert!(!h.update(&7));
        assert!(h.remove(&3));
        drop(h);
        drop(map);
        assert_eq!(
            take_lookups(),
            Lookups {
                gets: 3,
                get_hits: 1,
                updates: 2,
                update_hits: 1,
            }
        );
        assert_eq!(take_lookups(), Lookups::default(), "take resets");
    }

    /// The key counts of bustle 0.5's `run_silently`, worked out by hand for the full run
    /// (capacity 2^21).
    #[test]
    fn keys_per_thread_follows_bustle() {
        let [read_heavy, exchange, rapid_grow] = &MIXES;
        // max(2^21, 20_972 · 1) + 1_572_864 = 3_670_016 → 2^22.
        assert_eq!(read_heavy.keys_per_thread(1, 21), 1 << 22);
        assert_eq!(read_heavy.keys_per_thread(2, 21), 1 << 21);
        // max(2^21, 20_972 · 40) + 1_572_864 → 2^22.
        assert_eq!(exchange.keys_per_thread(1, 21), 1 << 22);
        // max(2^21, 20_972 · 80 = 1_677_760) + 0 → 2^21.
        assert_eq!(rapid_grow.keys_per_thread(1, 21), 1 << 21);
        assert_eq!(read_heavy.prefill_per_thread(2, 21), 786_432);
    }

    /// The miss fraction reported for read_heavy, counted on a small run, matches an
    /// independent replay of bustle's LCG over the prefilled keys (reads only: at
    /// capacity 2^12 the 1 % inserts and removes move the bounds by ~41 keys).
    #[test]
    fn read_heavy_misses_match_a_replay_of_the_lcg() {
        let _turn = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
        let spec = &MIXES[0];
        let l = spec.lookups(1, 12, [7; 32]);
        let n = spec.keys_per_thread(1, 12);
        let prefill = spec.prefill_per_thread(1, 12);
        let (a, c) = (n / 2 + 1, n / 4 - 1);
        let mut x = 0;
        let mut hits = 0u64;
        for _ in 0..l.gets {
            hits += u64::from(x < prefill);
            x = (a * x + c) & (n - 1);
        }
        let diff = hits.abs_diff(l.get_hits);
        assert!(
            diff * 100 <= l.gets,
            "counted {} hits of {}, replay {hits}",
            l.get_hits,
            l.gets
        );
        // And it is not the share of keys in the map (the point of counting).
        let uniform = 100.0 * (1.0 - prefill as f64 / n as f64);
        assert!(miss_pct(l.gets, l.get_hits) - uniform > 5.0);
    }
}
