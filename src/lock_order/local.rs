//! This thread's side of the checker: the guards it holds, and the orders it has already
//! recorded in the graph (so that taking them again needs no global lock).
//!
//! Everything here is thread-local and `std` only (this module is never built under loom).
//! No borrow of this module's state is held across a call out of it (a report, a panic, a
//! `Custom` handler): a guard dropped while a report unwinds, or taken inside a handler, finds
//! the list free.
//!
//! # The held list, and what the common cases cost
//!
//! The guards this thread holds form a stack, in the order taken: the first [`INLINE`]
//! entries in a thread-local array of `Cell`s (no destructor, so no lazy registration and no
//! borrow flag on access), the rest, rarely, in an overflow `Vec`. `DEPTH` counts them all.
//!
//! * A blocking acquisition with nothing held: one thread-local load (`DEPTH == 0`).
//! * Taking a guard: one slot store and one counter store; the mark remembers the slot.
//! * Dropping the most recently taken guard (the usual, nested case): a compare with the
//!   counter and one store. A guard dropped while a later one is held leaves a hole in its
//!   slot (entries never move, so every mark keeps naming its own); holes at the top are
//!   popped with the guard above them ([`release_slow`]).

use super::graph::{check_in_graph, needs_graph};
use super::{Held, How, LockRef};
use std::cell::{Cell, RefCell};
use std::panic::Location;

/// Held guards kept in the inline array before the overflow `Vec` is used.
const INLINE: usize = 8;

/// This thread's held list; no destructor (every field is `Copy` in a `Cell`).
struct Local {
    /// Entries `0..depth` are the held list, the first [`INLINE`] of them in `inline`. An
    /// entry is `None` (a hole) once its guard was dropped while a later one is still held;
    /// the entry below `depth` is never a hole.
    depth: Cell<usize>,
    inline: [Cell<Option<Held>>; INLINE],
}

/// An empty inline slot; a `const` item so that the array can repeat it (MSRV 1.71 has no
/// inline `const` blocks). Each use is a fresh `Cell`, which is what the array wants.
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Cell<Option<Held>> = Cell::new(None);

/// Entries in this thread's cache of known orders; a power of two.
const KNOWN_SLOTS: usize = 256;

std::thread_local! {
    static LOCAL: Local = const {
        Local {
            depth: Cell::new(0),
            inline: [EMPTY; INLINE],
        }
    };

    /// Entries `INLINE..depth` of the held list (and stale ones above `depth`, overwritten
    /// by the next push).
    static OVERFLOW: RefCell<Vec<Option<Held>>> = const { RefCell::new(Vec::new()) };

    /// Orders `(from, to)` this thread has seen in the graph: a direct-mapped cache, so it
    /// stays bounded however many locks a long-lived thread takes. An entry is only ever
    /// replaced, never wrong: an edge leaves the graph only when one of its locks is dropped,
    /// after which nobody can hold or take it again (ids are not reused). `(0, 0)` is an empty
    /// slot: it names no edge (a lock never orders against itself).
    static KNOWN: RefCell<[(u64, u64); KNOWN_SLOTS]> =
        const { RefCell::new([(0, 0); KNOWN_SLOTS]) };
}

fn slot(from: u64, to: u64) -> usize {
    // Fibonacci hashing of both ids; the top bits pick the slot.
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let h = (from.wrapping_mul(K) ^ to).wrapping_mul(K);
    (h >> (64 - KNOWN_SLOTS.trailing_zeros())) as usize
}

/// Whether this thread knows that the edge `from → to` is in the graph.
pub(super) fn known(from: u64, to: u64) -> bool {
    KNOWN
        .try_with(|k| k.borrow()[slot(from, to)] == (from, to))
        .unwrap_or(false)
}

/// Notes that the edge `from → to` is in the graph.
pub(super) fn remember(from: u64, to: u64) {
    // During thread teardown there is nothing left to cache for.
    let _ = KNOWN.try_with(|k| k.borrow_mut()[slot(from, to)] = (from, to));
}

/// This thread's held guards, in order, holes skipped (a copy: no borrow outlives the call).
fn held_list(local: &Local) -> Vec<Held> {
    (0..local.depth.get())
        .filter_map(|i| entry(local, i))
        .collect()
}

/// Call before every *blocking* acquisition of `lock` (taken `how`, at `at`), also when it
/// would not have to wait: the order is what counts. Not for `try_*` acquisitions, which
/// cannot block (their guards still count as held: see [`hold`]).
///
/// Adds the edges "every lock this thread holds → `lock`" that the graph lacks. If one of
/// them closes a cycle, reports it in the mode of
/// [`on_inversion`](super::on_inversion), before anything blocks: `Panic` panics (with the
/// report; nothing is recorded), `Log` and `Custom` report, record, and return.
///
/// * Nothing held: returns after one thread-local load. Only `lock` itself held: one more.
/// * `lock` itself held (a recursive read, a read under one's own modify guard): no edge. The
///   re-entrant cases that would block forever are the re-entrancy check's. Except
///   `How::Upgrade`, which waits for the other readers: edges from every *other* lock held.
/// * Every order already taken by this thread: found in its cache, no global lock.
#[inline]
pub(crate) fn before_acquire(lock: LockRef, how: How, at: &'static Location<'static>) {
    // `LOCAL` has no destructor, so it is never torn down: `with` cannot fail.
    LOCAL.with(|l| {
        match l.depth.get() {
            0 => {}
            // Only this lock is held (an upgrade, a read under one's own guard): no edge,
            // decided inline.
            1 if l.inline[0].get().is_some_and(|h| h.lock.id == lock.id) => {}
            _ => before_acquire_holding(l, Held { lock, how, at }),
        }
    });
}

