//! The policy: its knobs, and the hooks the map calls.

use super::climb::Climber;
use super::meta::{AtomicMeta, Meta, NEW, PROTECTED, STAMP_MASK};
use super::sketch::FrequencySketch;
use super::ticker::Ticker;
use super::window::{Ghost, Sizes, Window};

/// An entry the map shows to [`Policy::choose_victim`]: a sampled one, or the window's
/// candidate.
#[derive(Clone, Copy, Debug)]
pub struct Sampled<'a> {
    /// The entry's full hash (the map keeps it in the node's split-order key).
    pub hash: u64,
    /// The entry's metadata word.
    pub meta: &'a AtomicMeta,
    /// Whether the entry has expired (it is then the victim, whatever the policy).
    pub expired: bool,
}

/// Which entry [`Policy::choose_victim`] evicts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Choice {
    /// The window's candidate.
    Candidate,
    /// This index of the sample.
    Sampled(usize),
}

/// How the main region's victim is picked among the sampled entries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MainOrder {
    /// The least recently refreshed (sampled LRU).
    Lru,
    /// The least frequent by the sketch, the least recently refreshed among equals.
    Lfu,
    /// Sampled segmented LRU: the least recently refreshed of the unprotected entries,
    /// else of all.
    Slru,
    /// The unprotected before the protected, the least frequent first within each, the
    /// least recently refreshed among equals (recommended).
    SlruLfu,
}

/// When a hit records an event in the frequency sketch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HitRecord {
    /// On every hit: writes the sketch on every hit (the exact reference).
    Every,
    /// Only when the hit refreshes a stale stamp: at most once per entry per refresh
    /// period (recommended; the harness finds no loss of hit ratio).
    OnRefresh,
}

/// The knobs of a [`Policy`]. [`Config::default`] is the recommended policy; the other
/// settings are the prototypes the hit-ratio harness compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Config {
    /// Entries the map samples per eviction (the map takes at most 32, and
    /// [`Policy::choose_victim`] judges at most 64).
    pub sample: usize,
    /// How the main region's victim is picked.
    pub main: MainOrder,
    /// TinyLFU admission: the window's candidate meets the main victim and the less
    /// frequent one goes. Off: the candidate always stays (plain sampled eviction).
    pub admission: bool,
    /// With admission, a candidate as frequent as the victim stays (else it goes).
    pub admit_ties: bool,
    /// The initial window, per mille of the capacity, in inserts: a new entry is judged
    /// that many inserts after its own. 0: at once (TinyLFU admission at the door).
    pub window_permille: u32,
    /// The adaptive window's bounds, per mille (the largest sizes the ring).
    pub min_window_permille: u32,
    /// See `min_window_permille`.
    pub max_window_permille: u32,
    /// Ghost-driven window (module `window`): a ghost hit steps the window by this many
    /// millionths of the capacity (at least one entry), times ARC's ratio. 0: off.
    pub ghost_step_ppm: u32,
    /// Ghost slots, per mille of the capacity (rounded up to a power of two).
    pub ghost_permille: u32,
    /// A ghost counts only if it comes back within the window plus this many per mille
    /// of the capacity, in inserts. 0: whenever it comes back.
    pub ghost_gate_permille: u32,
    /// Hill-climb the window every `climb_period` × capacity requests (module `climb`).
    /// 0: off.
    pub climb_period: u32,
    /// A hit refreshes the stamp when it is at least `capacity >> refresh_shift` inserts
    /// old (and at least one clock step).
    pub refresh_shift: u32,
    /// When hits feed the sketch.
    pub record_hits: HitRecord,
    /// The sketch is halved every this many recorded events per entry of capacity.
    pub reset_per_entry: u32,
    /// Sketch words (16 counters each) per entry of capacity.
    pub sketch_scale: u32,
}

