//! The heap-counting process.
//!
//! Counting every allocation costs an atomic add per `alloc` and `free`, which would
//! penalise the maps that allocate per operation in the timed sections. So the comparison
//! binary (`src/main.rs`) runs on the plain `System` allocator, and each section that
//! measures the heap runs in a child process of its own, the `ttlmap-bench-memory` binary
//! (`src/bin/memory.rs`), whose global allocator is [`crate::alloc::CountingAlloc`]. The
//! child prints its section framed by [`Section::encode`] on stdout (progress on stderr)
//! and the parent places it in the report.
//!
//! `cargo run` builds only the binary it runs, so the parent first builds the child with
//! the same cargo, profile and target directory ([`build_child`]).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::adapters::select_maps;
use crate::charts::Charts;
use crate::report::Section;
use crate::{alloc, heapstats, memory, reclamation, ttl, Config};

/// The heap-counting binary's name.
pub const BIN: &str = "ttlmap-bench-memory";

/// The sections the child can run, by the name passed to it.
pub const SECTIONS: [&str; 4] = ["memory", "reclamation", "ttl-expiry", "heap-stats"];

/// The options the child is run with (those of the parent that matter to it).
#[derive(Clone, Debug)]
pub struct ChildOptions {
    /// `--quick`.
    pub quick: bool,
    /// `--reps N`.
    pub reps: Option<usize>,
    /// `--maps a,b`.
    pub maps: Option<String>,
    /// Where charts go.
    pub charts_dir: PathBuf,
}

/// Builds the heap binary next to the running one and returns its path.
///
/// The running binary is `<target-dir>/<profile-dir>/ttlmap-bench`; the child is built
/// with `cargo build -p ttlmap-bench --bin ttlmap-bench-memory` for that profile and
/// target directory, with the cargo that ran us (`$CARGO`, else the one that built us).
pub fn build_child(workspace_root: &Path) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe
        .parent()
        .ok_or("the running binary has no directory")?
        .to_path_buf();
    let profile_dir = dir.file_name().and_then(|s| s.to_str()).unwrap_or("");
    let target_dir = dir.parent().ok_or("no target directory")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace_root)
        .args(["build", "--quiet", "-p", "ttlmap-bench", "--bin", BIN])
        .arg("--target-dir")
        .arg(target_dir);
    match profile_dir {
        "release" => {
            cmd.arg("--release");
        }
        "debug" => {}
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let status = cmd
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    if !status.success() {
        return Err(format!("building {BIN} failed ({status})"));
    }
    let child = dir.join(format!("{BIN}{}", std::env::consts::EXE_SUFFIX));
    if child.is_file() {
        Ok(child)
    } else {
        Err(format!("{} was not built", child.display()))
    }
}

/// Runs one of [`SECTIONS`] in the heap binary `child` and returns its report section.
pub fn run_in_child(child: &Path, section: &str, opts: &ChildOptions) -> Result<Section, String> {
    let mut cmd = Command::new(child);
    cmd.arg(section).arg("--charts").arg(&opts.charts_dir);
    if opts.quick {
        cmd.arg("--quick");
    }
    if let Some(n) = opts.reps {
        cmd.args(["--reps", &n.to_string()]);
    }
    if let Some(m) = &opts.maps {
        cmd.args(["--maps", m]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", child.display()))?;
    if !out.status.success() {
        return Err(format!("{BIN} {section} failed ({})", out.status));
    }
    let stdout = String::from_utf8(out.stdout).map_err(|e| format!("{BIN} output: {e}"))?;
    let mut sections = Section::decode(&stdout)?;
    match (sections.pop(), sections.is_empty()) {
        (Some(sec), true) => Ok(sec),
        _ => Err(format!("{BIN} {section}: expected one section")),
    }
}

/// The heap binary's `main`: `ttlmap-bench-memory <section> --charts DIR [--quick]
/// [--reps N] [--maps a,b]`. Runs one section and prints it framed on stdout.
pub fn child_main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match child(&args) {
        Ok(sec) => {
            print!("{}", sec.encode());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{BIN}: {e}");
            ExitCode::from(2)
        }
    }
}

fn child(args: &[String]) -> Result<Section, String> {
    let mut section = None;
    let (mut quick, mut reps, mut charts_dir) = (false, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--reps" => {
                let n = it.next().ok_or("--reps needs a number")?;
                reps = Some(n.parse::<usize>().map_err(|_| format!("bad --reps: {n}"))?);
            }
            "--maps" => {
                let m = it.next().ok_or("--maps needs a list")?;
                select_maps(&split_list(m));
            }
            "--charts" => {
                charts_dir = Some(PathBuf::from(it.next().ok_or("--charts needs a path")?))
            }
            s if SECTIONS.contains(&s) => section = Some(s.to_string()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    let section = section.ok_or_else(|| format!("name one section of {SECTIONS:?}"))?;
    if !alloc::is_counting() {
        return Err("the counting allocator is not installed in this binary".into());
    }
    let cfg = if quick {
        Config::quick(reps.unwrap_or(1))
    } else {
        Config::full(reps.unwrap_or(5))
    };
    let charts_dir = charts_dir.ok_or("--charts DIR is required")?;
    let charts = Charts::new(&charts_dir).map_err(|e| format!("{}: {e}", charts_dir.display()))?;
    eprintln!("== {section} (in {BIN}, counting allocator)");
    Ok(match section.as_str() {
        "memory" => memory::run(&cfg, &charts),
        "reclamation" => reclamation::run(&cfg),
        "heap-stats" => heapstats::run(&cfg),
        _ => ttl::run_expiry(&cfg, &charts),
    })
}

/// "a,b" → ["a", "b"], empty items dropped.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}
