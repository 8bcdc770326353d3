//! A session store under concurrent request load: the `Mutex<HashMap>` version next to
//! the `ttlmap` one, with per-session TTLs, and what expired sessions give back.
//!
//! Run with `cargo run --release --example quickstart`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap as StdHashMap;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Counts live heap bytes, so the example can show what expired sessions free.
struct CountingAlloc;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only adds bookkeeping.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn heap() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// What a web service keeps per logged-in user.
#[derive(Clone, Debug)]
struct Session {
    user: String,
    #[allow(dead_code)]
    csrf_token: [u8; 64],
}

impl Session {
    fn new(id: u64) -> Session {
        Session {
            user: format!("user-{id}"),
            csrf_token: [7; 64],
        }
    }
}

const THREADS: u64 = 4;
const SESSIONS_PER_THREAD: u64 = 25_000;

/// Before: the classic store. Expired sessions sit in the map until someone reads them.
fn mutex_store() -> Duration {
    let store: Mutex<StdHashMap<u64, (Session, Instant)>> = Mutex::new(StdHashMap::new());
    let start = Instant::now();
    thread::scope(|s| {
        for t in 0..THREADS {
            let store = &store;
            s.spawn(move || {
                for i in 0..SESSIONS_PER_THREAD {
                    let id = t << 32 | i;
                    let session = Session::new(id);
                    let deadline = Instant::now() + Duration::from_millis(200);
                    store.lock().unwrap().insert(id, (session, deadline));
                    // Every request also looks its session up.
                    let hit = store
                        .lock()
                        .unwrap()
                        .get(&id)
                        .is_some_and(|(_, d)| *d > Instant::now());
                    assert!(hit);
                }
            });
        }
    });
    start.elapsed()
}

fn main() {
    println!("== Mutex<HashMap> session store ==");
    let took = mutex_store();
    println!(
        "{} requests on {THREADS} threads in {took:.2?}",
        THREADS * SESSIONS_PER_THREAD * 2
    );

    println!("\n== ttlmap session store ==");
    let before = heap();
    // Short-lived sessions expire after 200 ms unless refreshed.
    let store: ttlmap::HashMap<u64, Session> = ttlmap::HashMap::builder()
        .default_ttl(Duration::from_millis(200))
        .build();
    let hits = AtomicU64::new(0);
    let start = Instant::now();
    thread::scope(|s| {
        for t in 0..THREADS {
            let (store, hits) = (&store, &hits);
            s.spawn(move || {
                for i in 0..SESSIONS_PER_THREAD {
                    let id = t << 32 | i;
                    let session = Session::new(id);
                    let m = store.pin();
                    // "Remember me" sessions live for an hour instead.
                    if i % 100 == 0 {
                        m.insert_with_ttl(id, session, Duration::from_secs(3600));
                    } else {
                        m.insert(id, session);
                    }
                    if m.get(&id).is_some() {
                        hits.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let took = start.elapsed();
    println!(
        "{} requests on {THREADS} threads in {took:.2?}; {} lookups hit",
        THREADS * SESSIONS_PER_THREAD * 2,
        hits.load(Ordering::Relaxed)
    );
    let m = store.pin();
    let probe = 1u64 << 32 | 7;
    println!(
        "session {probe:#x}: {:?}",
        m.get(&probe).map(|s| s.user.as_str())
    );
    drop(m);
    let full = heap() - before;
    println!(
        "{} sessions stored, {:.1} MiB on the heap",
        store.len(),
        full as f64 / (1 << 20) as f64
    );

    thread::sleep(Duration::from_millis(250));
    println!("\n-- 250 ms later: short sessions expired --");
    {
        let m = store.pin();
        println!(
            "session {probe:#x}: {:?} (expired, absent at once)",
            m.get(&probe).map(|s| s.user.as_str())
        );
        let remembered = 2u64 << 32 | 100;
        println!(
            "session {remembered:#x}: {:?} (remember-me, still there)",
            m.get(&remembered).map(|s| s.user.as_str())
        );
    }

    // Ordinary traffic on *other* keys reclaims the expired sessions: nobody reads them.
    let mut writes = 0u64;
    while store.len() > (THREADS * SESSIONS_PER_THREAD / 100) as usize {
        let m = store.pin();
        let id = 1 << 40 | writes;
        m.insert(
            id,
            Session {
                user: "probe".into(),
                csrf_token: [0; 64],
            },
        );
        m.remove(&id);
        writes += 2;
    }
    // Let the epoch collector run what is now garbage.
    for _ in 0..256 {
        drop(store.pin());
    }
    let after = heap() - before;
    println!(
        "after {writes} unrelated writes: {} sessions left, {:.1} MiB on the heap \
         ({:.1} MiB given back by expired sessions)",
        store.len(),
        after as f64 / (1 << 20) as f64,
        (full - after) as f64 / (1 << 20) as f64
    );
    let purged = store.purge_expired();
    println!("purge_expired() found {purged} more");
    drop(store);
    println!("after drop: {} bytes still held", heap() - before);

    idle_store_with_a_janitor();
}

/// A store that goes idle right after a burst: nothing writes, so nothing sweeps; an
/// opt-in janitor thread purges it (and frees the memory) on a schedule.
fn idle_store_with_a_janitor() {
    println!("\n== an idle store with a janitor ==");
    let before = heap();
    let store: Arc<ttlmap::HashMap<u64, Session>> = Arc::new(
        ttlmap::HashMap::builder()
            .default_ttl(Duration::from_millis(100))
            .build(),
    );
    let janitor = ttlmap::Janitor::spawn(&store, Duration::from_millis(50));
    {
        let m = store.pin();
        for id in 0..20_000 {
            m.insert(id, Session::new(id));
        }
    }
    let full = heap() - before;
    println!(
        "{} sessions after a burst, {:.1} MiB on the heap",
        store.len(),
        full as f64 / (1 << 20) as f64
    );
    // No traffic at all from here on.
    thread::sleep(Duration::from_millis(400));
    println!(
        "400 ms later, with no traffic: {} sessions left, {:.2} MiB on the heap",
        store.len(),
        (heap() - before) as f64 / (1 << 20) as f64
    );
    janitor.stop();
}
