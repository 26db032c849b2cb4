//! A writer's release, as futures see it: how a future that cannot take the read lock sleeps
//! until the writer is gone, and what that costs writers.
//!
//! A future never blocks the thread that polls it, so it only ever *tries* the read lock
//! (`try_read_recursive`: it fails only while a writer holds the lock, not while one is
//! queued behind readers). When it fails and the future has no registration that the writer
//! will honour (`WAITING` set for the version it waits past: the writer's publish wakes the
//! `Event`), it must learn when the writer releases the lock. Blocking threads learn that
//! from the lock itself; a future has only its waker.
//!
//! # The protocol
//!
//! Two flags of the version word (`super::state`):
//!
//! * `ASYNC`: futures use this `Shared`. Set under a read lock (by a future's registration,
//!   or when a future is created, see [`AsyncUse`]), so every writer that takes the lock
//!   after that sees it under its lock: the version word's invariant. A writer that sees it
//!   publishes with a read-modify-write (`publish_async`) and, after its unlock, does the
//!   *release check*: `take_release_waiters`, a read-modify-write clearing `RELEASE_WAIT`,
//!   and `Event::notify_tasks` if it was set. Cleared by a publish that finds no future
//!   counted alive (`async_users`).
//! * `RELEASE_WAIT`: a future waits for the current writer's release. Set by the future
//!   without a lock, by a compare-exchange that succeeds only while `ASYNC` is set
//!   (`set_release_waiter`); then the future stores its waker with `AsyncWaiter::park`, whose
//!   condition, checked under the `Event`'s mutex, is "a read would succeed now".
//!
//! # Why no wake-up is lost
//!
//! Call the future's compare-exchange F and the release check of writer W (after W's unlock)
//! R. Both are read-modify-writes of the version word, so one comes first:
//!
//! * R before F: W's unlock is sequenced before R (Release), F reads R's value or a later
//!   one (Acquire), so the future's check under the `Event`'s mutex sees the lock released by
//!   W (or held by a later writer, to which this argument applies again): it does not sleep
//!   on W.
//! * F before R: R sees `RELEASE_WAIT` and W calls `notify_tasks`, which takes the `Event`'s
//!   mutex after R. The future stored its waker after F, under that mutex, having checked
//!   that the lock was still held: either before W's `notify_tasks` took the mutex (it is
//!   woken) or after W's unlock (its check sees the lock free, and it retries the read).
//!
//! Every writer the future can find holding the lock does the release check: F found `ASYNC`
//! set, and `ASYNC` was set under a read lock. A writer that took the lock after that read
//! lock sees `ASYNC` under its lock (the lock orders them); one that released it before that
//! read lock was taken released it before F, and F's Acquire makes the future's check see
//! that. A writer learns `ASYNC` from its publish (under the lock) or, if it did not publish,
//! from a load after its unlock (`release_check_due`); that load misses `ASYNC` only if a
//! later writer cleared it, and that writer saw it under its lock and does the check itself,
//! after F (it cleared `ASYNC` after F read it set), so it sees `RELEASE_WAIT`.
//!
//! A publish cannot overwrite `RELEASE_WAIT` either: a writer that saw `ASYNC` publishes by a
//! read-modify-write, and one that did not cannot meet a concurrent F (F needs `ASYNC`).
//! This is correct under Acquire/Release alone (no `SeqCst` fence, no store→load pattern),
//! which is also what loom checks (`loom-tests/tests/async_waits.rs`).
//!
//! # What it costs
//!
//! A `Shared` no future uses: nothing (a write guard's drop reads the version word once more,
//! after the unlock). While futures use it (`ASYNC` set): every publish is a compare-exchange
//! instead of a store, and every write guard's release one more read-modify-write; a future
//! pays a count increment when it is created and a decrement when it is dropped. A future
//! that sleeps for a release is woken once per release of a writer it found holding the lock.
//!
//! # What remains: the first future
//!
//! `ASYNC` is set under a read lock, so a future can only set it when no writer holds the
//! lock. [`AsyncUse::new`] tries when the future is created, and every registration under a
//! read lock sets it too. A future created while another thread's writer holds the lock of a
//! `Shared` that no live future keeps `ASYNC` on, and polled while a writer still holds it,
//! cannot sleep: it asks to be polled again at once until a poll gets the read lock (or
//! another future sets `ASYNC`). That is the one case left of "a future re-polls itself".
//!
//! (`AsyncUse::new` skips the read lock when `ASYNC` is set already, and a publish that read
//! the count just before the increment may still clear `ASYNC`. That future then sets it
//! again at its first registration under a read lock; should a writer hold the lock at that
//! very poll, it re-polls as above. A race of a few instructions, costing a few polls, never a
//! lost wake-up: the protocol checks `ASYNC` by its own read-modify-writes.)

