//! The local mirror of a replicated key, and the only module that names pushpull's API (so
//! that a change of the core's API is adapted here and nowhere else).
//!
//! A [`Local`] holds the value in a `pushpull::Shared<T>` and the etcd `mod_revision` it came
//! from. Every writer of the mirror (the watch task applying an event or a re-read, and a push
//! applying its own commit for read-your-writes) goes through [`Local::apply`], which
//! publishes only a revision newer than the one held: so the mirror never goes back, and a
//! change seen twice (a push's own commit, then its watch event) is published once.
//!
//! Besides the value, the mirror keeps its *progress*: the store revision up to which it is
//! known to hold the key's latest value (an applied event or commit at `r` says "as of `r`";
//! a re-read at store revision `r` says the same; a delete event too, though the value is
//! kept). [`Local::wait_progress`] waits on it, and the watch resumes from progress + 1.
//! Progress lives in a second `Shared<i64>`, so that waiting for a revision wakes on progress
//! that did not change the value, without publishing a spurious change of the value.

use pushpull::{ArcPuller, Closed, Shared, Version, WaitAsync};
// The guard and future types the replica's public methods return.
pub(crate) use pushpull::{ReadGuard, WaitUntilAsync};

/// Why a wait through a live `Replica` (or `WaitGroup`) cannot end in `Closed`: the local copy
/// is closed only when it is dropped, after the last handle.
pub(crate) const OPEN_WHILE_HELD: &str =
    "pushpull-etcd: a local copy is closed only after the last handle of its replica is gone";
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub(crate) struct Local<T> {
    value: Arc<Shared<T>>,
    /// The `mod_revision` of the value in `value`. Stored only under `value`'s write lock
    /// (inside the publishing closure), so a reader holding a read guard sees the revision of
    /// the value it reads, or a later one's if it loads after a newer publish.
    revision: AtomicI64,
    progress: Shared<i64>,
    /// Serializes appliers, so that "newer than what is held?" and the publish are one step.
    /// Never held while waiting for anything but `value`'s and `progress`' write locks.
    apply: Mutex<()>,
}

impl<T> Local<T> {
    pub(crate) fn new(value: T, revision: i64, progress: i64) -> Self {
        Local {
            value: Arc::new(Shared::new(value)),
            revision: AtomicI64::new(revision),
            progress: Shared::new(progress),
            apply: Mutex::new(()),
        }
    }

