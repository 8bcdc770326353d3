//! Cheaper-eviction prototypes over the hit-ratio streams, against the policy the map runs
//! today (`Config::default()`: 16 random entries sampled per eviction). For each policy,
//! the hit % at every trace and size, and the mean number of *entries touched per
//! eviction*: the proxy for cache misses.
//!
//! ```sh
//! cargo run --release -p ttlmap-bench --example evict_proto -- [--traces OLTP,P3] [--quick] [--seed N] [--only 'PART|PART...'] [--check]
//! ```
//! `--only` keeps the prototypes whose name contains one of the parts (case-insensitive);
//! `--seed` salts the hashes and the sampling; `--check` checks that the baseline row
//! repeats `hitratio::sim::policy` exactly. The target row is the one of
//! `BENCHMARKS.md` (best of LRU, moka and quick_cache − 1; not recomputed here, as moka's
//! replays take minutes), and ✗ marks a cell below it.
//!
//! # Findings (2026-11-29, `--check`, seeds 0, 1, 2)
//! Only today's policy, the hand batch of 4 (0.02 point above the target on zipf-0.8 at
//! 1k: fragile) and the eviction pools with at least 2 fresh entries from a hand or 3
//! random ones meet every target. The best trade is **a pool of 16 fed 2 entries a time
//! by a hand**: every target met at the three seeds (smallest margin 0.22 point, P3 at
//! 200k), 6.9 entries touched per eviction against 20, about 13 cache lines against 45;
//! 2.9 of them find the victim (2 walked entries, 0.9 revalidating lookup), the rest is
//! the window and ghosts' fixed part (1 ring slot, 2 ghost slots, 1 candidate lookup).
//! S3-FIFO (with or without TinyLFU) misses P3 at 25k and 50k and the loop at every size;
//! a pure CLOCK hand, zipf-0.8 at 1k by 0.4 point.
//!
//! # What "touched" counts (per insert that evicts)
//! - **ring** and **ghost slots** read or written (the window ring's push and its
//!   leaving slot count once; a ghost check or a ghost store count one each);
//! - **lookups**: lookups of an entry by its hash (the window's candidate, a ring's
//!   popped hash, a pool entry's revalidation): in the map a directory read plus a short
//!   list walk, about two lines; the entry's word is then read or written on the same line;
//! - **words**: metadata words read or written of entries reached without a lookup (a
//!   random sample, a hand walking the table). A random sample's bucket probes in the
//!   real map (about 20 for 16 entries, each a sentinel line and a node line) are *not*
//!   counted here; the estimate of cache lines below counts them.
//!
//! Sketch lines (increment of the new key, and every estimate read) are counted apart,
//! and the last column estimates cache lines per eviction from all of them
//! ([`Cost::lines`]).
//!
//! # The hand's order
//! The simulator's hand walks the live entries in hash order. In the map it should walk
//! the *buckets in index order* (the directory's sentinels are read in address order, 4
//! to a line, and each bucket's short chain after its sentinel): that is another fixed
//! order of the hashes, so the figures hold, and an entry then costs about one line (its
//! node). Walking the split-ordered list itself (bit-reversed order) would visit a
//! sentinel between most entries, each on its own directory line, and chase pointers
//! serially, where random probes can be prefetched in batches.
//!
//! Each prototype keeps only state a lock-free map could keep: the entry's 64-bit word
//! (the policy's stamp and flags; the spare bit 32 as a reference bit; a 2-bit count
//! needs one more bit, taken from the 32-bit weight or the 29-bit stamp), rings of
//! hashes, direct-mapped ghost slots, a count-min sketch, a small pool of (hash, score).
//! The concurrent version each would need is in its doc comment.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use ttlmap::cache::{AtomicMeta, Choice, Config, FrequencySketch, Meta, Policy, Sampled};
use ttlmap_bench::hitratio::traces::{self, Rng, Trace};
use ttlmap_bench::hitratio::{self};
use ttlmap_bench::report::{count_label, num, Table};

const NONE: u32 = u32::MAX;

/// `--seed`: salts the hashes (and so the hand's order, the sketch's and the ghosts'
/// slots) and the random sampling, to see how much the figures move with them (as
/// `TTLMAP_SIM_SEED` does for `sim::policy`).
static SEED: AtomicU64 = AtomicU64::new(0);

