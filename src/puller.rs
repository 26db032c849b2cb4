//! The pull side of push/pull: snapshots, change checks, and waiting for a change or a
//! condition.
//!
//! Every publish bumps the [`Version`] of a [`Shared`] by one. A [`Puller`] remembers the
//! last version it saw, so "did it change?" is one atomic load, and "wait until it changes"
//! sleeps until a publish moves the version past it (see `crate::park` for the wait).

use crate::deadline::Deadline;
use crate::shared::{ReadGuard, Shared};
use crate::sync::Duration;
use crate::{park, Version};

impl<T: ?Sized> Shared<T> {
    /// A consistent snapshot of the value and the version it belongs to.
    ///
    /// ```
    /// let s = pushpull::Shared::new(String::from("a"));
    /// s.push(|v| v.push('b'));
    /// let (value, version) = s.pull();
    /// assert_eq!((value.as_str(), version.get()), ("ab", 1));
    /// ```
    #[track_caller]
    pub fn pull(&self) -> (T, Version)
    where
        T: Clone,
    {
        let guard = self.read();
        // Under the read lock no publish can happen: this is the snapshot's own version.
        (T::clone(&guard), self.version())
    }

    /// A cursor that pulls changes, starting at the *current* version: it reports a change
    /// only for publishes that happen after this call. To act on the current value too, read
    /// it first, or use [`wait_until`](Self::wait_until), which checks the value before
    /// waiting.
    ///
    /// ```
    /// let s = pushpull::Shared::new(1);
    /// let mut puller = s.puller();
    /// assert!(!puller.has_changed());
    /// s.push(|n| *n = 2);
    /// assert_eq!(puller.pull(), Some(2));
    /// assert_eq!(puller.pull(), None); // nothing new since
    /// ```
    pub fn puller(&self) -> Puller<'_, T> {
        Puller {
            shared: self,
            seen: self.version(),
        }
    }

    /// Blocks until `predicate` holds on the value, and returns a read guard on which it
    /// holds. Checks the current value first, so it returns at once if the predicate already
    /// holds (no "subscribed too late" hang).
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
    ///     let done = progress.wait_until(|p| *p == 100);
    ///     assert_eq!(*done, 100);
    /// });
    /// ```
    #[track_caller]
    pub fn wait_until(&self, predicate: impl FnMut(&T) -> bool) -> ReadGuard<'_, T> {
        match self.wait_until_deadline(predicate, Deadline::Untimed) {
            Some(guard) => guard,
            None => unreachable!("an untimed wait cannot time out"),
        }
    }

    /// Like [`wait_until`](Self::wait_until), giving up after `timeout` (`None`): it never
    /// blocks past the timeout, taking the lock included (another thread's writer cannot
    /// stretch it). `None` at once where `wait_until` would panic; where `wait_until` would
    /// deadlock, `None` when the timeout has passed. Under `cfg(loom)` the timeout is ignored
    /// (loom has no clock).
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = pushpull::Shared::new(0);
    /// assert!(s.wait_until_for(Duration::from_millis(20), |n| *n > 0).is_none());
    /// assert!(s.wait_until_for(Duration::from_millis(20), |n| *n == 0).is_some());
    /// ```
    #[track_caller]
    pub fn wait_until_for(
        &self,
        timeout: Duration,
        predicate: impl FnMut(&T) -> bool,
    ) -> Option<ReadGuard<'_, T>> {
        self.wait_until_deadline(predicate, Deadline::after(timeout))
    }

    #[track_caller]
    fn wait_until_deadline(
        &self,
        mut predicate: impl FnMut(&T) -> bool,
        deadline: Deadline,
    ) -> Option<ReadGuard<'_, T>> {
        const CALL: &str = "Shared::wait_until()";
        if !self.core().may_wait(CALL, deadline, false) {
            return None;
        }
        loop {
            let guard = self.read_until(deadline)?;
            if predicate(&guard) {
                return Some(guard);
            }
            let seen = self.version();
            drop(guard);
            if !self.wait_past(seen, deadline, CALL) {
                return None;
            }
        }
    }

    /// Waits until the version moves past `seen`; `false` if `deadline` passed first, or at
    /// once if this thread holds a guard of this `Shared` (then an untimed wait panics).
    #[track_caller]
    pub(crate) fn wait_past(&self, seen: Version, deadline: Deadline, call: &'static str) -> bool {
        if self.version() == seen && !self.core().may_wait(call, deadline, true) {
            return false;
        }
        park::wait(
            &self.core().event,
            || self.version() != seen,
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

/// A cursor over the versions of a [`Shared`]: pulls the latest value only when it changed,
/// and waits for the next change.
///
/// Created by [`Shared::puller`]; starts at the version current at that time. Each successful
/// [`pull`](Self::pull), [`pull_with`](Self::pull_with) or [`wait`](Self::wait) moves it to the
/// version it returned. A puller never skips backwards and never reports the same version
/// twice; if several publishes happen between two pulls, it reports only the latest state
/// (like a watch channel, not a queue).
///
/// If a pusher panicked mid-change, the puller still sees the published (half-done) value;
/// [`Shared::is_poisoned`] tells.
///
/// ```
/// use pushpull::Shared;
/// use std::thread;
///
/// let temperature = Shared::new(20);
/// let mut puller = temperature.puller();
/// thread::scope(|s| {
///     s.spawn(|| temperature.push(|t| *t = 25));
///     let now = puller.wait(); // sleeps until the push
///     assert_eq!(*now, 25);
/// });
/// assert_eq!(puller.seen().get(), 1);
/// ```
#[derive(Debug)]
pub struct Puller<'a, T: ?Sized> {
    shared: &'a Shared<T>,
    seen: Version,
}

impl<T: ?Sized> Clone for Puller<'_, T> {
    fn clone(&self) -> Self {
        Puller {
            shared: self.shared,
            seen: self.seen,
        }
    }
}

