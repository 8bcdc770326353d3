//! An opt-in background thread that purges a map's expired entries on a schedule.
//!
//! Ordinary writes reclaim expired entries (the incremental sweep), so a map in use needs
//! no janitor. A map that goes idle right after a mass expiry — a burst of sessions that
//! all time out, then no traffic — keeps that memory until its next writes; a
//! [`Janitor`] gives it back on its own.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::HashMap;

/// A background thread that calls [`HashMap::purge_expired`] every `interval`.
///
/// It holds only a weak reference to the map, and no pinned handle between runs, so it
/// never keeps the map alive nor holds its garbage back: it stops by itself once the map
/// is dropped (at its next run), or when the `Janitor` is dropped or
/// [stopped](Janitor::stop). Each purge frees the memory of what it unlinks before it
/// returns (see [`HashMap::purge_expired`]). A key's or value's panicking `Drop` during a
/// purge is reported by the panic hook and does not stop the janitor.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let sessions: Arc<ttlmap::HashMap<u64, String>> = Arc::new(
///     ttlmap::HashMap::builder().default_ttl(Duration::from_millis(50)).build(),
/// );
/// let janitor = ttlmap::Janitor::spawn(&sessions, Duration::from_millis(20));
/// sessions.pin().insert(1, "alice".to_string());
/// // No traffic at all: the janitor unlinks and frees the expired session.
/// while !sessions.is_empty() {
///     std::thread::sleep(Duration::from_millis(10));
/// }
/// janitor.stop();
/// ```
pub struct Janitor {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

/// The stop flag and the condition variable the janitor sleeps on.
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Janitor {
    /// Starts a thread that purges `map` every `interval` (the first purge one
    /// `interval` from now).
    ///
    /// # Panics
    /// If the thread cannot be spawned (as [`std::thread::spawn`]).
    pub fn spawn<K, V, S>(map: &Arc<HashMap<K, V, S>>, interval: Duration) -> Janitor
    where
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
        S: Send + Sync + 'static,
    {
        let weak: Weak<HashMap<K, V, S>> = Arc::downgrade(map);
        let stop = Arc::new(Stop {
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ttlmap-janitor".into())
            .spawn(move || run(&weak, interval, &thread_stop))
            .expect("failed to spawn the janitor thread");
        Janitor {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the janitor and waits for its thread to finish (a purge in progress
    /// completes first).
    pub fn stop(mut self) {
        self.shut_down();
    }

    /// Whether the janitor's thread has finished: it was stopped, or the map is gone.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    fn shut_down(&mut self) {
        *self
            .stop
            .stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.stop.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread catches the panics of the purges it runs; a join error could
            // only come from a panic outside them, which there is nothing to do about.
            let _ = thread.join();
        }
    }
}

/// The janitor thread: sleep, purge, until stopped or the map is gone.
fn run<K, V, S>(map: &Weak<HashMap<K, V, S>>, interval: Duration, stop: &Stop) {
    let mut stopped = stop.stopped.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let until = Instant::now() + interval;
        while !*stopped {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            stopped = stop
                .wake
                .wait_timeout(stopped, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if *stopped {
            return;
        }
        drop(stopped);
        let Some(map) = map.upgrade() else {
            return;
        };
        // A destructor's panic is resumed by the purge; it was reported by the hook.
        let _ = catch_unwind(AssertUnwindSafe(|| map.purge_expired()));
        // Dropping the last reference here drops the map on this thread (resuming a
        // destructor's panic, which the hook reported too).
        let _ = catch_unwind(AssertUnwindSafe(|| drop(map)));
        stopped = stop.stopped.lock().unwrap_or_else(PoisonError::into_inner);
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl fmt::Debug for Janitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Janitor")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}
