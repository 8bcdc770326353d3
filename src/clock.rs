//! Time: the only source of "now" for expiry decisions.
//!
//! Deadlines are stored as `u64` ticks (nanoseconds on the clock's own time line).
//! [`NEVER`] (`u64::MAX`) means "no deadline" and [`EXPIRED`] (`0`) means "already
//! expired"; every other value is a real deadline. An entry is live while `now < deadline`.
//!
//! The default clock is the operating system's *coarse* monotonic clock
//! (`CLOCK_MONOTONIC_COARSE` on Linux, a few nanoseconds to read through the vDSO; its
//! step, typically 1–4 ms, is [`Clock::granularity`]). Elsewhere it falls back to
//! [`std::time::Instant`]. Deadlines are padded by one granularity step so that an
//! entry is never reported expired before its TTL has really elapsed; it is reported
//! expired at most two steps after.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::sync::{AtomicU64, Ordering};

/// A deadline that never comes.
pub(crate) const NEVER: u64 = u64::MAX;
/// A deadline that has always passed (`Duration::ZERO`, or claimed by an expirer).
pub(crate) const EXPIRED: u64 = 0;

/// The smallest real deadline: 1 and 2 are reserved as marks that a retired inline cell
/// carries in its deadline word (`raw/node.rs`, "The first cell lives in the node").
pub(crate) const MIN_DEADLINE: u64 = 3;

/// The remaining lifetime of an entry, as reported by
/// [`HashMapRef::ttl`](crate::HashMapRef::ttl).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// The entry has no deadline.
    Never,
    /// The entry expires after this much more time (rounded to the clock's granularity).
    In(Duration),
}

/// The time source of a map.
///
/// `Clock::system()` (the default) reads the operating system's coarse monotonic clock;
/// [`ManualClock`] is advanced by hand, for deterministic tests.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ttlmap::{HashMap, ManualClock};
///
/// let clock = ManualClock::new();
/// let map = HashMap::builder().clock(clock.clone()).build();
/// map.pin().insert_with_ttl("k", 1, Duration::from_secs(5));
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(map.pin().get("k"), None);
/// ```
#[derive(Clone)]
pub struct Clock {
    inner: ClockKind,
}

#[derive(Clone)]
enum ClockKind {
    System { granularity: u64 },
    Manual(ManualClock),
}

impl Clock {
    /// The operating system's coarse monotonic clock.
    ///
    /// # Examples
    /// ```
    /// let clock = ttlmap::Clock::system();
    /// assert!(clock.granularity() < std::time::Duration::from_millis(100));
    /// ```
    pub fn system() -> Clock {
        Clock {
            inner: ClockKind::System {
                granularity: system::granularity_nanos(),
            },
        }
    }

    /// The step in which this clock advances: expiry is decided to within two steps.
    ///
    /// # Examples
    /// ```
    /// use ttlmap::{Clock, ManualClock};
    /// assert_eq!(Clock::from(ManualClock::new()).granularity(), std::time::Duration::ZERO);
    /// ```
    pub fn granularity(&self) -> Duration {
        match &self.inner {
            ClockKind::System { granularity } => Duration::from_nanos(*granularity),
            ClockKind::Manual(_) => Duration::ZERO,
        }
    }

    /// Current time in ticks (nanoseconds on this clock's time line).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match &self.inner {
            ClockKind::System { .. } => system::now_nanos(),
            ClockKind::Manual(m) => m.now_nanos(),
        }
    }

    /// The deadline of an entry written at `now` with time-to-live `ttl`.
    ///
    /// `Duration::ZERO` gives [`EXPIRED`]; a TTL too large to represent saturates to
    /// [`NEVER`]; otherwise the deadline is padded by one granularity step.
    #[inline]
    pub(crate) fn deadline_after(&self, now: u64, ttl: Duration) -> u64 {
        if ttl.is_zero() {
            return EXPIRED;
        }
        let pad = match &self.inner {
            ClockKind::System { granularity } => *granularity,
            ClockKind::Manual(_) => 0,
        };
        let nanos = u64::try_from(ttl.as_nanos()).unwrap_or(NEVER);
        // Never collide with the reserved values: a real deadline is in MIN_DEADLINE..NEVER.
        now.saturating_add(nanos)
            .saturating_add(pad)
            .max(MIN_DEADLINE)
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            ClockKind::System { granularity } => f
                .debug_struct("Clock::System")
                .field("granularity_ns", granularity)
                .finish(),
            ClockKind::Manual(m) => f.debug_tuple("Clock::Manual").field(m).finish(),
        }
    }
}

