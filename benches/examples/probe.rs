//! A quick two-map probe, for trying one change at a time: one bustle mix of the
//! comparison binary (same sizes as its full run: capacity 2^21, ops = capacity) for
//! ttlmap and/or papaya only, or the time to build, iterate and drop a map.
//!
//! ```sh
//! cargo run --release -p ttlmap-bench --example probe -- read_heavy|exchange|rapid_grow [ttlmap|papaya|both] [reps] [threads]
//! cargo run --release -p ttlmap-bench --example probe -- walk
//! ```
//!
//! Single runs only; the numbers that go into `BENCHMARKS.md` come from the comparison
//! binary (`src/main.rs`).

use std::time::Instant;

use ttlmap_bench::adapters::{Papaya, TtlMap};
use ttlmap_bench::throughput::MIXES;
use ttlmap_bench::Config;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("read_heavy", |s| s.as_str());
    if which == "walk" {
        walk_times();
        return;
    }
    let only = args.get(2).map_or("both", |s| s.as_str());
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let threads: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
    let Some(spec) = MIXES.iter().find(|m| m.name == which) else {
        let names: Vec<_> = MIXES.iter().map(|m| m.name).collect();
        eprintln!("unknown mix {which:?}: one of {names:?}, or walk");
        std::process::exit(2);
    };
    let capacity_log2 = Config::full(1).capacity_log2;
    for rep in 0..reps {
        let seed = [rep as u8 ^ 0x5a; 32];
        for name in ["ttlmap", "papaya"] {
            if only != "both" && only != name {
                continue;
            }
            let mops = if name == "ttlmap" {
                spec.run::<TtlMap>(threads, capacity_log2, seed)
            } else {
                spec.run::<Papaya>(threads, capacity_log2, seed)
            };
            println!("{which} {name:<8} {mops:.2} Mops/s");
        }
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
