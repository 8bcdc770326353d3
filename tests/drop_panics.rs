//! A key or value whose `Drop` panics, run by the map's reclamation (inside a later pin,
//! a handle's drop, a purge, or the map's own drop): never a use-after-free, never a
//! double drop, never a leak, and the panic reaches the caller once the map is
//! consistent again (the policy of the crate docs, "Panics in user code").
//!
//! Each test keeps a ledger of every value it made and checks at the end that each was
//! dropped exactly once. Run them under `bash scripts/asan.sh drop_panics` too: a
//! use-after-free is an ASan error even when the plain run happens to survive it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ttlmap::{HashMap, ManualClock};

/// Records how often each value was dropped.
struct Ledger {
    next: AtomicUsize,
    drops: Vec<AtomicU8>,
}

impl Ledger {
    fn new(capacity: usize) -> Arc<Ledger> {
        Arc::new(Ledger {
            next: AtomicUsize::new(0),
            drops: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
        })
    }

    fn made(&self) -> usize {
        self.next.load(Ordering::SeqCst)
    }

    fn dropped(&self) -> usize {
        self.drops[..self.made()]
            .iter()
            .filter(|d| d.load(Ordering::SeqCst) > 0)
            .count()
    }

    fn assert_each_dropped_once(&self) {
        for (i, d) in self.drops[..self.made()].iter().enumerate() {
            assert_eq!(
                d.load(Ordering::SeqCst),
                1,
                "value #{i} dropped the wrong number of times"
            );
        }
    }
}

/// A value that panics in `Drop` when armed, after recording the drop.
struct Bomb {
    armed: bool,
    id: usize,
    v: u64,
    ledger: Arc<Ledger>,
}

/// The payload of every panic a [`Bomb`] throws.
const BOOM: &str = "boom: a value's Drop panicked";

impl Bomb {
    fn new(ledger: &Arc<Ledger>, v: u64, armed: bool) -> Bomb {
        let id = ledger.next.fetch_add(1, Ordering::SeqCst);
        assert!(id < ledger.drops.len(), "ledger too small");
        Bomb {
            armed,
            id,
            v,
            ledger: ledger.clone(),
        }
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        let before = self.ledger.drops[self.id].fetch_add(1, Ordering::SeqCst);
        assert_eq!(before, 0, "value #{} dropped twice", self.id);
        if self.armed {
            panic!("{BOOM}");
        }
    }
}

/// Runs `f`; `Ok` or the panic, which must be a [`Bomb`]'s.
fn run<R>(f: impl FnOnce() -> R) -> Result<R, ()> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Ok(r),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("<not a string>");
            assert_eq!(msg, BOOM, "a panic other than the bomb's escaped the map");
            Err(())
        }
    }
}

/// Silences the default hook's report of the expected bomb panics (other panics are
/// still printed).
fn quiet_bombs() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or("");
        if msg != BOOM {
            default(info);
        }
    }));
}

/// The scenario of issue #10: an armed value is retired; later replacing inserts of
/// another key retire more values, so that a collection runs the armed value's `Drop`
/// inside one of them. Before the fix, `insert` unwound from its retirement with its
/// pending cell still owning the value it had just published: the next `get` read freed
/// memory and the map's drop freed it twice. Every phase moves crossbeam's
/// collect-every-128-pins schedule, so some phase collects inside an insert.
#[test]
fn panicking_drop_inside_reclamation_is_not_use_after_free() {
    quiet_bombs();
    std::thread::spawn(|| {
        for phase in 0..256 {
            let ledger = Ledger::new(1024);
            let map: HashMap<u64, Bomb> = HashMap::new();
            for _ in 0..phase {
                drop(map.pin());
            }
            map.pin().insert(0, Bomb::new(&ledger, 0, true));
            map.pin().remove(&0);
            map.pin().insert(1, Bomb::new(&ledger, 1, false));
            let mut panics = 0;
            for i in 0..300 {
                if run(|| {
                    map.pin().insert(1, Bomb::new(&ledger, 100 + i, false));
                })
                .is_err()
                {
                    panics += 1;
                    break;
                }
            }
            // The map is consistent whatever happened: key 1 holds the last value written.
            let last = run(|| map.pin().get(&1).map(|b| b.v)).expect("get panicked");
            assert!(
                matches!(last, Some(v) if v == 1 || v >= 100),
                "key 1 holds {last:?}"
            );
            assert_eq!(map.len(), 1);
            // The armed value's drop ran at most once and surfaced at most once; the
            // rest of the garbage (and the map) goes with the map.
            let dropped_map = run(|| drop(map));
            if dropped_map.is_err() {
                panics += 1;
            }
            assert_eq!(
                panics, 1,
                "phase {phase}: the bomb's panic must surface exactly once"
            );
            ledger.assert_each_dropped_once();
        }
    })
    .join()
    .unwrap();
}

