//! The synchronization facade: the only module that names parking_lot / std or loom.
//!
//! Every other module of pushpull imports its locks, atomics, threads and spin policy from here.
//! Under `cfg(not(loom))` these are the production primitives (parking_lot locks, std atomics); under `cfg(loom)` they are loom's, or small models built from
//! loom's primitives where loom has no twin (the upgradable `RwLock`).
//!
//! The loom side is kept deliberately lean: every loom operation inside a primitive multiplies
//! the interleavings a model has to explore. Timed waits have no meaning under loom (it has no
//! clock), so every `*_for` call there behaves as its untimed twin: a lost wake-up shows up as
//! a loom deadlock instead of being hidden by a timeout.

pub(crate) use std::time::{Duration, Instant};

/// Atomics whose every access is part of a protocol that loom must explore.
pub(crate) mod atomic {
    #[cfg(loom)]
    pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize};
    pub(crate) use std::sync::atomic::Ordering;
    #[cfg(not(loom))]
    pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize};
}

/// Atomics that only ever carry bookkeeping which no other thread reasons about (the
/// re-entrancy owner word, the thread-token allocator, the spin history of a wait point).
/// They stay std atomics under loom: loom does not need to explore them, and tracking them
/// would only grow every model.
pub(crate) mod untracked {
    pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize};
}

/// A reference-counted handle. Always std's `Arc`, also under loom: the handle's reference
/// count is not part of any protocol pushpull checks, and a loom `Arc` inside every
/// `WaitGroup` token multiplies the states a model explores (see loom-pitfalls in the notes).
pub(crate) use std::sync::Arc;

pub(crate) use imp::{
    current_thread_token, repoll_hint, spawn, spin_loop, thread_panicking, with_read_registry,
    yield_now, Condvar, JoinHandle, Mutex, MutexGuard, RwLock, RwLockReadGuard,
    RwLockUpgradableReadGuard, RwLockWriteGuard, SPIN_BEFORE_PARKING,
};

/// Whether timed calls have a clock to stop by. Not under loom, which has none: there a timed
/// call blocks like its untimed twin (see `crate::deadline`).
pub(crate) const HAS_CLOCK: bool = cfg!(not(loom));

/// The source of object ids (`Shared`s, `WaitGroup`s): never reused, so a record keyed by an
/// id can never be mistaken for a later object's, even one at the same address.
static NEXT_ID: untracked::AtomicU64 = untracked::AtomicU64::new(1);

