//! The process-wide lock-order graph: nodes are locks (by id), an edge `A → B` means "`B` was
//! taken while `A` was held", with the source locations of its first occurrence. Adding an
//! edge `H → A` closes a cycle iff a path `A → … → H` exists; that path is the report.
//!
//! One `std::sync::Mutex` guards the graph (this module is never built under loom). It is
//! taken only for an order the current thread has not taken before (see `local`), and when
//! a lock that has edges is dropped.

use super::local;
use super::report::Edge;
use super::{current_mode, Held, How, OnInversion, Report};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The graph. Out-edges per node, and the reverse (who points at a node), so that a node's
/// edges can be removed in both directions.
pub(super) struct Graph {
    out: BTreeMap<u64, Vec<Edge>>,
    into: BTreeMap<u64, Vec<u64>>,
    edges: usize,
}

impl Graph {
    const fn new() -> Self {
        Graph {
            out: BTreeMap::new(),
            into: BTreeMap::new(),
            edges: 0,
        }
    }

    pub(super) fn has_edge(&self, from: u64, to: u64) -> bool {
        self.out
            .get(&from)
            .is_some_and(|edges| edges.iter().any(|e| e.to.lock.id == to))
    }

    /// A shortest path `start → … → goal` (breadth-first), as its edges in order.
    fn path(&self, start: u64, goal: u64) -> Option<Vec<Edge>> {
        let mut came_by: BTreeMap<u64, Edge> = BTreeMap::new();
        let mut seen = BTreeSet::from([start]);
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            for edge in self.out.get(&node).into_iter().flatten() {
                let next = edge.to.lock.id;
                if !seen.insert(next) {
                    continue;
                }
                came_by.insert(next, *edge);
                if next == goal {
                    let mut path = Vec::new();
                    let mut at = goal;
                    while at != start {
                        let edge = came_by[&at];
                        path.push(edge);
                        at = edge.from.lock.id;
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back(next);
            }
        }
        None
    }

    fn insert(&mut self, edge: Edge) {
        let (from, to) = (edge.from.lock.id, edge.to.lock.id);
        self.out.entry(from).or_default().push(edge);
        self.into.entry(to).or_default().push(from);
        self.edges += 1;
        MAY_HAVE_EDGES.set(from);
        MAY_HAVE_EDGES.set(to);
    }

    /// Removes `id` and every edge into or out of it.
    fn remove_node(&mut self, id: u64) {
        for edge in self.out.remove(&id).unwrap_or_default() {
            let to = edge.to.lock.id;
            if let Some(sources) = self.into.get_mut(&to) {
                sources.retain(|&from| from != id);
                if sources.is_empty() {
                    self.into.remove(&to);
                }
            }
            self.edges -= 1;
        }
        for from in self.into.remove(&id).unwrap_or_default() {
            if let Some(edges) = self.out.get_mut(&from) {
                let before = edges.len();
                edges.retain(|e| e.to.lock.id != id);
                self.edges -= before - edges.len();
                if edges.is_empty() {
                    self.out.remove(&from);
                }
            }
        }
    }

    /// Whether the graph has no edge left (then no lock may have edges: see `forget`).
    fn is_empty(&self) -> bool {
        self.edges == 0
    }
}

#[cfg(test)]
impl Graph {
    /// Whether any edge starts or ends at `id`.
    pub(super) fn mentions(&self, id: u64) -> bool {
        self.out.contains_key(&id)
            || self.into.contains_key(&id)
            || self.out.values().flatten().any(|e| e.to.lock.id == id)
    }
}

static GRAPH: Mutex<Graph> = Mutex::new(Graph::new());

/// The graph, locked. Nothing panics while it is held, but a poisoned lock is taken over
/// anyway: the checker must never turn one panic into many.
pub(super) fn graph() -> MutexGuard<'static, Graph> {
    GRAPH.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which ids may have edges: one bit per `id % (64 * WORDS)`, set when an edge is added, all
/// cleared when the graph becomes empty. Lets `forget` skip the graph's lock for the (many) locks
/// that never took part in an order.
struct MayHaveEdges {
    words: [AtomicU64; WORDS],
}

const WORDS: usize = 64;
static MAY_HAVE_EDGES: MayHaveEdges = MayHaveEdges::new();

impl MayHaveEdges {
    const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)] // only the initializer below uses it
        const ZERO: AtomicU64 = AtomicU64::new(0);
        MayHaveEdges {
            words: [ZERO; WORDS],
        }
    }

    fn slot(id: u64) -> (usize, u64) {
        let bit = (id % (WORDS as u64 * 64)) as usize;
        (bit / 64, 1 << (bit % 64))
    }

    // Relaxed everywhere. `set` and `clear` run under the graph's lock, so they never race
    // each other. A bit is set by a thread that holds, is taking or is waiting for the lock
    // `id` (or, for a `WaitGroup`, holds one of its tokens), that is, while it borrows it;
    // `forget(id)` runs only after every such borrow ended, and whatever ended them (an
    // `Arc`'s count, a join, a scope's end) orders the `set` before `forget`'s load, which
    // therefore reads that `set` or a later value: a later `fetch_or` keeps the bit, and a
    // `clear` happens only when the graph has no edge at all (so `id` has none to forget).
    // A stale set bit only costs a look at the graph.
    fn set(&self, id: u64) {
        let (word, bit) = Self::slot(id);
        self.words[word].fetch_or(bit, Ordering::Relaxed);
    }

    fn get(&self, id: u64) -> bool {
        let (word, bit) = Self::slot(id);
        self.words[word].load(Ordering::Relaxed) & bit != 0
    }

    /// Caller holds the graph's lock and the graph is empty.
    fn clear(&self) {
        for word in &self.words {
            word.store(0, Ordering::Relaxed);
        }
    }
}

