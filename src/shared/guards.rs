//! The three guards of a `Shared`. Each is a thin wrapper around the lock's own guard plus the
//! bookkeeping pushpull adds: the re-entrancy owner word (write / modify), the debug read
//! registry (read), and the publish state (write).

use super::owner::{reads::ReadMark, would_deadlock, Held};
use super::Core;
use crate::sync::{
    thread_panicking, Duration, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use std::fmt;
use std::ops::{Deref, DerefMut};

/// Shared read access to the value of a [`Shared`](crate::Shared), released when dropped.
///
/// Holds a read lock: other readers and one [`ModifyGuard`] may coexist with it; writers wait.
/// Returned by [`Shared::read`](crate::Shared::read), [`Shared::try_read`](crate::Shared::try_read), [`Puller::wait`](crate::Puller::wait),
/// [`Shared::wait_until`](crate::Shared::wait_until) and [`WriteGuard::downgrade`].
#[must_use = "if unused the read lock is released at once"]
#[clippy::has_significant_drop]
pub struct ReadGuard<'a, T: ?Sized> {
    pub(super) inner: RwLockReadGuard<'a, T>,
    pub(super) _mark: ReadMark,
}

/// Upgradable read access to the value of a [`Shared`](crate::Shared), released when dropped.
///
/// Holds the lock's upgradable side: readers coexist with it, while other modifiers and
/// writers wait. [`ModifyGuard::upgrade`] turns it into a [`WriteGuard`] atomically: no
/// other writer can get in between what you read and what you write. This is the guard for
/// "look first, then maybe change" without a lost update.
#[must_use = "if unused the modify lock is released at once"]
#[clippy::has_significant_drop]
pub struct ModifyGuard<'a, T: ?Sized> {
    pub(super) core: &'a Core,
    /// `None` only after the guard was converted (`upgrade`, `downgrade`).
    pub(super) inner: Option<RwLockUpgradableReadGuard<'a, T>>,
}

/// Exclusive access to the value of a [`Shared`](crate::Shared), released when dropped.
///
/// Holds the write lock. The first mutable access *publishes*: the version of the `Shared`
/// goes up by one, and once the lock is released every thread waiting for a change (see
/// [`Puller`](crate::Puller)) is woken. A `WriteGuard` that is only read through publishes
/// nothing. If the thread panics after mutable access, the `Shared` is marked poisoned
/// before the lock is released (see [`Shared::is_poisoned`](crate::Shared::is_poisoned)).
#[must_use = "if unused the write lock is released at once"]
#[clippy::has_significant_drop]
pub struct WriteGuard<'a, T: ?Sized> {
    pub(super) core: &'a Core,
    /// `None` only after the guard was converted (`downgrade`).
    pub(super) inner: Option<RwLockWriteGuard<'a, T>>,
    /// This guard already bumped the version.
    published: bool,
    /// Its publish found a parked waiter: wake them after unlocking.
    wake: bool,
    /// Mutable access was handed out while the thread was not unwinding: a panic from now on
    /// poisons the value.
    poison_on_unwind: bool,
}

impl<'a, T: ?Sized> ReadGuard<'a, T> {
    pub(super) fn new(core: &'a Core, inner: RwLockReadGuard<'a, T>) -> Self {
        ReadGuard {
            inner,
            _mark: ReadMark::new(core.addr()),
        }
    }
}

impl<'a, T: ?Sized> ModifyGuard<'a, T> {
    pub(super) fn new(core: &'a Core, inner: RwLockUpgradableReadGuard<'a, T>) -> Self {
        core.owner.claim(Held::Modify);
        ModifyGuard {
            core,
            inner: Some(inner),
        }
    }

    fn take(mut s: Self) -> (&'a Core, RwLockUpgradableReadGuard<'a, T>) {
        let inner = s.inner.take().expect("ModifyGuard already converted");
        (s.core, inner)
    }

    /// Turns the modify guard into a write guard, atomically: readers that hold the lock are
    /// waited for, and no writer can acquire the lock in between.
    ///
    /// This is an associated function (`ModifyGuard::upgrade(guard)`) so that it never
    /// shadows a method of `T`.
    ///
    /// # Panics
    ///
    /// In debug builds, if this thread also holds a [`ReadGuard`] of the same `Shared` (the
    /// upgrade would wait for it forever).
    ///
    /// ```
    /// use pushpull::{ModifyGuard, Shared};
    ///
    /// let stock = Shared::new(3u32);
    /// let guard = stock.modify();
    /// if *guard > 0 {
    ///     let mut guard = ModifyGuard::upgrade(guard);
    ///     *guard -= 1; // nobody else changed it since we looked
    /// }
    /// assert_eq!(*stock.read(), 2);
    /// ```
    #[track_caller]
    pub fn upgrade(s: Self) -> WriteGuard<'a, T> {
        let (core, inner) = Self::take(s);
        match RwLockUpgradableReadGuard::try_upgrade(inner) {
            Ok(write) => WriteGuard::new(core, write),
            Err(inner) => Self::upgrade_slow(core, inner),
        }
    }

    #[cold]
    #[track_caller]
    fn upgrade_slow(core: &'a Core, inner: RwLockUpgradableReadGuard<'a, T>) -> WriteGuard<'a, T> {
        if core.reads_held_by_current_thread() {
            // Give the modify lock back before unwinding so nothing else is left hanging.
            core.owner.release();
            drop(inner);
            would_deadlock("ModifyGuard::upgrade()", "ReadGuard");
        }
        WriteGuard::new(core, RwLockUpgradableReadGuard::upgrade(inner))
    }

    /// Tries to upgrade without blocking.
    ///
    /// # Errors
    ///
    /// Gives the guard back if readers hold the lock.
    pub fn try_upgrade(s: Self) -> Result<WriteGuard<'a, T>, Self> {
        let (core, inner) = Self::take(s);
        match RwLockUpgradableReadGuard::try_upgrade(inner) {
            Ok(write) => Ok(WriteGuard::new(core, write)),
            Err(inner) => Err(ModifyGuard {
                core,
                inner: Some(inner),
            }),
        }
    }

    /// Tries to upgrade, waiting at most `timeout` for readers to leave. Under `cfg(loom)`
    /// this is [`upgrade`](Self::upgrade) (loom has no clock).
    ///
    /// # Errors
    ///
    /// Gives the guard back if readers still hold the lock after `timeout`, or at once if
    /// this thread holds one of them (debug builds).
    pub fn try_upgrade_for(s: Self, timeout: Duration) -> Result<WriteGuard<'a, T>, Self> {
        let (core, inner) = Self::take(s);
        if core.reads_held_by_current_thread() {
            return Err(ModifyGuard {
                core,
                inner: Some(inner),
            });
        }
        match RwLockUpgradableReadGuard::try_upgrade_for(inner, timeout) {
            Ok(write) => Ok(WriteGuard::new(core, write)),
            Err(inner) => Err(ModifyGuard {
                core,
                inner: Some(inner),
            }),
        }
    }
}

