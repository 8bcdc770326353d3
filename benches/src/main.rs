//! Comparison binary: `cargo run --release -p ttlmap-bench -- --all`.
//!
//! Prints markdown tables on stdout (progress on stderr) and writes `BENCHMARKS.md` at the
//! workspace root plus PNG charts under `benches/charts/`. `--quick` writes to
//! `target/ttlmap-bench-quick/` instead, so a smoke run never replaces the real report.
//!
//! This process keeps the plain `System` allocator, so the timed sections pay nothing for
//! counting; the sections that count the heap run one by one in the `ttlmap-bench-memory`
//! binary (counting allocator), which this one builds and runs (`ttlmap_bench::heap`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ttlmap_bench::adapters::select_maps;
use ttlmap_bench::charts::Charts;
use ttlmap_bench::heap::{self, ChildOptions};
use ttlmap_bench::report::{self, Section};
use ttlmap_bench::{bounded, hitratio, latency, throughput, ttl, Config};

const USAGE: &str = "\
usage: ttlmap-bench [--all] [--throughput] [--memory] [--reclamation] [--ttl] [--latency]
                    [--hit-ratio] [--bounded] [--quick] [--reps N] [--maps a,b] [--out-dir DIR]

  --all          every section (the default when no section is named)
  --throughput   bustle mixes (read_heavy, exchange, rapid_grow) at 1 and 2 threads
  --memory       heap bytes per entry at several sizes, after removal, after drop
  --reclamation  ttlmap's heap after bulk removal through a handle (purge, clear, retain)
  --ttl          insert-with-TTL / get cost vs moka, and expired-data reclamation
  --latency      insert latency percentiles while growing from empty
  --hit-ratio    bounded-cache hit ratio vs moka, quick_cache, LRU and Belady on the ARC
                 traces, Zipf and a loop (about 2 minutes)
  --bounded      bounded-cache throughput (read_heavy, exchange) vs moka and quick_cache,
                 and the accuracy of stats().heap_bytes
  --quick        small sizes and 1 repetition (smoke run); writes under target/
  --reps N       repetitions per measurement (default 5; 1 with --quick)
  --maps a,b     only the maps whose name contains one of these (case-insensitive)
  --out-dir DIR  write BENCHMARKS.md and charts/ into DIR";

#[derive(Default)]
struct Args {
    throughput: bool,
    memory: bool,
    reclamation: bool,
    ttl: bool,
    latency: bool,
    hit_ratio: bool,
    bounded: bool,
    quick: bool,
    reps: Option<usize>,
    maps: Option<String>,
    out_dir: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--all" => {
                a.throughput = true;
                a.memory = true;
                a.reclamation = true;
                a.ttl = true;
                a.latency = true;
                a.hit_ratio = true;
                a.bounded = true;
            }
            "--throughput" => a.throughput = true,
            "--memory" => a.memory = true,
            "--reclamation" => a.reclamation = true,
            "--ttl" => a.ttl = true,
            "--latency" => a.latency = true,
            "--hit-ratio" => a.hit_ratio = true,
            "--bounded" => a.bounded = true,
            "--quick" => a.quick = true,
            "--reps" => {
                let n = it.next().ok_or("--reps needs a number")?;
                let n: usize = n.parse().map_err(|_| format!("bad --reps value: {n}"))?;
                if n == 0 {
                    return Err("--reps must be at least 1".into());
                }
                a.reps = Some(n);
            }
            "--maps" => {
                let m = it.next().ok_or("--maps needs a comma-separated list")?;
                if heap::split_list(m).is_empty() {
                    return Err("--maps needs at least one name".into());
                }
                a.maps = Some(m.clone());
            }
            "--out-dir" => a.out_dir = Some(it.next().ok_or("--out-dir needs a path")?.into()),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    if !(a.throughput
        || a.memory
        || a.reclamation
        || a.ttl
        || a.latency
        || a.hit_ratio
        || a.bounded)
    {
        (a.throughput, a.memory, a.reclamation, a.ttl, a.latency) = (true, true, true, true, true);
        (a.hit_ratio, a.bounded) = (true, true);
    }
    Ok(a)
}

