//! The waits on a `Shared`: `wait_past` (blocking) and `poll_past` (async), which every
//! wait of a puller is built on, and the `wait_until` family.

use super::*;
use crate::lock_order::How;
use crate::shared::{AsyncUse, Blocked};

impl<T: ?Sized> Shared<T> {
    /// Blocks until `predicate` holds on the value, and returns a read guard on which it
    /// holds. Checks the current value first, so it returns at once if the predicate already
    /// holds (no "subscribed too late" hang).
    ///
    /// # Errors
    ///
    /// [`Closed`] once the `Shared` is [closed](Shared::close) and the predicate is false on
    /// its last value (it can never become true): at once if it was closed before the call.
    ///
    /// # Panics
    ///
    /// When the wait could never end, because this thread holds a guard of this `Shared` that
    /// keeps every publisher out:
    ///
    /// * its [`WriteGuard`](crate::WriteGuard), whatever the predicate says (the guard returned
    ///   could never be taken): in debug builds and with the `reentrancy-check` feature; plain
    ///   release builds do not record the writer and deadlock;
    /// * a [`ModifyGuard`](crate::ModifyGuard), if the predicate is false: in every build;
    /// * another [`ReadGuard`], if the predicate is false: in debug builds; release builds do
    ///   not record readers and deadlock.
    ///
    /// The crate docs' "Misuse and what you get" table lists every build.
    ///
    /// ```
    /// use pushpull::Shared;
    /// use std::thread;
    ///
    /// let progress = Shared::new(0);
    /// thread::scope(|s| {
    ///     s.spawn(|| for _ in 0..10 { progress.push(|p| *p += 10) });
    ///     let done = progress.wait_until(|p| *p == 100).unwrap();
    ///     assert_eq!(*done, 100);
    /// });
    /// progress.close();
    /// assert!(progress.wait_until(|p| *p > 100).is_err()); // closed: it never will be
    /// ```
    #[doc(alias = "wait_for")]
    #[track_caller]
    pub fn wait_until(
        &self,
        predicate: impl FnMut(&T) -> bool,
    ) -> Result<ReadGuard<'_, T>, Closed> {
        match self.wait_until_deadline(predicate, Deadline::Untimed) {
            Ok(Some(guard)) => Ok(guard),
            Ok(None) => unreachable!("an untimed wait cannot time out"),
            Err(closed) => Err(closed),
        }
    }

    /// Like [`wait_until`](Self::wait_until), giving up after `timeout` (`Ok(None)`): it never
    /// blocks past the timeout, taking the lock included (another thread's writer cannot
    /// stretch it). `Ok(None)` at once where `wait_until` would panic; where `wait_until`
    /// would deadlock, `Ok(None)` when the timeout has passed. Under `cfg(loom)` the timeout
    /// is ignored (loom has no clock).
    ///
    /// # Errors
    ///
    /// [`Closed`], as [`wait_until`](Self::wait_until).
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = pushpull::Shared::new(0);
    /// assert!(s.wait_until_for(Duration::from_millis(20), |n| *n > 0).unwrap().is_none());
    /// assert!(s.wait_until_for(Duration::from_millis(20), |n| *n == 0).unwrap().is_some());
    /// ```
    #[track_caller]
    pub fn wait_until_for(
        &self,
        timeout: Duration,
        predicate: impl FnMut(&T) -> bool,
    ) -> Result<Option<ReadGuard<'_, T>>, Closed> {
        self.wait_until_deadline(predicate, Deadline::after(timeout))
    }

    #[track_caller]
    fn wait_until_deadline(
        &self,
        mut predicate: impl FnMut(&T) -> bool,
        deadline: Deadline,
    ) -> Result<Option<ReadGuard<'_, T>>, Closed> {
        const CALL: &str = "Shared::wait_until()";
        if !self.core().may_wait(CALL, deadline, false) {
            return Ok(None);
        }
        // Dropped before `ready` (a timeout): recorded as timed out.
        let (mut probe, mut rejected) = (profile::WaitProbe::new(), None);
        loop {
            let Some(guard) = self.read_until(deadline) else {
                return Ok(None);
            };
            if predicate(&guard) {
                let skipped = |r: Version| profile::skipped(r.get(), self.version().get());
                probe.ready(&self.core().profile, || rejected.map_or(0, skipped));
                return Ok(Some(guard));
            }
            // Under the read lock nothing can be published: once closed, the predicate is
            // false for good.
            if self.is_closed() {
                return Err(Closed);
            }
            let seen = self.version();
            // The first time: a wait; then: a wake-up that found the predicate still false.
            probe.pending(&self.core().profile);
            rejected = Some(seen);
            drop(guard);
            if !self.wait_past(seen, deadline, CALL) {
                return Ok(None);
            }
        }
    }

    /// The async twin of [`wait_until`](Self::wait_until): a future that completes with a
    /// read guard on which `predicate` holds, or with [`Closed`] as `wait_until` returns it.
    /// Checks the current value first, like `wait_until`. Needs no runtime: any executor will
    /// do, and a pushing thread wakes it (see [`WaitUntilAsync`]).
    ///
    /// # Panics
    ///
    /// When polled while this thread holds a guard of this `Shared` that keeps every publisher
    /// out, as [`wait_until`](Self::wait_until) (the same builds, the same message).
    ///
    /// ```
    /// use pushpull::Shared;
    /// use std::sync::Arc;
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     struct Unpark(std::thread::Thread);
    /// #     impl std::task::Wake for Unpark { fn wake(self: Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v }
    /// #         std::thread::park();
    /// #     }
    /// # }
    ///
    /// let progress = Arc::new(Shared::new(0));
    /// let pusher = {
    ///     let progress = Arc::clone(&progress);
    ///     std::thread::spawn(move || for _ in 0..10 { progress.push(|p| *p += 10) })
    /// };
    /// // In an async fn: `progress.wait_until_async(|p| *p == 100).await?`
    /// let done = block_on(progress.wait_until_async(|p| *p == 100)).unwrap();
    /// assert_eq!(*done, 100);
    /// # drop(done);
    /// pusher.join().unwrap();
    /// ```
    #[doc(alias = "changed")]
    #[cfg_attr(all(feature = "profile", not(loom)), track_caller)]
    pub fn wait_until_async<P>(&self, predicate: P) -> WaitUntilAsync<'_, T, P>
    where
        P: FnMut(&T) -> bool,
    {
        WaitUntilAsync {
            shared: self,
            predicate,
            rejected: None,
            registration: Registration::new(self),
            done: false,
            profile: profile::WaitProbe::new(),
        }
    }

    /// Polls for the version to move past `seen` (the async twin of `wait_past`): `Ready` once
    /// it has (or the `Shared` was closed), `Pending` with the waker stored in the `Event` (in
    /// the rare case described in `crate::shared::release` ("What remains"), with the task
    /// woken again at once).
    ///
    /// Registration follows the blocking path's protocol: `WAITING` is set by an RMW under a
    /// read lock (never under a writer, whose publish may be a plain store), then the waker is
    /// stored after checking the version under the `Event`'s mutex. Never blocks: the read
    /// lock is only tried (recursively: a writer merely queued behind readers does not stop
    /// it). When a writer holds it, the task sleeps on an earlier registration if `WAITING` is
    /// already set for `seen` (the writer's publish will wake the `Event`), and otherwise until
    /// the writer's release (`Shared::sleep_until_released`).
    #[track_caller]
    pub(crate) fn poll_past(
        &self,
        seen: Version,
        registration: &mut Registration<'_>,
        cx: &mut Context<'_>,
        call: &'static str,
    ) -> Poll<()> {
        let word = &self.core().version;
        if word.moved_past(seen) {
            return Poll::Ready(());
        }
        self.core().may_wait(call, Deadline::Untimed, true);
        for _ in 0..RETRIES {
            match self.try_read_for_task(How::Wait) {
                Some(guard) => {
                    // Under the read lock no publish can happen: the flag is set before the
                    // next publish reads the word.
                    let must_wait = word.register_task(seen);
                    drop(guard);
                    if !must_wait {
                        return Poll::Ready(());
                    }
                }
                // Piggyback: the next publish wakes the Event.
                None if word.waiting_at(seen) => {}
                None => match self.sleep_until_released(&mut registration.waiter, cx) {
                    Blocked::Sleeps => {
                        registration.for_release = true;
                        return Poll::Pending;
                    }
                    Blocked::Retry => continue,
                    Blocked::Repoll => return repoll(cx),
                },
            }
            return if registration
                .waiter
                .park(cx.waker(), || word.moved_past(seen))
            {
                Poll::Ready(())
            } else {
                registration.for_release = false;
                Poll::Pending
            };
        }
        repoll(cx)
    }

    /// Waits until the version moves past `seen` or the `Shared` is closed; `false` if
    /// `deadline` passed first, or at once if this thread holds a guard of this `Shared` (then
    /// an untimed wait panics).
    #[track_caller]
    pub(crate) fn wait_past(&self, seen: Version, deadline: Deadline, call: &'static str) -> bool {
        let word = &self.core().version;
        if !word.moved_past(seen) && !self.core().may_wait(call, deadline, true) {
            return false;
        }
        park::wait(
            &self.core().event,
            || word.moved_past(seen),
            || {
                // Registration happens under a read lock, which keeps publishers out while
                // the flag is set (see the invariant of the version word). A timed wait
                // takes it by its deadline: a writer holding the lock cannot stretch it.
                let _read = self.read_until(deadline)?;
                Some(self.core().version.register_waiter(seen))
            },
            deadline,
        )
    }
}

