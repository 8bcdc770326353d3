//! The eviction pool: where an eviction finds main's victim in a table of more than `2k`
//! buckets (`bound.rs`, `evict_one`), instead of sampling `k = 16` random entries.
//!
//! # The scheme (Redis's eviction pool, fed by a hand)
//! A pool keeps the best [`POOL`] victims seen so far, as `(hash, score)`: the entry's
//! word and its sketch estimate when it was seen ([`Score`]), ranked as the policy ranks a
//! sample ([`Ranker`]: the unprotected first, then the least frequent, then the oldest;
//! entries still in the window last). Each eviction feeds it about [`FRESH`] entries from a
//! *hand* that walks the buckets in index order ([`RawMap::walk_buckets`]), takes the
//! best pooled entry, finds it again by its hash and re-checks its word (re-scored and
//! re-ranked if it changed: a hit refreshed or protected it), and lets the policy judge it
//! against the window's candidate (`choose_victim`, with it as a one-entry sample). An
//! expired entry the hand meets is evicted at once.
//!
//! The simulator (`benches/examples/evict_proto.rs`, `Pick::Pool { hand: true, .. }`)
//! found that a pool of 16 fed 2 entries a time by a hand meets every hit-ratio target
//! with about 13 cache lines touched per eviction, against about 45 for a random sample
//! of 16 (whose 20 or so bucket probes each miss twice).
//!
//! # Judged before the walk
//! Most evictions take the window's candidate: it loses its contest against the pool's
//! best (191,000 of 200,000 when every insert is a new key). Walking first would only
//! feed the pool, and the walk is most of an eviction's cost (about 1,300 of its 2,400
//! instructions, callgrind). So the candidate is judged against the pool's best *as it
//! is* first (its sketch estimate against the best's, read afresh: [`Policy::admits`];
//! the best's word is not re-checked), and if it loses, it goes and nothing is walked.
//! Only when:
//! - **no entry can have expired** (`RawMap::may_have_expired`: the clock has not reached
//!   the sweep hint, a lower bound on every deadline in the map). An expired entry is the
//!   first victim and a walk is how one is found, so while one may exist every eviction
//!   walks first, as before;
//! - the candidate is live and unjudged (`NEW`), and the pool is full;
//! - and this is not one of the [`WALK_EVERY`]th such evictions, which walk anyway, so
//!   that the pool stays fed while candidates keep losing (never walking then cost up to
//!   0.9 points of hit ratio: `WALK_EVERY`).
//!
//! A candidate that would stay goes on to the walk, and the walk and the re-checked best
//! decide as before. The candidate is thus judged against a pool fed less often (by the
//! evictions that admit a candidate and one in `WALK_EVERY` of the others); the
//! hit-ratio targets hold (`WALK_EVERY`).
//!
//! # Concurrency
//! - **Pools are per shard**: [`SHARDS`] cache-padded pools, each behind a mutex that is
//!   only ever *tried* (`try_lock`: one Acquire CAS, a Release store on unlock). A thread
//!   uses the shard of its `thread_index`; if another thread holds it, the eviction
//!   falls back to the random sample. Nothing spins or blocks.
//! - **The pool holds hashes, never pointers**: a node may be freed once the thread that
//!   saw it unpins. A pooled hash is found again with `RawMap::find_hash` under the
//!   evicting thread's guard; a hash whose entry is gone is dropped, and one whose key
//!   was removed and inserted again names the new entry, whose word the re-check reads.
//!   A pooled entry is a hint: the worst it can do is name a poor victim once.
//! - **The hand** is one shared bucket index. An eviction claims a stretch of buckets
//!   with one `fetch_add`, so that concurrent evictions walk disjoint stretches; the
//!   stretch adapts (a Relaxed hint) so that it holds about [`FRESH`] entries. A thread
//!   walks a whole stretch (stopping inside one would skip the same buckets' tails on
//!   every round of the hand), and claims at most [`MAX_CLAIMS`] stretches before it
//!   takes the pool's best.
//! - **A sparse table** (far more buckets than entries: a capacity hint far above the
//!   bound, or a bound lowered under a grown table, which never shrinks) leaves those
//!   stretches empty, and the pool too once it has given up its entries. The eviction
//!   then claims *far* stretches ([`Pools::claim_far`]), from [`FAR_STRETCH`] buckets
//!   doubling up to [`MAX_FAR_STRETCH`], until one holds an entry or it has walked as
//!   many buckets as the table has (a whole round). An empty bucket costs the read of
//!   its 16-byte sentinel, in address order, so such an eviction costs about the
//!   directory bytes between the hand and the next entry, at most twice that with the
//!   doubling. As in any stretch, an expired entry met goes first; the walk does not go
//!   past the first stretch that holds entries to look for one. (Before, the eviction
//!   sampled, and its sample walked the list in split order, one dependent miss per
//!   bucket, up to `k` entries: 169 µs per evicting insert with 1 entry in 16,384
//!   buckets.) A dense table does not get there: its first stretches or its pool hold
//!   something (none of the 16 million evictions of the hit-ratio sweeps,
//!   `policy_sweep map`, claimed a far stretch), and its stretch hint stays within
//!   [`MAX_STRETCH`] buckets, as tuned.
//!
//! [`RawMap::walk_buckets`]: crate::raw::RawMap::walk_buckets
//! [`Policy::admits`]: super::Policy::admits

