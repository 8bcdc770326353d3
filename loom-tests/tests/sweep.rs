#![cfg(ttlmap_loom)]
//! Switching the incremental sweep off (`raw/expiry.rs`): a purge that finds no deadline
//! left raises the sweep hint to "never", racing a write that publishes a new deadline.

use std::time::Duration;

use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, val, MaskHasher, Val};
use ttlmap::ManualClock;

const SEC: Duration = Duration::from_secs(1);

/// A purge that removes the last entry with a deadline (and so would switch sweeping
/// off) races an `insert_with_ttl` of another key. Whatever the interleaving, once the
/// new entry has expired, writes sweep (its deadline was not lost to the purge's raise
/// of the hint) and two ordinary writes unlink it (a map of 2 buckets).
#[test]
fn purge_switch_off_vs_insert_with_ttl() {
    model("purge_switch_off_vs_insert_with_ttl", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        map.pin().insert_with_ttl(0, Val::new(0), SEC);
        clock.advance(SEC);
        let m2 = map.clone();
        let t = thread::spawn(move || m2.purge_expired());
        map.pin().insert_with_ttl(1, Val::new(1), 10 * SEC);
        let purged = t.join().unwrap();
        assert!(purged <= 1);
        clock.advance(10 * SEC);
        assert!(
            map.sweeping(),
            "the new deadline was lost to the purge's raise"
        );
        // Writes with no deadline: their sweeps find the expired key 1 (each sweeps at
        // least one bucket, in cursor order; two cover both).
        assert_eq!(val(map.pin().insert(2, Val::new(2))), None);
        assert_eq!(val(map.pin().insert(4, Val::new(4))), None);
        assert_eq!(map.len(), 2, "an expired entry was left unswept");
    });
}

/// An insert over an existing key publishes a deadline and must note it, even if an
/// `update` replaces its new cell (carrying the deadline over, which notes nothing) before
/// the insert looks at it again. Regression (found by review): the insert noted the
/// deadline it re-read from its cell, and missed it when the cell was already replaced;
/// on a map with no other deadline, sweeping then stayed off and the entry was stranded.
#[test]
fn insert_over_key_vs_update_notes_the_deadline() {
    model("insert_over_key_vs_update_notes_the_deadline", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        // No deadline anywhere: sweeping is off.
        map.pin().insert(0, Val::new(0));
        let m2 = map.clone();
        let t = thread::spawn(move || {
            let _ = m2.pin().update(0, |v| Val::new(v.get() + 1));
        });
        let _ = map.pin().insert_with_ttl(0, Val::new(10), SEC);
        t.join().unwrap();
        // Key 0 has a deadline now (in either order); once it passed, writes sweep.
        assert!(map.pin().ttl(&0).is_some());
        clock.advance(2 * SEC);
        assert!(map.sweeping(), "a published deadline was never noted");
        map.pin().insert(1, Val::new(1));
        map.pin().insert(3, Val::new(3));
        assert_eq!(map.len(), 2, "the expired entry was stranded");
    });
}