impl<'a, T: ?Sized> Puller<'a, T> {
    /// Whether the value was published to since this puller last saw it. Lock-free: one
    /// atomic load.
    ///
    /// ```
    /// let s = pushpull::Shared::new(0);
    /// let puller = s.puller();
    /// s.push(|n| *n += 1);
    /// assert!(puller.has_changed());
    /// ```
    #[inline]
    #[must_use]
    pub fn has_changed(&self) -> bool {
        self.shared.version() != self.seen
    }

    /// The last version this puller saw.
    #[must_use]
    pub fn seen(&self) -> Version {
        self.seen
    }

    /// The `Shared` this puller follows.
    #[must_use]
    pub fn shared(&self) -> &'a Shared<T> {
        self.shared
    }

    /// Marks the current version as seen without reading the value.
    ///
    /// ```
    /// let s = pushpull::Shared::new(0);
    /// let mut puller = s.puller();
    /// s.push(|n| *n += 1);
    /// puller.mark_seen();
    /// assert!(!puller.has_changed());
    /// ```
    pub fn mark_seen(&mut self) {
        self.seen = self.shared.version();
    }

    /// The new value if it changed since this puller last saw it, `None` otherwise. An
    /// unchanged check takes no lock.
    ///
    /// ```
    /// let s = pushpull::Shared::new(vec![1]);
    /// let mut puller = s.puller();
    /// assert_eq!(puller.pull(), None);
    /// s.push(|v| v.push(2));
    /// assert_eq!(puller.pull(), Some(vec![1, 2]));
    /// ```
    #[track_caller]
    pub fn pull(&mut self) -> Option<T>
    where
        T: Clone,
    {
        self.pull_with(T::clone)
    }

    /// Like [`pull`](Self::pull), but runs `f` on the new value under the read lock instead
    /// of cloning it.
    ///
    /// ```
    /// let s = pushpull::Shared::new(vec![1, 2, 3]);
    /// let mut puller = s.puller();
    /// s.push(|v| v.push(4));
    /// assert_eq!(puller.pull_with(|v| v.len()), Some(4));
    /// ```
    #[track_caller]
    pub fn pull_with<R>(&mut self, f: impl FnOnce(&T) -> R) -> Option<R> {
        if !self.has_changed() {
            return None;
        }
        let guard = self.shared.read();
        self.seen = self.shared.version();
        Some(f(&guard))
    }

    /// Blocks until the value is published to after the version this puller saw, then
    /// returns a read guard on the latest value and moves the puller to its version.
    ///
    /// Returns at once if a publish already happened since the last pull. See the type's
    /// example.
    ///
    /// # Panics
    ///
    /// When the wait could never end, because this thread holds a guard of the same `Shared`
    /// that keeps every publisher out:
    ///
    /// * its [`WriteGuard`](crate::WriteGuard), even after a publish (the guard returned could
    ///   never be taken): in debug builds and with the `reentrancy-check` feature; plain release
    ///   builds do not record the writer and deadlock;
    /// * a [`ModifyGuard`](crate::ModifyGuard), if nothing was published since the last pull:
    ///   in every build;
    /// * a [`ReadGuard`], if nothing was published since the last pull: in debug builds;
    ///   release builds do not record readers and deadlock.
    ///
    /// The crate docs' "Misuse and what you get" table lists every build.
    #[track_caller]
    pub fn wait(&mut self) -> ReadGuard<'a, T> {
        match self.wait_deadline(Deadline::Untimed) {
            Some(guard) => guard,
            None => unreachable!("an untimed wait cannot time out"),
        }
    }

    /// Like [`wait`](Self::wait), giving up after `timeout` (`None`): it never blocks past the
    /// timeout, taking the lock included (another thread's writer cannot stretch it). `None`
    /// at once where `wait` would panic; where `wait` would deadlock, `None` when the timeout
    /// has passed. Under `cfg(loom)` the timeout is ignored (loom has no clock).
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = pushpull::Shared::new(0);
    /// let mut puller = s.puller();
    /// assert!(puller.wait_for(Duration::from_millis(10)).is_none()); // nobody pushed
    /// s.push(|n| *n = 7);
    /// assert_eq!(*puller.wait_for(Duration::from_millis(10)).unwrap(), 7);
    /// ```
    #[track_caller]
    pub fn wait_for(&mut self, timeout: Duration) -> Option<ReadGuard<'a, T>> {
        self.wait_deadline(Deadline::after(timeout))
    }

    #[track_caller]
    fn wait_deadline(&mut self, deadline: Deadline) -> Option<ReadGuard<'a, T>> {
        const CALL: &str = "Puller::wait()";
        if !self.shared.core().may_wait(CALL, deadline, false)
            || !self.shared.wait_past(self.seen, deadline, CALL)
        {
            return None;
        }
        let guard = self.shared.read_until(deadline)?;
        self.seen = self.shared.version();
        Some(guard)
    }
}
