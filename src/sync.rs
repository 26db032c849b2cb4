//! The synchronization facade: the only module that names parking_lot / std or loom.
//!
//! Every other module of pushpull imports its locks, atomics, threads and spin policy from here.
//! Under `cfg(not(loom))` these are the production primitives (parking_lot locks, std atomics,
//! crossbeam-utils' `Backoff`); under `cfg(loom)` they are loom's, or small models built from
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
/// re-entrancy owner word, the thread-token allocator). They stay std atomics under loom: loom
/// does not need to explore them, and tracking them would only grow every model.
pub(crate) mod untracked {
    pub(crate) use std::sync::atomic::AtomicU64;
}

/// A reference-counted handle. Always std's `Arc`, also under loom: the handle's reference
/// count is not part of any protocol pushpull checks, and a loom `Arc` inside every
/// `WaitGroup` token multiplies the states a model explores (see loom-pitfalls in the notes).
pub(crate) use std::sync::Arc;

pub(crate) use imp::{
    current_thread_token, spawn, thread_panicking, with_read_registry, Backoff, Event, JoinHandle,
    RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};

/// Whether lock acquisition tries the non-blocking path first. In production the `try_*` call
/// *is* the fast path, and the re-entrancy checks run only when it fails. Under loom the
/// blocking call is made directly (after the checks): one loom operation instead of two keeps
/// models small.
pub(crate) const TRY_BEFORE_BLOCKING: bool = cfg!(not(loom));

/// Reports whether this thread is unwinding. Shared by both sides.
fn panicking() -> bool {
    std::thread::panicking()
}

#[cfg(not(loom))]
mod imp {
    use super::{Duration, Instant};
    use std::cell::{Cell, RefCell};
    use std::sync::atomic::Ordering;

    pub(crate) use parking_lot::{
        RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
    };
    pub(crate) use std::thread::{spawn, JoinHandle};

    /// Bounded spinning before a waiter parks (see `crate::park`).
    pub(crate) use crossbeam_utils::Backoff;

    pub(crate) fn thread_panicking() -> bool {
        super::panicking()
    }

    /// The source of thread tokens. Tokens are never reused, so a stale owner word can never
    /// name the thread that reads it.
    static NEXT_TOKEN: super::untracked::AtomicU64 = super::untracked::AtomicU64::new(1);

