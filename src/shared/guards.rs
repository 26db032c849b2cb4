//! The three guards of a `Shared`. Each is a thin wrapper around the lock's own guard plus the
//! bookkeeping pushpull adds: the re-entrancy owner word (modify / write), the debug read
//! registry (read), and the publish state (write).
//!
//! The guards have no `Drop` of their own: the work around unlocking lives in fields, and Rust
//! drops fields in declaration order. A modify or write guard is
//! `{ exclusive, inner, (wake) }`: `exclusive` forgets the owner (and poisons on unwinding)
//! while the lock is still held, `inner` unlocks, `wake` does what the writer owes after the
//! unlock (wakes parked pullers; the release check of `super::release`). Without a `Drop` of their own the guards can be taken apart by value, which is how
//! `upgrade` / `downgrade` convert them, with no `Option` on the access path.

use super::owner::{reads::ReadMark, would_deadlock, Held, TRACK_WRITERS};
use super::state::{self, Owed, OWES_WAKE};
use super::Core;
use crate::deadline::Deadline;
use crate::lock_order::{self, HeldMark, How, LockRef};
use crate::sync::{
    thread_panicking, Duration, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

/// Keeps a guard on the thread that took it, whatever features the build enables.
///
/// A guard's bookkeeping is per thread (the owner word names the thread holding the exclusive
/// side, the debug read registry is a thread-local list, and the lock-order records are per
/// thread), and an unlock from another thread would make it lie. `parking_lot`'s own guards are
/// `!Send` only while no crate in the build enables its `send_guard` feature (Cargo unifies
/// features across the dependency graph), so pushpull's guards carry this marker of their
/// own. `std::sync::MutexGuard<()>` is `!Send` and `Sync`, so a guard stays `Sync` exactly
/// when the lock's guard is (when `T: Sync`), as before.
#[derive(Clone, Copy, Default)]
struct NotSend(PhantomData<std::sync::MutexGuard<'static, ()>>);

/// Shared read access to the value of a [`Shared`](crate::Shared), released when dropped.
///
/// Holds a read lock: other readers and one [`ModifyGuard`] may coexist with it; writers wait.
/// Returned by [`Shared::read`](crate::Shared::read),
/// [`Shared::try_read`](crate::Shared::try_read), [`Puller::wait`](crate::Puller::wait),
/// [`Shared::wait_until`](crate::Shared::wait_until) and [`WriteGuard::downgrade`].
#[must_use = "if unused the read lock is released at once"]
#[clippy::has_significant_drop]
pub struct ReadGuard<'a, T: ?Sized> {
    inner: RwLockReadGuard<'a, T>,
    _mark: ReadMark,
    /// This thread holds the lock, for the lock-order checker (zero-sized where it is off).
    _order: HeldMark,
    _not_send: NotSend,
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
    /// Dropped first: forgets the owner while the lock is held.
    exclusive: Exclusive<'a>,
    inner: RwLockUpgradableReadGuard<'a, T>,
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
    /// Dropped first: forgets the owner, poisons on unwinding, while the lock is held.
    exclusive: Exclusive<'a>,
    /// Dropped second: unlocks.
    inner: RwLockWriteGuard<'a, T>,
    /// Dropped last: wakes parked pullers if this guard's publish found any (and does the
    /// release check for futures, see `super::release`).
    wake: Wake<'a>,
}

/// The exclusive side's bookkeeping, undone before the lock is released.
struct Exclusive<'a> {
    core: &'a Core,
    /// `PUBLISHED`, `POISON_ON_UNWIND`, `OWNER_RECORDED`.
    flags: u8,
    /// This thread holds the lock, for the lock-order checker (zero-sized where it is off).
    order: HeldMark,
    _not_send: NotSend,
}

/// This guard already bumped the version (once per guard).
const PUBLISHED: u8 = 1;
/// Mutable access was handed out while the thread was not unwinding: unwinding from now on
/// poisons the value.
const POISON_ON_UNWIND: u8 = 2;
/// This guard recorded its thread in the owner word (see `owner::TRACK_WRITERS`).
const OWNER_RECORDED: u8 = 4;

impl<'a> Exclusive<'a> {
    #[inline]
    fn claim(core: &'a Core, held: Held, order: HeldMark) -> Self {
        let flags = if held == Held::Modify || TRACK_WRITERS {
            core.owner.claim(held);
            OWNER_RECORDED
        } else {
            0
        };
        Exclusive {
            core,
            flags,
            order,
            _not_send: NotSend::default(),
        }
    }
}

impl Drop for Exclusive<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.flags & OWNER_RECORDED != 0 {
            self.core.owner.release();
        }
        if self.flags & POISON_ON_UNWIND != 0 && thread_panicking() {
            self.poison();
        }
    }
}

