//! The cost of an evicting insert in a sparse table (issue #12): a bounded map whose
//! table has far more buckets than entries, because of a capacity hint far above the
//! bound (`hint`) or because `set_max_capacity` lowered the bound of a grown map, whose
//! table never shrinks (`shrink`). Each eviction then walks the directory to find its
//! victim (`src/cache/pool.rs`, "A sparse table").
//!
//! ```sh
//! cargo run --release -p ttlmap-bench --example sparse_evict -- hint CAP HINT [INSERTS]
//! cargo run --release -p ttlmap-bench --example sparse_evict -- shrink GROWN CAP [INSERTS]
//! ```
//!
//! `hint 1 10000`, `hint 1000 1048576` and `shrink 1000000 1000` are the figures in the
//! CHANGELOG (single runs; alternate them with a build of the other code to compare).

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> u64 {
        args.get(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    match args.first().map(String::as_str) {
        Some("hint") => hint(num(1, 1), num(2, 10_000), num(3, 20_000)),
        Some("shrink") => shrink(num(1, 1_000_000), num(2, 1000), num(3, 20_000)),
        _ => panic!("usage: sparse_evict hint CAP HINT [INSERTS] | shrink GROWN CAP [INSERTS]"),
    }
}

/// Capacity `cap`, built with a capacity hint of `hint`, then `n` inserts of new keys
/// (all but the first `cap` evict).
fn hint(cap: u64, hint: u64, n: u64) {
    let map: ttlmap::HashMap<u64, u64> = ttlmap::HashMap::builder()
        .max_capacity(cap)
        .capacity(hint as usize)
        .build();
    let t = Instant::now();
    for i in 0..n {
        map.pin().insert(i, i);
    }
    let dt = t.elapsed();
    println!(
        "cap {cap} hint {hint} ({} buckets): {:.0} ns per insert over {n}, len {}",
        map.bucket_count(),
        dt.as_nanos() as f64 / n as f64,
        map.len()
    );
}

/// A map grown to `grown` entries, bounded to `cap` with `set_max_capacity` (timed), then
/// `n` inserts of new keys, each evicting.
fn shrink(grown: u64, cap: u64, n: u64) {
    let map: ttlmap::HashMap<u64, u64> = ttlmap::HashMap::builder().max_capacity(grown).build();
    for i in 0..grown {
        map.pin().insert(i, i);
    }
    let t = Instant::now();
    map.set_max_capacity(cap);
    let shrink = t.elapsed();
    let t = Instant::now();
    for i in grown..grown + n {
        map.pin().insert(i, i);
    }
    let dt = t.elapsed();
    println!(
        "grown to {grown} ({} buckets), set_max_capacity({cap}): {:.0} ms; then {:.0} ns per \
         insert over {n}, len {}",
        map.bucket_count(),
        shrink.as_secs_f64() * 1e3,
        dt.as_nanos() as f64 / n as f64,
        map.len()
    );
}
