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
use super::state::{Entry, Owed, OWES_HOLD_END, OWES_WAKE};
use super::Core;
use crate::deadline::Deadline;
use crate::lock_order::{self, HeldMark, How, LockRef};
use crate::profile::{self, Access};
use crate::sync::{
    thread_panicking, Duration, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use crate::thread_bound::NotSend;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

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
    /// For `version()`.
    core: &'a Core,
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
/// The contention profile times this modify guard's hold (it had to wait, and was sampled):
/// the drop tells the profile. Set only on the slow path. 0 where the profile is compiled out,
/// so that every test of it folds away. A write guard never carries it: its timed hold is owed
/// after the unlock (`OWES_HOLD_END`, the same bit, which `WriteGuard::upgraded` moves there),
/// so that the test a write guard's release makes for poisoning stays the only one.
const PROFILED: u8 = OWES_HOLD_END;

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
        if self.flags & (POISON_ON_UNWIND | PROFILED) != 0 {
            // Out of line, one call for both: with the `thread::panicking()` check (or the
            // profile's end of a timed hold) inline, the guard's drop glue grows past what
            // LLVM inlines, and every `write()` pays a call, a stack copy of the guard and its
            // reloads instead (see BENCHMARKS.md, "Instruction counts"; tried again after the
            // release protocol: 48 → 61 instructions for `write()`).
            release_slow(self.core, self.flags);
        }
    }
}

/// `thread::panicking()`, for the guards' fast paths: inline (a relaxed load of std's global
/// panic count first, as std's own poison guard does), and `extern "C"`, so that the call it
/// makes when some thread is panicking (it reads a thread-local counter and cannot unwind)
/// gives the caller no unwinding edge: a guard that lives in registers then needs no stack
/// copy for a cleanup path.
#[inline]
extern "C" fn panicking_nounwind() -> bool {
    thread_panicking()
}

/// What releasing an exclusive guard may have to do besides unlocking, out of line: poison if
/// this thread is unwinding (`POISON_ON_UNWIND`), and end the contention profile's timed hold
/// (`PROFILED`). `extern "C"`: no unwinding edge at the call site (see `panicking_nounwind`);
/// nothing unwinds out of it (below).
#[inline(never)]
#[allow(clippy::bad_bit_mask)] // `PROFILED` is 0 where the profile does not record
extern "C" fn release_slow(core: &Core, flags: u8) {
    if flags & POISON_ON_UNWIND != 0 {
        if thread_panicking() {
            // `poison` runs no user code (the wake it owes happens after the unlock, in the
            // guard's `Wake`) and does not panic; should it ever, that would be a second panic
            // while unwinding: the bomb makes the abort explicit, so no unwinding ever leaves
            // this `extern "C"` function (undefined before Rust 1.81).
            let bomb = AbortOnUnwind;
            poison(core, flags & PUBLISHED != 0);
            std::mem::forget(bomb);
        }
    } else if profile::RECORDS && flags & PROFILED != 0 {
        // Only a modify guard gets here (a write guard's timed hold is owed after its
        // unlock, see `PROFILED`; a modify guard never poisons), so a write guard's release
        // makes no test for the profile. `RECORDS` first: where the profile is compiled out,
        // no code at all. A failure inside the profiler is swallowed: never a panic out of a
        // guard's drop.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            core.profile.hold_ended();
        }));
    }
}

/// Aborts the process if dropped, i.e. if a panic unwinds past it.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        std::process::abort();
    }
}

/// A panic interrupted a change: readers must be able to tell, and waiters must not sleep
/// through it, so the half-done state is published with the poison flag. `published`: the
/// guard already published (once per guard).
#[cold]
#[inline(never)]
fn poison(core: &Core, published: bool) {
    core.version.poison();
    if !published {
        // Only here (a panicking `push_if` closure, before it could publish) is a publish
        // made by this field. It cannot reach the guard's `Wake`, so `push_if` armed that to
        // wake the waiters after the unlock (`WriteGuard::apply_unpublished`): waiters are
        // woken after the lock is released, as every publish promises.
        core.version.publish();
    }
}

