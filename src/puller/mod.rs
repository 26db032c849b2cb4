//! The pull side of push/pull: snapshots, change checks, and waiting for a change or a
//! condition, blocking or async.
//!
//! Every publish bumps the [`Version`] of a [`Shared`] by one. A [`Puller`] remembers the
//! last version it saw, so "did it change?" is one atomic load, and "wait until it changes"
//! sleeps until a publish moves the version past it (see `crate::park` for the wait).
//!
//! One puller type, [`PullerOf`], is generic over how it holds its `Shared` (a borrow:
//! [`Puller`], or an `Arc`: [`ArcPuller`]); every method is written once for both.
//!
//! Layout: this file holds the puller itself; `handle` the two ways it holds its `Shared`;
//! `wait` the waits on the `Shared` (the blocking `wait_past` and the async `poll_past` every
//! wait is built on, and the `wait_until` family); `future` the async waits' futures.

use crate::close::Closed;
use crate::deadline::Deadline;
use crate::lock_order::How;
use crate::park::AsyncWaiter;
use crate::profile;
use crate::shared::{ReadGuard, Shared};
use crate::sync::{repoll_hint, Arc, Duration};
use crate::{park, Version};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The call a puller's blocking wait names in its re-entrancy panic.
const WAIT_CALL: &str = "Puller::wait()";

mod future;
mod handle;
mod wait;

pub use future::{WaitAsync, WaitUntilAsync};
pub use handle::SharedHandle;
use wait::repoll;
impl<T: ?Sized> Shared<T> {
    /// A consistent snapshot of the value and the version it belongs to (both taken under one
    /// read lock): the pair [`push_at`](Self::push_at) wants.
    ///
    /// ```
    /// let s = pushpull::Shared::new(String::from("a"));
    /// s.push(|v| v.push('b'));
    /// let (value, version) = s.snapshot();
    /// assert_eq!((value.as_str(), version.get()), ("ab", 1));
    /// ```
    #[doc(alias = "load")]
    #[doc(alias = "get")]
    #[track_caller]
    pub fn snapshot(&self) -> (T, Version)
    where
        T: Clone,
    {
        let guard = self.read_as(How::Read, "snapshot()");
        (T::clone(&guard), guard.version())
    }

