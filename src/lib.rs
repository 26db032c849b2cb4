//! Share and synchronize state between threads: the push-pull pattern, done right.
//!
//! In Go, the pattern is a struct behind a `sync.Mutex`, workers that change it, and a
//! `sync.WaitGroup` the master waits on. A widely copied version of it is wrong twice: a
//! worker locks the mutex, reads, and locks it again (a self-deadlock), and the usual repair,
//! read, unlock, lock, write, loses updates. pushpull makes the correct version the easy one:
//!
//! * [`Shared<T>`]: a value with [`read`](Shared::read), [`modify`](Shared::modify)
//!   (upgradable, see [`ModifyGuard::upgrade`]) and [`write`](Shared::write) guards, closure
//!   helpers ([`with`](Shared::with), [`push`](Shared::push)), `try_*` and `try_*_for`
//!   variants, and a clear panic instead of a hang on re-entrant use.
//! * Push / pull: every write that changes the value publishes a new [`Version`]; a
//!   [`Puller`] checks for a change with one atomic load, [`pull`](PullerOf::pull)s the latest
//!   value, or [`wait`](PullerOf::wait)s for the next; an [`ArcPuller`] does the same from any
//!   thread or task it is moved into; [`Shared::wait_until`] blocks until a condition holds;
//!   [`Shared::push_at`] is an optimistic compare-and-push.
//! * [`WaitGroup`]: Go's add / done / wait, with RAII [`Token`]s, a timeout, reuse, and no hang
//!   when a worker panics.
//! * Async: [`wait_async`](PullerOf::wait_async), [`Shared::wait_until_async`] and
//!   [`WaitGroup::wait_async`] are futures for any executor (no runtime dependency), woken by
//!   the same push that wakes blocked threads.
//!
//! # Quick start
//!
//! ```
//! use pushpull::{Shared, WaitGroup};
//! use std::sync::Arc;
//!
//! let total = Arc::new(Shared::new(0u64));
//! let wg = WaitGroup::new();
//! for _ in 0..4 {
//!     let total = Arc::clone(&total);
//!     wg.spawn(move || {
//!         for _ in 0..1000 {
//!             total.push(|t| *t += 1); // read-modify-write under one lock: nothing lost
//!         }
//!     });
//! }
//! wg.wait();
//! assert_eq!(*total.read(), 4000);
//! assert_eq!(total.version().get(), 4000); // one version per push
//! ```
//!
//! # Push, pull, versions
//!
//! Every publish bumps the `Shared`'s version by exactly one. Publishing happens on
//! [`push`](Shared::push) and [`replace`](Shared::replace), on [`push_if`](Shared::push_if) when
//! its closure returns `true`, on [`push_at`](Shared::push_at) when it wins, and when a
//! [`WriteGuard`] is mutably dereferenced (once per guard). The version is bumped under the
//! write lock; waiters are woken after it is released, and only if someone is waiting, so a
//! publish nobody waits for costs no extra lock and no system call.
//!
//! A [`Puller`] starts at the version current when it is created: it reports changes made
//! *after* that. To wait for a condition on the value regardless of when you started looking,
//! use [`Shared::wait_until`], which checks the value first. A puller can also start at a
//! version you kept ([`Shared::puller_at`]): it reports everything published after it (a
//! client that reconnects with the version it had). A [`Puller`] borrows its `Shared`; an
//! [`ArcPuller`] ([`Shared::puller_arc`]) holds an `Arc` of it, so you create it *before*
//! spawning the thread or task that pulls, and no push made after that is missed:
//!
//! ```
//! use pushpull::Shared;
//! use std::sync::Arc;
//!
//! let config = Arc::new(Shared::new("v1"));
//! let mut puller = config.puller_arc(); // subscribed before the thread starts
//! config.push(|c| *c = "v2"); // not missed
//! let reader = std::thread::spawn(move || *puller.wait().unwrap());
//! assert_eq!(reader.join().unwrap(), "v2");
//! ```
//!
//! Every guard knows the version of the value it shows ([`ReadGuard::version`]): no publish
//! can happen while it is held, so that is the version to give [`Shared::push_at`] for a
//! change computed from it, and the version a wait woke for. (Reading the value, then
//! [`Shared::version`] separately, lets a push land in between: see `push_at`.)
//!
//! # Closing
//!
//! [`Shared::close`] says "no more pushes": every wait for a change, blocking or async, timed
//! or not, returns [`Closed`] once it has nothing left to deliver (a puller still gets the last
//! change it has not seen first), at once if it starts after the close; a write after the
//! close panics, naming the call. A [`Closer`] closes when dropped, also when its producer panics.
//! The [`close`] module docs tell the whole contract.
//!
//! ```
//! use pushpull::Shared;
//! use std::sync::Arc;
//!
//! let config = Arc::new(Shared::new(1));
//! let mut follower = config.puller_arc();
//! let applied = std::thread::spawn(move || {
//!     let mut applied = Vec::new();
//!     while let Ok(value) = follower.wait() {
//!         applied.push(*value);
//!     }
//!     applied // the loop ends at the close
//! });
//! config.replace(2);
//! config.close();
//! assert_eq!(applied.join().unwrap().last(), Some(&2));
//! ```
//!
//! # Async
//!
//! [`PullerOf::wait_async`], [`Shared::wait_until_async`] and [`WaitGroup::wait_async`]
//! return futures ([`WaitAsync`], [`WaitUntilAsync`], [`WaitGroupWait`]) that run on any
//! executor: pushpull depends on no runtime, only on `std::task::Waker`. Pushes usually come
//! from plain threads; one push wakes the blocked threads and the pending tasks waiting on
//! that `Shared` (or the last `done` of a `WaitGroup`, its waiters). A push nobody waits for
//! costs what it always did (no extra atomic read-modify-write, lock or allocation); a push
//! only tasks wait for makes no futex call.
//!
//! * The futures are `Send` when `T: Send + Sync`: they hold no lock guard while pending, so
//!   they run under a multi-thread runtime's `spawn`. The [`ReadGuard`] they complete with is
//!   not `Send`: use it and drop it before the next `.await`.
//! * They are cancel-safe: dropping one before it completes unregisters it, takes no wake-up
//!   from any other waiter and leaks nothing. Timeouts come from the executor
//!   (`tokio::time::timeout(d, puller.wait_async())`).
//! * They never block the thread that polls them, and they do not poll themselves: a pending
//!   future sleeps until what it waits for happens (see "Futures and the lock" below).
//! * A `Waker` is user code, and is treated so: pushpull clones, wakes and drops wakers with
//!   no lock of its own held (a waker may push to the very `Shared` it waits on); a waker
//!   whose `wake` panics does not keep the other waiters of the same push from being woken
//!   (the panic reaches the pusher once they all were); and a waker that panics while the
//!   waking thread already unwinds (a worker's [`Token`] dropped during a panic) is reported
//!   on stderr and swallowed, instead of aborting the process.
//!
//! ```
//! use pushpull::{Shared, WaitGroup};
//! use std::sync::Arc;
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     struct Unpark(std::thread::Thread);
//! #     impl std::task::Wake for Unpark { fn wake(self: Arc<Self>) { self.0.unpark() } }
//! #     let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
//! #     let mut cx = std::task::Context::from_waker(&waker);
//! #     let mut f = std::pin::pin!(f);
//! #     loop {
//! #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v }
//! #         std::thread::park();
//! #     }
//! # }
//!
//! let level = Arc::new(Shared::new(0));
//! let mut puller = level.puller_arc();
//! let wg = WaitGroup::new();
//! let filler = Arc::clone(&level);
//! wg.spawn(move || for _ in 0..100 { filler.push(|l| *l += 1) });
//! // `block_on` stands for any executor (tokio's, a hand-written one, ...).
//! block_on(async {
//!     let first = *puller.wait_async().await.unwrap(); // some push after subscribing
//!     assert!(first >= 1);
//!     let full = *level.wait_until_async(|l| *l == 100).await.unwrap();
//!     assert_eq!(full, 100);
//!     wg.wait_async().await;
//! });
//! ```
//!
//! ## Futures and the lock
//!
//! A future only ever *tries* the lock. What it does when the try fails:
//!
//! * A writer is queued behind readers (waiting for them to leave): the future's read is
//!   taken anyway, like a recursive read, so the future registers or completes at once. (A
//!   completed future's guard may thus delay that writer by as long as it is held, as any
//!   read the writer queued behind.)
//! * A writer holds the lock, and the future waits for a version past one it has registered
//!   for: it sleeps; the writer's publish wakes it.
//! * A writer holds the lock, and the future needs to read (the first check of
//!   `wait_until_async`'s predicate, or the guard `wait_async` completes with after the
//!   version moved): it sleeps until that writer releases the lock, whether it publishes or
//!   not, and is woken once per such release.
//!
//! The last case costs the writers of a `Shared` while futures of it are alive: each publish
//! is a compare-exchange instead of a store, and each write guard's release one more atomic
//! read-modify-write. A `Shared` no live future uses pays nothing for it. One case is left in
//! which a future asks to be polled again at once: it was created *and* first polled while
//! another thread's writer held the lock, and no other live future uses that `Shared`; it
//! does so until one of its polls gets the read lock. (The protocol and why no wake-up is
//! lost: `src/shared/release.rs`.)
//!
//! # Guards and fairness
//!
//! The lock is `parking_lot`'s `RwLock`: eventually fair, so a writer is not starved by a stream
//! of readers; new readers queue behind a waiting writer. One [`ModifyGuard`] may coexist with
//! readers; it excludes other modifiers and writers. A thread holding a `ModifyGuard` may
//! still call [`read`](Shared::read) on the same `Shared`: that read never queues behind a
//! writer waiting for the modifier.
//!
//! # Model-check your own code with loom
//!
//! pushpull switches every primitive it uses to [loom](https://docs.rs/loom)'s when built with
//! `--cfg loom` (the `parking_lot` upgradable lock, which loom lacks, is replaced by a small
//! model made of loom primitives, itself proved by loom). Because the switch is the plain
//! `cfg(loom)`, a crate of yours that depends on pushpull and is tested with
//! `RUSTFLAGS="--cfg loom"` gets pushpull on loom too, so loom explores the interleavings of
//! *your* code together with pushpull's:
//!
//! ```ignore
//! // tests/loom.rs of your crate; run with:
//! // RUSTFLAGS="--cfg loom" cargo test --release --test loom
//! #![cfg(loom)]
//! use loom::sync::Arc;
//! use pushpull::{Shared, WaitGroup};
//!
//! #[test]
//! fn two_workers_never_lose_an_increment() {
//!     loom::model(|| {
//!         let data = Arc::new(Shared::new(0));
//!         let wg = WaitGroup::new();
//!         for _ in 0..2 {
//!             let data = data.clone();
//!             wg.spawn(move || data.push(|v| *v += 1));
//!         }
//!         wg.wait();
//!         assert_eq!(*data.read(), 2);
//!     });
//! }
//! ```
//!
//! Under loom, timed calls (`try_*_for`, `wait_for`, `wait_until_for`) ignore their timeout
//! and behave as their untimed twins (loom has no clock): a lost wake-up shows up as a loom
//! deadlock instead of being hidden by a timeout. The spin phase of waits is compiled out.
//! `WaitGroup::spawn` spawns a loom thread; `spawn_scoped` does not exist under loom.
//! Under loom the upgradable lock admits readers ahead of a waiting writer (fairness is not
//! modelled; exclusion and upgrade atomicity are).
//!
//! One limitation: loom runs every model thread on one OS thread, and "is this thread
//! unwinding?" (`std::thread::panicking`) is per OS thread. In a model where one thread catches
//! a panic (`catch_unwind`) while others keep running, a guard or [`Token`] dropped by another
//! thread *during* that unwinding is taken for a panicking one: the `Shared` may be marked
//! poisoned, or [`WaitGroup::panicked`] over-count. Panic-safety is therefore tested natively
//! (`tests/panic_safety.rs`), not under loom.
//!
//! # Misuse and what you get
//!
//! What a mistake costs depends on the build, because recording which guards a thread holds
//! costs time on every lock (see [`Shared`]'s "Re-entrancy"): debug builds (and loom) record
//! the writer and the readers, release builds with the `reentrancy-check` feature the writer,
//! plain release builds neither ("deadlock" below: as with any `RwLock`). A `ModifyGuard` is
//! recorded in every build. Lock *order* across `Shared`s is checked in debug builds and in
//! release with the `lock-order-check` feature, never under loom ([`lock_order`]).
//! `tests/misuse.rs` and `tests/lock_order.rs` check every cell of this table in each build.
//!
//! | Mistake | debug, loom | release | release + `reentrancy-check` |
//! |---|---|---|---|
//! | `write()` / `modify()` while this thread holds a `ModifyGuard` of the same `Shared` | panic: "`pushpull::Shared: write() would deadlock: this thread already holds a ModifyGuard ...`" | the same panic | the same panic |
//! | `write()` / `modify()` / `read()` while holding its `WriteGuard` | the same panic, naming the call and `WriteGuard` | deadlock | panic |
//! | `write()` / `modify()` / `ModifyGuard::upgrade` while holding a `ReadGuard` of it, when it must wait | panic naming `ReadGuard` | deadlock | deadlock |
//! | `read()` twice on one thread while another thread's writer is queued between the two | the second read is taken recursively and succeeds | may deadlock (as with any fair `RwLock`) | may deadlock |
//! | `try_read` / `try_modify` / `try_write` in any of the cases above | `None` (or the guard, where the lock allows it), at once, never a panic | the same | the same |
//! | `try_*_for(timeout)` in any of the cases above | `None` at once, never a panic | `None` at once under a `ModifyGuard`; under a `WriteGuard` or `ReadGuard`, `None` when the timeout has passed | `None` at once under a `ModifyGuard` or `WriteGuard`; under a `ReadGuard`, `None` when the timeout has passed |
//! | `Puller::wait` / `Shared::wait_until` while this thread holds a guard that keeps every publisher out: its `WriteGuard` (even if the value changed or the predicate holds: the result could not be read), or a `ModifyGuard` / `ReadGuard` when the wait must block | panic naming the call and the guard ("`Puller::wait() would deadlock ...`") | panic under a `ModifyGuard`; deadlock under a `WriteGuard` or `ReadGuard` | panic under a `ModifyGuard` or `WriteGuard`; deadlock under a `ReadGuard` |
//! | `wait_async` / `wait_until_async` polled in the same case | the same panic, naming `Puller::wait_async()` / `Shared::wait_until_async()` | panic under a `ModifyGuard`; never completes under a `WriteGuard` or a `ReadGuard` (pending until the guard is dropped, or re-polling itself if it was created under the `WriteGuard`) | panic under a `ModifyGuard` or `WriteGuard`; never completes under a `ReadGuard` |
//! | the same, with the guard held across an `.await` by *another* task on the same thread (a single-threaded executor) | counted as this thread's: the same panic | the same as the row above | the same as the row above |
//! | their timed twins `Puller::wait_for` / `Shared::wait_until_for` in the same case | `None` at once | `None` at once under a `ModifyGuard`; under a `WriteGuard` or `ReadGuard`, `None` when the timeout has passed | `None` at once under a `ModifyGuard` or `WriteGuard`; under a `ReadGuard`, `None` when the timeout has passed |
//! | `WaitGroup::done()` more often than `add()` | panic: "`pushpull::WaitGroup::done() called more times than add()`"; the count stays 0 | the same | the same |
//! | `WaitGroup::add(n)` beyond `u32::MAX` outstanding | panic naming `WaitGroup::add`; the count is unchanged | the same | the same |
//! | a worker panics holding a [`Token`] | its work counts as done; `wait` returns; [`WaitGroup::panicked`] counts it | the same | the same |
//! | a write (`push`, `replace`, `push_if`, `push_at` at the current version, `write`, `ModifyGuard::upgrade`) after [`Shared::close`] | panic: "`pushpull::Shared: push() after close() ...`" naming the call, before any closure runs; nothing changes, nothing is poisoned (`try_write*` / `try_upgrade*`: `None` / the guard back) | the same | the same |
//! | a panic with mutable access | the lock is released, the `Shared` is [poisoned](Shared::is_poisoned), waiters wake | the same | the same |
//! | `wait()` on a group from a thread that holds one of its tokens | blocks forever (it waits for itself); use `wait_for` | the same | the same |
//! | two paths take two `Shared`s (or a `Shared` and a [`WaitGroup::wait`] whose spawned workers take it) in opposite orders | panic "`pushpull: lock order inversion ...`" at the first inverted acquisition, before it blocks, naming both sides (or a log line: [`lock_order::set_on_inversion`]) | deadlock if two threads meet at the wrong moment; with the `lock-order-check` feature, as in debug | the same as release |
//!
//! A timed wait never blocks past its timeout, in any build and for any reason: taking the
//! lock at the end of the wait is bounded by the same deadline.
//!
//! Guards stay on the thread that took them: [`ReadGuard`], [`ModifyGuard`] and
//! [`WriteGuard`] are never `Send`, whatever features the dependency graph enables (parking_lot's
//! `send_guard` included), because the per-thread records above would lie about a guard that
//! moved. They are `Sync` when `T` is (a `&guard` may be shared with scoped threads):
//!
//! ```compile_fail
//! fn assert_send<T: Send>(_: T) {}
//! let shared = pushpull::Shared::new(1);
//! assert_send(shared.read()); // error[E0277]: `MutexGuard<'static, GuardsStayOnTheirThread>` cannot be sent
//! ```
//!
//! Dropping a `Shared` while a guard of it exists does not compile:
//!
//! ```compile_fail
//! let shared = pushpull::Shared::new(1);
//! let guard = shared.read();
//! drop(shared); // error[E0505]: cannot move out of `shared` because it is borrowed
//! println!("{}", *guard);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod close;
mod deadline;
pub mod lock_order;
mod park;
#[cfg(feature = "profile")]
#[cfg_attr(docsrs, doc(cfg(feature = "profile")))]
pub mod profile;
#[cfg(not(feature = "profile"))]
mod profile;
mod puller;
mod shared;
mod sync;
mod thread_bound;
mod version;
mod wait_group;

pub use close::{ArcCloser, Closed, Closer, CloserOf};
pub use puller::{ArcPuller, Puller, PullerOf, SharedHandle, WaitAsync, WaitUntilAsync};
pub use shared::{ModifyGuard, ReadGuard, Shared, WriteGuard};
pub use thread_bound::GuardsStayOnTheirThread;
pub use version::{Conflict, Version};
pub use wait_group::{Token, WaitGroup, WaitGroupWait};
