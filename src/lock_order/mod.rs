//! Lock-order checking: a lock-order inversion (the "ABBA" deadlock) is reported the first
//! time both orders have been taken, in any test run, even if no deadlock happened.
//!
//! # What it catches
//!
//! Two threads that take the same two locks in opposite orders can deadlock: one holds `A`
//! and waits for `B`, the other holds `B` and waits for `A`. That deadlock needs the two
//! threads to meet at the wrong moment, so a test suite almost never sees it. The *orders*,
//! though, are taken on every run: pushpull records, for every blocking acquisition made while
//! the thread holds guards of *other* locks, the edge "held → acquired", and reports an
//! acquisition whose edge would close a cycle in that graph, *before* it blocks. One thread
//! taking `A` then `B`, and later (any thread) `B` then `A`, is enough: the inversion is
//! reported deterministically, on the first run, whether or not the threads ever overlapped.
//! Longer cycles (`A → B`, `B → C`, `C → A`) are found the same way.
//!
//! # When it is on
//!
//! | build | checked |
//! |---|---|
//! | debug (`cfg(debug_assertions)`: `cargo test`, `cargo run`) | yes |
//! | release with the `lock-order-check` feature | yes |
//! | release | no: compiled out, nothing is recorded, nothing costs |
//! | `--cfg loom` | no (loom explores the interleavings themselves) |
//!
//! [`ENABLED`] tells which case a build is. The public API of this module exists in every
//! build, so code that calls [`set_on_inversion`] compiles unchanged everywhere; where
//! checking is compiled out it only stores the choice.
//!
//! # What is recorded
//!
//! In this module, *blocking* calls are the ones that can wait for another thread: `read`,
//! `modify`, `write`, `ModifyGuard::upgrade`, the waits, **and the timed `try_*_for` calls**
//! (they wait, up to a timeout). *Non-blocking* calls are the `try_*` calls without a timeout:
//! `try_read`, `try_modify`, `try_write`, `ModifyGuard::try_upgrade`, and the reads the async
//! waits take (a future never blocks its thread).
//!
//! * Every blocking acquisition: [`Shared::read`](crate::Shared::read),
//!   [`modify`](crate::Shared::modify), [`write`](crate::Shared::write),
//!   [`ModifyGuard::upgrade`](crate::ModifyGuard::upgrade), their timed `try_*_for` twins (a
//!   timeout hides a deadlock, it does not prevent it), the reads inside
//!   [`Puller::wait`](crate::Puller::wait) / [`Shared::wait_until`](crate::Shared::wait_until)
//!   (and their `_for` twins), and [`WaitGroup::wait`](crate::WaitGroup::wait) / `wait_for` /
//!   `wait_async` (see below). It is recorded whether or not the lock happened to be free: the
//!   order is what counts.
//! * Only while the thread holds a guard of another lock: an acquisition with nothing held
//!   adds no edge.
//! * Non-blocking acquisitions add no edge (they cannot wait, so they cannot deadlock), but the
//!   guards they return count as held: a blocking acquisition made while holding them does
//!   add edges. An order only ever taken with non-blocking calls is never reported.
//! * Taking a lock this thread already holds (a recursive `read`, a `read` under one's own
//!   `ModifyGuard`) adds no edge: it does not wait for other threads. (The re-entrant cases
//!   that would wait forever, such as `write` under one's own `ReadGuard`, are caught by
//!   [`Shared`](crate::Shared)'s re-entrancy check.) `ModifyGuard::upgrade` is an exception:
//!   it waits for the other readers, so it adds edges from every *other* lock held.
//! * Each edge keeps the source location of the acquisition that first took that order and
//!   where the held guard was taken. A [`Shared`](crate::Shared) or
//!   [`WaitGroup`](crate::WaitGroup) that is dropped takes its edges with it: a new one at the
//!   same address starts clean.
//!
//! # The report
//!
//! A report starts with `pushpull: lock order inversion`, then names every edge of the
//! cycle: first what this thread is doing, then, for each edge of the path back, where that
//! order was first taken. Locks are named by the type they hold and a short id (`#2`), which
//! is allocated when the lock is created and never reused. A real report:
//!
//! ```text
//! pushpull: lock order inversion (possible deadlock)
//!   this thread takes Shared<app::Jobs>#2 (write, here: src/main.rs:10:13) while holding Shared<app::Results>#1 (read, taken at src/main.rs:9:13);
//!   earlier, Shared<app::Results>#1 was taken (read, at src/main.rs:20:13) while holding Shared<app::Jobs>#2 (write, held since src/main.rs:19:13).
//!   Threads taking these locks in these orders at the same time wait for each other forever.
//!   hint: take them in one order everywhere (or release one before taking the next); see pushpull::lock_order
//! ```
//!
//! (Standard-library paths are shortened: `Shared<Vec<String>>`, not
//! `Shared<alloc::vec::Vec<alloc::string::String>>`.)
//!
//! # Panic or log
//!
//! By default ([`OnInversion::Panic`]) the acquisition that would close a cycle panics with
//! the report, before it blocks: in a test the inversion fails the test that took it, and the
//! panic points at the offending line. A running service may rather keep going:
//! [`set_on_inversion`] chooses, at run time, for the whole process:
//!
//! * [`OnInversion::Log`]: print the report to stderr and go on (the acquisition proceeds).
//! * [`OnInversion::Custom`]: hand the [`Report`] to your function (to send it to your logger
//!   or metrics) and go on.
//!
//! In these two modes each inverted order is reported once: the edge that closed the cycle
//! is then recorded like any other, so taking the same orders again stays quiet, while a
//! further order that closes another cycle is reported again. In `Panic` mode the panicking
//! acquisition records nothing, so it panics again every time it is attempted.
//!
//! ```
//! use pushpull::lock_order::{self, OnInversion};
//! use pushpull::Shared;
//!
//! lock_order::set_on_inversion(OnInversion::Log);
//!
//! let jobs = Shared::new(vec![1, 2, 3]);
//! let results = Shared::new(Vec::new());
//! {
//!     let jobs = jobs.read();
//!     results.write().extend(jobs.iter().map(|j| j * 10)); // order: jobs, then results
//! }
//! {
//!     let results = results.read();
//!     jobs.write().truncate(results.len()); // order: results, then jobs: an inversion
//! } // where checking is on, the report above is printed to stderr, and the program goes on
//! assert_eq!(*results.read(), [10, 20, 30]);
//! ```
//!
//! # Why two reads count
//!
//! `A.read()` then `B.read()` on one thread and `B.read()` then `A.read()` on another is
//! reported too. pushpull's lock is fair: a writer queued on `A` makes new readers of `A`
//! wait behind it. With a writer queued on each lock, the two readers wait for the writers,
//! which wait for the readers: a deadlock made only of reads and unrelated writers.
//!
//! # WaitGroups
//!
//! [`WaitGroup::wait`](crate::WaitGroup::wait) is treated as Linux's lockdep treats a wait for
//! a completion. Waiting while holding a guard of `A` adds the edge `A → WaitGroup`; a worker
//! started by [`WaitGroup::spawn`](crate::WaitGroup::spawn) /
//! [`spawn_scoped`](crate::WaitGroup::spawn_scoped) counts as holding its group while its
//! token is outstanding, so its blocking acquisition of `A` adds `WaitGroup → A`. Together:
//! the master holds the lock while waiting for a worker that needs the lock, the
//! master-worker deadlock. It is reported like any other cycle, with the worker's spawn
//! location:
//!
//! ```text
//! pushpull: lock order inversion (possible deadlock)
//!   this thread waits for WaitGroup#3 (here: src/main.rs:31:8) while holding Shared<app::Jobs>#1 (write, taken at src/main.rs:30:19);
//!   earlier, a worker of WaitGroup#3 (spawned at src/main.rs:25:12) took Shared<app::Jobs>#1 (write, at src/main.rs:26:22).
//!   Threads taking these locks in these orders at the same time wait for each other forever.
//!   hint: take them in one order everywhere (or release one before taking the next); a thread waiting for a WaitGroup should hold no lock that its workers take; see pushpull::lock_order
//! ```
//!
//! Only workers started by `spawn` / `spawn_scoped` are known to belong to their group; a
//! [`Token`](crate::Token) handed to a thread by hand is not tracked.
//!
//! # What a report means
//!
//! Like Linux's lockdep, the checker reports an order that *can* deadlock in some run, not
//! only one that deadlocks in this run: the two sides of a cycle are reported even when, in
//! this run, they were taken years apart, and even when the acquisition that closes it did
//! not have to wait at all. In particular:
//!
//! * A `WaitGroup::wait` (or `wait_for`, or `wait_async` when it is created) on a group whose
//!   count is zero right now, while holding a lock that the group's spawned workers took, is
//!   reported: in another run the workers are slower, and the same wait deadlocks. It is the
//!   order that is wrong, not this run's timing.
//! * A read taken while holding another lock counts as that order even if no writer was
//!   queued (see "Why two reads count").
//!
//! What it does not report:
//!
//! * Consistent orders, however many threads and locks.
//! * An order taken only with non-blocking calls (`try_*` without a timeout; the timed
//!   `try_*_for` calls do count, see "What is recorded").
//! * Orders of a dropped lock: it forgets its edges, and ids are never reused.
//!
//! What it cannot see: locks other than pushpull's (a `std::sync::Mutex` in the cycle), and
//! orders that no run takes. A report means the orders exist in your code; whether the
//! threads can really meet is for you to judge, and the fix (one global order) is cheap.
//!
//! # Cost
//!
//! Where checking is on, each guard writes an entry into a thread-local list when it is taken
//! and pops it when it is dropped (the first eight in place, deeper ones in a spilled `Vec`).
//! A blocking acquisition with no guard held costs one thread-local load; with only its own
//! lock held (an upgrade, a read under one's own guard), one more. With other guards held, an
//! order this thread has already taken is found in a small thread-local cache; only an order
//! new to this thread takes the global graph's lock (and searches the graph, for a new edge).
//! Dropping a `Shared` that never took part in an order costs an atomic load. Measured in
//! release with the `lock-order-check` feature against release without it: 1.00–1.11× on an
//! uncontended read, write or modify, 1.26× on `update`, 1.57× on an upgrade
//! (BENCHMARKS.md, "Lock-order checking"). Where checking is compiled out, nothing of this
//! exists: no symbol of this module is in a release binary.

