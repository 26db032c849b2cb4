//! Spin-then-park: the one blocking wait behind both [`Puller::wait`](crate::Puller::wait)
//! and [`WaitGroup::wait`](crate::WaitGroup::wait), and the `Event` their async twins
//! register their wakers with.
//!
//! A waiter first spins, because a pusher running on another core usually delivers within
//! microseconds while a kernel wake-up costs 20-25 µs on the VMs this was measured on; but a
//! spin that does not pay burns CPU the pusher may need. How long to spin is learned per wait
//! point (per `Event`, so per `Shared` / `WaitGroup`): a short eager floor on every wait, a
//! learned extension while recent spins paid, and an occasional probe longer than a wake-up to
//! find out whether they pay again. The policy and its reasons are in `spin` (`src/park/spin.rs`).
//! An idle wait costs at most the floor plus one probe in CPU time (tested in
//! `tests/idle_cpu.rs`).
//!
//! Then the waiter announces itself (`register`, which sets a "waiting" flag in the caller's
//! state word and reports whether the wait is still needed) and sleeps on an `Event` until
//! `ready()` holds. The notifier changes the state word first and wakes the `Event` only if it
//! saw the flag.
//!
//! Why no wake-up is lost: `register` and the notifier's change are ordered on the state
//! word (by a lock for `Shared`, by a single atomic word for `WaitGroup`); a notifier that saw
//! no flag changed the word before the registration, so `register` reports "ready"; one that
//! saw the flag wakes the `Event` after its change, and the waiter checks `ready()` under the
//! `Event`'s mutex before sleeping, so it either sees the change or is asleep to be woken.
//! Spurious wake-ups are harmless: the flag stays set until a change clears it, and
//! `ready()` is checked again before sleeping again.
//!
//! Under loom the spin phase is compiled out (`Backoff` completes at once): models go straight
//! to the blocking path, whose protocol is what they prove.
//!
//! # Async waiters
//!
//! The same `Event` also holds the wakers of pending futures (`Puller::wait_async`,
//! `Shared::wait_until_async`, `WaitGroup::wait_async`), in a slab under its mutex: a slot is
//! `Waiting(waker, ticket)` or `Free` (on a free list, reused before the slab grows). A future
//! owns one slot at most, through an [`AsyncWaiter`], for as long as it is pending; the ticket
//! (a counter of allocations) tells it whether a slot it once had is still its own
//! (`park/async_waiter.rs`). The protocol is the blocking one with a waker in place of a
//! sleeping thread: the future sets the caller's "waiting" flag exactly as
//! `register` does, then [`AsyncWaiter::park`] stores its waker *after checking `ready()` under
//! the `Event`'s mutex*, so a `notify_all` that follows the change either finds the waker or
//! came before the check, which then sees the change. One `notify_all` wakes both kinds:
//! under the mutex it frees every waiting slot, moving its waker out, and signals the condvar
//! only if a thread sleeps on it (`sleepers`), so a push that only tasks wait for makes no
//! futex call; the wakers are woken after the mutex is released. A woken future that sees its
//! change completes without taking the mutex again (`AsyncWaiter::forget`); one that must wait
//! on re-registers in a fresh slot. `notify_release` is `notify_all` for a writer's release
//! that futures wait for (`crate::shared::release`): it clears their flag under the mutex and
//! wakes the tasks (the threads too only if the writer's publish found some).
//!
//! A waker is user code (`park/wakers.rs`): it is cloned before the mutex is taken (and the
//! condition checked again under the mutex before the clone is stored), woken and dropped
//! after it is released; the wakers of one `notify_all` are woken one by one inside
//! `catch_unwind`, so a panicking `wake` leaves no other waiter unwoken; the first panic
//! resumes on the notifier afterwards, or, on a thread that already unwinds, is reported on
//! stderr and swallowed.
//!
//! Cancel-safety: dropping a pending future frees its slot if it still holds it
//! (`AsyncWaiter`'s `Drop`; a slot `notify_all` freed and handed on is left alone). A
//! notification is never handed to one waiter in particular: `notify_all` wakes every waiter
//! of the change, so a future dropped after being notified takes nothing from anyone else.

use crate::deadline::Deadline;
use crate::sync::{Condvar, Instant, Mutex, MutexGuard, SPIN_BEFORE_PARKING};
use std::fmt;

mod async_waiter;
mod spin;
#[cfg(all(test, not(loom)))]
mod tests;
mod wakers;

pub(crate) use async_waiter::AsyncWaiter;
use async_waiter::Waiters;
use spin::SpinHistory;
use wakers::{Batch, Panics};

/// A place for threads and tasks to wait until another thread calls `notify_all`. See the
/// module docs.
#[derive(Default)]
pub(crate) struct Event {
    waiters: Mutex<Waiters>,
    condvar: Condvar,
    /// What spinning bought this wait point so far: how long its next waiter spins.
    spin: SpinHistory,
    /// What the tests count: how often the mutex was taken, the condvar signalled, a thread
    /// put to sleep.
    #[cfg(test)]
    pub(crate) probe: Probe,
}

/// Counters of an `Event`'s slow-path work, for the tests that pin "a publish nobody waits
/// for takes no lock" and "a push only tasks wait for makes no futex call".
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Probe {
    /// Acquisitions of the `Event`'s mutex.
    pub(crate) locks: std::sync::atomic::AtomicUsize,
    /// `notify_all`s of the condvar (each a futex call when a thread sleeps on it).
    pub(crate) signals: std::sync::atomic::AtomicUsize,
    /// Threads that went to sleep on the condvar.
    pub(crate) sleeps: std::sync::atomic::AtomicUsize,
}

