//! The guards a map's operations run under, and the check that a guard belongs to the
//! map it is used with.
//!
//! A guard pins one map's epoch collector: while it lives, nothing that map retires
//! after the pin is freed. Used with *another* map it would protect nothing there, so
//! every guard-taking method first checks ([`HashMap::verify`]) that the guard was made
//! by this map, and panics otherwise, as papaya does. A guard borrows its map, so the
//! map it names is alive (and cannot move) while the guard is: what an operation
//! returns under a checked guard lives as long as the guard ([`Lengthen`]).

use std::fmt;
use std::mem::ManuallyDrop;

use super::{Compute, HashMap, OccupiedError};
use crate::reclaim::{self, Collector};

/// A guard of one map, from [`HashMap::guard`] (or inside [`HashMap::pin`]'s handle): what
/// it reads stays alive until it is dropped. Not `Send`.
///
/// # Examples
/// ```
/// let map = ttlmap::HashMap::new();
/// let guard = map.guard();
/// map.insert(1, "one", &guard);
/// assert_eq!(map.get(&1, &guard), Some(&"one"));
/// ```
///
/// ```compile_fail
/// // A reference read through a guard cannot outlive the guard.
/// let map = ttlmap::HashMap::new();
/// let value = {
///     let guard = map.guard();
///     map.insert(1, 1, &guard);
///     map.get(&1, &guard).unwrap()
/// };
/// println!("{value}");
/// ```
///
/// ```compile_fail
/// // A `LocalGuard` stays on its thread (use `owned_guard`).
/// fn assert_send<T: Send>(_: T) {}
/// let map: ttlmap::HashMap<u8, u8> = ttlmap::HashMap::new();
/// assert_send(map.guard());
/// ```
pub struct LocalGuard<'map> {
    /// Dropped by hand: [`Guard::refresh`] unpins before it pins again.
    inner: ManuallyDrop<reclaim::Guard<'map>>,
    collector: &'map Collector,
}

/// A guard from [`HashMap::owned_guard`] (or inside [`HashMap::pin_owned`]'s handle):
/// like [`LocalGuard`], but `Send`, so it may be held across an `.await`. It has a
/// reclamation registration of its own, which costs an allocation.
///
/// Unlike papaya's, it is not `Sync`: two threads must not run operations through one
/// guard at the same time (each would hand what it unlinks to the guard's unsynchronised
/// retirement list).
///
/// # Examples
/// ```
/// let map = ttlmap::HashMap::new();
/// let guard = map.owned_guard();
/// let map = &map;
/// std::thread::scope(|s| {
///     s.spawn(move || assert_eq!(map.insert(1, 2, &guard), None));
/// });
/// ```
pub struct OwnedGuard<'map> {
    /// Dropped by hand, as in [`LocalGuard`].
    inner: ManuallyDrop<reclaim::OwnedGuard<'map>>,
    collector: &'map Collector,
}

impl<'map> LocalGuard<'map> {
    #[inline]
    pub(crate) fn new(collector: &'map Collector) -> LocalGuard<'map> {
        LocalGuard {
            inner: ManuallyDrop::new(collector.pin()),
            collector,
        }
    }
}

impl<'map> OwnedGuard<'map> {
    pub(crate) fn new(collector: &'map Collector) -> OwnedGuard<'map> {
        OwnedGuard {
            inner: ManuallyDrop::new(collector.pin_owned()),
            collector,
        }
    }
}

impl Drop for LocalGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: dropped once: here, or in `refresh`, which always puts a new guard back.
        unsafe { ManuallyDrop::drop(&mut self.inner) }
    }
}

impl Drop for OwnedGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: as for `LocalGuard`.
        unsafe { ManuallyDrop::drop(&mut self.inner) }
    }
}

pub(crate) mod sealed {
    /// What the map needs from a guard. Public in a private module, so that the crate's
    /// reclamation types stay out of the public API.
    pub trait Sealed {
        /// The reclamation guard (a `crossbeam-epoch` pin of the map's collector).
        #[doc(hidden)]
        fn raw_guard(&self) -> &crate::reclaim::Guard<'_>;

        /// The address of the collector this guard pins: it names the map the guard
        /// belongs to. Only compared, never dereferenced.
        #[doc(hidden)]
        fn collector(&self) -> *const ();
    }
}

