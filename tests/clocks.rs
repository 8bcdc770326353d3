//! User clocks (`Clock::from_fn`): expiry follows any monotonic time source, exactly,
//! including tokio's paused time; readings at the ends of the range keep the deadline
//! encoding intact.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ttlmap::{Clock, Expiry, HashMap};

/// A clock whose reading (nanoseconds) the test sets.
fn settable() -> (Arc<AtomicU64>, Clock) {
    let nanos = Arc::new(AtomicU64::new(0));
    let reading = nanos.clone();
    let clock = Clock::from_fn(move || Duration::from_nanos(reading.load(Ordering::SeqCst)));
    (nanos, clock)
}

/// tokio's paused clock drives expiry: `advance` and auto-advancing `sleep` expire
/// entries, and `ttl` reports the time left on tokio's time line.
#[tokio::test(start_paused = true)]
async fn tokio_paused_time_expires_entries() {
    let start = tokio::time::Instant::now();
    let clock = Clock::from_fn(move || start.elapsed());
    let sessions = HashMap::builder().clock(clock).build();
    sessions
        .pin()
        .insert_with_ttl("alice", 1, Duration::from_secs(30));
    sessions.pin().insert("admin", 0);

    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(sessions.pin().get("alice"), Some(&1));
    assert_eq!(
        sessions.pin().ttl("alice"),
        Some(Expiry::In(Duration::from_secs(1)))
    );

    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        sessions.pin().get("alice"),
        None,
        "expired on tokio's clock"
    );
    assert_eq!(sessions.pin().get("admin"), Some(&0));

    // A paused runtime skips ahead through sleeps: a minute passes at once.
    sessions
        .pin()
        .insert_with_ttl("bob", 2, Duration::from_secs(60));
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(sessions.pin().get("bob"), Some(&2));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sessions.pin().get("bob"), None);
    // (Writes may have swept one of the two already.)
    assert!(sessions.purge_expired() <= 2);
    assert_eq!(sessions.len(), 1);
}

/// Expiry is exact on a user clock: live one nanosecond before the deadline, expired at
/// it, from reading zero on (a 1 ns TTL set at reading zero is a real deadline).
#[test]
fn expiry_is_exact_from_reading_zero() {
    let (nanos, clock) = settable();
    let map = HashMap::builder().clock(clock).build();
    let m = map.pin();
    m.insert_with_ttl(1, "one ns", Duration::from_nanos(1));
    m.insert_with_ttl(2, "a second", Duration::from_secs(1));
    assert_eq!(m.get(&1), Some(&"one ns"));
    assert_eq!(m.ttl(&2), Some(Expiry::In(Duration::from_secs(1))));
    nanos.store(1, Ordering::SeqCst);
    assert_eq!(m.get(&1), None);
    nanos.store(999_999_999, Ordering::SeqCst);
    assert_eq!(m.ttl(&2), Some(Expiry::In(Duration::from_nanos(1))));
    assert_eq!(m.get(&2), Some(&"a second"));
    nanos.store(1_000_000_000, Ordering::SeqCst);
    assert_eq!(m.get(&2), None);
    assert_eq!(map.clock().granularity(), Duration::ZERO);
}

/// A reading at the far end of the range (`Duration::MAX`) saturates below "never":
/// entries without a deadline stay, and a TTL written then saturates to "never".
#[test]
fn huge_readings_keep_persistent_entries() {
    let clock = Clock::from_fn(|| Duration::MAX);
    let map = HashMap::builder().clock(clock).build();
    let m = map.pin();
    m.insert("forever", 1);
    m.insert_with_ttl("late", 2, Duration::from_secs(1));
    assert_eq!(m.get("forever"), Some(&1));
    assert_eq!(m.ttl("forever"), Some(Expiry::Never));
    assert_eq!(m.get("late"), Some(&2));
    assert_eq!(m.purge_expired(), 0);
    assert_eq!(format!("{:?}", map.clock()), "Clock::Fn");
}