    std::thread_local! {
        static TOKEN: Cell<u64> = const { Cell::new(0) };
        static READ_REGISTRY: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
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

    /// Runs `f` on this thread's list of `Shared` addresses it holds read guards of (debug
    /// builds only use it).
    pub(crate) fn with_read_registry<R>(f: impl FnOnce(&mut Vec<usize>) -> R) -> Option<R> {
        READ_REGISTRY.try_with(|r| f(&mut r.borrow_mut())).ok()
    }

    /// A place for threads to sleep until another thread calls `notify_all`: the blocking half
    /// of spin-then-park. A parking_lot `Mutex<()>` + `Condvar`.
    #[derive(Default)]
    pub(crate) struct Event {
        lock: parking_lot::Mutex<()>,
        condvar: parking_lot::Condvar,
    }

    impl Event {
        /// Blocks while `pending()` is true, checking it under the event's mutex so that a
        /// `notify_all` issued after the condition changed cannot be missed. Returns `false`
        /// if the deadline passed first.
        pub(crate) fn wait_while(
            &self,
            mut pending: impl FnMut() -> bool,
            deadline: Option<Instant>,
        ) -> bool {
            let mut guard = self.lock.lock();
            while pending() {
                match deadline {
                    None => self.condvar.wait(&mut guard),
                    Some(deadline) => {
                        if self.condvar.wait_until(&mut guard, deadline).timed_out() {
                            return !pending();
                        }
                    }
                }
            }
            true
        }

        /// Wakes every thread blocked in `wait_while`. Taking the mutex orders this call after
        /// any waiter that checked its condition before the change and has not yet slept.
        pub(crate) fn notify_all(&self) {
            drop(self.lock.lock());
            self.condvar.notify_all();
        }
    }

    /// Turns a relative timeout into a deadline (saturating instead of overflowing).
    pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
        Instant::now().checked_add(timeout)
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

    pub(crate) fn thread_panicking() -> bool {
        super::panicking()
    }

    static NEXT_TOKEN: super::untracked::AtomicU64 = super::untracked::AtomicU64::new(1);

    // loom runs every model thread on one OS thread, so identity must come from loom's
    // thread-locals, which are per model thread.
    loom::thread_local! {
        static TOKEN: Cell<u64> = Cell::new(0);
        static READ_REGISTRY: RefCell<Vec<usize>> = RefCell::new(Vec::new());
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

    pub(crate) fn with_read_registry<R>(f: impl FnOnce(&mut Vec<usize>) -> R) -> Option<R> {
        READ_REGISTRY.try_with(|r| f(&mut r.borrow_mut())).ok()
    }

    /// Under loom there is no spinning: a waiter goes straight to the blocking path, which is
    /// the part whose wake-up protocol the models must prove.
    pub(crate) struct Backoff;

    impl Backoff {
        pub(crate) fn new() -> Self {
            Backoff
        }
        pub(crate) fn is_completed(&self) -> bool {
            true
        }
        pub(crate) fn snooze(&self) {
            loom::thread::yield_now();
        }
    }

    /// The loom twin of the production `Event`: loom `Mutex<()>` + `Condvar`, untimed.
    pub(crate) struct Event {
        lock: loom::sync::Mutex<()>,
        condvar: loom::sync::Condvar,
    }

    impl Default for Event {
        fn default() -> Self {
            Event {
                lock: loom::sync::Mutex::new(()),
                condvar: loom::sync::Condvar::new(),
            }
        }
    }

    impl Event {
        /// Untimed under loom: the deadline is ignored, so a missed wake-up is a loom deadlock.
        pub(crate) fn wait_while(
            &self,
            mut pending: impl FnMut() -> bool,
            _deadline: Option<Instant>,
        ) -> bool {
            let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            while pending() {
                guard = self.condvar.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
            true
        }

        pub(crate) fn notify_all(&self) {
            drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
            self.condvar.notify_all();
        }
    }

    pub(crate) fn deadline_after(_timeout: super::Duration) -> Option<Instant> {
        None
    }

    mod rwlock {
        //! A model of parking_lot's upgradable `RwLock` built from two loom primitives:
        //!
        //! * `data`, a loom `RwLock<T>`, gives readers shared access and the writer exclusive
        //!   access (and the safe references);
        //! * `gate`, a loom `Mutex<()>`, is held by the one modifier (upgradable reader) or the
        //!   one writer, so writers and modifiers exclude each other while readers never touch
        //!   it.
        //!
        //! Upgrade keeps the gate and trades its read of `data` for a write: between the two
        //! steps only readers can get in, never a writer, so the upgrade is atomic for every
        //! writer (no lost update). Downgrade keeps the gate until it holds the read. Timed
        //! calls are untimed.
        use std::ops::{Deref, DerefMut};

        type Gate<'a> = loom::sync::MutexGuard<'a, ()>;

        pub(crate) struct RwLock<T: ?Sized> {
            gate: loom::sync::Mutex<()>,
            data: loom::sync::RwLock<T>,
        }

        pub(crate) struct RwLockReadGuard<'a, T: ?Sized> {
            data: loom::sync::RwLockReadGuard<'a, T>,
        }

        pub(crate) struct RwLockUpgradableReadGuard<'a, T: ?Sized> {
            lock: &'a RwLock<T>,
            data: loom::sync::RwLockReadGuard<'a, T>,
            gate: Gate<'a>,
        }

        pub(crate) struct RwLockWriteGuard<'a, T: ?Sized> {
            lock: &'a RwLock<T>,
            data: loom::sync::RwLockWriteGuard<'a, T>,
            gate: Gate<'a>,
        }

        fn ok<G>(r: Result<G, std::sync::PoisonError<G>>) -> G {
            r.unwrap_or_else(|e| e.into_inner())
        }

        fn try_ok<G>(r: std::sync::TryLockResult<G>) -> Option<G> {
            match r {
                Ok(g) => Some(g),
                Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            }
        }

        impl<T> RwLock<T> {
            pub(crate) fn new(value: T) -> Self {
                RwLock {
                    gate: loom::sync::Mutex::new(()),
                    data: loom::sync::RwLock::new(value),
                }
            }
            pub(crate) fn into_inner(self) -> T {
                ok(self.data.into_inner())
            }
        }

        impl<T: ?Sized> RwLock<T> {
            pub(crate) fn get_mut(&mut self) -> &mut T {
                ok(self.data.get_mut())
            }
            pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
                RwLockReadGuard {
                    data: ok(self.data.read()),
                }
            }
            /// Readers never wait for the gate, so this is `read` here.
            pub(crate) fn read_recursive(&self) -> RwLockReadGuard<'_, T> {
                self.read()
            }
            pub(crate) fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
                Some(RwLockReadGuard {
                    data: try_ok(self.data.try_read())?,
                })
            }
            pub(crate) fn try_read_recursive(&self) -> Option<RwLockReadGuard<'_, T>> {
                self.try_read()
            }
            pub(crate) fn try_read_for(
                &self,
                _: super::super::Duration,
            ) -> Option<RwLockReadGuard<'_, T>> {
                Some(self.read())
            }
            pub(crate) fn upgradable_read(&self) -> RwLockUpgradableReadGuard<'_, T> {
                let gate = ok(self.gate.lock());
                RwLockUpgradableReadGuard {
                    lock: self,
                    data: ok(self.data.read()),
                    gate,
                }
            }
            pub(crate) fn try_upgradable_read(&self) -> Option<RwLockUpgradableReadGuard<'_, T>> {
                let gate = try_ok(self.gate.try_lock())?;
                Some(RwLockUpgradableReadGuard {
                    lock: self,
                    data: try_ok(self.data.try_read())?,
                    gate,
                })
            }
            pub(crate) fn try_upgradable_read_for(
                &self,
                _: super::super::Duration,
            ) -> Option<RwLockUpgradableReadGuard<'_, T>> {
                Some(self.upgradable_read())
            }
            pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
                let gate = ok(self.gate.lock());
                RwLockWriteGuard {
                    lock: self,
                    data: ok(self.data.write()),
                    gate,
                }
            }
            pub(crate) fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
                let gate = try_ok(self.gate.try_lock())?;
                Some(RwLockWriteGuard {
                    lock: self,
                    data: try_ok(self.data.try_write())?,
                    gate,
                })
            }
            pub(crate) fn try_write_for(
                &self,
                _: super::super::Duration,
            ) -> Option<RwLockWriteGuard<'_, T>> {
                Some(self.write())
            }
        }

        impl<'a, T: ?Sized> RwLockUpgradableReadGuard<'a, T> {
            /// Keeps the gate (no writer can get in), trades the read for the write.
            pub(crate) fn upgrade(s: Self) -> RwLockWriteGuard<'a, T> {
                let RwLockUpgradableReadGuard { lock, data, gate } = s;
                drop(data);
                RwLockWriteGuard {
                    lock,
                    data: ok(lock.data.write()),
                    gate,
                }
            }
            pub(crate) fn try_upgrade(s: Self) -> Result<RwLockWriteGuard<'a, T>, Self> {
                let RwLockUpgradableReadGuard { lock, data, gate } = s;
                drop(data);
                match try_ok(lock.data.try_write()) {
                    Some(data) => Ok(RwLockWriteGuard { lock, data, gate }),
                    // Readers only came in between: take the read back while keeping the gate.
                    None => Err(RwLockUpgradableReadGuard {
                        lock,
                        data: ok(lock.data.read()),
                        gate,
                    }),
                }
            }
            pub(crate) fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
                let RwLockUpgradableReadGuard { data, gate, .. } = s;
                drop(gate);
                RwLockReadGuard { data }
            }
            pub(crate) fn try_upgrade_for(
                s: Self,
                _: super::super::Duration,
            ) -> Result<RwLockWriteGuard<'a, T>, Self> {
                Ok(Self::upgrade(s))
            }
        }

        impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
            /// Keeps the gate until the read is held, so no writer gets in between.
            pub(crate) fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
                let RwLockWriteGuard { lock, data, gate } = s;
                drop(data);
                let data = ok(lock.data.read());
                drop(gate);
                RwLockReadGuard { data }
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

pub(crate) use imp::deadline_after;