#[cfg(not(all(not(loom), any(debug_assertions, feature = "lock-order-check"))))]
mod disabled;
#[cfg(all(not(loom), any(debug_assertions, feature = "lock-order-check")))]
mod graph;
#[cfg(all(not(loom), any(debug_assertions, feature = "lock-order-check")))]
mod local;
mod report;
#[cfg(all(test, not(loom), any(debug_assertions, feature = "lock-order-check")))]
mod tests;

// The wiring API, for `Shared` and `WaitGroup`. The same names and signatures whether checking
// is on or compiled out (then they are empty and `HeldMark` is zero-sized), so the callers need
// no `cfg` of their own.
//
// * Every lock has a `u64` id, unique among all `Shared`s and `WaitGroup`s for the life of the
//   process (`crate::sync::next_object_id()`); name it with `LockRef::shared::<T>(id)` or
//   `LockRef::wait_group(id)`.
// * Before every *blocking* acquisition (also when the fast path would succeed, and for the
//   timed `*_for` ones): `before_acquire(lock, how, Location::caller())`. It reads this
//   thread's held guards itself; it may panic with the report (before anything blocks). Not
//   for `try_*`.
// * After every successful acquisition, blocking or `try_*`: `let mark = hold(lock, how, at)`,
//   kept in the guard; dropping the mark (with the guard) releases the entry, in any order.
//   `mark.change(how, at)` when a guard changes kind in place: `ModifyGuard::upgrade` is
//   `before_acquire(lock, How::Upgrade, at)` (it waits for the other readers), then
//   `mark.change(How::Upgrade, at)`; a downgrade is `mark.change(How::Read, at)`. The reads
//   inside `Puller::wait*` / `Shared::wait_until*` use `How::Wait`.
// * A `WaitGroup` worker: `hold(LockRef::wait_group(id), How::Token, spawn_location)` *on the
//   worker thread*, kept until its token is done; `WaitGroup::wait*`:
//   `before_acquire(LockRef::wait_group(id), How::WaitGroupWait, at)` (no `hold` after).
// * When the lock can no longer be held or waited for: `forget(id)` (for a `WaitGroup`, when
//   its shared state is dropped, after the last token, not when one handle is).
#[cfg(not(all(not(loom), any(debug_assertions, feature = "lock-order-check"))))]
pub(crate) use disabled::{before_acquire, forget, hold, HeldMark};
#[cfg(all(not(loom), any(debug_assertions, feature = "lock-order-check")))]
pub(crate) use graph::forget;
#[cfg(all(test, not(loom), any(debug_assertions, feature = "lock-order-check")))]
pub(crate) use graph::in_graph;
#[cfg(all(not(loom), any(debug_assertions, feature = "lock-order-check")))]
pub(crate) use local::{before_acquire, hold, HeldMark};