impl Exclusive<'_> {
    /// A panic interrupted a change: readers must be able to tell, and waiters must not sleep
    /// through it, so the half-done state is published with the poison flag.
    #[cold]
    #[inline(never)]
    fn poison(&mut self) {
        self.core.version.poison();
        if self.flags & PUBLISHED == 0 {
            // Only here (a panicking `push_if` closure, before it could publish) is a publish
            // made by this field. It cannot reach the guard's `Wake`, so `push_if` armed that
            // to wake the waiters after the unlock (`WriteGuard::apply_unpublished`): waiters
            // are woken after the lock is released, as every publish promises.
            self.core.version.publish();
        }
    }
}

/// What the write guard owes after the lock is released (`Core::after_write`): nothing, the
/// common case, unless its publish found parked pullers or futures use this `Shared`.
struct Wake<'a> {
    core: &'a Core,
    /// From the publish (`PUBLISHED` and what it found), or 0 if the guard did not publish.
    owed: Owed,
}

impl Drop for Wake<'_> {
    #[inline]
    fn drop(&mut self) {
        // A guard that did not publish learns after the unlock whether futures use this
        // `Shared` (see `super::release`); a publish said so under the lock.
        let owed = if self.owed == 0 {
            self.core.version.release_check_due()
        } else {
            self.owed
        };
        if owed & !state::PUBLISHED != 0 {
            self.core.after_write(owed);
        }
    }
}

/// The lock-order checker's name for the `Shared<T>` of `core`.
#[inline]
pub(super) fn lock_ref<T: ?Sized>(core: &Core) -> LockRef {
    LockRef::shared::<T>(core.id)
}

impl<'a, T: ?Sized> ReadGuard<'a, T> {
    /// The guard of a read taken `how` (a plain read, or the read inside a wait) at `at`.
    #[inline]
    pub(super) fn new(
        core: &'a Core,
        inner: RwLockReadGuard<'a, T>,
        how: How,
        at: &'static Location<'static>,
    ) -> Self {
        ReadGuard {
            inner,
            _mark: ReadMark::new(core.id),
            _order: lock_order::hold(lock_ref::<T>(core), how, at),
            _not_send: NotSend::default(),
        }
    }
}

impl<'a, T: ?Sized> ModifyGuard<'a, T> {
    #[inline]
    pub(super) fn new(
        core: &'a Core,
        inner: RwLockUpgradableReadGuard<'a, T>,
        at: &'static Location<'static>,
    ) -> Self {
        let order = lock_order::hold(lock_ref::<T>(core), How::Modify, at);
        ModifyGuard {
            exclusive: Exclusive::claim(core, Held::Modify, order),
            inner,
        }
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
    #[inline]
    #[track_caller]
    pub fn upgrade(s: Self) -> WriteGuard<'a, T> {
        // The upgrade waits for the other readers: an order like any blocking acquisition.
        lock_order::before_acquire(
            lock_ref::<T>(s.exclusive.core),
            How::Upgrade,
            Location::caller(),
        );
        match Self::try_upgrade(s) {
            Ok(write) => write,
            Err(s) => s.upgrade_slow(),
        }
    }

    #[cold]
    #[track_caller]
    fn upgrade_slow(self) -> WriteGuard<'a, T> {
        let ModifyGuard { exclusive, inner } = self;
        if exclusive.core.reads_held_by_current_thread() {
            // Give the modify lock back (owner first, then the lock) before unwinding.
            drop(exclusive);
            drop(inner);
            would_deadlock("ModifyGuard::upgrade()", "ReadGuard");
        }
        let write = RwLockUpgradableReadGuard::upgrade(inner);
        WriteGuard::upgraded(exclusive, write, Location::caller())
    }

    /// Tries to upgrade without blocking.
    ///
    /// # Errors
    ///
    /// Gives the guard back if readers hold the lock.
    #[inline]
    #[track_caller]
    pub fn try_upgrade(s: Self) -> Result<WriteGuard<'a, T>, Self> {
        let ModifyGuard { exclusive, inner } = s;
        match RwLockUpgradableReadGuard::try_upgrade(inner) {
            Ok(write) => Ok(WriteGuard::upgraded(exclusive, write, Location::caller())),
            Err(inner) => Err(ModifyGuard { exclusive, inner }),
        }
    }

    /// Tries to upgrade, waiting at most `timeout` for readers to leave. Under `cfg(loom)`
    /// this is [`upgrade`](Self::upgrade) (loom has no clock).
    ///
    /// # Errors
    ///
    /// Gives the guard back if readers still hold the lock after `timeout`, or at once if
    /// this thread holds one of them (debug builds).
    #[track_caller]
    pub fn try_upgrade_for(s: Self, timeout: Duration) -> Result<WriteGuard<'a, T>, Self> {
        let at = Location::caller();
        // A timeout hides a deadlock, it does not prevent one: the order counts.
        lock_order::before_acquire(lock_ref::<T>(s.exclusive.core), How::Upgrade, at);
        if s.exclusive.core.reads_held_by_current_thread() {
            return Err(s);
        }
        let ModifyGuard { exclusive, inner } = s;
        let upgraded = match Deadline::after(timeout).instant() {
            Some(at) => RwLockUpgradableReadGuard::try_upgrade_until(inner, at),
            None => Ok(RwLockUpgradableReadGuard::upgrade(inner)),
        };
        match upgraded {
            Ok(write) => Ok(WriteGuard::upgraded(exclusive, write, at)),
            Err(inner) => Err(ModifyGuard { exclusive, inner }),
        }
    }

    /// Gives up the right to upgrade, keeping read access; modifiers and writers may proceed.
    ///
    /// ```
    /// use pushpull::{ModifyGuard, Shared};
    ///
    /// let s = Shared::new(1);
    /// let r = ModifyGuard::downgrade(s.modify());
    /// assert!(s.try_modify().is_some()); // the modify slot is free again
    /// assert_eq!(*r, 1);
    /// ```
    #[track_caller]
    pub fn downgrade(s: Self) -> ReadGuard<'a, T> {
        let ModifyGuard { exclusive, inner } = s;
        let core = exclusive.core;
        drop(exclusive);
        let read = RwLockUpgradableReadGuard::downgrade(inner);
        ReadGuard::new(core, read, How::Read, Location::caller())
    }
}

