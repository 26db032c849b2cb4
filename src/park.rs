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
//! (a counter of allocations) tells it whether a slot it once had is still its own. The protocol is the blocking one with a waker
//! in place of a sleeping thread: the future sets the caller's "waiting" flag exactly as
//! `register` does, then [`AsyncWaiter::park`] stores its waker *after checking `ready()` under
//! the `Event`'s mutex*, so a `notify_all` that follows the change either finds the waker or
//! came before the check, which then sees the change. One `notify_all` wakes both kinds:
//! under the mutex it frees every waiting slot, moving its waker out, and signals the condvar
//! only if a thread sleeps on it (`sleepers`), so a push that only tasks wait for makes no
//! futex call; the wakers are woken after the mutex is released. A woken future that sees its
//! change completes without taking the mutex again (`AsyncWaiter::forget`); one that must wait
//! on re-registers in a fresh slot.
//!
//! Cancel-safety: dropping a pending future frees its slot if it still holds it
//! (`AsyncWaiter`'s `Drop`; a slot `notify_all` freed and handed on is left alone). A
//! notification is never handed to one waiter in particular: `notify_all` wakes every waiter
//! of the change, so a future dropped after being notified takes nothing from anyone else.

use crate::deadline::Deadline;
use crate::sync::{Condvar, Instant, Mutex, MutexGuard, SPIN_BEFORE_PARKING};
use std::fmt;
use std::task::Waker;

mod spin;

use spin::SpinHistory;

/// How many wakers `notify_all` moves out per trip through the mutex: they sit in an array on
/// the stack (no allocation), and are woken after the mutex is released.
const WAKE_BATCH: usize = 32;

/// A place for threads and tasks to wait until another thread calls `notify_all`. See the
/// module docs.
#[derive(Default)]
pub(crate) struct Event {
    waiters: Mutex<Waiters>,
    condvar: Condvar,
    /// What spinning bought this wait point so far: how long its next waiter spins.
    spin: SpinHistory,
}

/// What the `Event`'s mutex guards.
struct Waiters {
    /// Threads blocked on the condvar (in `wait_while`): `notify_all` signals the condvar only
    /// when there are some.
    sleepers: usize,
    /// The async waiters' slots, indexed by `AsyncWaiter::key`.
    slots: Vec<Slot>,
    /// How many slots are `Waiting`: `notify_all` stops scanning when it found them all.
    waiting: usize,
    /// Head of the free list threaded through the `Free` slots (`NO_SLOT`: empty).
    free: usize,
    /// The ticket of the next allocation: tells a slot's owner from an earlier owner whose
    /// slot `notify_all` freed and the slab gave to someone else.
    next_ticket: u64,
}

/// The end of the free list (and "no slot").
const NO_SLOT: usize = usize::MAX;

enum Slot {
    /// A pending future's waker, to be woken (and the slot freed) by the next `notify_all`;
    /// the ticket names the `AsyncWaiter` it belongs to.
    Waiting(Waker, u64),
    /// Unused; the next free slot.
    Free { next: usize },
}

impl Default for Waiters {
    fn default() -> Self {
        Waiters {
            sleepers: 0,
            slots: Vec::new(),
            waiting: 0,
            free: NO_SLOT,
            next_ticket: 0,
        }
    }
}

impl Waiters {
    /// Stores `waker` in a free slot (the slab grows only if none is free): its key and
    /// ticket.
    fn allocate(&mut self, waker: Waker) -> (usize, u64) {
        let ticket = self.next_ticket;
        self.next_ticket = self.next_ticket.wrapping_add(1);
        self.waiting += 1;
        if self.free == NO_SLOT {
            self.slots.push(Slot::Waiting(waker, ticket));
            return (self.slots.len() - 1, ticket);
        }
        let key = self.free;
        match std::mem::replace(&mut self.slots[key], Slot::Waiting(waker, ticket)) {
            Slot::Free { next } => self.free = next,
            Slot::Waiting(..) => unreachable!("the free list holds only free slots"),
        }
        (key, ticket)
    }