#[cfg(feature = "profile")]
pub(crate) use report::short_type_name;
pub use report::Report;

use std::panic::Location;
use std::sync::{PoisonError, RwLock};

/// Whether this build checks lock order: debug builds, and release builds with the
/// `lock-order-check` feature; never under `cfg(loom)`.
///
/// ```
/// // A test that needs the checker can say so instead of passing vacuously:
/// if !pushpull::lock_order::ENABLED {
///     eprintln!("lock-order checking is compiled out of this build");
/// }
/// ```
///
/// (In a doctest, `cfg!(debug_assertions)` describes the doctest's own build, which need not
/// be the library's: `cargo test --release` builds the library without debug assertions but
/// the doctests with them. Ask `ENABLED`.)
pub const ENABLED: bool = cfg!(all(
    not(loom),
    any(debug_assertions, feature = "lock-order-check")
));

/// What to do when an acquisition would close a cycle of lock orders (see the
/// [module docs](self)). Chosen with [`set_on_inversion`]; the default is `Panic`.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub enum OnInversion {
    /// Panic with the [`Report`], before the acquisition blocks (the default). Nothing is
    /// recorded for that acquisition, so trying it again panics again. (A thread that is
    /// already unwinding prints the report instead of panicking twice.)
    #[default]
    Panic,
    /// Print the [`Report`] to stderr and go on with the acquisition. Each inverted order is
    /// reported once per process (per lock: a new lock starts afresh).
    Log,
    /// Call this function with the [`Report`] and go on with the acquisition, reporting
    /// each inverted order once, like `Log`. The function runs on the thread that closed the
    /// cycle, while that thread holds its guards (but no lock of the checker): it must not
    /// take locks those guards order against. It may panic, which aborts the acquisition.
    Custom(fn(&Report)),
}