use crossbeam_utils::CachePadded;

use super::policy::{Ranker, Score};
use crate::sync::{AtomicUsize, Mutex, MutexGuard, Ordering, LOOM};

/// Entries a pool keeps.
pub(crate) const POOL: usize = 16;
/// Pools per map (a power of two). One under loom, so that the models' threads (which
/// all have `thread_index` 0 anyway) contend for it.
const SHARDS: usize = if LOOM { 1 } else { 8 };
/// Entries an eviction wants from the hand (the stretch adapts to hold about this many).
pub(crate) const FRESH: usize = 2;
/// Stretches an eviction claims at most before it takes the pool's best (then, if the
/// pool is empty too, far stretches: see the module docs).
pub(crate) const MAX_CLAIMS: usize = 4;
/// Of the evictions that could be judged before the walk (see "Judged before the walk"),
/// one in this many walks anyway. Hit % with `policy_sweep map` (two runs each; the
/// hasher's seed moves them): walking on every eviction (before), OLTP 10k 63.3, P3 100k
/// 41.3–41.4, P3 200k 58.4–58.5; 1 in 8, 62.7–62.8, 41.2–41.5, 58.7–59.8; never,
/// 62.3–62.4, 40.8–41.0, 58.3–59.5 (P3 200k's target is 58.35). 1 in 4 and 1 in 16
/// measured within a few tenths of 1 in 8; the other cells move by less.
const WALK_EVERY: u32 = 8;
/// The stretch's bounds, in buckets. At most one directory batch (`PROBE_BATCH`) is a
/// good ceiling: a table a sixteenth full needs 32 buckets for 2 entries, where 4
/// claims of 8 find some.
const MIN_STRETCH: usize = 1;
const MAX_STRETCH: usize = 8;
/// The stretch under loom, fixed: half a model's table of 8 buckets.
const LOOM_STRETCH: usize = 4;
/// A sparse table's first far stretch, in buckets (each next one twice as long).
pub(crate) const FAR_STRETCH: usize = 2 * MAX_STRETCH;
/// The far stretch's ceiling: 64 KiB of sentinels, read in a few microseconds, so that a
/// stretch that overshoots the next entry wastes at most that.
pub(crate) const MAX_FAR_STRETCH: usize = 4096;

/// A pooled entry: its hash (as the policy knows it) and its score when last seen.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Pooled {
    pub(crate) hash: u64,
    pub(crate) score: Score,
}

