//! The spin policy: how long a waiter spins before it parks, learned per wait point.
//!
//! Spinning wins when the change comes soon (a partner on another core answers within a
//! microsecond, while a kernel wake-up costs 20-50 µs of latency and several µs of CPU on
//! each side) and loses when it does not (every spun microsecond is CPU taken from the pusher
//! on a 2-core machine). No fixed budget is right for both, so each `Event` keeps a small
//! history of what spinning bought it, and a wait spins in up to three phases:
//!
//! 1. **Floor** (`FLOOR`, 1 µs, every wait): check after every `spin_loop` hint. A partner that
//!    is itself spinning answers within it (a ping-pong round trip is ~0.2 µs). This is what
//!    keeps a ping-pong out of a slow mode: whichever side is woken from a park answers at
//!    once, and the other side, which just answered and is in its floor, sees it.
//! 2. **Learned** (`limit`, 0-16 µs of the waiter's own time): spin on, checking after every
//!    hint and yielding the core every `YIELD_EVERY` (4 µs) so that a thread sharing it runs,
//!    while recent spins paid. A spin that ended within what pays raises the limit to twice
//!    what it took; one that had to park, or ended later, halves it. A waiter whose pushes come
//!    every 20 or 50 µs (the documented `wait_until` loop, consumers of a paced pusher) settles
//!    at 0: it parks after the floor, like a condvar waiter.
//! 3. **Probe** (`PROBE`, 64 µs, occasionally): when the limit is 0, every `interval`-th wait
//!    that gets past the floor spins once more, for longer than a kernel wake-up, to find out
//!    whether spinning pays again (a partner that was parked is back). A probe that pays
//!    resets `interval` to 1; one that does not doubles it, up to 128, so a waiter that
//!    spinning never helps pays one probe per 128 slow waits (≤ 0.5 µs a wait). `STREAK` (2)
//!    waits in a row that end within the floor also reset `interval` to 1: a ping-pong whose
//!    partner was preempted probes at its next slow wait and finds it again.
//!
//! The deadline bounds every phase: `wait_for(Duration::ZERO)` does not spin at all. A spin
//! the deadline cut short counts as one that did not pay (a failed probe doubles `interval`
//! as any other), so a loop of short timed waits that time out spins for at most one probe's
//! worth (its whole timeout) per `interval` waits, like any waiter spinning never helps; a
//! deadline that leaves no time past the floor learns nothing.
//!
//! ## Long parks
//!
//! A wait that parked and was woken `LONG_PARK` (128 µs, twice a probe) or more later ended
//! where no spin would have ended it, not even a probe: it counts as a failed probe that
//! cost nothing (the limit goes to 0, `interval` doubles). This is what keeps a consumer of
//! bursty pushes (bursts of back-to-back pushes, idle milliseconds between) from paying, after
//! every burst, a learned spin and a probe that spinning during the burst taught it: the
//! idle gap after the burst is a long park, and says so.
//!
//! ## What pays
//!
//! Only the waiter's *own* spinning counts, against the limit and against what pays: a yield
//! that takes longer than `YIELD_ALONE` (1 µs) handed the core to another thread, and that
//! time is the other thread's (a spin's wall time may exceed its budget by up to `PROBE` so).
//!
//! * **Alone** (no yield handed the core off): a spin pays if it ended within `PAYS` (3 µs).
//!   A spin that succeeds only after several microseconds is usually waiting for a partner
//!   that needed a kernel wake-up anyway, or that runs on the pusher's time.
//! * **Sharing the core** (one or two hand-offs, up to `MAX_HANDOFFS`): there are more
//!   runnable threads than cores (a master and two workers on two cores: a fan-in), and the
//!   partner it waits for ran *because* this thread yielded. Parking instead would cost every
//!   thread of the round a kernel wake-up, more latency and more CPU than the spin, so such a
//!   spin pays up to `PAYS_SHARED` (8 µs) of own time, and the next spin yields first.
//!   `waitgroup_fanin` measured 1.0-1.15 × crossbeam's round when only wall time counted and
//!   every spin had to end within 3 µs, 0.22-0.25 × with this rule.
//! * **Crowded** (more hand-offs): a round of spinners passing the core among themselves; it
//!   never pays. Nor does a spin start at all while as many waiters of this `Event` as there
//!   are cores spin already (four consumers of one `Shared` on two cores): the extra waiter
//!   parks at once and leaves the history alone.
//!
//! Two threads that share a core only because the kernel put them there (a ping-pong whose
//! partner was spawned next to its spawner, the other core idle) would pay by the same rule
//! and stay at ~5 µs a round trip; on the 2-core VMs here half of the cold starts begin that
//! way. So after `REBALANCE` (63) paying shared spins in a row the next slow wait parks: the
//! wake-up lets the kernel move one of them to the idle core, after which they answer within
//! the floor. Where every core is busy (the fan-in) that costs one slow round in 63.
//!
//! The history is a heuristic: one word, read and written with `Relaxed` loads and stores, and
//! a count of spinners, changed with `Relaxed` read-modify-writes. Waiters of one `Event`
//! racing to update the word may lose each other's updates; that only mistunes the next spin,
//! never correctness (which the registration protocol provides alone). Under loom no spin runs
//! at all (`SPIN_BEFORE_PARKING` is false), so both are plain std atomics there too.

