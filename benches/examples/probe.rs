//! A quick probe, for trying one change at a time: one bustle mix of the comparison
//! binary (same sizes as its full run: capacity 2^21, ops = capacity) for ttlmap and/or
//! papaya only (`both`), one of the split-ordered floors (see `ttlmap_bench::floor`:
//! `floor` pins with crossbeam, `floor-seize` with seize, `floor-held` and
//! `floor-seize-held` hold one pin per thread across 64 operations, `floor-slot8` has
//! 8-byte bucket slots), the five floors (`floors`) or all seven (`all`); or the time to
//! build, iterate and drop a map (`walk`); or the cost of each kind of operation (`ops`,
//! all seven by default).
//!
//! ```sh
//! cargo run --release -p ttlmap-bench --example probe -- read_heavy|exchange|rapid_grow [MAPS] [reps] [threads]
//! cargo run --release -p ttlmap-bench --example probe -- walk
//! cargo run --release -p ttlmap-bench --example probe -- ops [MAPS]
//! ```
//!
//! `MAPS` is one name of [`MAPS`], or `both`, `floors` or `all`.
//!
//! Single runs only; the numbers that go into `BENCHMARKS.md` come from the comparison
//! binary (`src/main.rs`).

use std::time::Instant;

use ttlmap_bench::adapters::{BenchMap, MapVisitor, Papaya, TtlMap};
use ttlmap_bench::floor::{Floor, FloorHeld, FloorSeize, FloorSeizeHeld, FloorSlot8};
use ttlmap_bench::throughput::{MixSpec, MIXES};
use ttlmap_bench::Config;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("read_heavy", |s| s.as_str());
    if which == "walk" {
        walk_times();
        return;
    }
    if which == "ops" {
        println!("ns/op, 1.5M keys in a map hinted for 2^21, 1M random ops each, one thread");
        let only = args.get(2).map_or("all", |s| s.as_str());
        struct OpTimes;
        impl MapVisitor for OpTimes {
            fn visit<M: BenchMap>(&mut self) {
                op_times::<M>();
            }
        }
        for name in MAPS.into_iter().filter(|name| picked(only, name)) {
            visit_named(name, &mut OpTimes);
        }
        return;
    }
    let only = args.get(2).map_or("both", |s| s.as_str());
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let threads: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
    let Some(spec) = MIXES.iter().find(|m| m.name == which) else {
        let names: Vec<_> = MIXES.iter().map(|m| m.name).collect();
        eprintln!("unknown mix {which:?}: one of {names:?}, or walk, or ops");
        std::process::exit(2);
    };
    let capacity_log2 = Config::full(1).capacity_log2;
    /// One run of the mix; prints Mops/s.
    struct Run<'a> {
        spec: &'a MixSpec,
        name: &'a str,
        threads: usize,
        capacity_log2: u8,
        seed: [u8; 32],
    }
    impl MapVisitor for Run<'_> {
        fn visit<M: BenchMap>(&mut self) {
            let mops = self
                .spec
                .run::<M>(self.threads, self.capacity_log2, self.seed);
            println!("{} {:<16} {mops:.2} Mops/s", self.spec.name, self.name);
        }
    }
    for rep in 0..reps {
        let seed = [rep as u8 ^ 0x5a; 32];
        for name in MAPS.into_iter().filter(|name| picked(only, name)) {
            let mut run = Run {
                spec,
                name,
                threads,
                capacity_log2,
                seed,
            };
            visit_named(name, &mut run);
        }
    }
}

/// The maps the probe knows, in the order it runs them.
const MAPS: [&str; 7] = [
    "ttlmap",
    "papaya",
    "floor",
    "floor-seize",
    "floor-held",
    "floor-seize-held",
    "floor-slot8",
];

/// Calls `v` with the map type of `name` (one of [`MAPS`]).
fn visit_named(name: &str, v: &mut impl MapVisitor) {
    match name {
        "ttlmap" => v.visit::<TtlMap>(),
        "papaya" => v.visit::<Papaya>(),
        "floor" => v.visit::<Floor>(),
        "floor-seize" => v.visit::<FloorSeize>(),
        "floor-held" => v.visit::<FloorHeld>(),
        "floor-seize-held" => v.visit::<FloorSeizeHeld>(),
        "floor-slot8" => v.visit::<FloorSlot8>(),
        _ => unreachable!("not in MAPS: {name}"),
    }
}

/// Whether the map selection `only` (`both`: ttlmap and papaya; `floors`: the five
/// floors; `all`; or one name) takes `name`.
fn picked(only: &str, name: &str) -> bool {
    match only {
        "both" => matches!(name, "ttlmap" | "papaya"),
        "floors" => name.starts_with("floor"),
        "all" => true,
        _ => only == name,
    }
}

/// Build (capacity hint 2^21), `iter().count()` and drop, empty and with 1.5M entries.
fn walk_times() {
    for n in [0u64, 1_500_000] {
        let t = Instant::now();
        let m: ttlmap::HashMap<u64, u64> = ttlmap::HashMap::with_capacity(1 << 21);
        let built = t.elapsed();
        for i in 0..n {
            m.pin().insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), i);
        }
        let t = Instant::now();
        let count = m.pin().iter().count();
        let iterated = t.elapsed();
        let t = Instant::now();
        drop(m);
        println!(
            "n={n} count={count} build {built:?} iter {iterated:?} drop {:?}",
            t.elapsed()
        );
    }
}

/// Nanoseconds per operation of each kind, on the read_heavy/exchange setup (2^21 hint,
/// 1.5M present keys), keys in random order: which operation a gap comes from.
fn op_times<M: BenchMap>() {
    const PRESENT: u64 = 1_500_000;
    const OPS: u64 = 1_000_000;
    // Distinct pseudo-random keys: an odd multiplier is a bijection on u64.
    let key = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555;
    // Visit order: another bijection, so the present keys are hit out of insertion order.
    let order = |i: u64| (i.wrapping_mul(0xD1B5_4A32_D192_ED03)) % PRESENT;
    let m = M::with_capacity(1 << 21);
    for i in 0..PRESENT {
        m.insert(key(i), i);
    }
    let time = |f: &dyn Fn(u64) -> bool| {
        let t = Instant::now();
        let mut hits = 0u64;
        for i in 0..OPS {
            hits += u64::from(f(i));
        }
        (t.elapsed().as_nanos() as f64 / OPS as f64, hits)
        // (insert and remove do OPS / 2 real operations: their figures are doubled below)
    };
    // Inserts and removes stay below the hint (no growth), as in bustle's exchange.
    let fresh = |i: u64| key(PRESENT + i % (OPS / 2));
    let results = [
        ("get-hit", time(&|i| m.get(&key(order(i))))),
        ("get-miss", time(&|i| m.get(&key(PRESENT + i)))),
        ("insert", time(&|i| i < OPS / 2 && m.insert(fresh(i), i))),
        (
            "remove",
            time(&|i| i < OPS / 2 && m.remove(&fresh(i.wrapping_mul(7) % (OPS / 2)))),
        ),
        ("update", time(&|i| m.update(&key(order(i))))),
    ];
    let cells: Vec<String> = results
        .iter()
        .map(|(op, (ns, hits))| {
            let ns = if matches!(*op, "insert" | "remove") {
                ns * 2.0
            } else {
                *ns
            };
            format!("{op} {ns:.0} ({hits})")
        })
        .collect();
    println!("{:<20} {}", M::NAME, cells.join("  "));
}
