//! Iterators over a map's live entries.

use std::fmt;
use std::marker::PhantomData;

use super::LocalGuard;
use crate::raw;

/// Iterator over the live entries of a map; see [`HashMapRef::iter`](super::HashMapRef::iter).
///
/// `G` is the guard the entries are borrowed from (as in papaya).
pub struct Iter<'g, K, V, G = LocalGuard<'g>> {
    raw: raw::Iter<'g, K, V>,
    _guard: PhantomData<&'g G>,
}

impl<'g, K, V, G> Iter<'g, K, V, G> {
    #[inline]
    pub(crate) fn new(raw: raw::Iter<'g, K, V>) -> Iter<'g, K, V, G> {
        Iter {
            raw,
            _guard: PhantomData,
        }
    }
}

// SAFETY: the iterator reads the list under the guard it borrows for `'g`; the guard
// stays pinned (on whichever thread holds it) until the borrow ends, so the nodes the
// iterator reaches stay allocated wherever it is moved. It hands out `&K` and `&V`
// (`K, V: Sync`), and the raw walk's pointers are only read through. `G: Send` keeps a
// `LocalGuard`'s iterator on its thread, as papaya's is.
unsafe impl<K: Sync, V: Sync, G: Send> Send for Iter<'_, K, V, G> {}

impl<'g, K, V, G> Iterator for Iter<'g, K, V, G> {
    type Item = (&'g K, &'g V);

    #[inline]
    fn next(&mut self) -> Option<(&'g K, &'g V)> {
        self.raw.next().map(|(k, c, _)| (k, &c.value))
    }
}

impl<K, V, G> fmt::Debug for Iter<'_, K, V, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Iter")
    }
}

/// Iterator over the keys of the live entries; see [`HashMapRef::keys`](super::HashMapRef::keys).
pub struct Keys<'g, K, V, G = LocalGuard<'g>> {
    pub(super) iter: Iter<'g, K, V, G>,
}

impl<'g, K, V, G> Iterator for Keys<'g, K, V, G> {
    type Item = &'g K;

    #[inline]
    fn next(&mut self) -> Option<&'g K> {
        self.iter.next().map(|(k, _)| k)
    }
}

impl<K, V, G> fmt::Debug for Keys<'_, K, V, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys")
    }
}

/// Iterator over the values of the live entries; see [`HashMapRef::values`](super::HashMapRef::values).
pub struct Values<'g, K, V, G = LocalGuard<'g>> {
    pub(super) iter: Iter<'g, K, V, G>,
}

impl<'g, K, V, G> Iterator for Values<'g, K, V, G> {
    type Item = &'g V;

    #[inline]
    fn next(&mut self) -> Option<&'g V> {
        self.iter.next().map(|(_, v)| v)
    }
}

impl<K, V, G> fmt::Debug for Values<'_, K, V, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Values")
    }
}
