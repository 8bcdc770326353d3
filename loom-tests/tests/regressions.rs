#![cfg(ttlmap_loom)]
//! Regression models, each named after the bug it pins (see README.md's model table).
//!
//! # `insert_new_returns_own_cell_*`
//! `RawMap::insert` used to read the new node's cell (`n.val`) *after* the CAS that links
//! the node: a thread that found the node in between and replaced its value (or removed
//! it) made the insert report the replacer's cell (a foreign value) or a null one
//! (`fuzz/artifacts/concurrent/crash-32beebae…`). The fix reads the cell before the CAS.
//! These models put a replacer / remover of the key against an insert that links a
//! new node, and check the reference the insert hands back (`try_insert`'s `Ok`) is the
//! inserter's own value and stays readable while its handle is pinned (a dropped or
//! unpublished `Val` is a loom error).
//!
//! Loom's DPOR cannot reach that window by itself: the only operation between the
//! linking CAS and the old re-read is that re-read, a load, and the racing thread's CAS
//! on `val` always comes right after its own load of `val`, and loom checks a write for
//! races only against the last access to that atomic, so it never sees the re-read race
//! with the CAS and never schedules the other thread there, at any preemption bound
//! (checked up to 4). README.md says how the models were shown to fail (a loom-only
//! write inside the window).

use loom::sync::Arc;
use loom::thread;
use loom_tests::{map_with, model, val, MaskHasher, Val};
use ttlmap::ManualClock;

/// An insert of an absent key links a new node; another thread overwrites the key's
/// value before the insert returns: `try_insert`'s `Ok` is still the inserter's value.
#[test]
fn insert_new_returns_own_cell_despite_replace() {
    model("insert_new_returns_own_cell_despite_replace", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().insert(1, Val::new(20))));
        let m = map.pin();
        let got = m.try_insert(1, Val::new(10));
        let replaced = t.join().unwrap();
        // Read after the replacer is done, still pinned: the replaced value is retired
        // but not yet dropped.
        let got = got.map(|v| v.get()).map_err(|e| e.current.get());
        drop(m);
        match (got, replaced) {
            // try_insert first (insert replaced its value), or insert first.
            (Ok(10), Some(10)) | (Err(20), None) => {}
            other => panic!("(try_insert, insert) = {other:?}"),
        }
    });
}

/// An insert of an absent key links a new node; another thread removes the key before
/// the insert returns: `try_insert`'s `Ok` is still the inserter's value, readable while
/// pinned.
#[test]
fn insert_new_returns_own_cell_despite_remove() {
    model("insert_new_returns_own_cell_despite_remove", 2, || {
        let clock = ManualClock::new();
        let map = Arc::new(map_with::<Val>(0, MaskHasher::IDENTITY, &clock));
        let m2 = map.clone();
        let t = thread::spawn(move || val(m2.pin().remove(&1)));
        let m = map.pin();
        let got = m.try_insert(1, Val::new(10));
        let removed = t.join().unwrap();
        let got = got.map(|v| v.get()).map_err(|e| e.current.get());
        drop(m);
        match (got, removed) {
            // try_insert first (remove took its value), or remove of an absent key first.
            (Ok(10), Some(10) | None) => {}
            other => panic!("(try_insert, remove) = {other:?}"),
        }
        assert_eq!(val(map.pin().get(&1)), removed.xor(Some(10)));
    });
}