use crate::sync::untracked::AtomicU32;
use crate::sync::{spin_loop, yield_now, Duration, Instant};
use std::sync::atomic::Ordering::Relaxed;

/// Phase 1: every wait checks after every hint for this long.
pub(super) const FLOOR: Duration = Duration::from_micros(1);
/// A spin alone on its core that ended within this long paid for itself (it saved a
/// wake-up's latency for less CPU than a park and wake cost).
const PAYS: Duration = Duration::from_micros(3);
/// The same for a spin whose yields handed the core to another thread at most
/// `MAX_HANDOFFS` times (see "What pays").
const PAYS_SHARED: Duration = Duration::from_micros(8);
/// More hand-offs than this in one spin: spinners passing the core among themselves.
const MAX_HANDOFFS: u32 = 2;
/// The learned phase never spins longer than this (own time): twice the longest spin that
/// pays.
const MAX_LIMIT_US: u32 = 16;
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
/// A yield that returns within this long ran nobody else; the time a longer one took went to
/// another thread on this core.
const YIELD_ALONE: Duration = Duration::from_micros(1);
/// Consecutive floor successes that show spinning pays here (a ping-pong): one alone may be
/// luck (a wake-up that happened to come late, just before the next push).
const STREAK: u32 = 2;
/// After this many paying shared spins in a row, park once (see the module docs). At most 63:
/// the count has 6 bits.
const REBALANCE: u32 = 63;
/// A park that lasted this long (twice a probe, longer than any wake-up) ended a wait that no
/// spin, not even a probe, would have: it counts as a failed probe (see "Long parks").
pub(super) const LONG_PARK: Duration = Duration::from_micros(128);

/// The history of one wait point: the learned state packed in one word (see `State::pack`),
/// and how many of its waiters are in the learned phase or a probe right now.
#[derive(Debug, Default)]
pub(crate) struct SpinHistory {
    word: AtomicU32,
    spinners: AtomicU32,
}

/// The unpacked history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct State {
    /// Phase 2's length, in µs of own time (bits 0-7).
    pub(super) limit_us: u32,
    /// Probe every `interval`-th slow wait (1..=`MAX_INTERVAL`; bits 8-15).
    pub(super) interval: u32,
    /// Slow waits (past the floor, limit 0) since the last probe (bits 16-23).
    pub(super) since_probe: u32,
    /// Consecutive waits that ended within the floor (saturating at `STREAK`; bits 24-25).
    pub(super) floor_streak: u32,
    /// Consecutive paying spins that shared their core (below `REBALANCE`; bits 26-31).
    pub(super) shared_streak: u32,
}

impl State {
    /// A new wait point: nothing learned yet, so the first slow wait probes.
    pub(super) const FRESH: State = State {
        limit_us: 0,
        interval: 1,
        since_probe: 0,
        floor_streak: 0,
        shared_streak: 0,
    };

