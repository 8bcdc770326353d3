//! `bounded`: the bounded cache, single-threaded, on a `ManualClock`: a capacity (or
//! none), a weigher with weights 0..=3 and `u32::MAX` (or none), `set_max_capacity`,
//! and the eviction listener, diffed against a model of the map's *contents*.
//!
//! The model holds every entry the map physically holds (live, or expired and not yet
//! removed). The eviction policy, the sweep and the purge decide *which* entries leave,
//! so the model learns it from the listener: every call must name an entry the model
//! holds, with its current value, and a cause that fits (`Expired` only for an expired
//! entry, `Size` only for a bounded map); the calls an operation must make itself (the
//! value it replaces, removes or clears, with `Replaced`, `Explicit` or `Expired`) must
//! be among them. Then, after every operation: `len()` equals the model's entry count,
//! `weighted_size()` the sum of the model's weights, and the bound holds exactly (no
//! other thread inserts); every lookup agrees with the model.

use std::collections::HashMap as StdMap;
use std::sync::{Arc, Mutex};

use arbitrary::{Arbitrary, Unstructured};
use ttlmap::{HashMap, ManualClock, RemovalCause};

use crate::{advanced, deadline_after, Ttl, NEVER};

type K = u16;
type V = u32;

/// Operations per input.
const MAX_OPS: usize = 2_000;

#[derive(Arbitrary, Debug)]
struct Config {
    /// `None`: no bound (`max_capacity(u64::MAX)` if `set_max_capacity` is to work).
    capacity: Option<u8>,
    weighed: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Insert(u8, V),
    InsertWithTtl(u8, V, Ttl),
    TryInsert(u8, V),
    Get(u8),
    Remove(u8),
    /// Adds to the value (changes its weight).
    Update(u8, V),
    /// Keeps the live values whose bit `bit` is clear.
    Retain(u8),
    Clear,
    PurgeExpired,
    SetMaxCapacity(u8),
    Advance(Ttl),
    Repin,
}

/// The weigher: 0..=3, or `u32::MAX` (heavier than any capacity here) for values with the
/// top bit set.
fn weight(v: V) -> u32 {
    if v & 0x8000_0000 != 0 {
        u32::MAX
    } else {
        v % 4
    }
}

struct Model {
    now: u64,
    weighed: bool,
    /// Everything the map holds: value and deadline.
    held: StdMap<K, (V, u64)>,
}

impl Model {
    fn live(&self, k: K) -> Option<V> {
        match self.held.get(&k) {
            Some(&(v, d)) if self.now < d => Some(v),
            _ => None,
        }
    }

    fn weight(&self, v: V) -> u64 {
        if self.weighed {
            u64::from(weight(v))
        } else {
            1
        }
    }

    fn weighted(&self) -> u64 {
        self.held.values().map(|&(v, _)| self.weight(v)).sum()
    }

    /// The listener call the map owes for the value of `k` it replaces or removes.
    fn leaving(&self, k: K, explicit: RemovalCause) -> Option<(K, V, RemovalCause)> {
        let &(v, d) = self.held.get(&k)?;
        Some((
            k,
            v,
            if self.now < d {
                explicit
            } else {
                RemovalCause::Expired
            },
        ))
    }
}

type Log = Arc<Mutex<Vec<(K, V, RemovalCause)>>>;

/// Checks the listener's calls of one operation against the model: `owed` must be among
/// them; every other one must name a held entry with its value and a fitting cause, and
/// the model drops it.
fn settle(model: &mut Model, log: &Log, owed: &[(K, V, RemovalCause)], bounded: bool, what: &Op) {
    let mut calls = std::mem::take(&mut *log.lock().unwrap());
    for o in owed {
        let i = calls
            .iter()
            .position(|c| c == o)
            .unwrap_or_else(|| panic!("{what:?}: owed listener call {o:?} missing from {calls:?}"));
        calls.remove(i);
    }
    for (k, v, cause) in calls {
        let Some(&(held, d)) = model.held.get(&k) else {
            panic!("{what:?}: listener call for {k}, which the map does not hold");
        };
        assert_eq!(
            held, v,
            "{what:?}: listener call for {k} with a wrong value"
        );
        match cause {
            RemovalCause::Expired => {
                assert!(model.now >= d, "{what:?}: {k} reported expired while live")
            }
            RemovalCause::Size => assert!(bounded, "{what:?}: {k} evicted from an unbounded map"),
            c => panic!("{what:?}: unexpected cause {c:?} for {k}"),
        }
        model.held.remove(&k);
    }
}

pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(cfg) = Config::arbitrary(&mut u) else {
        return;
    };
    let clock = ManualClock::new();
    let log = Log::default();
    let l = log.clone();
    let mut builder = HashMap::builder()
        .clock(clock.clone())
        .max_capacity(cfg.capacity.map_or(u64::MAX, u64::from))
        .eviction_listener(move |k: &K, v: &V, cause| l.lock().unwrap().push((*k, *v, cause)));
    if cfg.weighed {
        builder = builder.weigher(|_: &K, v: &V| weight(*v));
    }
    let map: HashMap<K, V> = builder.build();
    let mut cap = cfg.capacity.map(u64::from);
    let mut model = Model {
        now: 0,
        weighed: cfg.weighed,
        held: StdMap::new(),
    };
    let mut ops = 0;
    'pin: while !u.is_empty() && ops < MAX_OPS {
        let m = map.pin();
        while !u.is_empty() && ops < MAX_OPS {
            ops += 1;
            let Ok(op) = Op::arbitrary(&mut u) else {
                break 'pin;
            };
            let mut owed = Vec::new();
            match op {
                Op::Insert(k, v) | Op::InsertWithTtl(k, v, _) => {
                    let k = K::from(k);
                    let d = match op {
                        Op::InsertWithTtl(_, _, t) => {
                            m.insert_with_ttl(k, v, t.get());
                            deadline_after(model.now, t.get())
                        }
                        _ => {
                            m.insert(k, v);
                            NEVER
                        }
                    };
                    owed.extend(model.leaving(k, RemovalCause::Replaced));
                    model.held.insert(k, (v, d));
                }
                Op::TryInsert(k, v) => {
                    let k = K::from(k);
                    let live = model.live(k);
                    let got = m.try_insert(k, v).map(|v| *v).map_err(|e| *e.current);
                    match live {
                        Some(cur) => assert_eq!(got, Err(cur), "{op:?}"),
                        None => {
                            assert_eq!(got.is_ok(), true, "{op:?}");
                            owed.extend(model.leaving(k, RemovalCause::Replaced));
                            model.held.insert(k, (v, NEVER));
                        }
                    }
                }
                Op::Get(k) => {
                    let k = K::from(k);
                    assert_eq!(m.get(&k).copied(), model.live(k), "{op:?}");
                }
                Op::Remove(k) => {
                    let k = K::from(k);
                    let live = model.live(k);
                    assert_eq!(m.remove(&k).copied(), live, "{op:?}");
                    if live.is_some() {
                        owed.extend(model.leaving(k, RemovalCause::Explicit));
                        model.held.remove(&k);
                    }
                }
                Op::Update(k, add) => {
                    let k = K::from(k);
                    let live = model.live(k);
                    let got = m.update(k, |v| v.wrapping_add(add)).copied();
                    assert_eq!(got, live.map(|v| v.wrapping_add(add)), "{op:?}");
                    if let Some(v) = live {
                        owed.extend(model.leaving(k, RemovalCause::Replaced));
                        let d = model.held[&k].1;
                        model.held.insert(k, (v.wrapping_add(add), d));
                    }
                }
                Op::Retain(bit) => {
                    let bit = bit % 32;
                    m.retain(|_, v| v >> bit & 1 == 0);
                    let gone: Vec<K> = model
                        .held
                        .iter()
                        .filter(|(_, &(v, d))| model.now < d && v >> bit & 1 == 1)
                        .map(|(&k, _)| k)
                        .collect();
                    for k in gone {
                        owed.extend(model.leaving(k, RemovalCause::Explicit));
                        model.held.remove(&k);
                    }
                }
                Op::Clear => {
                    m.clear();
                    let all: Vec<K> = model.held.keys().copied().collect();
                    for k in all {
                        owed.extend(model.leaving(k, RemovalCause::Explicit));
                        model.held.remove(&k);
                    }
                }
                Op::PurgeExpired => {
                    m.purge_expired();
                    let expired: Vec<K> = model
                        .held
                        .iter()
                        .filter(|(_, &(_, d))| model.now >= d)
                        .map(|(&k, _)| k)
                        .collect();
                    for k in expired {
                        owed.extend(model.leaving(k, RemovalCause::Expired));
                        model.held.remove(&k);
                    }
                }
                Op::SetMaxCapacity(c) => {
                    map.set_max_capacity(u64::from(c));
                    cap = Some(u64::from(c));
                }
                Op::Advance(t) => {
                    clock.advance(t.get());
                    model.now = advanced(model.now, t.get());
                }
                Op::Repin => {
                    settle(&mut model, &log, &owed, cap.is_some(), &op);
                    continue 'pin;
                }
            }
            settle(&mut model, &log, &owed, cap.is_some(), &op);
            assert_eq!(map.len(), model.held.len(), "{op:?}: len");
            // The shards' count, which `len` no longer reads without a weigher.
            assert_eq!(map.counted_len(), model.held.len(), "{op:?}: counted len");
            assert_eq!(
                map.weighted_size(),
                model.weighted(),
                "{op:?}: weighted size"
            );
            if let Some(c) = cap {
                assert!(model.weighted() <= c, "{op:?}: the bound {c} does not hold");
            }
        }
    }
    drop(map);
    assert!(
        log.lock().unwrap().is_empty(),
        "dropping the map called the listener"
    );
}

#[cfg(test)]
mod tests {
    /// A quick smoke run of the interpreter over pseudo-random inputs.
    #[test]
    fn random_inputs() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let data: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            super::run(&data);
        }
    }
}
