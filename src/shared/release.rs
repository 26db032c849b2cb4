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
//!   *release check*: `release_waiters`, a read-modify-write that reads `RELEASE_WAIT`, and if
//!   it is set `Event::notify_release`, which clears it under the `Event`'s mutex and wakes
//!   the tasks. Cleared by a publish that finds no future counted alive (`async_users`) and
//!   `RELEASE_WAIT` clear.
//! * `RELEASE_WAIT`: futures wait for the current writer's release. Set without the lock, by
//!   a compare-exchange that succeeds only while `ASYNC` is set (`set_release_waiter`), *inside
//!   the critical section of the `Event`'s mutex in which the future checks "a read would
//!   succeed now" and stores its waker* (`AsyncWaiter::park`'s condition).
//!
//! # Why no wake-up is lost
//!
//! Call the future's compare-exchange F (inside its critical section S) and the release
//! check of writer W (after W's unlock) R. Both are read-modify-writes of the version word,
//! so one comes first:
//!
//! * F before R: R sees `RELEASE_WAIT` (only a notifier clears it, under the mutex: one that
//!   ran after S woke this future; one that ran before S cleared it before F), and W's
//!   `notify_release` takes the mutex after S (were it before S, its clear would precede F,
//!   which R, sequenced before it, saw). The future stored its waker in S, so it is woken;
//!   or its check in S saw the lock free, and it reads again.
//! * R before F: W's unlock is sequenced before R (Release), F reads R's value or a later one
//!   (Acquire), so the future's check in S sees the lock released by W: free (it reads again)
//!   or held by a later writer W2, whose release check R2 comes after F (were it before, F's
//!   Acquire would make the check see W2's unlock too); the first case applies to W2.
//!
//! A flag set before the store of the waker, outside S, loses the wake-up: W's notification
//! finds no waker, and by the time the future stores it W2 holds the lock and F's flag is
//! gone (loom: `a_release_wait_survives_a_second_writer`; natively:
//! `futures_waiting_through_a_stream_of_writers_always_complete`).
//!
//! Every writer the future can find holding the lock does the release check. F found
//! `ASYNC` set, and `ASYNC` was set under a read lock: a writer that took the lock after that
//! read lock sees `ASYNC` under its lock (the lock orders them), and one that released it
//! before that read lock was taken released it before F, whose Acquire makes the future's
//! check see that. `ASYNC` is not cleared while `RELEASE_WAIT` is set, nor while a future is
//! counted. A writer learns `ASYNC` when it takes the lock (`VersionWord::on_entry`, the
//! load that also checks `CLOSED`): under the write lock nobody else can set `ASYNC` (that
//! takes a read lock) or clear it (that takes a publish), so what it read holds until its
//! unlock, published or not.
//!
//! A publish cannot overwrite `RELEASE_WAIT` either: a writer that saw `ASYNC` publishes by a
//! read-modify-write, and one that did not cannot meet a concurrent F (F needs `ASYNC`).
//! This is correct under Acquire/Release alone (no `SeqCst` fence, no store→load pattern),
//! which is also what loom checks (`loom-tests/tests/async_release.rs`).
//!
//! # What it costs
//!
//! A `Shared` no future uses: a test of `ASYNC` in each publish and the bit it makes owed
//! kept with the guard (about 4 instructions a write; no extra load, no extra atomic
//! read-modify-write, see BENCHMARKS.md, "Instruction counts"). While futures use it (`ASYNC` set): every publish is a compare-exchange
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

use super::state::{Owed, OWES_HOLD_END, OWES_RELEASE, OWES_WAKE};
use super::{Core, ReadGuard, Shared};
use crate::lock_order::How;
use crate::park::AsyncWaiter;
use crate::profile;
use std::panic::Location;
use std::task::Context;

impl Core {
    /// What a writer owes after its unlock (`Wake`'s drop): `OWES_WAKE` (its publish found
    /// parked waiters: wake them all) and/or `OWES_RELEASE` (the release check, see the module
    /// docs), and `OWES_HOLD_END` (the contention profile times its hold).
    #[cold]
    #[inline(never)]
    #[allow(clippy::bad_bit_mask)] // `OWES_HOLD_END` is 0 where the profile does not record
    pub(super) fn after_write(&self, owed: Owed) {
        // `RECORDS` first: where the profile is compiled out, no code at all (the bit is 0
        // there too). The end of a hold the profile times (the guard's acquisition waited and
        // was sampled), after the unlock: it rides with what else the guard owes, so that the
        // guard's drop makes no test of its own. A failure inside the profiler is swallowed:
        // never a panic out of a guard's drop.
        if profile::RECORDS && owed & OWES_HOLD_END != 0 {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.profile.hold_ended();
            }));
        }
        let wake = owed & OWES_WAKE != 0;
        if owed & OWES_RELEASE != 0 && self.version.release_waiters() {
            self.event
                .notify_release(wake, || self.version.clear_release_waiters());
        } else if wake {
            self.event.notify_all();
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
        let version = &self.core.version;
        if !version.async_set() {
            return Blocked::Repoll; // no writer would tell (a hint: checked again below)
        }
        let mut refused = false;
        // Under the Event's mutex, in the critical section that stores the waker: announce the
        // wait, then check the lock.
        let ready = waiter.park(cx.waker(), || {
            if !version.set_release_waiter() {
                refused = true;
                return true;
            }
            self.could_read()
        });
        if refused {
            Blocked::Repoll
        } else if ready {
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
