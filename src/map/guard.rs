//! The guards a map's operations run under.

use std::fmt;

use crate::reclaim;

/// A guard of [`HashMap::pin`](crate::HashMap::pin): keeps what the handle reads alive. Not `Send`.
pub struct LocalGuard<'map> {
    pub(super) inner: reclaim::Guard<'map>,
}

/// A guard of [`HashMap::pin_owned`](crate::HashMap::pin_owned): like [`LocalGuard`], but `Send`.
pub struct OwnedGuard<'map> {
    pub(super) inner: reclaim::OwnedGuard<'map>,
}

pub(super) mod sealed {
    /// The guard a handle operates under. Public in a private module, so that the
    /// crate's reclamation types stay out of the public API.
    pub trait Sealed {
        #[doc(hidden)]
        fn raw_guard(&self) -> &crate::reclaim::Guard<'_>;
    }
}

/// The guards a [`HashMapRef`](crate::HashMapRef) can hold. Sealed.
pub trait Guard: sealed::Sealed {}

impl sealed::Sealed for LocalGuard<'_> {
    #[inline]
    fn raw_guard(&self) -> &reclaim::Guard<'_> {
        &self.inner
    }
}

impl sealed::Sealed for OwnedGuard<'_> {
    #[inline]
    fn raw_guard(&self) -> &reclaim::Guard<'_> {
        &self.inner
    }
}

impl Guard for LocalGuard<'_> {}
impl Guard for OwnedGuard<'_> {}

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