/// A guard of a map, accepted by every guard-taking method (`map.get(&k, &guard)`) and
/// held by the pinned handles. Sealed: the guards are [`LocalGuard`] and [`OwnedGuard`].
///
/// Generic code takes `&impl Guard`, and ties what it returns to the guard's lifetime:
/// ```
/// use ttlmap::Guard;
///
/// struct Metrics {
///     map: ttlmap::HashMap<String, Vec<u64>>,
/// }
///
/// impl Metrics {
///     fn guard(&self) -> impl Guard + '_ {
///         self.map.guard()
///     }
///
///     fn get<'g>(&self, name: &str, guard: &'g impl Guard) -> Option<&'g [u64]> {
///         Some(self.map.get(name, guard)?.as_slice())
///     }
/// }
///
/// let metrics = Metrics { map: ttlmap::HashMap::new() };
/// metrics.map.pin().insert("latency".to_string(), vec![3, 4]);
/// let guard = metrics.guard();
/// assert_eq!(metrics.get("latency", &guard), Some(&[3, 4][..]));
/// ```
pub trait Guard: sealed::Sealed {
    /// Ends this guard's pin and starts a new one, as dropping it and making a new guard
    /// would: what was removed from the map meanwhile may then be freed. It takes
    /// `&mut self`, so no reference obtained through the guard is alive.
    ///
    /// # Examples
    /// ```
    /// use ttlmap::Guard;
    /// let map = ttlmap::HashMap::new();
    /// let mut guard = map.guard();
    /// for i in 0..1000 {
    ///     map.insert(i % 10, i, &guard);
    ///     if i % 100 == 0 {
    ///         guard.refresh(); // let the replaced values go
    ///     }
    /// }
    /// assert_eq!(map.get(&9, &guard), Some(&999));
    /// ```
    fn refresh(&mut self);

    /// Asks this guard's drop to hand what its thread removed over to reclamation and to
    /// drive reclamation as far as other threads' pins allow, however little was
    /// removed. Nothing is freed while the guard lives.
    ///
    /// # Examples
    /// ```
    /// use ttlmap::Guard;
    /// let map = ttlmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, vec![0u8; 1024], &guard);
    /// map.remove(&1, &guard);
    /// guard.flush();
    /// drop(guard); // the vector is freed here (no other thread is pinned)
    /// ```
    fn flush(&self);
}

impl sealed::Sealed for LocalGuard<'_> {
    #[inline]
    fn raw_guard(&self) -> &reclaim::Guard<'_> {
        &self.inner
    }

    #[inline]
    fn collector(&self) -> *const () {
        (self.collector as *const Collector).cast()
    }
}

impl sealed::Sealed for OwnedGuard<'_> {
    #[inline]
    fn raw_guard(&self) -> &reclaim::Guard<'_> {
        &self.inner
    }

    #[inline]
    fn collector(&self) -> *const () {
        (self.collector as *const Collector).cast()
    }
}

/// A guard's `refresh`: ends the pin in `slot`, then pins again with `pin`, also while
/// unwinding from a destructor panic that the old guard's drop resumed (so `slot` is never
/// left dropped).
fn repin<T>(slot: &mut ManuallyDrop<T>, pin: impl FnOnce() -> T) {
    struct Repin<'a, T, F: FnOnce() -> T>(&'a mut ManuallyDrop<T>, Option<F>);
    impl<T, F: FnOnce() -> T> Drop for Repin<'_, T, F> {
        fn drop(&mut self) {
            if let Some(pin) = self.1.take() {
                *self.0 = ManuallyDrop::new(pin());
            }
        }
    }
    let repin = Repin(slot, Some(pin));
    // SAFETY: the old guard is dropped once, here; `repin` puts a new one in its place
    // before anything can read the slot again, even if this drop unwinds. The old guard
    // must end first: a pin taken while it lives would be nested in it, and the thread
    // would stay in its old epoch.
    unsafe { ManuallyDrop::drop(repin.0) };
    drop(repin);
}

impl Guard for LocalGuard<'_> {
    fn refresh(&mut self) {
        let collector = self.collector;
        repin(&mut self.inner, || collector.pin());
    }

    fn flush(&self) {
        self.inner.reclaim_on_drop();
    }
}

impl Guard for OwnedGuard<'_> {
    fn refresh(&mut self) {
        let collector = self.collector;
        repin(&mut self.inner, || collector.pin_owned());
    }

    fn flush(&self) {
        self.inner.reclaim_on_drop();
    }
}

