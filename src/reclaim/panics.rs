//! The policy for a panicking `Drop` of a key or value that reclamation runs.
//!
//! Reclamation runs other entries' destructors inside unrelated calls: a pin (crossbeam
//! collects every 128 pins), a handle's drop, a purge, the map's drop. If such a
//! destructor unwound through the map's code (or through crossbeam's collector, which
//! would leak the rest of its bag and can be left mid-operation), a later operation could
//! see a half-done state. So every destructor of a key or value that the map drops for
//! the user runs inside [`catching`]: the panic is caught, the rest of the free completes
//! (the other field, the memory, the other objects of the batch), and the first payload
//! is kept per thread. The public call during which it happened re-raises it with
//! [`resume`] once the map is consistent again: at the end of a handle's drop (which
//! covers a collection inside the `pin` that made the handle), of `shrink_to_fit`, or of
//! the map's drop.
//!
//! Further payloads caught before the first one is re-raised are dropped (after the
//! panic hook has reported each of them), as is a payload caught while the thread is
//! already unwinding (a second unwind would abort the process) or while it is exiting
//! (thread-local destructors cannot unwind either).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

type Payload = Box<dyn Any + Send + 'static>;

std::thread_local! {
    /// Whether `PAYLOAD` holds a payload (a `const` flag: the check on the fast path
    /// needs no lazy initialisation).
    static PENDING: Cell<bool> = const { Cell::new(false) };
    static PAYLOAD: RefCell<Option<Payload>> = const { RefCell::new(None) };
}

/// Runs user drop code, catching a panic for [`resume`].
#[inline]
pub(crate) fn catching(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        stash(payload);
    }
}

#[cold]
#[inline(never)]
fn stash(payload: Payload) {
    // Kept outside the closure: if the thread-local is gone, the closure never runs and
    // the payload must still be dropped under `catch_unwind`.
    let mut payload = Some(payload);
    let _ = PAYLOAD.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            if slot.is_none() {
                *slot = payload.take();
                PENDING.set(true);
            }
        }
    });
    if let Some(payload) = payload {
        drop_payload(payload);
    }
}

/// Drops a payload that will not be re-raised. Its own `Drop` may panic too: then it is
/// forgotten (a leak of one payload rather than an abort).
fn drop_payload(payload: Payload) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        std::mem::forget(again);
    }
}

/// Re-raises the first panic caught on this thread since the last call, if any — or
/// drops it if the thread is already unwinding. Call it only where the map is
/// consistent.
#[inline]
pub(crate) fn resume() {
    if PENDING.get() {
        resume_slow();
    }
}

#[cold]
#[inline(never)]
fn resume_slow() {
    PENDING.set(false);
    let Some(payload) = PAYLOAD
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten()
    else {
        return;
    };
    if std::thread::panicking() {
        drop_payload(payload);
    } else {
        resume_unwind(payload);
    }
}

/// Drops a caught payload without re-raising it (thread exit).
pub(crate) fn discard() {
    if PENDING.try_with(Cell::get).unwrap_or(false) {
        let _ = PENDING.try_with(|p| p.set(false));
        if let Some(payload) = PAYLOAD
            .try_with(|slot| slot.borrow_mut().take())
            .ok()
            .flatten()
        {
            drop_payload(payload);
        }
    }
}