/// Churn: inserts, replacements, removes and TTL expiry (sweeps and purges) drive the
/// reclamation while one value in 16 panics in `Drop`. Every operation is run under
/// `catch_unwind`; a bomb's panic may surface in any of them, and afterwards the map must
/// still agree with a model of what was written, and every value is dropped once.
#[test]
fn churn_with_panicking_drops_keeps_the_map_consistent_and_drops_each_value_once() {
    quiet_bombs();
    let ledger = Ledger::new(200_000);
    let clock = ManualClock::new();
    let map: HashMap<u64, Bomb> = HashMap::builder().clock(clock.clone()).build();
    // key → expected value (None: absent); TTL'd keys are tracked by their deadline.
    let mut model: std::collections::HashMap<u64, (u64, Option<Duration>)> =
        std::collections::HashMap::new();
    let mut now = Duration::ZERO;
    let mut surfaced = 0usize;
    let armed = AtomicUsize::new(0);
    let arm = |a: bool| {
        if a {
            armed.fetch_add(1, Ordering::SeqCst);
        }
        a
    };
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Pins until one pin succeeds (a pin may surface a bomb; then it pinned nothing).
    let pin = |surfaced: &mut usize| loop {
        match run(|| map.pin()) {
            Ok(m) => return m,
            Err(()) => *surfaced += 1,
        }
    };
    for step in 0..40_000u64 {
        let r = next();
        let key = r % 512;
        let armed_now = (r >> 20) % 16 == 0;
        let v = step;
        // The policy: a destructor's panic surfaces at a pin or at a handle's drop (or a
        // purge), never out of an operation itself, so each operation is run bare.
        let m = pin(&mut surfaced);
        match (r >> 9) % 8 {
            0..=2 => {
                m.insert(key, Bomb::new(&ledger, v, arm(armed_now)));
                model.insert(key, (v, None));
            }
            3 | 4 => {
                let ttl = Duration::from_millis(1 + (r >> 30) % 50);
                m.insert_with_ttl(key, Bomb::new(&ledger, v, arm(armed_now)), ttl);
                model.insert(key, (v, Some(now + ttl)));
            }
            5 => {
                m.remove(&key);
                model.remove(&key);
            }
            6 => {
                let by = Duration::from_millis(r >> 40 & 7);
                clock.advance(by);
                now += by;
            }
            _ if step % 64 == 0 => {
                if run(|| drop(m)).is_err() {
                    surfaced += 1;
                }
                if run(|| map.purge_expired()).is_err() {
                    surfaced += 1;
                }
                continue;
            }
            _ => {
                // A read, which must see what the model says.
                let want = match model.get(&key) {
                    Some(&(v, None)) => Some(v),
                    Some(&(v, Some(deadline))) if now < deadline => Some(v),
                    _ => None,
                };
                assert_eq!(m.get(&key).map(|b| b.v), want, "key {key} at step {step}");
            }
        }
        if run(|| drop(m)).is_err() {
            surfaced += 1;
        }
    }
    // Everything the model holds is still there.
    for (&k, &(v, deadline)) in &model {
        let live = deadline.is_none_or(|d| now < d);
        let m = pin(&mut surfaced);
        assert_eq!(
            m.get(&k).map(|b| b.v),
            live.then_some(v),
            "key {k} at the end"
        );
        if run(|| drop(m)).is_err() {
            surfaced += 1;
        }
    }
    if run(|| drop(map)).is_err() {
        surfaced += 1;
    }
    ledger.assert_each_dropped_once();
    // Each armed value panicked once in its drop, and at least one of those panics reached
    // a caller (several in one call surface as one: the crate docs' policy).
    let armed = armed.load(Ordering::SeqCst);
    assert!(armed > 100, "only {armed} armed values");
    assert!(
        (1..=armed).contains(&surfaced),
        "{surfaced} panics surfaced for {armed} bombs"
    );
    assert_eq!(ledger.dropped(), ledger.made());
}

/// A value whose `Drop` panics while the map itself is dropped: every other key and
/// value is still dropped (exactly once), nothing leaks, and the panic reaches the code
/// that dropped the map.
#[test]
fn panicking_drop_during_map_drop_drops_everything_else_and_propagates() {
    quiet_bombs();
    let ledger = Ledger::new(10_000);
    let map: HashMap<u64, Bomb> = HashMap::new();
    // Two armed values stay in the map; replaced and removed ones (some armed) become
    // garbage, which the handle's drop may free (and surface a bomb's panic there) or
    // leave pending in the collector until the map drops.
    let setup = run(|| {
        let m = map.pin();
        for i in 0..1000 {
            m.insert(i, Bomb::new(&ledger, i, i == 340 || i == 673));
        }
        for i in 0..300 {
            m.insert(i, Bomb::new(&ledger, i, i % 97 == 5));
        }
        for i in 300..600 {
            m.remove(&i);
        }
    });
    let _ = setup;
    assert!(run(|| map.pin().get(&673).map(|b| b.v)).unwrap() == Some(673));
    let made = ledger.made();
    assert!(
        run(|| drop(map)).is_err(),
        "the first bomb's panic must reach the dropper"
    );
    assert_eq!(ledger.made(), made);
    ledger.assert_each_dropped_once();
}
