//! The bounded cache: its state and eviction (`bound.rs`), the listener's queue
//! (`events.rs`), the statistics (`stats.rs`), and the eviction policy (the rest). The
//! policy is pure data structures: the map calls [`Policy::on_hit`],
//! [`Policy::on_insert`] and [`Policy::choose_victim`] (through `bound.rs`), and nothing
//! in the policy knows about the map.
//!
//! # The policy: sampled W-TinyLFU with a ghost-adapted window
//! W-TinyLFU (Einziger, Eytan, Friedman & Manes, "TinyLFU: A Highly Efficient Cache
//! Admission Policy", ACM ToS 2017) keeps a small *window* of recent inserts in front of
//! a *main* region, and lets an entry leaving the window (the *candidate*) into main only
//! if a frequency sketch says it is more popular than main's victim. Caffeine keeps both
//! regions as linked lists; a split-ordered hash table cannot (its order is hash order,
//! and a per-entry list would need a lock or a second lock-free structure). Here:
//!
//! - **Per entry**, one 8-byte [`AtomicMeta`] in the node: a stamp (the policy's insert
//!   clock at the entry's last refresh) and two flags, `NEW` (not yet judged) and
//!   `PROTECTED` (hit since it entered main).
//! - **The window** is a FIFO ring of the last inserts' *hashes* (`window.rs`): insert
//!   `n` names the hash inserted `len` inserts earlier as the candidate, and the map
//!   finds that entry by its hash. Its length adapts between 1 % and 100 % of the
//!   capacity from ghosts, as ARC's target size does (Megiddo & Modha, FAST 2003): a miss
//!   on a candidate that recently lost its contest grows it, a miss on a recently evicted
//!   main victim shrinks it.
//! - **Main's victim** is ranked the unprotected before the protected (a sampled
//!   segmented LRU), the least frequent first, then the oldest stamp; entries still in
//!   the window are spared. In a table of more than `2k` buckets it is the best of an
//!   *eviction pool* of 16 entries fed about 2 fresh ones per eviction by a hand over the
//!   buckets (`pool.rs`; but while no entry can have expired, a candidate that loses to
//!   the pool's best as it is goes without feeding it, 7 times in 8); in a smaller
//!   table, or when the thread's pool is busy, it is the best of `k = 16` entries the
//!   map samples at random.
//! - **The sketch** ([`FrequencySketch`]) has 4-bit counters, two 64-bit words per entry
//!   of capacity, halved every 20 recorded events per entry.
//! - **Expired entries are the first victims**: any expired entry the map shows (the
//!   candidate or a sampled one) is chosen before the policy looks at anything else.
//!
//! # Protocol (what the map calls)
//! 1. **Hit**: `policy.on_hit(hash, &node.meta)`.
//! 2. **Insert of a new key** (after a miss, or `insert` of an absent key):
//!    `let ins = policy.on_insert(hash)`; link the node with `AtomicMeta::new(ins.meta)`.
//!    If the map is now over capacity: look up the live entry whose hash is
//!    `ins.candidate` (the new node itself with a zero window; absent if it was removed
//!    meanwhile), take main's victim (the pool's best, or the best of
//!    `config().sample` random live entries), call `policy.choose_victim(candidate,
//!    &sample)` and remove the entry it names (cause `Size`). Removing the new entry
//!    itself is TinyLFU's rejection.
//! 3. **Removals, updates, expiry**: nothing to tell the policy.
//!
//! Each insert at capacity thus costs one sketch increment (4 counters in one line),
//! one ring slot write and read, one ghost slot read, one lookup by hash, the pool's
//! walk of a stretch of buckets (about 2 entries and their sketch lines) and one more
//! lookup by hash (or a sample of 16 entries with up to 17 sketch reads), and one or two
//! ghost/meta stores. While no entry can have expired, a candidate that loses to the
//! pool's best as it is goes without the walk nor the second lookup (two sketch reads
//! instead), and most evictions are such (`pool.rs`, "Judged before the walk"):
//! amortized
//! O(1), inside the inserting call, no queue, no background thread. Sketch halving is
//! O(capacity) once every `20 × capacity` events (amortized O(1); it could be spread
//! over inserts block by block if its pause matters).
//!
//! # Concurrency
//! Reads stay lock-free and write no shared line on a hit: `on_hit` loads the entry's
//! word and the clock, and stores only when the stamp is stale (older than
//! `capacity / 64` inserts) or the `PROTECTED` bit is clear; only then does it record
//! the hit in the sketch. The clock and the sketch's event count are `ticker.rs` counts:
//! per-thread shards published in batches of 16. Every policy word (metadata, sketch
//! counters, ring and ghost slots, window length) is a hint accessed with `Relaxed`
//! operations and no retry: racing updates may lose an increment, a refresh or a ghost,
//! which shifts one eviction choice and never the map's consistency. Nothing is
//! published through them, so no ordering is needed.
//!
//! # Memory
//! Per entry: 8 bytes of [`AtomicMeta`]. Per map, for capacity `C`: the sketch, 16 bytes
//! per entry of capacity rounded up to a power of two (16 to 32 bytes); the window ring, 8
//! bytes per entry; the ghosts, 8 bytes per slot for `C / 2` slots rounded up to a power of
//! two (4 to 8 bytes per entry); three cache-padded tickers and the window's cursor with
//! its block shards (`128 × (shards + 1)` bytes each). About 30 to 48 bytes per entry of
//! capacity in all ([`Policy::bytes`]), plus about 4.3 KiB of eviction pools (8
//! cache-padded shards and the hand, `pool.rs`), allocated with the policy even in a map
//! whose table stays too small to use them. The map allocates them when it first holds a
//! sixteenth of its capacity (Caffeine sizes its sketch lazily at half, but keeps recency
//! from the first entry; a policy created at half cost the map up to 1.3 points of hit
//! ratio: `bound.rs`, `POLICY_AT`), so that a large bound that is never approached costs
//! nothing.
//!
//! # Loom
//! The sketch and the ring are arrays of `crate::sync` atomics; under loom that is
//! thousands of tracked atomics for a small capacity. Loom models of the bounded map
//! should use a capacity of a few entries (the arrays have a floor of 8 words).

// The policy's tuning knobs and prototypes are used by its tests and the harness only.
#![cfg_attr(
    not(feature = "bench-internals"),
    allow(dead_code, unused_imports, unreachable_pub)
)]

mod bound;
mod climb;
mod events;
mod meta;
mod policy;
mod pool;
mod sketch;
mod stats;
mod ticker;
mod window;

pub use bound::RemovalCause;
pub(crate) use bound::{Bound, Options};
pub(crate) use events::Delivery;
pub use meta::{AtomicMeta, Meta};
pub use policy::{Choice, Config, HitRecord, Insert, MainOrder, Policy, Sampled};
pub use sketch::FrequencySketch;
pub use stats::Stats;
