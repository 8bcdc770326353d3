//! Sweeps policy prototypes over the hit-ratio streams (no peers unless asked): the tool
//! the recommended configuration was chosen with.
//!
//! ```sh
//! cargo run --release -p ttlmap-bench --example policy_sweep -- \
//!     [--traces OLTP,P3] [--peers: Belady, LRU, exact W-TinyLFU] [--quick] [map] [name=key:val,key:val ...]
//! ```
//! Keys: `sample`, `main` (lru, lfu, slru), `window` (per mille), `climb` (period, in
//! requests per entry; 0: fixed window), `maxwin` (per mille), `ghost` (step, ppm of capacity), `gsize` (per mille), `reset` (events per entry), `minwin` (per mille), `sketch` (words per entry), `gate` (per mille), `ties` (0/1), `admission` (0/1),
//! `refresh` (shift), `record` (every, refresh). Unset keys keep `Config::default()`.
//! `map` is the real map (`max_capacity`), one pin per request.
//! `name=exact,window:10,adaptive:1,period:10` is the exact W-TinyLFU with these knobs.

use std::path::Path;

use ttlmap::cache::{Config, HitRecord, MainOrder};
use ttlmap_bench::hitratio::sim::Exact;
use ttlmap_bench::hitratio::{self, Contender, Replayer};

fn parse(spec: &str) -> Result<Contender, String> {
    let (name, kv) = spec.split_once('=').unwrap_or((spec, ""));
    if let Some(kv) = kv.strip_prefix("exact,") {
        let mut e = Exact::caffeine(false);
        for pair in kv.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once(':').ok_or(format!("bad pair {pair}"))?;
            let f = || v.parse::<f64>().map_err(|_| format!("bad number {v}"));
            match k {
                "window" => e.window_permille = f()? as u32,
                "adaptive" => e.adaptive = f()? != 0.0,
                "period" => e.period_per_entry = f()?,
                _ => return Err(format!("unknown key {k}")),
            }
        }
        return Ok(Contender {
            name: name.to_string(),
            replayer: Replayer::WTinyLfuExact(e),
        });
    }
    let mut c = Config::default();
    for pair in kv.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once(':').ok_or(format!("bad pair {pair}"))?;
        let n = || v.parse::<u32>().map_err(|_| format!("bad number {v}"));
        match k {
            "sample" => c.sample = n()? as usize,
            "main" => {
                c.main = match v {
                    "lru" => MainOrder::Lru,
                    "lfu" => MainOrder::Lfu,
                    "slru" => MainOrder::Slru,
                    "slrulfu" => MainOrder::SlruLfu,
                    _ => return Err(format!("bad main order {v}")),
                }
            }
            "climb" => c.climb_period = n()?,
            "maxwin" => c.max_window_permille = n()?,
            "ghost" => c.ghost_step_ppm = n()?,
            "gsize" => c.ghost_permille = n()?,
            "reset" => c.reset_per_entry = n()?,
            "minwin" => c.min_window_permille = n()?,
            "sketch" => c.sketch_scale = n()?,
            "gate" => c.ghost_gate_permille = n()?,
            "ties" => c.admit_ties = n()? != 0,
            "admission" => c.admission = n()? != 0,
            "window" => c.window_permille = n()?,
            "refresh" => c.refresh_shift = n()?,
            "record" => {
                c.record_hits = match v {
                    "every" => HitRecord::Every,
                    "refresh" => HitRecord::OnRefresh,
                    _ => return Err(format!("bad record {v}")),
                }
            }
            _ => return Err(format!("unknown key {k}")),
        }
    }
    Ok(Contender {
        name: name.to_string(),
        replayer: Replayer::Policy(c),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut traces_wanted: Option<Vec<String>> = None;
    let mut contenders = Vec::new();
    let mut quick = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--traces" => {
                traces_wanted = Some(
                    it.next()
                        .expect("--traces needs a list")
                        .split(',')
                        .map(str::to_lowercase)
                        .collect(),
                )
            }
            "--quick" => quick = true,
            "--peers" => contenders.extend(hitratio::contenders().into_iter().filter(|c| {
                !matches!(
                    c.replayer,
                    Replayer::Policy(_) | Replayer::Moka | Replayer::QuickCache
                )
            })),
            "map" => contenders.push(Contender {
                name: hitratio::REAL_MAP.to_string(),
                replayer: Replayer::TtlMap,
            }),
            spec => contenders.push(parse(spec).unwrap_or_else(|e| panic!("{e}"))),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let traces = hitratio::load_wanted(&root, quick, traces_wanted.as_deref());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (hits, _) = hitratio::replay_all(&traces, &contenders, threads);
    for (t, trace) in traces.iter().enumerate() {
        println!("\n{}\n", trace.name);
        print!(
            "{}",
            hitratio::trace_table(trace, &contenders, &hits[t]).to_markdown()
        );
    }
}
