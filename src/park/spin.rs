//! The spin policy: how long a waiter spins before it parks, learned per wait point.
//!
//! Spinning wins when the change comes soon (a partner on another core answers within a
//! microsecond, while a kernel wake-up costs 20-25 µs of latency and a few µs of CPU on each
//! side) and loses when it does not (every spun microsecond is CPU taken from the pusher on a
//! 2-core machine). No fixed budget is right for both, so each `Event` keeps a small history
//! of what spinning bought it, and a wait spins in up to three phases:
//!
//! 1. **Floor** (`FLOOR`, 1 µs, every wait): check after every `spin_loop` hint. A partner that
//!    is itself spinning answers within it (a ping-pong round trip is ~0.2 µs). This is what
//!    keeps a ping-pong out of a slow mode: whichever side is woken from a park answers at
//!    once, and the other side, which just answered and is in its floor, sees it.
//! 2. **Learned** (`limit`, 0-6 µs): spin on (checking after every hint, yielding the core
//!    every `YIELD_EVERY`, 4 µs, so a pusher that shares it runs) while recent spins paid: a
//!    wait that ended within `PAYS` (3 µs) of spinning raises the limit to twice what it took;
//!    a wait that had to park, or that ended only after longer than `PAYS`, halves it. A
//!    waiter whose pushes come every 20 or 50 µs (the documented `wait_until` loop, consumers
//!    of a paced pusher) settles at 0: it parks after the floor, like a condvar waiter.
//! 3. **Probe** (`PROBE`, 64 µs, occasionally): when the limit is 0, every `interval`-th wait
//!    that gets past the floor spins once more, for longer than a kernel wake-up, to find out
//!    whether spinning pays again (a partner that was parked is back). A probe that ends
//!    within `PAYS` resets `interval` to 1; one that does not doubles it, up to 128, so a
//!    waiter that spinning never helps pays one probe per 128 slow waits (≤ 0.5 µs a wait).
//!    `STREAK` (2) waits in a row that end within the floor also reset `interval` to 1: a
//!    ping-pong whose partner was preempted probes at its next slow wait and finds it again.
//!
//! Why `PAYS` is short: a spin that succeeds only after several microseconds is usually a
//! partner on *this* core, which ran only because this thread yielded. Measured on the 2-core
//! VMs here: half of the cold starts of a ping-pong place both threads on one core (the kernel
//! puts a new thread, and a woken one, next to its waker), where they stay for thousands of
//! round trips at ~5-9 µs each, whatever the spin policy; spinning longer there only burns
//! the partner's time. (A Mutex+Condvar ping-pong takes ~27 µs a round trip either way.)
//!
//! The deadline bounds every phase: `wait_for(Duration::ZERO)` does not spin at all.
//!
//! The history is a heuristic: one word, read and written with `Relaxed` loads and stores.
//! Waiters of one `Event` racing to update it may lose each other's updates; that only
//! mistunes the next spin, never correctness (which the registration protocol provides alone).
//! Under loom no spin runs at all (`SPIN_BEFORE_PARKING` is false), so the word is a plain std
//! atomic there too.

use crate::sync::untracked::AtomicU32;
use crate::sync::{spin_loop, yield_now, Duration, Instant};

/// Phase 1: every wait checks after every hint for this long.
pub(super) const FLOOR: Duration = Duration::from_micros(1);
/// A spin that ended within this long paid for itself (it saved a wake-up's latency for less
/// CPU than a park and wake cost).
const PAYS: Duration = Duration::from_micros(3);
/// The learned phase never spins longer than this: twice the longest spin that pays.
const MAX_LIMIT_US: u32 = 6;
/// A probe spins this long: longer than a kernel wake-up, so it can see a parked partner
/// wake up and answer.
pub(super) const PROBE: Duration = Duration::from_micros(64);
/// Probes at most every this many slow waits.
const MAX_INTERVAL: u32 = 128;
/// Hints between two looks at the clock.
const HINTS_PER_CLOCK_READ: u32 = 32;
/// Past the floor, a spinning waiter yields its core this often, so that a pusher sharing the
/// core gets to run; in between it checks after every hint, so that it reacts within tens of
/// nanoseconds (a waiter that only checks between yields reacts in microseconds, and two such
/// waiters keep each other in a slow ping-pong).
const YIELD_EVERY: Duration = Duration::from_micros(4);

/// The history of one wait point, packed in one word: the learned limit in µs (bits 0-7), the
/// probe interval (bits 8-15), slow waits since the last probe (bits 16-23).
#[derive(Debug, Default)]
pub(crate) struct SpinHistory {
    word: AtomicU32,
}

