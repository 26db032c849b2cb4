//! Closing a `Shared`: "no more pushes", told to every waiter.
//!
//! A service that stops its producer must be able to tell the threads and tasks that follow
//! the value that nothing more will come, or they wait forever. [`Shared::close`] does that,
//! as dropping a watch channel's sender or closing a Go channel does:
//!
//! * every wait for a change, blocking or async, timed or not ([`PullerOf::wait`](crate::PullerOf::wait),
//!   [`PullerOf::wait_for`](crate::PullerOf::wait_for), [`PullerOf::wait_async`](crate::PullerOf::wait_async), [`Shared::wait_until`] and their twins)
//!   returns [`Closed`] once there is nothing left to deliver: a puller still gets the last
//!   change it has not seen, then `Closed`; a `wait_until` still returns a value its
//!   predicate holds on, else `Closed`. A wait started after the close returns at once;
//! * reading goes on as before ([`read`](Shared::read), [`snapshot`](Shared::snapshot),
//!   [`PullerOf::pull`](crate::PullerOf::pull)), the value stays as the last push left it;
//! * a write after the close is a bug in the producer (the value would change with nobody
//!   told): [`push`](Shared::push), [`replace`](Shared::replace), [`push_if`](Shared::push_if),
//!   [`push_at`](Shared::push_at), [`write`](Shared::write) and
//!   [`ModifyGuard::upgrade`](crate::ModifyGuard::upgrade) panic, naming the call, before any
//!   closure runs, as a send on a closed channel does in Go; `try_write`, `try_write_for` and
//!   the `try_upgrade`s give up (`None` / the guard back). Close once every producer is done;
//!   [`Shared::is_closed`] tells.
//!
//! A producer that owns its loop can close on the way out, panics included, with a
//! [`Closer`] (or [`ArcCloser`]): dropped, it closes.
//!
//! Closing is a publish without a new version: it sets a flag in the version word under the
//! write lock, and wakes parked waiters after the lock is released if one had announced
//! itself, exactly as a push does (`crate::park` explains why no wake-up is lost; the loom
//! model `close_racing_a_registration_wakes_the_waiter` checks it for close). So a waiter
//! never sleeps through a close.

use crate::puller::SharedHandle;
use crate::shared::Shared;
use crate::sync::Arc;
use crate::Version;
use std::fmt;

/// The `Shared` was [closed](Shared::close) and nothing is left to wait for: returned by
/// every wait for a change once its puller has seen the last version (or its predicate is
/// false on the last value).
///
/// ```
/// use pushpull::{Closed, Shared};
///
/// let s = Shared::new(0);
/// s.close();
/// assert_eq!(s.puller().wait().unwrap_err(), Closed);
/// assert_eq!(Closed.to_string(), "pushpull::Shared: closed, no more pushes will come");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pushpull::Shared: closed, no more pushes will come")
    }
}

impl std::error::Error for Closed {}

impl<T: ?Sized> Shared<T> {
    /// Closes the `Shared`: no write may follow, and every wait for a change ends with
    /// [`Closed`] once it has nothing left to deliver (see the [module docs](crate::close)).
    /// Returns `true` if this call closed it, `false` if it was closed already. Takes the
    /// write lock for a moment; waiters are woken after it is released.
    ///
    /// # Panics
    ///
    /// As [`write`](Self::write), if this thread holds a guard of this `Shared`.
    ///
    /// ```
    /// use pushpull::Shared;
    /// use std::sync::Arc;
    ///
    /// let config = Arc::new(Shared::new("v1"));
    /// let mut follower = config.puller_arc();
    /// let thread = std::thread::spawn(move || {
    ///     let mut applied = Vec::new();
    ///     while let Ok(value) = follower.wait() {
    ///         applied.push(*value);
    ///     }
    ///     applied // the loop ends at the close
    /// });
    /// config.replace("v2");
    /// assert!(config.close());
    /// assert!(!config.close()); // once is enough
    /// let applied = thread.join().unwrap();
    /// assert_eq!(applied.last(), Some(&"v2")); // the last change is never lost
    /// ```
    #[doc(alias = "drop_sender")]
    #[track_caller]
    pub fn close(&self) -> bool {
        self.write_to_close().close()
    }