impl Default for Config {
    /// The recommended policy: sampled W-TinyLFU (k = 16, segmented-LRU-then-LFU main
    /// order), a window of 1 % to 100 % of the capacity adapted by ghosts, a sketch of 2
    /// words per entry halved every 20 events per entry, hits recorded on refresh.
    fn default() -> Self {
        Config {
            sample: 16,
            main: MainOrder::SlruLfu,
            admission: true,
            admit_ties: false,
            window_permille: 10,
            min_window_permille: 10,
            max_window_permille: 1000,
            ghost_step_ppm: 1000,
            ghost_permille: 500,
            ghost_gate_permille: 32,
            climb_period: 0,
            refresh_shift: 6,
            record_hits: HitRecord::OnRefresh,
            reset_per_entry: 20,
            sketch_scale: 2,
        }
    }
}

/// What the map does after [`Policy::on_insert`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Insert {
    /// The new entry's metadata.
    pub meta: Meta,
    /// The hash of the entry leaving the window: if the map is over capacity it looks
    /// that entry up (it may be gone) and offers it to
    /// [`choose_victim`](Policy::choose_victim). With a zero window it is the new entry
    /// itself.
    pub candidate: Option<u64>,
}

/// The eviction policy of a bounded cache of `capacity` entries; see the module docs
/// for the protocol.
#[derive(Debug)]
pub struct Policy {
    cfg: Config,
    capacity: u64,
    sketch: FrequencySketch,
    /// Inserts: the time line of stamps and ghosts.
    clock: Ticker,
    /// Events recorded in the sketch, for the halving period.
    events: Ticker,
    /// Hits, counted only for the climber.
    hits: Ticker,
    /// Refresh threshold, in clock ticks.
    refresh: u64,
    window: Window,
    climber: Climber,
}

/// `capacity × p / 1000` without overflow.
fn permille(capacity: u64, p: u32) -> u64 {
    (u128::from(capacity) * u128::from(p) / 1000) as u64
}

impl Policy {
    /// A policy for a cache of `capacity` entries.
    pub fn new(capacity: u64, cfg: Config) -> Self {
        let initial = permille(capacity, cfg.window_permille);
        let adaptive = cfg.ghost_step_ppm != 0 || cfg.climb_period != 0;
        let sizes = Sizes {
            initial,
            min: if adaptive {
                permille(capacity, cfg.min_window_permille)
            } else {
                initial
            },
            max: if adaptive {
                permille(capacity, cfg.max_window_permille)
            } else {
                initial
            },
            ghosts: if cfg.ghost_step_ppm == 0 {
                0
            } else {
                permille(capacity, cfg.ghost_permille).max(1)
            },
            step: (u128::from(capacity) * u128::from(cfg.ghost_step_ppm) / 1_000_000) as u64,
            gate: permille(capacity, cfg.ghost_gate_permille),
        };
        Policy {
            cfg,
            capacity,
            sketch: FrequencySketch::new(capacity.saturating_mul(u64::from(cfg.sketch_scale))),
            clock: Ticker::new(),
            events: Ticker::new(),
            hits: Ticker::new(),
            refresh: (capacity >> cfg.refresh_shift).max(1),
            window: Window::new(sizes),
            climber: Climber::new(capacity, cfg.climb_period),
        }
    }

    /// The configuration.
    pub fn config(&self) -> Config {
        self.cfg
    }

    /// The current window, in inserts.
    pub fn window(&self) -> u64 {
        self.window.len()
    }

