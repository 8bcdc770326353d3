//! The split-ordered floor: a bare split-ordered table that does only the work the design
//! itself requires, to measure how far the structure, not `ttlmap`'s implementation of
//! it, can go on a workload.
//!
//! It is **not a map to use**: it has every bucket linked up front and never grows (it
//! needs a capacity hint), no TTL, no length counter, and it updates values in place
//! (`fetch_add`). Its nodes are 32 bytes (next, split-order key, key, value) against
//! `ttlmap`'s 48 (a value cell pointer and a deadline more). What it keeps is what every
//! split-ordered table with epoch reclamation pays, and papaya pays too: an epoch pin
//! per operation (crossbeam's default collector), the bucket sentinel loaded from the
//! directory, then the chain in split order; a CAS to link, a CAS to mark and a CAS to
//! unlink, and a deferred free of each unlinked node. So its throughput is a ceiling for
//! `ttlmap`'s design (sentinels in a directory, one sorted chain per bucket) on the same
//! machine, keys and hasher, short of changing the design itself;
//! `benches/examples/probe.rs` runs it beside `ttlmap` and papaya.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_epoch::{self as epoch, Guard};

use crate::adapters::{BenchMap, Hasher};

/// Tag of an entry's `next`: the entry is deleted.
const MARK: usize = 1;
/// Tag of every pointer to a sentinel: the next bucket begins (a walk stops there).
const SENT: usize = 2;

#[repr(C, align(16))]
struct Link {
    next: AtomicUsize,
    so: u64,
}

#[repr(C)]
struct Node {
    link: Link,
    key: u64,
    val: AtomicU64,
}

/// See the module docs.
pub struct Floor {
    dir: Box<[Link]>,
    mask: usize,
    hasher: Hasher,
}

/// The search window of a key: `prev` held `cur`; `found` is the key's node.
struct Window<'a> {
    prev: &'a AtomicUsize,
    cur: usize,
    found: Option<&'a Node>,
}

impl Floor {
    fn bucket_count(n: usize) -> usize {
        n.next_power_of_two().max(2)
    }

    fn locate(&self, key: u64) -> (usize, u64) {
        let h = self.hasher.hash_one(key);
        ((h as usize) & self.mask, h.reverse_bits() | 1)
    }

    /// Harris–Michael find within the key's own bucket, unlinking (and retiring) marked
    /// nodes.
    fn find<'a>(&'a self, key: u64, guard: &'a Guard) -> (Window<'a>, u64) {
        let (b, so) = self.locate(key);
        'retry: loop {
            let mut prev = &self.dir[b].next;
            // Acquire: pairs with the Release CAS that linked the node.
            let mut cur = prev.load(Ordering::Acquire);
            let found = loop {
                if cur == 0 || cur & SENT != 0 {
                    break None;
                }
                // SAFETY: loaded under `guard`; unlinked nodes are freed only after it.
                let node = unsafe { &*(cur as *const Node) };
                // Acquire: as above.
                let next = node.link.next.load(Ordering::Acquire);
                if next & MARK != 0 {
                    // AcqRel: Release keeps our reads before the unlink.
                    if prev
                        .compare_exchange(cur, next & !MARK, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        continue 'retry;
                    }
                    // SAFETY: our CAS unlinked it; only one CAS can.
                    unsafe { retire(cur, guard) };
                    cur = next & !MARK;
                    continue;
                }
                if node.link.so > so {
                    break None;
                }
                if node.link.so == so && node.key == key {
                    break Some(node);
                }
                prev = &node.link.next;
                cur = next;
            };
            return (Window { prev, cur, found }, so);
        }
    }
}

impl BenchMap for Floor {
    const NAME: &'static str = "split-order floor";

    fn new() -> Self {
        Self::with_capacity(1 << 16)
    }

    fn with_capacity(n: usize) -> Self {
        let buckets = Self::bucket_count(n);
        let bits = buckets.trailing_zeros();
        let dir: Box<[Link]> = (0..buckets)
            .map(|b| Link {
                next: AtomicUsize::new(0),
                so: (b as u64).reverse_bits(),
            })
            .collect();
        // Link the sentinels in split order: the i-th is bucket reverse(i).
        let in_order = |i: usize| ((i as u64).reverse_bits() >> (64 - bits)) as usize;
        for i in 0..buckets - 1 {
            let next = &dir[in_order(i + 1)] as *const Link as usize;
            dir[in_order(i)].next.store(next | SENT, Ordering::Relaxed);
        }
        Self {
            dir,
            mask: buckets - 1,
            hasher: Hasher::default(),
        }
    }

