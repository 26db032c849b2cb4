//! Spin-then-park: the one blocking wait behind both [`Puller::wait`](crate::Puller::wait)
//! and [`WaitGroup::wait`](crate::WaitGroup::wait).
//!
//! A waiter first spins briefly (bounded by `Backoff`: a few microseconds of `spin_loop`
//! hints, then a few `yield_now`s), because a pusher running on another core usually
//! delivers within that window and a kernel wake-up costs tens of microseconds. Then it
//! announces itself (`register`, which sets a "waiting" flag in the caller's state word and
//! reports whether the wait is still needed) and sleeps on an `Event` until `ready()` holds.
//! The notifier changes the state word first and wakes the `Event` only if it saw the flag.
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

use crate::sync::{Backoff, Event, Instant};

/// Waits until `ready()` holds or `deadline` passes; `true` when ready.
///
/// `register` announces the waiter and returns `false` if the wait turned out unnecessary.
/// Once the flag `register` sets is cleared, `ready()` must hold.
#[inline]
pub(crate) fn wait(
    event: &Event,
    ready: impl Fn() -> bool,
    register: impl FnOnce() -> bool,
    deadline: Option<Instant>,
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
    register: impl FnOnce() -> bool,
    deadline: Option<Instant>,
) -> bool {
    let backoff = Backoff::new();
    while !backoff.is_completed() {
        backoff.snooze();
        if ready() {
            return true;
        }
    }
    if !register() {
        return true;
    }
    event.wait_while(|| !ready(), deadline)
}