fn workspace_root() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    dir.canonicalize().unwrap_or(dir)
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&raw) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let cfg = if args.quick {
        Config::quick(args.reps.unwrap_or(1))
    } else {
        Config::full(args.reps.unwrap_or(5))
    };
    let root = workspace_root();
    let (doc, charts_dir) = match (&args.out_dir, args.quick) {
        (Some(dir), _) => (dir.join("BENCHMARKS.md"), dir.join("charts")),
        (None, true) => {
            let dir = root.join("target").join("ttlmap-bench-quick");
            (dir.join("BENCHMARKS.md"), dir.join("charts"))
        }
        (None, false) => (
            root.join("BENCHMARKS.md"),
            root.join("benches").join("charts"),
        ),
    };
    let charts = match Charts::new(&charts_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot create {}: {e}", charts_dir.display());
            return ExitCode::FAILURE;
        }
    };
    if !charts.has_text() {
        eprintln!("note: no TrueType font found (set TTLMAP_BENCH_FONT); charts without text");
    }

    if let Some(m) = &args.maps {
        select_maps(&heap::split_list(m));
    }

    let command = format!("cargo run --release -p ttlmap-bench -- {}", raw.join(" "));
    println!(
        "# ttlmap benchmarks\n\n{}\n`{}`\n",
        report::machine_facts(),
        command.trim()
    );

    // The heap sections first, each in its own child process: they take about two
    // minutes, and a failure to build or run the child stops the run before the timed
    // sections, which take the rest.
    let heap_selected = [
        (args.memory, "memory"),
        (args.reclamation, "reclamation"),
        (args.ttl, "ttl-expiry"),
        (args.bounded, "heap-stats"),
    ];
    let mut heap_done: Vec<(&str, Section)> = Vec::new();
    if heap_selected.iter().any(|(on, _)| *on) {
        eprintln!("== building {}", heap::BIN);
        let child = match heap::build_child(&root) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let opts = ChildOptions {
            quick: args.quick,
            reps: args.reps,
            maps: args.maps.clone(),
            charts_dir: charts_dir.clone(),
        };
        for (on, name) in heap_selected {
            if !on {
                continue;
            }
            match heap::run_in_child(&child, name, &opts) {
                Ok(sec) => {
                    println!("{}", sec.to_stdout());
                    heap_done.push((name, sec));
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let mut heap_section = |name: &str| {
        heap_done
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| heap_done.remove(i).1)
    };

    // The timed sections, on the plain allocator; the report in reading order.
    let mut sections: Vec<Section> = Vec::new();
    let timed = |on: bool, name: &str, run: fn(&Config, &Charts) -> Section| {
        if on {
            eprintln!("== {name}");
            let sec = run(&cfg, &charts);
            println!("{}", sec.to_stdout());
            Some(sec)
        } else {
            None
        }
    };
    sections.extend(timed(args.throughput, "throughput", throughput::run));
    sections.extend(heap_section("memory"));
    sections.extend(heap_section("reclamation"));
    sections.extend(timed(args.ttl, "ttl", ttl::run_ops));
    sections.extend(heap_section("ttl-expiry"));
    sections.extend(timed(args.latency, "latency", latency::run));
    sections.extend(timed(args.hit_ratio, "hit ratio", hitratio::run));
    sections.extend(timed(args.bounded, "bounded", bounded::run));
    sections.extend(heap_section("heap-stats"));

    if let Some(parent) = doc.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    match report::write_markdown(&doc, command.trim(), args.quick, &sections) {
        Ok(()) => {
            eprintln!(
                "wrote {} and charts in {}",
                doc.display(),
                charts_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", doc.display());
            ExitCode::FAILURE
        }
    }
}