    /// A cursor that pulls changes, starting at the *current* version: it reports a change
    /// only for publishes that happen after this call. To act on the current value too, read
    /// it first, or use [`wait_until`](Self::wait_until), which checks the value before
    /// waiting. The puller borrows this `Shared`; for one that can move into a thread or a
    /// task, see [`puller_arc`](Self::puller_arc).
    ///
    /// ```
    /// let s = pushpull::Shared::new(1);
    /// let mut puller = s.puller();
    /// assert!(!puller.has_changed());
    /// s.push(|n| *n = 2);
    /// assert_eq!(puller.pull(), Some(2));
    /// assert_eq!(puller.pull(), None); // nothing new since
    /// ```
    #[doc(alias = "subscribe")]
    #[doc(alias = "receiver")]
    #[doc(alias = "watch")]
    pub fn puller(&self) -> Puller<'_, T> {
        self.puller_at(self.version())
    }

    /// A cursor that starts at version `seen`, as if it had pulled that version: it reports
    /// everything published after `seen`. A client that comes back with the version it last
    /// had (a reconnect, a restart) picks up exactly where it left off: if nothing was
    /// published since, it waits for the next publish; if something was, it gets the latest
    /// value at once (intermediate versions coalesce, as always).
    ///
    /// A version this `Shared` has *not reached* (it came from another `Shared`, e.g. a
    /// previous run of a server) is not the version of the current value either: the puller
    /// reports a change at once, and its first [`pull`](PullerOf::pull) or
    /// [`wait`](PullerOf::wait) returns the current value and moves it to the current version.
    /// Whatever `seen` is, the puller never misses the current value because of it.
    ///
    /// ```
    /// use pushpull::{Shared, Version};
    ///
    /// let s = Shared::new("a");
    /// s.push(|v| *v = "b"); // v1
    /// let mut resumed = s.puller_at(Version::from(1));
    /// assert_eq!(resumed.pull(), None); // it already had v1
    /// s.push(|v| *v = "c"); // v2
    /// assert_eq!(resumed.pull(), Some("c"));
    ///
    /// let mut behind = s.puller_at(Version::ZERO);
    /// assert_eq!(behind.pull(), Some("c")); // v1 and v2 coalesce into the latest value
    ///
    /// let mut ahead = s.puller_at(Version::from(40)); // not a version of this Shared
    /// assert!(ahead.has_changed());
    /// assert_eq!(ahead.pull(), Some("c"));
    /// assert_eq!(ahead.seen().get(), 2);
    /// ```
    pub fn puller_at(&self, seen: Version) -> Puller<'_, T> {
        PullerOf { handle: self, seen }
    }

    /// An owned cursor, starting at the *current* version like [`puller`](Self::puller): it
    /// holds an `Arc` of this `Shared`, so it is `'static`, `Clone`, and `Send + Sync` when
    /// `T: Send + Sync`. Create it *before* starting the thread or task that pulls, and move it
    /// in: then no publish made after this call can be missed (a puller created inside the
    /// thread would only see publishes made after the thread got to it).
    ///
    /// ```
    /// use pushpull::Shared;
    /// use std::sync::Arc;
    /// use std::thread;
    ///
    /// let shared = Arc::new(Shared::new(0));
    /// let mut puller = shared.puller_arc(); // subscribed now...
    /// shared.push(|n| *n = 1); // ...so this push is not missed,
    /// let follower = thread::spawn(move || *puller.wait().unwrap()); // even though it came before the thread
    /// assert_eq!(follower.join().unwrap(), 1);
    /// ```
    #[doc(alias = "subscribe")]
    #[doc(alias = "receiver")]
    #[doc(alias = "watch")]
    pub fn puller_arc(self: &Arc<Self>) -> ArcPuller<T> {
        self.puller_arc_at(self.version())
    }

    /// An owned cursor starting at version `seen`: [`puller_arc`](Self::puller_arc) with the
    /// starting point of [`puller_at`](Self::puller_at) (same meaning of `seen`).
    ///
    /// ```
    /// use pushpull::{Shared, Version};
    /// use std::sync::Arc;
    ///
    /// let shared = Arc::new(Shared::new(10));
    /// shared.push(|n| *n += 1);
    /// let mut from_start = shared.puller_arc_at(Version::ZERO);
    /// assert_eq!(from_start.pull(), Some(11));
    /// ```
    pub fn puller_arc_at(self: &Arc<Self>, seen: Version) -> ArcPuller<T> {
        PullerOf {
            handle: Arc::clone(self),
            seen,
        }
    }
}

/// A cursor over the versions of a [`Shared`]: pulls the latest value only when it changed,
/// and waits for the next change, blocking ([`wait`](Self::wait)) or async
/// ([`wait_async`](Self::wait_async)).
///
/// `H` is how the puller holds its `Shared` (see [`SharedHandle`]); use the aliases:
///
/// * [`Puller<'a, T>`](Puller), from [`Shared::puller`] / [`Shared::puller_at`]: borrows the
///   `Shared`;
/// * [`ArcPuller<T>`](ArcPuller), from [`Shared::puller_arc`] / [`Shared::puller_arc_at`]:
///   holds an `Arc` of it, so it is `'static`, `Clone`, and `Send + Sync` when
///   `T: Send + Sync`: create it before spawning a thread or a task and move it in.
///
/// Both have the same methods. A puller starts at the version current when it is created
/// (or at the version given to a `*_at` constructor). Each successful
/// [`pull`](Self::pull), [`pull_with`](Self::pull_with), [`wait`](Self::wait) or
/// [`wait_async`](Self::wait_async) moves it to the version it returned. A puller never skips
/// backwards and never reports the same version twice; if several publishes happen between
/// two pulls, it reports only the latest state (like a watch channel, not a queue).
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
///     let now = puller.wait().unwrap(); // sleeps until the push
///     assert_eq!(*now, 25);
/// });
/// assert_eq!(puller.seen().get(), 1);
/// ```
#[derive(Clone)]
pub struct PullerOf<H> {
    handle: H,
    seen: Version,
}

