//! `keys`: byte-string keys (`Vec<u8>` looked up by `&[u8]`, `String` looked up by
//! `&str`), an adversarial hasher whose output the input controls (down to a constant:
//! every key collides), and keys whose `Hash`/`Eq` panic on an input-chosen call.
//!
//! Every operation runs under `catch_unwind`; one that panicked (in `Hash`/`Eq` only —
//! nothing else here panics) must count as not having happened: the map must still
//! equal the model, which is left untouched. Only the injected panic is caught (its
//! payload is an [`InjectedPanic`], raised when the armed countdown reaches zero); any
//! other panic, e.g. a `debug_assert!` or an overflow inside the map while a countdown
//! is armed, is a crash.

use std::borrow::Borrow;
use std::cell::Cell;
use std::collections::HashMap as StdMap;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use ttlmap::{HashMap, ManualClock};

use crate::{advanced, deadline_after, expect_panic, inject, InjectedPanic, NEVER};

thread_local! {
    /// 0: disarmed. n > 0: the n-th `Hash`/`Eq` call from now panics.
    static COUNTDOWN: Cell<u32> = const { Cell::new(0) };
}

/// The [`InjectedPanic`] of a key's `Hash`/`Eq`.
const HASH_EQ: &str = "keys: Hash/Eq countdown";

fn tick() {
    COUNTDOWN.with(|c| match c.get() {
        0 => {}
        1 => {
            c.set(0);
            inject(HASH_EQ);
        }
        n => c.set(n - 1),
    });
}

fn arm(n: Option<u8>) {
    COUNTDOWN.with(|c| c.set(n.map_or(0, |n| n as u32 + 1)));
}

fn disarm() {
    COUNTDOWN.with(|c| c.set(0));
}

/// A byte-string key whose `Hash`/`Eq` may panic. Hashes exactly like `[u8]`.
#[derive(Clone, Debug)]
pub struct BytesKey(Vec<u8>);

impl Hash for BytesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        tick();
        self.0.as_slice().hash(state);
    }
}
impl PartialEq for BytesKey {
    fn eq(&self, other: &Self) -> bool {
        tick();
        self.0 == other.0
    }
}
impl Eq for BytesKey {}
impl Borrow<[u8]> for BytesKey {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// A string key whose `Hash`/`Eq` may panic. Hashes exactly like `str`.
#[derive(Clone, Debug)]
pub struct StrKey(String);

impl Hash for StrKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        tick();
        self.0.as_str().hash(state);
    }
}
impl PartialEq for StrKey {
    fn eq(&self, other: &Self) -> bool {
        tick();
        self.0 == other.0
    }
}
impl Eq for StrKey {}
impl Borrow<str> for StrKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

trait TestKey: Hash + Eq + Clone + Debug + Borrow<Self::Q> {
    /// The borrowed form (`[u8]`, `str`): std `Hash`/`Eq`, never panics.
    type Q: ?Sized + Hash + Eq + Debug;
    fn make(bytes: Vec<u8>) -> Self;
    fn bytes(&self) -> &[u8];
    fn q(&self) -> &Self::Q {
        self.borrow()
    }
}

