//! The futures of the async waits: [`WaitAsync`] and [`WaitUntilAsync`].

use super::wait::{Registration, RETRIES};
use super::*;
use crate::lock_order::How;
use crate::shared::Blocked;

/// The future of [`PullerOf::wait_async`]: completes with a read guard on the first value
/// published after the version the puller saw, and moves the puller to it; or with
/// [`Closed`] once the `Shared` is closed and the puller saw its last version.
///
/// Cancel-safe: dropping it before it completes frees its registration, takes no wake-up
/// from any other waiter, and leaves the puller as it was. It never blocks the thread that
/// polls it: the read lock is only tried, and while another thread's writer holds it the
/// future sleeps until that writer publishes or releases the lock (see "Futures and the lock"
/// in the crate docs).
///
/// ```
/// use pushpull::Shared;
/// use std::sync::Arc;
///
/// fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
///
/// let shared = Arc::new(Shared::new(0));
/// let mut puller = shared.puller_arc();
/// // What `tokio::spawn` requires of a task that awaits it:
/// spawnable(async move { puller.wait_async().await.map(|n| *n) });
/// ```
///
/// Its output is what [`wait`](PullerOf::wait) returns: a [`ReadGuard`] (see
/// [`SharedHandle::Guard`]) or [`Closed`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WaitAsync<'p, H: SharedHandle> {
    pub(super) handle: &'p H,
    pub(super) seen: &'p mut Version,
    pub(super) registration: Registration<'p>,
    pub(super) done: bool,
    /// The contention profile's record of this wait (zero-sized without it).
    pub(super) profile: profile::WaitProbe,
}

impl<'p, H: SharedHandle> Future for WaitAsync<'p, H> {
    type Output = Result<H::Guard<'p>, Closed>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        const CALL: &str = "Puller::wait_async()";
        let this = self.get_mut();
        assert!(
            !this.done,
            "pushpull: {CALL} future polled after completion"
        );
        let handle: &'p H = this.handle;
        let shared = handle.shared_ref();
        shared.core().may_wait(CALL, Deadline::Untimed, false);
        let from = *this.seen;
        for _ in 0..RETRIES {
            if shared
                .poll_past(*this.seen, &mut this.registration, cx, CALL)
                .is_pending()
            {
                this.profile.pending(&shared.core().profile);
                return Poll::Pending;
            }
            if shared.ended_at(*this.seen) {
                // The close, like a publish, saw any registration at `seen` and owes the
                // `notify_all` that frees the slot.
                this.registration.finish(true);
                this.done = true;
                return Poll::Ready(Err(Closed));
            }
            let seen = &mut *this.seen;
            match handle.guard_with(|shared| {
                let guard = shared.try_read_for_task(How::Wait)?;
                // Under the read lock no publish can happen: this is the guard's own version.
                *seen = guard.version();
                Some(guard)
            }) {
                Some(guard) => {
                    // `poll_past` was ready: the version moved past `seen`, after any
                    // registration at `seen` (checked under the Event's mutex), so its
                    // publisher owes the `notify_all` that frees the slot.
                    this.registration.finish(true);
                    this.done = true;
                    let to = *this.seen;
                    let skipped = || profile::skipped(from.get(), to.get());
                    this.profile.ready(&shared.core().profile, skipped);
                    return Poll::Ready(Ok(guard));
                }
                // A writer holds the lock (it may be publishing again): sleep until it is gone.
                None => match shared.sleep_until_released(&mut this.registration.waiter, cx) {
                    Blocked::Sleeps => {
                        this.registration.for_release = true;
                        return Poll::Pending;
                    }
                    Blocked::Retry => {}
                    Blocked::Repoll => return repoll(cx),
                },
            }
        }
        repoll(cx)
    }
}

impl<H: SharedHandle> fmt::Debug for WaitAsync<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitAsync")
            .field("seen", &*self.seen)
            .field("registered", &self.registration.is_parked())
            .field("done", &self.done)
            .finish()
    }
}

