//! The policy: its knobs, and the hooks the map calls.

use super::climb::Climber;
use super::meta::{AtomicMeta, Meta, NEW, PROTECTED};
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
    /// Entries the map samples per eviction.
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
        let stale = now.wrapping_sub(m.stamp()) >= self.refresh && now != m.stamp();
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
        let (fc, fv) = (
            self.sketch.frequency(c.hash),
            self.sketch.frequency(sample[v].hash),
        );
        if !self.cfg.admission || fc > fv || (self.cfg.admit_ties && fc == fv) {
            let m = c.meta.load();
            c.meta.store(Meta(m.0 & !NEW));
            self.window.remember(sample[v].hash, Ghost::Main, now);
            Some(Choice::Sampled(v))
        } else {
            self.window.remember(c.hash, Ghost::Candidate, now);
            Some(Choice::Candidate)
        }
    }

    /// The main region's victim among `sample`: the first in [`MainOrder`], entries
    /// still in the window (unjudged and refreshed within it) last.
    fn main_victim(&self, sample: &[Sampled<'_>], now: u64) -> Option<usize> {
        let window = self.window.len();
        let key = |s: &Sampled<'_>| {
            let m = s.meta.load();
            let in_window = m.is_new() && now.wrapping_sub(m.stamp()) < window;
            let rank = match self.cfg.main {
                MainOrder::Lru => 0,
                MainOrder::Lfu => u64::from(self.sketch.frequency(s.hash)),
                MainOrder::Slru => u64::from(m.is_protected()),
                MainOrder::SlruLfu => {
                    u64::from(m.is_protected()) << 8 | u64::from(self.sketch.frequency(s.hash))
                }
            };
            (in_window, rank, m.stamp())
        };
        sample
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| key(s))
            .map(|(i, _)| i)
    }
}