/// [`before_acquire`] when this thread holds at least one guard.
#[inline(never)]
fn before_acquire_holding(local: &Local, acquiring: Held) {
    let depth = local.depth.get();
    let needs = if depth <= INLINE {
        // No allocation for the common case: the entries are read in place.
        needs_graph(
            local.inline[..depth].iter().filter_map(Cell::get),
            &acquiring,
        )
    } else {
        needs_graph(held_list(local).into_iter(), &acquiring)
    };
    if needs {
        // A `Custom` report hook may take locks: it runs with no borrow of `LOCAL` alive
        // (the held list is a copy, and `LOCAL` is only `Cell`s).
        check_in_graph(&held_list(local), acquiring);
    }
}

/// Call after every successful acquisition of `lock`, blocking or `try_*` (taken `how`, at
/// `at`), and keep the mark in the guard: until it is dropped, `lock` counts as held by this
/// thread. Marks may be dropped in any order.
///
/// A `WaitGroup` worker holds its group with `How::Token` and `at` its spawn location; the
/// mark must be made on the worker thread (it is not `Send`).
#[inline]
pub(crate) fn hold(lock: LockRef, how: How, at: &'static Location<'static>) -> HeldMark {
    let held = Held { lock, how, at };
    let slot = LOCAL.with(|l| {
        let depth = l.depth.get();
        if depth < INLINE {
            l.inline[depth].set(Some(held));
        } else if !push_overflow(depth, held) {
            // During thread teardown: nothing is recorded, and the mark releases nothing.
            return NO_SLOT;
        }
        l.depth.set(depth + 1);
        depth
    });
    HeldMark {
        slot,
        _not_send: crate::thread_bound::NotSend::default(),
    }
}

/// A mark that names no entry (made during thread teardown).
const NO_SLOT: usize = usize::MAX;

/// Stores `held` as entry `depth` (≥ [`INLINE`]); false during thread teardown.
#[cold]
fn push_overflow(depth: usize, held: Held) -> bool {
    OVERFLOW
        .try_with(|o| {
            let mut o = o.borrow_mut();
            o.truncate(depth - INLINE);
            o.push(Some(held));
        })
        .is_ok()
}

/// Releases entry `slot`, which is not the last one or not inline: it becomes a hole (the
/// entries keep their places, so every other mark still names its own), and holes at the
/// top are popped.
#[cold]
fn release_slow(local: &Local, slot: usize) {
    if slot < INLINE {
        local.inline[slot].set(None);
    } else {
        let _ = OVERFLOW.try_with(|o| {
            if let Some(entry) = o.borrow_mut().get_mut(slot - INLINE) {
                *entry = None;
            }
        });
    }
    // Pop the holes at the top.
    let mut depth = local.depth.get();
    while depth > 0 && entry(local, depth - 1).is_none() {
        depth -= 1;
    }
    local.depth.set(depth);
}

/// Entry `i` (below `DEPTH`), `None` for a hole.
fn entry(local: &Local, i: usize) -> Option<Held> {
    if i < INLINE {
        local.inline[i].get()
    } else {
        OVERFLOW
            .try_with(|o| o.borrow().get(i - INLINE).copied().flatten())
            .ok()
            .flatten()
    }
}

/// This thread holds a lock until this is dropped: made by [`hold`], kept in the guard.
///
/// Not `Send` (the entry is in the thread that made it), but `Sync`, like the guards that
/// hold it.
#[must_use = "the lock counts as held only while the mark lives"]
#[derive(Debug)]
pub(crate) struct HeldMark {
    /// The index of this mark's entry in the held list (entries never move).
    slot: usize,
    _not_send: crate::thread_bound::NotSend,
}

impl HeldMark {
    /// The guard changed kind in place (`ModifyGuard::upgrade` → `How::Upgrade`, a downgrade
    /// → `How::Read`) at `at`: later reports name the lock as held this way, since `at`.
    pub(crate) fn change(&self, how: How, at: &'static Location<'static>) {
        let slot = self.slot;
        let update = |held: &mut Held| {
            held.how = how;
            held.at = at;
        };
        if slot < INLINE {
            LOCAL.with(|l| {
                if let Some(mut held) = l.inline[slot].get() {
                    update(&mut held);
                    l.inline[slot].set(Some(held));
                }
            });
        } else if slot != NO_SLOT {
            let _ = OVERFLOW.try_with(|o| {
                if let Some(Some(held)) = o.borrow_mut().get_mut(slot - INLINE) {
                    update(held);
                }
            });
        }
    }
}

impl Drop for HeldMark {
    #[inline]
    fn drop(&mut self) {
        let slot = self.slot;
        LOCAL.with(|l| {
            let depth = l.depth.get();
            // The usual case: the most recent guard, inline, with no hole below it.
            if slot + 1 == depth
                && (slot == 0 || (slot < INLINE && l.inline[slot - 1].get().is_some()))
            {
                l.depth.set(slot);
            } else if slot < depth {
                release_slow(l, slot);
            }
        });
    }
}

/// This thread's held guards (for the tests).
#[cfg(test)]
pub(super) fn held() -> Vec<Held> {
    LOCAL.with(held_list)
}

/// How deep this thread's held list reaches, holes included (for the tests: holes at the top
/// are popped, so it is 0 whenever nothing is held).
#[cfg(test)]
pub(super) fn depth() -> usize {
    LOCAL.with(|l| l.depth.get())
}

/// Whether the held list's top entry is a hole (for the tests: never, after any release).
#[cfg(test)]
pub(super) fn top_is_a_hole() -> bool {
    LOCAL.with(|l| {
        let depth = l.depth.get();
        depth > 0 && entry(l, depth - 1).is_none()
    })
}
