//! This thread's side of the checker: the guards it holds, and the orders it has already
//! recorded in the graph (so that taking them again needs no global lock).
//!
//! Everything here is thread-local and `std` only (this module is never built under loom).
//! No `RefCell` borrow of this module is held across a call out of it (a report, a panic, a
//! `Custom` handler): a guard dropped while a report unwinds, or taken inside a handler, finds
//! the list free.

use super::graph::{check_in_graph, needs_graph};
use super::{Held, How, LockRef};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::panic::Location;

/// The guards this thread holds, in the order taken, each with the serial number of the
/// [`HeldMark`] that releases it.
struct HeldList {
    held: Vec<Held>,
    serials: Vec<u64>,
    next_serial: u64,
}

/// Entries in this thread's cache of known orders; a power of two.
const KNOWN_SLOTS: usize = 256;

std::thread_local! {
    static HELD: RefCell<HeldList> = const {
        RefCell::new(HeldList { held: Vec::new(), serials: Vec::new(), next_serial: 0 })
    };

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

/// Call before every *blocking* acquisition of `lock` (taken `how`, at `at`), also when it
/// would not have to wait: the order is what counts. Not for `try_*` acquisitions, which
/// cannot block (their guards still count as held: see [`hold`]).
///
/// Adds the edges "every lock this thread holds → `lock`" that the graph lacks. If one of
/// them closes a cycle, reports it in the mode of
/// [`on_inversion`](super::on_inversion), before anything blocks: `Panic` panics (with the
/// report; nothing is recorded), `Log` and `Custom` report, record, and return.
///
/// * Nothing held: returns after one thread-local check.
/// * `lock` itself held (a recursive read, a read under one's own modify guard): no edge. The
///   re-entrant cases that would block forever are the re-entrancy check's. Except
///   `How::Upgrade`, which waits for the other readers: edges from every *other* lock held.
/// * Every order already taken by this thread: found in its cache, no global lock.
#[track_caller]
#[inline]
pub(crate) fn before_acquire(lock: LockRef, how: How, at: &'static Location<'static>) {
    let acquiring = Held { lock, how, at };
    let slow = HELD.try_with(|list| {
        let list = list.borrow();
        if list.held.is_empty() || !needs_graph(&list.held, &acquiring) {
            None
        } else {
            // A copy, so that no borrow is held while a report is delivered.
            Some(list.held.clone())
        }
    });
    if let Ok(Some(held)) = slow {
        check_in_graph(&held, acquiring);
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
    let serial = HELD
        .try_with(|list| {
            let mut list = list.borrow_mut();
            let serial = list.next_serial;
            list.next_serial += 1;
            list.held.push(Held { lock, how, at });
            list.serials.push(serial);
            serial
        })
        // During thread teardown: nothing is recorded, and the mark releases nothing.
        .unwrap_or(u64::MAX);
    HeldMark {
        serial,
        _not_send: PhantomData,
    }
}

/// This thread holds a lock until this is dropped: made by [`hold`], kept in the guard.
///
/// Not `Send` (the entry is in the thread that made it), but `Sync`, like the guards that
/// hold it.
#[must_use = "the lock counts as held only while the mark lives"]
#[derive(Debug)]
pub(crate) struct HeldMark {
    serial: u64,
    _not_send: PhantomData<std::sync::MutexGuard<'static, ()>>,
}

impl HeldMark {
    /// The guard changed kind in place (`ModifyGuard::upgrade` → `How::Upgrade`, a downgrade
    /// → `How::Read`) at `at`: later reports name the lock as held this way, since `at`.
    pub(crate) fn change(&self, how: How, at: &'static Location<'static>) {
        let serial = self.serial;
        let _ = HELD.try_with(|list| {
            let mut list = list.borrow_mut();
            if let Some(i) = list.serials.iter().rposition(|&s| s == serial) {
                list.held[i].how = how;
                list.held[i].at = at;
            }
        });
    }
}

impl Drop for HeldMark {
    fn drop(&mut self) {
        let serial = self.serial;
        // During thread teardown the list may be gone already: nothing left to release.
        let _ = HELD.try_with(|list| {
            let mut list = list.borrow_mut();
            // Usually the last entry; any one in general. Order is kept: the report names a
            // lock's outermost guard.
            if let Some(i) = list.serials.iter().rposition(|&s| s == serial) {
                list.serials.remove(i);
                list.held.remove(i);
            }
        });
    }
}

/// This thread's held guards (for the tests).
#[cfg(test)]
pub(super) fn held() -> Vec<Held> {
    HELD.with(|list| list.borrow().held.clone())
}
