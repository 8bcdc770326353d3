//! TTL: per-operation cost against moka, and whether expired data is freed without reads.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::adapters::{for_each_ttl_map, TtlSubject, TtlVisitor};
use crate::alloc::HeapProbe;
use crate::charts::{Charts, Series};
use crate::report::{mib, num, ratio, Section, Table};
use crate::{median, Config};

/// TTL of entries that must not expire during a measurement.
const LONG: Duration = Duration::from_secs(3600);

/// Distinct, scattered keys.
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn ns_per_op(d: Duration, n: u64) -> f64 {
    d.as_nanos() as f64 / n as f64
}

/// Median ns/op of (insert with TTL, get hit) into a map presized for `n` entries.
fn per_op<T: TtlSubject>(n: u64, reps: usize) -> (f64, f64) {
    let (mut ins, mut get) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let map = T::build(n as usize, LONG);
        let t = Instant::now();
        (0..n).for_each(|i| map.insert_ttl(key(i), i, LONG));
        ins.push(ns_per_op(t.elapsed(), n));
        let t = Instant::now();
        let hits = (0..n).filter(|i| map.get(black_box(&key(*i)))).count();
        get.push(ns_per_op(t.elapsed(), n));
        assert_eq!(hits as u64, n, "{}: live entries must be found", T::NAME);
    }
    (median(&ins), median(&get))
}

/// Heap held at each step of the reclamation scenario.
struct Reclaim {
    inserted: isize,
    insert_time: Duration,
    idle: isize,
    traffic: isize,
    traffic_time: Duration,
    traffic_max_op: Duration,
    purged: isize,
    purge_time: Duration,
    dropped: isize,
}

fn reclaim<T: TtlSubject>(cfg: &Config) -> Reclaim {
    let n = cfg.entries;
    let probe = HeapProbe::start();
    let map = T::build(0, cfg.short_ttl);
    let t = Instant::now();
    (0..n).for_each(|i| map.insert_ttl(key(i), i, cfg.short_ttl));
    let insert_time = t.elapsed();
    let inserted = probe.held();

    std::thread::sleep(cfg.idle_wait);
    let idle = probe.held();

    // Unrelated traffic: insert and remove keys outside the expired range.
    let mut traffic_max_op = Duration::ZERO;
    let t = Instant::now();
    for j in 0..cfg.traffic_ops / 2 {
        let k = key(n + j);
        let op = Instant::now();
        map.insert_ttl(k, j, LONG);
        traffic_max_op = traffic_max_op.max(op.elapsed());
        let op = Instant::now();
        map.remove(&k);
        traffic_max_op = traffic_max_op.max(op.elapsed());
    }
    let traffic_time = t.elapsed();
    let traffic = probe.held();

    let t = Instant::now();
    map.maintain();
    let purge_time = t.elapsed();
    let purged = probe.held();
    drop(map);
    let dropped = probe.held();
    Reclaim {
        inserted,
        insert_time,
        idle,
        traffic,
        traffic_time,
        traffic_max_op,
        purged,
        purge_time,
        dropped,
    }
}

