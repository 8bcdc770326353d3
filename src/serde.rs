//! serde support (feature `serde`).
//!
//! [`HashMap`] and [`HashSet`] serialize as a plain map / sequence of their live
//! entries, as std's do (and as papaya's do), and deserialize from one (every entry gets
//! the map's default TTL: none). A snapshot that keeps each entry's remaining TTL is
//! [`with_ttl`], for `#[serde(with = "ttlmap::serde::with_ttl")]`.
//!
//! ```
//! let map = ttlmap::HashMap::from([("a", 1)]);
//! let json = serde_json::to_string(&map).unwrap();
//! assert_eq!(json, r#"{"a":1}"#);
//! let back: ttlmap::HashMap<String, u32> = serde_json::from_str(&json).unwrap();
//! assert_eq!(back.pin().get("a"), Some(&1));
//! ```

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use ::serde::de::{MapAccess, SeqAccess, Visitor};
use ::serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::map::{Guard, HashMap, HashMapBuilder, HashMapRef};
use crate::set::{HashSet, HashSetRef};

/// A deserializer's size hint, trusted only up to this many entries (the input may lie;
/// the table grows on demand anyway).
const MAX_PREALLOCATE: usize = 1 << 12;

impl<K, V, S, G> Serialize for HashMapRef<'_, K, V, S, G>
where
    K: Serialize,
    V: Serialize,
    G: Guard,
{
    fn serialize<Sr: Serializer>(&self, serializer: Sr) -> Result<Sr::Ok, Sr::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<K, V, S> Serialize for HashMap<K, V, S>
where
    K: Serialize,
    V: Serialize,
{
    fn serialize<Sr: Serializer>(&self, serializer: Sr) -> Result<Sr::Ok, Sr::Error> {
        self.pin().serialize(serializer)
    }
}

impl<'de, K, V, S> Deserialize<'de> for HashMap<K, V, S>
where
    K: Deserialize<'de> + Hash + Eq,
    V: Deserialize<'de>,
    S: BuildHasher + Default,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// Builds the map it reads (`fn() -> …`: it owns no `K`, `V` or `S`).
#[allow(clippy::type_complexity)]
struct MapVisitor<K, V, S>(PhantomData<fn() -> HashMap<K, V, S>>);

impl<'de, K, V, S> Visitor<'de> for MapVisitor<K, V, S>
where
    K: Deserialize<'de> + Hash + Eq,
    V: Deserialize<'de>,
    S: BuildHasher + Default,
{
    type Value = HashMap<K, V, S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut access: M) -> Result<Self::Value, M::Error> {
        let capacity = access.size_hint().unwrap_or(0).min(MAX_PREALLOCATE);
        let map = HashMap::with_capacity_and_hasher(capacity, S::default());
        {
            let m = map.pin();
            while let Some((k, v)) = access.next_entry()? {
                m.insert(k, v);
            }
        }
        Ok(map)
    }
}

impl<K, S, G> Serialize for HashSetRef<'_, K, S, G>
where
    K: Serialize,
    G: Guard,
{
    fn serialize<Sr: Serializer>(&self, serializer: Sr) -> Result<Sr::Ok, Sr::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<K, S> Serialize for HashSet<K, S>
where
    K: Serialize,
{
    fn serialize<Sr: Serializer>(&self, serializer: Sr) -> Result<Sr::Ok, Sr::Error> {
        self.pin().serialize(serializer)
    }
}

impl<'de, K, S> Deserialize<'de> for HashSet<K, S>
where
    K: Deserialize<'de> + Hash + Eq,
    S: BuildHasher + Default,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(SetVisitor(PhantomData))
    }
}

struct SetVisitor<K, S>(PhantomData<fn() -> HashSet<K, S>>);

impl<'de, K, S> Visitor<'de> for SetVisitor<K, S>
where
    K: Deserialize<'de> + Hash + Eq,
    S: BuildHasher + Default,
{
    type Value = HashSet<K, S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let capacity = access.size_hint().unwrap_or(0).min(MAX_PREALLOCATE);
        let set = HashSet::with_capacity_and_hasher(capacity, S::default());
        {
            let s = set.pin();
            while let Some(k) = access.next_element()? {
                s.insert(k);
            }
        }
        Ok(set)
    }
}