/// One shard's pool: the best entries seen, unordered, each with its rank.
///
/// A rank depends on the policy clock and the window ([`Ranker`]), which move once per
/// `ticker::BATCH` inserts and on a ghost hit: the ranks are kept with the entries and
/// computed again, all of them, only when the ranker differs from the one they were
/// computed with. Between those, an eviction ranks only the entries it offers; the pool
/// remembers which entry is its best and (when full) its worst while they stay so, and
/// a filter of its hashes answers most searches for a hash that is not pooled (the
/// window's candidate, evicted, is looked for on every eviction that takes it) without
/// a pass over the entries. The fields are kept apart (hashes, scores, ranks): a search
/// reads 2 lines, not 6.
#[derive(Debug)]
pub(crate) struct Pool {
    len: usize,
    hashes: [u64; POOL],
    scores: [Score; POOL],
    /// `ranks[i]` is `ranked.rank(scores[i])`, for `i < len`.
    ranks: [u64; POOL],
    /// The ranker `ranks` were computed with (`None`: none yet).
    ranked: Option<Ranker>,
    /// The index of an entry of the smallest rank, if known.
    best: Option<usize>,
    /// The index of the worst entry (the last of the largest rank) of a full pool, if
    /// known.
    worst: Option<usize>,
    /// Bit `filter_bit(h)` is set for every pooled hash `h` (and maybe others).
    filter: u64,
    /// Evictions judged before the walk since the last one that walked anyway
    /// ([`walk_due`](Self::walk_due)).
    unwalked: u32,
}

/// A hash's bit in [`Pool::filter`]: 6 bits of its top byte. (Not its low bits: the hand
/// pools neighbours in the table, whose hashes share their low bits; bit 63 is set in
/// every policy hash.)
#[inline]
fn filter_bit(hash: u64) -> u64 {
    1 << ((hash >> 56) & 63)
}

impl Pool {
    fn new() -> Pool {
        Pool {
            len: 0,
            hashes: [0; POOL],
            scores: [Score::default(); POOL],
            ranks: [0; POOL],
            ranked: None,
            best: None,
            worst: None,
            filter: 0,
            unwalked: 0,
        }
    }

