//! `Shared<T>`: a value shared between threads, with read, modify and write guards.
//!
//! Layout of this module: `guards` (the three guards and the publish path), `state` (the
//! version word), `owner` (re-entrancy detection). The push side lives here too, because
//! every push is a write; the pull side lives in `crate::puller`.

mod guards;
mod owner;
mod release;
mod state;

pub use guards::{ModifyGuard, ReadGuard, WriteGuard};
pub(crate) use release::{AsyncUse, Blocked};

use crate::deadline::{bounded, Deadline};
use crate::lock_order::{self, How};
use crate::park::Event;
use crate::profile::{self, Access, Timed};
use crate::sync::{self, Duration, Instant, RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};
use crate::{Conflict, Version};
use guards::lock_ref;
use owner::{reads, would_deadlock, Held, Owner};
use state::{Entry, VersionWord};
use std::fmt;
use std::panic::Location;

/// The part of a `Shared` that does not depend on `T`: version word, owner word, parking.
///
/// Where the profile records, `repr(C)` with the profile's slot last (and `Shared` too, the
/// lock right after the core): the holder slot that every read and modify stores to then sits
/// next to the lock's own state word, which they write anyway, so that readers on several
/// cores do not make one more cache line travel (`profile::LockSlot::holding`). Elsewhere the
/// layout is the compiler's, as before.
#[cfg_attr(all(feature = "profile", not(loom)), repr(C))]
pub(crate) struct Core {
    pub(crate) version: VersionWord,
    owner: Owner,
    pub(crate) event: Event,
    /// This `Shared`'s identity for the per-thread records (never reused; see
    /// `sync::next_object_id`).
    id: u64,
    /// Its class and latest holder for the contention profile (zero-sized without it).
    pub(crate) profile: profile::LockSlot,
}

impl Drop for Core {
    /// The `Shared` is gone: the lock-order checker forgets its orders (a new `Shared`, even at
    /// the same address, starts clean: ids are never reused anyway).
    fn drop(&mut self) {
        lock_order::forget(self.id);
    }
}

impl Core {
    /// The core of a `Shared<T>` created at the caller's site (its profile class).
    #[cfg_attr(all(feature = "profile", not(loom)), track_caller)]
    fn new<T: ?Sized>() -> Self {
        Core {
            version: VersionWord::new(profile::LockSlot::starts_armed()),
            owner: Owner::new(),
            event: Event::default(),
            id: sync::next_object_id(),
            profile: profile::LockSlot::new::<T>(),
        }
    }

    /// The profile's hook for a contended acquisition of kind `access` at the caller's site,
    /// about to block (see `profile::LockSlot::contended`).
    #[inline]
    #[track_caller]
    pub(crate) fn contended(&self, access: Access) -> profile::Wait<'_> {
        self.profile.contended(access, &self.version)
    }

    /// A pull or a wait at `at` that had seen `from` took a read guard of an armed `Shared`
    /// (tested with the version it read): the profile records the read's site and the
    /// versions skipped. Out of line; reads the version again (stable under the read lock).
    #[cold]
    #[inline(never)]
    pub(crate) fn pulled_armed(&self, at: &'static Location<'static>, from: Version) {
        let to = self.version.version();
        self.profile.pulled_armed(at, from.get(), to.get());
    }

    fn reads_held_by_current_thread(&self) -> bool {
        reads::held(self.id)
    }

    /// Whether this thread may wait on this `Shared` for `call`. Holding its `WriteGuard`
    /// makes any wait hopeless (the wait ends with a read); when the wait is for another
    /// thread's publish (`for_publish`), so does holding any guard of it: no writer could get
    /// in. Untimed waits panic then; timed ones report that they give up at once (`false`).
    /// Only what this build tracks can be seen here (see the crate's misuse table); what it
    /// does not see, a timed wait's deadline still bounds.
    #[track_caller]
    pub(crate) fn may_wait(
        &self,
        call: &'static str,
        deadline: Deadline,
        for_publish: bool,
    ) -> bool {
        let blocker = match self.owner.held_by_current_thread() {
            Some(Held::Write) => Some("WriteGuard"),
            Some(Held::Modify) if for_publish => Some("ModifyGuard"),
            None if for_publish && self.reads_held_by_current_thread() => Some("ReadGuard"),
            _ => None,
        };
        match blocker {
            Some(_) if deadline.is_timed() => false,
            Some(guard) => would_deadlock(call, guard),
            None => true,
        }
    }
}

