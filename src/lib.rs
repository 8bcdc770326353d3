//! A lock-free concurrent hash map whose entries expire.
//!
//! `ttlmap::HashMap` is a drop-in for `Mutex<HashMap>` (or papaya, dashmap, or moka used
//! as a plain TTL map) in hot paths: reads take no lock and write nothing to shared
//! memory, writes are single CASes, the table grows without ever copying an entry, and
//! every entry may carry its own time-to-live. Expired entries vanish at once for every
//! operation *and* are reclaimed without anybody reading them again.
//!
//! # Usage
//! ```
//! use std::time::Duration;
//! use ttlmap::HashMap;
//!
//! let sessions: HashMap<u64, String> = HashMap::new();
//! std::thread::scope(|s| {
//!     for t in 0..4u64 {
//!         let sessions = &sessions;
//!         s.spawn(move || {
//!             let m = sessions.pin();
//!             m.insert_with_ttl(t, format!("user-{t}"), Duration::from_secs(30));
//!         });
//!     }
//! });
//! assert_eq!(sessions.pin().get(&2).map(String::as_str), Some("user-2"));
//! ```
//! The API follows papaya 0.2: operations go through a pinned handle, `map.pin()`, and
//! references into the map live as long as the handle.
//!
//! # Consistency
//! Every single-key operation is linearizable. `len` is approximate under concurrent
//! writes and counts entries that expired but were not yet swept (an upper bound on the
//! live entries). Iteration is weakly consistent: an entry live for the whole
//! iteration is seen exactly once; one inserted or removed meanwhile may or may not be.
//!
//! # Atomic operations
//! [`update`](HashMapRef::update), [`update_or_insert`](HashMapRef::update_or_insert),
//! [`get_or_insert_with`](HashMapRef::get_or_insert_with),
//! [`remove_if`](HashMapRef::remove_if) and [`compute`](HashMapRef::compute) are atomic
//! read-modify-writes: no update is lost, and of racing `get_or_insert_with` calls exactly
//! one value wins. Closures may run more than once and should be cheap and pure.
//!
//! # Expiry
//! An entry written with [`insert_with_ttl`](HashMapRef::insert_with_ttl) (or with the
//! builder's [`default_ttl`](HashMapBuilder::default_ttl)) expires `ttl` after the write.
//! Each operation reads the [`Clock`] at most once, and only if it meets an entry with a
//! deadline; an expired entry is absent to every operation from then on.
//! `Duration::ZERO` is expired at once; TTLs too large to represent (up to
//! `Duration::MAX`) mean "never".
//!
//! **Granularity.** A deadline is computed from the precise monotonic clock when the
//! entry is written; expiry is decided against the OS's coarse monotonic clock, which
//! is read in a few nanoseconds and steps every [`Clock::granularity`] (1–4 ms on Linux).
//! The coarse clock never runs ahead of the precise one, so an entry is never reported
//! expired before its TTL really elapsed; it is reported expired once the coarse clock
//! passes the deadline, normally within one granularity step (more only if the kernel's
//! timer tick is delayed). [`ttl`](HashMapRef::ttl) reports the remaining time against
//! the precise clock. A [`ManualClock`] makes time deterministic in tests.
//!
//! **Reclamation of expired entries.** Reads never write, so expired entries are
//! unlinked by writers: while the clock is past the earliest deadline in the map, every
//! write sweeps one bucket of the table (up to four while it keeps finding expired
//! entries), so an entry that expired is unlinked within `bucket count` writes started
//! after its expiry (the bucket count is at most twice the map's peak length, or its capacity hint), with no
//! background thread. Once a full cycle of the sweep (or a purge) finds no entry with a
//! deadline left, writes stop sweeping until a deadline is written again.
//! [`purge_expired`](HashMapRef::purge_expired) unlinks all expired entries at once. A
//! refresh ([`set_ttl`](HashMapRef::set_ttl), [`persist`](HashMapRef::persist)) and any
//! other change of the same entry (expiry, update, remove) are decided by one CAS, so a
//! refresh that reported success is never lost.
//!
//! # Memory reclamation and pinned handles
//! Removed entries are freed by epoch-based reclamation (crossbeam-epoch, one collector
//! per map): memory is freed once no handle pinned before its removal is still alive
//! (and the removing thread handed it over: each thread hands its retired entries to the
//! collector in batches of 64, when it drops a handle after a bulk removal, and when it
//! exits, so at most 63 per thread and map wait longer, until the map's drop at worst).
//! **A handle held for a long time delays the freeing of everything removed meanwhile**
//! (it does not block other threads); pin per operation or per short batch. When a
//! thread drops its last handle of a map after that handle removed many entries (a
//! `clear`, `retain` or `purge_expired` through it, a loop of removes), the drop frees
//! them before it returns unless another thread's handle still holds them back; a thread
//! that exits hands what it removed over to the others. Retiring an entry allocates
//! nothing: retired entries wait in a list threaded through their own memory. Dropping
//! the map drops every key and value it holds or has retired, exactly once, before
//! `drop` returns, so keys and values need not be `'static`.
//!
//! # Performance
//! The table is a split-ordered list (Shalev & Shavit, JACM 2006): lookups walk a short
//! chain from a bucket sentinel, and growth only adds sentinels, so no operation ever
//! waits for a resize. Entries without a deadline never read the clock. See
//! `BENCHMARKS.md` in the repository for measurements against the peers.
//!
//! - A capacity hint ([`HashMap::with_capacity`], [`HashMapBuilder::capacity`]) links
//!   that many buckets when the map is built (18 bytes each with its filter word, up to
//!   2^22 buckets), so
//!   that no lookup has to fall back to a coarser bucket while the map fills up.
//! - Each entry is one allocation (its first value is stored inline); a replaced value
//!   gets one more, freed when no pinned handle can still read the old one.
//! - Iteration, `retain` and `clear` take time proportional to the bucket count plus the
//!   length. The bucket count only grows with the map, but
//!   [`HashMap::shrink_to_fit`] gives the buckets back (it needs `&mut`).
//!
//! # Panics in user code
//! A panic in `Hash`, `Eq` or a closure passed to `update`, `get_or_insert_with`,
//! `compute`, `retain` and friends leaves the map consistent and leaks nothing.
//!
//! As with std's `HashMap`, an `Eq` that disagrees with `Hash` (or a key changed through
//! interior mutability while in the map) is a logic error: operations may then miss keys
//! or, for keys of at most a word without drop glue (which lookups compare along the
//! bucket before their hashes), return another key's entry; never undefined behaviour,
//! a leak or a double drop.
//!
//! A panicking `Drop` of a key or value is never undefined behaviour, never a double
//! drop and never a leak. The map drops a removed or replaced key or value later than
//! its removal, inside whichever call runs reclamation on whichever thread: pinning
//! ([`HashMap::pin`]) and dropping a handle, [`HashMap::purge_expired`],
//! [`HashMap::shrink_to_fit`], or dropping the map. The panic is caught there, the rest
//! of that reclamation completes (every other key and value is still dropped, all memory
//! freed), and the panic is then resumed at the end of that call, with the map
//! consistent: a handle's drop after unpinning (this includes a collection that ran
//! inside the `pin` that made the handle), the map's drop after dropping everything
//! else. Operations on a handle (`insert`,
//! `remove`, …) never run other entries' destructors, so they never raise such a panic.
//! If several destructors panic during one call, the first panic is resumed and the
//! others are dropped (each is reported by the panic hook when it happens); a panic
//! caught while the thread is already unwinding, or while it exits (thread-local
//! destructors), is dropped the same way. Your own values are yours: the value a failed
//! `try_insert` gives back, or a key `insert` did not need, is dropped by your code or
//! at once by the call, like std's map does.