impl TestKey for BytesKey {
    type Q = [u8];
    fn make(bytes: Vec<u8>) -> Self {
        BytesKey(bytes)
    }
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl TestKey for StrKey {
    type Q = str;
    fn make(bytes: Vec<u8>) -> Self {
        StrKey(String::from_utf8_lossy(&bytes).into_owned())
    }
    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// How the adversarial hasher turns the bytes fed to it into a hash.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum HashMode {
    /// Every key collides on this hash.
    Constant(u64),
    /// FNV-1a, low `bits % 65` bits kept (few bits: many collisions).
    Masked(u8),
    /// FNV-1a, only the top 16 bits kept (collisions in the bits a split-ordered table
    /// uses last).
    HighOnly,
    /// FNV-1a xor a constant.
    Xor(u64),
    /// The first eight bytes written, little-endian (input-chosen hashes).
    Raw,
}

/// `BuildHasher` of [`AdvHasher`].
#[derive(Debug, Clone, Copy)]
pub struct AdvState(HashMode);

/// A hasher the input controls.
#[derive(Debug)]
pub struct AdvHasher {
    mode: HashMode,
    fnv: u64,
    raw: u64,
    n: usize,
}

impl BuildHasher for AdvState {
    type Hasher = AdvHasher;
    fn build_hasher(&self) -> AdvHasher {
        AdvHasher {
            mode: self.0,
            fnv: 0xcbf2_9ce4_8422_2325,
            raw: 0,
            n: 0,
        }
    }
}

impl Hasher for AdvHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.fnv = (self.fnv ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            if self.n < 8 {
                self.raw |= (b as u64) << (8 * self.n);
            }
            self.n += 1;
        }
    }
    fn finish(&self) -> u64 {
        match self.mode {
            HashMode::Constant(c) => c,
            HashMode::Masked(bits) => match bits % 65 {
                64 => self.fnv,
                b => self.fnv & ((1u64 << b) - 1),
            },
            HashMode::HighOnly => self.fnv & 0xffff_0000_0000_0000,
            HashMode::Xor(x) => self.fnv ^ x,
            HashMode::Raw => self.raw,
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum KeySel {
    /// One of 16 one-byte keys (plenty of hits).
    Small(u8),
    /// Any byte string.
    Bytes(Vec<u8>),
}

impl KeySel {
    fn bytes(&self) -> Vec<u8> {
        match self {
            KeySel::Small(b) => vec![b'a' + b % 16],
            KeySel::Bytes(v) => v.clone(),
        }
    }
}

/// `Some(n)`: the n-th (0-based) `Hash`/`Eq` call of the operation panics.
type Countdown = Option<u8>;

#[derive(Arbitrary, Debug, Clone)]
enum KOp {
    Insert(KeySel, u32, Countdown),
    InsertWithTtl(KeySel, u32, u8, Countdown),
    /// `by_key`: look up with `&K` (whose Hash/Eq may panic) rather than `&Q`.
    Get(KeySel, bool, Countdown),
    GetKeyValue(KeySel, bool, Countdown),
    ContainsKey(KeySel, bool, Countdown),
    Remove(KeySel, bool, Countdown),
    RemoveEntry(KeySel, bool, Countdown),
    TryInsert(KeySel, u32, Countdown),
    GetOrInsertWith(KeySel, u32, Countdown),
    Update(KeySel, u32, Countdown),
    UpdateOrInsert(KeySel, u32, u32, Countdown),
    SetTtl(KeySel, u8, Countdown),
    Persist(KeySel, Countdown),
    /// Inserts `n` keys `[prefix, i]` (fills a collision chain).
    Fill(u8, u8),
    Advance(u8),
    PurgeExpired,
    Retain(u8),
    Clear,
    Check,
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Bytes,
    Str,
}

const MAX_OPS: usize = 512;

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let (Ok(kind), Ok(mode)) = (Kind::arbitrary(&mut u), HashMode::arbitrary(&mut u)) else {
        return;
    };
    match kind {
        Kind::Bytes => run_kind::<BytesKey>(&mut u, mode),
        Kind::Str => run_kind::<StrKey>(&mut u, mode),
    }
    disarm();
}

struct Model {
    now: u64,
    entries: StdMap<Vec<u8>, (u32, u64)>,
}

impl Model {
    fn live(&self, k: &[u8]) -> Option<u32> {
        match self.entries.get(k) {
            Some(&(v, d)) if self.now < d => Some(v),
            _ => None,
        }
    }
    fn live_sorted(&self) -> Vec<(Vec<u8>, u32)> {
        let mut all: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, &(_, d))| self.now < d)
            .map(|(k, &(v, _))| (k.clone(), v))
            .collect();
        all.sort();
        all
    }
    fn set(&mut self, k: &[u8], v: u32, d: u64) -> Option<u32> {
        let prev = self.live(k);
        self.entries.insert(k.to_vec(), (v, d));
        prev
    }
    fn remove_live(&mut self, k: &[u8]) -> Option<u32> {
        let prev = self.live(k);
        if prev.is_some() {
            self.entries.remove(k);
        }
        prev
    }
}

fn full_check<K: TestKey>(map: &HashMap<K, u32, AdvState>, model: &Model, what: &dyn Debug) {
    let m = map.pin();
    let mut all: Vec<(Vec<u8>, u32)> = m.iter().map(|(k, v)| (k.bytes().to_vec(), *v)).collect();
    all.sort();
    assert_eq!(all, model.live_sorted(), "contents after {what:?}");
    for (k, v) in model.live_sorted() {
        let key = K::make(k);
        assert_eq!(m.get(key.q()), Some(&v), "get after {what:?}");
    }
    assert!(m.len() >= all.len(), "len < live after {what:?}");
}