    /// Whether the pool holds [`POOL`] entries.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == POOL
    }

    /// Whether this eviction, which could be judged before the walk, walks anyway: one in
    /// [`WALK_EVERY`] does.
    #[inline]
    pub(crate) fn walk_due(&mut self) -> bool {
        self.unwalked += 1;
        if self.unwalked >= WALK_EVERY {
            self.unwalked = 0;
            return true;
        }
        false
    }

    /// The pooled hashes.
    pub(crate) fn hashes(&self) -> &[u64] {
        &self.hashes[..self.len]
    }

    /// Makes the ranks `r`'s.
    #[inline(always)]
    fn rerank(&mut self, r: &Ranker) {
        if self.ranked.as_ref() != Some(r) {
            self.rerank_all(r);
        }
    }

    #[inline(never)]
    fn rerank_all(&mut self, r: &Ranker) {
        for (k, &s) in self.ranks.iter_mut().zip(&self.scores[..self.len]) {
            *k = r.rank(s);
        }
        self.ranked = Some(*r);
        self.best = None;
        self.worst = None;
    }

    /// The worst entry of a full pool: the last of the largest rank.
    #[inline]
    fn worst(&mut self) -> usize {
        debug_assert_eq!(self.len, POOL);
        *self.worst.get_or_insert_with(|| {
            let mut w = 0;
            for i in 1..POOL {
                if self.ranks[i] >= self.ranks[w] {
                    w = i;
                }
            }
            w
        })
    }

    /// Offers each of `fresh`: it replaces an entry of the same hash, else takes a free
    /// place, else the worst entry's, if it ranks before the worst entry. (A fresh entry
    /// that does not, and whose hash is pooled, leaves the pooled one as it was: the hand
    /// meets a pooled entry again only after a whole round of the table, and `pick`
    /// re-checks the best entry's word anyway. Most fresh entries rank after the worst,
    /// so they cost one compare, not a search.)
    #[inline]
    pub(crate) fn feed(&mut self, fresh: &[Pooled], r: &Ranker) {
        self.rerank(r);
        // The rank a fresh entry must be under to be taken.
        let mut bar = self.bar();
        for &p in fresh {
            let k = r.rank(p.score);
            if k >= bar {
                continue;
            }
            let i = if let Some(i) = self.position(p.hash) {
                i
            } else if self.len < POOL {
                self.len += 1;
                self.len - 1
            } else {
                self.worst()
            };
            self.put(i, p, k);
            bar = self.bar();
        }
    }

    /// The rank a fresh entry must be under to be taken: the worst's if the pool is full.
    #[inline]
    fn bar(&mut self) -> u64 {
        if self.len < POOL {
            u64::MAX
        } else {
            self.ranks[self.worst()]
        }
    }

    /// Writes entry `i` (`i < len`): `p`, ranked `rank`.
    #[inline]
    fn put(&mut self, i: usize, p: Pooled, rank: u64) {
        let old = self.ranks[i];
        self.hashes[i] = p.hash;
        self.scores[i] = p.score;
        self.ranks[i] = rank;
        self.best = match self.best {
            // The best entry, ranked again: still the best if it went no further back.
            Some(b) if b == i => (rank <= old).then_some(i),
            Some(b) => Some(if rank < self.ranks[b] { i } else { b }),
            None => None,
        };
        self.worst = None;
        self.refilter();
    }

    /// Computes the filter of the pooled hashes afresh (when an entry was overwritten or
    /// removed: rarely, next to the passes that choose victims).
    #[inline]
    fn refilter(&mut self) {
        self.filter = self.hashes().iter().fold(0, |f, &h| f | filter_bit(h));
    }

    /// The index of the best entry (the first to evict), if any.
    pub(crate) fn best(&mut self, r: &Ranker) -> Option<usize> {
        self.rerank(r);
        if self.best.is_none() {
            for i in 0..self.len {
                if self.best.is_none_or(|b| self.ranks[i] < self.ranks[b]) {
                    self.best = Some(i);
                }
            }
        }
        self.best
    }

    pub(crate) fn get(&self, i: usize) -> Pooled {
        Pooled {
            hash: self.hashes[i],
            score: self.scores[i],
        }
    }

    /// Replaces entry `i` by `p` (same hash, scored again), ranked by `r`.
    pub(crate) fn set(&mut self, i: usize, p: Pooled, r: &Ranker) {
        self.rerank(r);
        self.put(i, p, r.rank(p.score));
    }

    pub(crate) fn remove(&mut self, i: usize) {
        self.len -= 1;
        let last = self.len;
        self.hashes[i] = self.hashes[last];
        self.scores[i] = self.scores[last];
        self.ranks[i] = self.ranks[last];
        self.best = match self.best {
            Some(b) if b == i => None,
            Some(b) if b == last => Some(i),
            b => b,
        };
        self.worst = None;
        self.refilter();
    }

    /// Drops the entry of this hash, if pooled.
    pub(crate) fn remove_hash(&mut self, hash: u64) {
        if let Some(i) = self.position(hash) {
            self.remove(i);
        }
    }

    /// The index of the entry of this hash, if pooled.
    #[inline]
    fn position(&self, hash: u64) -> Option<usize> {
        if self.filter & filter_bit(hash) == 0 {
            return None;
        }
        self.hashes().iter().position(|&h| h == hash)
    }
}

/// A map's pools and its hand; see the module docs.
pub(crate) struct Pools {
    shards: [CachePadded<Mutex<Pool>>; SHARDS],
    /// The next bucket the hand claims (modulo the bucket count).
    hand: CachePadded<AtomicUsize>,
    /// Buckets per claim.
    stretch: AtomicUsize,
}

impl Pools {
    pub(crate) fn new() -> Pools {
        Pools {
            shards: std::array::from_fn(|_| CachePadded::new(Mutex::new(Pool::new()))),
            hand: CachePadded::new(AtomicUsize::new(0)),
            stretch: AtomicUsize::new(FRESH),
        }
    }

