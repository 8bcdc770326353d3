//! The bounded cache with a mix of entries with and without a TTL: expired entries are
//! still the first victims (reported `Expired`) once the evicting insert judges the
//! window's candidate before the hand walks (`src/cache/pool.rs`, "Judged before the
//! walk"), which it may do only while no entry can have expired.

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ttlmap::{HashMap, ManualClock, RemovalCause};

/// Every listener call: key and cause.
type Log = Arc<Mutex<Vec<(u64, RemovalCause)>>>;

const CAP: u64 = 4096;

#[test]
fn expired_entries_go_before_live_ones_in_a_ttl_mix() {
    let clock = ManualClock::new();
    let log = Log::default();
    let told = log.clone();
    let map = HashMap::builder()
        // A fixed hasher: the same table, hence the same walks, every run.
        .hasher(BuildHasherDefault::<DefaultHasher>::default())
        .clock(clock.clone())
        .max_capacity(CAP)
        .eviction_listener(move |k: &u64, _v: &u64, cause| told.lock().unwrap().push((*k, cause)))
        .build();
    // Half the entries expire in a second.
    for k in 0..CAP {
        if k % 2 == 0 {
            map.pin().insert_with_ttl(k, k, Duration::from_secs(1));
        } else {
            map.pin().insert(k, k);
        }
    }
    // New keys, each evicting one, before anything expires: the pools fill up, and most
    // candidates lose without a walk.
    for k in CAP..2 * CAP {
        map.pin().insert(k, k);
    }
    let short = map
        .pin()
        .iter()
        .filter(|(&k, _)| k < CAP && k % 2 == 0)
        .count();
    log.lock().unwrap().clear();
    clock.advance(Duration::from_secs(2));
    // Now about `short` entries have expired: each of these inserts evicts one.
    let n = 500;
    for k in 2 * CAP..2 * CAP + n {
        map.pin().insert(k, k);
    }
    let log = log.lock().unwrap();
    let expired = log.iter().filter(|e| e.1 == RemovalCause::Expired).count();
    let size = log.iter().filter(|e| e.1 == RemovalCause::Size).count();
    assert_eq!(expired + size, log.len(), "{log:?}");
    assert!(
        log.len() as u64 >= n,
        "each insert evicted one (or swept more)"
    );
    // About as many expired entries as the map needs to lose: nearly every eviction takes
    // one. (Not all: a hand's walk stops after 2 live entries, and the pool's best, or the
    // candidate, goes if it met no expired one. 30 of 500 before the candidate was judged
    // before the walk, 18 after; judging before every walk, 118.)
    assert!(
        size * 10 <= log.len(),
        "{size} live entries evicted of {} removals while {short} short-lived entries \
         had expired",
        log.len()
    );
    assert!(map.len() as u64 <= CAP);
}
