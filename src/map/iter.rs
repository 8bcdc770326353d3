//! Iterators over a map's live entries.

use std::fmt;

use crate::raw;

/// Iterator over the live entries of a map; see [`HashMapRef::iter`](crate::HashMapRef::iter).
pub struct Iter<'g, K, V> {
    pub(super) raw: raw::Iter<'g, K, V>,
}

impl<'g, K, V> Iterator for Iter<'g, K, V> {
    type Item = (&'g K, &'g V);

    #[inline]
    fn next(&mut self) -> Option<(&'g K, &'g V)> {
        self.raw.next().map(|(k, c, _)| (k, &c.value))
    }
}

impl<K, V> fmt::Debug for Iter<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Iter")
    }
}

/// Iterator over the keys of the live entries; see [`HashMapRef::keys`](crate::HashMapRef::keys).
pub struct Keys<'g, K, V> {
    pub(super) iter: Iter<'g, K, V>,
}

impl<'g, K, V> Iterator for Keys<'g, K, V> {
    type Item = &'g K;

    #[inline]
    fn next(&mut self) -> Option<&'g K> {
        self.iter.next().map(|(k, _)| k)
    }
}

impl<K, V> fmt::Debug for Keys<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys")
    }
}

/// Iterator over the values of the live entries; see [`HashMapRef::values`](crate::HashMapRef::values).
pub struct Values<'g, K, V> {
    pub(super) iter: Iter<'g, K, V>,
}

impl<'g, K, V> Iterator for Values<'g, K, V> {
    type Item = &'g V;

    #[inline]
    fn next(&mut self) -> Option<&'g V> {
        self.iter.next().map(|(_, v)| v)
    }
}

impl<K, V> fmt::Debug for Values<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Values")
    }
}