/// A non-zero number naming one object for the life of the process.
#[inline]
pub(crate) fn next_object_id() -> u64 {
    // Relaxed: the allocator only needs uniqueness, which the RMW gives by itself.
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Whether lock acquisition tries the non-blocking path first. In production the `try_*` call
/// *is* the fast path, and the re-entrancy checks run only when it fails. Under loom the
/// blocking call is made directly (after the checks): one loom operation instead of two keeps
/// models small.
pub(crate) const TRY_BEFORE_BLOCKING: bool = cfg!(not(loom));

/// Reports whether this thread is unwinding. Shared by both sides.
#[inline]
fn panicking() -> bool {
    std::thread::panicking()
}

#[cfg(not(loom))]
mod imp {
    use super::Instant;
    use std::cell::{Cell, RefCell};
    use std::sync::atomic::Ordering;

    pub(crate) use parking_lot::{
        RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
    };
    pub(crate) use std::thread::{spawn, JoinHandle};

    /// Waits spin briefly before they park (see `crate::park`).
    pub(crate) const SPIN_BEFORE_PARKING: bool = true;
    pub(crate) use std::hint::spin_loop;
    pub(crate) use std::thread::yield_now;

    #[inline]
    pub(crate) fn thread_panicking() -> bool {
        super::panicking()
    }

    /// Called by a future that woke its own task to be polled again (another thread's writer
    /// keeps it from registering). Nothing in production: the trip through the executor is
    /// the yield.
    #[inline]
    pub(crate) fn repoll_hint() {}

    /// The source of thread tokens. Tokens are never reused, so a stale owner word can never
    /// name the thread that reads it.
    static NEXT_TOKEN: super::untracked::AtomicU64 = super::untracked::AtomicU64::new(1);

    std::thread_local! {
        static TOKEN: Cell<u64> = const { Cell::new(0) };
        static READ_REGISTRY: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    }

    /// A non-zero number naming the current thread, unique for the life of the process.
    #[inline]
    pub(crate) fn current_thread_token() -> u64 {
        TOKEN.with(|t| {
            let token = t.get();
            if token != 0 {
                token
            } else {
                // Relaxed: the allocator only needs uniqueness, which the RMW gives by itself.
                let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
                t.set(token);
                token
            }
        })
    }

    /// Runs `f` on this thread's list of the ids of the `Shared`s it holds read guards of
    /// (debug builds only use it).
    pub(crate) fn with_read_registry<R>(f: impl FnOnce(&mut Vec<u64>) -> R) -> Option<R> {
        READ_REGISTRY.try_with(|r| f(&mut r.borrow_mut())).ok()
    }

    /// The mutex of the wait slow path (`crate::park`'s `Event`): parking_lot's, poison-free.
    #[derive(Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        #[inline]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }

    /// The condition variable of the wait slow path. Guards go in and come back by value, the
    /// shape loom's `Condvar` needs, so `crate::park` has one body for both sides.
    #[derive(Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(&mut guard);
            guard
        }

        /// Waits until notified or until `deadline`; `true` in the second element if the
        /// deadline passed.
        pub(crate) fn wait_until<'a, T>(
            &self,
            mut guard: MutexGuard<'a, T>,
            deadline: Instant,
        ) -> (MutexGuard<'a, T>, bool) {
            let timed_out = self.0.wait_until(&mut guard, deadline).timed_out();
            (guard, timed_out)
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(loom)]
mod imp {
    //! The loom side. Timed calls are their untimed twins; the spin phase is compiled out.
    use super::Instant;
    use std::cell::{Cell, RefCell};
    use std::sync::atomic::Ordering;

    pub(crate) use loom::thread::{spawn, JoinHandle};
    pub(crate) use rwlock::{RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};

    #[inline]
    pub(crate) fn thread_panicking() -> bool {
        super::panicking()
    }

    /// A future that woke its own task re-polls at once under `loom::future::block_on`: a spin
    /// loop, which must yield to loom or the model exceeds its branch limit (loom-pitfalls).
    pub(crate) fn repoll_hint() {
        loom::thread::yield_now();
    }

    static NEXT_TOKEN: super::untracked::AtomicU64 = super::untracked::AtomicU64::new(1);

    // loom runs every model thread on one OS thread, so identity must come from loom's
    // thread-locals, which are per model thread.
    loom::thread_local! {
        static TOKEN: Cell<u64> = Cell::new(0);
        static READ_REGISTRY: RefCell<Vec<u64>> = RefCell::new(Vec::new());
    }

    pub(crate) fn current_thread_token() -> u64 {
        TOKEN.with(|t| {
            if t.get() == 0 {
                // Relaxed: uniqueness only (and loom does not see this std atomic).
                t.set(NEXT_TOKEN.fetch_add(1, Ordering::Relaxed));
            }
            t.get()
        })
    }

    pub(crate) fn with_read_registry<R>(f: impl FnOnce(&mut Vec<u64>) -> R) -> Option<R> {
        READ_REGISTRY.try_with(|r| f(&mut r.borrow_mut())).ok()
    }

    /// Under loom there is no spinning: a waiter goes straight to the blocking path, which is
    /// the part whose wake-up protocol the models must prove. (`spin_loop` only keeps the spin
    /// code compiling; it is unreachable.)
    pub(crate) const SPIN_BEFORE_PARKING: bool = false;
    pub(crate) use loom::thread::yield_now;
    pub(crate) use std::hint::spin_loop;

