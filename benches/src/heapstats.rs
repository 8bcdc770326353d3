//! How close `map.stats().heap_bytes` (the map's own estimate) comes to the heap the
//! map really holds, counted by [`crate::alloc::CountingAlloc`] plus ttlmap's directly
//! mapped directory segments. Run it under the counting allocator (`ttlmap-bench-memory`).

use crate::adapters::Hasher;
use crate::alloc::HeapProbe;
use crate::report::{count_label, mib, num, Section, Table};
use crate::Config;

/// One way of building and filling the map.
#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    /// `max_capacity(n / bounded)`, or no bound if 0.
    bounded: u64,
    presized: bool,
    /// Every value written a second time after the fill (values then live in heap cells).
    rewritten: bool,
}

const CASES: [Case; 7] = [
    Case {
        name: "unbounded, presized",
        bounded: 0,
        presized: true,
        rewritten: false,
    },
    Case {
        name: "unbounded, grown",
        bounded: 0,
        presized: false,
        rewritten: false,
    },
    Case {
        name: "unbounded, grown, every value rewritten",
        bounded: 0,
        presized: false,
        rewritten: true,
    },
    Case {
        name: "max_capacity(n), presized",
        bounded: 1,
        presized: true,
        rewritten: false,
    },
    Case {
        name: "max_capacity(n), grown",
        bounded: 1,
        presized: false,
        rewritten: false,
    },
    Case {
        name: "max_capacity(n), grown, every value rewritten",
        bounded: 1,
        presized: false,
        rewritten: true,
    },
    Case {
        name: "max_capacity(n / 2), presized: half of the inserts evict",
        bounded: 2,
        presized: true,
        rewritten: false,
    },
];

/// Distinct, scattered keys.
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// What one case measured, in bytes.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Counted: live heap (and mapped segments) the map holds after the fill.
    pub counted: isize,
    /// `stats().heap_bytes`.
    pub estimate: u64,
    /// `stats().garbage_bytes`.
    pub garbage: u64,
    /// `stats().entries`.
    pub entries: u64,
}

fn measure(case: Case, n: u64) -> Measured {
    let probe = HeapProbe::start();
    let mut b = ttlmap::HashMap::builder().hasher(Hasher::default());
    if case.presized {
        b = b.capacity(n as usize);
    }
    if let Some(bound) = n.checked_div(case.bounded) {
        b = b.max_capacity(bound);
    }
    let map: ttlmap::HashMap<u64, u64, Hasher> = b.build();
    // One pin per operation, as a user writes it: retired objects get freed as it goes.
    (0..n).for_each(|i| {
        map.pin().insert(key(i), i);
    });
    if case.rewritten {
        (0..n).for_each(|i| {
            map.pin().insert(key(i), i + 1);
        });
    }
    let stats = map.stats();
    // The map value itself lives on this stack frame, not on the heap: the estimate
    // counts `size_of::<HashMap>()`, the allocator does not.
    let counted = probe.held() + std::mem::size_of_val(&map) as isize;
    drop(map);
    Measured {
        counted,
        estimate: stats.heap_bytes,
        garbage: stats.garbage_bytes,
        entries: stats.entries,
    }
}

/// Runs the section (under the counting allocator).
pub fn run(cfg: &Config) -> Section {
    let n = cfg.entries;
    let mut t = Table::new([
        "map",
        "entries",
        "counted heap",
        "stats().heap_bytes",
        "estimate / counted",
        "stats().garbage_bytes",
        "(heap + garbage) / counted",
    ]);
    for case in CASES {
        let started = std::time::Instant::now();
        let m = measure(case, n);
        let rel = m.estimate as f64 / m.counted as f64;
        let with_garbage = (m.estimate + m.garbage) as f64 / m.counted as f64;
        eprintln!(
            "  heap-stats: {:<46} ({:.1} s) counted {} estimate {} ({:+.1} %) garbage {}",
            case.name,
            started.elapsed().as_secs_f64(),
            m.counted,
            m.estimate,
            100.0 * (rel - 1.0),
            m.garbage,
        );
        t.row([
            case.name.to_string(),
            count_label(m.entries),
            format!(
                "{} ({} B/entry)",
                mib(m.counted),
                num(m.counted as f64 / n as f64, 1)
            ),
            format!(
                "{} ({} B/entry)",
                mib(m.estimate as isize),
                num(m.estimate as f64 / n as f64, 1)
            ),
            format!("{} ({:+.1} %)", num(rel, 3), 100.0 * (rel - 1.0)),
            mib(m.garbage as isize),
            num(with_garbage, 3),
        ]);
    }
    let mut sec = Section::new("Accuracy of stats().heap_bytes");
    sec.text(format!(
        "{n} distinct u64 → u64 inserts, one pin each, into a map built with and without \
         `max_capacity(n)` (n = {n}: nothing is evicted, but the policy, created when the \
         map first holds a sixteenth of its bound, exists: its sketch is most of the difference), \
         with and without a capacity hint of n; in two cases every value is then written a \
         second time (the new values live in heap cells); in the last the bound is n / 2, so \
         that the second half of the inserts evicts. *Counted* is what the counting allocator saw the map allocate and \
         not free, plus the directory segments ttlmap maps from the kernel \
         (`ttlmap::mapped_bytes()`), plus `size_of::<HashMap>()` (the estimate counts the \
         map value, which lives on the stack here). The target is ±10 %.",
        n = count_label(n),
    ));
    sec.table("stats().heap_bytes against the counted heap", &t);
    sec
}
