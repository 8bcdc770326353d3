//! Time: the only source of "now" for expiry decisions.
//!
//! Deadlines are stored as `u64` ticks (nanoseconds on the clock's own time line).
//! [`NEVER`] means "no deadline" and [`EXPIRED`] (`0`) means "already expired"; every
//! other value is a real deadline. An entry is live while `now < deadline`.
//!
//! The default clock reads the operating system's monotonic clock in two ways. A
//! deadline is computed from the *precise* reading (`CLOCK_MONOTONIC`, ~20 ns through the
//! vDSO) when an entry is written; expiry is decided against the *coarse* reading
//! (`CLOCK_MONOTONIC_COARSE`, a few nanoseconds, updated every [`Clock::granularity`],
//! typically 1–4 ms), which every lookup that meets a deadline takes. Both read the same
//! time line, and the coarse clock is the precise one as of the kernel's last tick, so it
//! never runs ahead of it: an entry is never reported expired before its TTL has really
//! elapsed, and is reported expired once the coarse clock catches up, normally within
//! one granularity step (later only if the kernel's tick is delayed). Elsewhere both
//! readings come from [`std::time::Instant`]. A [`ManualClock`] and a user clock
//! ([`Clock::from_fn`]) have one reading, which serves as both.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::sync::{AtomicU64, Ordering};

/// A deadline that never comes. Bit 63 stays clear in every deadline: a cell's deadline
/// word uses it to mark the cell frozen (`raw/node.rs`).
pub(crate) const NEVER: u64 = (1 << 63) - 1;
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
/// [`ManualClock`] is advanced by hand, for deterministic tests; [`Clock::from_fn`] reads
/// any monotonic source (a simulation, tokio's paused time).
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
    Fn(Arc<dyn Fn() -> Duration + Send + Sync>),
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

    /// A clock that reads `now()`: the time elapsed on any monotonic time line of your
    /// choice (a simulation's, tokio's paused time, a clock shared with other
    /// components), from any origin. Both the time deadlines are computed from and the
    /// time expiry is decided against are `now()`, so expiry is exact: an entry written
    /// with TTL `t` at reading `r` expires at the first reading `≥ r + t`.
    ///
    /// `now` must never go backwards (an entry could otherwise come back to life until
    /// the clock passes its deadline again); it is called at most once per operation,
    /// from any thread, and only by operations that meet a deadline. Readings beyond
    /// about 292 years saturate.
    ///
    /// # Examples
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// // A simulation's clock, in milliseconds.
    /// let sim_ms = Arc::new(AtomicU64::new(0));
    /// let reading = sim_ms.clone();
    /// let clock = ttlmap::Clock::from_fn(move || {
    ///     Duration::from_millis(reading.load(Ordering::SeqCst))
    /// });
    /// let map = ttlmap::HashMap::builder().clock(clock).build();
    /// map.pin().insert_with_ttl("job", 1, Duration::from_millis(500));
    /// sim_ms.store(499, Ordering::SeqCst);
    /// assert_eq!(map.pin().get("job"), Some(&1));
    /// sim_ms.store(500, Ordering::SeqCst);
    /// assert_eq!(map.pin().get("job"), None);
    /// ```
    pub fn from_fn(now: impl Fn() -> Duration + Send + Sync + 'static) -> Clock {
        Clock {
            inner: ClockKind::Fn(Arc::new(now)),
        }
    }

    /// The step in which the clock that expiry is decided against advances: an entry is
    /// reported expired within about one step after its deadline, never before.
    ///
    /// # Examples
    /// ```
    /// use ttlmap::{Clock, ManualClock};
    /// assert_eq!(Clock::from(ManualClock::new()).granularity(), std::time::Duration::ZERO);
    /// ```
    pub fn granularity(&self) -> Duration {
        match &self.inner {
            ClockKind::System { granularity } => Duration::from_nanos(*granularity),
            ClockKind::Manual(_) | ClockKind::Fn(_) => Duration::ZERO,
        }
    }

    /// The time expiry is decided against, in ticks (nanoseconds on this clock's time
    /// line): the coarse reading, which never runs ahead of [`Clock::precise_now`].
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match &self.inner {
            ClockKind::System { .. } => system::coarse_nanos(),
            ClockKind::Manual(m) => m.now_nanos(),
            ClockKind::Fn(f) => fn_nanos(f()),
        }
    }

    /// The precise time, which deadlines are computed from (and `ttl` reports against).
    #[inline]
    pub(crate) fn precise_now(&self) -> u64 {
        match &self.inner {
            ClockKind::System { .. } => system::precise_nanos(),
            ClockKind::Manual(m) => m.now_nanos(),
            ClockKind::Fn(f) => fn_nanos(f()),
        }
    }

    /// The deadline of an entry written now with time-to-live `ttl`: the precise time
    /// plus `ttl`, so that no reading of [`Clock::now`] reaches it before `ttl` has
    /// really elapsed.
    ///
    /// `Duration::ZERO` gives [`EXPIRED`]; a TTL too large to represent saturates to
    /// [`NEVER`].
    #[inline]
    pub(crate) fn deadline_after(&self, ttl: Duration) -> u64 {
        if ttl.is_zero() {
            return EXPIRED;
        }
        let nanos = u64::try_from(ttl.as_nanos()).unwrap_or(NEVER);
        // Never collide with the reserved values: a real deadline is in MIN_DEADLINE..=NEVER.
        self.precise_now()
            .saturating_add(nanos)
            .clamp(MIN_DEADLINE, NEVER)
    }
}