impl<'a, T: ?Sized> WriteGuard<'a, T> {
    pub(super) fn new(core: &'a Core, inner: RwLockWriteGuard<'a, T>) -> Self {
        core.owner.claim(Held::Write);
        WriteGuard {
            core,
            inner: Some(inner),
            published: false,
            wake: false,
            poison_on_unwind: false,
        }
    }

    /// The value, mutably, without publishing: for `push_if`, which decides afterwards.
    /// A panic from here on still poisons.
    pub(super) fn value_mut_unpublished(&mut self) -> &mut T {
        self.arm_poison();
        match &mut self.inner {
            Some(inner) => inner,
            None => unreachable!("WriteGuard used after conversion"),
        }
    }

    #[inline]
    fn arm_poison(&mut self) {
        if !self.poison_on_unwind {
            self.poison_on_unwind = !thread_panicking();
        }
    }

    /// The one publish path: bump the version under the write lock (once per guard) and
    /// remember whether someone must be woken after the lock is released.
    #[inline]
    pub(super) fn publish(&mut self) {
        if !self.published {
            self.published = true;
            self.wake = self.core.version.publish();
        }
    }

    /// The version this guard's publish produced (or the current one if it did not publish).
    pub(super) fn version(&self) -> crate::Version {
        self.core.version.version()
    }

    /// Releases the lock's bookkeeping (owner word, poison) while the lock is still held.
    fn before_unlock(&mut self) {
        self.core.owner.release();
        if self.poison_on_unwind && thread_panicking() {
            // A panic interrupted a change: readers must be able to tell, and waiters must not
            // sleep through it, so the half-done state is published with the poison flag.
            self.core.version.poison();
            self.publish();
        }
    }

    fn after_unlock(&self) {
        if self.wake {
            self.core.wake_waiters();
        }
    }

    /// Turns the write guard into a read guard without letting a writer in between. If the
    /// guard published, waiters are woken (they can read as soon as we do).
    ///
    /// An associated function (`WriteGuard::downgrade(guard)`), so it never shadows a method
    /// of `T`.
    ///
    /// ```
    /// use pushpull::{Shared, WriteGuard};
    ///
    /// let log = Shared::new(Vec::new());
    /// let mut w = log.write();
    /// w.push("started");
    /// let r = WriteGuard::downgrade(w); // other readers may come in now
    /// assert_eq!(r.len(), 1);
    /// ```
    pub fn downgrade(mut s: Self) -> ReadGuard<'a, T>
    where
        T: 'a,
    {
        s.before_unlock();
        let inner = s.inner.take().expect("WriteGuard already converted");
        let read = RwLockWriteGuard::downgrade(inner);
        s.after_unlock();
        ReadGuard::new(s.core, read)
    }
}

impl<T: ?Sized> Drop for ModifyGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.inner.is_some() {
            // Before the `inner` field unlocks.
            self.core.owner.release();
        }
    }
}

impl<T: ?Sized> Drop for WriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            self.before_unlock();
            drop(inner);
            self.after_unlock();
        }
    }
}

impl<T: ?Sized> Deref for ReadGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> Deref for ModifyGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        match &self.inner {
            Some(inner) => inner,
            None => unreachable!("ModifyGuard used after conversion"),
        }
    }
}

impl<T: ?Sized> Deref for WriteGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        match &self.inner {
            Some(inner) => inner,
            None => unreachable!("WriteGuard used after conversion"),
        }
    }
}

impl<T: ?Sized> DerefMut for WriteGuard<'_, T> {
    /// Mutable access publishes (once per guard): see the type's documentation.
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.publish();
        self.value_mut_unpublished()
    }
}

macro_rules! forward_fmt {
    ($($guard:ident),*) => {$(
        impl<T: ?Sized + fmt::Debug> fmt::Debug for $guard<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }
        impl<T: ?Sized + fmt::Display> fmt::Display for $guard<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    )*};
}
forward_fmt!(ReadGuard, ModifyGuard, WriteGuard);

impl<'a, T: ?Sized> ModifyGuard<'a, T> {
    /// Gives up the right to upgrade, keeping read access; modifiers and writers may proceed.
    pub fn downgrade(s: Self) -> ReadGuard<'a, T> {
        let (core, inner) = Self::take(s);
        core.owner.release();
        ReadGuard::new(core, RwLockUpgradableReadGuard::downgrade(inner))
    }
}