    /// Bytes the policy owns besides the per-entry words.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.sketch.bytes()
            + self.window.bytes()
            + [&self.clock, &self.events, &self.hits]
                .iter()
                .map(|t| t.bytes() - std::mem::size_of::<Ticker>())
                .sum::<usize>()
    }

    /// The sketch's estimate for `hash`.
    pub fn frequency(&self, hash: u64) -> u8 {
        self.sketch.frequency(hash)
    }

    #[inline]
    fn record(&self, hash: u64) {
        self.sketch.increment(hash);
        if let Some((old, new)) = self.events.advance() {
            let period = u64::from(self.cfg.reset_per_entry.max(1)) * self.capacity.max(1);
            if old / period != new / period {
                self.halve();
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn halve(&self) {
        self.sketch.halve();
    }

    fn protects(&self) -> bool {
        matches!(self.cfg.main, MainOrder::Slru | MainOrder::SlruLfu)
    }

    /// A lookup found the entry whose metadata is `meta`.
    ///
    /// Reads the entry's word and the policy clock; stores into the word only when its
    /// stamp is stale (`capacity / 64` inserts old) or it is hit for the first time in
    /// the main region, and only then records the hit in the sketch (with
    /// [`HitRecord::OnRefresh`]). Nothing shared is written on a hit otherwise.
    #[inline]
    pub fn on_hit(&self, hash: u64, meta: &AtomicMeta) {
        let m = meta.load();
        let now = self.clock.now();
        let age = m.age(now);
        let stale = age >= self.refresh && age != 0;
        let protect = self.protects() && !m.is_new() && !m.is_protected();
        if stale || protect {
            let flags = m.flags() | if protect { PROTECTED } else { 0 };
            meta.store(Meta::new(if stale { now } else { m.stamp() }, flags));
            if stale && self.cfg.record_hits == HitRecord::OnRefresh {
                self.record(hash);
            }
        }
        if self.cfg.record_hits == HitRecord::Every {
            self.record(hash);
        }
        if self.cfg.climb_period != 0 {
            if let Some((_, hits)) = self.hits.advance() {
                self.climb(hits, self.clock.now());
            }
        }
    }

    #[cold]
    fn climb(&self, hits: u64, inserts: u64) {
        if let Some(len) = self.climber.climb(hits, inserts, self.window.len()) {
            self.window.set_len(len);
        }
    }

    /// A new key with this hash is being inserted (after a miss). Records it, lets its
    /// ghost (if any) steer the window, and returns its metadata and the candidate
    /// leaving the window.
    pub fn on_insert(&self, hash: u64) -> Insert {
        self.record(hash);
        self.window.recall(hash, self.clock.now());
        if let Some((_, inserts)) = self.clock.advance() {
            if self.cfg.climb_period != 0 {
                self.climb(self.hits.now(), inserts);
            }
        }
        Insert {
            meta: Meta::new(self.clock.now(), NEW),
            candidate: self.window.push(hash),
        }
    }

    /// Asks the processor to fetch what [`choose_victim`](Self::choose_victim) will read
    /// of a sampled entry whose hash is `hash` (its sketch line), while the map samples
    /// the others.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        self.sketch.prefetch(hash);
    }

    /// Asks the processor to fetch what [`on_insert`](Self::on_insert) of `hash` will
    /// touch first at random (its sketch line and its ghost slot), while the map links the
    /// entry: both are far lines, read by the insert only after its own walk of the list.
    #[inline]
    pub(crate) fn prefetch_insert(&self, hash: u64) {
        self.sketch.prefetch(hash);
        self.window.prefetch_ghost(hash);
    }

    /// The map is over capacity: which entry to evict, of the window's `candidate` (the
    /// entry [`on_insert`](Self::on_insert) named, if the map found it live) and
    /// `sample` (k random live entries, which may include the candidate and the new
    /// entry).
    ///
    /// An expired entry goes first. Else the main victim is the sampled entry first in
    /// [`MainOrder`] (entries still in the window are spared while others remain); if
    /// the candidate is still unjudged (`NEW`), it meets the main victim and the less
    /// frequent goes (TinyLFU; a candidate that stays joins the main region); else the
    /// main victim goes. `None` only when both are missing.
    pub fn choose_victim(
        &self,
        candidate: Option<&Sampled<'_>>,
        sample: &[Sampled<'_>],
    ) -> Option<Choice> {
        if candidate.is_some_and(|c| c.expired) {
            return Some(Choice::Candidate);
        }
        if let Some(i) = sample.iter().position(|s| s.expired) {
            return Some(Choice::Sampled(i));
        }
        let now = self.clock.now();
        let victim = self.main_victim(sample, now);
        let Some(c) = candidate.filter(|c| c.meta.load().is_new()) else {
            if let Some(v) = victim {
                self.window.remember(sample[v].hash, Ghost::Main, now);
                return Some(Choice::Sampled(v));
            }
            return candidate.map(|_| Choice::Candidate);
        };
        let Some(v) = victim else {
            return Some(Choice::Candidate);
        };
        if self.admits(c.hash, sample[v].hash) {
            c.meta.clear_new();
            self.window.remember(sample[v].hash, Ghost::Main, now);
            Some(Choice::Sampled(v))
        } else {
            self.reject_at(c.hash, now);
            Some(Choice::Candidate)
        }
    }

    /// Whether the unjudged candidate (known by hash `candidate`) stays against main's
    /// victim (`victim`), as [`choose_victim`](Self::choose_victim) judges them, neither
    /// expired (TinyLFU: the candidate is the more frequent). Reads the sketch and writes
    /// nothing.
    #[inline]
    pub(crate) fn admits(&self, candidate: u64, victim: u64) -> bool {
        let (fc, fv) = (
            self.sketch.frequency(candidate),
            self.sketch.frequency(victim),
        );
        !self.cfg.admission || fc > fv || (self.cfg.admit_ties && fc == fv)
    }

    /// The unjudged candidate (known by hash `candidate`) lost its contest
    /// ([`admits`](Self::admits) said no) and goes: what
    /// [`choose_victim`](Self::choose_victim) does then (its ghost steers the window if
    /// it comes back).
    #[inline]
    pub(crate) fn reject(&self, candidate: u64) {
        self.reject_at(candidate, self.clock.now());
    }

    #[inline]
    fn reject_at(&self, candidate: u64, now: u64) {
        self.window.remember(candidate, Ghost::Candidate, now);
    }

    /// The main region's victim among `sample`: the first in [`MainOrder`], entries
    /// still in the window (unjudged and refreshed within it) last. The sketch is read
    /// only for the entries of the best class (window, protected), to touch fewer lines.
    /// Each entry's word is loaded once (into arrays of `MAX_JUDGED`; a longer sample is
    /// cut there).
    fn main_victim(&self, sample: &[Sampled<'_>], now: u64) -> Option<usize> {
        if sample.len() <= 1 {
            // Nothing to order (the eviction pool's case: its best, alone): no word nor
            // sketch line to read.
            return (!sample.is_empty()).then_some(0);
        }
        let sample = &sample[..sample.len().min(MAX_JUDGED)];
        let r = self.ranker_at(now);
        // Per entry: its class (in the window: 2, protected: 1; the lowest goes first)
        // and its age.
        let mut class = [0u8; MAX_JUDGED];
        let mut age = [0u64; MAX_JUDGED];
        let mut best = u8::MAX;
        for (i, s) in sample.iter().enumerate() {
            let m = s.meta.load();
            age[i] = m.age(now);
            class[i] = r.class(m, age[i]);
            best = best.min(class[i]);
        }
        (0..sample.len())
            .filter(|&i| class[i] == best)
            .map(|i| {
                let f = self.frequency_for_order(sample[i].hash);
                // The oldest (largest age) first among equals.
                (f, STAMP_MASK - age[i], i)
            })
            .min()
            .map(|(_, _, i)| i)
    }

    /// The sketch's estimate if the main order reads it, else 0.
    #[inline]
    fn frequency_for_order(&self, hash: u64) -> u8 {
        if matches!(self.cfg.main, MainOrder::Lfu | MainOrder::SlruLfu) {
            self.sketch.frequency(hash)
        } else {
            0
        }
    }

    /// An entry's score for the eviction pool (`pool.rs`): its word `meta` and the
    /// sketch's estimate for `hash` as read now, which [`Ranker::rank`] orders as
    /// [`main_victim`](Self::main_victim) does.
    #[inline]
    pub(crate) fn score(&self, hash: u64, meta: Meta) -> Score {
        Score {
            meta,
            freq: self.frequency_for_order(hash),
        }
    }

    /// The main order at the policy clock's current reading (for the eviction pool).
    #[inline]
    pub(crate) fn ranker(&self) -> Ranker {
        self.ranker_at(self.clock.now())
    }

    fn ranker_at(&self, now: u64) -> Ranker {
        Ranker {
            now,
            window: self.window.len(),
            protects: self.protects(),
        }
    }
}

/// An entry as the eviction pool caches it: its word and its sketch estimate (0 when the
/// main order reads no frequency), read when the entry was last seen.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Score {
    pub(crate) meta: Meta,
    pub(crate) freq: u8,
}

/// The main region's order ([`MainOrder`]) at one reading of the clock and the window:
/// what [`Policy::main_victim`] sorts a sample by, for entries scored earlier.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Ranker {
    now: u64,
    window: u64,
    protects: bool,
}

impl Ranker {
    /// The entry's class: in the window 2, protected 1, else 0 (the lowest goes first).
    #[inline]
    fn class(&self, m: Meta, age: u64) -> u8 {
        (u8::from(m.is_new() && age < self.window) << 1)
            | u8::from(self.protects && m.is_protected())
    }

    /// The key `main_victim` orders by (the smallest goes first): the class, then the
    /// frequency, then the oldest, packed into one word (class above bit 40, frequency in
    /// bits 32–39, `STAMP_MASK - age` in the 29 bits below).
    #[inline]
    pub(crate) fn rank(&self, s: Score) -> u64 {
        let age = s.meta.age(self.now);
        u64::from(self.class(s.meta, age)) << 40 | u64::from(s.freq) << 32 | (STAMP_MASK - age)
    }
}

/// Sampled entries [`Policy::choose_victim`] judges at most (the map samples at most 32).
const MAX_JUDGED: usize = 64;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A distinct, scattered hash per key.
    fn h(k: u64) -> u64 {
        k.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn entry(hash: u64, meta: &AtomicMeta) -> Sampled<'_> {
        Sampled {
            hash,
            meta,
            expired: false,
        }
    }

    /// The map as the policy sees it: a table of live entries it samples from, and a
    /// lookup by hash for the window's candidate (the harness's model, in small).
    struct Model {
        policy: Policy,
        cap: usize,
        hashes: Vec<u64>,
        metas: Vec<AtomicMeta>,
        slot: HashMap<u64, usize>,
        rng: u64,
    }

    impl Model {
        fn new(cap: usize, cfg: Config) -> Model {
            Model {
                policy: Policy::new(cap as u64, cfg),
                cap,
                hashes: Vec::new(),
                metas: Vec::new(),
                slot: HashMap::new(),
                rng: 1,
            }
        }

        fn random(&mut self, n: usize) -> usize {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            (self.rng % n as u64) as usize
        }

        /// A request: `true` on a hit; a miss inserts the key and evicts down to `cap`.
        fn access(&mut self, hash: u64) -> bool {
            if let Some(&i) = self.slot.get(&hash) {
                self.policy.on_hit(hash, &self.metas[i]);
                return true;
            }
            let ins = self.policy.on_insert(hash);
            self.slot.insert(hash, self.hashes.len());
            self.hashes.push(hash);
            self.metas.push(AtomicMeta::new(ins.meta));
            if self.hashes.len() > self.cap {
                let cand = ins.candidate.and_then(|c| self.slot.get(&c).copied());
                let picked: Vec<usize> = (0..self.policy.config().sample)
                    .map(|_| self.random(self.hashes.len()))
                    .collect();
                let sample: Vec<Sampled<'_>> = picked
                    .iter()
                    .map(|&j| entry(self.hashes[j], &self.metas[j]))
                    .collect();
                let c = cand.map(|j| entry(self.hashes[j], &self.metas[j]));
                let v = match self.policy.choose_victim(c.as_ref(), &sample) {
                    Some(Choice::Candidate) => cand.expect("a candidate was offered"),
                    Some(Choice::Sampled(i)) => picked[i],
                    None => unreachable!("a full table has a sample"),
                };
                let gone = self.hashes.swap_remove(v);
                self.metas.swap_remove(v);
                self.slot.remove(&gone);
                if v < self.hashes.len() {
                    self.slot.insert(self.hashes[v], v);
                }
            }
            false
        }
    }

    #[test]
    fn expired_entries_are_the_first_victims() {
        let p = Policy::new(100, Config::default());
        // A frequent, protected, recently refreshed entry that has expired, among cold
        // old ones: the expired one goes, and so does an expired candidate.
        for _ in 0..10 {
            p.on_insert(h(1));
        }
        let hot = AtomicMeta::new(Meta::new(1000, PROTECTED));
        let cold: Vec<AtomicMeta> = (0..4).map(|_| AtomicMeta::new(Meta::new(0, 0))).collect();
        let mut sample: Vec<Sampled<'_>> = cold.iter().map(|m| entry(h(50), m)).collect();
        sample.insert(
            2,
            Sampled {
                expired: true,
                ..entry(h(1), &hot)
            },
        );
        assert_eq!(p.choose_victim(None, &sample), Some(Choice::Sampled(2)));
        let cand_meta = AtomicMeta::new(Meta::new(1000, NEW));
        let cand = Sampled {
            expired: true,
            ..entry(h(1), &cand_meta)
        };
        assert_eq!(
            p.choose_victim(Some(&cand), &sample),
            Some(Choice::Candidate)
        );
    }

    #[test]
    fn a_fresh_hit_writes_nothing_and_a_stale_one_refreshes() {
        // Capacity 1024: a stamp is stale after 16 inserts.
        let p = Policy::new(1024, Config::default());
        let ins = p.on_insert(h(1));
        let meta = AtomicMeta::new(Meta(ins.meta.0 & !NEW | PROTECTED));
        let before = (meta.load(), p.frequency(h(1)));
        for _ in 0..100 {
            p.on_hit(h(1), &meta);
        }
        assert_eq!(
            (meta.load(), p.frequency(h(1))),
            before,
            "fresh hits neither refresh the stamp nor count in the sketch"
        );
        for k in 100..140 {
            p.on_insert(h(k));
        }
        p.on_hit(h(1), &meta);
        assert!(
            meta.load().stamp() > before.0.stamp(),
            "a stale stamp is refreshed"
        );
        assert_eq!(p.frequency(h(1)), before.1 + 1, "and the hit is recorded");
        assert!(meta.load().is_protected(), "flags survive a refresh");
    }

    #[test]
    fn the_first_hit_in_main_protects_and_a_window_hit_does_not() {
        let p = Policy::new(1024, Config::default());
        let ins = p.on_insert(h(1));
        let in_window = AtomicMeta::new(ins.meta);
        p.on_hit(h(1), &in_window);
        assert!(!in_window.load().is_protected());
        let in_main = AtomicMeta::new(Meta(ins.meta.0 & !NEW));
        p.on_hit(h(1), &in_main);
        assert!(in_main.load().is_protected());
    }

    #[test]
    fn the_less_frequent_of_candidate_and_victim_goes() {
        let p = Policy::new(1000, Config::default());
        for _ in 0..5 {
            p.on_insert(h(1)); // the candidate, frequent
        }
        p.on_insert(h(2)); // the victim, once
        let cand = AtomicMeta::new(Meta::new(0, NEW));
        let victim = AtomicMeta::new(Meta::new(0, 0));
        let sample = [entry(h(2), &victim)];
        assert_eq!(
            p.choose_victim(Some(&entry(h(1), &cand)), &sample),
            Some(Choice::Sampled(0))
        );
        assert!(!cand.load().is_new(), "the winner joins the main region");

        let loser = AtomicMeta::new(Meta::new(0, NEW));
        let strong = [entry(h(1), &victim)];
        assert_eq!(
            p.choose_victim(Some(&entry(h(2), &loser)), &strong),
            Some(Choice::Candidate)
        );
        assert!(loser.load().is_new());
        // A judged candidate is not judged again: the main victim goes.
        assert_eq!(
            p.choose_victim(Some(&entry(h(2), &cand)), &strong),
            Some(Choice::Sampled(0))
        );
    }

    #[test]
    fn main_victim_order_unprotected_then_rare_then_old() {
        let p = Policy::new(1000, Config::default());
        for _ in 0..5 {
            p.on_insert(h(1));
        }
        for k in 0..200 {
            p.on_insert(h(1000 + k)); // moves the clock past the window
        }
        let m = |stamp, flags| AtomicMeta::new(Meta::new(stamp, flags));
        let metas = [
            m(1, PROTECTED),       // 0: protected, oldest
            m(2, 0),               // 1: frequent
            m(50, 0),              // 2: rare, young
            m(p.clock.now(), NEW), // 3: still in the window
            m(40, 0),              // 4: rare, old
        ];
        let hashes = [h(3), h(1), h(4), h(5), h(6)];
        let mut left: Vec<usize> = (0..metas.len()).collect();
        let mut order = Vec::new();
        while !left.is_empty() {
            let sample: Vec<Sampled<'_>> =
                left.iter().map(|&i| entry(hashes[i], &metas[i])).collect();
            let i = p.main_victim(&sample, p.clock.now()).unwrap();
            order.push(left.remove(i));
        }
        assert_eq!(order, [4, 2, 1, 0, 3]);
    }

    #[test]
    fn a_scan_does_not_flush_the_hot_set() {
        // 200 hot keys in a cache of 1,000, then 100,000 keys seen once, with one hot
        // request every 10 scan requests: each hot key comes back 2,000 inserts later,
        // after an LRU would have flushed it. With the recommended main order the
        // protected segment keeps them, with a sampled-LRU main TinyLFU admission does:
        // both are checked.
        let lru_main = Config {
            main: MainOrder::Lru,
            ..Config::default()
        };
        for cfg in [Config::default(), lru_main] {
            let mut m = Model::new(1000, cfg);
            for _ in 0..20 {
                for k in 0..200 {
                    m.access(h(k));
                }
            }
            let mut hot_hits = 0;
            for i in 0..100_000u64 {
                m.access(h(1_000_000 + i));
                if i % 10 == 0 {
                    hot_hits += u64::from(m.access(h(i / 10 % 200)));
                }
            }
            assert!(
                hot_hits > 9_500,
                "{:?}: hot hits during the scan: {hot_hits} of 10000",
                cfg.main
            );
            // No scanned key came back, so no ghost moved the window.
            assert_eq!(m.policy.window(), 10);
        }
    }

    #[test]
    fn keys_that_come_back_soon_grow_the_window() {
        // Every key comes back once, 40 inserts later, in a cache of 1,000: TinyLFU
        // with the initial window (10 inserts) rejects them at its exit, and their
        // ghosts (back within the gate) grow the window.
        let mut m = Model::new(1000, Config::default());
        let initial = m.policy.window();
        for i in 0..20_000u64 {
            m.access(h(i));
            if i >= 40 {
                m.access(h(i - 40));
            }
        }
        let grown = m.policy.window();
        assert!(grown > 3 * initial, "window {initial} -> {grown}");
    }

    #[test]
    fn the_sketch_is_halved_every_period() {
        // Capacity 8, 20 events per entry: halving every 160 recorded events.
        let p = Policy::new(8, Config::default());
        for _ in 0..12 {
            p.on_insert(h(1));
        }
        assert_eq!(p.frequency(h(1)), 12);
        for k in 0..(160 - 12) {
            p.on_insert(h(100 + k));
        }
        assert_eq!(p.frequency(h(1)), 6);
    }
}