/// A value shared between threads: read it, modify it, write it, push changes to it and pull
/// them, without ever writing the two classic bugs of hand-rolled locking.
///
/// * [`read`](Self::read) gives shared access ([`ReadGuard`]); any number of readers at once.
/// * [`modify`](Self::modify) gives *upgradable* access ([`ModifyGuard`]): it coexists with
///   readers, excludes other modifiers and writers, and [`ModifyGuard::upgrade`] turns it into
///   a writer atomically, so a decision taken on what you read is still valid when you write.
/// * [`write`](Self::write) gives exclusive access ([`WriteGuard`]).
/// * [`push`](Self::push) runs a closure under the write lock: the
///   atomic read-modify-write that replaces "lock, read, unlock, lock, write" (which loses
///   updates).
///
/// Every write that changes the value *publishes*: the [`version`](Self::version) goes up by
/// one and threads waiting for a change ([`Puller::wait`](crate::Puller::wait),
/// [`wait_until`](Self::wait_until)) are woken. See the [crate docs](crate) for the push/pull
/// side and for model-checking code that uses `Shared` with loom.
///
/// # Re-entrancy
///
/// The locks are not re-entrant. Instead of hanging, a blocking call that could never succeed
/// because *this thread* holds a guard of the same `Shared` panics with a message naming the
/// guard: `write()` or `modify()` while holding a `ModifyGuard`, `write()`, `modify()` or
/// `read()` while holding a `WriteGuard`. `read()` while holding a `ModifyGuard` is allowed
/// and never waits behind a queued writer. The `try_*` calls never panic: they report what
/// the lock state allows.
///
/// What is checked depends on the build, because recording the writer costs ~10% of an
/// uncontended `write()` (see BENCHMARKS.md):
///
/// | Held by this thread | debug builds, loom | release | release + `reentrancy-check` |
/// |---|---|---|---|
/// | `ModifyGuard` | panic | panic | panic |
/// | `WriteGuard` | panic | deadlock (as `parking_lot`) | panic |
/// | `ReadGuard`, then `write()` / `modify()` / `upgrade` that must wait | panic | deadlock | deadlock |
///
/// Tests run in debug builds, so they catch re-entrant use; enable the `reentrancy-check`
/// feature to keep the `WriteGuard` check in release builds.
///
/// ```should_panic
/// use pushpull::Shared;
///
/// let data = Shared::new(0);
/// let looking = data.modify();
/// let writing = data.write(); // panics: "... would deadlock: this thread already holds a ModifyGuard ..."
/// ```
///
/// # Poisoning
///
/// If a thread panics while it has mutable access (a `WriteGuard` it mutably dereferenced, or
/// inside `push*`), the `Shared` is marked poisoned *before* the lock is released, and
/// the half-done change is published so that no waiter sleeps through it. Access is never
/// refused: check [`is_poisoned`](Self::is_poisoned) where a half-applied change matters, and
/// [`clear_poison`](Self::clear_poison) once the value is repaired.
///
/// # Examples
///
/// ```
/// use pushpull::Shared;
/// use std::thread;
///
/// let counter = Shared::new(0u64);
/// thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..1000 {
///                 counter.push(|n| *n += 1);
///             }
///         });
///     }
/// });
/// assert_eq!(*counter.read(), 4000);
/// assert_eq!(counter.version().get(), 4000);
/// ```
#[cfg_attr(all(feature = "profile", not(loom)), repr(C))]
pub struct Shared<T: ?Sized> {
    /// First, and the lock right after it, where the profile records (see `Core`).
    core: Core,
    lock: RwLock<T>,
}

impl<T> Shared<T> {
    /// Creates a `Shared` holding `value`, at version 0.
    ///
    /// ```
    /// let s = pushpull::Shared::new(vec![1, 2, 3]);
    /// assert_eq!(s.version().get(), 0);
    /// ```
    #[cfg_attr(all(feature = "profile", not(loom)), track_caller)]
    pub fn new(value: T) -> Self {
        Shared {
            core: Core::new::<T>(),
            lock: RwLock::new(value),
        }
    }

    /// Consumes the `Shared` and returns the value (poisoned or not).
    ///
    /// ```
    /// let s = pushpull::Shared::new(String::from("done"));
    /// assert_eq!(s.into_inner(), "done");
    /// ```
    pub fn into_inner(self) -> T {
        self.lock.into_inner()
    }
}