    /// Whether [`close`](Self::close) was called. Lock-free (one atomic load).
    ///
    /// ```
    /// let s = pushpull::Shared::new(0);
    /// assert!(!s.is_closed());
    /// s.close();
    /// assert!(s.is_closed());
    /// ```
    #[doc(alias = "is_terminated")]
    #[inline]
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.core().version.is_closed()
    }

    /// A guard that closes this `Shared` when dropped, also while the thread unwinds from a
    /// panic: the producer side of a loop that must tell its followers when it stops, however
    /// it stops. It borrows the `Shared`; for one that moves into a thread, see
    /// [`closer_arc`](Self::closer_arc).
    ///
    /// ```
    /// use pushpull::Shared;
    ///
    /// let level = Shared::new(0);
    /// let mut puller = level.puller(); // subscribed before the producer starts
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let _closer = level.closer(); // closes on the way out
    ///         for n in 1..=3 {
    ///             level.push(|l| *l = n);
    ///         }
    ///     });
    ///     let mut last = 0;
    ///     while let Ok(value) = puller.wait() {
    ///         last = *value;
    ///     }
    ///     assert_eq!(last, 3);
    /// });
    /// ```
    #[must_use = "dropping the Closer closes the Shared at once"]
    pub fn closer(&self) -> Closer<'_, T> {
        CloserOf { handle: Some(self) }
    }

    /// An owned [`closer`](Self::closer): holds an `Arc` of this `Shared`, so it moves into the
    /// producer's thread or task.
    ///
    /// ```
    /// use pushpull::Shared;
    /// use std::sync::Arc;
    ///
    /// let jobs = Arc::new(Shared::new(Vec::<u32>::new()));
    /// let mut follower = jobs.puller_arc();
    /// let closer = jobs.closer_arc();
    /// let producer = std::thread::spawn(move || {
    ///     let _closer = closer;
    ///     panic!("the producer failed"); // the Shared is closed all the same
    /// });
    /// assert!(producer.join().is_err());
    /// assert!(follower.wait().is_err()); // told, not left hanging
    /// ```
    #[must_use = "dropping the Closer closes the Shared at once"]
    pub fn closer_arc(self: &Arc<Self>) -> ArcCloser<T> {
        CloserOf {
            handle: Some(Arc::clone(self)),
        }
    }

    /// Whether a wait for a change past `seen` ended without one: the `Shared` is closed and
    /// the version is still `seen` (a closed `Shared`'s version never moves again).
    #[inline]
    pub(crate) fn ended_at(&self, seen: Version) -> bool {
        self.is_closed() && self.version() == seen
    }
}

/// Closes a [`Shared`] when dropped (also during a panic). `H` is how it holds the `Shared`,
/// as for pullers; use the aliases [`Closer`] (from [`Shared::closer`]) and [`ArcCloser`]
/// (from [`Shared::closer_arc`]).
#[must_use = "dropping the Closer closes the Shared at once"]
pub struct CloserOf<H: SharedHandle> {
    /// `None` once disarmed.
    handle: Option<H>,
}

/// A [`CloserOf`] that borrows its `Shared`.
pub type Closer<'a, T> = CloserOf<&'a Shared<T>>;

/// A [`CloserOf`] that holds an `Arc` of its `Shared`.
pub type ArcCloser<T> = CloserOf<Arc<Shared<T>>>;

impl<H: SharedHandle> CloserOf<H> {
    /// Drops the closer without closing (the producer hands the duty to someone else, or
    /// decides the `Shared` lives on).
    ///
    /// ```
    /// let s = pushpull::Shared::new(0);
    /// s.closer().disarm();
    /// assert!(!s.is_closed());
    /// ```
    pub fn disarm(mut self) {
        self.handle = None;
    }
}

impl<H: SharedHandle> Drop for CloserOf<H> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            // Taking the write lock cannot panic for re-entrancy here unless this thread holds
            // a guard of the same Shared while the closer drops: a bug `close()` reports
            // (during unwinding std aborts on a second panic, which is why the guard is
            // usually dropped first: declare the closer before the guards).
            handle.shared_ref().close();
        }
    }
}

impl<H: SharedHandle> fmt::Debug for CloserOf<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closer")
            .field("armed", &self.handle.is_some())
            .finish()
    }
}
