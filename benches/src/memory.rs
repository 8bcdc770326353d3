//! Memory: live heap bytes per entry, after removing everything, and after dropping.

use std::collections::HashMap as StdHashMap;

use crate::adapters::{for_each_map, BenchMap, Hasher, MapVisitor};
use crate::alloc::HeapProbe;
use crate::charts::{Charts, Series};
use crate::report::{mib, num, ratio, Section, Table};
use crate::Config;

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

struct Measured {
    name: &'static str,
    full: isize,
    removed: isize,
    maintained: Option<isize>,
    dropped: isize,
}

fn measure<M: MemSubject>(n: u64) -> Measured {
    let probe = HeapProbe::start();
    let mut map = M::new();
    (0..n).for_each(|i| map.insert(key(i)));
    let full = probe.held();
    (0..n).for_each(|i| map.remove(&key(i)));
    let removed = probe.held();
    let maintained = map.maintain().then(|| probe.held());
    drop(map);
    let dropped = probe.held();
    eprintln!("  memory: {:<18} {:>12} bytes held full", M::NAME, full);
    Measured {
        name: M::NAME,
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

/// Runs the memory workload and returns the report section.
pub fn run(cfg: &Config, charts: &Charts) -> Section {
    let n = cfg.entries;
    let mut c = Collect(n, Vec::new());
    for_each_map(&mut c);
    c.1.push(measure::<StdHashMap<u64, u64, Hasher>>(n));
    let rows = c.1;

    let per_entry = |m: &Measured| m.full as f64 / n as f64;
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
    let find = |name: &str| rows.iter().find(|m| m.name == name);
    let mut sec = Section::new("Memory");
    sec.text(format!(
        "Live heap bytes counted by a `#[global_allocator]` wrapping `System` (sum of \
         `layout.size()`, not allocator overhead). {n} distinct u64 → u64 inserts with no \
         capacity hint, then every key removed, then (maps that have one) the explicit clean-up \
         — `purge_expired()` and `shrink_to_fit()` for ttlmap, `run_pending_tasks()` for \
         moka, `shrink_to_fit()` for std's map, also behind `Mutex`/`RwLock`, and dashmap \
         — then the map dropped. \
         Memory is deterministic enough that one repetition is run. A few bytes (±) after \
         drop come from process-wide deferred reclamation (epoch garbage of earlier maps freed \
         during this measurement, or freed later)."
    ));
    sec.table("Heap held (lower is better)", &t);
    if let (Some(ours), Some(papaya)) = (find("ttlmap"), find("papaya")) {
        sec.text(format!(
            "ttlmap / papaya bytes per entry: **{}**",
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
