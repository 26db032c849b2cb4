//! The async waiters of an `Event`: a slab of waker slots under its mutex, and
//! [`AsyncWaiter`], a pending future's place in it. See "Async waiters" in the module docs of
//! `crate::park`.

use super::wakers::{drop_waker, Batch};
use super::Event;
use std::fmt;
use std::task::Waker;

/// What the `Event`'s mutex guards.
pub(super) struct Waiters {
    /// Threads blocked on the condvar (in `wait_while`): `notify_all` signals the condvar only
    /// when there are some.
    pub(super) sleepers: usize,
    /// The async waiters' slots, indexed by `AsyncWaiter::key`.
    pub(super) slots: Vec<Slot>,
    /// How many slots are `Waiting`: `notify_all` stops scanning when it found them all.
    pub(super) waiting: usize,
    /// Head of the free list threaded through the `Free` slots (`NO_SLOT`: empty).
    pub(super) free: usize,
    /// The ticket of the next allocation: tells a slot's owner from an earlier owner whose
    /// slot `notify_all` freed and the slab gave to someone else.
    next_ticket: u64,
}

/// The end of the free list (and "no slot").
pub(super) const NO_SLOT: usize = usize::MAX;

pub(super) enum Slot {
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

    /// Frees the waiting slots from `from` on into `batch` until it is full or none is left;
    /// returns where the next scan starts. Woken waiters' slots are freed here, so a future
    /// that completes after this wake-up does not take the mutex again to free its own (see
    /// `AsyncWaiter::forget`).
    pub(super) fn take_waiting(&mut self, mut from: usize, batch: &mut Batch) -> usize {
        while from < self.slots.len() && self.waiting > 0 && !batch.is_full() {
            if let Slot::Waiting(..) = self.slots[from] {
                batch.push(self.release(from));
            }
            from += 1;
        }
        from
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
    /// On a re-poll, the stored waker is kept if it would wake the same task
    /// (`Waker::will_wake`, which runs no user code). A waker that must be stored is cloned
    /// with the mutex released (a clone is user code: it may panic, block, or push to the
    /// very `Shared` this waits on); the condition is then checked again under the mutex, in
    /// the same critical section as the store. `ready` runs under the mutex: it must not be
    /// user code.
    pub(crate) fn park(&mut self, waker: &Waker, mut ready: impl FnMut() -> bool) -> bool {
        // A first registration always stores a clone: make it before taking the mutex.
        let mut fresh = (self.key == NO_SLOT).then(|| waker.clone());
        loop {
            let mut waiters = self.event.lock();
            if ready() {
                let freed = self.release_own(&mut waiters);
                drop(waiters);
                drop_waker(freed);
                drop_waker(fresh);
                return true;
            }
            let stored = if self.key == NO_SLOT {
                None
            } else {
                waiters.owned(self.key, self.ticket)
            };
            match (stored, fresh.take()) {
                (Some(stored), unused) if stored.will_wake(waker) => {
                    drop(waiters);
                    drop_waker(unused);
                    return false;
                }
                (Some(stored), Some(new)) => {
                    let old = std::mem::replace(stored, new);
                    drop(waiters);
                    drop_waker(Some(old));
                    return false;
                }
                // First registration, or a re-registration after `notify_all` freed the slot.
                (None, Some(new)) => {
                    (self.key, self.ticket) = waiters.allocate(new);
                    return false;
                }
                // A waker must be stored and none was cloned yet: clone it outside the mutex,
                // then check again.
                (_, None) => {
                    drop(waiters);
                    fresh = Some(waker.clone());
                }
            }
        }
    }

    /// Frees the slot if this waiter still holds it: the future is dropped, or its wait ended
    /// without the change it registered for (a predicate that changed its mind).
    pub(crate) fn leave(&mut self) {
        if self.key != NO_SLOT {
            let mut waiters = self.event.lock();
            let freed = self.release_own(&mut waiters);
            drop(waiters);
            drop_waker(freed);
        }
    }

    /// Lets go of this waiter's slot under the mutex (`waiters`): frees it if this waiter
    /// still holds it, returning its waker, to be dropped once the mutex is released.
    fn release_own(&mut self, waiters: &mut Waiters) -> Option<Waker> {
        let key = std::mem::replace(&mut self.key, NO_SLOT);
        if key != NO_SLOT && waiters.owned(key, self.ticket).is_some() {
            Some(waiters.release(key))
        } else {
            None
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
