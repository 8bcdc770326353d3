//! A value's destructor that pins the guard whose first pin is running it.
//!
//! A guard's first pin (`reclaim::Guard::pin_now`) may run a collection, hence deferred
//! destructors of other entries. A destructor can reach the same, not yet pinned guard
//! through a thread-local and pin it again, so that the slot the outer pin fills is taken
//! already. If the outer pin then wrote over it, the inner pin's count would leak: the
//! thread stays pinned, the map's epoch never advances again and nothing more is freed.
//! (Found by review 8 in a version that wrote the slot without looking.)

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::LazyLock;

use ttlmap::{Guard, HashMap, LocalGuard};

static DROPS: AtomicUsize = AtomicUsize::new(0);
static NESTED: AtomicUsize = AtomicUsize::new(0);
static MAP: LazyLock<HashMap<u64, Noisy>> = LazyLock::new(HashMap::new);

thread_local! {
    /// The guard a destructor reaches, while the test holds one there.
    static HELD: RefCell<Option<LocalGuard<'static>>> = const { RefCell::new(None) };
}

/// A value whose drop counts itself and reads the map through the held guard, if any.
struct Noisy(#[allow(dead_code)] u64);

impl Drop for Noisy {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Relaxed);
        HELD.with(|held| {
            if let Ok(held) = held.try_borrow() {
                if let Some(guard) = held.as_ref() {
                    NESTED.fetch_add(1, Relaxed);
                    let _ = MAP.get(&0, guard);
                }
            }
        });
    }
}

/// Replaces key 1's value `n` times under one guard (each replaced value is retired).
fn churn(n: u64, flush: bool) {
    let guard = MAP.guard();
    for j in 0..n {
        MAP.insert(1, Noisy(j), &guard);
    }
    if flush {
        guard.flush();
    }
}

#[test]
fn a_destructor_that_pins_the_pinning_guard_leaves_reclamation_running() {
    MAP.insert(0, Noisy(u64::MAX), &MAP.guard());
    // Until a collection inside a held guard's first pin runs a destructor that pins
    // that guard (crossbeam collects on every 128th pin of a thread).
    let mut rounds = 0;
    while NESTED.load(Relaxed) == 0 && rounds < 100_000 {
        rounds += 1;
        churn(8, false);
        HELD.with(|held| *held.borrow_mut() = Some(MAP.guard()));
        HELD.with(|held| {
            let held = held.borrow();
            let _ = MAP.get(&0, held.as_ref().unwrap());
        });
        let guard = HELD.with(|held| held.borrow_mut().take());
        drop(guard);
    }
    assert!(
        NESTED.load(Relaxed) > 0,
        "no destructor pinned the pinning guard in {rounds} rounds"
    );
    // Reclamation must still make progress: 201,000 values replaced (200,000 on another
    // thread), flushed; all but a few batches are freed when the epoch advances.
    let before = DROPS.load(Relaxed);
    std::thread::spawn(|| {
        for _ in 0..200 {
            churn(1000, true);
        }
    })
    .join()
    .unwrap();
    churn(1000, true);
    let freed = DROPS.load(Relaxed) - before;
    assert!(
        freed > 100_000,
        "reclamation stalled after a nested pin: {freed} of 201,000 replaced values freed"
    );
}
