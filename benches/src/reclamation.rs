//! Reclamation after bulk removal: the heap ttlmap holds after removing most of its
//! entries at once through a pinned handle (`purge_expired`, `clear`, `retain`), and its
//! peak while doing so. Entries removed under a handle can be freed only once no handle
//! can still read them, so this is where a map's deferred reclamation shows.
//!
//! ttlmap only (the peers have no expiry, or free differently: see the memory and TTL
//! sections); one thread; the clock is a [`ManualClock`], so nothing sleeps.

use std::time::{Duration, Instant};

use ttlmap::ManualClock;

use crate::adapters::Hasher;
use crate::alloc::{reset_peak, HeapProbe};
use crate::report::{count_label, mib, Section, Table};
use crate::Config;

type Map = ttlmap::HashMap<u64, u64, Hasher>;

/// The builder's `default_ttl`.
const TTL: Duration = Duration::from_secs(5);
/// How far the clock is moved: past the TTL, so every entry written before has expired.
const PAST_TTL: Duration = Duration::from_secs(6);
/// Gets of absent keys, and inserts + gets of new keys, after the entries expired.
const TRAFFIC: u64 = 1000;

/// Distinct, scattered keys.
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// `n` entries inserted one pin each into a map built with `default_ttl(TTL)`, no
/// capacity hint, and `clock`.
fn filled(n: u64, clock: &ManualClock) -> Map {
    let map: Map = ttlmap::HashMap::builder()
        .hasher(Hasher::default())
        .default_ttl(TTL)
        .clock(clock.clone())
        .build();
    (0..n).for_each(|i| {
        map.pin().insert(key(i), i);
    });
    map
}

/// Heap (relative to the probe) around one bulk operation.
#[derive(Clone, Copy, Debug)]
struct Op {
    before: isize,
    peak: isize,
    after: isize,
    entries: usize,
}

/// Runs `op` with the peak reset just before it; `after` is read once `op` has returned,
/// so a handle `op` pinned as a temporary is dropped by then.
fn measure(probe: &HeapProbe, map: &Map, op: impl FnOnce(&Map)) -> Op {
    let before = probe.held();
    reset_peak();
    op(map);
    Op {
        before,
        peak: probe.peak(),
        after: probe.held(),
        entries: map.len(),
    }
}

/// "12.3 MiB (45 %)": `bytes`, and its share of `of`.
fn mib_pct(bytes: isize, of: isize) -> String {
    if of > 0 {
        format!("{} ({:.0} %)", mib(bytes), 100.0 * bytes as f64 / of as f64)
    } else {
        mib(bytes)
    }
}

