//! Replays of a trace through the policy prototypes (`ttlmap::cache`) over a model of the
//! map, through an exact W-TinyLFU (the reference the prototypes approximate), and
//! through the peer caches.

use ttlmap::cache::{AtomicMeta, Choice, Config, FrequencySketch, Policy, Sampled};

use super::reference::IdList;
use super::traces::{hash_of, id_of_hash, Rng, Trace};

const NONE: u32 = u32::MAX;

/// Hits of a [`Policy`] with `cfg` at `cap` entries over `trace`.
///
/// The map is modelled as what the policy may assume of it: an index-addressable table
/// of live entries (each with its hash and its [`AtomicMeta`]) from which the "sample k
/// random live entries" hook draws uniformly, with replacement, and a lookup by hash
/// for the window's candidate. Each miss inserts, then evicts one entry if over `cap`.
///
/// `TTLMAP_SIM_SEED` (a number) changes the sampling and the hashes, to see how much
/// the figures move with them.
pub fn policy(trace: &Trace, cap: usize, cfg: Config) -> u64 {
    let seed: u64 = std::env::var("TTLMAP_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let salt = Rng(seed).next_u64() * u64::from(seed != 0);
    let hash_of = |id: u32| hash_of(id) ^ salt;
    let id_of_hash = |h: u64| id_of_hash(h ^ salt);
    let policy = Policy::new(cap as u64, cfg);
    let mut slot_of = vec![NONE; trace.unique];
    let mut ids: Vec<u32> = Vec::with_capacity(cap + 1);
    let mut metas: Vec<AtomicMeta> = Vec::with_capacity(cap + 1);
    let mut rng = Rng(0x5eed ^ seed);
    let mut picked: Vec<usize> = Vec::with_capacity(cfg.sample);
    let mut hits = 0;
    for &id in &trace.ids {
        let hash = hash_of(id);
        let slot = slot_of[id as usize];
        if slot != NONE {
            hits += 1;
            policy.on_hit(hash, &metas[slot as usize]);
            continue;
        }
        if cap == 0 {
            continue;
        }
        let ins = policy.on_insert(hash);
        slot_of[id as usize] = ids.len() as u32;
        ids.push(id);
        metas.push(AtomicMeta::new(ins.meta));
        if ids.len() <= cap {
            continue;
        }
        // The candidate, if it is still live (it may have been evicted already).
        let cand_slot = ins
            .candidate
            .map(id_of_hash)
            .filter(|&c| (c as usize) < trace.unique)
            .map(|c| slot_of[c as usize])
            .filter(|&s| s != NONE)
            .map(|s| s as usize);
        picked.clear();
        picked.extend((0..cfg.sample.max(1)).map(|_| rng.below(ids.len())));
        let choice = {
            let entry = |j: usize| Sampled {
                hash: hash_of(ids[j]),
                meta: &metas[j],
                expired: false,
            };
            let sample: Vec<Sampled<'_>> = picked.iter().map(|&j| entry(j)).collect();
            let cand = cand_slot.map(entry);
            policy.choose_victim(cand.as_ref(), &sample)
        };
        let v = match choice.expect("a non-empty sample") {
            Choice::Candidate => cand_slot.expect("the candidate was offered"),
            Choice::Sampled(i) => picked[i],
        };
        slot_of[ids[v] as usize] = NONE;
        ids.swap_remove(v);
        metas.swap_remove(v);
        if v < ids.len() {
            slot_of[ids[v] as usize] = v as u32;
        }
    }
    hits
}

/// Which region of the exact W-TinyLFU an id is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Region {
    Absent,
    Window,
    Probation,
    Protected,
}

/// Hill climbing of the window size, as Caffeine does it (`BoundedLocalCache.climb`):
/// every `10 × cap` requests, step the window by the current step (6.25 % of the
/// capacity at first) in the direction that last raised the hit rate; the step decays by
/// 2 % a period and restarts when the hit rate moves by 5 points or more.
pub(crate) struct Climber {
    cap: f64,
    period: u64,
    requests: u64,
    hits: u64,
    previous_rate: f64,
    step: f64,
}