/// The unpacked history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct State {
    /// Phase 2's length, in µs.
    pub(super) limit_us: u32,
    /// Probe every `interval`-th slow wait (1..=`MAX_INTERVAL`).
    pub(super) interval: u32,
    /// Slow waits (past the floor, limit 0) since the last probe.
    pub(super) since_probe: u32,
    /// Consecutive waits that ended within the floor (saturating at `STREAK`).
    pub(super) floor_streak: u32,
}

/// Consecutive floor successes that show spinning pays here (a ping-pong): one alone may be
/// luck (a wake-up that happened to come late, just before the next push).
const STREAK: u32 = 2;

impl State {
    /// A new wait point: nothing learned yet, so the first slow wait probes.
    pub(super) const FRESH: State = State {
        limit_us: 0,
        interval: 1,
        since_probe: 0,
        floor_streak: 0,
    };

    fn unpack(word: u32) -> State {
        if word == 0 {
            return State::FRESH;
        }
        State {
            limit_us: word & 0xff,
            interval: (word >> 8) & 0xff,
            since_probe: (word >> 16) & 0xff,
            floor_streak: word >> 24,
        }
    }

    fn pack(self) -> u32 {
        // `interval` is never 0, so a packed state is never 0 (0 means FRESH).
        self.limit_us | self.interval << 8 | self.since_probe << 16 | self.floor_streak << 24
    }

    /// A wait ended within the floor. After `STREAK` in a row, spinning pays here: the next
    /// wait that misses the floor probes at once (a ping-pong partner that was preempted is
    /// found again within one probe). `true` if the state changed.
    pub(super) fn floor_success(&mut self) -> bool {
        if self.floor_streak >= STREAK {
            return false;
        }
        self.floor_streak += 1;
        if self.floor_streak == STREAK {
            self.interval = 1;
        }
        true
    }

    /// How long to spin after the floor: the learned limit, a probe, or nothing; and whether
    /// it is a probe.
    pub(super) fn plan(&mut self) -> (Duration, bool) {
        if self.limit_us > 0 {
            return (Duration::from_micros(u64::from(self.limit_us)), false);
        }
        self.since_probe += 1;
        if self.since_probe >= self.interval {
            self.since_probe = 0;
            (PROBE, true)
        } else {
            (Duration::ZERO, false)
        }
    }

    /// Learns from a spin past the floor: `Some(took)` if the wait ended while spinning,
    /// `None` if it had to park (or the deadline cut it short).
    pub(super) fn learn(&mut self, outcome: Option<Duration>, probed: bool) {
        match outcome {
            Some(took) if took <= PAYS => {
                let twice = u32::try_from(took.as_micros() * 2).unwrap_or(u32::MAX);
                self.limit_us = twice.clamp(1, MAX_LIMIT_US).max(self.limit_us);
                self.interval = 1;
            }
            _ => {
                self.limit_us /= 2;
                if probed {
                    self.interval = (self.interval * 2).min(MAX_INTERVAL);
                }
            }
        }
    }
}