/// Runs the reclamation workload and returns the report section. Run it under
/// [`crate::alloc::CountingAlloc`].
pub fn run(cfg: &Config) -> Section {
    let started = Instant::now();
    let n = cfg.entries;
    let label = count_label(n);

    // The expiry scenario.
    let probe = HeapProbe::start();
    let clock = ManualClock::new();
    let map = filled(n, &clock);
    let inserted = (probe.held(), map.len());
    clock.advance(PAST_TTL);
    for j in 0..TRAFFIC {
        map.pin().get(&key(n + j));
    }
    for j in 0..TRAFFIC {
        let k = key(n + TRAFFIC + j);
        map.pin().insert(k, j);
        map.pin().get(&k);
    }
    let idle = (probe.held(), map.len());
    let purge = measure(&probe, &map, |m| {
        m.pin().purge_expired();
    });
    let purge_again = measure(&probe, &map, |m| {
        m.pin().purge_expired();
    });
    drop((map, clock));
    let purge_dropped = probe.held();

    // The same bulk removal by other means, each on a fresh map.
    let mut ops: Vec<(String, Op, isize)> = vec![(
        "`map.pin().purge_expired()`, all expired (the scenario above)".into(),
        purge,
        purge_dropped,
    )];
    let fresh = |name: &str, expire: bool, op: &dyn Fn(&Map)| {
        let probe = HeapProbe::start();
        let clock = ManualClock::new();
        let map = filled(n, &clock);
        if expire {
            clock.advance(PAST_TTL);
        }
        let r = measure(&probe, &map, op);
        drop((map, clock));
        let dropped = probe.held();
        eprintln!(
            "  reclamation: {name}: before {}, peak {}, after {}",
            mib(r.before),
            mib(r.peak),
            mib(r.after)
        );
        (name.to_string(), r, dropped)
    };
    ops.push(fresh("`map.pin().clear()`", false, &|m| m.pin().clear()));
    ops.push(fresh(
        "`map.pin().retain(|k, _| k % 100 == 0)`",
        false,
        &|m| m.pin().retain(|k, _| k % 100 == 0),
    ));
    ops.push(fresh(
        "`map.purge_expired()` (no handle: frees as it goes), all expired",
        true,
        &|m| {
            m.purge_expired();
        },
    ));
    eprintln!(
        "  reclamation: purge through a handle leaves {} of {} ({:.1} s)",
        mib(purge.after),
        mib(purge.before),
        started.elapsed().as_secs_f64()
    );

    let mut sec = Section::new("Reclamation after bulk removal");
    sec.text(format!(
        "ttlmap only, one thread, heap counted as in the memory section (live bytes since \
         just before the map was built). {label} distinct u64 → u64 entries inserted one \
         `map.pin()` each into a map built with `HashMap::builder().hasher(foldhash).\
         default_ttl(5 s).clock(ManualClock)`, no capacity hint. Instead of sleeping, the \
         `ManualClock` is advanced {PAST_TTL:?}, past the TTL, so every entry has expired; \
         then {TRAFFIC} gets of keys never inserted, and {TRAFFIC} inserts of new keys each \
         followed by a get. Each bulk operation pins its own handle as a temporary, dropped \
         before the heap is read. The peak is the most live bytes between just before the \
         call and the drop of its handle. Percentages are of the heap just before the step. \
         \"entries\" is `map.len()`, which counts expired entries not yet swept."
    ));
    let mut t = Table::new(["step", "heap", "peak during", "entries"]);
    t.row([
        format!("after {label} inserts (`default_ttl(5 s)`, no capacity hint)"),
        mib(inserted.0),
        "—".into(),
        inserted.1.to_string(),
    ]);
    t.row([
        format!(
            "clock past the TTL, then {TRAFFIC} gets of absent keys and {TRAFFIC} inserts + \
             gets of new keys"
        ),
        mib_pct(idle.0, inserted.0),
        "—".into(),
        idle.1.to_string(),
    ]);
    for (step, op) in [
        (
            "`map.pin().purge_expired()` (handle dropped right after)",
            purge,
        ),
        ("`map.pin().purge_expired()` again", purge_again),
    ] {
        t.row([
            step.to_string(),
            mib_pct(op.after, op.before),
            mib_pct(op.peak, op.before),
            op.entries.to_string(),
        ]);
    }
    sec.table("Heap held while expired entries are purged", &t);

    let mut o = Table::new([
        "operation, on a fresh map of the same entries",
        "heap before",
        "peak during",
        "after (handle dropped)",
        "entries after",
        "after drop of the map (bytes)",
    ]);
    for (name, op, dropped) in &ops {
        o.row([
            name.clone(),
            mib(op.before),
            mib_pct(op.peak, op.before),
            mib_pct(op.after, op.before),
            op.entries.to_string(),
            dropped.to_string(),
        ]);
    }
    sec.table(
        "Bulk removal through a handle: heap before, during and after",
        &o,
    );
    sec.text(format!(
        "The last row is for reference: `HashMap::purge_expired` pins one stretch of the \
         table at a time and drives the collector, so it frees as it goes. This section took \
         {:.1} s.",
        started.elapsed().as_secs_f64()
    ));
    sec
}