impl Climber {
    pub(crate) fn new(cap: usize, period: u64) -> Self {
        Climber {
            cap: cap as f64,
            period: period.max(1),
            requests: 0,
            hits: 0,
            previous_rate: 0.0,
            step: -0.0625 * cap as f64,
        }
    }

    /// Counts a request; at the end of a period returns the window adjustment (entries).
    pub(crate) fn record(&mut self, hit: bool) -> Option<i64> {
        self.requests += 1;
        self.hits += u64::from(hit);
        if self.requests < self.period {
            return None;
        }
        let rate = self.hits as f64 / self.requests as f64;
        let change = rate - self.previous_rate;
        let amount = if change >= 0.0 { self.step } else { -self.step };
        self.step = if change.abs() >= 0.05 {
            0.0625 * self.cap * amount.signum()
        } else {
            0.98 * amount
        };
        self.previous_rate = rate;
        self.requests = 0;
        self.hits = 0;
        Some(amount as i64)
    }
}

/// Hits of an exact W-TinyLFU (Einziger, Eytan, Friedman & Manes, ACM ToS 2017, §4):
/// an LRU window of 1 % of `cap`, a segmented-LRU main region (80 % protected), and
/// TinyLFU admission from window to main; the sketch counts every request. With
/// `adaptive`, the window size is hill-climbed as Caffeine does ([`Climber`]). Linked
/// lists per entry: the reference that the sampled prototypes approximate, not a
/// candidate.
/// The knobs of [`wtinylfu_exact`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exact {
    /// Initial window, per mille of the capacity (Caffeine: 10).
    pub window_permille: u32,
    /// Hill-climb the window.
    pub adaptive: bool,
    /// Climber period, in requests per entry of capacity (Caffeine: 10).
    pub period_per_entry: f64,
}

impl Exact {
    /// Caffeine's settings, with or without the climber.
    pub const fn caffeine(adaptive: bool) -> Self {
        Exact {
            window_permille: 10,
            adaptive,
            period_per_entry: 10.0,
        }
    }
}