impl SpinHistory {
    fn load(&self) -> State {
        // Relaxed: a heuristic (see the module docs); no other memory depends on it.
        State::unpack(self.word.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn store(&self, state: State) {
        // Relaxed: as `load`; a racing waiter's update may be lost, which only mistunes.
        self.word
            .store(state.pack(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Spins until `ready()` holds or this wait point's policy says to park (or `deadline`
    /// passes): `true` if `ready()` held.
    pub(crate) fn spin(&self, ready: &impl Fn() -> bool, deadline: Option<Instant>) -> bool {
        let start = Instant::now();
        let cap = |d: Duration| deadline.map_or(start + d, |at| at.min(start + d));
        let mut state = self.load();
        if eager(ready, cap(FLOOR)) {
            // No store once the streak is established: a fast ping-pong writes nothing.
            if state.floor_success() {
                self.store(state);
            }
            return true;
        }
        state.floor_streak = 0;
        let (length, probed) = state.plan();
        let outcome = if length.is_zero() {
            None
        } else {
            let begun = Instant::now();
            spin_yielding(ready, cap(FLOOR + length)).then(|| begun.elapsed())
        };
        // A spin the deadline cut short says nothing about what spinning buys here.
        let cut_short = outcome.is_none() && deadline.is_some_and(|at| at < start + FLOOR + length);
        if !length.is_zero() && !cut_short {
            state.learn(outcome, probed);
        }
        self.store(state);
        outcome.is_some()
    }

    /// The state, for the tests.
    #[cfg(test)]
    pub(super) fn state(&self) -> State {
        self.load()
    }
}

/// Checks after every hint until `end`.
fn eager(ready: &impl Fn() -> bool, end: Instant) -> bool {
    loop {
        for _ in 0..HINTS_PER_CLOCK_READ {
            if ready() {
                return true;
            }
            spin_loop();
        }
        if Instant::now() >= end {
            return ready();
        }
    }
}

/// Checks after every hint until `end`, yielding the core every `YIELD_EVERY`.
fn spin_yielding(ready: &impl Fn() -> bool, end: Instant) -> bool {
    loop {
        if eager(ready, end.min(Instant::now() + YIELD_EVERY)) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        yield_now();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn a_fresh_wait_point_probes_its_first_slow_wait() {
        let mut s = State::FRESH;
        assert_eq!(s.plan(), (PROBE, true));
        s.learn(None, true);
        assert_eq!(s.plan(), (Duration::ZERO, false), "probes then space out");
    }

    #[test]
    fn quick_successes_raise_the_limit_and_parks_halve_it() {
        let mut s = State::FRESH;
        s.learn(Some(us(2)), true);
        assert_eq!((s.limit_us, s.interval), (4, 1));
        assert_eq!(s.plan(), (us(4), false));
        s.learn(Some(us(1)), false);
        assert_eq!(s.limit_us, 4, "a quicker success keeps what was learned");
        s.learn(Some(PAYS), false);
        assert_eq!(s.limit_us, MAX_LIMIT_US, "twice the longest spin that pays");
        s.learn(None, false);
        assert_eq!(s.limit_us, MAX_LIMIT_US / 2);
        s.learn(Some(PAYS + us(1)), false);
        assert_eq!(
            s.limit_us,
            MAX_LIMIT_US / 4,
            "a slow success does not pay: halve"
        );
        s.learn(None, false);
        assert_eq!(s.limit_us, 0);
        s.learn(Some(Duration::from_nanos(100)), false);
        assert_eq!(
            s.limit_us, 1,
            "a success under 1 µs still earns the smallest limit"
        );
    }

    #[test]
    fn failed_probes_space_out_up_to_the_maximum_interval() {
        let mut s = State::FRESH;
        let mut probes = 0;
        for _ in 0..1000 {
            let (length, probed) = s.plan();
            if probed {
                probes += 1;
                assert_eq!(length, PROBE);
                s.learn(None, true);
            } else {
                assert_eq!(length, Duration::ZERO);
            }
        }
        assert_eq!(s.interval, MAX_INTERVAL);
        // After 1, 2, 4, ..., 128 slow waits (8 probes in 255), then every 128th: 8 + 745 / 128.
        assert_eq!(probes, 13, "probes in 1000 slow waits");
    }

    #[test]
    fn a_probe_that_pays_brings_spinning_back_at_once() {
        let mut s = State {
            limit_us: 0,
            interval: MAX_INTERVAL,
            since_probe: 0,
            floor_streak: 0,
        };
        while !s.plan().1 {}
        s.learn(Some(us(2)), true);
        assert_eq!((s.limit_us, s.interval), (4, 1));
    }

    #[test]
    fn a_streak_of_floor_successes_makes_the_next_slow_wait_probe() {
        let mut s = State {
            interval: MAX_INTERVAL,
            ..State::FRESH
        };
        assert!(s.floor_success());
        assert_eq!(s.interval, MAX_INTERVAL, "one success may be luck");
        assert!(s.floor_success());
        assert_eq!(s.interval, 1);
        assert!(!s.floor_success(), "saturated: nothing to store");
        assert_eq!(s.plan(), (PROBE, true));
    }

    #[test]
    fn states_survive_packing() {
        for state in [
            State::FRESH,
            State {
                limit_us: MAX_LIMIT_US,
                interval: MAX_INTERVAL,
                since_probe: MAX_INTERVAL - 1,
                floor_streak: STREAK,
            },
            State {
                limit_us: 0,
                interval: 2,
                since_probe: 1,
                floor_streak: 1,
            },
        ] {
            assert_eq!(State::unpack(state.pack()), state);
        }
    }

    #[test]
    fn the_deadline_bounds_every_phase() {
        let history = SpinHistory::default();
        let start = Instant::now();
        // Fresh: the first slow wait would probe for 64 µs; a passed deadline allows none.
        assert!(!history.spin(&|| false, Some(start)));
        assert!(
            history.spin(&|| true, Some(start)),
            "ready is still checked once"
        );
    }

    #[test]
    fn a_wait_that_never_ends_in_the_spin_learns_to_park_after_the_floor() {
        let history = SpinHistory::default();
        for _ in 0..200 {
            assert!(!history.spin(&|| false, None));
        }
        let state = history.state();
        assert_eq!(state.limit_us, 0);
        assert_eq!(state.interval, MAX_INTERVAL);
    }
}
