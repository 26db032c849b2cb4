//! Spin-then-park: the one blocking wait behind both [`Puller::wait`](crate::Puller::wait)
//! and [`WaitGroup::wait`](crate::WaitGroup::wait).
//!
//! A waiter first spins, because a pusher running on another core usually delivers within
//! microseconds while a kernel wake-up costs 20-25 µs on the VMs this was measured on. The
//! spin has two phases:
//!
//! 1. *eager* (`EAGER_SPIN`, ~1.5 µs): check after every `spin_loop` hint, so a change on
//!    another core is seen within tens of nanoseconds (a ping-pong round trip ~0.13 µs);
//! 2. *polite* (up to `SPIN_BUDGET`, 20 µs in all): alternate `yield_now` with short
//!    `Backoff::spin` bursts, so a pusher that shares this core gets to run.
//!
//! The budget is longer than a wake-up on purpose. With a spin shorter than a wake-up, once
//! one side of a ping-pong parks, the other side's next wait must outlast that wake-up, does
//! not, parks too, and the pair stays in a slow mode (measured: 1.2-20.8 µs per round trip
//! with a 2 µs spin, a steady ~0.13 µs with this policy; see BENCHMARKS.md). An idle wait costs
//! at most the budget in CPU time (tested in `tests/idle_cpu.rs`).
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

use crate::deadline::Deadline;
use crate::sync::{spin_loop, yield_now, Backoff, Duration, Event, Instant, SPIN_BEFORE_PARKING};

/// Phase 1 of the spin: checking after every hint.
const EAGER_SPIN: Duration = Duration::from_nanos(1_500);
/// The whole spin, both phases: longer than a kernel wake-up (see the module doc).
const SPIN_BUDGET: Duration = Duration::from_micros(20);
/// Hints between two looks at the clock in phase 1.
const HINTS_PER_CLOCK_READ: u32 = 32;

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
    if SPIN_BEFORE_PARKING && spin(&ready, deadline.instant()) {
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

/// The bounded spin: `true` if `ready()` held within `SPIN_BUDGET` (and before `deadline`).
fn spin(ready: &impl Fn() -> bool, deadline: Option<Instant>) -> bool {
    let start = Instant::now();
    let budget_end = start + SPIN_BUDGET;
    let end = deadline.map_or(budget_end, |d| d.min(budget_end));
    let eager_end = end.min(start + EAGER_SPIN);
    loop {
        for _ in 0..HINTS_PER_CLOCK_READ {
            if ready() {
                return true;
            }
            spin_loop();
        }
        if Instant::now() >= eager_end {
            break;
        }
    }
    let backoff = Backoff::new();
    while Instant::now() < end {
        yield_now();
        backoff.spin();
        if ready() {
            return true;
        }
    }
    false
}