/// A puller that borrows its [`Shared`]: see [`PullerOf`] for every method.
///
/// ```
/// let s = pushpull::Shared::new(1);
/// let mut puller: pushpull::Puller<'_, i32> = s.puller();
/// s.push(|n| *n = 2);
/// assert_eq!(puller.pull(), Some(2));
/// ```
pub type Puller<'a, T> = PullerOf<&'a Shared<T>>;

/// A puller that owns an `Arc` of its [`Shared`] (`'static`, `Clone`, `Send + Sync` when
/// `T: Send + Sync`): see [`PullerOf`] for every method, and [`Shared::puller_arc`].
///
/// ```
/// use pushpull::{ArcPuller, Shared};
/// use std::sync::Arc;
///
/// let shared = Arc::new(Shared::new(vec![1]));
/// let mut puller: ArcPuller<Vec<i32>> = shared.puller_arc();
/// let follower = std::thread::spawn(move || puller.wait().unwrap().len());
/// shared.push(|v| v.push(2));
/// assert_eq!(follower.join().unwrap(), 2);
/// ```
pub type ArcPuller<T> = PullerOf<Arc<Shared<T>>>;
impl<H: SharedHandle> fmt::Debug for PullerOf<H>
where
    H::Value: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Puller")
            .field("shared", &self.handle.shared_ref())
            .field("seen", &self.seen)
            .finish()
    }
}

impl<'a, T: ?Sized> PullerOf<&'a Shared<T>> {
    /// The `Shared` this puller follows.
    ///
    /// ```
    /// let s = pushpull::Shared::new(0);
    /// let puller = s.puller();
    /// assert!(std::ptr::eq(puller.shared(), &s));
    /// ```
    #[must_use]
    pub fn shared(&self) -> &'a Shared<T> {
        self.handle
    }
}

impl<T: ?Sized> PullerOf<Arc<Shared<T>>> {
    /// The `Shared` this puller follows (the puller holds one reference to it).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let s = Arc::new(pushpull::Shared::new(0));
    /// let puller = s.puller_arc();
    /// assert!(Arc::ptr_eq(puller.shared(), &s));
    /// ```
    #[must_use]
    pub fn shared(&self) -> &Arc<Shared<T>> {
        &self.handle
    }
}