impl<T: ?Sized> Shared<T> {
    /// Mutable access through a unique borrow: no lock is taken and nothing is published (no
    /// other thread can be looking).
    ///
    /// ```
    /// let mut s = pushpull::Shared::new(1);
    /// *s.get_mut() += 1;
    /// assert_eq!(*s.read(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.lock.get_mut()
    }

    /// Locks for shared reading, blocking while a writer holds the lock.
    ///
    /// # Panics
    ///
    /// If this thread holds a [`WriteGuard`] of this `Shared` (it would deadlock).
    ///
    /// ```
    /// let s = pushpull::Shared::new(5);
    /// let a = s.read();
    /// let b = s.read(); // readers share
    /// assert_eq!(*a + *b, 10);
    /// ```
    #[doc(alias = "borrow")]
    #[doc(alias = "lock_shared")]
    #[doc(alias = "get")]
    #[inline]
    #[track_caller]
    pub fn read(&self) -> ReadGuard<'_, T> {
        self.read_as(How::Read, "read()")
    }

    /// `read`, recorded for the lock-order checker as taken `how` (a plain read, or the read
    /// inside a wait), on behalf of the public `call` its re-entrancy panic names.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn read_as(&self, how: How, call: &'static str) -> ReadGuard<'_, T> {
        self.order_before(how);
        if sync::TRY_BEFORE_BLOCKING {
            if let Some(inner) = self.lock.try_read() {
                return ReadGuard::new(&self.core, inner, how, Location::caller());
            }
        }
        self.read_slow(how, call)
    }

    /// `read_as(how, "read()")` for a pull or a wait that found a change: on the fast path,
    /// the guard does not record its site for the profile; the caller does, out of line, when
    /// it finds the `Shared` armed with the version it loads anyway
    /// (`PullerOf::pull_changed`).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn read_for_pull(&self, how: How) -> ReadGuard<'_, T> {
        self.order_before(how);
        if sync::TRY_BEFORE_BLOCKING {
            if let Some(inner) = self.lock.try_read() {
                return ReadGuard::unrecorded(&self.core, inner, how, Location::caller());
            }
        }
        self.read_slow(how, "read()")
    }

    /// `read_until` for a wait that found a change: `read_for_pull` when untimed.
    #[inline]
    #[track_caller]
    pub(crate) fn read_until_for_pull(&self, deadline: Deadline) -> Option<ReadGuard<'_, T>> {
        match deadline {
            Deadline::Untimed => Some(self.read_for_pull(How::Wait)),
            Deadline::Timed(at) => self.try_read_until(at, How::Wait),
        }
    }

    /// Tells the lock-order checker that this thread is about to block on this `Shared`
    /// (also when the fast path will not have to: the order is what counts). Compiled out
    /// where checking is off.
    #[inline]
    #[track_caller]
    fn order_before(&self, how: How) {
        lock_order::before_acquire(lock_ref::<T>(&self.core), how, Location::caller());
    }

    #[cold]
    #[track_caller]
    fn read_slow(&self, how: How, call: &'static str) -> ReadGuard<'_, T> {
        let wait = self.core.contended(Access::Read);
        let inner = match self.core.owner.held_by_current_thread() {
            Some(Held::Write) => would_deadlock(call, "WriteGuard"),
            // A modifier (or, in debug builds, a known reader) reading again must not queue
            // behind a writer that is itself waiting for this thread.
            Some(Held::Modify) => self.lock.read_recursive(),
            None if self.core.reads_held_by_current_thread() => self.lock.read_recursive(),
            None => self.lock.read(),
        };
        let _ = wait.acquired(); // a read's hold is not timed
        ReadGuard::new(&self.core, inner, how, Location::caller())
    }

    /// Locks for upgradable reading ("modify"): coexists with readers, waits for the current
    /// modifier or writer.
    ///
    /// # Panics
    ///
    /// If this thread holds a [`WriteGuard`] or [`ModifyGuard`] of this `Shared`, or (debug
    /// builds) a [`ReadGuard`] of it and would have to wait.
    ///
    /// ```
    /// use pushpull::{ModifyGuard, Shared};
    ///
    /// let best = Shared::new(10);
    /// let offer = 7;
    /// let guard = best.modify();
    /// if offer < *guard {
    ///     *ModifyGuard::upgrade(guard) = offer;
    /// }
    /// assert_eq!(*best.read(), 7);
    /// ```
    #[doc(alias = "upgradable_read")]
    #[inline]
    #[track_caller]
    pub fn modify(&self) -> ModifyGuard<'_, T> {
        self.order_before(How::Modify);
        // The slow path returns the lock's guard, not ours: the guard is built in one place,
        // after both paths, where the optimizer sees its bookkeeping whole (for a write guard,
        // which flags are set).
        let (inner, timed) =
            match sync::TRY_BEFORE_BLOCKING.then(|| self.lock.try_upgradable_read()) {
                Some(Some(inner)) => (inner, Timed::NO),
                _ => self.modify_slow(),
            };
        ModifyGuard::new(&self.core, inner, Location::caller()).timed(timed)
    }

    #[cold]
    #[track_caller]
    fn modify_slow(&self) -> (RwLockUpgradableReadGuard<'_, T>, Timed) {
        self.core.owner.check_blocking("modify()", self.core.id);
        let wait = self.core.contended(Access::Modify);
        let inner = self.lock.upgradable_read();
        (inner, wait.acquired())
    }

    /// Locks for exclusive writing, blocking while anyone else holds the lock.
    ///
    /// # Panics
    ///
    /// If this thread holds a [`WriteGuard`] or [`ModifyGuard`] of this `Shared` (use
    /// [`ModifyGuard::upgrade`] instead), or (debug builds) a [`ReadGuard`] of it; and if the
    /// `Shared` is [closed](Self::close): a closed value takes no more writes.
    ///
    /// ```
    /// let s = pushpull::Shared::new(vec![1]);
    /// s.write().push(2); // mutable access publishes version 1
    /// assert_eq!(s.version().get(), 1);
    /// ```
    #[doc(alias = "lock")]
    #[inline]
    #[track_caller]
    pub fn write(&self) -> WriteGuard<'_, T> {
        self.write_as("write()")
    }

    /// `write()` on behalf of the public `call` (`"push()"`, `"replace()"`, ...), which its
    /// panics name: the user reads the method they called. Refused once the `Shared` is
    /// closed (a closed value takes no more writes), checked under the lock, before any user
    /// code runs.
    #[inline]
    #[track_caller]
    pub(crate) fn write_as(&self, call: &'static str) -> WriteGuard<'_, T> {
        let (inner, entry) = self.lock_exclusive(call);
        // One test for both of what the word may say besides the version: closed (refused),
        // or armed for the profile (the site is recorded, out of line). Where the profile does
        // not record, `flagged` is `closed`.
        if entry.flagged() {
            if entry.closed() {
                refuse_closed(inner, call);
            }
            self.core.profile.holding_armed(Location::caller());
        }
        WriteGuard::new(&self.core, inner, entry, Location::caller())
    }

    /// The write lock for `close()`, which a closed `Shared` still takes (closing twice is a
    /// no-op).
    #[track_caller]
    pub(crate) fn write_to_close(&self) -> WriteGuard<'_, T> {
        let (inner, entry) = self.lock_exclusive("close()");
        if entry.armed() {
            self.core.profile.holding_armed(Location::caller());
        }
        WriteGuard::new(&self.core, inner, entry, Location::caller())
    }

    /// The lock's own write guard, blocking, and the version word as the writer found it
    /// (`VersionWord::on_entry`): the one place `write()`, the push family and `close()` take
    /// it. The slow path returns the lock's guard, not ours: the guard is built in one place,
    /// after both paths, where the optimizer sees its bookkeeping whole. The slow path's entry
    /// also says whether the contention profile times the hold (`Entry::timed`): the fast
    /// path's is the word as loaded, so the profile adds nothing there.
    #[inline(always)]
    #[track_caller]
    fn lock_exclusive(&self, call: &'static str) -> (RwLockWriteGuard<'_, T>, Entry) {
        self.order_before(How::Write);
        match sync::TRY_BEFORE_BLOCKING.then(|| self.lock.try_write()) {
            Some(Some(inner)) => (inner, self.core.version.on_entry()),
            _ => self.write_slow(call),
        }
    }

    #[cold]
    #[track_caller]
    fn write_slow(&self, call: &'static str) -> (RwLockWriteGuard<'_, T>, Entry) {
        self.core.owner.check_blocking(call, self.core.id);
        let wait = self.core.contended(Access::Write);
        let inner = self.lock.write();
        (inner, self.core.version.on_entry().timed(wait.acquired()))
    }

    /// Reads without blocking: `None` if a writer holds the lock. Never panics; succeeds for a
    /// thread that holds this `Shared`'s [`ModifyGuard`].
    ///
    /// ```
    /// let s = pushpull::Shared::new(1);
    /// let w = s.write();
    /// assert!(s.try_read().is_none());
    /// drop(w);
    /// assert_eq!(*s.try_read().unwrap(), 1);
    /// ```
    #[doc(alias = "try_borrow")]
    #[inline]
    #[track_caller]
    pub fn try_read(&self) -> Option<ReadGuard<'_, T>> {
        self.try_read_as(How::Read)
    }

    /// `try_read`, its guard recorded as taken `how`. Non-blocking: no lock order.
    #[inline]
    #[track_caller]
    fn try_read_as(&self, how: How) -> Option<ReadGuard<'_, T>> {
        // No recursive read needed under this thread's `ModifyGuard`: a plain `try_read` fails
        // only while a writer holds or is upgrading the lock, and no other thread can, since
        // a writer waits for the modify lock before it shuts readers out.
        let inner = self.lock.try_read()?;
        Some(ReadGuard::new(&self.core, inner, how, Location::caller()))
    }

    /// Takes the modify lock without blocking: `None` if another modifier or a writer holds
    /// it (including this thread). Never panics.
    ///
    /// ```
    /// let s = pushpull::Shared::new(1);
    /// let m = s.modify();
    /// assert!(s.try_modify().is_none());
    /// assert!(s.try_read().is_some()); // readers coexist with a modifier
    /// # drop(m);
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_modify(&self) -> Option<ModifyGuard<'_, T>> {
        let inner = self.lock.try_upgradable_read()?;
        Some(ModifyGuard::new(&self.core, inner, Location::caller()))
    }

    /// Takes the write lock without blocking: `None` if anyone holds the lock (including this
    /// thread), or if the `Shared` is [closed](Self::close). Never panics.
    ///
    /// ```
    /// let s = pushpull::Shared::new(1);
    /// let r = s.read();
    /// assert!(s.try_write().is_none());
    /// drop(r);
    /// *s.try_write().unwrap() += 1;
    /// ```
    #[doc(alias = "try_lock")]
    #[inline]
    #[track_caller]
    pub fn try_write(&self) -> Option<WriteGuard<'_, T>> {
        let inner = self.lock.try_write()?;
        let entry = self.core.version.on_entry();
        // As in `write_as`: one test for closed and armed.
        if entry.flagged() {
            if entry.closed() {
                return None;
            }
            self.core.profile.holding_armed(Location::caller());
        }
        Some(WriteGuard::new(
            &self.core,
            inner,
            entry,
            Location::caller(),
        ))
    }

    /// Reads, waiting at most `timeout` for a writer to leave. Returns `None` at once where
    /// this thread's own guard makes the wait hopeless and this build can tell (its
    /// `WriteGuard` in debug builds or with `reentrancy-check`); otherwise it never waits past
    /// `timeout` (see the crate's misuse table). Under `cfg(loom)` the timeout is ignored
    /// (loom has no clock), so it waits like [`read`](Self::read).
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = pushpull::Shared::new(1);
    /// assert!(s.try_read_for(Duration::from_millis(10)).is_some());
    /// ```
    #[track_caller]
    pub fn try_read_for(&self, timeout: Duration) -> Option<ReadGuard<'_, T>> {
        self.try_read_until(Deadline::after(timeout).instant(), How::Read)
    }

    /// The read every wait path takes (its registration, its predicate checks, the guard it
    /// returns): [`read`](Self::read) for an untimed call; for a timed one, never past the
    /// deadline, and `None` at once where this thread's own guard makes it hopeless.
    #[inline]
    #[track_caller]
    pub(crate) fn read_until(&self, deadline: Deadline) -> Option<ReadGuard<'_, T>> {
        match deadline {
            Deadline::Untimed => Some(self.read_as(How::Wait, "read()")),
            Deadline::Timed(at) => self.try_read_until(at, How::Wait),
        }
    }

    /// A timed read stopping at `at` (`None`: a timed call with no instant to stop at),
    /// recorded as taken `how`. A timeout hides a deadlock, it does not prevent one: the
    /// lock order counts as for a blocking read.
    #[track_caller]
    fn try_read_until(&self, at: Option<Instant>, how: How) -> Option<ReadGuard<'_, T>> {
        self.order_before(how);
        if let Some(guard) = self.try_read_as(how) {
            return Some(guard);
        }
        // Under this thread's `ModifyGuard` the `try_read` above cannot fail; under its
        // `WriteGuard` nothing can succeed.
        if self.core.owner.held_by_current_thread().is_some() {
            return None;
        }
        let wait = self.core.contended(Access::Read);
        let inner = if self.core.reads_held_by_current_thread() {
            // A thread that already reads must not queue behind a writer waiting for it.
            bounded(
                at,
                |at| self.lock.try_read_recursive_until(at),
                || self.lock.read_recursive(),
            )
        } else {
            bounded(at, |at| self.lock.try_read_until(at), || self.lock.read())
        };
        let Some(inner) = inner else {
            wait.gave_up();
            return None;
        };
        let _ = wait.acquired(); // a read's hold is not timed
        Some(ReadGuard::new(&self.core, inner, how, Location::caller()))
    }

    /// Takes the modify lock, waiting at most `timeout`. Returns `None` at once if this thread
    /// holds a guard that makes the wait hopeless and this build can tell; otherwise it never
    /// waits past `timeout`. Under `cfg(loom)` the timeout is ignored.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = pushpull::Shared::new(1);
    /// let m = s.modify();
    /// assert!(s.try_modify_for(Duration::from_secs(60)).is_none()); // at once: we hold it
    /// # drop(m);
    /// ```
    #[track_caller]
    pub fn try_modify_for(&self, timeout: Duration) -> Option<ModifyGuard<'_, T>> {
        self.order_before(How::Modify);
        if let Some(guard) = self.try_modify() {
            return Some(guard);
        }
        if self.is_hopeless_for_current_thread() {
            return None;
        }
        let wait = self.core.contended(Access::Modify);
        let Some(inner) = bounded(
            Deadline::after(timeout).instant(),
            |at| self.lock.try_upgradable_read_until(at),
            || self.lock.upgradable_read(),
        ) else {
            wait.gave_up();
            return None;
        };
        Some(ModifyGuard::new(&self.core, inner, Location::caller()).waited(wait))
    }

    /// Takes the write lock, waiting at most `timeout`. Returns `None` at once if this thread
    /// holds a guard that makes the wait hopeless and this build can tell (its `ModifyGuard`
    /// in every build); otherwise it never waits past `timeout`. `None` too if the `Shared` is
    /// [closed](Self::close). Under `cfg(loom)` the timeout is ignored.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = pushpull::Shared::new(1);
    /// let m = s.modify();
    /// assert!(s.try_write_for(Duration::from_secs(60)).is_none()); // at once: we hold it
    /// # drop(m);
    /// ```
    #[track_caller]
    pub fn try_write_for(&self, timeout: Duration) -> Option<WriteGuard<'_, T>> {
        self.order_before(How::Write);
        if let Some(guard) = self.try_write() {
            return Some(guard);
        }
        if self.is_hopeless_for_current_thread() {
            return None;
        }
        let wait = self.core.contended(Access::Write);
        let Some(inner) = bounded(
            Deadline::after(timeout).instant(),
            |at| self.lock.try_write_until(at),
            || self.lock.write(),
        ) else {
            wait.gave_up();
            return None;
        };
        let entry = self.core.version.on_entry();
        if entry.armed() {
            self.core.profile.holding_armed(Location::caller());
        }
        let guard = WriteGuard::new(
            &self.core,
            inner,
            entry.timed(wait.acquired()),
            Location::caller(),
        );
        if entry.closed() {
            return None;
        }
        Some(guard)
    }

    /// This thread holds the exclusive side, or (debug builds) a read, of this `Shared`.
    #[cold]
    fn is_hopeless_for_current_thread(&self) -> bool {
        self.core
            .owner
            .guard_held_by_current_thread(self.core.id)
            .is_some()
    }

    /// Runs `f` on the value under a read lock and returns its result.
    ///
    /// ```
    /// let s = pushpull::Shared::new(vec![3, 1, 2]);
    /// assert_eq!(s.with(|v| v.iter().sum::<i32>()), 6);
    /// ```
    #[track_caller]
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.read_as(How::Read, "with()"))
    }

    /// Pushes a change: runs `f` on the value under the write lock, bumps the version by one
    /// and wakes waiters (after the lock is released), and returns what `f` returned. The
    /// atomic read-modify-write that replaces "lock, read, unlock, lock, write".
    ///
    /// # Panics
    ///
    /// If the `Shared` is [closed](Self::close) (`f` does not run), and as
    /// [`write`](Self::write) if this thread holds a guard of it.
    ///
    /// ```
    /// let s = pushpull::Shared::new(Vec::new());
    /// s.push(|v| v.push("hello"));
    /// assert_eq!(s.version().get(), 1);
    /// let len = s.push(|v| { v.push("world"); v.len() });
    /// assert_eq!(len, 2);
    /// ```
    #[doc(alias = "update")]
    #[doc(alias = "send_modify")]
    #[doc(alias = "fetch_update")]
    #[inline]
    #[track_caller]
    pub fn push<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = self.write_as("push()");
        guard.publish();
        guard.apply(f)
    }

    /// Pushes a new value, returning the one it replaces: [`push`](Self::push) with
    /// `std::mem::replace` (a watch channel's `send` / `send_replace`).
    ///
    /// # Panics
    ///
    /// As [`push`](Self::push).
    ///
    /// ```
    /// let config = pushpull::Shared::new("v1");
    /// let old = config.replace("v2");
    /// assert_eq!((old, *config.read(), config.version().get()), ("v1", "v2", 1));
    /// ```
    #[doc(alias = "send")]
    #[doc(alias = "send_replace")]
    #[doc(alias = "set")]
    #[doc(alias = "store")]
    #[doc(alias = "swap")]
    #[track_caller]
    pub fn replace(&self, value: T) -> T
    where
        T: Sized,
    {
        let mut guard = self.write_as("replace()");
        guard.publish();
        guard.apply(|v| std::mem::replace(v, value))
    }

    /// Runs `f` under the write lock and publishes only if it returns `true` (the version
    /// stays and nobody is woken otherwise). `f` must leave the value unchanged when it
    /// returns `false`.
    ///
    /// ```
    /// let s = pushpull::Shared::new(3);
    /// assert!(!s.push_if(|n| if *n > 5 { *n = 0; true } else { false }));
    /// assert_eq!(s.version().get(), 0);
    /// assert!(s.push_if(|n| { *n += 1; true }));
    /// assert_eq!(s.version().get(), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`push`](Self::push): also when the `Shared` is closed, whatever `f` would return.
    #[doc(alias = "send_if_modified")]
    #[inline]
    #[track_caller]
    pub fn push_if(&self, f: impl FnOnce(&mut T) -> bool) -> bool {
        let mut guard = self.write_as("push_if()");
        let changed = guard.apply_unpublished(f);
        if changed {
            guard.publish();
        }
        changed
    }

    /// Compare-and-push: applies `f` and publishes only if the version is still `seen`;
    /// otherwise returns [`Conflict`] with the current version and leaves everything as it
    /// is. Of several threads pushing at the same version, exactly one wins.
    ///
    /// Returns `f`'s result and the version this push produced.
    ///
    /// # The version must be the value's own
    ///
    /// `seen` must be the version *of the value `f` was computed from*: take both under one
    /// lock, with [`ReadGuard::version`] (or [`snapshot`](Self::snapshot), or the guard a wait
    /// returned). Reading the value and then calling [`version`](Self::version) separately is
    /// wrong: a push can land in between, and `push_at` then accepts a change computed from
    /// the older value, silently losing that push (`tests/push_pull.rs` reproduces it).
    ///
    /// ```
    /// use pushpull::Shared;
    ///
    /// let counter = Shared::new(0u64);
    /// loop {
    ///     // Right: the value and its version under one read lock.
    ///     let (value, seen) = {
    ///         let guard = counter.read();
    ///         (*guard, guard.version())
    ///     };
    ///     // Wrong: `let value = *counter.read(); let seen = counter.version();`
    ///     if counter.push_at(seen, |v| *v = value + 1).is_ok() {
    ///         break; // else someone pushed meanwhile: compute again from the new value
    ///     }
    /// }
    /// assert_eq!(*counter.read(), 1);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Conflict`] when the version is no longer `seen`; `f` did not run.
    ///
    /// # Panics
    ///
    /// As [`push`](Self::push), if the `Shared` is closed (a stale `seen` may be refused as a
    /// [`Conflict`] first).
    ///
    /// ```
    /// use pushpull::Shared;
    ///
    /// let s = Shared::new(10);
    /// let (value, seen) = s.snapshot();
    /// let (_, now) = s.push_at(seen, |v| *v = value * 2).unwrap();
    /// assert_eq!(now.get(), 1);
    /// // A second push based on the old snapshot is refused:
    /// let conflict = s.push_at(seen, |v| *v = 0).unwrap_err();
    /// assert_eq!(conflict.current, now);
    /// assert_eq!(*s.read(), 20);
    /// ```
    #[doc(alias = "compare_exchange")]
    #[doc(alias = "compare_and_swap")]
    #[inline]
    #[track_caller]
    pub fn push_at<R>(
        &self,
        seen: Version,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<(R, Version), Conflict> {
        // A lock-free early refusal: versions only grow, so a stale `seen` stays stale.
        let current = self.version();
        if current != seen {
            return Err(Conflict { current });
        }
        let mut guard = self.write_as("push_at()");
        let current = guard.version();
        if current != seen {
            return Err(Conflict { current });
        }
        guard.publish();
        let result = guard.apply(f);
        Ok((result, guard.version()))
    }

    /// The current version: how many times this `Shared` was published to. Lock-free (one
    /// atomic load).
    ///
    /// ```
    /// let s = pushpull::Shared::new(0);
    /// s.push(|n| *n += 1);
    /// s.push(|n| *n += 1);
    /// assert_eq!(s.version().get(), 2);
    /// ```
    #[inline]
    #[must_use]
    pub fn version(&self) -> Version {
        self.core.version.version()
    }

    /// Whether a thread panicked while it had mutable access, leaving a possibly half-applied
    /// change. Lock-free.
    ///
    /// ```
    /// use pushpull::Shared;
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    ///
    /// let s = Shared::new(vec![1, 2]);
    /// let _ = catch_unwind(AssertUnwindSafe(|| s.push(|v| { v.clear(); panic!("oops") })));
    /// assert!(s.is_poisoned());
    /// s.push(|v| v.extend([1, 2])); // repair
    /// s.clear_poison();
    /// assert!(!s.is_poisoned());
    /// ```
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        self.core.version.is_poisoned()
    }

    /// Clears the poison flag (takes the write lock; publishes nothing).
    ///
    /// # Panics
    ///
    /// As [`write`](Self::write), if this thread holds a guard of this `Shared`.
    #[track_caller]
    pub fn clear_poison(&self) {
        let _guard = self.write();
        self.core.version.clear_poison();
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }
}

