//! Request streams for the hit-ratio replay: the ARC traces and synthetic streams.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// A request stream, with its keys renumbered densely (`0..unique`) so that the
/// reference caches can use vectors instead of hash maps.
pub struct Trace {
    /// Short name (table captions, chart files).
    pub name: String,
    /// What the stream is.
    pub about: String,
    /// Requested key of each request, as dense ids.
    pub ids: Vec<u32>,
    /// Number of distinct keys.
    pub unique: usize,
    /// Cache sizes (entries) to replay the stream at.
    pub sizes: Vec<usize>,
}

impl Trace {
    fn from_keys(
        name: &str,
        about: String,
        keys: impl Iterator<Item = u64>,
        sizes: &[usize],
    ) -> Self {
        let mut dense: HashMap<u64, u32, foldhash::fast::FixedState> = HashMap::default();
        let ids = keys
            .map(|k| {
                let next = dense.len() as u32;
                *dense.entry(k).or_insert(next)
            })
            .collect();
        Trace {
            name: name.into(),
            about,
            ids,
            unique: dense.len(),
            sizes: sizes.to_vec(),
        }
    }

    /// The first `n` requests only (smoke runs).
    pub fn truncate(&mut self, n: usize) {
        self.ids.truncate(n);
    }

    /// For each request, the index of the next request of the same key (`u32::MAX` if
    /// none): Belady's input.
    pub fn next_use(&self) -> Vec<u32> {
        let mut last = vec![u32::MAX; self.unique];
        let mut next = vec![u32::MAX; self.ids.len()];
        for (i, &id) in self.ids.iter().enumerate().rev() {
            next[i] = last[id as usize];
            last[id as usize] = i as u32;
        }
        next
    }
}

/// A 64-bit hash of a dense id (SplitMix64's finalizer): the "map's hash" the policy
/// prototypes see, fixed so that runs repeat exactly.
#[inline]
pub fn hash_of(id: u32) -> u64 {
    let mut z = u64::from(id).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The multiplicative inverse of an odd `a` modulo 2^64 (Newton's iteration).
const fn inverse(a: u64) -> u64 {
    let mut x = a; // correct to 3 bits for odd a
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        i += 1;
    }
    x
}

/// Undoes `z ^= z >> s`.
#[inline]
fn unshift(z: u64, s: u32) -> u64 {
    let mut x = z;
    let mut k = s;
    while k < 64 {
        x = z ^ (x >> s);
        k += s;
    }
    x
}

/// The id whose [`hash_of`] is `h` (the finalizer is a bijection); a hash of no id
/// gives an id out of range or a large value.
#[inline]
pub fn id_of_hash(h: u64) -> u32 {
    const M1: u64 = inverse(0xbf58_476d_1ce4_e5b9);
    const M2: u64 = inverse(0x94d0_49bb_1331_11eb);
    let mut z = unshift(h, 31);
    z = unshift(z.wrapping_mul(M2), 27);
    z = unshift(z.wrapping_mul(M1), 30);
    let id = z.wrapping_sub(0x9e37_79b9_7f4a_7c15);
    u32::try_from(id).unwrap_or(u32::MAX)
}

/// A small deterministic generator (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; Lemire's multiply-shift, bias below 2^-32 here).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Where the ARC traces are: `$TTLMAP_TRACES`, else `../shared/traces` next to the
/// workspace.
pub fn trace_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("TTLMAP_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("..").join("shared").join("traces"))
}

/// Reads an ARC trace (`*.lis.zst`): each line `start count _ _` requests the blocks
/// `start .. start + count`, each block one key.
pub fn load_arc(path: &Path, name: &str, sizes: &[usize]) -> std::io::Result<Trace> {
    let file = std::fs::File::open(path)?;
    let reader = BufReader::new(zstd::stream::read::Decoder::new(file)?);
    let mut keys = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let mut f = line.split_ascii_whitespace();
        let bad =
            || std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad line: {line}"));
        let start: u64 = f.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let count: u64 = f.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        keys.extend(start..start + count);
    }
    let about = format!(
        "{} (ARC trace, Megiddo & Modha, FAST 2003): {} requests",
        path.file_name().unwrap_or_default().to_string_lossy(),
        keys.len()
    );
    Ok(Trace::from_keys(name, about, keys.into_iter(), sizes))
}

/// `len` requests drawn from a Zipf distribution of exponent `s` over `keys` keys.
pub fn zipf(s: f64, keys: usize, len: usize, seed: u64, sizes: &[usize]) -> Trace {
    let mut cdf = Vec::with_capacity(keys);
    let mut total = 0.0;
    for rank in 1..=keys {
        total += (rank as f64).powf(-s);
        cdf.push(total);
    }
    let mut rng = Rng(seed);
    let reqs = (0..len).map(|_| {
        let u = rng.unit() * total;
        cdf.partition_point(|&c| c < u).min(keys - 1) as u64
    });
    Trace::from_keys(
        &format!("zipf-{s}"),
        format!("Zipf, s = {s}, over {keys} keys: {len} requests"),
        reqs,
        sizes,
    )
}

/// A loop over `loop_len` keys in order, interleaved at random (half the requests each)
/// with uniform requests for a hot set of `hot` other keys.
pub fn loop_with_hot_set(
    loop_len: usize,
    hot: usize,
    len: usize,
    seed: u64,
    sizes: &[usize],
) -> Trace {
    let mut rng = Rng(seed);
    let mut pos = 0;
    let reqs = (0..len).map(|_| {
        if rng.next_u64() & 1 == 0 {
            pos = (pos + 1) % loop_len;
            (hot + pos) as u64
        } else {
            rng.below(hot) as u64
        }
    });
    Trace::from_keys(
        "loop",
        format!(
            "a loop over {loop_len} keys, every other request (at random) one of {hot} hot \
             keys: {len} requests"
        ),
        reqs,
        sizes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_of_hash_inverts_hash_of() {
        for id in [0, 1, 2, 12_345, u32::MAX - 1, u32::MAX] {
            assert_eq!(id_of_hash(hash_of(id)), id);
        }
    }
}