fn salt() -> u64 {
    // Relaxed: stored by `main` before it spawns the replay threads (the spawn orders it).
    let seed = SEED.load(Ordering::Relaxed);
    Rng(seed).next_u64() * u64::from(seed != 0)
}

/// The hash of a dense id, salted.
fn hash_of(id: u32) -> u64 {
    traces::hash_of(id) ^ salt()
}

/// The id of a salted hash.
fn id_of_hash(h: u64) -> u32 {
    traces::id_of_hash(h ^ salt())
}

/// What a replay touched, summed over its evicting inserts.
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    evictions: u64,
    ring: u64,
    ghost: u64,
    lookups: u64,
    words: u64,
    sketch: u64,
}

impl Cost {
    fn per(&self, x: u64) -> f64 {
        x as f64 / self.evictions.max(1) as f64
    }
    fn touched(&self) -> f64 {
        self.per(self.ring + self.ghost + self.lookups + self.words)
    }
    /// Estimated cache lines: a ring slot 1/8 (a ring is written and read in order, 8
    /// hashes a line), a ghost slot 1, a lookup by hash 2 (directory line, node line), an
    /// entry reached by a random probe `probe_lines` (bucket sentinel and node, about 1.25
    /// probes per entry found), one reached by a hand walking the buckets in index order
    /// 1.25 (its node; the directory read in order, 4 sentinels a line), a sketch line 1.
    fn lines(&self, word_lines: f64) -> f64 {
        (self.ring as f64 / 8.0
            + self.ghost as f64
            + 2.0 * self.lookups as f64
            + word_lines * self.words as f64
            + self.sketch as f64)
            / self.evictions.max(1) as f64
    }
    fn add(&mut self, o: &Cost) {
        self.evictions += o.evictions;
        self.ring += o.ring;
        self.ghost += o.ghost;
        self.lookups += o.lookups;
        self.words += o.words;
        self.sketch += o.sketch;
    }
}

/// How the sampled-policy variants find main's victim (the window, admission, ghosts and
/// the main order are `Policy`'s, `Config::default()` unless the variant changes them).
#[derive(Clone, Copy, Debug)]
enum Pick {
    /// `k` random live entries (today's map with `k = 16`).
    Random(usize),
    /// A CLOCK hand over the table in hash order: the first entry with its reference
    /// count at 0 (decrementing the others on the way) that is not still in the window;
    /// at most `max` entries walked (then the last one). A hit increments the count up
    /// to `2^bits - 1` (`bits = 1`: CLOCK's reference bit).
    Hand { max: usize, bits: u32 },
    /// The next `k` entries in hash order from a hand (no reference bits): a sample of
    /// `k` neighbours in the list, judged by the policy's main order.
    HandBatch(usize),
    /// Redis-style eviction pool: the best `size` entries seen (scores cached: class,
    /// sketch estimate, stamp), `fresh` new random entries each eviction; the best is
    /// looked up and revalidated (re-scored and put back if its word changed). With
    /// `hand`, the fresh entries are the next ones in hash order from a hand.
    Pool {
        size: usize,
        fresh: usize,
        hand: bool,
    },
}

/// The live entries: index-addressable (random sampling), by id, and in hash order
/// (the hand). The spare bit of the word (bit 32) is modelled as `refs`.
struct Live {
    ids: Vec<u32>,
    metas: Vec<AtomicMeta>,
    refs: Vec<u8>,
    slot_of: Vec<u32>,
    order: Option<BTreeMap<u64, u32>>,
}

impl Live {
    fn new(unique: usize, cap: usize, ordered: bool) -> Self {
        Live {
            ids: Vec::with_capacity(cap + 1),
            metas: Vec::with_capacity(cap + 1),
            refs: Vec::with_capacity(cap + 1),
            slot_of: vec![NONE; unique],
            order: ordered.then(BTreeMap::new),
        }
    }

    fn slot(&self, id: u32) -> Option<usize> {
        let s = *self.slot_of.get(id as usize)?;
        (s != NONE).then_some(s as usize)
    }