/// A write refused because the `Shared` is closed: lets go of the lock's guard, then panics
/// naming `call`. Out of line and owning the guard, so the fast path that calls it keeps no
/// cleanup of its own for this branch.
#[cold]
#[inline(never)]
#[track_caller]
fn refuse_closed<G>(inner: G, call: &'static str) -> ! {
    drop(inner);
    state::written_after_close(call)
}

/// Like std's `RwLock`: a panic with mutable access poisons the value, which
/// [`Shared::is_poisoned`] reports, so sharing a `Shared` across `catch_unwind` is fine.
impl<T: ?Sized> std::panic::UnwindSafe for Shared<T> {}
impl<T: ?Sized> std::panic::RefUnwindSafe for Shared<T> {}

impl<T: Default> Default for Shared<T> {
    #[cfg_attr(all(feature = "profile", not(loom)), track_caller)]
    fn default() -> Self {
        Shared::new(T::default())
    }
}

impl<T> From<T> for Shared<T> {
    #[cfg_attr(all(feature = "profile", not(loom)), track_caller)]
    fn from(value: T) -> Self {
        Shared::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Shared<T> {
    /// Never blocks: shows `<locked>` if a writer holds the lock. `waiting: true` when a
    /// waiter (a blocked `wait` / `wait_until`, or a pending future) has announced itself for
    /// the current version: the next publish wakes the waiters.
    ///
    /// ```
    /// let s = pushpull::Shared::new(1);
    /// assert_eq!(
    ///     format!("{s:?}"),
    ///     "Shared { value: 1, version: Version(0), poisoned: false, waiting: false }"
    /// );
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Shared");
        match self.lock.try_read() {
            Some(value) => d.field("value", &&*value),
            None => d.field("value", &format_args!("<locked>")),
        };
        let version = self.version();
        d.field("version", &version)
            .field("poisoned", &self.is_poisoned())
            .field("waiting", &self.core.version.waiting_at(version))
            .finish()
    }
}

/// Where the profile records: the layout `Core` promises.
#[cfg(all(test, feature = "profile", not(loom)))]
mod profile_layout {
    use super::*;

    #[test]
    fn the_holder_slot_sits_next_to_the_locks_state_word() {
        let shared = Shared::new(0u64);
        let slot = shared.core.profile.holder_addr();
        let lock = std::ptr::addr_of!(shared.lock) as usize;
        assert_eq!(slot + std::mem::size_of::<usize>(), lock);
        // The lock's state word is the first word of the lock (parking_lot's `RwLock` puts
        // its raw lock before the value): a read guard's deref points past it.
        let guard = shared.read();
        assert!(std::ptr::addr_of!(*guard) as usize > lock);
    }
}

/// Builds that record lock orders only (the one test here is about the graph).
#[cfg(all(test, not(loom), any(debug_assertions, feature = "lock-order-check")))]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_shared_leaves_the_lock_order_graph() {
        let jobs = Shared::new(0);
        let results = Shared::new(0);
        {
            let _j = jobs.write();
            let _r = results.write(); // records jobs → results
        }
        let id = results.core().id;
        assert!(crate::lock_order::in_graph(id));
        drop(results);
        assert!(
            !crate::lock_order::in_graph(id),
            "a dropped Shared is forgotten"
        );
        assert!(
            !crate::lock_order::in_graph(jobs.core().id),
            "its edges went with it"
        );
    }
}
