//! Hit ratio of the bounded-cache policy against moka, quick_cache, exact LRU and
//! Belady's optimum (`shared/docs/bench.md`, "Hit ratio").
//!
//! Each stream is replayed single-threaded through each cache at each size: every
//! request is a `get`, and a miss inserts the key. The streams are the ARC traces
//! ([`traces::load_arc`]), two Zipf streams and a loop mixed with a hot set. The policy
//! prototypes (`ttlmap::cache`) run over a model of the map ([`sim::policy`]).

pub mod reference;
pub mod sim;
pub mod traces;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ttlmap::cache::{Config as PolicyConfig, MainOrder};

use crate::charts::{Charts, Series};
use crate::report::{count_label, num, Section, Table};
use traces::Trace;

/// A cache the harness replays streams through.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Replayer {
    /// Belady's MIN with bypass (the ceiling).
    Belady,
    /// Exact LRU.
    Lru,
    /// moka 0.12 `sync::Cache`.
    Moka,
    /// quick_cache 0.7 `sync::Cache`.
    QuickCache,
    /// The real map: `ttlmap::HashMap::builder().max_capacity(n)` (its policy, sampling
    /// the map's own table).
    TtlMap,
    /// Exact W-TinyLFU with linked lists (the reference the prototypes approximate);
    /// its knobs.
    WTinyLfuExact(sim::Exact),
    /// A `ttlmap::cache::Policy` prototype over a model of the map.
    Policy(PolicyConfig),
}

/// A named cache.
#[derive(Clone, Debug)]
pub struct Contender {
    /// Row label.
    pub name: String,
    /// What replays.
    pub replayer: Replayer,
}

impl Contender {
    fn new(name: &str, replayer: Replayer) -> Self {
        Contender {
            name: name.into(),
            replayer,
        }
    }

    /// Hits over `trace` at `cap` entries (`next` is the trace's next-use array, which
    /// only Belady reads).
    pub fn hits(&self, trace: &Trace, next: &[u32], cap: usize) -> u64 {
        match self.replayer {
            Replayer::Belady => reference::belady(trace, next, cap),
            Replayer::Lru => reference::lru(trace, cap),
            Replayer::Moka => sim::moka(trace, cap),
            Replayer::QuickCache => sim::quick_cache(trace, cap),
            Replayer::TtlMap => sim::ttlmap(trace, cap),
            Replayer::WTinyLfuExact(knobs) => sim::wtinylfu_exact(trace, cap, knobs),
            Replayer::Policy(cfg) => sim::policy(trace, cap, cfg),
        }
    }
}

/// Name of the recommended prototype's row (the policy over a model of the map).
pub const RECOMMENDED: &str = "ttlmap policy (recommended)";

/// Name of the real map's row.
pub const REAL_MAP: &str = "ttlmap (the map, max_capacity)";

/// A prototype with a fixed window (per mille) and Caffeine's sketch settings (one word
/// per entry, halved every 10 events per entry).
fn fixed(window_permille: u32) -> PolicyConfig {
    PolicyConfig {
        window_permille,
        ghost_step_ppm: 0,
        sketch_scale: 1,
        reset_per_entry: 10,
        ..PolicyConfig::default()
    }
}

/// The recommended policy, the peers and references, then the other prototypes (more
/// are compared by `examples/policy_sweep.rs`).
pub fn contenders() -> Vec<Contender> {
    let d = PolicyConfig::default();
    vec![
        Contender::new(REAL_MAP, Replayer::TtlMap),
        Contender::new(RECOMMENDED, Replayer::Policy(d)),
        Contender::new("Belady (optimum)", Replayer::Belady),
        Contender::new("LRU (exact)", Replayer::Lru),
        Contender::new("moka 0.12", Replayer::Moka),
        Contender::new("quick_cache 0.7", Replayer::QuickCache),
        Contender::new(
            "W-TinyLFU exact (1 % window)",
            Replayer::WTinyLfuExact(sim::Exact::caffeine(false)),
        ),
        Contender::new(
            "W-TinyLFU exact, adaptive window",
            Replayer::WTinyLfuExact(sim::Exact::caffeine(true)),
        ),
        Contender::new(
            "sampled LRU",
            Replayer::Policy(PolicyConfig {
                main: MainOrder::Lru,
                admission: false,
                ..fixed(0)
            }),
        ),
        Contender::new(
            "sampled LRU + TinyLFU at the door",
            Replayer::Policy(PolicyConfig {
                main: MainOrder::Lru,
                ..fixed(0)
            }),
        ),
        Contender::new(
            "sampled W-TinyLFU, fixed 1 % window",
            Replayer::Policy(PolicyConfig {
                main: MainOrder::Slru,
                ..fixed(10)
            }),
        ),
    ]
}