struct PerOp(u64, usize, Vec<(&'static str, f64, f64)>);

impl TtlVisitor for PerOp {
    fn visit<T: TtlSubject>(&mut self) {
        let (ins, get) = per_op::<T>(self.0, self.1);
        eprintln!(
            "  ttl: {:<24} insert {ins:>8.1} ns  get {get:>8.1} ns",
            T::NAME
        );
        self.2.push((T::NAME, ins, get));
    }
}

struct Expiry<'a>(&'a Config, Vec<(&'static str, Reclaim)>);

impl TtlVisitor for Expiry<'_> {
    fn visit<T: TtlSubject>(&mut self) {
        let r = reclaim::<T>(self.0);
        eprintln!(
            "  ttl expiry: {:<24} {} after insert, {} after purge",
            T::NAME,
            mib(r.inserted),
            mib(r.purged)
        );
        self.1.push((T::NAME, r));
    }
}

/// "850 µs" below a millisecond, else "12.3 ms".
fn ms(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

/// Runs the timed TTL workload (per-operation cost against moka) and returns its section.
/// Run it on the plain `System` allocator.
pub fn run_ops(cfg: &Config, charts: &Charts) -> Section {
    let n = cfg.entries;
    let mut c = PerOp(n, cfg.reps, Vec::new());
    for_each_ttl_map(&mut c);
    let per_op = c.2;

    let mut sec = Section::new("TTL: cost per operation");
    sec.text(format!(
        "Per-operation cost, one thread: {n} inserts with a 1 h TTL into a map presized for \
         {n}, then a get of every key (all hits). Median of {} repetition(s). \
         `ttlmap insert_with_ttl` sets a TTL per entry; `ttlmap default_ttl` uses the \
         builder's map-wide TTL with plain `insert`; moka is measured with a per-cache \
         `time_to_live` and with a per-entry `Expiry` reading the TTL stored in the value. \
         Presized means `with_capacity_and_hasher({n}, _)` / `builder().capacity({n})` for \
         ttlmap (its buckets allocated and linked up front, directory segments of 2 MiB or \
         more advised onto transparent huge pages) and `initial_capacity({n})` for moka; \
         every map hashes with `foldhash::fast::RandomState`. Construction is outside the \
         timed loops, and so is the drop; the plain `System` allocator.",
        cfg.reps
    ));
    let mut t = Table::new(["map", "insert with TTL (ns/op)", "get hit (ns/op)"]);
    for (name, ins, get) in &per_op {
        t.row([name.to_string(), num(*ins, 1), num(*get, 1)]);
    }
    let find = |name: &str| per_op.iter().find(|r| r.0 == name);
    if let (Some(ours), Some(moka)) = (
        find("ttlmap insert_with_ttl"),
        find("moka per-entry Expiry"),
    ) {
        t.row([
            "**ttlmap insert_with_ttl / moka Expiry**".to_string(),
            ratio(ours.1, moka.1),
            ratio(ours.2, moka.2),
        ]);
    }
    sec.table("ns per operation (lower is better)", &t);
    sec.chart(
        "TTL per-op cost",
        charts.grouped_bars(
            "ttl_ops.png",
            &format!("ns per operation at {n} keys (lower is better)"),
            "ns/op",
            &["insert with TTL".to_string(), "get hit".to_string()],
            &per_op
                .iter()
                .map(|(name, ins, get)| Series {
                    name: name.to_string(),
                    values: vec![*ins, *get],
                })
                .collect::<Vec<_>>(),
        ),
    );

    sec
}

/// Runs the heap-counting TTL workload (what happens to expired data) and returns its
/// section. Run it under [`crate::alloc::CountingAlloc`].
pub fn run_expiry(cfg: &Config, charts: &Charts) -> Section {
    let n = cfg.entries;
    let mut c = Expiry(cfg, Vec::new());
    for_each_ttl_map(&mut c);
    let reclaim = c.1;

    let mut sec = Section::new("TTL: heap held while entries expire");
    sec.text(format!(
        "Reclamation: {n} keys inserted with a {:?} TTL (no capacity hint), then {:?} idle, \
         then {} unrelated operations (insert + remove of other keys), then the explicit \
         clean-up (`purge_expired()` / `run_pending_tasks()`), then drop. Heap held after \
         each step (live bytes); \"max op\" is the slowest single operation of the unrelated \
         traffic, i.e. how much clean-up work lands inside a user call. Run in the \
         heap-counting process (`ttlmap-bench-memory`): its times include the counting \
         allocator's atomic add on every allocation and free. The clock is real (moka's \
         cannot be replaced), so a map whose inserts take longer than the TTL has entries \
         expire, and perhaps freed, before \"after insert\" is read; such a row is marked ⚠ \
         and is not comparable (rerun on a quieter machine).",
        cfg.short_ttl, cfg.idle_wait, cfg.traffic_ops
    ));
    let mut r = Table::new([
        "map",
        "after insert",
        "insert time",
        "after idle wait",
        "after unrelated ops",
        "traffic time",
        "max op",
        "after explicit purge",
        "purge time",
        "after drop (bytes)",
    ]);
    for (name, x) in &reclaim {
        // With a real clock, a slow insert loop lets early entries expire (and a map free
        // them) before "after insert" is read: that row does not show what it claims.
        let name = if x.insert_time >= cfg.short_ttl {
            format!("{name} ⚠ inserts outlasted the TTL")
        } else {
            name.to_string()
        };
        r.row([
            name,
            mib(x.inserted),
            ms(x.insert_time),
            mib(x.idle),
            mib(x.traffic),
            ms(x.traffic_time),
            ms(x.traffic_max_op),
            mib(x.purged),
            ms(x.purge_time),
            x.dropped.to_string(),
        ]);
    }
    sec.table(
        "Heap held during expiry (lower is better once entries expired)",
        &r,
    );
    let mib_f = |b: isize| b as f64 / (1024.0 * 1024.0);
    sec.chart(
        "Heap held during expiry",
        charts.grouped_bars(
            "ttl_reclaim.png",
            "Heap held (MiB) during expiry",
            "MiB",
            &[
                "after insert",
                "after idle wait",
                "after unrelated ops",
                "after purge",
            ]
            .map(String::from),
            &reclaim
                .iter()
                .map(|(name, x)| Series {
                    name: name.to_string(),
                    values: vec![
                        mib_f(x.inserted),
                        mib_f(x.idle),
                        mib_f(x.traffic),
                        mib_f(x.purged),
                    ],
                })
                .collect::<Vec<_>>(),
        ),
    );
    sec
}
