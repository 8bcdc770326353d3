//! serde (feature `serde`): maps and sets round-trip as plain maps / sequences of their
//! live entries, like std's; `ttlmap::serde::with_ttl` snapshots keep remaining TTLs.
//! Run with `cargo test -p ttlmap --features serde`.
#![cfg(feature = "serde")]

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ttlmap::{Expiry, HashMap, HashSet, ManualClock};

/// A map serializes as std's does (its live entries only) and comes back equal.
#[test]
fn map_round_trips_as_a_plain_map() {
    let clock = ManualClock::new();
    let map = HashMap::builder().clock(clock.clone()).build();
    let m = map.pin();
    m.insert("a".to_string(), 1u32);
    m.insert("b".to_string(), 2);
    m.insert_with_ttl("gone".to_string(), 3, Duration::from_secs(1));
    clock.advance(Duration::from_secs(1));
    drop(m);

    let json = serde_json::to_value(&map).unwrap();
    let std_map = BTreeMap::from([("a".to_string(), 1u32), ("b".to_string(), 2)]);
    assert_eq!(
        json,
        serde_json::to_value(&std_map).unwrap(),
        "not std's shape, or expired entries written"
    );
    assert_eq!(
        serde_json::to_value(map.pin()).unwrap(),
        json,
        "the handle serializes the same"
    );

    let back: HashMap<String, u32> = serde_json::from_value(json).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back.pin().get("a"), Some(&1));
    assert_eq!(back.pin().ttl("b"), Some(Expiry::Never));
    let live: HashMap<String, u32> = map.pin().iter().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(back, live);
}

/// A set serializes as a sequence of its live members and comes back equal.
#[test]
fn set_round_trips_as_a_sequence() {
    let set: HashSet<u8> = (0..5).collect();
    let json = serde_json::to_string(&set).unwrap();
    let mut members: Vec<u8> = serde_json::from_str(&json).unwrap();
    members.sort();
    assert_eq!(members, [0, 1, 2, 3, 4]);
    assert_eq!(serde_json::to_string(&set.pin()).unwrap(), json);
    let back: HashSet<u8> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, set);
}

/// A cache snapshot with `with_ttl` keeps each entry's remaining TTL: taken at t = 4 s on
/// one manual clock, restored under another manual clock, entries expire when their
/// remaining time has passed on the new clock; persistent ones stay; expired ones are not
/// in the snapshot.
#[test]
fn snapshot_with_ttl_restores_expiries_under_a_manual_clock() {
    #[derive(Serialize)]
    struct Snapshot<'a> {
        #[serde(with = "ttlmap::serde::with_ttl")]
        sessions: &'a HashMap<String, u32>,
    }

    let clock = ManualClock::new();
    let sessions = HashMap::builder().clock(clock.clone()).build();
    let s = sessions.pin();
    s.insert_with_ttl("ten".to_string(), 10, Duration::from_secs(10));
    s.insert_with_ttl("twenty".to_string(), 20, Duration::from_secs(20));
    s.insert_with_ttl("three".to_string(), 3, Duration::from_secs(3));
    s.insert("forever".to_string(), 0);
    drop(s);
    clock.advance(Duration::from_secs(4));
    let json = serde_json::to_string(&Snapshot {
        sessions: &sessions,
    })
    .unwrap();

    // Restore under another clock, far along its own time line.
    let later = ManualClock::new();
    later.advance(Duration::from_secs(1_000));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let restored = ttlmap::serde::with_ttl::restore_map(
        HashMap::<String, u32>::builder()
            .clock(later.clone())
            .default_ttl(Duration::from_secs(1)),
        value["sessions"].clone(),
    )
    .unwrap();
    let r = restored.pin();
    assert_eq!(r.len(), 3, "an expired entry was written");
    assert_eq!(r.ttl("ten"), Some(Expiry::In(Duration::from_secs(6))));
    assert_eq!(r.ttl("twenty"), Some(Expiry::In(Duration::from_secs(16))));
    assert_eq!(
        r.ttl("forever"),
        Some(Expiry::Never),
        "a persistent entry took the default TTL"
    );
    later.advance(Duration::from_secs(6));
    assert_eq!(r.get("ten"), None);
    assert_eq!(r.get("twenty"), Some(&20));
    later.advance(Duration::from_secs(10));
    assert_eq!(r.get("twenty"), None);
    assert_eq!(r.get("forever"), Some(&0));
}

/// `#[serde(with = "ttlmap::serde::with_ttl")]` both ways on a struct field (system
/// clock), for a map and for a set.
#[test]
fn with_ttl_derive_round_trip() {
    #[derive(Serialize, Deserialize)]
    struct State {
        #[serde(with = "ttlmap::serde::with_ttl")]
        tokens: HashMap<u64, String>,
        #[serde(with = "ttlmap::serde::with_ttl")]
        seen: HashSet<u64>,
    }
    let state = State {
        tokens: HashMap::new(),
        seen: HashSet::new(),
    };
    state
        .tokens
        .pin()
        .insert_with_ttl(1, "a".into(), Duration::from_secs(3600));
    state.tokens.pin().insert(2, "b".into());
    state
        .seen
        .pin()
        .insert_with_ttl(7, Duration::from_secs(3600));
    state.seen.pin().insert(8);

    let json = serde_json::to_string(&state).unwrap();
    let back: State = serde_json::from_str(&json).unwrap();
    let hour = Duration::from_secs(3600);
    assert!(matches!(back.tokens.pin().ttl(&1), Some(Expiry::In(d)) if d <= hour && d > hour / 2));
    assert_eq!(back.tokens.pin().get(&1).map(String::as_str), Some("a"));
    assert_eq!(back.tokens.pin().ttl(&2), Some(Expiry::Never));
    assert!(matches!(back.seen.pin().ttl(&7), Some(Expiry::In(d)) if d <= hour && d > hour / 2));
    assert_eq!(back.seen.pin().ttl(&8), Some(Expiry::Never));
}

/// A set snapshot restored under a manual clock expires its members on that clock.
#[test]
fn set_snapshot_restores_expiries() {
    let clock = ManualClock::new();
    let seen = HashSet::builder().clock(clock.clone()).build();
    seen.pin().insert_with_ttl(1u32, Duration::from_secs(5));
    seen.pin().insert(2u32);
    clock.advance(Duration::from_secs(2));
    let mut json = Vec::new();
    ttlmap::serde::with_ttl::serialize(&seen, &mut serde_json::Serializer::new(&mut json)).unwrap();

    let later = ManualClock::new();
    let mut de = serde_json::Deserializer::from_slice(&json);
    let restored = ttlmap::serde::with_ttl::restore_set(
        HashSet::<u32>::builder().clock(later.clone()),
        &mut de,
    )
    .unwrap();
    assert_eq!(
        restored.pin().ttl(&1),
        Some(Expiry::In(Duration::from_secs(3)))
    );
    later.advance(Duration::from_secs(3));
    assert!(!restored.pin().contains(&1));
    assert!(restored.pin().contains(&2));
}

/// Malformed input is an error, not a panic, and a lying size hint allocates nothing
/// unusual.
#[test]
fn malformed_input_is_an_error() {
    assert!(serde_json::from_str::<HashMap<u8, u8>>("[1, 2]").is_err());
    assert!(serde_json::from_str::<HashSet<u8>>(r#"{"a": 1}"#).is_err());
    let mut de = serde_json::Deserializer::from_str(r#"{"k": 1}"#);
    assert!(
        ttlmap::serde::with_ttl::restore_map(HashMap::<String, u8>::builder(), &mut de).is_err()
    );
}
