//! Single-flight loading (`get_or_load`, `try_get_or_load`): racing callers of one absent
//! key run one loader; a panicking or failing loader wakes its waiters and one of them
//! loads; re-entrance for the loader's own key panics; loaders may use the map; flights
//! of different keys with equal hashes stay apart; nothing leaks or is dropped twice.
//!
//! Tests that could hang if the protocol broke (a waiter never woken, two flights that
//! wait for each other) run their threads under a generous watchdog that fails the test
//! instead; no test asserts a timing.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use ttlmap::{Expiry, HashMap, ManualClock};

/// How long a watchdog waits before it calls a test stuck (never reached when all is well).
const STUCK: Duration = Duration::from_secs(60);

/// A hasher under which every key has hash 0: every key shares every flight's hash.
#[derive(Default)]
struct Collide;

impl Hasher for Collide {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, _: &[u8]) {}
}

type Colliding = BuildHasherDefault<Collide>;

/// Runs `f` on its own thread and returns its result, failing the test if it does not
/// finish within [`STUCK`] (the thread is then left behind).
fn watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(STUCK) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: stuck for {STUCK:?} (a waiter never woken, or a deadlock)"),
    }
}

/// Lets the other threads reach their `get_or_load` call and block in it (no assertion
/// depends on it: it only makes the interesting interleaving the likely one).
fn let_others_arrive() {
    thread::sleep(Duration::from_millis(50));
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn a_hit_returns_the_live_value_without_running_the_loader() {
    let map = HashMap::new();
    let m = map.pin();
    m.insert(1, 10);
    assert_eq!(
        m.get_or_load(1, || unreachable!("loader ran on a hit")),
        &10
    );
    let r: Result<_, ()> = m.try_get_or_load(1, || unreachable!("loader ran on a hit"));
    assert_eq!(r, Ok(&10));
    assert_eq!(map.loads_in_flight(), 0);
}

#[test]
fn the_loaded_value_gets_the_default_ttl_and_reloads_once_expired() {
    let clock = ManualClock::new();
    let map = HashMap::builder()
        .clock(clock.clone())
        .default_ttl(Duration::from_secs(5))
        .build();
    let m = map.pin();
    assert_eq!(m.get_or_load(1, || 10), &10);
    assert_eq!(m.ttl(&1), Some(Expiry::In(Duration::from_secs(5))));
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        m.get_or_load(1, || 11),
        &11,
        "an expired value counts as absent"
    );
}

/// A plain `insert` that lands while the loader runs wins: the caller gets the inserted
/// value and the loaded one is dropped (as `get_or_insert_with` decides).
#[test]
fn an_insert_racing_the_load_wins_over_the_loaded_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    let map = HashMap::new();
    let m = map.pin();
    let loaded = Counted(2, drops.clone());
    let v = m.get_or_load(1, || {
        map.pin().insert(1, Counted(1, drops.clone()));
        loaded
    });
    assert_eq!(v.0, 1, "the value inserted during the load wins");
    assert_eq!(m.get(&1).map(|c| c.0), Some(1));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the loaded value was dropped"
    );
}