#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(unreachable_pub)]

// The eviction policy of the bounded cache (not wired into the map yet). Public, hidden
// and unstable only with the `bench-internals` feature, for the hit-ratio harness.
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod cache;
#[cfg(not(feature = "bench-internals"))]
mod cache;
mod clock;
mod janitor;
mod map;
mod raw;
mod reclaim;
#[cfg(feature = "serde")]
pub mod serde;
mod set;
mod sync;

pub use crate::cache::{RemovalCause, Stats};
pub use crate::clock::{Clock, Expiry, ManualClock};
pub use crate::janitor::Janitor;
pub use crate::map::{
    Compute, Cursor, DefaultHashBuilder, Guard, HashMap, HashMapBuilder, HashMapRef, Iter, Keys,
    LocalGuard, OccupiedError, Operation, OwnedGuard, Scan, ScanPage, Values,
};
pub use crate::set::{HashSet, HashSetBuilder, HashSetRef, SetIter, SetScan};

/// Bytes of bucket-directory segments that maps of this process hold in memory mapped
/// directly from the kernel (large segments allocated while a map grows, and those of 2
/// MiB or more that a capacity hint allocates, on huge pages), which a
/// counting global allocator does not see. For the benchmarks' heap counts; not part of
/// the API.
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub fn mapped_bytes() -> usize {
    raw::mapped_bytes()
}

/// The bucket filter's key bits for `hash` (`raw/filter.rs`), for loom models that pick
/// keys whose bits differ and must notice if a change to the filter makes them coincide.
/// Not part of the API; loom builds only.
#[cfg(ttlmap_loom)]
#[doc(hidden)]
pub fn filter_mask(hash: u64) -> u16 {
    raw::filter_mask(hash)
}

/// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
