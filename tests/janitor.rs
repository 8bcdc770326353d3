//! The opt-in janitor: an idle map gives its expired memory back with no traffic, the
//! janitor never holds the map (or its garbage) back, and it stops when told or when the
//! map is gone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ttlmap::{HashMap, Janitor, ManualClock};

static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// A value that counts its drops (in a static: the janitor needs `'static` values).
struct Counted(u64);

impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what} never happened"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn janitor_purges_an_idle_map_and_stops_with_it() {
    let clock = ManualClock::new();
    let map: Arc<HashMap<u64, Counted>> = Arc::new(HashMap::builder().clock(clock.clone()).build());
    let janitor = Janitor::spawn(&map, Duration::from_millis(5));
    for k in 0..1000 {
        map.pin()
            .insert_with_ttl(k, Counted(k), Duration::from_secs(1));
    }
    map.pin().insert(5000, Counted(5000));
    // Runs purge nothing until the entries expire.
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(map.len(), 1001);
    assert_eq!(DROPPED.load(Ordering::SeqCst), 0);
    clock.advance(Duration::from_secs(1));
    // No traffic from this thread: the janitor unlinks and frees them.
    eventually("the janitor's purge", || map.len() == 1);
    eventually("the expired values' drop", || {
        DROPPED.load(Ordering::SeqCst) == 1000
    });
    // The janitor holds no pin between runs: a removal here is freed by our own
    // reclamation at once, not held back until the janitor's next run.
    assert_eq!(map.pin().remove(&5000).map(|c| c.0), Some(5000));
    assert_eq!(map.purge_expired(), 0);
    assert_eq!(DROPPED.load(Ordering::SeqCst), 1001);
    assert!(!janitor.is_finished());
    // Dropping the map stops it at its next run.
    drop(map);
    eventually("the janitor's exit after the map's drop", || {
        janitor.is_finished()
    });
    drop(janitor);

    // `stop` stops a janitor whose map is alive, and waits for it.
    let map: Arc<HashMap<u64, u64>> = Arc::new(HashMap::new());
    let janitor = Janitor::spawn(&map, Duration::from_secs(3600));
    let start = Instant::now();
    janitor.stop();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "stop waited for the interval"
    );
    assert_eq!(Arc::strong_count(&map), 1);
}
