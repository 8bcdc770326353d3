//! A bounded cache in front of a slow backend.
//!
//! Four threads serve requests for keys drawn from a skewed (Zipf-like) distribution;
//! each request is `get_or_load`, which on a miss asks the backend — a "database" that
//! takes 200 µs a query — once per key however many threads miss on it at the same
//! time. The cache holds at most 2,000 entries of 1 MiB of values in all (a weigher
//! bounds bytes, not entries), entries expire after a second, and an eviction listener
//! counts why entries left. At the end it prints the statistics: the hit ratio, how
//! often the backend was asked, evictions, and memory.
//!
//! ```sh
//! cargo run --release --example cache
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ttlmap::{HashMap, RemovalCause};

/// The slow backend: every query sleeps, and is counted.
struct Database {
    queries: AtomicU64,
}

impl Database {
    fn query(&self, id: u64) -> String {
        self.queries.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_micros(200));
        format!("record #{id}: {}", "x".repeat((id % 700) as usize))
    }
}

/// Why entries left, counted by the eviction listener.
#[derive(Default)]
struct Departures {
    size: AtomicU64,
    expired: AtomicU64,
    other: AtomicU64,
}

fn main() {
    let db = Database {
        queries: AtomicU64::new(0),
    };
    let gone = Arc::new(Departures::default());
    let g = gone.clone();
    let cache: HashMap<u64, String> = HashMap::builder()
        .max_capacity(1 << 20) // bytes of values, with the weigher below
        .weigher(|_id: &u64, record: &String| record.len() as u32)
        .default_ttl(Duration::from_secs(1))
        .eviction_listener(move |_id: &u64, _record: &String, cause| {
            let counter = match cause {
                RemovalCause::Size => &g.size,
                RemovalCause::Expired => &g.expired,
                _ => &g.other,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .record_stats()
        .build();

    const THREADS: u64 = 4;
    const REQUESTS: u64 = 50_000;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (cache, db) = (&cache, &db);
            s.spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15 ^ (t + 1);
                for _ in 0..REQUESTS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Skewed: small ids are far more popular (a discrete power law
                    // over 100,000 ids).
                    let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                    let id = (100_000f64.powf(u * u)) as u64;
                    let record = cache.pin().get_or_load(id, || db.query(id)).len();
                    assert!(record >= 10);
                }
            });
        }
    });
    let elapsed = start.elapsed();

    let s = cache.stats();
    let requests = THREADS * REQUESTS;
    println!("{requests} requests by {THREADS} threads in {elapsed:.2?}");
    println!(
        "hit ratio {:.1} % ({} hits, {} misses); the backend was queried {} times",
        100.0 * s.hit_ratio(),
        s.hits,
        s.misses,
        db.queries.load(Ordering::Relaxed)
    );
    println!(
        "entries {} holding {} bytes of values (bound {} bytes)",
        s.entries,
        s.weighted_size,
        cache.max_capacity().unwrap()
    );
    println!(
        "left the cache: {} evicted for size, {} expired, {} other (stats: {} evictions, {} expirations)",
        gone.size.load(Ordering::Relaxed),
        gone.expired.load(Ordering::Relaxed),
        gone.other.load(Ordering::Relaxed),
        s.evictions,
        s.expirations
    );
    println!(
        "memory: about {} KiB owned by the map, {} KiB awaiting reclamation",
        s.heap_bytes / 1024,
        s.garbage_bytes / 1024
    );
    assert!(s.weighted_size <= 1 << 20, "the bound holds");
}