    /// The calling thread's pool, unless another thread holds it.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, Pool>> {
        let shard = &self.shards[crate::sync::thread_index() & (SHARDS - 1)];
        match shard.try_lock() {
            Ok(p) => Some(p),
            // A pool is a set of hints, valid whatever a panic interrupted: user code can
            // panic while it is held (a user `Clock` read by the hand's walk, which checks
            // whether an entry expired), and the next eviction takes the pool as it is
            // (tested by the fresh-eyes review: the bound and the listener ledger hold).
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Claims the next stretch of the hand: its first bucket (to be taken modulo the
    /// bucket count) and its length.
    pub(crate) fn claim(&self) -> (usize, usize) {
        // Under loom, a fixed stretch (the models' tables have a few buckets): two atomic
        // accesses fewer per claim for the model checker to interleave.
        let n = if LOOM {
            LOOM_STRETCH
        } else {
            // Relaxed: a hint (any length is correct).
            self.stretch.load(Ordering::Relaxed)
        };
        // Relaxed: the RMW alone makes concurrent claims disjoint; nothing is published
        // through the hand (the buckets are read under the guard, with their own
        // orderings).
        (self.hand.fetch_add(n, Ordering::Relaxed), n)
    }

    /// Claims the next `n` buckets of the hand, a far stretch (see the module docs): their
    /// first bucket, to be taken modulo the bucket count. The stretch hint is left alone.
    pub(crate) fn claim_far(&self, n: usize) -> usize {
        // Relaxed: as in `claim`.
        self.hand.fetch_add(n, Ordering::Relaxed)
    }

    /// A stretch of `n` buckets held `found` entries: lengthens or shortens the next ones
    /// by one bucket towards [`FRESH`] entries.
    pub(crate) fn adapt(&self, n: usize, found: usize) {
        let next = if LOOM {
            return;
        } else if found < FRESH {
            n + 1
        } else if found > 2 * FRESH {
            n - 1
        } else {
            return;
        };
        // Relaxed: a hint; a lost update costs one stretch of the wrong length.
        self.stretch
            .store(next.clamp(MIN_STRETCH, MAX_STRETCH), Ordering::Relaxed);
    }

    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::meta::NEW;
    use crate::cache::meta::PROTECTED;
    use crate::cache::{Config, Meta, Policy};

    #[test]
    fn a_full_pool_keeps_the_best_and_replaces_by_hash() {
        let policy = Policy::new(1000, Config::default());
        let r = policy.ranker();
        let mut pool = Pool::new();
        // Scores that differ by frequency only (same word): lower goes first.
        let at = |hash: u64, freq: u8| Pooled {
            hash,
            score: Score {
                meta: Meta::default(),
                freq,
            },
        };
        let best = |pool: &mut Pool| {
            let i = pool.best(&r).unwrap();
            pool.get(i).hash
        };
        let fresh: Vec<Pooled> = (0..POOL as u64).map(|h| at(h, 2 + h as u8)).collect();
        pool.feed(&fresh, &r);
        assert_eq!(pool.hashes().len(), POOL);
        pool.feed(&[at(100, 18)], &r); // worse than all: not taken
        assert!(!pool.hashes().contains(&100));
        pool.feed(&[at(101, 1)], &r); // better than the worst (hash 15): replaces it
        assert!(!pool.hashes().contains(&15));
        assert_eq!(best(&mut pool), 101);
        pool.feed(&[at(101, 9)], &r); // the same hash re-scored, in place
        assert_eq!(pool.hashes().iter().filter(|&&h| h == 101).count(), 1);
        assert_eq!(best(&mut pool), 0);
        pool.remove_hash(0);
        assert_eq!(best(&mut pool), 1);
        assert_eq!(pool.hashes().len(), POOL - 1);
    }

    #[test]
    fn kept_ranks_follow_the_clock() {
        // Capacity 1000: a window of 10 inserts. An entry just inserted ranks last (in the
        // window) at first, and first (the least frequent) once the clock has moved past
        // the window; the pool must see it move.
        let policy = Policy::new(1000, Config::default());
        let r0 = policy.ranker();
        let young = Pooled {
            hash: 1 << 63 | 1,
            score: policy.score(1 << 63 | 1, Meta::new(0, NEW)),
        };
        let frequent = Pooled {
            hash: 1 << 63 | 2,
            score: Score {
                meta: Meta::default(),
                freq: 5,
            },
        };
        let mut pool = Pool::new();
        pool.feed(&[young, frequent], &r0);
        let best = |pool: &mut Pool, r: &Ranker| {
            let i = pool.best(r).unwrap();
            pool.get(i)
        };
        assert_eq!(best(&mut pool, &r0), frequent);
        for k in 0..2 * crate::cache::ticker::BATCH {
            policy.on_insert(1 << 63 | (100 + k));
        }
        let r1 = policy.ranker();
        assert_ne!(r0, r1, "the clock moved");
        assert_eq!(best(&mut pool, &r1), young);
    }

    /// The pool's rules, every rank computed afresh, the entries laid out as the pool
    /// lays them out (a removal moves the last entry into the hole).
    #[derive(Default)]
    struct Naive(Vec<Pooled>);

    impl Naive {
        fn feed(&mut self, p: Pooled, r: &Ranker) {
            let rank = |i: usize| r.rank(self.0[i].score);
            let k = r.rank(p.score);
            let worst = (0..self.0.len()).max_by_key(|&i| rank(i));
            let full = self.0.len() == POOL;
            if full && k >= rank(worst.unwrap()) {
                return;
            }
            if let Some(i) = self.0.iter().position(|q| q.hash == p.hash) {
                self.0[i] = p;
            } else if !full {
                self.0.push(p);
            } else {
                self.0[worst.unwrap()] = p;
            }
        }
    }

    #[test]
    fn the_kept_ranks_and_the_remembered_best_and_worst_match_a_naive_pool() {
        let policy = Policy::new(1000, Config::default());
        // Rankers at clock readings 0, 16, 32 and 48 (the window is 10 inserts).
        let rankers: Vec<Ranker> = (0..4u64)
            .map(|t| {
                let r = policy.ranker();
                for k in 0..crate::cache::ticker::BATCH {
                    policy.on_insert(1 << 62 | t << 8 | k);
                }
                r
            })
            .collect();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let random_entry = |next: &mut dyn FnMut(u64) -> u64| {
            // 40 hashes (so that the same one comes back), spread over the top byte.
            let hash = 1 << 63 | (next(40) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 1;
            let flags = [0, NEW, PROTECTED][next(3) as usize];
            Pooled {
                hash,
                score: Score {
                    meta: Meta::new(next(50), flags),
                    freq: next(4) as u8,
                },
            }
        };
        let (mut pool, mut naive) = (Pool::new(), Naive::default());
        let mut r = rankers[0];
        for step in 0..20_000 {
            if next(8) == 0 {
                r = rankers[next(4) as usize];
            }
            match next(6) {
                0..=2 => {
                    let fresh: Vec<Pooled> =
                        (0..1 + next(4)).map(|_| random_entry(&mut next)).collect();
                    pool.feed(&fresh, &r);
                    for &p in &fresh {
                        naive.feed(p, &r);
                    }
                }
                3 => {
                    // As `pick` does: the best, re-scored or removed.
                    let Some(i) = pool.best(&r) else { continue };
                    let least = naive.0.iter().map(|p| r.rank(p.score)).min();
                    assert_eq!(Some(r.rank(pool.get(i).score)), least, "step {step}");
                    if next(2) == 0 {
                        pool.remove(i);
                        naive.0.swap_remove(i);
                    } else {
                        let p = Pooled {
                            hash: pool.get(i).hash,
                            ..random_entry(&mut next)
                        };
                        pool.set(i, p, &r);
                        naive.0[i] = p;
                    }
                }
                4 => {
                    let h = random_entry(&mut next).hash;
                    pool.remove_hash(h);
                    if let Some(i) = naive.0.iter().position(|q| q.hash == h) {
                        naive.0.swap_remove(i);
                    }
                }
                _ => {
                    let least = naive.0.iter().map(|p| r.rank(p.score)).min();
                    let best = pool.best(&r).map(|i| r.rank(pool.get(i).score));
                    assert_eq!(best, least, "step {step}");
                }
            }
            let entries: Vec<Pooled> = (0..pool.len).map(|i| pool.get(i)).collect();
            assert_eq!(entries, naive.0, "step {step}");
        }
    }
}