/// The streams, each with its sizes. `quick` keeps the first eighth of each stream (a
/// smoke run). A missing ARC trace is skipped with a note.
pub fn load_traces(workspace: &Path, quick: bool) -> (Vec<Trace>, Vec<String>) {
    let dir = traces::trace_dir(workspace);
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let arc: [(&str, &str, &[usize]); 2] = [
        (
            "OLTP",
            "OLTP.lis.zst",
            &[1_000, 2_000, 5_000, 10_000, 15_000],
        ),
        ("P3", "P3.lis.zst", &[25_000, 50_000, 100_000, 200_000]),
    ];
    for (name, file, sizes) in arc {
        let path = dir.join(file);
        match traces::load_arc(&path, name, sizes) {
            Ok(t) => out.push(t),
            Err(e) => notes.push(format!(
                "{name} skipped: cannot read {}: {e}",
                path.display()
            )),
        }
    }
    let zipf_sizes = [1_000, 5_000, 25_000, 100_000];
    out.push(traces::zipf(0.8, 1_000_000, 1_000_000, 8, &zipf_sizes));
    out.push(traces::zipf(1.0, 1_000_000, 1_000_000, 10, &zipf_sizes));
    out.push(traces::loop_with_hot_set(
        11_000,
        1_000,
        600_000,
        12,
        &[2_000, 5_000, 10_000, 11_000],
    ));
    if quick {
        for t in &mut out {
            let n = t.ids.len() / 8;
            t.truncate(n);
        }
    }
    (out, notes)
}

/// The streams of [`load_traces`], only those whose name (in lower case) is in `wanted` if
/// it is given; the notes of skipped files go to stderr (the examples that replay a
/// selection: `policy_sweep`, `evict_proto`).
pub fn load_wanted(workspace: &Path, quick: bool, wanted: Option<&[String]>) -> Vec<Trace> {
    let (mut traces, notes) = load_traces(workspace, quick);
    for n in notes {
        eprintln!("{n}");
    }
    if let Some(w) = wanted {
        traces.retain(|t| w.contains(&t.name.to_lowercase()));
    }
    traces
}

/// Hit % of every contender at every size of every trace: `[trace][contender][size]`,
/// and the CPU time each contender took in all. Runs on `threads` worker threads (each
/// replay is single-threaded and independent).
pub fn replay_all(
    traces: &[Trace],
    contenders: &[Contender],
    threads: usize,
) -> (Vec<Vec<Vec<f64>>>, Vec<Duration>) {
    let nexts: Vec<Vec<u32>> = traces.iter().map(Trace::next_use).collect();
    let mut jobs: Vec<(usize, usize, usize)> = Vec::new();
    for (t, trace) in traces.iter().enumerate() {
        for c in 0..contenders.len() {
            for s in 0..trace.sizes.len() {
                jobs.push((t, c, s));
            }
        }
    }
    // The slow ones first, so that the workers finish together.
    let cost = |&(t, c, _): &(usize, usize, usize)| {
        let per_req = match contenders[c].replayer {
            Replayer::Moka => 10,
            Replayer::QuickCache | Replayer::Belady | Replayer::TtlMap => 3,
            _ => 1,
        };
        traces[t].ids.len() * per_req
    };
    jobs.sort_by_key(|j| std::cmp::Reverse(cost(j)));
    let results = Mutex::new(
        traces
            .iter()
            .map(|t| vec![vec![f64::NAN; t.sizes.len()]; contenders.len()])
            .collect::<Vec<_>>(),
    );
    let times = Mutex::new(vec![Duration::ZERO; contenders.len()]);
    let next_job = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next_job.fetch_add(1, Ordering::Relaxed);
                let Some(&(t, c, si)) = jobs.get(i) else {
                    break;
                };
                let trace = &traces[t];
                let start = Instant::now();
                let hits = contenders[c].hits(trace, &nexts[t], trace.sizes[si]);
                let took = start.elapsed();
                let pct = 100.0 * hits as f64 / trace.ids.len().max(1) as f64;
                results.lock().unwrap()[t][c][si] = pct;
                times.lock().unwrap()[c] += took;
            });
        }
    });
    (results.into_inner().unwrap(), times.into_inner().unwrap())
}

/// The best of moka, quick_cache and exact LRU at each size, minus one point: the
/// issue's target for the policy.
fn target(contenders: &[Contender], hits: &[Vec<f64>], sizes: usize) -> Vec<f64> {
    (0..sizes)
        .map(|s| {
            contenders
                .iter()
                .zip(hits)
                .filter(|(c, _)| {
                    matches!(
                        c.replayer,
                        Replayer::Lru | Replayer::Moka | Replayer::QuickCache
                    )
                })
                .map(|(_, h)| h[s])
                .fold(f64::NEG_INFINITY, f64::max)
                - 1.0
        })
        .collect()
}

