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
/// new entry has expired, one ordinary write unlinks it (a map of 2 buckets: one write
/// sweeps all of them) — its deadline was not lost to the purge's raise of the hint.
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
        // A write with no deadline: its sweep must find the expired key 1 (and key 0 if
        // the purge's sweep missed it... it cannot: it was expired all along).
        assert_eq!(val(map.pin().insert(2, Val::new(2))), None);
        assert_eq!(map.len(), 1, "an expired entry was left unswept");
    });
}