fn run_kind<K: TestKey>(u: &mut Unstructured<'_>, mode: HashMode) {
    let clock = ManualClock::new();
    let map: HashMap<K, u32, AdvState> = HashMap::builder()
        .hasher(AdvState(mode))
        .clock(clock.clone())
        .build();
    let mut model = Model {
        now: 0,
        entries: StdMap::new(),
    };
    let mut ops = 0;
    while !u.is_empty() && ops < MAX_OPS {
        let Ok(op) = KOp::arbitrary(u) else { break };
        ops += 1;
        step(&map, &clock, &mut model, &op);
        disarm();
    }
    full_check(&map, &model, &"end");
    let m = map.pin();
    m.purge_expired();
    assert_eq!(m.len(), model.live_sorted().len(), "len after purge at end");
}

/// Runs `f` with the countdown armed; `None` if `Hash`/`Eq` panicked because the
/// countdown fired. Any other panic propagates (a crash).
fn armed<R>(cd: Countdown, f: impl FnOnce() -> R) -> Option<R> {
    arm(cd);
    let r = expect_panic(f);
    let left = COUNTDOWN.with(Cell::get);
    disarm();
    match r {
        Ok(r) => Some(r),
        Err(p) => {
            assert_eq!(
                p,
                InjectedPanic(HASH_EQ),
                "an injected panic not from Hash/Eq"
            );
            assert!(cd.is_some(), "a panic without an armed countdown");
            assert_eq!(left, 0, "a Hash/Eq panic but the countdown did not fire");
            None
        }
    }
}