    fn insert(&mut self, id: u32, meta: Meta) {
        self.slot_of[id as usize] = self.ids.len() as u32;
        self.ids.push(id);
        self.metas.push(AtomicMeta::new(meta));
        self.refs.push(0);
        if let Some(o) = &mut self.order {
            o.insert(hash_of(id), id);
        }
    }

    fn remove(&mut self, v: usize) {
        let id = self.ids[v];
        self.slot_of[id as usize] = NONE;
        if let Some(o) = &mut self.order {
            o.remove(&hash_of(id));
        }
        self.ids.swap_remove(v);
        self.metas.swap_remove(v);
        self.refs.swap_remove(v);
        if v < self.ids.len() {
            self.slot_of[self.ids[v] as usize] = v as u32;
        }
    }

    fn entry(&self, s: usize) -> Sampled<'_> {
        Sampled {
            hash: hash_of(self.ids[s]),
            meta: &self.metas[s],
            expired: false,
        }
    }

    /// The live entries from `from` on in hash order, wrapping, at most `n`.
    fn walk(&self, from: u64, n: usize) -> Vec<(u64, u32)> {
        let o = self.order.as_ref().expect("an ordered table");
        o.range(from..)
            .chain(o.range(..from))
            .take(n)
            .map(|(&h, &id)| (h, id))
            .collect()
    }
}

/// A sampled entry's class in the policy's main order (as `Policy::main_victim`
/// computes it): in the window 2, protected 1, else 0; the lowest goes first.
fn class(m: Meta, now: u64, window: u64) -> u8 {
    (u8::from(m.is_new() && m.age(now) < window) << 1) | u8::from(m.is_protected())
}

/// A pool entry's cached score.
#[derive(Clone, Copy)]
struct Pooled {
    id: u32,
    meta: Meta,
    freq: u8,
}