impl From<ManualClock> for Clock {
    fn from(clock: ManualClock) -> Clock {
        Clock {
            inner: ClockKind::Manual(clock),
        }
    }
}

/// A clock that only moves when told to: for tests, simulations and model checking.
///
/// Clones share the same time.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let clock = ttlmap::ManualClock::new();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.elapsed(), Duration::from_millis(1500));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock at time zero.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ttlmap::ManualClock::new().elapsed(), std::time::Duration::ZERO);
    /// ```
    pub fn new() -> ManualClock {
        ManualClock {
            nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves time forward by `by` (saturating far in the future).
    ///
    /// # Examples
    /// ```
    /// let clock = ttlmap::ManualClock::new();
    /// clock.advance(std::time::Duration::from_secs(1));
    /// assert_eq!(clock.elapsed().as_secs(), 1);
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(NEVER);
        // Relaxed on the RMW itself would do for a counter, but a test that advances the
        // clock and then publishes that fact through another channel expects readers to
        // see the new time: SeqCst keeps the clock in the single total order.
        let mut cur = self.nanos.load(Ordering::SeqCst);
        loop {
            // Stay below NEVER so that `now < NEVER` always holds.
            let next = cur.saturating_add(by).min(NEVER - 1);
            match self
                .nanos
                .compare_exchange(cur, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The time elapsed on this clock since it was created.
    ///
    /// # Examples
    /// ```
    /// assert!(ttlmap::ManualClock::new().elapsed().is_zero());
    /// ```
    pub fn elapsed(&self) -> Duration {
        // SeqCst: as in `now_nanos`.
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }

    /// The reading the map sees: the elapsed nanoseconds shifted by [`MIN_DEADLINE`], so
    /// that even a 1 ns TTL set at time zero gives a real deadline, exactly 1 ns later.
    #[inline]
    fn now_nanos(&self) -> u64 {
        // SeqCst: pairs with the SeqCst RMW in `advance`, see there.
        let elapsed = self.nanos.load(Ordering::SeqCst);
        // `advance` keeps `elapsed` below NEVER - 1; stay below NEVER here too.
        elapsed.saturating_add(MIN_DEADLINE).min(NEVER - 1)
    }
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

#[cfg(target_os = "linux")]
mod system {
    /// Nanoseconds on `CLOCK_MONOTONIC_COARSE`, never `0` (`EXPIRED`) nor `u64::MAX`.
    #[inline]
    pub(super) fn now_nanos() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE exists on
        // every Linux since 2.6.32 and the call cannot fail with valid arguments.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
            .clamp(1, u64::MAX - 1)
    }

    pub(super) fn granularity_nanos() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: as in `now_nanos`.
        let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        if rc != 0 {
            return 10_000_000;
        }
        ((ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64).max(1)
    }
}

#[cfg(not(target_os = "linux"))]
mod system {
    use std::sync::OnceLock;
    use std::time::Instant;

    static ORIGIN: OnceLock<Instant> = OnceLock::new();

    #[inline]
    pub(super) fn now_nanos() -> u64 {
        let origin = *ORIGIN.get_or_init(Instant::now);
        u64::try_from(origin.elapsed().as_nanos())
            .unwrap_or(u64::MAX - 1)
            .clamp(1, u64::MAX - 1)
    }

    pub(super) fn granularity_nanos() -> u64 {
        1
    }
}