/// The ticks of a user clock's reading: shifted by [`MIN_DEADLINE`] as `ManualClock`'s
/// are (so that a TTL set at reading zero is a real deadline), and kept below [`NEVER`]
/// (so that `now < NEVER` always holds and a saturated deadline is still "never").
#[inline]
fn fn_nanos(reading: Duration) -> u64 {
    u64::try_from(reading.as_nanos())
        .unwrap_or(u64::MAX)
        .saturating_add(MIN_DEADLINE)
        .min(NEVER - 1)
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
            ClockKind::Fn(_) => f.write_str("Clock::Fn"),
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
        //
        // The first read is an RMW (adding 0), not a load: loom's model checker never
        // scheduled a reader's loads after an `advance` that starts with a load (loom
        // model `get_vs_expiry` passed even with `get` judging entries 1000 s late, and
        // explored a quarter of `set_ttl_vs_purge`'s interleavings).
        let mut cur = self.nanos.fetch_add(0, Ordering::SeqCst);
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
    use crate::clock::NEVER;

    /// Nanoseconds on `clock`, never `0` (`EXPIRED`) nor [`NEVER`].
    #[inline]
    fn read(clock: libc::clockid_t) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; both clocks used here exist on every
        // Linux since 2.6.32 and the call cannot fail with valid arguments.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
            .clamp(1, NEVER - 1)
    }

    /// `CLOCK_MONOTONIC_COARSE`: the monotonic clock as of the kernel's last tick.
    #[inline]
    pub(super) fn coarse_nanos() -> u64 {
        read(libc::CLOCK_MONOTONIC_COARSE)
    }

    /// `CLOCK_MONOTONIC`: the same time line, read to the nanosecond (never behind the
    /// coarse reading).
    #[inline]
    pub(super) fn precise_nanos() -> u64 {
        read(libc::CLOCK_MONOTONIC)
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
    pub(super) fn precise_nanos() -> u64 {
        let origin = *ORIGIN.get_or_init(Instant::now);
        u64::try_from(origin.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .clamp(1, crate::clock::NEVER - 1)
    }

    #[inline]
    pub(super) fn coarse_nanos() -> u64 {
        precise_nanos()
    }

    pub(super) fn granularity_nanos() -> u64 {
        1
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::Clock;
    use crate::HashMap;
    use std::time::Duration;

    /// On the system clock an entry is absent as soon as the coarse clock (the one expiry
    /// is judged by) reaches the latest time its deadline can be: the map adds no
    /// lateness of its own to the coarse clock's lag behind the precise one (one
    /// granularity step while the kernel ticks on time; a test cannot bound a loaded
    /// kernel's tick, so that part is not asserted). Together with
    /// `tests/expiry.rs`'s never-early test this pins the deadline between the TTL and
    /// the TTL plus the coarse clock's lag. Fails if the deadline is padded by a step.
    #[test]
    fn system_clock_expiry_adds_no_lateness_to_the_coarse_clock() {
        let clock = Clock::system();
        let map: HashMap<u32, u32> = HashMap::builder().clock(clock.clone()).build();
        let gran = clock.granularity();
        for round in 0..20u32 {
            let ttl = Duration::from_millis(2) + gran * (round % 3);
            map.pin().insert_with_ttl(round, round, ttl);
            // The deadline was computed from a precise reading before this one.
            let latest_deadline = clock.precise_now() + ttl.as_nanos() as u64;
            while clock.now() < latest_deadline {
                std::hint::spin_loop();
            }
            assert_eq!(
                map.pin().get(&round),
                None,
                "round {round}: live after its deadline"
            );
            assert_eq!(map.pin().ttl(&round), None, "round {round}");
        }
    }
}