    /// The waker in slot `key` if the slot still belongs to the waiter holding `ticket`
    /// (`notify_all` may have freed it, and the slab handed it on since).
    fn owned(&mut self, key: usize, ticket: u64) -> Option<&mut Waker> {
        match self.slots.get_mut(key) {
            Some(Slot::Waiting(waker, owner)) if *owner == ticket => Some(waker),
            _ => None,
        }
    }

    /// Frees a `Waiting` slot, returning its waker (dropped or woken by the caller outside
    /// the mutex).
    fn release(&mut self, key: usize) -> Waker {
        let next = self.free;
        match std::mem::replace(&mut self.slots[key], Slot::Free { next }) {
            Slot::Waiting(waker, _) => {
                self.waiting -= 1;
                self.free = key;
                waker
            }
            Slot::Free { .. } => unreachable!("only a waiting slot is released"),
        }
    }
}

impl Event {
    fn lock(&self) -> MutexGuard<'_, Waiters> {
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
    /// and has not yet slept (or stored its waker). Wakers are woken after the mutex is
    /// released, `WAKE_BATCH` at a time.
    pub(crate) fn notify_all(&self) {
        let mut batch: [Option<Waker>; WAKE_BATCH] = Default::default();
        let mut scan_from = 0;
        let mut first = true;
        loop {
            let mut taken = 0;
            {
                let mut waiters = self.lock();
                if first && waiters.sleepers > 0 {
                    self.condvar.notify_all();
                }
                first = false;
                let waiters = &mut *waiters;
                while scan_from < waiters.slots.len() && waiters.waiting > 0 && taken < WAKE_BATCH {
                    // Woken waiters' slots are freed here, so a future that completes after
                    // this wake-up does not take the mutex again to free its own (see
                    // `AsyncWaiter::forget`).
                    if let Slot::Waiting(..) = waiters.slots[scan_from] {
                        batch[taken] = Some(waiters.release(scan_from));
                        taken += 1;
                    }
                    scan_from += 1;
                }
            }
            // Outside the mutex: a waker may run code (or, under loom, switch threads) that
            // takes this very mutex.
            for waker in batch[..taken].iter_mut().filter_map(Option::take) {
                waker.wake();
            }
            if taken < WAKE_BATCH {
                return;
            }
            // A full batch: there may be more. Slots registered while the mutex was released
            // are for a later change (they checked their condition after this one), so
            // skipping those behind `scan_from` loses nothing; waking them would be harmless.
        }
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

/// A pending future's place in an [`Event`]: at most one slab slot, freed when the wait ends
/// or the future is dropped.
pub(crate) struct AsyncWaiter<'e> {
    event: &'e Event,
    /// The slot this waiter's waker was stored in (`NO_SLOT`: none)...
    key: usize,
    /// ... and its ticket: the slot is still this waiter's only while it holds this ticket.
    ticket: u64,
}

impl<'e> AsyncWaiter<'e> {
    /// A waiter holding no slot yet.
    pub(crate) fn new(event: &'e Event) -> Self {
        AsyncWaiter {
            event,
            key: NO_SLOT,
            ticket: 0,
        }
    }

    /// Stores `waker` to be woken by the next `notify_all`, unless `ready()` holds, which is
    /// checked under the `Event`'s mutex (see the module docs: a change followed by a
    /// `notify_all` cannot slip between the check and the store). Returns `true` if ready
    /// (then the slot is freed). The caller must have announced itself in its state word
    /// (the "waiting" flag) before, exactly as for a blocking wait.
    ///
    /// On a re-poll, the stored waker is replaced only if it would not wake the same task.
    pub(crate) fn park(&mut self, waker: &Waker, ready: impl FnOnce() -> bool) -> bool {
        let mut waiters = self.event.lock();
        let held = if self.key == NO_SLOT {
            None
        } else {
            waiters.owned(self.key, self.ticket)
        };
        if ready() {
            let freed = held.is_some().then(|| waiters.release(self.key));
            self.key = NO_SLOT;
            drop(waiters);
            drop(freed); // a waker's drop may run code: outside the mutex
            return true;
        }
        match held {
            Some(stored) => {
                if !stored.will_wake(waker) {
                    let old = std::mem::replace(stored, waker.clone());
                    drop(waiters);
                    drop(old);
                }
            }
            // First registration, or a re-registration after `notify_all` freed the slot.
            None => (self.key, self.ticket) = waiters.allocate(waker.clone()),
        }
        false
    }

