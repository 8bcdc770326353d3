//! Memory: live heap bytes per entry at several sizes; at the middle size also after
//! removing everything, after the map's own clean-up, and after dropping.
//!
//! One size flatters whichever map has just grown least: a table that doubles holds
//! between 1× and 2× what its entries need depending on where the count falls, so the
//! bytes per entry are measured from 0.6× to 2× the configured entries.

use std::collections::HashMap as StdHashMap;

use crate::adapters::{for_each_map, is_selected, BenchMap, Hasher, MapVisitor};
use crate::alloc::HeapProbe;
use crate::charts::{Charts, Series};
use crate::report::{count_label, mib, num, ratio, Section, Table};
use crate::Config;

/// The sizes measured, as multiples of `Config::entries` (1M in the full run).
pub const SIZE_FACTORS: [f64; 6] = [0.6, 0.8, 1.0, 1.2, 1.5, 2.0];

/// What the memory workload needs: the concurrent maps, plus a plain std `HashMap`.
trait MemSubject {
    const NAME: &'static str;
    fn new() -> Self;
    fn insert(&mut self, k: u64);
    fn remove(&mut self, k: &u64);
    /// Explicit clean-up, if the map has one; returns whether it has.
    fn maintain(&mut self) -> bool;
}

impl<M: BenchMap> MemSubject for M {
    const NAME: &'static str = M::NAME;
    fn new() -> Self {
        M::new()
    }
    fn insert(&mut self, k: u64) {
        BenchMap::insert(self, k, k);
    }
    fn remove(&mut self, k: &u64) {
        BenchMap::remove(self, k);
    }
    fn maintain(&mut self) -> bool {
        let maintained = BenchMap::maintain(self);
        BenchMap::shrink(self) || maintained
    }
}

impl MemSubject for StdHashMap<u64, u64, Hasher> {
    const NAME: &'static str = "std HashMap";
    fn new() -> Self {
        StdHashMap::with_hasher(Hasher::default())
    }
    fn insert(&mut self, k: u64) {
        StdHashMap::insert(self, k, k);
    }
    fn remove(&mut self, k: &u64) {
        StdHashMap::remove(self, k);
    }
    fn maintain(&mut self) -> bool {
        self.shrink_to_fit();
        true
    }
}

/// Distinct, scattered keys.
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Heap held by a fresh map after `n` distinct inserts (no capacity hint); the map is
/// dropped before returning.
fn held_after_inserts<M: MemSubject>(n: u64) -> isize {
    let probe = HeapProbe::start();
    let mut map = M::new();
    (0..n).for_each(|i| map.insert(key(i)));
    let held = probe.held();
    drop(map);
    held
}

struct Measured {
    name: &'static str,
    /// `(entries, bytes held)` at each size, in `SIZE_FACTORS` order.
    sizes: Vec<(u64, isize)>,
    full: isize,
    removed: isize,
    maintained: Option<isize>,
    dropped: isize,
}

