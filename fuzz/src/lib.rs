//! Fuzzing interpreters for `ttlmap`.
//!
//! Each module exposes `pub fn run(data: &[u8])`, which panics on a divergence from the
//! model or a broken invariant. The libFuzzer targets in `fuzz_targets/` are one-line
//! wrappers; `src/bin/replay.rs` runs stored inputs on stable Rust without libFuzzer.

pub mod concurrent;
pub mod keys;
pub mod ops;

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static EXPECTING_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent for panics raised inside
/// [`expect_panic`] and defers to the previous hook otherwise.
///
/// This matters under libFuzzer: `libfuzzer-sys` installs a hook that calls
/// `process::abort()` on *every* panic (so that a panic is reported as a crash before
/// unwinding), which would turn deliberate, caught panics (a panicking `Hash`, a
/// panicking closure) into false crashes. Our hook is installed after libFuzzer's (on the
/// first input) and only wraps it.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !EXPECTING_PANIC.with(Cell::get) {
                prev(info);
            }
        }));
    });
}

/// Runs `f`, catching a panic raised by it (deliberately, by test code called from the
/// map: `Hash`, `Eq`, closures). `Err(())` if it panicked.
///
/// Model assertions must stay outside `f`: a failed assertion inside would be caught.
pub fn expect_panic<R>(f: impl FnOnce() -> R) -> Result<R, ()> {
    install_hook();
    let was = EXPECTING_PANIC.with(|e| e.replace(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    EXPECTING_PANIC.with(|e| e.set(was));
    r.map_err(drop)
}

/// Deadline of an entry written at `now` with `ttl`, on a `ManualClock`, per the
/// documented semantics: live iff `now < deadline`; `ZERO` is expired at once; a TTL
/// too large saturates to "never" (`u64::MAX`).
pub fn deadline_after(now: u64, ttl: std::time::Duration) -> u64 {
    if ttl.is_zero() {
        return 0;
    }
    let nanos = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
    now.saturating_add(nanos)
}

/// "No deadline".
pub const NEVER: u64 = u64::MAX;

/// A `ManualClock` reading after advancing `now` by `by` (it saturates below `NEVER`).
pub fn advanced(now: u64, by: std::time::Duration) -> u64 {
    let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
    now.saturating_add(by).min(NEVER - 1)
}

/// A fuzzer-chosen duration, biased towards interesting values.
#[derive(arbitrary::Arbitrary, Debug, Clone, Copy)]
pub enum Ttl {
    /// `Duration::ZERO`: expired at once.
    Zero,
    /// A few nanoseconds.
    Nanos(u8),
    /// Microseconds.
    Micros(u16),
    /// Seconds.
    Secs(u16),
    /// Any nanosecond count (near saturation too).
    AnyNanos(u64),
    /// Far beyond `u64` nanoseconds.
    HugeSecs(u64),
    /// `Duration::MAX`.
    Max,
}

impl Ttl {
    /// The duration.
    pub fn get(self) -> std::time::Duration {
        use std::time::Duration;
        match self {
            Ttl::Zero => Duration::ZERO,
            Ttl::Nanos(n) => Duration::from_nanos(n as u64),
            Ttl::Micros(n) => Duration::from_micros(n as u64),
            Ttl::Secs(n) => Duration::from_secs(n as u64),
            Ttl::AnyNanos(n) => Duration::from_nanos(n),
            Ttl::HugeSecs(s) => Duration::from_secs(s),
            Ttl::Max => Duration::MAX,
        }
    }
}
