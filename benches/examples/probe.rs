//! A quick two-map probe, for trying one change at a time: one bustle mix (as the
//! comparison binary runs it: capacity 2^21, ops = capacity) for ttlmap and/or papaya
//! only, or the time to build, iterate and drop a map.
//!
//! ```sh
//! cargo run --release -p ttlmap-bench --example probe -- read|exchange|grow [ttlmap|papaya|both] [reps] [threads]
//! cargo run --release -p ttlmap-bench --example probe -- walk
//! ```
//!
//! Single runs only; the numbers that go into `BENCHMARKS.md` come from the comparison
//! binary (`src/main.rs`).

use std::time::Instant;

use bustle::{Mix, Workload};
use ttlmap_bench::adapters::{Papaya, Table, TtlMap};

const fn mix(read: u8, insert: u8, remove: u8, update: u8) -> Mix {
    Mix {
        read,
        insert,
        remove,
        update,
        upsert: 0,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("read", |s| s.as_str());
    if which == "walk" {
        walk_times();
        return;
    }
    let only = args.get(2).map_or("both", |s| s.as_str());
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let threads: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
    let (mix, prefill) = match which {
        "read" => (mix(98, 1, 1, 0), 0.75),
        "exchange" => (mix(10, 40, 40, 10), 0.75),
        "grow" => (mix(5, 80, 5, 10), 0.0),
        other => {
            eprintln!("unknown mix {other:?}: read, exchange, grow or walk");
            std::process::exit(2);
        }
    };
    for rep in 0..reps {
        let seed = [rep as u8 ^ 0x5a; 32];
        let run = |name: &str| {
            let mut w = Workload::new(threads, mix);
            w.initial_capacity_log2(21)
                .prefill_fraction(prefill)
                .operations(1.0)
                .seed(seed);
            let m = if name == "ttlmap" {
                w.run_silently::<Table<TtlMap>>()
            } else {
                w.run_silently::<Table<Papaya>>()
            };
            println!("{which} {name:<8} {:.2} Mops/s", m.throughput / 1e6);
        };
        if only != "papaya" {
            run("ttlmap");
        }
        if only != "ttlmap" {
            run("papaya");
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