static MODE: RwLock<OnInversion> = RwLock::new(OnInversion::Panic);

/// Chooses what a lock-order inversion does, for the whole process, from now on. Thread-safe;
/// may be called at any time (a report under way finishes in the mode it started with).
/// Where checking is compiled out ([`ENABLED`] is `false`) it only stores the choice, so
/// code calling it compiles and runs the same in every build.
///
/// ```
/// use pushpull::lock_order::{self, OnInversion, Report};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// // A service: keep running, count inversions, and log them through our own logger.
/// static INVERSIONS: AtomicUsize = AtomicUsize::new(0);
/// fn report_inversion(report: &Report) {
///     INVERSIONS.fetch_add(1, Ordering::Relaxed);
///     eprintln!("[warn] {report}");
/// }
/// lock_order::set_on_inversion(OnInversion::Custom(report_inversion));
/// assert!(matches!(lock_order::on_inversion(), OnInversion::Custom(_)));
///
/// // Back to the default: tests should fail on an inversion.
/// lock_order::set_on_inversion(OnInversion::Panic);
/// assert!(matches!(lock_order::on_inversion(), OnInversion::Panic));
/// ```
pub fn set_on_inversion(mode: OnInversion) {
    *MODE.write().unwrap_or_else(PoisonError::into_inner) = mode;
}