fn measure<M: MemSubject>(n: u64) -> Measured {
    let started = std::time::Instant::now();
    let sizes: Vec<(u64, isize)> = SIZE_FACTORS
        .iter()
        .map(|f| (n as f64 * f).round() as u64)
        .map(|m| {
            let held = if m == n {
                0 // filled in below, from the full measurement
            } else {
                held_after_inserts::<M>(m)
            };
            (m, held)
        })
        .collect();
    let probe = HeapProbe::start();
    let mut map = M::new();
    (0..n).for_each(|i| map.insert(key(i)));
    let full = probe.held();
    (0..n).for_each(|i| map.remove(&key(i)));
    let removed = probe.held();
    let maintained = map.maintain().then(|| probe.held());
    drop(map);
    let dropped = probe.held();
    let sizes = sizes
        .into_iter()
        .map(|(m, held)| (m, if m == n { full } else { held }))
        .collect::<Vec<_>>();
    eprintln!(
        "  memory: {:<18} ({:.1} s) bytes/entry {}",
        M::NAME,
        started.elapsed().as_secs_f64(),
        sizes
            .iter()
            .map(|&(m, held)| format!("{}: {:.1}", count_label(m), held as f64 / m as f64))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Measured {
        name: M::NAME,
        sizes,
        full,
        removed,
        maintained,
        dropped,
    }
}

struct Collect(u64, Vec<Measured>);

impl MapVisitor for Collect {
    fn visit<M: BenchMap>(&mut self) {
        self.1.push(measure::<M>(self.0));
    }
}

/// Runs the memory workload and returns the report section. Run it under
/// [`crate::alloc::CountingAlloc`].
pub fn run(cfg: &Config, charts: &Charts) -> Section {
    let n = cfg.entries;
    let mut c = Collect(n, Vec::new());
    for_each_map(&mut c);
    if is_selected(<StdHashMap<u64, u64, Hasher> as MemSubject>::NAME) {
        c.1.push(measure::<StdHashMap<u64, u64, Hasher>>(n));
    }
    let rows = c.1;
    let per_entry = |m: &Measured| m.full as f64 / n as f64;
    let per_entry_at = |m: &Measured| -> Vec<f64> {
        m.sizes
            .iter()
            .map(|&(k, held)| held as f64 / k as f64)
            .collect()
    };
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    };
    let size_labels: Vec<String> = rows.first().map_or(Vec::new(), |m| {
        m.sizes.iter().map(|&(k, _)| count_label(k)).collect()
    });

    let mut sec = Section::new("Memory");
    sec.text(format!(
        "Live heap bytes counted by a `#[global_allocator]` wrapping `System` (sum of \
         `layout.size()`, not allocator overhead), in a separate process \
         (`ttlmap-bench-memory`) so that the timed sections run on the plain allocator. \
         Each map is created empty with `new()`/`with_hasher` (`foldhash::fast::RandomState`, \
         no capacity hint) and given distinct u64 → u64 inserts. A table that doubles holds \
         between one and two times what its entries need, depending on where the count \
         falls relative to its last doubling, so one size flatters some maps: the first \
         table gives bytes per entry at {sizes} entries, each on a fresh map, and their \
         range. Memory is deterministic enough that one repetition is run.",
        sizes = size_labels.join(", "),
    ));
    let mut by_size = Table::new(
        std::iter::once("map".to_string())
            .chain(size_labels.iter().cloned())
            .chain(["min–max".to_string()]),
    );
    for m in &rows {
        let v = per_entry_at(m);
        let (lo, hi) = range(&v);
        by_size.row(
            std::iter::once(m.name.to_string())
                .chain(v.iter().map(|x| num(*x, 1)))
                .chain([format!("{}–{}", num(lo, 1), num(hi, 1))]),
        );
    }
    let find = |name: &str| rows.iter().find(|m| m.name == name);
    if let (Some(ours), Some(papaya)) = (find("ttlmap"), find("papaya")) {
        let r: Vec<f64> = per_entry_at(ours)
            .iter()
            .zip(per_entry_at(papaya))
            .map(|(a, b)| a / b)
            .collect();
        let (lo, hi) = range(&r);
        by_size.row(
            std::iter::once("**ttlmap / papaya**".to_string())
                .chain(r.iter().map(|x| format!("{x:.2}×")))
                .chain([format!("{lo:.2}–{hi:.2}×")]),
        );
    }
    sec.table(
        "Heap bytes per entry by number of entries (lower is better)",
        &by_size,
    );
    sec.chart(
        "Bytes per entry by number of entries",
        charts.grouped_bars(
            "memory_sizes.png",
            "Heap bytes per entry by number of u64→u64 entries (lower is better)",
            "bytes/entry",
            &size_labels,
            &rows
                .iter()
                .map(|m| Series {
                    name: m.name.to_string(),
                    values: per_entry_at(m),
                })
                .collect::<Vec<_>>(),
        ),
    );

    let mut t = Table::new([
        "map",
        "bytes/entry",
        "held full",
        "held after removing all",
        "after purge / maintenance",
        "held after drop (bytes)",
    ]);
    for m in &rows {
        t.row([
            m.name.to_string(),
            num(per_entry(m), 1),
            mib(m.full),
            mib(m.removed),
            m.maintained.map_or("n/a".into(), mib),
            m.dropped.to_string(),
        ]);
    }
    sec.text(format!(
        "At {n} entries, then every key removed, then (maps that have one) the explicit \
         clean-up — `purge_expired()` and `shrink_to_fit()` for ttlmap, \
         `run_pending_tasks()` for moka, `shrink_to_fit()` for std's map, also behind \
         `Mutex`/`RwLock`, and dashmap — then the map dropped. A few bytes (±) after drop \
         come from process-wide deferred reclamation (epoch garbage of earlier maps freed \
         during this measurement, or freed later)."
    ));
    sec.table(&format!("Heap held at {n} entries (lower is better)"), &t);
    if let (Some(ours), Some(papaya)) = (find("ttlmap"), find("papaya")) {
        sec.text(format!(
            "ttlmap / papaya bytes per entry at {n}: **{}**",
            ratio(per_entry(ours), per_entry(papaya))
        ));
    }
    sec.chart(
        "Bytes per entry",
        charts.grouped_bars(
            "memory.png",
            &format!("Heap bytes per entry after {n} u64→u64 inserts (lower is better)"),
            "bytes/entry",
            &["bytes/entry".to_string()],
            &rows
                .iter()
                .map(|m| Series {
                    name: m.name.to_string(),
                    values: vec![per_entry(m)],
                })
                .collect::<Vec<_>>(),
        ),
    );
    sec
}
