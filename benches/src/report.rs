//! Markdown tables, report sections, machine facts and the `BENCHMARKS.md` writer.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A markdown table; the first column is left-aligned, the rest right-aligned.
#[derive(Clone, Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (shorter rows are padded with empty cells).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut r: Vec<String> = cells.into_iter().map(Into::into).collect();
        r.resize(self.headers.len(), String::new());
        self.rows.push(r);
    }

    /// The table as GitHub markdown. A `|` inside a cell (a closure in code, say) is
    /// escaped, so it does not split the cell.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        out.push_str(&line(&self.headers));
        let sep: Vec<String> = (0..self.headers.len())
            .map(|i| if i == 0 { "---".into() } else { "---:".into() })
            .collect();
        out.push_str(&line(&sep));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// One section of the report: markdown text and tables, plus chart files.
#[derive(Debug)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// Markdown body.
    pub body: String,
    /// (caption, PNG path) of each chart drawn for this section.
    pub charts: Vec<(String, PathBuf)>,
}

impl Section {
    /// An empty section.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            body: String::new(),
            charts: Vec::new(),
        }
    }

    /// Appends a paragraph.
    pub fn text(&mut self, s: impl AsRef<str>) {
        self.body.push_str(s.as_ref());
        self.body.push_str("\n\n");
    }

    /// Appends a table, with an optional bold caption above it.
    pub fn table(&mut self, caption: &str, t: &Table) {
        if !caption.is_empty() {
            let _ = writeln!(self.body, "**{caption}**\n");
        }
        self.body.push_str(&t.to_markdown());
        self.body.push('\n');
    }

    /// Records a chart, or notes why it is missing.
    pub fn chart(&mut self, caption: &str, drawn: Result<PathBuf, Box<dyn std::error::Error>>) {
        match drawn {
            Ok(p) => self.charts.push((caption.to_string(), p)),
            Err(e) => self.text(format!("_(chart “{caption}” not drawn: {e})_")),
        }
    }

    /// The section as printed on stdout (chart paths as plain lines).
    pub fn to_stdout(&self) -> String {
        let mut s = format!("## {}\n\n{}", self.title, self.body);
        for (caption, p) in &self.charts {
            let _ = writeln!(s, "chart: {caption}: {}", p.display());
        }
        s
    }

    /// The section as one frame of the heap process's output (see [`Section::decode`]).
    pub fn encode(&self) -> String {
        let line = |s: &str| s.replace(['\n', '\t'], " ");
        let mut s = format!(
            "@@section {}\n@@body {}\n{}",
            line(&self.title),
            self.body.len(),
            self.body
        );
        for (caption, p) in &self.charts {
            let _ = writeln!(s, "@@chart {}\t{}", line(caption), p.display());
        }
        s.push_str("@@end\n");
        s
    }

    /// The sections framed by [`Section::encode`] in `out`, in order.
    pub fn decode(mut out: &str) -> Result<Vec<Section>, String> {
        let mut sections = Vec::new();
        loop {
            out = out.trim_start_matches('\n');
            if out.is_empty() {
                return Ok(sections);
            }
            let bad = |what: &str| format!("heap process output: {what}");
            let (head, rest) = out.split_once('\n').ok_or_else(|| bad("truncated"))?;
            let title = head
                .strip_prefix("@@section ")
                .ok_or_else(|| bad("expected @@section"))?;
            let (len, rest) = rest.split_once('\n').ok_or_else(|| bad("truncated"))?;
            let len: usize = len
                .strip_prefix("@@body ")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| bad("expected @@body <bytes>"))?;
            let body = rest.get(..len).ok_or_else(|| bad("short body"))?;
            let mut sec = Section::new(title);
            sec.body = body.to_string();
            out = &rest[len..];
            loop {
                let (line, rest) = out.split_once('\n').ok_or_else(|| bad("truncated"))?;
                out = rest;
                if line == "@@end" {
                    break;
                }
                let (caption, path) = line
                    .strip_prefix("@@chart ")
                    .and_then(|c| c.split_once('\t'))
                    .ok_or_else(|| bad("expected @@chart or @@end"))?;
                sec.charts.push((caption.to_string(), PathBuf::from(path)));
            }
            sections.push(sec);
        }
    }

    /// The section as written into `BENCHMARKS.md` at `doc_dir` (charts linked relatively).
    pub fn to_markdown(&self, doc_dir: &Path) -> String {
        let mut s = format!("## {}\n\n{}", self.title, self.body);
        for (caption, p) in &self.charts {
            let link = p.strip_prefix(doc_dir).unwrap_or(p);
            let _ = writeln!(s, "![{caption}]({})\n", link.display());
        }
        s
    }
}

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Civil date (UTC) from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Facts about the machine the run happened on, as markdown list items.
pub fn machine_facts() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let rustc = command_output("rustc", &["-V"]).unwrap_or_else(|| "unknown".into());
    // The mode in brackets, e.g. "always [madvise] never".
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .ok()
        .and_then(|s| {
            let (_, rest) = s.split_once('[')?;
            rest.split_once(']').map(|(mode, _)| mode.to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    format!(
        "- date: {y:04}-{m:02}-{d:02} {:02}:{:02} UTC\n- nproc: {nproc}\n- CPU: {cpu}\n- rustc: {rustc}\n- profile: release (workspace defaults)\n- transparent huge pages: `{thp}`\n",
        tod / 3600,
        tod % 3600 / 60,
    )
}

/// Writes the whole report to `path`.
pub fn write_markdown(
    path: &Path,
    command: &str,
    quick: bool,
    sections: &[Section],
) -> std::io::Result<()> {
    let doc_dir = path.parent().unwrap_or(Path::new("."));
    let mut s = String::from("# ttlmap benchmarks\n\n");
    s.push_str(
        "Generated by the comparison binary of the `ttlmap-bench` crate (`benches/`). \
         Protocol: every map uses `foldhash::fast::RandomState`; figures are medians of the \
         repetitions; on a 2-vCPU machine absolute numbers swing ±30 % between runs, so read \
         the ratios within one run, and treat differences under ~15 % as noise. The timed \
         sections run on the plain `System` allocator; the sections that count the heap run in \
         a separate process, the `ttlmap-bench-memory` binary, whose global allocator counts \
         live bytes (the comparison binary builds and runs it).\n\n",
    );
    if quick {
        s.push_str(
            "> **Smoke run (`--quick`)**: small sizes and few repetitions; these numbers \
             show the harness works and say nothing about performance.\n\n",
        );
    }
    s.push_str("## Machine\n\n");
    s.push_str(&machine_facts());
    s.push_str("\n## Commands\n\n```sh\n");
    let _ = writeln!(s, "{command}");
    s.push_str("cargo bench -p ttlmap-bench --bench micro   # criterion micro-benches\n```\n\n");
    for sec in sections {
        s.push_str(&sec.to_markdown(doc_dir));
    }
    std::fs::write(path, s)
}

/// `x` with `d` decimals, or "—" if it is not finite.
pub fn num(x: f64, d: usize) -> String {
    if x.is_finite() {
        format!("{x:.d$}")
    } else {
        "—".into()
    }
}

/// `a / b` as "1.23×", or "—".
pub fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b != 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "—".into()
    }
}