/// A snapshot that keeps each entry's remaining time-to-live, for
/// `#[serde(with = "ttlmap::serde::with_ttl")]` on a [`HashMap`] or [`HashSet`] field.
///
/// A map is written as a map from each live key to `(value, ttl)`, a set as a sequence
/// of `(key, ttl)`, where `ttl` is `None` for an entry without a deadline and otherwise
/// the time it had left when it was written (a [`Duration`](std::time::Duration)).
/// Restoring inserts each entry with that TTL, counted from the restore on the restored
/// map's clock: the time between snapshot and restore does not count (a snapshot is
/// portable between clocks, processes and machines). Entries that expired before the
/// snapshot are not in it.
///
/// [`deserialize`](with_ttl::deserialize) builds the map with a default hasher and the
/// system clock; [`restore_map`](with_ttl::restore_map) and
/// [`restore_set`](with_ttl::restore_set) take a builder, for another clock, hasher or
/// capacity.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use serde::{Deserialize, Serialize};
/// use ttlmap::{Expiry, HashMap};
///
/// #[derive(Serialize, Deserialize)]
/// struct Cache {
///     #[serde(with = "ttlmap::serde::with_ttl")]
///     sessions: HashMap<String, u64>,
/// }
///
/// let cache = Cache { sessions: HashMap::new() };
/// cache.sessions.pin().insert_with_ttl("alice".into(), 1, Duration::from_secs(3600));
/// cache.sessions.pin().insert("admin".into(), 0);
/// let snapshot = serde_json::to_string(&cache).unwrap();
///
/// let restored: Cache = serde_json::from_str(&snapshot).unwrap();
/// let s = restored.sessions.pin();
/// assert!(matches!(s.ttl("alice"), Some(Expiry::In(left)) if left <= Duration::from_secs(3600)));
/// assert_eq!(s.ttl("admin"), Some(Expiry::Never));
/// ```
pub mod with_ttl {
    use std::fmt;
    use std::hash::{BuildHasher, Hash};
    use std::marker::PhantomData;
    use std::time::Duration;

    use ::serde::de::{MapAccess, SeqAccess, Visitor};
    use ::serde::ser::{SerializeMap, SerializeSeq};
    use ::serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::MAX_PREALLOCATE;
    use crate::clock::NEVER;
    use crate::map::{HashMap, HashMapBuilder};
    use crate::set::{HashSet, HashSetBuilder};

    mod sealed {
        pub trait Sealed {}
    }

    impl<K, V, S> sealed::Sealed for HashMap<K, V, S> {}
    impl<K, S> sealed::Sealed for HashSet<K, S> {}
    impl<T: sealed::Sealed + ?Sized> sealed::Sealed for &T {}

    /// What [`serialize`] writes: a [`HashMap`] or a [`HashSet`] (or a reference to
    /// one). Sealed.
    pub trait SerializeWithTtl: sealed::Sealed {
        #[doc(hidden)]
        fn serialize_with_ttl<Sr: Serializer>(&self, serializer: Sr) -> Result<Sr::Ok, Sr::Error>;
    }

    impl<T: SerializeWithTtl + ?Sized> SerializeWithTtl for &T {
        fn serialize_with_ttl<Sr: Serializer>(&self, serializer: Sr) -> Result<Sr::Ok, Sr::Error> {
            (**self).serialize_with_ttl(serializer)
        }
    }