/// The policy of `src/cache/` with its main victim found by `pick`.
///
/// Concurrent version: `Random` is today's map. `Hand`: one shared hand (an atomic
/// bucket index, claimed a few buckets at a time by `fetch_add` so that evicting writers
/// walk disjoint stretches) walking the buckets in index order (module docs); the
/// reference bit is bit 32 of the word, set by a hit with a load then `fetch_or` only
/// when clear (a read-mostly line stays clean), cleared by the hand with `fetch_and`.
/// `HandBatch`: the same hand, no bits. `Pool`: a small array of (hash, cached score) per
/// thread or per shard (Redis's is global and single-threaded; a shared one needs a
/// try-lock, and a writer that fails it falls back to judging its fresh entries alone);
/// an entry is kept by hash, not by pointer (a node may be freed once the writer
/// unpins), so the chosen one is found again by a lookup, and a removed one is skipped.
fn run_policy(trace: &Trace, cap: usize, cfg: Config, pick: Pick) -> (u64, Cost) {
    let mut cost = Cost::default();
    if cap == 0 {
        return (0, cost);
    }
    let policy = Policy::new(cap as u64, cfg);
    let ordered = matches!(
        pick,
        Pick::Hand { .. } | Pick::HandBatch(_) | Pick::Pool { hand: true, .. }
    );
    let mut live = Live::new(trace.unique, cap, ordered);
    // Relaxed: see `salt`.
    let mut rng = Rng(0x5eed ^ SEED.load(Ordering::Relaxed));
    let mut hand = 0u64;
    let mut pool: Vec<Pooled> = Vec::new();
    let ref_max = match pick {
        Pick::Hand { bits, .. } => ((1u32 << bits) - 1) as u8,
        _ => 1,
    };
    let mut hits = 0;
    for &id in &trace.ids {
        let hash = hash_of(id);
        if let Some(s) = live.slot(id) {
            hits += 1;
            policy.on_hit(hash, &live.metas[s]);
            live.refs[s] = (live.refs[s] + 1).min(ref_max);
            continue;
        }
        let ins = policy.on_insert(hash);
        live.insert(id, ins.meta);
        if live.ids.len() <= cap {
            continue;
        }
        cost.evictions += 1;
        // The window ring's slot, the ghost check, the sketch increment.
        cost.ring += 1;
        cost.ghost += 1;
        cost.sketch += 1;
        let now = ins.meta.stamp();
        let window = policy.window();
        let cand_slot = ins.candidate.and_then(|c| live.slot(id_of_hash(c)));
        cost.lookups += u64::from(ins.candidate.is_some());
        let mut picked: Vec<usize> = Vec::new();
        match pick {
            Pick::Random(k) => {
                picked.extend((0..k).map(|_| rng.below(live.ids.len())));
                cost.words += k as u64;
            }
            Pick::Hand { max, .. } => {
                let walked = live.walk(hand, max);
                let mut stop = *walked.last().expect("a live entry");
                for &(h, eid) in &walked {
                    let s = live.slot(eid).expect("live");
                    cost.words += 1;
                    if live.refs[s] > 0 {
                        live.refs[s] -= 1;
                        continue;
                    }
                    if class(live.metas[s].load(), now, window) >= 2 {
                        continue;
                    }
                    stop = (h, eid);
                    break;
                }
                hand = stop.0.wrapping_add(1);
                picked.push(live.slot(stop.1).expect("live"));
            }
            Pick::HandBatch(k) => {
                let walked = live.walk(hand, k);
                cost.words += walked.len() as u64;
                hand = walked.last().expect("a live entry").0.wrapping_add(1);
                picked.extend(walked.iter().map(|&(_, e)| live.slot(e).expect("live")));
            }
            Pick::Pool {
                size,
                fresh,
                hand: by_hand,
            } => {
                let new: Vec<usize> = if by_hand {
                    let walked = live.walk(hand, fresh);
                    hand = walked.last().expect("a live entry").0.wrapping_add(1);
                    walked
                        .iter()
                        .map(|&(_, e)| live.slot(e).expect("live"))
                        .collect()
                } else {
                    (0..fresh).map(|_| rng.below(live.ids.len())).collect()
                };
                let fresh_ids: Vec<u32> = new.iter().map(|&s| live.ids[s]).collect();
                for s in new {
                    cost.words += 1;
                    cost.sketch += 1;
                    let p = Pooled {
                        id: live.ids[s],
                        meta: live.metas[s].load(),
                        freq: policy.frequency(hash_of(live.ids[s])),
                    };
                    match pool.iter_mut().find(|q| q.id == p.id) {
                        Some(q) => *q = p,
                        None => pool.push(p),
                    }
                }
                let key = |p: &Pooled| {
                    (
                        class(p.meta, now, window),
                        p.freq,
                        u64::MAX - p.meta.age(now),
                    )
                };
                let mut tries = 0;
                let chosen = loop {
                    pool.sort_by_key(key);
                    pool.truncate(size);
                    let Some(&best) = pool.first() else {
                        // Everything dropped: a random entry.
                        cost.words += 1;
                        break rng.below(live.ids.len());
                    };
                    // An entry the hand or the probes just read is at hand; an older
                    // one is looked up by its hash.
                    cost.lookups += u64::from(!fresh_ids.contains(&best.id));
                    let Some(s) = live.slot(best.id) else {
                        pool.remove(0);
                        continue;
                    };
                    let m = live.metas[s].load();
                    tries += 1;
                    if m == best.meta || tries > 4 {
                        break s;
                    }
                    cost.sketch += 1;
                    pool[0] = Pooled {
                        meta: m,
                        freq: policy.frequency(hash_of(best.id)),
                        ..best
                    };
                };
                picked.push(chosen);
            }
        }
        // Sketch reads of the judge: the best class's estimates, and the contest's two.
        let classes: Vec<u8> = picked
            .iter()
            .map(|&s| class(live.metas[s].load(), now, window))
            .collect();
        if picked.len() > 1 {
            let best = classes.iter().min().copied().unwrap_or(0);
            cost.sketch += classes.iter().filter(|&&c| c == best).count() as u64;
        }
        let cand_new = cand_slot.is_some_and(|c| live.metas[c].load().is_new());
        cost.sketch += 2 * u64::from(cand_new);
        let choice = {
            let sample: Vec<Sampled<'_>> = picked.iter().map(|&s| live.entry(s)).collect();
            let cand = cand_slot.map(|s| live.entry(s));
            policy.choose_victim(cand.as_ref(), &sample)
        };
        // The ghost store (of whichever goes).
        cost.ghost += 1;
        let v = match choice.expect("a non-empty sample") {
            Choice::Candidate => cand_slot.expect("the candidate was offered"),
            Choice::Sampled(i) => picked[i],
        };
        if matches!(pick, Pick::Pool { .. }) {
            let gone = live.ids[v];
            pool.retain(|p| p.id != gone);
        }
        live.remove(v);
    }
    (hits, cost)
}