impl fmt::Debug for LocalGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalGuard")
    }
}

impl fmt::Debug for OwnedGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnedGuard")
    }
}

impl<K, V, S> HashMap<K, V, S> {
    /// Checks that `guard` belongs to this map, and gives its reclamation guard back.
    ///
    /// What an operation returns under the guard may then be lengthened to the guard's
    /// lifetime ([`Lengthen`]).
    ///
    /// # Panics
    /// If `guard` was made by another map: it would not protect this map's entries.
    #[inline]
    pub(crate) fn verify<'g, G: Guard>(&self, guard: &'g G) -> &'g reclaim::Guard<'g> {
        if guard.collector() != (&self.collector as *const Collector).cast() {
            foreign_guard();
        }
        sealed::Sealed::raw_guard(guard)
    }
}

#[cold]
#[inline(never)]
fn foreign_guard() -> ! {
    panic!("ttlmap: a guard was used with a map other than the one that made it");
}

/// References returned by an operation of a map, lengthened to the lifetime `'g` of the
/// guard they were read under (the guard-based API returns them so, as papaya does).
pub(crate) trait Lengthen<'g> {
    type Out;

    /// # Safety
    /// - every reference in `self` points into an entry of a map `m` (a key, or a value
    ///   cell) that was reached under a guard that [`HashMap::verify`] accepted for `m`;
    /// - `'g` is at most the lifetime of that guard.
    ///
    /// Then it stays valid for `'g`: entries are separate allocations, freed only by
    /// reclamation once every guard that could have read them is gone (this one lives
    /// for `'g`), or by `m`'s drop or `shrink_to_fit` (`&mut`), which cannot happen while
    /// the guard borrows `m` (a guard borrows the map that made it, and the check made
    /// sure that map is `m`: two maps alive at once have distinct collectors).
    unsafe fn lengthen(self) -> Self::Out;
}

impl<'g, T: ?Sized + 'g> Lengthen<'g> for &T {
    type Out = &'g T;

    #[inline]
    unsafe fn lengthen(self) -> &'g T {
        // SAFETY: caller (see the trait).
        unsafe { &*(self as *const T) }
    }
}

impl<'g, A: Lengthen<'g>> Lengthen<'g> for Option<A> {
    type Out = Option<A::Out>;

    #[inline]
    unsafe fn lengthen(self) -> Self::Out {
        // SAFETY: caller.
        self.map(|a| unsafe { a.lengthen() })
    }
}

impl<'g, A: Lengthen<'g>, B: Lengthen<'g>> Lengthen<'g> for (A, B) {
    type Out = (A::Out, B::Out);

    #[inline]
    unsafe fn lengthen(self) -> Self::Out {
        // SAFETY: caller.
        unsafe { (self.0.lengthen(), self.1.lengthen()) }
    }
}

impl<'g, A: Lengthen<'g>, B: Lengthen<'g>> Lengthen<'g> for Result<A, B> {
    type Out = Result<A::Out, B::Out>;

    #[inline]
    unsafe fn lengthen(self) -> Self::Out {
        // SAFETY: caller.
        unsafe {
            match self {
                Ok(a) => Ok(a.lengthen()),
                Err(b) => Err(b.lengthen()),
            }
        }
    }
}

impl<'g, V: 'g> Lengthen<'g> for OccupiedError<'_, V> {
    type Out = OccupiedError<'g, V>;

    #[inline]
    unsafe fn lengthen(self) -> Self::Out {
        OccupiedError {
            // SAFETY: caller.
            current: unsafe { self.current.lengthen() },
            not_inserted: self.not_inserted,
        }
    }
}

impl<'g, K: 'g, V: 'g, T> Lengthen<'g> for Compute<'_, K, V, T> {
    type Out = Compute<'g, K, V, T>;

    #[inline]
    unsafe fn lengthen(self) -> Self::Out {
        // SAFETY: caller.
        unsafe {
            match self {
                Compute::Inserted(k, v) => Compute::Inserted(k.lengthen(), v.lengthen()),
                Compute::Updated { old, new } => Compute::Updated {
                    old: old.lengthen(),
                    new: new.lengthen(),
                },
                Compute::Removed(k, v) => Compute::Removed(k.lengthen(), v.lengthen()),
                Compute::Aborted(t) => Compute::Aborted(t),
            }
        }
    }
}