    fn unpack(word: u32) -> State {
        if word == 0 {
            return State::FRESH;
        }
        State {
            limit_us: word & 0xff,
            interval: (word >> 8) & 0xff,
            since_probe: (word >> 16) & 0xff,
            floor_streak: (word >> 24) & 0x3,
            shared_streak: word >> 26,
        }
    }

    fn pack(self) -> u32 {
        // `interval` is never 0, so a packed state is never 0 (0 means FRESH).
        self.limit_us
            | self.interval << 8
            | self.since_probe << 16
            | self.floor_streak << 24
            | self.shared_streak << 26
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

    /// Whether the next spin yields before it spins: the last one paid by sharing its core.
    pub(super) fn yield_first(self) -> bool {
        self.shared_streak > 0
    }

    /// Learns from a park that lasted `LONG_PARK` or more: no spin would have ended that wait.
    /// As a failed probe, without its cost: the limit goes to 0 and the probe interval
    /// doubles. `true` if the state changed.
    pub(super) fn long_park(&mut self) -> bool {
        let before = *self;
        self.limit_us = 0;
        self.shared_streak = 0;
        self.interval = (self.interval * 2).min(MAX_INTERVAL);
        *self != before
    }

    /// Learns from a spin past the floor: `Some(spun)` if the wait ended while spinning,
    /// `None` if it had to park (or the deadline cut it short).
    pub(super) fn learn(&mut self, outcome: Option<Spun>, probed: bool) {
        match outcome {
            Some(spun)
                if spun.paid() && spun.handoffs > 0 && self.shared_streak + 1 >= REBALANCE =>
            {
                // Park at the next slow wait (no limit, no probe due), then probe at the one
                // after: see the module docs.
                self.shared_streak = 0;
                self.limit_us = 0;
                self.since_probe = 0;
                self.interval = 2;
            }
            Some(spun) if spun.paid() => {
                self.shared_streak = if spun.handoffs > 0 {
                    self.shared_streak + 1
                } else {
                    0
                };
                let twice = u32::try_from(spun.own.as_micros() * 2).unwrap_or(u32::MAX);
                self.limit_us = twice.clamp(1, MAX_LIMIT_US).max(self.limit_us);
                self.interval = 1;
            }
            _ => {
                self.shared_streak = 0;
                self.limit_us /= 2;
                if probed {
                    self.interval = (self.interval * 2).min(MAX_INTERVAL);
                }
            }
        }
    }
}

/// A spin past the floor that ended with `ready()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Spun {
    /// This thread's own spinning: the wall time less what its yields gave to others.
    pub(super) own: Duration,
    /// Yields that handed the core to another thread.
    pub(super) handoffs: u32,
}

impl Spun {
    /// Whether the spin paid for itself (see "What pays" in the module docs).
    fn paid(self) -> bool {
        match self.handoffs {
            0 => self.own <= PAYS,
            1..=MAX_HANDOFFS => self.own <= PAYS_SHARED,
            _ => false,
        }
    }
}

impl SpinHistory {
    fn load(&self) -> State {
        // Relaxed: a heuristic (see the module docs); no other memory depends on it.
        State::unpack(self.word.load(Relaxed))
    }

    fn store(&self, state: State) {
        // Relaxed: as `load`; a racing waiter's update may be lost, which only mistunes.
        self.word.store(state.pack(), Relaxed);
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
        // The floor is over. A deadline that leaves no time past it (`wait_for(0)`, a
        // timeout shorter than the floor): no phase 2, no probe, nothing learned.
        if deadline.is_some_and(|at| Instant::now() >= at) {
            return false;
        }
        state.floor_streak = 0;
        let (length, probed) = state.plan();
        let outcome = if length.is_zero() {
            None
        } else {
            let Some(_seat) = self.seat() else {
                // Crowded: park at once, and learn nothing.
                return false;
            };
            // Own time `length`; wall time up to `PROBE` more, however much went to others.
            spin_yielding(
                ready,
                length,
                cap(FLOOR + length + PROBE),
                state.yield_first(),
            )
        };
        // A spin the deadline cut short counts as one that did not pay: spinning did not end
        // this wait, and a waiter whose waits keep timing out (a loop of short `wait_for`s)
        // must not spin through every timeout: its probes space out like any others.
        if !length.is_zero() {
            state.learn(outcome, probed);
        }
        self.store(state);
        outcome.is_some()
    }

