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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hitratio::traces::{self, Rng};

    fn trace(ids: Vec<u32>) -> Trace {
        let unique = ids.iter().max().map_or(0, |&m| m as usize + 1);
        Trace {
            name: "t".into(),
            about: String::new(),
            ids,
            unique,
            sizes: Vec::new(),
        }
    }

    #[test]
    fn lru_reproduces_the_oltp_check_figures() {
        // The traces' README: plain LRU over OLTP at 1k/2k/5k/10k/15k entries.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let path = traces::trace_dir(&root).join("OLTP.lis.zst");
        let Ok(t) = traces::load_arc(&path, "OLTP", &[]) else {
            eprintln!("skipped: {} not found", path.display());
            return;
        };
        let got: Vec<String> = [1_000, 2_000, 5_000, 10_000, 15_000]
            .iter()
            .map(|&c| format!("{:.2}", 100.0 * lru(&t, c) as f64 / t.ids.len() as f64))
            .collect();
        assert_eq!(got, ["32.83", "42.47", "53.65", "60.70", "64.63"]);
    }

    #[test]
    fn lru_by_hand() {
        // Capacity 2: 1 2 1 3 (evicts 2) 2 (miss, evicts 1) 1 (miss) 2 (hit).
        assert_eq!(lru(&trace(vec![1, 2, 1, 3, 2, 1, 2]), 2), 2);
    }

    #[test]
    fn belady_by_hand() {
        // Capacity 2: 1 2 3 1 2 1 2 3. MIN bypasses the first 3 (needed after both 1
        // and 2) and hits 1 2 1 2: four hits. Admitting 3 would cost one.
        let t = trace(vec![1, 2, 3, 1, 2, 1, 2, 3]);
        assert_eq!(belady(&t, &t.next_use(), 2), 4);
    }

    #[test]
    fn belady_is_a_ceiling_for_the_others() {
        let mut rng = Rng(3);
        for round in 0..50 {
            let keys = 5 + round % 40;
            let t = trace((0..400).map(|_| rng.below(keys) as u32).collect());
            let next = t.next_use();
            for cap in [1, 2, 3, 5, 8, 13] {
                let best = belady(&t, &next, cap);
                let others = [
                    ("lru", lru(&t, cap)),
                    (
                        "wtinylfu",
                        crate::hitratio::sim::wtinylfu_exact(
                            &t,
                            cap,
                            crate::hitratio::sim::Exact::caffeine(true),
                        ),
                    ),
                    (
                        "policy",
                        crate::hitratio::sim::policy(&t, cap, ttlmap::cache::Config::default()),
                    ),
                ];
                for (name, hits) in others {
                    assert!(
                        hits <= best,
                        "{name} {hits} > Belady {best} at {cap}, round {round}"
                    );
                }
            }
        }
    }
}