/// How often one poll retries a read that a writer's release let through, only to find
/// another writer holding the lock: then the poll gives up and asks to be polled again.
pub(super) const RETRIES: usize = 4;

/// Asks to be polled again at once: for a future that cannot make progress now but has no
/// registration that a publish or a release would wake (see "What remains" in
/// `crate::shared::release`).
pub(super) fn repoll<R>(cx: &mut Context<'_>) -> Poll<R> {
    repoll_hint();
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// A future's registration with its `Shared`: its place in the `Event`, its count among the
/// async users (`crate::shared::release::AsyncUse`), and what its slot was last filled for.
pub(crate) struct Registration<'a> {
    pub(super) waiter: AsyncWaiter<'a>,
    _user: AsyncUse<'a>,
    /// The slot was last filled to wait for a writer's release: no publish owes the
    /// `notify_all` that would free it, so the future frees it itself when it completes.
    pub(super) for_release: bool,
}

impl<'a> Registration<'a> {
    pub(super) fn new<T: ?Sized>(shared: &'a Shared<T>) -> Self {
        Registration {
            waiter: AsyncWaiter::new(&shared.core().event),
            _user: AsyncUse::new(shared),
            for_release: false,
        }
    }

    /// The wait completed: lets go of the slot, without the mutex when `published` (the
    /// version moved past every version this future registered at, so that publish owes the
    /// `notify_all` that frees the slot; see `AsyncWaiter::forget`), else by freeing it.
    pub(super) fn finish(&mut self, published: bool) {
        if published && !self.for_release {
            self.waiter.forget();
        } else {
            self.waiter.leave();
        }
    }

    /// Whether the future holds a slot.
    pub(super) fn is_parked(&self) -> bool {
        self.waiter.is_parked()
    }
}