    /// A waiter of this wait point was parked for `how_long` (after its spin failed): learns
    /// from a long park (see "Long parks" in the module docs).
    pub(crate) fn parked(&self, how_long: Duration) {
        if how_long >= LONG_PARK {
            let mut state = self.load();
            // No store when nothing changes: an idle waiter writes nothing once settled.
            if state.long_park() {
                self.store(state);
            }
        }
    }

    /// A place among this wait point's spinners, or `None` if as many as there are cores
    /// spin already.
    fn seat(&self) -> Option<Seat<'_>> {
        // Relaxed: a heuristic count; no other memory depends on it.
        let seat = Seat(&self.spinners);
        (self.spinners.fetch_add(1, Relaxed) < cores()).then_some(seat)
    }

    /// The state, for the tests.
    #[cfg(test)]
    pub(super) fn state(&self) -> State {
        self.load()
    }
}

/// One waiter counted among its wait point's spinners, until dropped.
struct Seat<'a>(&'a AtomicU32);

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        // Relaxed: as `SpinHistory::seat`.
        self.0.fetch_sub(1, Relaxed);
    }
}

/// The machine's cores, as far as this process may use them (read once).
fn cores() -> u32 {
    static CORES: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
    })
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

/// Checks after every hint, yielding the core every `YIELD_EVERY` (and first, if
/// `yield_first`), until this thread has spun for `budget` of its own time or `end` passes.
fn spin_yielding(
    ready: &impl Fn() -> bool,
    budget: Duration,
    end: Instant,
    yield_first: bool,
) -> Option<Spun> {
    let begun = Instant::now();
    let mut others = Duration::ZERO;
    let mut handoffs = 0;
    let mut yield_now_first = yield_first;
    loop {
        if yield_now_first {
            let before = Instant::now();
            yield_now();
            let gave = before.elapsed().saturating_sub(YIELD_ALONE);
            if !gave.is_zero() {
                handoffs += 1;
                others += gave;
            }
        }
        yield_now_first = true;
        let own_end = (begun + budget + others).min(end);
        if eager(ready, own_end.min(Instant::now() + YIELD_EVERY)) {
            return Some(Spun {
                own: begun.elapsed().saturating_sub(others),
                handoffs,
            });
        }
        if Instant::now() >= own_end {
            return None;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    /// A spin that ended after `own`, its yields running nobody else.
    fn alone(own: Duration) -> Spun {
        Spun { own, handoffs: 0 }
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
        s.learn(Some(alone(us(2))), true);
        assert_eq!((s.limit_us, s.interval), (4, 1));
        assert_eq!(s.plan(), (us(4), false));
        s.learn(Some(alone(us(1))), false);
        assert_eq!(s.limit_us, 4, "a quicker success keeps what was learned");
        s.learn(Some(alone(PAYS)), false);
        assert_eq!(s.limit_us, 6, "twice the longest spin that pays");
        s.learn(None, false);
        assert_eq!(s.limit_us, 3);
        s.learn(Some(alone(PAYS + us(1))), false);
        assert_eq!(s.limit_us, 1, "a slow success does not pay: halve");
        s.learn(None, false);
        assert_eq!(s.limit_us, 0);
        s.learn(Some(alone(Duration::from_nanos(100))), false);
        assert_eq!(
            s.limit_us, 1,
            "a success under 1 µs still earns the smallest limit"
        );
    }

    #[test]
    fn a_spin_that_handed_its_core_to_a_partner_pays_for_longer() {
        let shared = |own, handoffs| Spun { own, handoffs };
        let mut s = State::FRESH;
        s.learn(Some(alone(PAYS + us(1))), true);
        assert_eq!(s.limit_us, 0, "alone, 4 µs of spinning does not pay");
        assert!(!s.yield_first());
        s.learn(Some(shared(PAYS + us(1), 1)), true);
        assert_eq!(
            s.limit_us, 8,
            "after one hand-off it does: twice what it took"
        );
        assert!(s.yield_first(), "and the next spin yields first");
        s.learn(Some(shared(PAYS_SHARED, MAX_HANDOFFS)), false);
        assert_eq!(s.limit_us, MAX_LIMIT_US);
        s.learn(Some(shared(PAYS_SHARED + us(1), 1)), false);
        assert_eq!(
            s.limit_us,
            MAX_LIMIT_US / 2,
            "longer than that does not pay"
        );
        assert!(!s.yield_first());
        s.learn(Some(shared(us(1), MAX_HANDOFFS + 1)), false);
        assert_eq!(
            s.limit_us,
            MAX_LIMIT_US / 4,
            "spinners passing the core around: never pays"
        );
    }

    /// A spin of 2 µs that paid by handing its core to the partner once.
    const SHARED_2US: Spun = Spun {
        own: Duration::from_micros(2),
        handoffs: 1,
    };

    /// A fresh state after one shared spin fewer than `REBALANCE`.
    fn one_shared_spin_short_of_rebalancing() -> State {
        let mut s = State::FRESH;
        for _ in 0..REBALANCE - 1 {
            s.learn(Some(SHARED_2US), false);
        }
        s
    }

    #[test]
    fn a_long_run_of_shared_spins_parks_once_then_probes() {
        let mut s = one_shared_spin_short_of_rebalancing();
        assert_eq!((s.limit_us, s.shared_streak), (4, REBALANCE - 1));
        s.learn(Some(SHARED_2US), false);
        assert_eq!(s.shared_streak, 0);
        assert_eq!(
            s.plan(),
            (Duration::ZERO, false),
            "the next slow wait parks"
        );
        assert_eq!(s.plan(), (PROBE, true), "the one after probes");
        assert_eq!(State::unpack(s.pack()), s);
    }

    #[test]
    fn a_spin_that_pays_alone_ends_a_run_of_shared_spins() {
        let mut s = one_shared_spin_short_of_rebalancing();
        s.learn(Some(alone(us(2))), false);
        assert_eq!((s.shared_streak, s.limit_us), (0, 4), "no park is due");
        assert!(!s.yield_first(), "the partner answers without a yield");
        assert_eq!(s.plan(), (us(4), false));
    }

    #[test]
    fn a_deadline_that_leaves_no_time_past_the_floor_learns_nothing() {
        let history = SpinHistory::default();
        let learned = State {
            limit_us: 8,
            interval: 1,
            since_probe: 0,
            floor_streak: 0,
            shared_streak: 0,
        };
        history.store(learned);
        assert!(!history.spin(&|| false, Some(Instant::now())));
        assert_eq!(
            history.state(),
            learned,
            "a passed deadline says nothing about what spinning buys here"
        );
        assert!(!history.spin(&|| false, None));
        assert_eq!(
            history.state().limit_us,
            4,
            "a full spin that failed halves the limit"
        );
    }

    /// Runs `spin` with a deadline `after` from now on a history holding `state` and a
    /// condition that never holds, until the deadline left time past the floor (a thread
    /// preempted for the whole floor gets no spin: tried again); returns the state after.
    fn cut_short(state: State, after: Duration) -> State {
        for _ in 0..1000 {
            let history = SpinHistory::default();
            history.store(state);
            assert!(!history.spin(&|| false, Some(Instant::now() + after)));
            if history.state() != state {
                return history.state();
            }
        }
        panic!("the deadline never left time past the floor");
    }

    /// The bug this fixed: a probe cut short by a short timeout learned nothing but was
    /// spent (`since_probe` reset), so the next short wait probed again: every
    /// `wait_for(50 µs)` spun its whole timeout.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "timing: under miri the floor alone outlasts these deadlines"
    )]
    fn a_spin_the_deadline_cut_short_counts_as_one_that_did_not_pay() {
        let after = cut_short(State::FRESH, us(40)); // the probe would take 64 µs
        assert_eq!(
            (after.interval, after.since_probe),
            (2, 0),
            "a failed probe"
        );
        let learned = State {
            limit_us: 16,
            ..State::FRESH
        };
        let after = cut_short(learned, us(5));
        assert_eq!(
            after.limit_us, 8,
            "a learned spin cut short halves the limit"
        );
        // A loop of such waits spaces its probes out to every MAX_INTERVAL-th wait: the
        // interval doubles after each (1, 2, ..., 128) instead of staying at 1.
        let history = SpinHistory::default();
        let mut doublings = 0;
        for _ in 0..400 {
            let before = history.state();
            assert!(!history.spin(&|| false, Some(Instant::now() + us(40))));
            doublings += usize::from(history.state().interval > before.interval);
        }
        assert_eq!(doublings, 7, "every probe failed and doubled the interval");
        assert_eq!(history.state().interval, MAX_INTERVAL);
    }

    /// The bursty consumer's fix: the idle gap after a burst is a long park, which teaches
    /// what a failed probe would, without the probe's cost.
    #[test]
    fn a_long_park_counts_as_a_failed_probe_and_a_short_one_as_nothing() {
        let history = SpinHistory::default();
        let learned = State {
            limit_us: 8,
            interval: 4,
            since_probe: 1,
            floor_streak: 0,
            shared_streak: 3,
        };
        history.store(learned);
        history.parked(LONG_PARK - Duration::from_nanos(1));
        assert_eq!(history.state(), learned, "a short park says nothing");
        history.parked(LONG_PARK);
        assert_eq!(
            history.state(),
            State {
                limit_us: 0,
                interval: 8,
                shared_streak: 0,
                ..learned
            }
        );
        for _ in 0..10 {
            history.parked(Duration::from_millis(2));
        }
        assert_eq!(history.state().interval, MAX_INTERVAL);
    }

    #[test]
    fn waiters_beyond_the_cores_park_without_spinning_or_learning() {
        let history = SpinHistory::default();
        let seats: Vec<_> = (0..cores()).map(|_| history.seat().unwrap()).collect();
        let before = history.state();
        assert!(
            !history.spin(&|| false, None),
            "crowded: no spin past the floor"
        );
        assert_eq!(history.state(), before, "and nothing learned");
        drop(seats);
        assert!(history.seat().is_some(), "seats are given back");
        assert_eq!(history.spinners.load(Relaxed), 0);
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
            shared_streak: 0,
        };
        while !s.plan().1 {}
        s.learn(Some(alone(us(2))), true);
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
                shared_streak: REBALANCE - 1,
            },
            State {
                limit_us: 0,
                interval: 2,
                since_probe: 1,
                floor_streak: 1,
                shared_streak: 1,
            },
        ] {
            assert_eq!(State::unpack(state.pack()), state);
        }
    }

    /// How often `ready` is checked after `deadline` during one `spin`: a spin that ends by
    /// its deadline checks at most once per clock read after it (the clock is read every
    /// `HINTS_PER_CLOCK_READ` checks), one that ignores it keeps checking for its whole length.
    fn checks_after_deadline(history: &SpinHistory, deadline: Instant) -> usize {
        let late = std::cell::Cell::new(0);
        let ready = || {
            if Instant::now() > deadline {
                late.set(late.get() + 1);
            }
            false
        };
        assert!(!history.spin(&ready, Some(deadline)));
        late.get()
    }

    #[test]
    fn the_deadline_bounds_every_phase() {
        let bound = 2 * (HINTS_PER_CLOCK_READ as usize + 1);
        // The floor (1 µs), cut at 300 ns.
        let history = SpinHistory::default();
        let late = checks_after_deadline(&history, Instant::now() + Duration::from_nanos(300));
        assert!(late <= bound, "floor: {late} checks after the deadline");
        // A learned spin of 16 µs, cut at 5 µs.
        let learned = State {
            limit_us: MAX_LIMIT_US,
            ..State::FRESH
        };
        let history = SpinHistory::default();
        history.store(learned);
        let late = checks_after_deadline(&history, Instant::now() + us(5));
        assert!(late <= bound, "learned: {late} checks after the deadline");
        // A probe of 64 µs (a fresh wait point's first slow wait), cut at 20 µs.
        let late = checks_after_deadline(&SpinHistory::default(), Instant::now() + us(20));
        assert!(late <= bound, "probe: {late} checks after the deadline");
        // A passed deadline: no spin, and `ready` is still checked once.
        let history = SpinHistory::default();
        let start = Instant::now();
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
