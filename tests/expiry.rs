//! Expiry promises that need more than one operation to check: on the system clock an
//! entry is never reported expired early; long walks judge entries by a recent time; and
//! writes stop sweeping once no entry has a deadline.

use std::time::{Duration, Instant};

use ttlmap::{Clock, HashMap, ManualClock};

/// On the system clock an entry is never reported expired before its TTL elapsed: the
/// deadline is taken from the precise clock, expiry is judged by the coarse one, which
/// never runs ahead of it (regression, issue #10: with a coarse clock that lagged more
/// than the one-step pad, entries expired early).
#[test]
fn system_clock_never_reports_an_entry_expired_early() {
    let map: HashMap<u32, u32> = HashMap::new();
    let gran = Clock::system().granularity();
    for round in 0..20u32 {
        let ttl = Duration::from_millis(3) + gran * (round % 3);
        let before = Instant::now();
        map.pin().insert_with_ttl(round, round, ttl);
        let inserted = Instant::now();
        loop {
            let live = map.pin().get(&round).is_some();
            let after = Instant::now();
            if !live {
                assert!(
                    after - before >= ttl,
                    "expired after {:?}, TTL {ttl:?} (round {round})",
                    after - before
                );
                break;
            }
            // Live this late is not an error of the map's (the coarse clock may be held
            // back by a late tick on a loaded machine), but it must end eventually.
            assert!(
                after - inserted < ttl + Duration::from_secs(5),
                "never expired"
            );
        }
        // And `ttl` never reports more than the TTL that was set.
        map.pin()
            .insert_with_ttl(1000 + round, 0, Duration::from_secs(10));
        match map.pin().ttl(&(1000 + round)) {
            Some(ttlmap::Expiry::In(left)) => assert!(left <= Duration::from_secs(10)),
            other => panic!("ttl {other:?}"),
        }
    }
}

/// Iteration judges each entry by a clock reading at most 64 entries old (regression,
/// issue #10: one reading for the whole walk, so a long iteration yielded entries long
/// past their deadline).
#[test]
fn long_iteration_re_reads_the_clock() {
    let clock = ManualClock::new();
    let map = HashMap::builder().clock(clock.clone()).build();
    for i in 0..2000u32 {
        map.pin().insert_with_ttl(i, i, Duration::from_secs(10));
    }
    let m = map.pin();
    let mut seen = 0;
    for _ in m.iter() {
        seen += 1;
        if seen == 100 {
            // Every entry expires now; the walk must notice within 64 entries.
            clock.advance(Duration::from_secs(10));
        }
    }
    assert!((100..=100 + 64).contains(&seen), "yielded {seen} entries");
    // `retain` too: after the clock moves, the rest are expired and not shown to `f`.
    drop(m);
    let map = HashMap::builder().clock(clock.clone()).build();
    for i in 0..2000u32 {
        map.pin().insert_with_ttl(i, i, Duration::from_secs(10));
    }
    let mut shown = 0;
    map.pin().retain(|_, _| {
        shown += 1;
        if shown == 100 {
            clock.advance(Duration::from_secs(10));
        }
        true
    });
    assert!(
        (100..=100 + 64).contains(&shown),
        "retain showed {shown} entries"
    );
}

/// Sweeping switches off once a full cycle finds no entry with a deadline, and back on
/// when a deadline is written again (regression, issue #10: after the first expiry ever,
/// every write read the clock and swept a bucket forever).
#[test]
fn sweeping_switches_off_when_no_deadline_is_left_and_on_again() {
    let clock = ManualClock::new();
    let map = HashMap::builder().clock(clock.clone()).build();
    for i in 0..1000u32 {
        map.pin().insert_with_ttl(i, i, Duration::from_secs(1));
        map.pin().insert(10_000 + i, i);
    }
    assert!(!map.sweeping(), "nothing is due yet");
    clock.advance(Duration::from_secs(1));
    assert!(map.sweeping());
    // Ordinary writes (no deadlines) sweep the expired entries away, then a pass finds
    // no deadline and switches sweeping off.
    let mut writes = 0;
    while map.sweeping() {
        map.pin().insert(20_000 + writes % 100, writes);
        writes += 1;
        assert!(writes < 20 * 2048, "sweeping never switched off");
    }
    assert_eq!(map.len(), 1100);
    // A deadline written again switches it back on once due.
    map.pin().insert_with_ttl(7, 7, Duration::from_secs(1));
    assert!(!map.sweeping());
    clock.advance(Duration::from_secs(1));
    assert!(map.sweeping());
    // A purge that leaves no deadline switches it off at once.
    assert_eq!(map.pin().purge_expired(), 1);
    assert!(!map.sweeping());
    // ... and one that leaves deadlines keeps the earliest: on again when it is due.
    map.pin().insert_with_ttl(8, 8, Duration::from_secs(5));
    map.pin().insert_with_ttl(9, 9, Duration::from_secs(2));
    clock.advance(Duration::from_secs(2));
    assert_eq!(map.purge_expired(), 1);
    assert!(!map.sweeping(), "the next deadline is 3 s away");
    clock.advance(Duration::from_secs(3));
    assert!(map.sweeping());
}
