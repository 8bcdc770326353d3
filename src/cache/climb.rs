//! Hill climbing of the window (Caffeine's `BoundedLocalCache.climb`), kept as a
//! measured alternative to the ghosts: every `period` requests, step the window in the
//! direction that last raised the hit rate; the step decays by 2 % a period and
//! restarts at 1/16 of the capacity when the hit rate moves by 5 points or more.
//!
//! It needs the hit count, so a climbing policy counts hits in per-thread shards; on the
//! ARC traces it adapted too slowly (`shared/docs/bench.md`, and the branch report).

use crate::sync::{AtomicU64, Ordering};

#[derive(Debug)]
pub(super) struct Climber {
    period: u64,
    capacity: u64,
    /// Requests and hits when the current period started.
    start: AtomicU64,
    start_hits: AtomicU64,
    /// Hit rate of the last period, in millionths.
    previous: AtomicU64,
    /// Current step, in entries, sign included (`i64` bits).
    step: AtomicU64,
}

impl Climber {
    pub(super) fn new(capacity: u64, period_per_entry: u32) -> Climber {
        Climber {
            period: u64::from(period_per_entry) * capacity.max(1),
            capacity,
            start: AtomicU64::new(0),
            start_hits: AtomicU64::new(0),
            previous: AtomicU64::new(0),
            step: AtomicU64::new((-(capacity as i64) / 16) as u64),
        }
    }

    /// With the published totals `hits` and `inserts`: if a period ended, one caller
    /// gets the window's new length from `window`.
    #[cold]
    pub(super) fn climb(&self, hits: u64, inserts: u64, window: u64) -> Option<u64> {
        let requests = hits + inserts;
        // Relaxed: tuning values; the CAS alone elects one caller per period.
        let start = self.start.load(Ordering::Relaxed);
        if requests < start + self.period
            || self
                .start
                .compare_exchange(start, requests, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return None;
        }
        let start_hits = self.start_hits.swap(hits, Ordering::Relaxed);
        let rate = hits.saturating_sub(start_hits) * 1_000_000 / (requests - start).max(1);
        let previous = self.previous.swap(rate, Ordering::Relaxed);
        let step = self.step.load(Ordering::Relaxed) as i64;
        let amount = if rate >= previous { step } else { -step };
        let next = if rate.abs_diff(previous) >= 50_000 {
            (self.capacity as i64 / 16) * amount.signum()
        } else {
            amount * 98 / 100
        };
        self.step.store(next as u64, Ordering::Relaxed);
        Some((window as i64 + amount).max(0) as u64)
    }
}