/// Forgets the lock `id`: its node and every edge into or out of it, so that the graph does
/// not grow with locks that no longer exist. Costs an atomic load for a lock that never took
/// part in an order. (Threads' caches may still name `id`: harmless, ids are never reused.)
pub(crate) fn forget(id: u64) {
    if MAY_HAVE_EDGES.get(id) {
        let mut graph = graph();
        graph.remove_node(id);
        if graph.is_empty() {
            MAY_HAVE_EDGES.clear();
        }
    }
}

/// Whether the graph has an edge into or out of `id`, for the tests of the callers' wiring.
#[cfg(test)]
pub(crate) fn in_graph(id: u64) -> bool {
    graph().mentions(id)
}

/// Whether `acquiring` (with `held` non-empty) may add an edge this thread does not know.
#[inline]
pub(super) fn needs_graph<I>(held: I, acquiring: &Held) -> bool
where
    I: Iterator<Item = Held> + Clone,
{
    let id = acquiring.lock.id;
    if acquiring.how != How::Upgrade && held.clone().any(|h| h.lock.id == id) {
        return false;
    }
    !held
        .into_iter()
        .all(|h| h.lock.id == id || local::known(h.lock.id, id))
}

/// The slow path: record (and maybe report) the new edges in the global graph.
#[cold]
#[inline(never)]
#[track_caller]
pub(super) fn check_in_graph(held: &[Held], acquiring: Held) {
    #[cfg(test)]
    super::tests::note_slow_path();
    let mode = current_mode();
    let record_cycles = !matches!(mode, OnInversion::Panic);
    let reports = record(held, acquiring, record_cycles);
    for report in reports {
        deliver(&report, mode);
    }
}