impl<H: SharedHandle> PullerOf<H> {
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
        self.handle.shared_ref().version() != self.seen
    }

    /// Whether the followed `Shared` is closed (see [`Shared::close`]). A closed `Shared` may
    /// still hold a change this puller has not seen: [`wait`](Self::wait) delivers it before
    /// it returns [`Closed`].
    ///
    /// ```
    /// let s = pushpull::Shared::new(0);
    /// let puller = s.puller();
    /// s.close();
    /// assert!(puller.is_closed());
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.handle.shared_ref().is_closed()
    }

    /// The last version this puller saw.
    ///
    /// ```
    /// let s = pushpull::Shared::new(0);
    /// s.push(|n| *n += 1);
    /// assert_eq!(s.puller().seen().get(), 1);
    /// ```
    #[must_use]
    pub fn seen(&self) -> Version {
        self.seen
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
    #[doc(alias = "mark_unchanged")]
    pub fn mark_seen(&mut self) {
        self.seen = self.handle.shared_ref().version();
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
    #[inline]
    #[doc(alias = "borrow_and_update")]
    #[doc(alias = "try_recv")]
    #[track_caller]
    pub fn pull(&mut self) -> Option<H::Value>
    where
        H::Value: Clone,
    {
        self.pull_with(H::Value::clone)
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
    // Inline always where `pull_changed` is (below): the inliner otherwise weighs the two
    // together and may keep this out of line, costing the unchanged check a call.
    #[cfg_attr(any(debug_assertions, feature = "lock-order-check"), inline)]
    #[cfg_attr(
        not(any(debug_assertions, feature = "lock-order-check")),
        inline(always)
    )]
    #[track_caller]
    pub fn pull_with<R>(&mut self, f: impl FnOnce(&H::Value) -> R) -> Option<R> {
        if !self.has_changed() {
            return None;
        }
        Some(self.pull_changed(f))
    }

    /// `pull_with` once it saw a change: a function of its own, kept out of line where the
    /// read below grows (lock-order checking), so that the unchanged check still inlines as a
    /// load and a compare there; inline elsewhere (the profile's out-of-line call below
    /// would otherwise tip the inliner, costing every pull a call).
    ///
    /// The contention profile adds one test here, of the `ARMED` bit of the word the version
    /// is read from: only an armed `Shared` records the read's site and the versions the
    /// puller skipped, out of line.
    #[cfg_attr(any(debug_assertions, feature = "lock-order-check"), inline(never))]
    #[cfg_attr(
        not(any(debug_assertions, feature = "lock-order-check")),
        inline(always)
    )]
    #[track_caller]
    fn pull_changed<R>(&mut self, f: impl FnOnce(&H::Value) -> R) -> R {
        let shared = self.handle.shared_ref();
        let guard = shared.read_for_pull(How::Read);
        let from = self.seen;
        // The guard's own version (no publish under the read lock), read through `shared`
        // rather than the guard: the same word, and the register allocator keeps the fast
        // path free of a copy.
        let (seen, armed) = shared.core().version.version_armed();
        self.seen = seen;
        if armed {
            let at = std::panic::Location::caller();
            shared.core().pulled_armed(at, from);
        }
        f(&guard)
    }

    /// Blocks until the value is published to after the version this puller saw, then
    /// returns a read guard on the latest value and moves the puller to its version.
    ///
    /// Returns at once if a publish already happened since the last pull. See the type's
    /// example. The guard borrows the puller (for an [`ArcPuller`]), so ask the guard, not the
    /// puller, which version it shows: [`ReadGuard::version`].
    ///
    /// # Errors
    ///
    /// [`Closed`] once the `Shared` is [closed](Shared::close) and this puller has seen its
    /// last version: a publish made before the close is still delivered first, then every
    /// wait returns `Closed`, at once.
    ///
    /// ```
    /// let s = pushpull::Shared::new(1);
    /// let mut puller = s.puller();
    /// s.push(|n| *n = 2);
    /// s.close();
    /// assert_eq!(*puller.wait().unwrap(), 2); // the last change first
    /// assert!(puller.wait().is_err()); // then: no more
    /// ```
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
    #[doc(alias = "changed")]
    #[doc(alias = "recv")]
    // Inline where lock-order checking is off: the profile's hooks would otherwise tip the
    // inliner against it (and where it is on, inlining it tips the inliner elsewhere).
    #[cfg_attr(not(feature = "lock-order-check"), inline)]
    #[track_caller]
    pub fn wait(&mut self) -> Result<H::Guard<'_>, Closed> {
        match self.wait_deadline(Deadline::Untimed) {
            Ok(Some(guard)) => Ok(guard),
            Ok(None) => unreachable!("an untimed wait cannot time out"),
            Err(closed) => Err(closed),
        }
    }

    /// Like [`wait`](Self::wait), giving up after `timeout` (`Ok(None)`): it never blocks past
    /// the timeout, taking the lock included (another thread's writer cannot stretch it).
    /// `Ok(None)` at once where `wait` would panic; where `wait` would deadlock, `Ok(None)`
    /// when the timeout has passed. Under `cfg(loom)` the timeout is ignored (loom has no
    /// clock).
    ///
    /// # Errors
    ///
    /// [`Closed`], as [`wait`](Self::wait).
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = pushpull::Shared::new(0);
    /// let mut puller = s.puller();
    /// assert!(puller.wait_for(Duration::from_millis(10)).unwrap().is_none()); // nobody pushed
    /// s.push(|n| *n = 7);
    /// assert_eq!(*puller.wait_for(Duration::from_millis(10)).unwrap().unwrap(), 7);
    /// ```
    #[doc(alias = "recv_timeout")]
    #[track_caller]
    pub fn wait_for(&mut self, timeout: Duration) -> Result<Option<H::Guard<'_>>, Closed> {
        self.wait_deadline(Deadline::after(timeout))
    }

    // Inline where lock-order checking is off: the profile's hooks would otherwise tip the
    // inliner against it (and where it is on, inlining it tips the inliner elsewhere).
    #[cfg_attr(not(feature = "lock-order-check"), inline)]
    #[track_caller]
    fn wait_deadline(&mut self, deadline: Deadline) -> Result<Option<H::Guard<'_>>, Closed> {
        let shared = self.handle.shared_ref();
        if !shared.core().may_wait(WAIT_CALL, deadline, false) {
            return Ok(None);
        }
        if !shared.core().version.moved_past(self.seen) {
            return self.wait_deadline_slow(deadline);
        }
        // A change (or the close) is there already: no wait, nothing for the profile to time
        // (what `wait_past` would do at once, without its second look at the word).
        if shared.ended_at(self.seen) {
            return Err(Closed);
        }
        let at = std::panic::Location::caller();
        let seen = &mut self.seen;
        let guard = self.handle.guard_with(|shared| {
            // As a pull: the profile's test of `ARMED` rides on the version read, and the
            // read's site is recorded out of line only then.
            let guard = shared.read_until_for_pull(deadline)?;
            // Under the read lock no publish can happen: this is the guard's own version.
            let (version, armed) = shared.core().version.version_armed();
            if armed {
                // Before the update: the version seen so far is read from the puller, not
                // kept in a register.
                shared.core().pulled_armed(at, *seen);
            }
            *seen = version;
            Some(guard)
        });
        Ok(guard)
    }

    /// `wait_deadline` when nothing new is there yet: it waits (and the profile times the
    /// wait, from here). Out of line, so that the profile's probe does not tip the inliner
    /// against `wait` itself.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn wait_deadline_slow(&mut self, deadline: Deadline) -> Result<Option<H::Guard<'_>>, Closed> {
        let shared = self.handle.shared_ref();
        let (from, class) = (self.seen, &shared.core().profile);
        // Dropped before `ready` (a timeout): recorded as timed out.
        let mut probe = profile::WaitProbe::new();
        probe.pending_if(class, || shared.version() == from);
        if !shared.wait_past(self.seen, deadline, WAIT_CALL) {
            return Ok(None);
        }
        if shared.ended_at(self.seen) {
            return Err(Closed);
        }
        let seen = &mut self.seen;
        let Some(guard) = self.handle.guard_with(|shared| {
            let guard = shared.read_until(deadline)?;
            // Under the read lock no publish can happen: this is the guard's own version.
            *seen = guard.version();
            Some(guard)
        }) else {
            return Ok(None);
        };
        probe.ready(class, || profile::skipped(from.get(), self.seen.get()));
        Ok(Some(guard))
    }

    /// The async twin of [`wait`](Self::wait): a future that completes, once the value is
    /// published to after the version this puller saw, with a read guard on the latest value
    /// (the puller moved to its version), or with [`Closed`] as `wait` returns it. Completes
    /// at the first poll if a publish already happened.
    ///
    /// Needs no runtime: it stores the task's waker, and the pushing thread's publish wakes it
    /// (together with any thread blocked in `wait`). Cancel-safe: dropping the future before it
    /// completes unregisters it and changes nothing (the puller keeps its version), so
    /// `tokio::time::timeout(d, puller.wait_async())` is the timed wait. The future is `Send`
    /// when `T: Send + Sync` (it holds no lock guard while pending); the guard it returns is
    /// not: drop it before the next `.await`. See [`WaitAsync`].
    ///
    /// # Panics
    ///
    /// When polled while this thread holds a guard of the same `Shared` that keeps every
    /// publisher out, as [`wait`](Self::wait) (the same builds, the same message). In an
    /// executor that runs several tasks on one thread, a guard held across an `.await` by
    /// another task of that thread counts too: don't hold guards across `.await`.
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
    /// let temperature = Arc::new(Shared::new(20));
    /// let mut puller = temperature.puller_arc();
    /// let pusher = {
    ///     let temperature = Arc::clone(&temperature);
    ///     std::thread::spawn(move || temperature.push(|t| *t = 25))
    /// };
    /// // In an async fn: `let now = puller.wait_async().await?;`
    /// let now = block_on(puller.wait_async()).unwrap();
    /// assert_eq!(*now, 25);
    /// # drop(now);
    /// assert_eq!(puller.seen().get(), 1);
    /// pusher.join().unwrap();
    /// ```
    #[doc(alias = "changed")]
    #[cfg_attr(all(feature = "profile", not(loom)), track_caller)]
    pub fn wait_async(&mut self) -> WaitAsync<'_, H> {
        WaitAsync {
            registration: wait::Registration::new(self.handle.shared_ref()),
            handle: &self.handle,
            seen: &mut self.seen,
            done: false,
            profile: profile::WaitProbe::new(),
        }
    }
}