    /// Frees the slot if this waiter still holds it: the future is dropped, or its wait ended
    /// without the change it registered for (a predicate that changed its mind).
    pub(crate) fn leave(&mut self) {
        if self.key != NO_SLOT {
            let mut waiters = self.event.lock();
            let freed = waiters
                .owned(self.key, self.ticket)
                .is_some()
                .then(|| waiters.release(self.key));
            self.key = NO_SLOT;
            drop(waiters);
            drop(freed);
        }
    }

    /// Lets go of the slot without taking the mutex, for a future that saw the change it
    /// registered for. That change's publisher saw the "waiting" flag (set before the
    /// registration) and owes a `notify_all`, which frees the slot, whether it ran already or
    /// is still to come (then it wakes this future's waker once more: a spurious wake-up,
    /// which futures tolerate). So the slot is never leaked, and a woken task does not take
    /// the mutex a second time; with 64 tasks woken by one push on 2 workers, that mutex is
    /// what they would queue on.
    pub(crate) fn forget(&mut self) {
        self.key = NO_SLOT;
    }

    /// Whether this waiter holds a slot.
    pub(crate) fn is_parked(&self) -> bool {
        self.key != NO_SLOT
    }
}

impl Drop for AsyncWaiter<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl fmt::Debug for AsyncWaiter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncWaiter")
            .field("parked", &self.is_parked())
            .finish()
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
        Some(true) => event.wait_while(|| !ready(), deadline.instant()),
        Some(false) => true,
        None => ready(),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{Shared, WaitGroup};
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake};

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (Arc::clone(&count), Waker::from(count))
    }

    fn wakes(count: &Count) -> usize {
        count.0.load(Ordering::Relaxed)
    }

    /// Cycles of 1 million in native runs (the figure), fewer under Miri.
    const CYCLES: usize = if cfg!(miri) { 1_000 } else { 1_000_000 };

    #[test]
    fn a_million_create_poll_drop_cycles_keep_the_slab_at_one_slot() {
        let shared = Shared::new(0u32);
        let wg = WaitGroup::new();
        let _token = wg.token();
        let (_, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let mut puller = shared.puller();
        for _ in 0..CYCLES {
            let mut wait = pin!(puller.wait_async());
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            let mut until = pin!(shared.wait_until_async(|n| *n > 0));
            assert!(until.as_mut().poll(&mut cx).is_pending());
            let mut group = pin!(wg.wait_async());
            assert!(group.as_mut().poll(&mut cx).is_pending());
        }
        // Two futures were pending at once on the Shared, one on the group: every other slot
        // was freed by a drop and reused.
        assert_eq!(shared.core().event.slab_capacity(), 2);
        assert_eq!(wg.inner_event().slab_capacity(), 1);
        let event = shared.core().event.lock();
        assert_eq!(
            (event.waiting, event.sleepers),
            (0, 0),
            "nothing left registered"
        );
    }

    /// The free list's length.
    fn free_slots(event: &Event) -> usize {
        let waiters = event.lock();
        let mut free = 0;
        let mut next = waiters.free;
        while next != NO_SLOT {
            free += 1;
            next = match waiters.slots[next] {
                Slot::Free { next } => next,
                Slot::Waiting(..) => panic!("a slot on the free list is not free"),
            };
        }
        free
    }

    #[test]
    fn notify_all_wakes_more_waiters_than_one_batch_and_frees_their_slots() {
        let event = Event::default();
        let n = WAKE_BATCH * 2 + 3;
        let wakers: Vec<_> = (0..n).map(|_| counting()).collect();
        let mut waiters: Vec<_> = (0..n).map(|_| AsyncWaiter::new(&event)).collect();
        for (waiter, (_, waker)) in waiters.iter_mut().zip(&wakers) {
            assert!(!waiter.park(waker, || false));
        }
        event.notify_all();
        assert!(wakers.iter().all(|(count, _)| wakes(count) == 1));
        assert_eq!(free_slots(&event), n, "every woken slot is freed");
        assert_eq!(event.lock().waiting, 0);
        event.notify_all();
        assert!(
            wakers.iter().all(|(count, _)| wakes(count) == 1),
            "a woken waiter is not woken twice"
        );
        // A re-poll that must wait on registers again, in a free slot.
        assert!(!waiters[0].park(&wakers[0].1, || false));
        assert_eq!(free_slots(&event), n - 1);
        event.notify_all();
        assert_eq!(wakes(&wakers[0].0), 2);
        waiters.clear();
        assert_eq!(free_slots(&event), n, "every slot is on the free list");
        assert_eq!(event.slab_capacity(), n);
    }

    /// A waiter whose slot `notify_all` freed and the slab handed to another waiter: its
    /// re-registration, its completion and its drop leave the other waiter's slot alone.
    #[test]
    fn a_slot_handed_on_after_notify_all_stays_with_its_new_owner() {
        let event = Event::default();
        let (first, first_waker) = counting();
        let (second, second_waker) = counting();
        let mut a = AsyncWaiter::new(&event);
        let mut b = AsyncWaiter::new(&event);
        assert!(!a.park(&first_waker, || false));
        event.notify_all(); // frees a's slot 0
        assert!(!b.park(&second_waker, || false)); // slot 0 again, now b's
        assert_eq!(event.slab_capacity(), 1);
        assert!(!a.park(&first_waker, || false)); // a registers anew: slot 1
        assert_eq!(event.slab_capacity(), 2);
        a.leave();
        assert!(!a.park(&first_waker, || false));
        assert!(a.park(&first_waker, || true)); // ready: frees only a's own slot
        drop(a);
        assert_eq!(event.lock().waiting, 1, "b still waits");
        event.notify_all();
        assert_eq!((wakes(&first), wakes(&second)), (1, 1));
        drop(b);
        assert_eq!(free_slots(&event), 2);
    }

    /// `wait_until_async` completing on the version it registered at (its predicate changed
    /// its mind, no push): no `notify_all` is owed, so the future frees its slot itself.
    #[test]
    fn wait_until_async_ready_without_a_push_frees_its_slot() {
        let shared = Shared::new(0u32);
        let open = std::sync::atomic::AtomicBool::new(false);
        let (_, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let mut until = pin!(shared.wait_until_async(|_| open.load(Ordering::Relaxed)));
        assert!(until.as_mut().poll(&mut cx).is_pending());
        assert!(until.as_mut().poll(&mut cx).is_pending());
        assert_eq!(shared.core().event.lock().waiting, 1);
        open.store(true, Ordering::Relaxed);
        assert!(until.as_mut().poll(&mut cx).is_ready());
        let event = shared.core().event.lock();
        assert_eq!(
            (event.waiting, event.free),
            (0, 0),
            "slot 0 freed by the future"
        );
    }

    /// A blocked thread is counted while it sleeps and uncounted when it leaves, woken or
    /// timed out: a count left behind would make every later `notify_all` signal the condvar
    /// (a futex call on a push that only tasks wait for).
    #[test]
    #[cfg_attr(
        miri,
        ignore = "a thread parks: miri rejects parking_lot_core's futex call"
    )]
    fn a_blocking_wait_is_uncounted_when_it_ends_woken_or_timed_out() {
        let event = Arc::new(Event::default());
        let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sleeper = {
            let (event, open) = (Arc::clone(&event), Arc::clone(&open));
            std::thread::spawn(move || event.wait_while(|| !open.load(Ordering::Acquire), None))
        };
        // Bounded: the sleeper counts itself under the mutex before it blocks.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while event.lock().sleepers == 0 {
            assert!(
                std::time::Instant::now() < give_up,
                "the sleeper never blocked"
            );
            std::thread::yield_now();
        }
        open.store(true, Ordering::Release);
        event.notify_all();
        assert!(sleeper.join().unwrap());
        assert_eq!(event.lock().sleepers, 0, "a woken sleeper is uncounted");
        let soon = Some(std::time::Instant::now() + std::time::Duration::from_millis(1));
        assert!(!event.wait_while(|| true, soon));
        assert_eq!(event.lock().sleepers, 0, "a timed-out sleeper is uncounted");
    }

    /// A waiter that registers while `notify_all` runs (here: from a waker it wakes, into a
    /// slot that call already freed) waits for a later change: that call neither wakes it nor
    /// scans past the slab's end looking for it.
    #[test]
    fn a_waiter_registered_during_notify_all_waits_for_the_next_one() {
        // 'static, for the waker that registers from `wake`; a static rather than a leak
        // (miri checks for leaks).
        static EVENT: std::sync::OnceLock<Event> = std::sync::OnceLock::new();
        let event: &'static Event = EVENT.get_or_init(Event::default);
        let (late_count, late_waker) = counting();
        let late = Arc::new(std::sync::Mutex::new(Some((
            AsyncWaiter::new(event),
            late_waker,
        ))));
        struct OnWake(Arc<std::sync::Mutex<Option<(AsyncWaiter<'static>, Waker)>>>);
        impl Wake for OnWake {
            fn wake(self: Arc<Self>) {
                if let Some((waiter, waker)) = self.0.lock().unwrap().as_mut() {
                    assert!(!waiter.park(waker, || false));
                }
            }
        }
        // A full batch plus one: the first batch's first waker registers `late`, which takes
        // slot 0 (freed by this very call); the second trip takes slot WAKE_BATCH and must stop
        // at the end of the slab although `late` is still waiting.
        let mut waiters: Vec<AsyncWaiter<'static>> = Vec::new();
        let trigger = Waker::from(Arc::new(OnWake(Arc::clone(&late))));
        let others: Vec<_> = (0..WAKE_BATCH).map(|_| counting()).collect();
        let mut first = AsyncWaiter::new(event);
        assert!(!first.park(&trigger, || false));
        for (_, waker) in &others {
            let mut waiter = AsyncWaiter::new(event);
            assert!(!waiter.park(waker, || false));
            waiters.push(waiter);
        }
        assert_eq!(event.slab_capacity(), WAKE_BATCH + 1);
        event.notify_all();
        assert!(others.iter().all(|(count, _)| wakes(count) == 1));
        assert_eq!(
            wakes(&late_count),
            0,
            "registered after the change: not woken by it"
        );
        assert_eq!(event.lock().waiting, 1);
        event.notify_all();
        assert_eq!(wakes(&late_count), 1, "woken by the next one");
        drop(late.lock().unwrap().take());
        drop(first);
    }

    #[test]
    fn a_repoll_keeps_an_equivalent_waker_and_replaces_a_different_one() {
        let event = Event::default();
        let (first, first_waker) = counting();
        let (second, second_waker) = counting();
        let mut waiter = AsyncWaiter::new(&event);
        assert!(!waiter.park(&first_waker, || false));
        assert!(!waiter.park(&first_waker.clone(), || false)); // will_wake: kept
        assert!(!waiter.park(&second_waker, || false)); // another task: replaced
        event.notify_all();
        assert_eq!(
            (wakes(&first), wakes(&second)),
            (0, 1),
            "only the latest waker"
        );
    }

    #[test]
    fn park_reports_ready_under_the_mutex_and_frees_the_slot() {
        let event = Event::default();
        let (count, waker) = counting();
        let mut waiter = AsyncWaiter::new(&event);
        assert!(!waiter.park(&waker, || false));
        assert!(waiter.is_parked());
        assert!(waiter.park(&waker, || true));
        assert!(!waiter.is_parked());
        event.notify_all();
        assert_eq!(wakes(&count), 0, "a freed slot is never woken");
    }

    #[test]
    fn a_completed_wait_async_leaves_no_slot_behind() {
        let shared = Shared::new(0u32);
        let (count, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let mut puller = shared.puller();
        let mut wait = pin!(puller.wait_async());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        shared.push(|n| *n = 5);
        assert_eq!(wakes(&count), 1);
        match wait.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(guard)) => assert_eq!(*guard, 5),
            Poll::Ready(Err(closed)) => panic!("{closed}: nobody closed it"),
            Poll::Pending => panic!("the push must complete the wait"),
        }
        let event = shared.core().event.lock();
        assert_eq!((event.waiting, event.free), (0, 0), "slot 0 freed");
    }
}