/// What the write guard owes after the lock is released (`Core::after_write`): nothing, the
/// common case, unless its publish found parked pullers or futures use this `Shared`.
struct Wake<'a> {
    core: &'a Core,
    /// What the word said when the lock was taken (the release check, if futures use this
    /// `Shared`), and what the publish found, if the guard published.
    owed: Owed,
}

impl Drop for Wake<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.owed != 0 {
            self.core.after_write(self.owed);
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
        core.profile.holding(at);
        Self::unrecorded(core, inner, how, at)
    }

    /// `new` without the profile's record of the holder's site: for a pull, which records it
    /// out of line when it finds its `Shared` armed (`PullerOf::pull_changed`).
    #[inline]
    pub(crate) fn unrecorded(
        core: &'a Core,
        inner: RwLockReadGuard<'a, T>,
        how: How,
        at: &'static Location<'static>,
    ) -> Self {
        ReadGuard {
            inner,
            core,
            _mark: ReadMark::new(core.id),
            _order: lock_order::hold(lock_ref::<T>(core), how, at),
            _not_send: NotSend::default(),
        }
    }
}

impl<T: ?Sized> ReadGuard<'_, T> {
    /// The version of the value this guard shows: no publish can happen while a read lock is
    /// held, so it is the version *of this value*, which a lock-free
    /// [`Shared::version`](crate::Shared::version) read before or after the guard need not be.
    /// The version to give [`Shared::push_at`](crate::Shared::push_at) for a change computed
    /// from this value, and the version a [`Puller::wait`](crate::PullerOf::wait) woke for.
    ///
    /// ```
    /// use pushpull::Shared;
    ///
    /// let s = Shared::new(10);
    /// let (value, seen) = {
    ///     let guard = s.read();
    ///     (*guard, guard.version()) // the pair, taken under one lock
    /// };
    /// assert!(s.push_at(seen, |v| *v = value + 1).is_ok());
    /// ```
    #[inline]
    #[must_use]
    pub fn version(&self) -> crate::Version {
        self.core.version.version()
    }
}

impl<'a, T: ?Sized> ModifyGuard<'a, T> {
    /// The version of the value this guard shows: stable while it is held (a modify guard
    /// keeps every writer out). See [`ReadGuard::version`].
    ///
    /// ```
    /// let s = pushpull::Shared::new(1);
    /// s.push(|n| *n += 1);
    /// assert_eq!(s.modify().version().get(), 1);
    /// ```
    #[inline]
    #[must_use]
    pub fn version(&self) -> crate::Version {
        self.exclusive.core.version.version()
    }

    #[inline]
    pub(super) fn new(
        core: &'a Core,
        inner: RwLockUpgradableReadGuard<'a, T>,
        at: &'static Location<'static>,
    ) -> Self {
        core.profile.holding(at);
        let order = lock_order::hold(lock_ref::<T>(core), How::Modify, at);
        ModifyGuard {
            exclusive: Exclusive::claim(core, Held::Modify, order),
            inner,
        }
    }

    /// The guard of an acquisition that had to wait: the profile records the `wait`, and
    /// times the hold if it sampled it.
    #[inline]
    pub(super) fn waited(self, wait: profile::Wait<'_>) -> Self {
        self.timed(wait.acquired())
    }

    /// Times the hold if the acquisition's sampled wait asks for it (see `profile::Timed`).
    #[inline]
    pub(super) fn timed(mut self, timed: profile::Timed) -> Self {
        if timed.is_timed() {
            self.exclusive.flags |= PROFILED;
        }
        self
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
    /// upgrade would wait for it forever); in every build, if the `Shared` is
    /// [closed](crate::Shared::close) (it takes no more writes).
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
        // One test for both of what the word may say besides the version (the modify lock
        // keeps `close` out: the flags cannot change while we look): closed, or armed for the
        // profile. Both are handled out of line.
        let entry = s.exclusive.core.version.on_entry();
        if entry.flagged() {
            return s.upgrade_flagged(entry);
        }
        match Self::try_upgrade_open(s) {
            Ok(write) => write,
            Err(s) => s.upgrade_slow(),
        }
    }