    pub(crate) fn read(&self) -> ReadGuard<'_, T> {
        self.value.read()
    }

    /// The value and its revision, consistent with each other.
    pub(crate) fn read_with_revision(&self) -> (ReadGuard<'_, T>, i64) {
        let guard = self.value.read();
        // Acquire: pairs with the Release store made under the write lock we now exclude;
        // the lock itself already orders it, this keeps the load meaningful on its own.
        let revision = self.revision.load(Ordering::Acquire);
        (guard, revision)
    }

    /// As [`read_with_revision`](Self::read_with_revision), `None` instead of blocking.
    pub(crate) fn try_read_with_revision(&self) -> Option<(ReadGuard<'_, T>, i64)> {
        let guard = self.value.try_read()?;
        let revision = self.revision.load(Ordering::Acquire);
        Some((guard, revision))
    }

    pub(crate) fn revision(&self) -> i64 {
        // Acquire: a caller that sees revision r and then reads gets r's value or newer.
        self.revision.load(Ordering::Acquire)
    }

    pub(crate) fn progress(&self) -> i64 {
        *self.progress.read()
    }

    /// Publishes `value` as the key's value at `revision` if that is newer than the value held,
    /// and moves progress to at least `revision`. Returns whether it published.
    pub(crate) fn apply(&self, revision: i64, value: T) -> bool {
        let _serial = self.apply.lock().unwrap_or_else(PoisonError::into_inner);
        // Relaxed: only appliers store `revision`, and `apply` serializes them (the mutex
        // orders this load after the previous applier's store).
        let newer = revision > self.revision.load(Ordering::Relaxed);
        if newer {
            self.value.push(|v| {
                *v = value;
                // Release, under the write lock: see `revision`.
                self.revision.store(revision, Ordering::Release);
            });
        }
        self.advance_locked(revision);
        newer
    }

    /// Moves progress to at least `revision` without changing the value (a delete, a value
    /// that did not decode, a re-read that found nothing newer).
    pub(crate) fn advance(&self, revision: i64) {
        let _serial = self.apply.lock().unwrap_or_else(PoisonError::into_inner);
        self.advance_locked(revision);
    }

    fn advance_locked(&self, revision: i64) {
        // Only appliers (serialized by `apply`) write progress: read-then-push is one step.
        if revision > *self.progress.read() {
            self.progress.push(|p| *p = revision);
        }
    }

    /// Waits until progress has reached `revision`.
    pub(crate) async fn wait_progress(&self, revision: i64) {
        // The guard it completes with is dropped at once: nothing is held across an await.
        drop(self.progress.wait_until_async(|p| *p >= revision).await);
    }

    pub(crate) fn wait_until(
        &self,
        predicate: impl FnMut(&T) -> bool,
    ) -> Result<ReadGuard<'_, T>, Closed> {
        self.value.wait_until(predicate)
    }

    pub(crate) fn wait_until_async<P>(&self, predicate: P) -> WaitUntilAsync<'_, T, P>
    where
        P: FnMut(&T) -> bool,
    {
        self.value.wait_until_async(predicate)
    }

    pub(crate) fn puller(&self) -> ReplicaPuller<T> {
        ReplicaPuller {
            inner: self.value.puller_arc(),
        }
    }
}

impl<T> Drop for Local<T> {
    /// The replica and its watch are gone: the copy never changes again. Pullers that outlive
    /// them are told (`Closed`) instead of waiting for good.
    fn drop(&mut self) {
        self.value.close();
        self.progress.close();
    }
}

/// A cursor over the local copy of a [`Replica`](crate::Replica): pushpull's
/// [`ArcPuller`](pushpull::ArcPuller), read-only.
///
/// It sees every change the replica applies (its own pushes, and other processes' pushes as
/// its watch delivers them) with latest-value semantics: if several changes arrive between
/// two pulls, it reports the latest once (pushpull's [`Version`] counts the local publishes,
/// not etcd revisions). It starts at the local copy's current version. It holds the local
/// copy (not the replica): once the last [`Replica`](crate::Replica) handle is dropped and its
/// watch has stopped, the copy is closed, and [`wait`](Self::wait) and its twins return
/// [`Closed`] after delivering any change not seen yet.
///
/// It exists instead of handing out a pushpull `ArcPuller` because that one exposes its
/// `Shared` (`ArcPuller::shared`), whose `write()` would change the local copy behind etcd's
/// back.
///
/// ```no_run
/// # async fn demo(replica: pushpull_etcd::Replica<u64>) {
/// let mut puller = replica.puller_arc();
/// std::thread::spawn(move || loop {
///     match puller.wait() { // woken by any process's push
///         Ok(value) => println!("now {}", *value),
///         Err(_closed) => break, // the replica is gone
///     }
/// });
/// # }
/// ```
pub struct ReplicaPuller<T> {
    inner: ArcPuller<T>,
}

impl<T> Clone for ReplicaPuller<T> {
    fn clone(&self) -> Self {
        ReplicaPuller {
            inner: self.inner.clone(),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for ReplicaPuller<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaPuller")
            .field("seen", &self.inner.seen())
            .finish_non_exhaustive()
    }
}

impl<T> ReplicaPuller<T> {
    /// Whether the local copy changed since this puller last saw it (one atomic load).
    #[must_use]
    pub fn has_changed(&self) -> bool {
        self.inner.has_changed()
    }

    /// The local version this puller last saw.
    #[must_use]
    pub fn seen(&self) -> Version {
        self.inner.seen()
    }

