//! What a timed call means, in every build: the one place that turns a `timeout` argument into
//! the deadline every lock acquisition and wait of a timed call is bounded by.
//!
//! A call is *untimed* (`read()`, `Puller::wait()`, ...) or *timed* (`try_read_for`,
//! `Puller::wait_for`, ...). The difference matters twice:
//!
//! * a timed call never blocks past its deadline, for any reason: waiting for a publish,
//!   spinning, *and* acquiring the lock it returns a guard of (every lock call on a timed path
//!   is a `try_*_until(deadline)`);
//! * where this thread holds a guard that makes the call hopeless, an untimed call panics
//!   (it would deadlock), a timed call gives up at once (`None` / `false`).
//!
//! A timed call may have no instant to stop at: under `cfg(loom)` (loom has no clock, so a
//! timed call blocks like its untimed twin and a lost wake-up shows as a loom deadlock instead
//! of being hidden by a timeout), or when `now + timeout` does not fit in an [`Instant`]. It is
//! still a timed call: it gives up at once where the untimed twin would panic.

use crate::sync::{Duration, Instant, HAS_CLOCK};

/// How long a call may block. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// An untimed call: blocks until it succeeds; panics where it never could.
    Untimed,
    /// A timed call, stopping at the instant if there is one.
    Timed(Option<Instant>),
}

impl Deadline {
    /// The deadline of a call given `timeout`, starting now.
    #[inline]
    pub(crate) fn after(timeout: Duration) -> Self {
        Deadline::Timed(if HAS_CLOCK {
            Instant::now().checked_add(timeout)
        } else {
            None
        })
    }

    /// Whether this is a timed call (which gives up at once where an untimed one panics).
    #[inline]
    pub(crate) fn is_timed(self) -> bool {
        matches!(self, Deadline::Timed(_))
    }

    /// The instant to stop at, if there is one.
    #[inline]
    pub(crate) fn instant(self) -> Option<Instant> {
        match self {
            Deadline::Timed(at) => at,
            Deadline::Untimed => None,
        }
    }

    /// Whether the instant to stop at has passed (never, without one).
    #[inline]
    pub(crate) fn has_passed(self) -> bool {
        self.instant().is_some_and(|at| Instant::now() >= at)
    }
}

/// A lock acquisition bounded by `at`: `until(at)` when there is an instant to stop at, else
/// the blocking `block()` (a timed call with no instant: under loom, or a huge timeout).
#[inline]
pub(crate) fn bounded<G>(
    at: Option<Instant>,
    until: impl FnOnce(Instant) -> Option<G>,
    block: impl FnOnce() -> G,
) -> Option<G> {
    match at {
        Some(at) => until(at),
        None => Some(block()),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_too_large_for_instant_is_still_a_timed_call_that_never_expires() {
        let d = Deadline::after(Duration::MAX);
        assert_eq!(d, Deadline::Timed(None));
        assert!(d.is_timed());
        assert!(!d.has_passed());
    }

    #[test]
    fn a_zero_timeout_has_passed_at_once() {
        let d = Deadline::after(Duration::ZERO);
        assert!(d.is_timed());
        assert!(d.has_passed());
        assert!(!Deadline::Untimed.is_timed());
        assert!(!Deadline::Untimed.has_passed());
    }
}