/// The knobs of [`run_s3fifo`].
#[derive(Clone, Copy, Debug)]
struct S3 {
    /// The small FIFO's share of the capacity, per mille (the paper: 100).
    small_permille: u32,
    /// An entry leaving the small FIFO moves to main if its frequency is at least this
    /// (the paper's text: accessed once, 1; its Algorithm 1: `freq > 1`, 2).
    threshold: u8,
    /// Ghosts of the small FIFO's evictees: one that comes back goes straight to main.
    ghost: bool,
    /// TinyLFU at the small FIFO's exit: a cold evictee meets main's victim (the entry
    /// main's FIFO-with-reinsertion would evict next) and the less frequent goes.
    tinylfu: bool,
    /// A moved entry's frequency restarts at 0 in main.
    reset_on_move: bool,
}

/// Which queue an entry is in.
const IN_S: u8 = 1;
const IN_M: u8 = 2;

/// S3-FIFO (Yang, Zhang, Qiu, Yue & Vinayak, SOSP 2023), as a lock-free map could run it:
/// the small (S) and main (M) FIFOs are rings of hashes (each popped hash is looked up in
/// the map), the frequency (0 to 3) is 2 bits of the entry's word, incremented on a hit
/// while below 3; ghosts are direct-mapped hash slots (as many as main's entries, rounded
/// up to a power of two; a collision overwrites, so they are a random-replacement ghost
/// rather than a FIFO). With `tinylfu`, a count-min sketch (`ttlmap::cache`'s, 2 words per
/// entry, halved every 20 events per entry) counts every request.
///
/// Concurrent version: each FIFO a bounded MPMC ring of hashes (head and tail counters,
/// slots written by CAS; a writer that finds a ring full evicts first); the frequency bits
/// updated with relaxed `fetch_update`; an entry removed by the user leaves a stale hash
/// in its ring, skipped when its lookup misses (or finds a newer entry of the same key,
/// which a generation bit in the word can tell apart). Main's reinsertion loop must be
/// bounded (it is not here: its mean is in the figures).
fn run_s3fifo(trace: &Trace, cap: usize, k: S3) -> (u64, Cost) {
    let mut cost = Cost::default();
    if cap == 0 {
        return (0, cost);
    }
    let small_target = (cap * k.small_permille as usize / 1000).max(1);
    let ghost_slots = (cap - small_target.min(cap)).max(1).next_power_of_two();
    let mut ghost = vec![0u64; if k.ghost { ghost_slots } else { 0 }];
    let gmask = ghost.len().wrapping_sub(1);
    let sketch = FrequencySketch::new(2 * cap as u64);
    let period = 20 * cap as u64;
    let mut events = 0u64;
    let mut record = |h: u64| {
        sketch.increment(h);
        events += 1;
        if events.is_multiple_of(period) {
            sketch.halve();
        }
    };
    let mut queue = vec![0u8; trace.unique];
    let mut freq = vec![0u8; trace.unique];
    let (mut small, mut main): (VecDeque<u32>, VecDeque<u32>) = (VecDeque::new(), VecDeque::new());
    let mut hits = 0;
    for &id in &trace.ids {
        let hash = hash_of(id);
        let i = id as usize;
        if k.tinylfu {
            record(hash);
        }
        if queue[i] != 0 {
            hits += 1;
            freq[i] = (freq[i] + 1).min(3);
            continue;
        }
        let evicting = small.len() + main.len() >= cap;
        let ghost_hit = k.ghost && ghost[hash as usize & gmask] == hash;
        if ghost_hit {
            ghost[hash as usize & gmask] = 0;
            main.push_back(id);
            queue[i] = IN_M;
        } else {
            small.push_back(id);
            queue[i] = IN_S;
        }
        freq[i] = 0;
        if !evicting {
            continue;
        }
        cost.evictions += 1;
        // The ring slot of the new entry, the ghost check, the sketch increment.
        cost.ring += 1;
        cost.ghost += u64::from(k.ghost);
        cost.sketch += u64::from(k.tinylfu);
        // Pops main's head until an entry with frequency 0 is at the head (the others go
        // to the tail with one less): main's next victim, left at the head.
        let settle_main = |main: &mut VecDeque<u32>, freq: &mut [u8], cost: &mut Cost| {
            while let Some(&v) = main.front() {
                cost.ring += 1;
                cost.lookups += 1;
                if freq[v as usize] == 0 {
                    return Some(v);
                }
                freq[v as usize] -= 1;
                main.pop_front();
                main.push_back(v);
                cost.ring += 1;
            }
            None
        };
        loop {
            if !small.is_empty() && (small.len() >= small_target || main.is_empty()) {
                let t = small.pop_front().expect("a non-empty small FIFO");
                cost.ring += 1;
                cost.lookups += 1;
                let ti = t as usize;
                if freq[ti] >= k.threshold {
                    main.push_back(t);
                    queue[ti] = IN_M;
                    if k.reset_on_move {
                        freq[ti] = 0;
                    }
                    cost.ring += 1;
                    continue;
                }
                if k.tinylfu {
                    if let Some(v) = settle_main(&mut main, &mut freq, &mut cost) {
                        cost.sketch += 2;
                        if sketch.frequency(hash_of(t)) > sketch.frequency(hash_of(v)) {
                            main.pop_front();
                            queue[v as usize] = 0;
                            main.push_back(t);
                            queue[ti] = IN_M;
                            cost.ring += 1;
                            break;
                        }
                    }
                }
                queue[ti] = 0;
                if k.ghost {
                    let h = hash_of(t);
                    ghost[h as usize & gmask] = h;
                    cost.ghost += 1;
                }
                break;
            }
            let v = settle_main(&mut main, &mut freq, &mut cost).expect("a non-empty main");
            main.pop_front();
            queue[v as usize] = 0;
            break;
        }
    }
    (hits, cost)
}