/// A count as "0.6M", "1M", "1.25M", "30k" or "512".
pub fn count_label(n: u64) -> String {
    let trim = |x: f64| {
        let s = format!("{x:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if n >= 500_000 {
        format!("{}M", trim(n as f64 / 1e6))
    } else if n >= 1000 {
        format!("{}k", trim(n as f64 / 1e3))
    } else {
        n.to_string()
    }
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: isize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_survive_the_heap_process_framing() {
        let mut a = Section::new("Memory");
        // A body that looks like framing, with pipes and multi-byte characters.
        a.text("line one\n@@end\n@@chart fake\tpath");
        let mut t = Table::new(["map", "heap"]);
        t.row(["`retain(|k, _| k % 100 == 0)`", "1.0 MiB → 0.5 MiB"]);
        a.table("caption", &t);
        a.charts
            .push(("Bytes per entry".into(), PathBuf::from("/tmp/c/memory.png")));
        a.charts
            .push(("Second".into(), PathBuf::from("/tmp/c/x.png")));
        let b = Section::new("Empty");
        let framed = format!("{}{}", a.encode(), b.encode());
        let back = Section::decode(&framed).expect("decodes");
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].title, a.title);
        assert_eq!(back[0].body, a.body);
        assert_eq!(back[0].charts, a.charts);
        assert_eq!(back[1].title, "Empty");
        assert!(back[1].body.is_empty() && back[1].charts.is_empty());
    }

    #[test]
    fn truncated_framing_is_an_error() {
        let mut a = Section::new("Memory");
        a.text("some body");
        let framed = a.encode();
        for cut in [framed.len() - 1, framed.len() / 2, 3] {
            assert!(
                Section::decode(&framed[..cut]).is_err(),
                "cut at {cut} decoded"
            );
        }
    }

    #[test]
    fn a_pipe_inside_a_cell_does_not_split_it() {
        let mut t = Table::new(["op", "heap"]);
        t.row(["`retain(|k, _| true)`", "1"]);
        let row = t.to_markdown().lines().nth(2).unwrap().to_string();
        assert_eq!(row, "| `retain(\\|k, _\\| true)` | 1 |");
    }

    #[test]
    fn count_labels() {
        let labels: Vec<String> = [
            600_000, 1_000_000, 1_250_000, 2_000_000, 30_000, 75_000, 512,
        ]
        .into_iter()
        .map(count_label)
        .collect();
        assert_eq!(
            labels,
            ["0.6M", "1M", "1.25M", "2M", "30k", "75k", "512"].map(String::from)
        );
    }
}