    /// Marks the current local version as seen without reading the value.
    pub fn mark_seen(&mut self) {
        self.inner.mark_seen();
    }

    /// The new value if the local copy changed since this puller last saw it.
    pub fn pull(&mut self) -> Option<T>
    where
        T: Clone,
    {
        self.inner.pull()
    }

    /// Like [`pull`](Self::pull), running `f` on the new value under the read lock.
    pub fn pull_with<R>(&mut self, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.inner.pull_with(f)
    }

    /// Blocks until the local copy changes after the version this puller saw, and returns a
    /// read guard on the latest value (its [`version`](ReadGuard::version) is the local one).
    /// Returns at once if it already changed. A plain blocking wait (pushpull's): call it from
    /// a thread, not from an async task.
    ///
    /// # Errors
    ///
    /// [`Closed`] once the replica is gone (its last handle dropped) and this puller has seen
    /// the last value it applied.
    pub fn wait(&mut self) -> Result<ReadGuard<'_, T>, Closed> {
        self.inner.wait()
    }

    /// Like [`wait`](Self::wait), giving up after `timeout` (`Ok(None)`).
    ///
    /// # Errors
    ///
    /// [`Closed`], as [`wait`](Self::wait).
    pub fn wait_for(&mut self, timeout: Duration) -> Result<Option<ReadGuard<'_, T>>, Closed> {
        self.inner.wait_for(timeout)
    }

    /// Whether the replica is gone (see [`wait`](Self::wait)).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The async twin of [`wait`](Self::wait): cancel-safe, `Send` when `T: Send + Sync`.
    pub fn wait_async(&mut self) -> WaitAsync<'_, Arc<Shared<T>>> {
        self.inner.wait_async()
    }
}

/// A value that background tasks update and callers wait on (a pushpull `Shared`): a
/// [`WaitGroup`](crate::WaitGroup)'s view of its members.
pub(crate) struct Cell<S>(Shared<S>);

impl<S> Cell<S> {
    pub(crate) fn new(value: S) -> Self {
        Cell(Shared::new(value))
    }

    pub(crate) fn get(&self) -> ReadGuard<'_, S> {
        self.0.read()
    }

    /// Changes the value and wakes the waiters.
    pub(crate) fn update(&self, f: impl FnOnce(&mut S)) {
        self.0.push(f);
    }

    /// Waits (async, cancel-safe) until `predicate` holds. A `Cell` is never closed.
    pub(crate) async fn wait_until_async<P>(&self, predicate: P) -> ReadGuard<'_, S>
    where
        P: FnMut(&S) -> bool,
    {
        self.0
            .wait_until_async(predicate)
            .await
            .expect("pushpull-etcd: a Cell is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_publishes_only_newer_revisions_and_progress_never_goes_back() {
        let local = Local::new("a", 5, 7);
        let mut puller = local.puller();
        assert!(!local.apply(5, "dup"));
        assert!(!local.apply(3, "old"));
        assert_eq!(
            (*local.read(), local.revision(), local.progress()),
            ("a", 5, 7)
        );
        assert!(!puller.has_changed());
        assert!(local.apply(9, "b"));
        assert_eq!(
            (*local.read(), local.revision(), local.progress()),
            ("b", 9, 9)
        );
        assert_eq!(puller.pull(), Some("b"));
        local.advance(8);
        assert_eq!(local.progress(), 9);
        local.advance(12);
        assert_eq!((local.revision(), local.progress()), (9, 12));
        assert!(!puller.has_changed(), "progress alone publishes no value");
    }

    #[test]
    fn a_puller_outliving_the_local_copy_is_told_it_is_closed() {
        let local = Local::new(1, 5, 5);
        let mut puller = local.puller();
        assert!(local.apply(6, 2));
        drop(local);
        assert!(puller.is_closed());
        assert_eq!(puller.wait().map(|v| *v), Ok(2), "the last change first");
        assert_eq!(puller.wait().map(|v| *v), Err(Closed));
        assert!(puller.wait_for(Duration::from_secs(3600)).is_err());
    }
}