    /// What [`deserialize`] reads: a [`HashMap`] or a [`HashSet`] with a default hasher.
    /// Sealed.
    pub trait DeserializeWithTtl<'de>: sealed::Sealed + Sized {
        #[doc(hidden)]
        fn deserialize_with_ttl<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
    }

    /// Writes the live entries of `value` with their remaining TTLs.
    ///
    /// # Examples
    /// ```
    /// let map = ttlmap::HashMap::from([("k", 1)]);
    /// let mut json = Vec::new();
    /// ttlmap::serde::with_ttl::serialize(&map, &mut serde_json::Serializer::new(&mut json))
    ///     .unwrap();
    /// assert_eq!(String::from_utf8(json).unwrap(), r#"{"k":[1,null]}"#);
    /// ```
    pub fn serialize<T, Sr>(value: &T, serializer: Sr) -> Result<Sr::Ok, Sr::Error>
    where
        T: SerializeWithTtl + ?Sized,
        Sr: Serializer,
    {
        value.serialize_with_ttl(serializer)
    }

    /// Reads a snapshot written by [`serialize`] into a new map or set (default hasher,
    /// system clock), each entry with its TTL from now.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ttlmap::{Expiry, HashMap};
    /// let json = r#"{"k":[1,{"secs":5,"nanos":0}]}"#;
    /// let map: HashMap<String, u32> =
    ///     ttlmap::serde::with_ttl::deserialize(&mut serde_json::Deserializer::from_str(json))
    ///         .unwrap();
    /// assert!(matches!(map.pin().ttl("k"), Some(Expiry::In(d)) if d <= Duration::from_secs(5)));
    /// ```
    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: DeserializeWithTtl<'de>,
        D: Deserializer<'de>,
    {
        T::deserialize_with_ttl(deserializer)
    }

    /// Reads a map snapshot written by [`serialize`] into a map built by `builder` (its
    /// clock, hasher, capacity and default TTL; the TTLs in the snapshot win).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ttlmap::{Expiry, HashMap, ManualClock};
    /// let clock = ManualClock::new();
    /// let json = r#"{"k":[1,{"secs":5,"nanos":0}]}"#;
    /// let mut de = serde_json::Deserializer::from_str(json);
    /// let builder = HashMap::<String, u32>::builder().clock(clock.clone());
    /// let map = ttlmap::serde::with_ttl::restore_map(builder, &mut de).unwrap();
    /// assert_eq!(map.pin().ttl("k"), Some(Expiry::In(Duration::from_secs(5))));
    /// clock.advance(Duration::from_secs(5));
    /// assert_eq!(map.pin().get("k"), None);
    /// ```
    pub fn restore_map<'de, K, V, S, D>(
        builder: HashMapBuilder<K, V, S>,
        deserializer: D,
    ) -> Result<HashMap<K, V, S>, D::Error>
    where
        K: Deserialize<'de> + Hash + Eq,
        V: Deserialize<'de>,
        S: BuildHasher,
        D: Deserializer<'de>,
    {
        deserializer.deserialize_map(MapVisitor(Some(builder), PhantomData))
    }

    /// Reads a set snapshot written by [`serialize`] into a set built by `builder`.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ttlmap::{HashSet, ManualClock};
    /// let clock = ManualClock::new();
    /// let json = r#"[["nonce",{"secs":30,"nanos":0}]]"#;
    /// let mut de = serde_json::Deserializer::from_str(json);
    /// let builder = HashSet::<String>::builder().clock(clock.clone());
    /// let set = ttlmap::serde::with_ttl::restore_set(builder, &mut de).unwrap();
    /// assert!(set.pin().contains("nonce"));
    /// clock.advance(Duration::from_secs(30));
    /// assert!(!set.pin().contains("nonce"));
    /// ```
    pub fn restore_set<'de, K, S, D>(
        builder: HashSetBuilder<K, S>,
        deserializer: D,
    ) -> Result<HashSet<K, S>, D::Error>
    where
        K: Deserialize<'de> + Hash + Eq,
        S: BuildHasher,
        D: Deserializer<'de>,
    {
        let map =
            deserializer.deserialize_seq(SetVisitor(Some(builder.into_map()), PhantomData))?;
        Ok(HashSet::from_map(map))
    }

    /// The live entries of `map` with the time each has left (`None`: no deadline),
    /// each judged against a precise reading of the map's clock taken when it is read.
    fn entries_with_ttl<K, V, S>(
        map: &HashMap<K, V, S>,
        mut each: impl FnMut(&K, &V, Option<Duration>) -> Result<(), ()>,
    ) -> Result<(), ()> {
        let guard = map.guard();
        let g = map.verify(&guard);
        for (k, cell, deadline) in map.raw.iter(&map.clock, g.protect()) {
            let ttl = if deadline == NEVER {
                None
            } else {
                let now = map.clock.precise_now();
                if deadline <= now {
                    continue; // expired since the walk judged it live
                }
                Some(Duration::from_nanos(deadline - now))
            };
            each(k, &cell.value, ttl)?;
        }
        Ok(())
    }

    impl<K, V, S> SerializeWithTtl for HashMap<K, V, S>
    where
        K: Serialize,
        V: Serialize,
    {
        fn serialize_with_ttl<Sr: Serializer>(&self, serializer: Sr) -> Result<Sr::Ok, Sr::Error> {
            let mut out = serializer.serialize_map(None)?;
            let mut error = None;
            let _ = entries_with_ttl(self, |k, v, ttl| {
                out.serialize_entry(k, &(v, ttl))
                    .map_err(|e| error = Some(e))
            });
            match error {
                Some(e) => Err(e),
                None => out.end(),
            }
        }
    }

    impl<K, S> SerializeWithTtl for HashSet<K, S>
    where
        K: Serialize,
    {
        fn serialize_with_ttl<Sr: Serializer>(&self, serializer: Sr) -> Result<Sr::Ok, Sr::Error> {
            let mut out = serializer.serialize_seq(None)?;
            let mut error = None;
            let _ = entries_with_ttl(self.as_map(), |k, _, ttl| {
                out.serialize_element(&(k, ttl))
                    .map_err(|e| error = Some(e))
            });
            match error {
                Some(e) => Err(e),
                None => out.end(),
            }
        }
    }

    impl<'de, K, V, S> DeserializeWithTtl<'de> for HashMap<K, V, S>
    where
        K: Deserialize<'de> + Hash + Eq,
        V: Deserialize<'de>,
        S: BuildHasher + Default,
    {
        fn deserialize_with_ttl<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            restore_map(HashMap::builder().hasher(S::default()), deserializer)
        }
    }

    impl<'de, K, S> DeserializeWithTtl<'de> for HashSet<K, S>
    where
        K: Deserialize<'de> + Hash + Eq,
        S: BuildHasher + Default,
    {
        fn deserialize_with_ttl<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            restore_set(HashSet::builder().hasher(S::default()), deserializer)
        }
    }

    /// Inserts `key` → `value` with the TTL of a snapshot (`None`: no deadline), whatever
    /// the map's default TTL.
    fn restore_one<K: Hash + Eq, V, S: BuildHasher>(
        map: &HashMap<K, V, S>,
        key: K,
        value: V,
        ttl: Option<Duration>,
        guard: &impl crate::Guard,
    ) {
        let g = map.verify(guard);
        map.insert_in(key, value, ttl, g);
    }

    struct MapVisitor<K, V, S>(Option<HashMapBuilder<K, V, S>>, PhantomData<fn() -> (K, V)>);

    impl<'de, K, V, S> Visitor<'de> for MapVisitor<K, V, S>
    where
        K: Deserialize<'de> + Hash + Eq,
        V: Deserialize<'de>,
        S: BuildHasher,
    {
        type Value = HashMap<K, V, S>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of keys to (value, remaining TTL)")
        }

        fn visit_map<M: MapAccess<'de>>(mut self, mut access: M) -> Result<Self::Value, M::Error> {
            let capacity = access.size_hint().unwrap_or(0).min(MAX_PREALLOCATE);
            let builder = self.0.take().expect("a visitor is used once");
            let map = builder.capacity_hint(capacity).build();
            {
                let guard = map.guard();
                while let Some((k, (v, ttl))) = access.next_entry::<K, (V, Option<Duration>)>()? {
                    restore_one(&map, k, v, ttl, &guard);
                }
            }
            Ok(map)
        }
    }

    struct SetVisitor<K, S>(Option<HashMapBuilder<K, (), S>>, PhantomData<fn() -> K>);

    impl<'de, K, S> Visitor<'de> for SetVisitor<K, S>
    where
        K: Deserialize<'de> + Hash + Eq,
        S: BuildHasher,
    {
        type Value = HashMap<K, (), S>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a sequence of (key, remaining TTL)")
        }

        fn visit_seq<A: SeqAccess<'de>>(mut self, mut access: A) -> Result<Self::Value, A::Error> {
            let capacity = access.size_hint().unwrap_or(0).min(MAX_PREALLOCATE);
            let builder = self.0.take().expect("a visitor is used once");
            let map = builder.capacity_hint(capacity).build();
            {
                let guard = map.guard();
                while let Some((k, ttl)) = access.next_element::<(K, Option<Duration>)>()? {
                    restore_one(&map, k, (), ttl, &guard);
                }
            }
            Ok(map)
        }
    }
}

impl<K, V, S> HashMapBuilder<K, V, S> {
    /// Raises the capacity hint to at least `capacity` (a deserializer's size hint).
    fn capacity_hint(self, capacity: usize) -> Self {
        let at_least = self.capacity.max(capacity);
        self.capacity(at_least)
    }
}
