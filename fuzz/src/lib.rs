//! Fuzzing interpreters for `ttlmap`.
//!
//! Each module exposes `pub fn run(data: &[u8])`, which panics on a divergence from the
//! model or a broken invariant. The libFuzzer targets in `fuzz_targets/` are one-line
//! wrappers; `src/bin/replay.rs` runs stored inputs on stable Rust without libFuzzer.

pub mod bounded;
pub mod concurrent;
pub mod keys;
pub mod ops;

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// The payload of every panic the interpreters raise on purpose (a panicking `Hash`,
/// `Eq` or user closure), naming where it came from. [`expect_panic`] catches these
/// panics and only these: any other panic (a failed `debug_assert!` or an overflow
/// inside the map, a model assertion) is a crash even when it happens inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedPanic(pub &'static str);

/// Panics with an [`InjectedPanic`] payload.
pub fn inject(what: &'static str) -> ! {
    panic::panic_any(InjectedPanic(what))
}

/// What the innermost running [`expect_panic`] or [`expect_documented_panic`] accepts.
#[derive(Debug, Clone, Copy)]
enum Expected {
    /// An [`InjectedPanic`].
    Injected,
    /// A panic of the library with exactly this message.
    Message(&'static str),
}

impl Expected {
    fn accepts(self, payload: &(dyn Any + Send)) -> bool {
        match self {
            Expected::Injected => payload.is::<InjectedPanic>(),
            Expected::Message(m) => message(payload) == Some(m),
        }
    }
}

/// The message of a `panic!` payload (`&'static str` or `String`).
fn message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

thread_local! {
    static EXPECTED: Cell<Option<Expected>> = const { Cell::new(None) };
}

/// Installs (once) a panic hook that stays silent for the panics that the running
/// [`expect_panic`] (or [`expect_documented_panic`]) accepts and defers to the previous
/// hook for every other panic.
///
/// This matters under libFuzzer: `libfuzzer-sys` installs a hook that calls
/// `process::abort()` on *every* panic (so that a panic is reported as a crash before
/// unwinding), which would turn deliberate, caught panics (a panicking `Hash`, a
/// panicking closure) into false crashes. Our hook is installed after libFuzzer's (on the
/// first input) and only wraps it, so an unexpected panic still aborts there, with its
/// message; without libFuzzer (the replay) the default hook prints it and
/// `expect_panic` lets it unwind on.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let accepted = EXPECTED
                .with(Cell::get)
                .is_some_and(|e| e.accepts(info.payload()));
            if !accepted {
                prev(info);
            }
        }));
    });
}

/// Runs `f` expecting `what`; `Err(payload)` if it panicked that way, and any other
/// panic goes on unwinding (after the hook reported it).
fn catch_expected<R>(what: Expected, f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    install_hook();
    let was = EXPECTED.with(|e| e.replace(Some(what)));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    EXPECTED.with(|e| e.set(was));
    match r {
        Ok(r) => Ok(r),
        Err(p) if what.accepts(&*p) => Err(p),
        Err(p) => panic::resume_unwind(p),
    }
}

/// Runs `f`, catching an [`InjectedPanic`] raised by test code that the map called
/// (`Hash`, `Eq`, closures): `Err` with its payload. Any other panic is not caught.
///
/// Model assertions must stay outside `f`: a failed assertion inside is not caught,
/// but it is reported as an unexpected panic rather than with the model's context.
pub fn expect_panic<R>(f: impl FnOnce() -> R) -> Result<R, InjectedPanic> {
    catch_expected(Expected::Injected, f).map_err(|p| {
        *p.downcast::<InjectedPanic>()
            .expect("accepted as an InjectedPanic")
    })
}

/// Runs `f`, catching a panic of the library whose message is exactly `msg` (a
/// documented panic, e.g. `compute` returning `Remove` for an absent key): `None` if it
/// panicked so. Any other panic is not caught.
pub fn expect_documented_panic<R>(msg: &'static str, f: impl FnOnce() -> R) -> Option<R> {
    catch_expected(Expected::Message(msg), f).ok()
}

/// The map's internal "no deadline" (`ttlmap`'s `clock::NEVER`, 2^63 − 1): bit 63 of a
/// deadline word is the map's frozen-cell marker, so deadlines stay below it.
const MAP_NEVER: u64 = (1 << 63) - 1;
/// `ManualClock` readings are the elapsed time shifted by this (the map's smallest real
/// deadline, `clock::MIN_DEADLINE`), so that a 1 ns TTL at time zero is a real deadline.
const SHIFT: u64 = 3;

/// Deadline of an entry written at `now` (elapsed time on a `ManualClock`) with `ttl`,
/// per the documented semantics — live iff `now < deadline`; `ZERO` is expired at once;
/// a TTL too large saturates to "never" — in elapsed time, reproducing where the map's
/// own arithmetic saturates: it adds `ttl` to its reading (`now + SHIFT`, capped below
/// `MAP_NEVER`) and a sum that reaches `MAP_NEVER` means "never".
pub fn deadline_after(now: u64, ttl: std::time::Duration) -> u64 {
    if ttl.is_zero() {
        return 0;
    }
    let nanos = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
    let reading = now.saturating_add(SHIFT).min(MAP_NEVER - 1);
    match reading.saturating_add(nanos) {
        d if d >= MAP_NEVER => NEVER,
        d => d - SHIFT,
    }
}

/// "No deadline".
pub const NEVER: u64 = u64::MAX;

/// A `ManualClock`'s elapsed time after advancing `now` by `by` (it saturates just below
/// the map's "never").
pub fn advanced(now: u64, by: std::time::Duration) -> u64 {
    let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
    now.saturating_add(by).min(MAP_NEVER - 1)
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