#[cfg(test)]
impl Probe {
    fn count(counter: &std::sync::atomic::AtomicUsize) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// (mutex acquisitions, condvar signals, sleeps) so far.
    pub(crate) fn snapshot(&self) -> (usize, usize, usize) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.locks.load(Relaxed),
            self.signals.load(Relaxed),
            self.sleeps.load(Relaxed),
        )
    }
}

/// Which waiters a notification is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Whom {
    /// Threads blocked in `wait_while` and async waiters: a change of the state word.
    All,
    /// Async waiters only: a writer's release that futures wait for (no thread blocks on the
    /// `Event` for that; a thread waits for the lock on the lock itself).
    Tasks,
}

impl Event {
    fn lock(&self) -> MutexGuard<'_, Waiters> {
        #[cfg(test)]
        Probe::count(&self.probe.locks);
        self.waiters.lock()
    }

    /// Blocks while `pending()` is true, checking it under the event's mutex so that a
    /// `notify_all` issued after the condition changed cannot be missed. Returns `false` if
    /// the deadline passed first.
    pub(crate) fn wait_while(
        &self,
        mut pending: impl FnMut() -> bool,
        deadline: Option<Instant>,
    ) -> bool {
        let mut waiters = self.lock();
        while pending() {
            waiters.sleepers += 1;
            #[cfg(test)]
            Probe::count(&self.probe.sleeps);
            match deadline {
                None => waiters = self.condvar.wait(waiters),
                Some(deadline) => {
                    let (guard, timed_out) = self.condvar.wait_until(waiters, deadline);
                    waiters = guard;
                    if timed_out {
                        waiters.sleepers -= 1;
                        return !pending();
                    }
                }
            }
            waiters.sleepers -= 1;
        }
        true
    }

    /// Wakes every thread blocked in `wait_while` and every pending async waiter. Taking the
    /// mutex orders this call after any waiter that checked its condition before the change
    /// and has not yet slept (or stored its waker).
    ///
    /// Wakers are woken after the mutex is released, `WAKE_BATCH` at a time, each inside
    /// `catch_unwind`: a waker whose `wake` panics does not keep the others from being woken;
    /// the first such panic resumes here once all were (or, if this thread is unwinding
    /// already, is reported on stderr and swallowed). See `wakers`.
    pub(crate) fn notify_all(&self) {
        self.notify(Whom::All, || {});
    }

    /// A writer's release that futures wait for (see `crate::shared::release`): runs `clear`
    /// (which clears their flag) under the mutex, then wakes every pending async waiter, and
    /// the threads blocked in `wait_while` too if `threads` (the writer's publish also found
    /// waiters). As `notify_all` otherwise.
    pub(crate) fn notify_release(&self, threads: bool, clear: impl FnOnce()) {
        let whom = if threads { Whom::All } else { Whom::Tasks };
        self.notify(whom, clear);
    }

    /// Wakes as `notify_all` does (the tasks only for `Whom::Tasks`), running `on_lock` under
    /// the mutex first.
    fn notify(&self, whom: Whom, on_lock: impl FnOnce()) {
        let mut on_lock = Some(on_lock);
        let mut batch = Batch::new();
        let mut panics = Panics::default();
        let mut scan_from = 0;
        let mut signal = whom == Whom::All;
        loop {
            {
                let mut waiters = self.lock();
                if let Some(on_lock) = on_lock.take() {
                    on_lock();
                }
                if signal && waiters.sleepers > 0 {
                    #[cfg(test)]
                    Probe::count(&self.probe.signals);
                    self.condvar.notify_all();
                }
                signal = false;
                scan_from = waiters.take_waiting(scan_from, &mut batch);
            }
            // Outside the mutex: a waker may run code (or, under loom, switch threads) that
            // takes this very mutex.
            let full = batch.is_full();
            batch.wake_all(&mut panics);
            if !full {
                break;
            }
            // A full batch: there may be more. Slots registered while the mutex was released
            // are for a later change (they checked their condition after this one), so
            // skipping those behind `scan_from` loses nothing; waking them would be harmless.
        }
        panics.resume();
    }

    /// How many slots the async waiters' slab holds (in use or free): it grows only to the
    /// largest number of futures pending at once.
    #[cfg(test)]
    pub(crate) fn slab_capacity(&self) -> usize {
        self.lock().slots.len()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event").finish_non_exhaustive()
    }
}

/// Waits until `ready()` holds or `deadline` passes; `true` when ready.
///
/// `register` announces the waiter: `Some(true)` when it must sleep, `Some(false)` if the
/// wait turned out unnecessary, `None` if the deadline passed while registering (it may have
/// to take a lock). Once the flag `register` sets is cleared, `ready()` must hold.
#[inline]
pub(crate) fn wait(
    event: &Event,
    ready: impl Fn() -> bool,
    register: impl FnOnce() -> Option<bool>,
    deadline: Deadline,
) -> bool {
    if ready() {
        return true;
    }
    wait_slow(event, ready, register, deadline)
}

#[cold]
fn wait_slow(
    event: &Event,
    ready: impl Fn() -> bool,
    register: impl FnOnce() -> Option<bool>,
    deadline: Deadline,
) -> bool {
    // Compiled out under loom (the constant is false there).
    if SPIN_BEFORE_PARKING && event.spin.spin(&ready, deadline.instant()) {
        return true;
    }
    if deadline.has_passed() {
        return ready();
    }
    match register() {
        Some(true) => {
            // How long the park lasted teaches the spin policy (see "Long parks" in `spin`);
            // not under loom, where nothing spins.
            let parked = SPIN_BEFORE_PARKING.then(Instant::now);
            let woken = event.wait_while(|| !ready(), deadline.instant());
            if let Some(parked) = parked {
                event.spin.parked(parked.elapsed());
            }
            woken
        }
        Some(false) => true,
        None => ready(),
    }
}