/// A prototype.
#[derive(Clone, Copy, Debug)]
enum Proto {
    Policy(Config, Pick),
    S3(S3),
}

impl Proto {
    /// Cache lines per entry word reached without a lookup (see [`Cost::lines`]).
    fn word_lines(&self) -> f64 {
        match self {
            Proto::Policy(
                _,
                Pick::Hand { .. } | Pick::HandBatch(_) | Pick::Pool { hand: true, .. },
            ) => 1.25,
            _ => 2.0,
        }
    }
}

fn protos() -> Vec<(&'static str, Proto)> {
    let d = Config::default();
    let s3 = S3 {
        small_permille: 100,
        threshold: 1,
        ghost: true,
        tinylfu: false,
        reset_on_move: false,
    };
    vec![
        (
            "baseline: today's policy, 16 random",
            Proto::Policy(d, Pick::Random(16)),
        ),
        ("policy, 4 random", Proto::Policy(d, Pick::Random(4))),
        ("S3-FIFO (move if f ≥ 1)", Proto::S3(s3)),
        (
            "S3-FIFO (move if f ≥ 2)",
            Proto::S3(S3 { threshold: 2, ..s3 }),
        ),
        (
            "S3-FIFO + TinyLFU at S's exit",
            Proto::S3(S3 {
                tinylfu: true,
                ..s3
            }),
        ),
        (
            "CLOCK hand (ref bit) + window + TinyLFU",
            Proto::Policy(d, Pick::Hand { max: 64, bits: 1 }),
        ),
        (
            "CLOCK hand (2-bit count) + window + TinyLFU",
            Proto::Policy(d, Pick::Hand { max: 64, bits: 2 }),
        ),
        (
            "hand batch of 2 neighbours + policy",
            Proto::Policy(d, Pick::HandBatch(2)),
        ),
        (
            "hand batch of 3 neighbours + policy",
            Proto::Policy(d, Pick::HandBatch(3)),
        ),
        (
            "hand batch of 4 neighbours + policy",
            Proto::Policy(d, Pick::HandBatch(4)),
        ),
        (
            "pool 16, 4 fresh random + policy",
            Proto::Policy(
                d,
                Pick::Pool {
                    size: 16,
                    fresh: 4,
                    hand: false,
                },
            ),
        ),
        (
            "pool 16, 3 fresh random + policy",
            Proto::Policy(
                d,
                Pick::Pool {
                    size: 16,
                    fresh: 3,
                    hand: false,
                },
            ),
        ),
        (
            "pool 16, 2 fresh random + policy",
            Proto::Policy(
                d,
                Pick::Pool {
                    size: 16,
                    fresh: 2,
                    hand: false,
                },
            ),
        ),
        (
            "pool 16, 2 fresh from a hand + policy",
            Proto::Policy(
                d,
                Pick::Pool {
                    size: 16,
                    fresh: 2,
                    hand: true,
                },
            ),
        ),
        (
            "pool 16, 3 fresh from a hand + policy",
            Proto::Policy(
                d,
                Pick::Pool {
                    size: 16,
                    fresh: 3,
                    hand: true,
                },
            ),
        ),
        (
            "pool 16, 1 fresh from a hand + policy",
            Proto::Policy(
                d,
                Pick::Pool {
                    size: 16,
                    fresh: 1,
                    hand: true,
                },
            ),
        ),
        (
            "pool 8, 1 fresh from a hand + policy",
            Proto::Policy(
                d,
                Pick::Pool {
                    size: 8,
                    fresh: 1,
                    hand: true,
                },
            ),
        ),
        (
            "pool 8, 2 fresh from a hand + policy",
            Proto::Policy(
                d,
                Pick::Pool {
                    size: 8,
                    fresh: 2,
                    hand: true,
                },
            ),
        ),
    ]
}