/// The mode chosen with [`set_on_inversion`] ([`OnInversion::Panic`] if none was).
///
/// ```
/// use pushpull::lock_order::{on_inversion, OnInversion};
/// assert!(matches!(on_inversion(), OnInversion::Panic));
/// ```
#[must_use]
pub fn on_inversion() -> OnInversion {
    *MODE.read().unwrap_or_else(PoisonError::into_inner)
}

/// What kind of lock a node of the graph is; decides how the report names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A `Shared<T>`: named `Shared<T>#id`.
    Shared,
    /// A `WaitGroup`: named `WaitGroup#id`.
    WaitGroup,
}

/// A lock as the checker sees it: an id that is never reused, and how to name it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LockRef {
    /// Unique among all locks for the life of the process (`crate::sync::next_object_id()`).
    pub(crate) id: u64,
    /// `type_name` of `T` for a `Shared<T>`; `"WaitGroup"` for a `WaitGroup`.
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
}

impl LockRef {
    /// The `Shared<T>` with this id.
    #[inline]
    pub(crate) fn shared<T: ?Sized>(id: u64) -> Self {
        LockRef {
            id,
            name: std::any::type_name::<T>(),
            kind: Kind::Shared,
        }
    }

    /// The `WaitGroup` with this id.
    #[inline]
    pub(crate) fn wait_group(id: u64) -> Self {
        LockRef {
            id,
            name: "WaitGroup",
            kind: Kind::WaitGroup,
        }
    }
}

/// How a lock is held or taken, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum How {
    /// `read`, `try_read`, `try_read_for`, a downgraded guard.
    Read,
    /// `modify` and its `try_*` twins.
    Modify,
    /// `write` and its `try_*` twins.
    Write,
    /// `ModifyGuard::upgrade` / `try_upgrade_for` (as held: the upgraded guard).
    Upgrade,
    /// The read inside `Puller::wait*` / `Shared::wait_until*`.
    Wait,
    /// `WaitGroup::wait` / `wait_for`: the acquiring side only.
    WaitGroupWait,
    /// A worker started by `WaitGroup::spawn*` holds its group this way (the held side
    /// only; its `at` is where the worker was spawned).
    Token,
}

impl How {
    /// The word the report uses.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            How::Read => "read",
            How::Modify => "modify",
            How::Write => "write",
            How::Upgrade => "upgrade",
            How::Wait => "read in a wait",
            How::WaitGroupWait => "wait",
            How::Token => "token",
        }
    }
}

/// A lock this thread holds (or is taking): which, how, and where it was taken.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub(crate) lock: LockRef,
    pub(crate) how: How,
    pub(crate) at: &'static Location<'static>,
}

#[cfg(all(test, not(loom), any(debug_assertions, feature = "lock-order-check")))]
std::thread_local! {
    /// Tests choose the mode per thread, so that they never change it under each other.
    static TEST_MODE: std::cell::Cell<Option<OnInversion>> = const { std::cell::Cell::new(None) };
}

/// The mode a report is delivered in: the process-wide choice (in unit tests, a per-thread
/// override first).
#[cfg(all(not(loom), any(debug_assertions, feature = "lock-order-check")))]
fn current_mode() -> OnInversion {
    #[cfg(test)]
    if let Some(mode) = TEST_MODE.with(std::cell::Cell::get) {
        return mode;
    }
    on_inversion()
}
