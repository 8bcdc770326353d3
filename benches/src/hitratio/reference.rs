//! The reference caches: exact LRU and Belady's optimum (offline: it knows every next use).

use std::collections::BinaryHeap;

use super::traces::Trace;

const NONE: u32 = u32::MAX;

/// An intrusive doubly linked list over dense ids (`prev`/`next` per id): O(1) push,
/// unlink and pop without allocation per operation.
pub(crate) struct IdList {
    prev: Vec<u32>,
    next: Vec<u32>,
    head: u32,
    tail: u32,
    len: usize,
}

impl IdList {
    pub(crate) fn new(ids: usize) -> Self {
        IdList {
            prev: vec![NONE; ids],
            next: vec![NONE; ids],
            head: NONE,
            tail: NONE,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds `id` at the head (most recent end).
    pub(crate) fn push_front(&mut self, id: u32) {
        self.prev[id as usize] = NONE;
        self.next[id as usize] = self.head;
        if self.head != NONE {
            self.prev[self.head as usize] = id;
        } else {
            self.tail = id;
        }
        self.head = id;
        self.len += 1;
    }

    /// Removes `id`, which must be in the list.
    pub(crate) fn unlink(&mut self, id: u32) {
        let (p, n) = (self.prev[id as usize], self.next[id as usize]);
        if p != NONE {
            self.next[p as usize] = n;
        } else {
            self.head = n;
        }
        if n != NONE {
            self.prev[n as usize] = p;
        } else {
            self.tail = p;
        }
        self.len -= 1;
    }

    /// The tail (least recent end), if any.
    pub(crate) fn back(&self) -> Option<u32> {
        (self.tail != NONE).then_some(self.tail)
    }

    /// Removes and returns the tail.
    pub(crate) fn pop_back(&mut self) -> Option<u32> {
        let t = self.back()?;
        self.unlink(t);
        Some(t)
    }
}

/// Hits of an exact LRU cache of `cap` entries over `trace`.
pub fn lru(trace: &Trace, cap: usize) -> u64 {
    let mut list = IdList::new(trace.unique);
    let mut cached = vec![false; trace.unique];
    let mut hits = 0;
    for &id in &trace.ids {
        if cached[id as usize] {
            hits += 1;
            list.unlink(id);
            list.push_front(id);
            continue;
        }
        if cap == 0 {
            continue;
        }
        if list.len() >= cap {
            let old = list.pop_back().expect("a full cache has a tail");
            cached[old as usize] = false;
        }
        list.push_front(id);
        cached[id as usize] = true;
    }
    hits
}

/// Hits of Belady's MIN over `trace` at `cap` entries, with bypass (a key whose next use
/// is farther than every cached key's is not admitted): the most hits any cache of that
/// size can get. `next` is [`Trace::next_use`].
pub fn belady(trace: &Trace, next: &[u32], cap: usize) -> u64 {
    // The next use of each cached id (`NONE`: not cached; a cached id never has `NONE`
    // as its next use, since such ids are never cached or are dropped when hit).
    let mut cached_next = vec![NONE; trace.unique];
    let mut len = 0usize;
    // Max-heap of (next use, id), with stale pairs skipped lazily.
    let mut heap: BinaryHeap<(u32, u32)> = BinaryHeap::with_capacity(cap + 1);
    let mut hits = 0;
    for (i, &id) in trace.ids.iter().enumerate() {
        let n = next[i];
        let slot = &mut cached_next[id as usize];
        if *slot != NONE {
            hits += 1;
            if n == NONE {
                *slot = NONE;
                len -= 1;
            } else {
                *slot = n;
                heap.push((n, id));
            }
            continue;
        }
        if n == NONE || cap == 0 {
            continue;
        }
        if len >= cap {
            // The farthest next use among the cached keys.
            let (far, far_id) = loop {
                let top = *heap.peek().expect("a full cache has heap entries");
                if cached_next[top.1 as usize] == top.0 {
                    break top;
                }
                heap.pop();
            };
            if far <= n {
                continue; // bypass: the new key is needed last
            }
            heap.pop();
            cached_next[far_id as usize] = NONE;
            len -= 1;
        }
        cached_next[id as usize] = n;
        heap.push((n, id));
        len += 1;
        // Keep the heap from growing without bound on hit-heavy streams.
        if heap.len() > 8 * cap.max(1024) {
            heap.retain(|&(n, id)| cached_next[id as usize] == n);
        }
    }
    hits
}