/// One trace's table: a row per contender, a column per size, plus the target row.
pub fn trace_table(trace: &Trace, contenders: &[Contender], hits: &[Vec<f64>]) -> Table {
    let mut t = Table::new(
        std::iter::once("cache".to_string())
            .chain(trace.sizes.iter().map(|&s| count_label(s as u64))),
    );
    let goal = target(contenders, hits, trace.sizes.len());
    for (c, h) in contenders.iter().zip(hits) {
        let name = if c.name == RECOMMENDED || c.name == REAL_MAP {
            format!("**{}**", c.name)
        } else {
            c.name.clone()
        };
        let cells = h.iter().zip(&goal).map(|(&v, &g)| {
            let ours = matches!(c.replayer, Replayer::Policy(_) | Replayer::TtlMap);
            let mark = if ours && v < g { " ✗" } else { "" };
            format!("{}{mark}", num(v, 2))
        });
        t.row(std::iter::once(name).chain(cells));
    }
    t.row(
        std::iter::once("_target: best of LRU, moka, quick_cache − 1_".to_string())
            .chain(goal.iter().map(|&g| format!("_{}_", num(g, 2)))),
    );
    t
}

/// Runs the section.
pub fn run(cfg: &crate::Config, charts: &Charts) -> Section {
    let root = {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        dir.canonicalize().unwrap_or(dir)
    };
    let started = Instant::now();
    let (traces, notes) = load_traces(&root, cfg.quick);
    let loaded = started.elapsed();
    let contenders = contenders();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (hits, times) = replay_all(&traces, &contenders, threads);

    let mut sec = Section::new("Hit ratio (bounded cache)");
    sec.text(format!(
        "Each stream replayed single-threaded through each cache at each size: every request \
         a `get`, a miss inserts the key; hit % of all requests (cold misses included). The first \
         row is the map itself, `HashMap::builder().max_capacity(size).build()` with its \
         default hasher, one `pin()` per request. The `ttlmap policy` rows are the eviction \
         policy of `src/cache/` alone over a model of the map: a table of live entries that the policy samples \
         from (k = {} random entries per eviction) and looks the window's candidate up in. \
         The recommended one is a sampled W-TinyLFU: a FIFO window ring of recent inserts' \
         hashes whose length ghosts adapt (1 % to 100 % of the capacity), TinyLFU admission \
         at the window's exit against a sampled main victim (unprotected, then least \
         frequent, then oldest), a 4-bit sketch of 2 words per entry; the other prototypes \
         show what each part buys (`examples/policy_sweep.rs` compares more). Belady's MIN \
         (with bypass) is the ceiling; the exact W-TinyLFU rows use linked lists (Caffeine's \
         design, with and without its hill climber) and do not fit a lock-free table. The map, \
         moka and quick_cache hash with their default random hashers, so their figures move \
         between runs; the rest is deterministic. A ✗ marks the map or a prototype below \
         the target row (the best of LRU, moka and quick_cache at that size, minus one \
         point). Streams loaded in {:.1} s; replays on {threads} threads in {:.1} s.",
        PolicyConfig::default().sample,
        loaded.as_secs_f64(),
        (started.elapsed() - loaded).as_secs_f64(),
    ));
    let mut mem = Table::new(["capacity", "policy bytes per entry of capacity"]);
    for cap in [1_000u64, 10_000, 100_000, 1_000_000] {
        let p = ttlmap::cache::Policy::new(cap, PolicyConfig::default());
        mem.row([count_label(cap), num(p.bytes() as f64 / cap as f64, 1)]);
    }
    sec.table(
        "Memory of the recommended policy (sketch, window ring, ghosts, clocks), besides its \
         8-byte word per entry",
        &mem,
    );
    if cfg.quick {
        sec.text("_Smoke run: the first eighth of each stream only._");
    }
    for n in &notes {
        sec.text(format!("_{n}_"));
    }
    for (t, trace) in traces.iter().enumerate() {
        sec.table(
            &format!(
                "{}: {}, {} keys — hit %",
                trace.name, trace.about, trace.unique
            ),
            &trace_table(trace, &contenders, &hits[t]),
        );
        let shown: Vec<usize> = (0..contenders.len())
            .filter(|&c| {
                !matches!(contenders[c].replayer, Replayer::Policy(_))
                    || contenders[c].name == RECOMMENDED
            })
            .collect();
        sec.chart(
            &format!("Hit ratio vs size, {}", trace.name),
            charts.log_x_lines(
                &format!(
                    "hitratio_{}.png",
                    trace.name.to_lowercase().replace('.', "_")
                ),
                &format!("{}: hit ratio vs cache size", trace.name),
                ("cache size (entries, log scale)", "hit %"),
                &trace.sizes.iter().map(|&s| s as f64).collect::<Vec<_>>(),
                &shown
                    .iter()
                    .map(|&c| Series {
                        name: contenders[c].name.clone(),
                        values: hits[t][c].clone(),
                    })
                    .collect::<Vec<_>>(),
            ),
        );
    }
    let mut tt = Table::new(["cache", "replay time, all streams and sizes (s)"]);
    for (c, d) in contenders.iter().zip(&times) {
        tt.row([c.name.clone(), num(d.as_secs_f64(), 1)]);
    }
    sec.table(
        "Replay time (CPU seconds per cache; not a throughput benchmark)",
        &tt,
    );
    sec
}