/// `--check`: the baseline row (if kept) must repeat `hitratio::sim::policy` with
/// `Config::default()` exactly (the same model, hashes and sampling; no `--seed`), so that
/// this file's copy of the replay loop has not drifted from the harness's.
fn check_baseline(traces: &[Trace], protos: &[(&str, Proto)], results: &[Vec<Vec<(f64, Cost)>>]) {
    let Some(p) = protos.iter().position(
        |(_, q)| matches!(q, Proto::Policy(c, Pick::Random(16)) if *c == Config::default()),
    ) else {
        eprintln!("--check: no baseline row kept, nothing checked");
        return;
    };
    // Relaxed: see `salt`.
    assert_eq!(
        SEED.load(Ordering::Relaxed),
        0,
        "--check needs the default seed"
    );
    for (t, trace) in traces.iter().enumerate() {
        for (s, &cap) in trace.sizes.iter().enumerate() {
            let want = hitratio::sim::policy(trace, cap, Config::default());
            let pct = 100.0 * want as f64 / trace.ids.len().max(1) as f64;
            assert_eq!(
                results[t][p][s].0, pct,
                "{} at {cap}: the baseline row differs from sim::policy",
                trace.name
            );
        }
    }
    eprintln!("--check: the baseline row equals sim::policy at every trace and size");
}

