//! Benchmark harness for `ttlmap`: adapters that give every compared map one interface,
//! the workloads of the comparison binary (`src/main.rs`), and the report writer.
//!
//! The criterion micro-benches (`benches/micro.rs`) reuse [`adapters`]. The sections that
//! count the heap run in a second binary, `ttlmap-bench-memory` (see [`heap`]).

pub mod adapters;
pub mod alloc;
pub mod bounded;
pub mod charts;
pub mod floor;
pub mod heap;
pub mod heapstats;
pub mod hitratio;
pub mod latency;
pub mod memory;
pub mod reclamation;
pub mod report;
pub mod throughput;
pub mod ttl;

/// Sizes and repetition counts of one run of the comparison binary.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Repetitions per measurement; tables show the median.
    pub reps: usize,
    /// Throughput: log2 of the initial capacity (ops = capacity).
    pub capacity_log2: u8,
    /// Thread counts for the throughput and latency workloads.
    pub threads: &'static [usize],
    /// Memory and TTL workloads: number of distinct keys.
    pub entries: u64,
    /// TTL reclamation: the short TTL and the idle wait after inserting.
    pub short_ttl: std::time::Duration,
    /// TTL reclamation: how long to stay idle after the inserts.
    pub idle_wait: std::time::Duration,
    /// TTL reclamation: number of unrelated operations run after the wait.
    pub traffic_ops: u64,
    /// Latency: log2 of the number of keys inserted into an empty map.
    pub latency_keys_log2: u8,
    /// A smoke run (`--quick`): the hit-ratio section replays a prefix of each stream.
    pub quick: bool,
}

impl Config {
    /// The sizes the protocol (`shared/docs/bench.md`) asks for.
    pub fn full(reps: usize) -> Self {
        Self {
            reps,
            capacity_log2: 21,
            threads: &[1, 2],
            entries: 1_000_000,
            short_ttl: std::time::Duration::from_secs(1),
            idle_wait: std::time::Duration::from_millis(1500),
            traffic_ops: 100_000,
            latency_keys_log2: 22,
            quick: false,
        }
    }

    /// Small sizes for a smoke run (a few seconds per section).
    pub fn quick(reps: usize) -> Self {
        Self {
            reps,
            capacity_log2: 17,
            threads: &[1, 2],
            entries: 50_000,
            short_ttl: std::time::Duration::from_secs(1),
            idle_wait: std::time::Duration::from_millis(1500),
            traffic_ops: 10_000,
            latency_keys_log2: 16,
            quick: true,
        }
    }
}

/// Median of a non-empty sample (mean of the two middle values for even lengths).
pub fn median(xs: &[f64]) -> f64 {
    assert!(!xs.is_empty(), "median of an empty sample");
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