/// The future of [`Shared::wait_until_async`]: completes with a read guard on which the
/// predicate holds, or with [`Closed`] (closed, and the predicate false on the last value).
/// Cancel-safe and never blocking, like [`WaitAsync`].
///
/// ```
/// use pushpull::Shared;
/// use std::sync::Arc;
///
/// fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
///
/// let shared = Arc::new(Shared::new(0));
/// spawnable(async move { shared.wait_until_async(|n| *n > 3).await.map(|n| *n) });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WaitUntilAsync<'a, T: ?Sized, P> {
    pub(super) shared: &'a Shared<T>,
    pub(super) predicate: P,
    /// The last version the predicate was false on.
    pub(super) rejected: Option<Version>,
    pub(super) registration: Registration<'a>,
    pub(super) done: bool,
    /// The contention profile's record of this wait (zero-sized without it).
    pub(super) profile: profile::WaitProbe,
}

/// The predicate is never pinned (it is only called through `&mut`), so the future may move
/// between polls whatever `P` is.
impl<T: ?Sized, P> Unpin for WaitUntilAsync<'_, T, P> {}

impl<'a, T: ?Sized, P: FnMut(&T) -> bool> Future for WaitUntilAsync<'a, T, P> {
    type Output = Result<ReadGuard<'a, T>, Closed>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        const CALL: &str = "Shared::wait_until_async()";
        let this = self.get_mut();
        assert!(
            !this.done,
            "pushpull: {CALL} future polled after completion"
        );
        let shared = this.shared;
        shared.core().may_wait(CALL, Deadline::Untimed, false);
        let word = &shared.core().version;
        for _ in 0..RETRIES {
            let Some(guard) = shared.try_read_for_task(How::Wait) else {
                // A writer holds the lock: the predicate cannot be checked now. Sleep on a
                // registration for the version it was false on, if one stands (the writer's
                // publish will wake the Event)...
                if let Some(seen) = this.rejected {
                    if word.waiting_at(seen) {
                        let waiter = &mut this.registration.waiter;
                        if waiter.park(cx.waker(), || word.moved_past(seen)) {
                            continue; // published (or closed) meanwhile: read again
                        }
                        this.registration.for_release = false;
                        return Poll::Pending;
                    }
                }
                // ...else (the first poll, or the version moved) until the writer is gone.
                match shared.sleep_until_released(&mut this.registration.waiter, cx) {
                    Blocked::Sleeps => {
                        this.registration.for_release = true;
                        return Poll::Pending;
                    }
                    Blocked::Retry => continue,
                    Blocked::Repoll => return repoll(cx),
                }
            };
            let holds = (this.predicate)(&guard);
            // Under the read lock nothing is published: once closed, a false predicate is
            // false for good.
            if holds || shared.is_closed() {
                // Registrations are at `rejected`: if the version moved past it (or the
                // `Shared` was closed), the publisher (or the close) owes the `notify_all`
                // that frees the slot; if not, the predicate changed its mind on the same
                // version and the slot is freed here.
                let published = this
                    .rejected
                    .is_some_and(|seen| shared.core().version.moved_past(seen));
                this.registration.finish(published);
                this.done = true;
                let rejected = this.rejected;
                let skipped = || {
                    let now = shared.version().get();
                    rejected.map_or(0, |r| profile::skipped(r.get(), now))
                };
                this.profile.ready(&shared.core().profile, skipped);
                return Poll::Ready(if holds { Ok(guard) } else { Err(Closed) });
            }
            // Under the read lock: the version the predicate was false on.
            let seen = guard.version();
            this.rejected = Some(seen);
            // The first time: a wait; then: a wake-up that found the predicate still false.
            this.profile.pending(&shared.core().profile);
            drop(guard);
            if shared
                .poll_past(seen, &mut this.registration, cx, CALL)
                .is_pending()
            {
                return Poll::Pending;
            }
            // Published meanwhile: check the predicate again.
        }
        repoll(cx)
    }
}

impl<T: ?Sized, P> fmt::Debug for WaitUntilAsync<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitUntilAsync")
            .field("rejected", &self.rejected)
            .field("registered", &self.registration.is_parked())
            .field("done", &self.done)
            .finish()
    }
}