/// Adds the edges `held → acquiring` the graph lacks and returns a report for each one that
/// closes a cycle. If any does and `record_cycles` is false, adds nothing.
pub(super) fn record(held: &[Held], acquiring: Held, record_cycles: bool) -> Vec<Report> {
    let id = acquiring.lock.id;
    let mut reports = Vec::new();
    let mut new_edges = Vec::new();
    let mut graph = graph();
    for (i, from) in held.iter().enumerate() {
        let from_id = from.lock.id;
        // The first entry of a lock (its outermost guard) is the one the report names.
        if from_id == id || held[..i].iter().any(|h| h.lock.id == from_id) {
            continue;
        }
        if graph.has_edge(from_id, id) {
            local::remember(from_id, id);
            continue;
        }
        let edge = Edge {
            from: *from,
            to: acquiring,
        };
        if let Some(path) = graph.path(id, from_id) {
            reports.push(Report::new(edge, path));
            if !record_cycles {
                continue;
            }
        }
        new_edges.push(edge);
    }
    if reports.is_empty() || record_cycles {
        for edge in new_edges {
            graph.insert(edge);
            local::remember(edge.from.lock.id, id);
        }
    }
    reports
}

/// Reports one cycle in `mode`. Runs without the graph's lock.
#[track_caller]
fn deliver(report: &Report, mode: OnInversion) {
    #[cfg(test)]
    let quiet = super::tests::capture(report);
    #[cfg(not(test))]
    let quiet = false;
    match mode {
        OnInversion::Panic if !std::thread::panicking() => panic!("{report}"),
        // A second panic while unwinding would abort the process: print instead.
        OnInversion::Panic | OnInversion::Log => {
            if !quiet {
                // Ignore a failed write to stderr: there is nowhere left to report it.
                let _ = writeln!(std::io::stderr(), "{report}");
            }
        }
        OnInversion::Custom(handler) => handler(report),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::lock_order::{Kind, LockRef};
    use std::panic::Location;

    fn edge(from: u64, to: u64) -> Edge {
        let held = |id| Held {
            lock: LockRef {
                id,
                name: "T",
                kind: Kind::Shared,
            },
            how: How::Write,
            at: Location::caller(),
        };
        Edge {
            from: held(from),
            to: held(to),
        }
    }

    /// The count decides when every `MayHaveEdges` bit may be cleared: it must reach 0 exactly
    /// when the last edge goes, whichever end of it was forgotten.
    #[test]
    fn the_edge_count_follows_removals_from_either_end() {
        let mut graph = Graph::new();
        for (from, to) in [(1, 2), (1, 3), (3, 2), (4, 1)] {
            graph.insert(edge(from, to));
        }
        assert_eq!(graph.edges, 4);
        graph.remove_node(2); // two edges into it
        assert_eq!(graph.edges, 2);
        assert!(!graph.is_empty());
        assert!(!graph.mentions(2) && graph.has_edge(1, 3) && graph.has_edge(4, 1));
        graph.remove_node(1); // one edge out (1 → 3), one in (4 → 1)
        assert_eq!(graph.edges, 0);
        assert!(graph.is_empty());
        assert!(!graph.mentions(3) && !graph.mentions(4));
    }

    /// Every id below `64 * WORDS` has a bit of its own (ids that far apart share one: a
    /// shared bit only costs `forget` a look at the graph), and `clear` clears them all.
    #[test]
    fn may_have_edges_keeps_a_bit_per_id_until_cleared() {
        const IDS: u64 = 64 * WORDS as u64;
        let bits = MayHaveEdges::new();
        bits.set(70);
        assert_eq!(
            (0..IDS).filter(|&id| bits.get(id)).collect::<Vec<_>>(),
            [70]
        );
        assert!(bits.get(70 + IDS));
        for id in [0, 63, 64, 71, IDS - 1] {
            bits.set(id);
        }
        let set: Vec<u64> = (0..IDS).filter(|&id| bits.get(id)).collect();
        assert_eq!(set, [0, 63, 64, 70, 71, IDS - 1]);
        bits.clear();
        assert!((0..2 * IDS).all(|id| !bits.get(id)));
    }
}