    fn get(&self, k: &u64) -> bool {
        let _guard = epoch::pin();
        let (b, so) = self.locate(*k);
        // Acquire: pairs with the Release CAS that linked the node.
        let mut cur = self.dir[b].next.load(Ordering::Acquire);
        loop {
            if cur == 0 || cur & SENT != 0 {
                return false;
            }
            // SAFETY: loaded under `_guard`; unlinked nodes are freed only after it.
            let node = unsafe { &*((cur & !MARK) as *const Node) };
            if node.link.so > so {
                return false;
            }
            // Acquire: as above.
            let next = node.link.next.load(Ordering::Acquire);
            if node.link.so == so && node.key == *k {
                return next & MARK == 0;
            }
            cur = next;
        }
    }

    fn insert(&self, k: u64, v: u64) -> bool {
        let guard = epoch::pin();
        let mut new: *mut Node = std::ptr::null_mut();
        loop {
            let (w, so) = self.find(k, &guard);
            if let Some(node) = w.found {
                // Release: pairs with Acquire readers of the value.
                node.val.store(v, Ordering::Release);
                if !new.is_null() {
                    // SAFETY: ours, never published.
                    drop(unsafe { Box::from_raw(new) });
                }
                return false;
            }
            if new.is_null() {
                new = Box::into_raw(Box::new(Node {
                    link: Link {
                        next: AtomicUsize::new(0),
                        so,
                    },
                    key: k,
                    val: AtomicU64::new(v),
                }));
            }
            // SAFETY: ours until the CAS below publishes it.
            let n = unsafe { &*new };
            // Relaxed: published by the Release CAS below.
            n.link.next.store(w.cur, Ordering::Relaxed);
            // AcqRel: Release publishes the node; pairs with the Acquire loads of `next`.
            if w.prev
                .compare_exchange(w.cur, new as usize, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return true;
            }
        }
    }

    fn remove(&self, k: &u64) -> bool {
        let guard = epoch::pin();
        loop {
            let (w, _) = self.find(*k, &guard);
            let Some(node) = w.found else {
                return false;
            };
            // Acquire: pairs with the CAS that wrote it.
            let next = node.link.next.load(Ordering::Acquire);
            if next & MARK != 0 {
                continue;
            }
            // AcqRel: the mark is the delete's linearization point.
            if node
                .link
                .next
                .compare_exchange(next, next | MARK, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            // AcqRel: a failed unlink is left to the next `find` that passes.
            if w.prev
                .compare_exchange(w.cur, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // SAFETY: our CAS unlinked it; only one CAS can.
                unsafe { retire(w.cur, &guard) };
            }
            return true;
        }
    }

    fn update(&self, k: &u64) -> bool {
        let guard = epoch::pin();
        let (w, _) = self.find(*k, &guard);
        match w.found {
            Some(node) => {
                // AcqRel: a read-modify-write of the value.
                node.val.fetch_add(1, Ordering::AcqRel);
                true
            }
            None => false,
        }
    }
}

/// Frees the unlinked node at `p` once every current guard is gone.
///
/// # Safety
/// `p` is a node that was just unlinked by the caller's CAS.
unsafe fn retire(p: usize, guard: &Guard) {
    let p = p as *mut Node;
    // SAFETY: unreachable for new guards; a `Box` from `insert`, freed once.
    unsafe { guard.defer_unchecked(move || drop(Box::from_raw(p))) };
}

impl Drop for Floor {
    fn drop(&mut self) {
        // Frees the nodes still linked (unlinked ones are in the epoch collector).
        let mut cur = self.dir[0].next.load(Ordering::Relaxed);
        while cur != 0 {
            let p = cur & !MARK;
            if cur & SENT != 0 {
                // SAFETY: a sentinel in `dir`.
                cur = unsafe { &*((p & !SENT) as *const Link) }
                    .next
                    .load(Ordering::Relaxed);
                continue;
            }
            // SAFETY: a linked node, allocated by `insert`, freed once here.
            let node = unsafe { Box::from_raw(p as *mut Node) };
            cur = node.link.next.load(Ordering::Relaxed);
        }
    }
}