    /// The loom twin of the production `Mutex`: loom's, with poisoning ignored (pushpull never
    /// leaves the data it guards half-changed).
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex(loom::sync::Mutex::new(T::default()))
        }
    }

    impl<T> Mutex<T> {
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// The loom twin of the production `Condvar`: untimed, so a missed wake-up is a loom
    /// deadlock instead of a timeout.
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Default for Condvar {
        fn default() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
    }

    impl Condvar {
        pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(guard).unwrap_or_else(|e| e.into_inner())
        }

        /// Never times out under loom (no clock): waits like `wait`.
        pub(crate) fn wait_until<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            _deadline: Instant,
        ) -> (MutexGuard<'a, T>, bool) {
            (self.wait(guard), false)
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    mod rwlock {
        //! A model of parking_lot's upgradable `RwLock` for loom.
        //!
        //! Admission is decided by a loom `Mutex<State>` + `Condvar` (the part loom explores);
        //! the value sits in a std `RwLock` that admission keeps uncontended, so it only hands
        //! out safe references and never blocks. Unlike loom's own `RwLock`, this counts
        //! readers, so one thread may hold several read guards at once (two `ReadGuard`s, or a
        //! read under its own modify guard), as parking_lot allows.
        //!
        //! Semantics, as parking_lot's: any number of readers; at most one upgradable reader,
        //! which coexists with readers; a writer excludes everyone. An upgrade keeps the
        //! upgradable slot while it waits for readers to leave, so no writer gets in between;
        //! downgrades turn the slot into a read in one step. Readers are never held back by a
        //! waiting writer (fairness is not modelled); timed calls are untimed.
        use super::super::Instant;
        use std::ops::{Deref, DerefMut};
        use std::sync::TryLockError;

        #[derive(Default)]
        struct State {
            readers: usize,
            upgradable: bool,
            writer: bool,
            /// Threads blocked on `changed`: releases notify only when someone waits.
            waiting: usize,
        }

        #[derive(Clone, Copy, PartialEq, Eq)]
        enum Kind {
            Read,
            Upgradable,
            Write,
        }

        impl State {
            fn admits(&self, kind: Kind) -> bool {
                match kind {
                    Kind::Read => !self.writer,
                    Kind::Upgradable => !self.writer && !self.upgradable,
                    Kind::Write => !self.writer && !self.upgradable && self.readers == 0,
                }
            }
            fn enter(&mut self, kind: Kind) {
                match kind {
                    Kind::Read => self.readers += 1,
                    Kind::Upgradable => self.upgradable = true,
                    Kind::Write => self.writer = true,
                }
            }
            fn leave(&mut self, kind: Kind) {
                match kind {
                    Kind::Read => self.readers -= 1,
                    Kind::Upgradable => self.upgradable = false,
                    Kind::Write => self.writer = false,
                }
            }
        }

        struct Admission {
            state: loom::sync::Mutex<State>,
            changed: loom::sync::Condvar,
        }

        impl Admission {
            fn new() -> Self {
                Admission {
                    state: loom::sync::Mutex::new(State::default()),
                    changed: loom::sync::Condvar::new(),
                }
            }

            fn lock(&self) -> loom::sync::MutexGuard<'_, State> {
                self.state.lock().unwrap_or_else(|e| e.into_inner())
            }

            /// Waits (if `block`) until `ready(state)`, then applies `then`; `false` if not
            /// ready and not blocking.
            fn when(
                &self,
                block: bool,
                ready: impl Fn(&State) -> bool,
                then: impl FnOnce(&mut State),
            ) -> bool {
                let mut state = self.lock();
                while !ready(&state) {
                    if !block {
                        return false;
                    }
                    state.waiting += 1;
                    state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                    state.waiting -= 1;
                }
                then(&mut state);
                true
            }

            fn enter(&self, kind: Kind, block: bool) -> bool {
                self.when(block, |s| s.admits(kind), |s| s.enter(kind))
            }

            /// Applies a change that can only make room, and wakes waiters if any.
            fn release(&self, change: impl FnOnce(&mut State)) {
                let mut state = self.lock();
                change(&mut state);
                if state.waiting > 0 {
                    self.changed.notify_all();
                }
            }
        }

        /// Gives a slot back when dropped (after the value's std guard, declared before it).
        struct Slot<'a> {
            admission: &'a Admission,
            kind: Kind,
        }

        impl Drop for Slot<'_> {
            fn drop(&mut self) {
                let kind = self.kind;
                self.admission.release(|s| s.leave(kind));
            }
        }

        pub(crate) struct RwLock<T: ?Sized> {
            admission: Admission,
            data: std::sync::RwLock<T>,
        }

        // Field order matters: the std guard is released before the slot is given back.
        pub(crate) struct RwLockReadGuard<'a, T: ?Sized> {
            data: std::sync::RwLockReadGuard<'a, T>,
            _slot: Slot<'a>,
        }

        pub(crate) struct RwLockUpgradableReadGuard<'a, T: ?Sized> {
            lock: &'a RwLock<T>,
            data: std::sync::RwLockReadGuard<'a, T>,
            slot: Slot<'a>,
        }

        pub(crate) struct RwLockWriteGuard<'a, T: ?Sized> {
            lock: &'a RwLock<T>,
            data: std::sync::RwLockWriteGuard<'a, T>,
            slot: Slot<'a>,
        }

        const ADMITTED: &str = "pushpull loom RwLock model: admission granted, so the value's \
                                std lock must be free";

        fn admitted<G>(r: Result<G, TryLockError<G>>) -> G {
            match r {
                Ok(g) => g,
                Err(TryLockError::Poisoned(e)) => e.into_inner(),
                Err(TryLockError::WouldBlock) => panic!("{}", ADMITTED),
            }
        }

        impl<T> RwLock<T> {
            pub(crate) fn new(value: T) -> Self {
                RwLock {
                    admission: Admission::new(),
                    data: std::sync::RwLock::new(value),
                }
            }
            pub(crate) fn into_inner(self) -> T {
                self.data.into_inner().unwrap_or_else(|e| e.into_inner())
            }
        }

        impl<T: ?Sized> RwLock<T> {
            pub(crate) fn get_mut(&mut self) -> &mut T {
                self.data.get_mut().unwrap_or_else(|e| e.into_inner())
            }

            fn slot(&self, kind: Kind, block: bool) -> Option<Slot<'_>> {
                self.admission.enter(kind, block).then(|| Slot {
                    admission: &self.admission,
                    kind,
                })
            }

            fn read_with(&self, block: bool) -> Option<RwLockReadGuard<'_, T>> {
                let slot = self.slot(Kind::Read, block)?;
                Some(RwLockReadGuard {
                    data: admitted(self.data.try_read()),
                    _slot: slot,
                })
            }
            fn upgradable_with(&self, block: bool) -> Option<RwLockUpgradableReadGuard<'_, T>> {
                let slot = self.slot(Kind::Upgradable, block)?;
                Some(RwLockUpgradableReadGuard {
                    lock: self,
                    data: admitted(self.data.try_read()),
                    slot,
                })
            }
            fn write_with(&self, block: bool) -> Option<RwLockWriteGuard<'_, T>> {
                let slot = self.slot(Kind::Write, block)?;
                Some(RwLockWriteGuard {
                    lock: self,
                    data: admitted(self.data.try_write()),
                    slot,
                })
            }

            pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
                self.read_with(true).expect("blocking read")
            }
            /// Readers never wait for a waiting writer here, so this is `read`.
            pub(crate) fn read_recursive(&self) -> RwLockReadGuard<'_, T> {
                self.read()
            }
            pub(crate) fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
                self.read_with(false)
            }
            /// Readers never wait for a waiting writer here, so this is `try_read`.
            pub(crate) fn try_read_recursive(&self) -> Option<RwLockReadGuard<'_, T>> {
                self.try_read()
            }
            // The `*_until` calls: timed calls under loom have no instant to stop at (see
            // `crate::deadline`), so pushpull never makes them here; they exist to keep the
            // facade's surface the same, and block like their untimed twins.
            pub(crate) fn try_read_until(&self, _: Instant) -> Option<RwLockReadGuard<'_, T>> {
                Some(self.read())
            }
            pub(crate) fn try_read_recursive_until(
                &self,
                _: Instant,
            ) -> Option<RwLockReadGuard<'_, T>> {
                Some(self.read())
            }
            pub(crate) fn upgradable_read(&self) -> RwLockUpgradableReadGuard<'_, T> {
                self.upgradable_with(true)
                    .expect("blocking upgradable read")
            }
            pub(crate) fn try_upgradable_read(&self) -> Option<RwLockUpgradableReadGuard<'_, T>> {
                self.upgradable_with(false)
            }
            pub(crate) fn try_upgradable_read_until(
                &self,
                _: Instant,
            ) -> Option<RwLockUpgradableReadGuard<'_, T>> {
                Some(self.upgradable_read())
            }
            pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
                self.write_with(true).expect("blocking write")
            }
            pub(crate) fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
                self.write_with(false)
            }
            pub(crate) fn try_write_until(&self, _: Instant) -> Option<RwLockWriteGuard<'_, T>> {
                Some(self.write())
            }
        }

        impl<'a, T: ?Sized> RwLockUpgradableReadGuard<'a, T> {
            fn upgrade_with(s: Self, block: bool) -> Result<RwLockWriteGuard<'a, T>, Self> {
                let RwLockUpgradableReadGuard { lock, data, slot } = s;
                // Keep the upgradable slot (no writer can enter) until the readers are gone,
                // then turn it into the writer slot in the same step.
                let upgraded = lock.admission.when(
                    block,
                    |s| s.readers == 0,
                    |s| {
                        s.upgradable = false;
                        s.writer = true;
                    },
                );
                if !upgraded {
                    return Err(RwLockUpgradableReadGuard { lock, data, slot });
                }
                std::mem::forget(slot);
                drop(data);
                Ok(RwLockWriteGuard {
                    lock,
                    data: admitted(lock.data.try_write()),
                    slot: Slot {
                        admission: &lock.admission,
                        kind: Kind::Write,
                    },
                })
            }
            pub(crate) fn upgrade(s: Self) -> RwLockWriteGuard<'a, T> {
                match Self::upgrade_with(s, true) {
                    Ok(w) => w,
                    Err(_) => unreachable!("a blocking upgrade cannot fail"),
                }
            }
            pub(crate) fn try_upgrade(s: Self) -> Result<RwLockWriteGuard<'a, T>, Self> {
                Self::upgrade_with(s, false)
            }
            pub(crate) fn try_upgrade_until(
                s: Self,
                _: Instant,
            ) -> Result<RwLockWriteGuard<'a, T>, Self> {
                Ok(Self::upgrade(s))
            }
            /// Turns the upgradable slot into a read slot in one step.
            pub(crate) fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
                let RwLockUpgradableReadGuard { lock, data, slot } = s;
                std::mem::forget(slot);
                lock.admission.release(|s| {
                    s.upgradable = false;
                    s.readers += 1;
                });
                RwLockReadGuard {
                    data,
                    _slot: Slot {
                        admission: &lock.admission,
                        kind: Kind::Read,
                    },
                }
            }
        }

        impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
            /// Turns the writer slot into a read slot in one step: no writer gets in between.
            pub(crate) fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
                let RwLockWriteGuard { lock, data, slot } = s;
                drop(data);
                std::mem::forget(slot);
                lock.admission.release(|s| {
                    s.writer = false;
                    s.readers += 1;
                });
                RwLockReadGuard {
                    data: admitted(lock.data.try_read()),
                    _slot: Slot {
                        admission: &lock.admission,
                        kind: Kind::Read,
                    },
                }
            }
        }

        impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.data
            }
        }
        impl<T: ?Sized> Deref for RwLockUpgradableReadGuard<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.data
            }
        }
        impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.data
            }
        }
        impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.data
            }
        }
    }
}
