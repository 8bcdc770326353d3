//! Replays stored fuzz inputs on stable Rust, without libFuzzer:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --no-default-features --release --bin replay
//! cargo run ... --bin replay -- ops fuzz/artifacts/ops/crash-1234   # one target, given files/dirs
//! ```
//!
//! Without arguments, every file in `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/`
//! runs through the interpreter of `<target>` (the directory name). Each input runs under
//! `catch_unwind`; a panicking input is reported by path and the exit status is 1.
//!
//! `--repeat N` (first) runs each `concurrent` input N times: its interleavings differ
//! from run to run. The other targets are deterministic and run once.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

type Runner = fn(&[u8]);

fn runner(target: &str) -> Option<Runner> {
    match target {
        "ops" => Some(ttlmap_fuzz::ops::run),
        "concurrent" => Some(ttlmap_fuzz::concurrent::run),
        "keys" => Some(ttlmap_fuzz::keys::run),
        "bounded" => Some(ttlmap_fuzz::bounded::run),
        _ => None,
    }
}

fn files_in(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_owned());
        return;
    }
    let Ok(dir) = std::fs::read_dir(path) else {
        return;
    };
    let mut entries: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_file() {
            out.push(p);
        }
    }
}

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut repeat = 1;
    if args.first().map(String::as_str) == Some("--repeat") {
        match args.get(1).and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n > 0 => repeat = n,
            _ => {
                eprintln!("replay: --repeat needs a positive count");
                return ExitCode::from(2);
            }
        }
        args.drain(..2);
    }
    // (target, file)
    let mut jobs: Vec<(String, PathBuf)> = Vec::new();
    if let Some((target, paths)) = args.split_first() {
        if runner(target).is_none() {
            eprintln!("replay: unknown target {target:?} (ops, concurrent, keys, bounded)");
            return ExitCode::from(2);
        }
        let mut files = Vec::new();
        for p in paths {
            files_in(Path::new(p), &mut files);
        }
        if paths.is_empty() {
            for kind in ["corpus", "artifacts"] {
                files_in(&root.join(kind).join(target), &mut files);
            }
        }
        jobs.extend(files.into_iter().map(|f| (target.clone(), f)));
    } else {
        for kind in ["corpus", "artifacts"] {
            let Ok(dir) = std::fs::read_dir(root.join(kind)) else {
                continue;
            };
            let mut targets: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
            targets.sort();
            for t in targets.into_iter().filter(|t| t.is_dir()) {
                let name = t.file_name().unwrap().to_string_lossy().into_owned();
                if runner(&name).is_none() {
                    eprintln!("replay: skipping {} (no target {name:?})", t.display());
                    continue;
                }
                let mut files = Vec::new();
                files_in(&t, &mut files);
                jobs.extend(files.into_iter().map(|f| (name.clone(), f)));
            }
        }
    }

    let mut failures = Vec::new();
    let mut runs = 0;
    for (target, file) in &jobs {
        let data = match std::fs::read(file) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("replay: cannot read {}: {e}", file.display());
                failures.push(file.clone());
                continue;
            }
        };
        let run = runner(target).unwrap();
        let times = if target == "concurrent" { repeat } else { 1 };
        for i in 0..times {
            if panic::catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                eprintln!("replay: FAILED {target} {} (run {})", file.display(), i + 1);
                failures.push(file.clone());
                break;
            }
            runs += 1;
        }
    }
    println!(
        "replay: {} inputs, {runs} runs, {} failures",
        jobs.len(),
        failures.len()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            println!("replay: failed: {}", f.display());
        }
        ExitCode::FAILURE
    }
}
