//! std traits of [`HashMap`].

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use super::{HashMap, HashMapBuilder};

impl<K, V, S> fmt::Debug for HashMap<K, V, S>
where
    K: fmt::Debug,
    V: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.pin().iter()).finish()
    }
}

impl<K, V, S> PartialEq for HashMap<K, V, S>
where
    K: Hash + Eq,
    V: PartialEq,
    S: BuildHasher,
{
    /// Equal when both hold the same live entries (deadlines are not compared).
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.pin(), other.pin());
        a.iter().count() == b.iter().count() && a.iter().all(|(k, v)| b.get(k) == Some(v))
    }
}

impl<K, V, S> Eq for HashMap<K, V, S>
where
    K: Hash + Eq,
    V: Eq,
    S: BuildHasher,
{
}

impl<K, V, S> Clone for HashMap<K, V, S>
where
    K: Clone + Hash + Eq,
    V: Clone,
    S: BuildHasher + Clone,
{
    /// A deep copy of the live entries, keeping each entry's deadline and sharing the
    /// clock, the bound, the weigher and the listener (the copy's inserts call it too;
    /// its statistics start at zero).
    fn clone(&self) -> HashMap<K, V, S> {
        let other = HashMapBuilder {
            capacity: self.len(),
            hasher: self.hasher.clone(),
            default_ttl: self.default_ttl,
            clock: self.clock.clone(),
            cache: self
                .raw
                .cache
                .as_ref()
                .map(|b| b.options())
                .unwrap_or_default(),
            _marker: PhantomData,
        }
        .build();
        {
            let (src, dst) = (self.guard(), other.guard());
            let (src, dst) = (self.verify(&src), other.verify(&dst));
            let mut now = other.now();
            for (k, cell, deadline) in self.raw.iter(&self.clock, src.protect()) {
                let (key, value) = (k.clone(), cell.value.clone());
                other.insert_deadline_in(key, value, deadline, &mut now, dst);
            }
        }
        other
    }
}

impl<K, V, S> Extend<(K, V)> for &HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    fn extend<T: IntoIterator<Item = (K, V)>>(&mut self, iter: T) {
        let m = self.pin();
        for (k, v) in iter {
            m.insert(k, v);
        }
    }
}

impl<'a, K, V, S> Extend<(&'a K, &'a V)> for &HashMap<K, V, S>
where
    K: Copy + Hash + Eq,
    V: Copy,
    S: BuildHasher,
{
    fn extend<T: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: T) {
        self.extend(iter.into_iter().map(|(&k, &v)| (k, v)));
    }
}

impl<K, V, S> FromIterator<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher + Default,
{
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let iter = iter.into_iter();
        let map = HashMap::with_capacity_and_hasher(iter.size_hint().0, S::default());
        (&map).extend(iter);
        map
    }
}

impl<K, V, const N: usize> From<[(K, V); N]> for HashMap<K, V>
where
    K: Hash + Eq,
{
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}