/// A value that counts its drops.
struct Counted(u64, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn racing_callers_of_one_key_run_one_loader_and_all_get_its_value() {
    const THREADS: usize = 8;
    for round in 0..5u64 {
        let map = Arc::new(HashMap::<u64, usize>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(THREADS));
        let got = watchdog("racing callers", {
            let (map, calls) = (map.clone(), calls.clone());
            move || {
                let handles: Vec<_> = (0..THREADS)
                    .map(|t| {
                        let (map, calls, barrier) = (map.clone(), calls.clone(), barrier.clone());
                        thread::spawn(move || {
                            barrier.wait();
                            *map.pin().get_or_load(round, || {
                                calls.fetch_add(1, Ordering::SeqCst);
                                let_others_arrive();
                                t
                            })
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect::<Vec<_>>()
            }
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "round {round}: loaders run"
        );
        assert!(
            got.iter().all(|&v| v == got[0]),
            "round {round}: callers got different values {got:?}"
        );
        assert_eq!(map.pin().get(&round), Some(&got[0]));
        assert_eq!(map.loads_in_flight(), 0);
    }
}

/// What a waiter of [`a_failed_leader_wakes_its_waiters_and_one_of_them_loads`] saw.
#[derive(Debug)]
struct Failed {
    leader: String,
    waiters: Vec<u64>,
    loads: usize,
    in_flight: usize,
}

/// The leader's loader fails (`panic` true: panics; else returns `Err`) once `WAITERS`
/// callers of the same key have started; the waiters each bring a loader that counts.
fn a_failed_leader(panic: bool) -> Failed {
    const WAITERS: usize = 4;
    let map = Arc::new(HashMap::<u64, u64>::new());
    let loads = Arc::new(AtomicUsize::new(0));
    let (map2, loads2) = (map.clone(), loads.clone());
    watchdog("waiters of a failed leader", move || {
        let (map, loads) = (map2, loads2);
        let (started_tx, started_rx) = mpsc::channel();
        let waiters_in = Arc::new(Barrier::new(WAITERS + 1));
        let leader = {
            let (map, waiters_in) = (map.clone(), waiters_in.clone());
            thread::spawn(move || {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    map.pin()
                        .try_get_or_load(1, || {
                            started_tx.send(()).unwrap();
                            waiters_in.wait();
                            let_others_arrive();
                            if panic {
                                panic!("the leader's loader panicked");
                            }
                            Err("the leader's loader failed")
                        })
                        .copied()
                }));
                match r {
                    Ok(Ok(v)) => format!("Ok({v})"),
                    Ok(Err(e)) => format!("Err({e})"),
                    Err(p) => format!("panic({})", panic_message(&*p)),
                }
            })
        };
        started_rx.recv().unwrap(); // The leader's flight is registered.
        let waiters: Vec<_> = (0..WAITERS as u64)
            .map(|w| {
                let (map, loads, waiters_in) = (map.clone(), loads.clone(), waiters_in.clone());
                thread::spawn(move || {
                    waiters_in.wait();
                    let m = map.pin();
                    let r: Result<_, ()> = m.try_get_or_load(1, || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        let_others_arrive();
                        Ok(100 + w)
                    });
                    *r.unwrap()
                })
            })
            .collect();
        let leader = leader.join().unwrap();
        let waiters = waiters.into_iter().map(|h| h.join().unwrap()).collect();
        Failed {
            leader,
            waiters,
            loads: loads.load(Ordering::SeqCst),
            in_flight: map.loads_in_flight(),
        }
    })
}

#[test]
fn a_panicking_loader_wakes_its_waiters_and_one_of_them_loads() {
    let f = a_failed_leader(true);
    assert_eq!(f.leader, "panic(the leader's loader panicked)");
    assert_eq!(f.loads, 1, "waiters that loaded: {f:?}");
    assert!(f.waiters.iter().all(|&v| v == f.waiters[0]), "{f:?}");
    assert_eq!(f.in_flight, 0, "a flight was left behind: {f:?}");
}

#[test]
fn a_failing_loader_returns_its_error_to_its_caller_only_and_a_waiter_loads() {
    let f = a_failed_leader(false);
    assert_eq!(f.leader, "Err(the leader's loader failed)");
    assert_eq!(f.loads, 1, "waiters that loaded: {f:?}");
    assert!(f.waiters.iter().all(|&v| v == f.waiters[0]), "{f:?}");
    assert_eq!(f.in_flight, 0, "a flight was left behind: {f:?}");
}

/// After a panicking loader, nothing of its flight is left: a later caller on the same
/// thread and one on another thread load normally (a leftover flight would make the first
/// panic as a re-entrance and the second wait forever).
#[test]
fn a_panicking_loader_leaves_no_flight_behind() {
    let map = Arc::new(HashMap::<u64, u64>::new());
    let r = catch_unwind(AssertUnwindSafe(|| {
        *map.pin().get_or_load(1, || panic!("loader panicked"))
    }));
    assert!(r.is_err());
    assert_eq!(map.loads_in_flight(), 0);
    assert_eq!(map.pin().get(&1), None);
    let m = map.clone();
    let other = watchdog("a caller after a panicked load", move || {
        *m.pin().get_or_load(1, || 2)
    });
    assert_eq!(other, 2);
    assert_eq!(map.pin().get_or_load(3, || 3), &3);
    assert_eq!(map.loads_in_flight(), 0);
}

#[test]
fn a_loader_re_entering_for_its_own_key_panics_with_a_clear_message() {
    let map = Arc::new(HashMap::<u64, u64>::new());
    let m = map.clone();
    let msg = watchdog("a re-entering loader", move || {
        let r = catch_unwind(AssertUnwindSafe(|| {
            *m.pin()
                .get_or_load(1, || *m.pin().get_or_load(1, || unreachable!()))
        }));
        panic_message(&*r.expect_err("re-entrance must panic"))
    });
    assert!(
        msg.contains("get_or_load re-entered for the key its own loader is loading"),
        "message: {msg:?}"
    );
    assert_eq!(map.loads_in_flight(), 0);
    assert_eq!(
        map.pin().get_or_load(1, || 5),
        &5,
        "the key loads again afterwards"
    );
}

/// A loader may use the map for other keys, including a nested `get_or_load` of a key
/// with the same hash (which must not be mistaken for a re-entrance).
#[test]
fn a_loader_may_use_the_map_for_other_keys() {
    let map = HashMap::<u64, u64, Colliding>::default();
    let m = map.pin();
    let v = m.get_or_load(1, || {
        let inner = map.pin();
        inner.insert(2, 20);
        let three = *inner.get_or_load(3, || 30);
        let four: Result<_, ()> = inner.try_get_or_load(4, || Ok(three + 10));
        inner.get(&2).unwrap() + four.unwrap()
    });
    assert_eq!(*v, 60);
    let mut all: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
    all.sort();
    assert_eq!(all, [(1, 60), (2, 20), (3, 30), (4, 40)]);
    assert_eq!(map.loads_in_flight(), 0);
}

/// Key A's loader waits for another thread's load of key B, with an equal hash: if B's
/// caller joined A's flight (compared hashes only), each would wait for the other.
#[test]
fn loads_of_different_keys_with_equal_hashes_do_not_share_a_flight() {
    let map = Arc::new(HashMap::<u64, u64, Colliding>::default());
    let b_calls = Arc::new(AtomicUsize::new(0));
    let (m, calls) = (map.clone(), b_calls.clone());
    let a = watchdog("loads of colliding keys", move || {
        *m.pin().get_or_load(1, || {
            let (m2, calls) = (m.clone(), calls.clone());
            let b = thread::spawn(move || {
                *m2.pin().get_or_load(2, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    20
                })
            });
            b.join().unwrap() + 1
        })
    });
    assert_eq!(a, 21);
    assert_eq!(b_calls.load(Ordering::SeqCst), 1);
    assert_eq!(map.pin().get(&2), Some(&20));
    assert_eq!(map.loads_in_flight(), 0);
}

/// The guard-based twins share the implementation: single flight across both APIs.
#[test]
fn guard_based_twins_load_and_hit() {
    let map = HashMap::<u64, u64>::new();
    let guard = map.guard();
    assert_eq!(map.get_or_load(1, || 1, &guard), &1);
    assert_eq!(map.pin().get_or_load(1, || unreachable!()), &1);
    assert_eq!(
        map.try_get_or_load(2, || Err::<u64, _>("no"), &guard),
        Err("no")
    );
    assert_eq!(map.try_get_or_load(2, || Ok::<_, ()>(2), &guard), Ok(&2));
}

/// Counts every key and value made and dropped.
#[derive(Default)]
struct Ledger {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

struct Obj {
    k: u64,
    ledger: Arc<Ledger>,
    /// Set by the first drop: a second one is a double drop.
    gone: bool,
}

impl Obj {
    fn new(k: u64, ledger: &Arc<Ledger>) -> Obj {
        ledger.made.fetch_add(1, Ordering::SeqCst);
        Obj {
            k,
            ledger: ledger.clone(),
            gone: false,
        }
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        assert!(!self.gone, "double drop of {}", self.k);
        self.gone = true;
        self.ledger.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl PartialEq for Obj {
    fn eq(&self, other: &Obj) -> bool {
        self.k == other.k
    }
}

impl Eq for Obj {}

impl Hash for Obj {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.k.hash(h);
    }
}

/// Every key and value through every path (hit, load, failed and panicked loads, a
/// re-entrance, a lost race, racing threads) is dropped exactly once by the end.
#[test]
fn drop_ledger_every_key_and_value_is_dropped_exactly_once() {
    let ledger = Arc::new(Ledger::default());
    let ledger2 = ledger.clone();
    watchdog("the drop ledger", move || {
        let l = &ledger2;
        let map = Arc::new(HashMap::<Obj, Obj>::new());
        let m = map.pin();
        m.get_or_load(Obj::new(1, l), || Obj::new(10, l)); // load
        m.get_or_load(Obj::new(1, l), || Obj::new(11, l)); // hit: key dropped, loader not run
        let e: Result<_, Obj> = m.try_get_or_load(Obj::new(2, l), || Err(Obj::new(20, l)));
        drop(e); // failed load: key dropped, the error returned
        let _ = catch_unwind(AssertUnwindSafe(|| {
            m.get_or_load(Obj::new(3, l), || {
                let _v = Obj::new(30, l);
                panic!("loader panicked")
            })
        }));
        let _ = catch_unwind(AssertUnwindSafe(|| {
            m.get_or_load(Obj::new(4, l), || {
                map.pin().get_or_load(Obj::new(4, l), || Obj::new(41, l));
                Obj::new(40, l)
            })
        }));
        m.get_or_load(Obj::new(5, l), || {
            map.pin().insert(Obj::new(5, l), Obj::new(50, l));
            Obj::new(51, l) // loses to the insert: dropped
        });
        drop(m);
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (map, l) = (map.clone(), l.clone());
                thread::spawn(move || {
                    for k in 100..200 {
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            map.pin().get_or_load(Obj::new(k, &l), || {
                                if (k + t) % 3 == 0 {
                                    panic!("loader panicked");
                                }
                                Obj::new(k * 10, &l)
                            });
                        }));
                        drop(r);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(map.loads_in_flight(), 0);
        let map = Arc::try_unwrap(map).ok().expect("the last reference");
        drop(map);
    });
    let (made, dropped) = (
        ledger.made.load(Ordering::SeqCst),
        ledger.dropped.load(Ordering::SeqCst),
    );
    assert_eq!(made, dropped, "objects made vs dropped");
}