/// The target row of `BENCHMARKS.md` ("Hit ratio of the map against the target": best
/// of LRU, moka and quick_cache − 1), by trace name, in the order of the trace's sizes.
fn target(name: &str) -> Option<&'static [f64]> {
    Some(match name {
        "OLTP" => &[34.75, 42.72, 53.11, 60.31, 63.81],
        "P3" => &[13.76, 25.22, 39.01, 58.35],
        "zipf-0.8" => &[18.19, 26.58, 37.07, 48.71],
        "zipf-1" => &[49.82, 59.95, 68.65, 75.03],
        "loop" => &[53.23, 66.03, 87.55, 88.78],
        _ => return None,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut wanted: Option<Vec<String>> = None;
    let mut only: Option<Vec<String>> = None;
    let mut quick = false;
    let mut check = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let list = |s: Option<&String>| -> Vec<String> {
            s.expect("a comma-separated list")
                .split(',')
                .map(str::to_lowercase)
                .collect()
        };
        match a.as_str() {
            "--traces" => wanted = Some(list(it.next())),
            "--only" => {
                only = Some(
                    it.next()
                        .expect("a |-separated list")
                        .split('|')
                        .map(str::to_lowercase)
                        .collect(),
                )
            }
            "--quick" => quick = true,
            "--check" => check = true,
            // Relaxed: before the replay threads are spawned (see `salt`).
            "--seed" => SEED.store(
                it.next().and_then(|s| s.parse().ok()).expect("--seed N"),
                Ordering::Relaxed,
            ),
            other => panic!("unknown argument {other}"),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let traces = hitratio::load_wanted(&root, quick, wanted.as_deref());
    let mut protos = protos();
    if let Some(o) = only {
        protos.retain(|(n, _)| o.iter().any(|w| n.to_lowercase().contains(w.as_str())));
    }
    let mut jobs = Vec::new();
    for (t, trace) in traces.iter().enumerate() {
        for p in 0..protos.len() {
            for s in 0..trace.sizes.len() {
                jobs.push((t, p, s));
            }
        }
    }
    jobs.sort_by_key(|&(t, _, s)| std::cmp::Reverse((traces[t].ids.len(), traces[t].sizes[s])));
    let results = Mutex::new(vec![
        vec![vec![(f64::NAN, Cost::default()); 8]; protos.len()];
        traces.len()
    ]);
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|sc| {
        for _ in 0..threads {
            // Relaxed: a job counter; the jobs and results are shared through the scope
            // and the mutex.
            sc.spawn(|| {
                while let Some(&(t, p, s)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let trace = &traces[t];
                    let cap = trace.sizes[s];
                    let (hits, cost) = match protos[p].1 {
                        Proto::Policy(cfg, pick) => run_policy(trace, cap, cfg, pick),
                        Proto::S3(k) => run_s3fifo(trace, cap, k),
                    };
                    let pct = 100.0 * hits as f64 / trace.ids.len().max(1) as f64;
                    results.lock().unwrap()[t][p][s] = (pct, cost);
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    if check {
        check_baseline(&traces, &protos, &results);
    }
    let mut overall = vec![Cost::default(); protos.len()];
    let mut misses = vec![0usize; protos.len()];
    for (t, trace) in traces.iter().enumerate() {
        let goal = target(&trace.name);
        let sizes = || trace.sizes.iter().map(|&s| count_label(s as u64));
        let mut hit = Table::new(std::iter::once("policy".to_string()).chain(sizes()));
        let mut touch = Table::new(
            std::iter::once("policy: touched per eviction (sketch lines)".to_string())
                .chain(sizes()),
        );
        for (p, (name, _)) in protos.iter().enumerate() {
            let row = &results[t][p][..trace.sizes.len()];
            hit.row(
                std::iter::once(name.to_string()).chain(row.iter().enumerate().map(|(s, r)| {
                    let below = !quick && goal.is_some_and(|g| r.0 < g[s]);
                    misses[p] += usize::from(below);
                    format!("{}{}", num(r.0, 2), if below { " ✗" } else { "" })
                })),
            );
            touch.row(std::iter::once(name.to_string()).chain(row.iter().map(|r| {
                overall[p].add(&r.1);
                format!(
                    "{} ({})",
                    num(r.1.touched(), 1),
                    num(r.1.per(r.1.sketch), 1)
                )
            })));
        }
        if let Some(g) = goal {
            hit.row(
                std::iter::once("_target (BENCHMARKS.md)_".to_string())
                    .chain(g.iter().map(|&x| format!("_{}_", num(x, 2)))),
            );
        }
        println!("\n### {} — hit %\n\n{}", trace.name, hit.to_markdown());
        println!(
            "\n### {} — entries touched per eviction\n\n{}",
            trace.name,
            touch.to_markdown()
        );
    }
    let mut sum = Table::new([
        "policy",
        "cells below target",
        "touched / eviction",
        "ring slots",
        "ghost slots",
        "lookups",
        "words",
        "sketch lines",
        "est. cache lines",
    ]);
    for (p, (name, _)) in protos.iter().enumerate() {
        let c = &overall[p];
        sum.row([
            name.to_string(),
            misses[p].to_string(),
            num(c.touched(), 2),
            num(c.per(c.ring), 2),
            num(c.per(c.ghost), 2),
            num(c.per(c.lookups), 2),
            num(c.per(c.words), 2),
            num(c.per(c.sketch), 2),
            num(c.lines(protos[p].1.word_lines()), 1),
        ]);
    }
    println!(
        "\n### All traces and sizes (means weighted by evictions)\n\n{}",
        sum.to_markdown()
    );
}