pub fn wtinylfu_exact(trace: &Trace, cap: usize, knobs: Exact) -> u64 {
    let adaptive = knobs.adaptive;
    if cap == 0 {
        return 0;
    }
    let sketch = FrequencySketch::new(cap as u64);
    let period = 10 * cap as u64;
    let mut events = 0u64;
    let mut max_window = (cap * knobs.window_permille as usize / 1000).clamp(1, cap);
    let mut climber = Climber::new(cap, (knobs.period_per_entry * cap as f64) as u64);
    let mut region = vec![Region::Absent; trace.unique];
    let (mut window, mut probation, mut protected) = (
        IdList::new(trace.unique),
        IdList::new(trace.unique),
        IdList::new(trace.unique),
    );
    let mut hits = 0;
    for &id in &trace.ids {
        let hash = hash_of(id);
        sketch.increment(hash);
        events += 1;
        if events == period {
            events = 0;
            sketch.halve();
        }
        let max_protected = (cap - max_window) * 8 / 10;
        let hit = region[id as usize] != Region::Absent;
        match region[id as usize] {
            Region::Window => {
                window.unlink(id);
                window.push_front(id);
            }
            Region::Probation => {
                probation.unlink(id);
                protected.push_front(id);
                region[id as usize] = Region::Protected;
                if protected.len() > max_protected {
                    let d = protected.pop_back().expect("non-empty");
                    probation.push_front(d);
                    region[d as usize] = Region::Probation;
                }
            }
            Region::Protected => {
                protected.unlink(id);
                protected.push_front(id);
            }
            Region::Absent => {
                window.push_front(id);
                region[id as usize] = Region::Window;
                while window.len() > max_window {
                    let cand = window.pop_back().expect("non-empty");
                    probation.push_front(cand);
                    region[cand as usize] = Region::Probation;
                    if window.len() + probation.len() + protected.len() <= cap {
                        continue;
                    }
                    let victim = probation
                        .back()
                        .filter(|&v| v != cand)
                        .or_else(|| protected.back());
                    let evict = match victim {
                        Some(v)
                            if sketch.frequency(hash_of(cand)) > sketch.frequency(hash_of(v)) =>
                        {
                            v
                        }
                        _ => cand,
                    };
                    match region[evict as usize] {
                        Region::Probation => probation.unlink(evict),
                        Region::Protected => protected.unlink(evict),
                        _ => unreachable!("victims come from main"),
                    }
                    region[evict as usize] = Region::Absent;
                }
                // A window that grew past the free room: evict from main's probation end.
                while window.len() + probation.len() + protected.len() > cap {
                    let v = probation.pop_back().or_else(|| protected.pop_back());
                    let v = v.unwrap_or_else(|| window.pop_back().expect("non-empty"));
                    region[v as usize] = Region::Absent;
                }
            }
        }
        hits += u64::from(hit);
        if !adaptive {
            continue;
        }
        if let Some(delta) = climber.record(hit) {
            max_window = (max_window as i64 + delta).clamp(0, cap as i64) as usize;
            // Shrink: the window's oldest go to probation. Grow: main's oldest come in.
            while window.len() > max_window {
                let c = window.pop_back().expect("non-empty");
                probation.push_front(c);
                region[c as usize] = Region::Probation;
            }
            while window.len() < max_window {
                let Some(m) = probation.pop_back().or_else(|| protected.pop_back()) else {
                    break;
                };
                window.push_front(m);
                region[m as usize] = Region::Window;
            }
            let max_protected = (cap - max_window) * 8 / 10;
            while protected.len() > max_protected {
                let d = protected.pop_back().expect("non-empty");
                probation.push_front(d);
                region[d as usize] = Region::Probation;
            }
        }
    }
    hits
}

/// Hits of moka 0.12 (`sync::Cache`, `max_capacity(cap)`): every request a `get`, a miss
/// an `insert`.
pub fn moka(trace: &Trace, cap: usize) -> u64 {
    let cache: moka::sync::Cache<u32, ()> = moka::sync::Cache::builder()
        .max_capacity(cap as u64)
        .build();
    replay(
        trace,
        |id| cache.get(&id).is_some(),
        |id| cache.insert(id, ()),
    )
}

/// Hits of the real map: a `ttlmap::HashMap` built with `max_capacity(cap)` (its
/// default hasher, foldhash with a random seed), one pin per request, as a user writes it.
pub fn ttlmap(trace: &Trace, cap: usize) -> u64 {
    let map: ttlmap::HashMap<u32, ()> = ttlmap::HashMap::builder().max_capacity(cap as u64).build();
    replay(
        trace,
        |id| map.pin().get(&id).is_some(),
        |id| {
            map.pin().insert(id, ());
        },
    )
}

/// Hits of quick_cache 0.7 (`sync::Cache::new(cap)`), replayed as for moka.
pub fn quick_cache(trace: &Trace, cap: usize) -> u64 {
    let cache: quick_cache::sync::Cache<u32, ()> = quick_cache::sync::Cache::new(cap);
    replay(
        trace,
        |id| cache.get(&id).is_some(),
        |id| cache.insert(id, ()),
    )
}

/// Replays `trace` through a peer cache: every request a `get` (`hit`), a miss an
/// `insert`. Returns the hits.
fn replay(trace: &Trace, mut hit: impl FnMut(u32) -> bool, mut insert: impl FnMut(u32)) -> u64 {
    let mut hits = 0;
    for &id in &trace.ids {
        if hit(id) {
            hits += 1;
        } else {
            insert(id);
        }
    }
    hits
}
