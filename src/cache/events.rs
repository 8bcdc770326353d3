//! Calls to the eviction listener, queued by the engine and delivered when the public
//! operation that caused them is done with the map.
//!
//! The engine decides removals deep inside an operation (an insert sweeps expired
//! entries, an eviction removes others); running user code there would make every one of
//! those places unwind-safe for a panicking listener. Instead [`Bound::removed`] and
//! [`Bound::replaced`] push an event (pointers to the key and the value, which the
//! operation's guard keeps alive) onto a thread-local queue, and the operation, before it
//! returns, drops its [`Delivery`], which calls the listener for each event the operation
//! queued, in order. By then the map is consistent and the engine holds nothing: the
//! listener may call into the map (an operation it runs queues and delivers its own
//! events above ours).
//!
//! A panicking listener: the other events are still delivered, then the first panic is
//! resumed. During an unwind (a user closure panicked after some removals were decided)
//! the events are delivered and any listener panic is discarded (a second panic would
//! abort).
//!
//! Safety of the pointers: an event is queued only while a `Delivery` is alive on this
//! thread (else it is dropped: an engine path that forgot its `Delivery` loses a listener
//! call, never reads freed memory), and the `Delivery` is created after the guard that
//! protects the operation's reads and dropped before it.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};

use super::bound::{Bound, RemovalCause};

/// One queued listener call.
struct Event {
    /// Calls `bound`'s listener with `key` and `value` (monomorphised for the map's `K`,
    /// `V`).
    deliver: unsafe fn(*const (), *const (), *const (), RemovalCause),
    bound: *const (),
    key: *const (),
    value: *const (),
    cause: RemovalCause,
}

struct Queue {
    events: Vec<Event>,
    /// Live `Delivery`s on this thread.
    open: usize,
}

#[cfg(not(all(ttlmap_loom, feature = "loom")))]
thread_local! {
    static QUEUE: RefCell<Queue> = const {
        RefCell::new(Queue {
            events: Vec::new(),
            open: 0,
        })
    };
}

// Under loom, whose model threads all run on one OS thread, a `std` thread-local would be
// one queue shared by every model thread (and kept across the model's runs): one queue
// per model thread, as with real threads.
#[cfg(all(ttlmap_loom, feature = "loom"))]
loom::thread_local! {
    static QUEUE: RefCell<Queue> = RefCell::new(Queue {
        events: Vec::new(),
        open: 0,
    });
}

/// # Safety
/// - `bound`, `key`, `value` point to a live `Bound<K, V>`, `K` and `V`.
unsafe fn deliver<K, V>(bound: *const (), key: *const (), value: *const (), cause: RemovalCause) {
    // SAFETY: caller.
    let (bound, key, value) = unsafe {
        (
            &*(bound as *const Bound<K, V>),
            &*(key as *const K),
            &*(value as *const V),
        )
    };
    bound.call_listener(key, value, cause);
}

/// Queues a listener call for `key` and `value`, which must stay alive until the current
/// [`Delivery`] is dropped (the operation's guard keeps them).
pub(crate) fn push<K, V>(bound: &Bound<K, V>, key: &K, value: &V, cause: RemovalCause) {
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        debug_assert!(q.open > 0, "a removal decided outside any Delivery");
        if q.open == 0 {
            return;
        }
        q.events.push(Event {
            deliver: deliver::<K, V>,
            bound: bound as *const Bound<K, V> as *const (),
            key: key as *const K as *const (),
            value: value as *const V as *const (),
            cause,
        });
    });
}

/// Delivers, when dropped, the events queued since it was created; see the module docs.
/// Create it after the guard of the operation (so that it is dropped first).
pub(crate) struct Delivery {
    mark: usize,
}

impl Delivery {
    pub(crate) fn open() -> Delivery {
        QUEUE.with(|q| {
            let mut q = q.borrow_mut();
            q.open += 1;
            Delivery {
                mark: q.events.len(),
            }
        })
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        let events: Vec<Event> = QUEUE.with(|q| {
            let mut q = q.borrow_mut();
            let mark = self.mark.min(q.events.len());
            q.events.split_off(mark)
        });
        let unwinding = std::thread::panicking();
        let mut first: Option<Box<dyn Any + Send>> = None;
        for e in events {
            // SAFETY: queued under this `Delivery`, whose operation's guard still keeps
            // the key and value (module docs); the map (and its `Bound`) outlives it.
            let call = || unsafe { (e.deliver)(e.bound, e.key, e.value, e.cause) };
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(call)) {
                first.get_or_insert(p);
            }
        }
        QUEUE.with(|q| q.borrow_mut().open -= 1);
        if let Some(p) = first {
            if !unwinding {
                panic::resume_unwind(p);
            }
        }
    }
}