use super::state::{Owed, OWES_RELEASE, OWES_WAKE};
use super::{Core, ReadGuard, Shared};
use crate::lock_order::How;
use crate::park::AsyncWaiter;
use std::panic::Location;
use std::task::Context;

impl Core {
    /// What a writer owes after its unlock (`Wake`'s drop): `OWES_WAKE` (its publish found
    /// parked waiters: wake them all) and/or `OWES_RELEASE` (the release check, see the module
    /// docs).
    #[cold]
    #[inline(never)]
    pub(super) fn after_write(&self, owed: Owed) {
        let release = owed & OWES_RELEASE != 0 && self.version.take_release_waiters();
        if owed & OWES_WAKE != 0 {
            self.event.notify_all(); // wakes the tasks too
        } else if release {
            self.event.notify_tasks();
        }
    }
}

/// What a future that found the lock held by a writer does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// Its waker is stored; the writer's release wakes it: return `Pending`.
    Sleeps,
    /// The writer released the lock meanwhile: try the read again now.
    Retry,
    /// `ASYNC` is not set, so no writer would tell (see "What remains" in the module docs):
    /// ask the executor to poll again.
    Repoll,
}

impl<T: ?Sized> Shared<T> {
    /// The read a future takes: never blocks, and does not queue behind a writer that waits
    /// for readers to leave (a recursive read: it fails only while a writer holds the lock).
    /// The guard is recorded as taken `how`; no lock order (it cannot block).
    #[track_caller]
    pub(crate) fn try_read_for_task(&self, how: How) -> Option<ReadGuard<'_, T>> {
        let inner = self.lock.try_read_recursive()?;
        Some(ReadGuard::new(&self.core, inner, how, Location::caller()))
    }

    /// Whether a future's read would succeed now (checked under the `Event`'s mutex: takes
    /// and releases the lock's read side, runs no user code).
    fn could_read(&self) -> bool {
        self.lock.try_read_recursive().is_some()
    }

    /// Puts a future that found the lock held by a writer to sleep until that writer's
    /// release (see the module docs), with `waiter` storing its waker.
    pub(crate) fn sleep_until_released(
        &self,
        waiter: &mut AsyncWaiter<'_>,
        cx: &Context<'_>,
    ) -> Blocked {
        if !self.core.version.set_release_waiter() {
            return Blocked::Repoll;
        }
        if waiter.park(cx.waker(), || self.could_read()) {
            Blocked::Retry
        } else {
            Blocked::Sleeps
        }
    }
}

/// A future of a `Shared` counted among its async users while it lives: `ASYNC` stays set
/// (writers keep doing the release check) until the last one is gone. Created with the
/// future.
pub(crate) struct AsyncUse<'a> {
    core: &'a Core,
}

impl<'a> AsyncUse<'a> {
    /// Counts a new future, and sets `ASYNC` if it is not set: under a read lock, taken only
    /// if no writer holds it now (see "What remains" in the module docs).
    pub(crate) fn new<T: ?Sized>(shared: &'a Shared<T>) -> Self {
        let core = &shared.core;
        // Counted first: a publish that clears `ASYNC` after our read lock sees the count.
        core.version.add_async_user();
        if !core.version.async_set() {
            if let Some(_read) = shared.lock.try_read_recursive() {
                core.version.set_async();
            }
        }
        AsyncUse { core }
    }
}

impl Drop for AsyncUse<'_> {
    fn drop(&mut self) {
        self.core.version.remove_async_user();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// `ASYNC` (writers' careful path) lasts while a future of the `Shared` is alive, and is
    /// cleared by the first publish after the last one is gone: a `Shared` that futures no
    /// longer use stops paying for them.
    #[test]
    fn async_is_kept_while_a_future_lives_and_cleared_by_a_publish_after() {
        let shared = Shared::new(0);
        let version = &shared.core.version;
        assert!(!version.async_set(), "no future yet");
        let mut puller = shared.puller();
        let wait = puller.wait_async();
        assert!(version.async_set(), "set when the future was created");
        shared.push(|n| *n += 1);
        assert!(version.async_set(), "kept: the future lives");
        drop(wait);
        assert!(version.async_set(), "until a publish clears it");
        shared.push(|n| *n += 1);
        assert!(!version.async_set(), "cleared: no future is left");
        let until = shared.wait_until_async(|n| *n > 5);
        assert!(version.async_set());
        drop(until);
        shared.push(|n| *n += 1);
        assert!(!version.async_set());
    }
}