impl<'a, T: ?Sized> WriteGuard<'a, T> {
    #[inline]
    pub(super) fn new(
        core: &'a Core,
        inner: RwLockWriteGuard<'a, T>,
        at: &'static Location<'static>,
    ) -> Self {
        let order = lock_order::hold(lock_ref::<T>(core), How::Write, at);
        WriteGuard {
            exclusive: Exclusive::claim(core, Held::Write, order),
            inner,
            wake: Wake { core, owed: 0 },
        }
    }

    /// The write guard an upgrade produces: the same exclusive bookkeeping, now as writer.
    #[inline]
    fn upgraded(
        exclusive: Exclusive<'a>,
        inner: RwLockWriteGuard<'a, T>,
        at: &'static Location<'static>,
    ) -> Self {
        let core = exclusive.core;
        // The modify claim becomes a write claim (always recorded on this path: it costs the
        // upgrade, not the plain `write()`).
        core.owner.claim(Held::Write);
        exclusive.order.change(How::Upgrade, at);
        WriteGuard {
            exclusive,
            inner,
            wake: Wake { core, owed: 0 },
        }
    }

    /// Runs `f` on the value without publishing (the caller decides): the body of `update`,
    /// `push*`. A panic out of `f` poisons; `f` returning disarms again, so this path needs
    /// no `thread::panicking` check.
    #[inline]
    pub(super) fn apply<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        let armed = self.exclusive.flags & POISON_ON_UNWIND;
        self.exclusive.flags |= POISON_ON_UNWIND;
        let result = f(&mut self.inner);
        self.exclusive.flags = self.exclusive.flags & !POISON_ON_UNWIND | armed;
        result
    }

    /// `apply` on a guard that has not published (`push_if`): should `f` panic, the
    /// poisoning publish (`Exclusive::poison`) finds the waiters, and this guard's `Wake`
    /// wakes them after the unlock.
    pub(super) fn apply_unpublished<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        let owed = self.wake.owed;
        self.wake.owed |= OWES_WAKE;
        let result = self.apply(f);
        self.wake.owed = owed;
        result
    }

    /// The one publish path: bump the version under the write lock (once per guard) and
    /// remember what is owed after the lock is released.
    #[inline]
    pub(super) fn publish(&mut self) {
        if self.exclusive.flags & PUBLISHED == 0 {
            self.exclusive.flags |= PUBLISHED;
            self.wake.owed = self.exclusive.core.version.publish();
        }
    }

    /// The version this guard's publish produced (or the current one if it did not publish).
    pub(super) fn version(&self) -> crate::Version {
        self.exclusive.core.version.version()
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
    #[track_caller]
    pub fn downgrade(s: Self) -> ReadGuard<'a, T> {
        let WriteGuard {
            exclusive,
            inner,
            wake,
        } = s;
        let core = exclusive.core;
        drop(exclusive);
        let read = RwLockWriteGuard::downgrade(inner);
        drop(wake);
        ReadGuard::new(core, read, How::Read, Location::caller())
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
        &self.inner
    }
}

impl<T: ?Sized> Deref for WriteGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for WriteGuard<'_, T> {
    /// Mutable access publishes (once per guard): see the type's documentation.
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        if self.exclusive.flags & PUBLISHED == 0 {
            self.publish();
            // From the first mutable access on, unwinding poisons (unless the guard is used
            // while the thread is unwinding already, as std's poison guard does).
            if !thread_panicking() {
                self.exclusive.flags |= POISON_ON_UNWIND;
            }
        }
        &mut self.inner
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