    /// `upgrade` of a `Shared` that is closed (refused) or armed for the contention profile:
    /// the upgrade, then its site recorded as the holder's (after the upgrade: a wait for the
    /// readers is charged to them, not to this site).
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn upgrade_flagged(self, entry: Entry) -> WriteGuard<'a, T> {
        if entry.closed() {
            self.refuse_closed();
        }
        let core = self.exclusive.core;
        let write = match Self::try_upgrade_open(self) {
            Ok(write) => write,
            Err(s) => s.upgrade_slow(),
        };
        core.profile.holding_armed(Location::caller());
        write
    }

    /// An upgrade of a closed `Shared` (a closed value takes no more writes): gives the modify
    /// lock back, then panics naming the call.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn refuse_closed(self) -> ! {
        drop(self);
        super::state::written_after_close("ModifyGuard::upgrade()")
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
        let wait = exclusive.core.contended(Access::Upgrade);
        let write = RwLockUpgradableReadGuard::upgrade(inner);
        WriteGuard::upgraded(exclusive, write, Location::caller()).waited(wait)
    }

    /// Tries to upgrade without blocking.
    ///
    /// # Errors
    ///
    /// Gives the guard back if readers hold the lock, or if the `Shared` is
    /// [closed](crate::Shared::close) (it takes no more writes).
    #[inline]
    #[track_caller]
    pub fn try_upgrade(s: Self) -> Result<WriteGuard<'a, T>, Self> {
        // The modify lock keeps `close` out: the flag cannot change while we look. One test
        // for closed and armed, as in `upgrade`.
        let entry = s.exclusive.core.version.on_entry();
        if entry.flagged() {
            if entry.closed() {
                return Err(s);
            }
            let core = s.exclusive.core;
            let upgraded = Self::try_upgrade_open(s);
            if upgraded.is_ok() {
                core.profile.holding_armed(Location::caller());
            }
            return upgraded;
        }
        Self::try_upgrade_open(s)
    }

    /// `try_upgrade` of a `Shared` known not to be closed.
    #[inline]
    #[track_caller]
    fn try_upgrade_open(s: Self) -> Result<WriteGuard<'a, T>, Self> {
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
    /// Gives the guard back if readers still hold the lock after `timeout`, at once if this
    /// thread holds one of them (debug builds), or at once if the `Shared` is closed.
    #[track_caller]
    pub fn try_upgrade_for(s: Self, timeout: Duration) -> Result<WriteGuard<'a, T>, Self> {
        let at = Location::caller();
        // A timeout hides a deadlock, it does not prevent one: the order counts.
        lock_order::before_acquire(lock_ref::<T>(s.exclusive.core), How::Upgrade, at);
        // The modify lock keeps `close` out: the flags cannot change while we look.
        let entry = s.exclusive.core.version.on_entry();
        if s.exclusive.core.reads_held_by_current_thread() || entry.closed() {
            return Err(s);
        }
        let ModifyGuard { exclusive, inner } = s;
        let core = exclusive.core;
        // Once upgraded (a wait for the readers is charged to them, not to this site).
        let holding = || {
            if entry.armed() {
                core.profile.holding_armed(at);
            }
        };
        // Where the profile records, an upgrade that need not wait is no contention: try it
        // first (elsewhere, and under loom, the timed call below is the whole path, as before).
        let inner = if profile::RECORDS {
            match RwLockUpgradableReadGuard::try_upgrade(inner) {
                Ok(write) => {
                    holding();
                    return Ok(WriteGuard::upgraded(exclusive, write, at));
                }
                Err(inner) => inner,
            }
        } else {
            inner
        };
        let wait = exclusive.core.contended(Access::Upgrade);
        let upgraded = match Deadline::after(timeout).instant() {
            Some(at) => RwLockUpgradableReadGuard::try_upgrade_until(inner, at),
            None => Ok(RwLockUpgradableReadGuard::upgrade(inner)),
        };
        match upgraded {
            Ok(write) => {
                holding();
                Ok(WriteGuard::upgraded(exclusive, write, at).waited(wait))
            }
            Err(inner) => {
                wait.gave_up();
                Err(ModifyGuard { exclusive, inner })
            }
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
        entry: Entry,
        at: &'static Location<'static>,
    ) -> Self {
        // The profile's holder site: recorded by the caller if `entry` is armed (tested with
        // the closed check: see `Shared::write_as`).
        let order = lock_order::hold(lock_ref::<T>(core), How::Write, at);
        WriteGuard {
            exclusive: Exclusive::claim(core, Held::Write, order),
            inner,
            wake: Wake {
                core,
                owed: entry.owed(),
            },
        }
    }

    /// The guard of an upgrade that had to wait: the profile records the `wait`, and times
    /// the hold if it sampled it: the guard then owes the end of the hold after its unlock
    /// (`OWES_HOLD_END`, with what else it owes: no test of its own at the drop).
    #[inline]
    pub(super) fn waited(mut self, wait: profile::Wait<'_>) -> Self {
        if wait.acquired().is_timed() {
            self.wake.owed |= OWES_HOLD_END;
        }
        self
    }

    /// The write guard an upgrade produces: the same exclusive bookkeeping, now as writer.
    #[inline]
    fn upgraded(
        mut exclusive: Exclusive<'a>,
        inner: RwLockWriteGuard<'a, T>,
        at: &'static Location<'static>,
    ) -> Self {
        let core = exclusive.core;
        // The profile's holder site: recorded by the caller if armed (tested with the closed
        // check: see `ModifyGuard::upgrade`).
        // The modify claim becomes a write claim (always recorded on this path: it costs the
        // upgrade, not the plain `write()`).
        core.owner.promote();
        exclusive.order.change(How::Upgrade, at);
        // Read now that the upgrade is done: until then readers could come and go, and a
        // future among them could set `ASYNC`. A hold the profile times since the modify goes
        // on, owed after the unlock as a write guard's is (see `PROFILED`: the same bit; 0
        // where the profile is compiled out).
        let owed = core.version.on_entry().owed() | (exclusive.flags & PROFILED);
        exclusive.flags &= !PROFILED;
        WriteGuard {
            exclusive,
            inner,
            wake: Wake { core, owed },
        }
    }

    /// Runs `f` on the value without publishing (the caller decides): the body of `push`,
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
            self.wake.owed |= self.exclusive.core.version.publish();
        }
    }

    /// The version of the value this guard holds: the one its publish produced, once it
    /// published (its first mutable access, or the push that uses it); the current one
    /// before. Stable otherwise: only this guard can publish while it is held.
    ///
    /// ```
    /// let s = pushpull::Shared::new(vec![1]);
    /// let mut w = s.write();
    /// assert_eq!(w.version().get(), 0);
    /// w.push(2); // the first mutable access publishes
    /// assert_eq!(w.version().get(), 1);
    /// ```
    #[inline]
    #[must_use]
    pub fn version(&self) -> crate::Version {
        self.exclusive.core.version.version()
    }

    /// Closes the `Shared` (see [`Shared::close`](crate::Shared::close)), waking parked
    /// waiters once the lock is released, as a publish does. `true` if this call closed it.
    pub(crate) fn close(&mut self) -> bool {
        let (closed_now, owed) = self.exclusive.core.version.close();
        self.wake.owed |= owed;
        closed_now
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
            if !panicking_nounwind() {
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