fn step<K: TestKey>(
    map: &HashMap<K, u32, AdvState>,
    clock: &ManualClock,
    model: &mut Model,
    op: &KOp,
) {
    let m = map.pin();
    // For an op that panicked: the model stays as it is; check the map agrees.
    macro_rules! or_panicked {
        ($r:expr) => {
            match $r {
                Some(r) => r,
                None => {
                    drop(m);
                    full_check(map, model, &(op, "panicked"));
                    return;
                }
            }
        };
    }
    match op {
        KOp::Insert(ks, v, cd) => {
            let kb = ks.bytes();
            let key = K::make(kb);
            let kb = key.bytes().to_vec();
            let got = or_panicked!(armed(*cd, || m.insert(key, *v).copied()));
            assert_eq!(got, model.set(&kb, *v, NEVER), "{op:?}");
        }
        KOp::InsertWithTtl(ks, v, n, cd) => {
            let key = K::make(ks.bytes());
            let kb = key.bytes().to_vec();
            let ttl = Duration::from_nanos(*n as u64);
            let got = or_panicked!(armed(*cd, || m.insert_with_ttl(key, *v, ttl).copied()));
            let d = deadline_after(model.now, ttl);
            assert_eq!(got, model.set(&kb, *v, d), "{op:?}");
        }
        KOp::Get(ks, by_key, cd) | KOp::ContainsKey(ks, by_key, cd) => {
            let key = K::make(ks.bytes());
            let got = or_panicked!(armed(*cd, || if *by_key {
                m.get::<K>(&key).copied()
            } else {
                m.get(key.q()).copied()
            }));
            assert_eq!(got, model.live(key.bytes()), "{op:?}");
            let c = or_panicked!(armed(*cd, || if *by_key {
                m.contains_key::<K>(&key)
            } else {
                m.contains_key(key.q())
            }));
            assert_eq!(c, got.is_some(), "contains_key {op:?}");
        }
        KOp::GetKeyValue(ks, by_key, cd) => {
            let key = K::make(ks.bytes());
            let got = or_panicked!(armed(*cd, || {
                let r = if *by_key {
                    m.get_key_value::<K>(&key)
                } else {
                    m.get_key_value(key.q())
                };
                r.map(|(k, v)| (k.bytes().to_vec(), *v))
            }));
            let want = model.live(key.bytes()).map(|v| (key.bytes().to_vec(), v));
            assert_eq!(got, want, "{op:?}");
        }
        KOp::Remove(ks, by_key, cd) => {
            let key = K::make(ks.bytes());
            let got = or_panicked!(armed(*cd, || if *by_key {
                m.remove::<K>(&key).copied()
            } else {
                m.remove(key.q()).copied()
            }));
            assert_eq!(got, model.remove_live(key.bytes()), "{op:?}");
        }
        KOp::RemoveEntry(ks, by_key, cd) => {
            let key = K::make(ks.bytes());
            let got = or_panicked!(armed(*cd, || {
                let r = if *by_key {
                    m.remove_entry::<K>(&key)
                } else {
                    m.remove_entry(key.q())
                };
                r.map(|(k, v)| (k.bytes().to_vec(), *v))
            }));
            let want = model
                .remove_live(key.bytes())
                .map(|v| (key.bytes().to_vec(), v));
            assert_eq!(got, want, "{op:?}");
        }
        KOp::TryInsert(ks, v, cd) => {
            let key = K::make(ks.bytes());
            let kb = key.bytes().to_vec();
            let got = or_panicked!(armed(*cd, || match m.try_insert(key, *v) {
                Ok(r) => Ok(*r),
                Err(e) => Err((*e.current, e.not_inserted)),
            }));
            let want = match model.live(&kb) {
                Some(cur) => Err((cur, *v)),
                None => {
                    model.set(&kb, *v, NEVER);
                    Ok(*v)
                }
            };
            assert_eq!(got, want, "{op:?}");
        }
        KOp::GetOrInsertWith(ks, v, cd) => {
            let key = K::make(ks.bytes());
            let kb = key.bytes().to_vec();
            let got = or_panicked!(armed(*cd, || *m.get_or_insert_with(key, || *v)));
            let want = match model.live(&kb) {
                Some(cur) => cur,
                None => {
                    model.set(&kb, *v, NEVER);
                    *v
                }
            };
            assert_eq!(got, want, "{op:?}");
        }
        KOp::Update(ks, a, cd) => {
            let key = K::make(ks.bytes());
            let kb = key.bytes().to_vec();
            let got = or_panicked!(armed(*cd, || m
                .update(key, |x| x.wrapping_add(*a))
                .copied()));
            let want = model.live(&kb).map(|x| {
                let d = model.entries[&kb].1;
                model.entries.insert(kb.clone(), (x.wrapping_add(*a), d));
                x.wrapping_add(*a)
            });
            assert_eq!(got, want, "{op:?}");
        }
        KOp::UpdateOrInsert(ks, a, v, cd) => {
            let key = K::make(ks.bytes());
            let kb = key.bytes().to_vec();
            let got = or_panicked!(armed(*cd, || *m.update_or_insert(
                key,
                |x| x.wrapping_add(*a),
                *v
            )));
            let want = match model.live(&kb) {
                Some(x) => {
                    let d = model.entries[&kb].1;
                    model.entries.insert(kb.clone(), (x.wrapping_add(*a), d));
                    x.wrapping_add(*a)
                }
                None => {
                    model.set(&kb, *v, NEVER);
                    *v
                }
            };
            assert_eq!(got, want, "{op:?}");
        }
        KOp::SetTtl(ks, n, cd) => {
            let key = K::make(ks.bytes());
            let ttl = Duration::from_nanos(*n as u64);
            let got = or_panicked!(armed(*cd, || m.set_ttl::<K>(&key, ttl)));
            let kb = key.bytes();
            let want = match model.live(kb) {
                Some(v) => {
                    let d = deadline_after(model.now, ttl);
                    model.entries.insert(kb.to_vec(), (v, d));
                    true
                }
                None => false,
            };
            assert_eq!(got, want, "{op:?}");
        }
        KOp::Persist(ks, cd) => {
            let key = K::make(ks.bytes());
            let got = or_panicked!(armed(*cd, || m.persist::<K>(&key)));
            let kb = key.bytes();
            let want = match model.live(kb) {
                Some(v) => {
                    model.entries.insert(kb.to_vec(), (v, NEVER));
                    true
                }
                None => false,
            };
            assert_eq!(got, want, "{op:?}");
        }
        KOp::Fill(prefix, n) => {
            for i in 0..*n % 64 {
                let key = K::make(vec![b'f', *prefix % 4, i]);
                let kb = key.bytes().to_vec();
                let got = m.insert(key, i as u32).copied();
                assert_eq!(got, model.set(&kb, i as u32, NEVER), "{op:?} #{i}");
            }
        }
        KOp::Advance(n) => {
            let by = Duration::from_nanos(*n as u64);
            clock.advance(by);
            model.now = advanced(model.now, by);
        }
        KOp::PurgeExpired => {
            m.purge_expired();
            assert_eq!(
                m.len(),
                model.live_sorted().len(),
                "len after purge_expired"
            );
            let now = model.now;
            model.entries.retain(|_, &mut (_, d)| now < d);
        }
        KOp::Retain(bit) => {
            let keep = |v: u32| (v >> (bit % 32)) & 1 == 0;
            m.retain(|_, v| keep(*v));
            let now = model.now;
            model.entries.retain(|_, &mut (v, d)| now >= d || keep(v));
        }
        KOp::Clear => {
            m.clear();
            model.entries.clear();
            assert_eq!(m.len(), 0);
        }
        KOp::Check => {
            drop(m);
            full_check(map, model, op);
        }
    }
}
