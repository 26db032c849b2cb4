//! Unit tests of the checker, through the wiring API, with a small lock made of a
//! `parking_lot::RwLock<()>` wired the way `Shared` is to be: `before_acquire` before every
//! blocking acquisition, `hold` after every acquisition, `forget` on drop.
//!
//! Tests run in parallel in one process and share the graph: every lock gets an id of its
//! own, and every test chooses its mode per thread (`TEST_MODE`), never process-wide.

use super::graph::graph;
use super::local;
use super::report::short_type_name;
use super::{before_acquire, forget, hold, HeldMark, How, LockRef, OnInversion, Report, TEST_MODE};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;

std::thread_local! {
    static CAPTURED: RefCell<Vec<Report>> = const { RefCell::new(Vec::new()) };
    static SLOW_PATHS: Cell<usize> = const { Cell::new(0) };
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Called by `graph::deliver` with every report, before it is delivered. Returns whether this
/// thread's test asked for the stderr copy to be left out (`quietly`): the report is captured
/// and checked here, and a passing `cargo test` prints no alarming line.
pub(super) fn capture(report: &Report) -> bool {
    CAPTURED.with(|c| c.borrow_mut().push(report.clone()));
    QUIET.with(Cell::get)
}

/// Runs `f` with the stderr copy of reports left out on this thread (see `capture`).
fn quietly<R>(f: impl FnOnce() -> R) -> R {
    QUIET.with(|q| q.set(true));
    let result = f();
    QUIET.with(|q| q.set(false));
    result
}

/// Called by `graph::check_in_graph`: counts this thread's visits to the global graph.
pub(super) fn note_slow_path() {
    SLOW_PATHS.with(|n| n.set(n.get() + 1));
}

fn captured() -> Vec<Report> {
    CAPTURED.with(|c| c.borrow_mut().drain(..).collect())
}

fn slow_paths() -> usize {
    SLOW_PATHS.with(Cell::get)
}

/// Sets this thread's mode (the process-wide one is never changed by these tests).
fn mode(mode: OnInversion) {
    TEST_MODE.with(|m| m.set(Some(mode)));
}

// Relaxed: ids need only be unique. Far above anything a real lock in this process gets.
static NEXT_ID: AtomicU64 = AtomicU64::new(1 << 48);

struct Jobs;
struct Results;
struct Log;

/// A lock wired like `Shared`.
struct Lock {
    lock: LockRef,
    inner: parking_lot::RwLock<()>,
}

struct Guard<'a> {
    at: &'static Location<'static>,
    _mark: HeldMark,
    _guard: Inner<'a>,
}

enum Inner<'a> {
    Read(#[allow(dead_code)] parking_lot::RwLockReadGuard<'a, ()>),
    Write(#[allow(dead_code)] parking_lot::RwLockWriteGuard<'a, ()>),
}

impl Lock {
    fn shared<T>() -> Self {
        Self::with(LockRef::shared::<T>(
            NEXT_ID.fetch_add(1, Ordering::Relaxed),
        ))
    }

    fn with(lock: LockRef) -> Self {
        Lock {
            lock,
            inner: parking_lot::RwLock::new(()),
        }
    }

    fn id(&self) -> u64 {
        self.lock.id
    }

    #[track_caller]
    fn read(&self) -> Guard<'_> {
        let at = Location::caller();
        before_acquire(self.lock, How::Read, at);
        let guard = Inner::Read(self.inner.read_recursive());
        self.guard(guard, How::Read, at)
    }

    #[track_caller]
    fn write(&self) -> Guard<'_> {
        let at = Location::caller();
        before_acquire(self.lock, How::Write, at);
        let guard = Inner::Write(self.inner.write());
        self.guard(guard, How::Write, at)
    }

    #[track_caller]
    fn try_write(&self) -> Option<Guard<'_>> {
        let at = Location::caller();
        let guard = Inner::Write(self.inner.try_write()?);
        Some(self.guard(guard, How::Write, at))
    }

    fn guard<'a>(&self, guard: Inner<'a>, how: How, at: &'static Location<'static>) -> Guard<'a> {
        Guard {
            at,
            _mark: hold(self.lock, how, at),
            _guard: guard,
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        forget(self.lock.id);
    }
}

fn message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "<not a string>".to_owned(), |s| (*s).to_owned()),
    }
}

/// Runs `f`, which must panic with a lock-order report; returns the report's text.
fn inversion<R>(f: impl FnOnce() -> R) -> String {
    let Err(payload) = catch_unwind(AssertUnwindSafe(f)) else {
        panic!("expected a lock-order panic");
    };
    let text = message(payload);
    assert!(text.contains("lock order"), "{text}");
    text
}

#[test]
fn abba_across_two_threads_is_reported_on_the_first_inversion() {
    let (jobs, results) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    let (jobs, results) = (&jobs, &results);
    let (done, first_done) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(move || {
            mode(OnInversion::Panic);
            let _j = jobs.write();
            let _r = results.write(); // jobs → results
            drop((_r, _j));
            done.send(()).unwrap();
        });
        let second = s.spawn(move || {
            mode(OnInversion::Panic);
            first_done.recv().unwrap(); // the first thread is done: no timing involved
            let _r = results.write();
            inversion(|| jobs.write()) // results → jobs: panics before it blocks
        });
        let text = second.join().unwrap();
        assert!(text.contains("pushpull: lock order inversion"), "{text}");
        let (j, r) = (
            format!("Shared<pushpull::lock_order::tests::Jobs>#{}", jobs.id()),
            format!(
                "Shared<pushpull::lock_order::tests::Results>#{}",
                results.id()
            ),
        );
        assert!(
            text.contains(&format!("this thread takes {j} (write, here: ")),
            "{text}"
        );
        assert!(
            text.contains(&format!("while holding {r} (write, taken at ")),
            "{text}"
        );
        assert!(
            text.contains(&format!("earlier, {r} was taken (write, at ")),
            "{text}"
        );
        assert!(
            text.contains(&format!("while holding {j} (write, held since ")),
            "{text}"
        );
    });
}

#[test]
fn abba_in_one_thread_is_reported() {
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    {
        let _a = a.write();
        let _b = b.read();
    }
    let _b = b.write();
    let text = inversion(|| a.read());
    assert_eq!(captured().len(), 1);
    // Writes in the cycle, and no WaitGroup: neither of the special explanations.
    assert!(!text.contains("All of these are reads"), "{text}");
    assert!(!text.contains("WaitGroup"), "{text}");
}

#[test]
fn report_shows_both_sides_locations() {
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    let (a_first, b_first) = {
        let ga = a.write();
        let gb = b.write();
        (ga.at, gb.at)
    };
    let gb = b.read();
    let here = format!("{}:{}:", file!(), line!() + 1);
    let text = inversion(|| a.write());
    let report = captured().pop().unwrap();
    // This thread: takes A (here), while holding B (taken at gb.at).
    assert!(text.contains(&format!("(write, here: {here}")), "{text}");
    assert!(
        text.contains(&format!("(read, taken at {})", gb.at)),
        "{text}"
    );
    // Earlier: B was taken at b_first while A was held, since a_first.
    assert!(text.contains(&format!("(write, at {b_first})")), "{text}");
    assert!(
        text.contains(&format!("(write, held since {a_first})")),
        "{text}"
    );
    assert!(text.contains(file!()), "{text}");
    assert_eq!(report.len(), 2);
    assert_eq!(text, report.to_string());
}

#[test]
fn three_lock_cycle_is_reported_with_every_edge() {
    mode(OnInversion::Panic);
    let (a, b, c) = (
        Lock::shared::<Jobs>(),
        Lock::shared::<Results>(),
        Lock::shared::<Log>(),
    );
    std::thread::scope(|s| {
        // One thread per order, one after the other.
        for (first, second) in [(&a, &b), (&b, &c)] {
            s.spawn(move || {
                mode(OnInversion::Panic);
                let _f = first.write();
                let _s = second.write();
            })
            .join()
            .unwrap();
        }
    });
    let _c = c.write();
    let text = inversion(|| a.write());
    let report = captured().pop().unwrap();
    assert_eq!(report.len(), 3);
    let ids: Vec<(u64, u64)> = report
        .cycle
        .iter()
        .map(|e| (e.from.lock.id, e.to.lock.id))
        .collect();
    assert_eq!(
        ids,
        [(c.id(), a.id()), (a.id(), b.id()), (b.id(), c.id())],
        "{text}"
    );
    assert_eq!(text.matches("earlier, ").count(), 2, "{text}");
    let edges: Vec<&str> = text.lines().skip(1).take(3).collect();
    assert!(
        edges[0].ends_with(';') && edges[1].ends_with(';') && edges[2].ends_with('.'),
        "one line per edge, the last one ends the sentence: {text}"
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "threads contend and park: miri rejects parking_lot_core's futex call"
)]
fn consistent_order_never_reports() {
    let locks: Vec<Lock> = (0..5).map(|_| Lock::shared::<Jobs>()).collect();
    std::thread::scope(|s| {
        for t in 0..4usize {
            let locks = &locks;
            s.spawn(move || {
                mode(OnInversion::Panic);
                for round in 0..if cfg!(miri) { 5 } else { 50 } {
                    // Any increasing subset, some reads, some writes, some recursive reads.
                    let mut guards = Vec::new();
                    for (i, lock) in locks.iter().enumerate() {
                        if (round + t + i) % 3 == 0 {
                            continue;
                        }
                        if (round + i) % 2 == 0 {
                            guards.push(lock.read());
                            guards.push(lock.read());
                        } else {
                            guards.push(lock.write());
                        }
                    }
                    // Released in any order.
                    while !guards.is_empty() {
                        guards.remove((round + t) % guards.len());
                    }
                }
                assert!(captured().is_empty());
            });
        }
    });
}

#[test]
fn recursive_read_adds_no_edge() {
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    let _a1 = a.read();
    let _b = b.read(); // a → b
    let _a2 = a.read(); // recursive: no b → a
    assert!(!graph().has_edge(b.id(), a.id()));
    assert!(!graph().has_edge(a.id(), a.id()));
    assert!(graph().has_edge(a.id(), b.id()));
    assert!(captured().is_empty());
}

#[test]
fn read_read_inversion_of_two_locks_is_reported() {
    // With a fair lock, a writer queued on each turns it into a deadlock.
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    {
        let _a = a.read();
        let _b = b.read();
    }
    let _b = b.read();
    let text = inversion(|| a.read());
    assert!(text.contains("All of these are reads"), "{text}");
}

#[test]
fn try_only_order_never_reports() {
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    {
        let _a = a.write();
        let _b = b.try_write().unwrap(); // no a → b
    }
    let _b = b.write();
    let _a = a.try_write().unwrap(); // no b → a
    assert!(!graph().mentions(a.id()));
    assert!(captured().is_empty());
}

#[test]
fn blocking_under_a_try_acquired_guard_adds_an_edge() {
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    {
        let _a = a.try_write().unwrap();
        let _b = b.write(); // a → b: a counts as held
    }
    assert!(graph().has_edge(a.id(), b.id()));
    let _b = b.try_write().unwrap();
    inversion(|| a.write());
}

#[test]
fn forget_removes_the_node_and_its_edges() {
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    let a_id = a.id();
    {
        let _a = a.write();
        let _b = b.write();
    }
    assert!(graph().has_edge(a_id, b.id()));
    drop(a);
    assert!(!graph().mentions(a_id));
    // A new lock (where `a` was, perhaps) starts clean: the inverse order is no inversion.
    let a = Lock::shared::<Jobs>();
    let _b = b.write();
    let _a = a.write();
    drop((_a, _b));
    drop(b);
    assert!(!graph().mentions(a.id()));
    assert!(captured().is_empty());
}

/// `forget` skips the graph for locks whose `MayHaveEdges` bit is clear; the bits may be
/// cleared only once the graph is empty, or a lock forgotten later would leave its edges behind.
#[test]
fn forgetting_one_lock_keeps_the_others_forgettable() {
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    let (c, d) = (Lock::shared::<Jobs>(), Lock::shared::<Log>());
    for (first, second) in [(&a, &b), (&c, &d)] {
        let _first = first.write();
        let _second = second.write();
    }
    let c_id = c.id();
    drop(a); // c → d remains
    drop(c);
    assert!(!graph().mentions(c_id), "c's edge was left behind");
    drop((b, d));
    assert!(captured().is_empty());
}

#[test]
fn panic_mode_records_nothing_so_the_inversion_panics_again() {
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    {
        let _a = a.write();
        let _b = b.write();
    }
    let _b = b.write();
    inversion(|| a.write());
    assert!(!graph().has_edge(b.id(), a.id()));
    inversion(|| a.write());
    assert_eq!(captured().len(), 2);
}

#[test]
fn non_panic_modes_report_once_and_go_on() {
    // `Custom` (`Log` is the same path, with stderr as the handler: see the next test, which
    // keeps its output out of this process's stderr).
    fn quiet(_: &Report) {}
    mode(OnInversion::Custom(quiet));
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    for _ in 0..3 {
        {
            let _a = a.write();
            let _b = b.write();
        }
        let _b = b.write();
        let _a = a.write(); // no panic: the acquisition proceeds
    }
    let reports = captured();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].to_string().contains("lock order"));
    assert!(graph().has_edge(b.id(), a.id()));
}

/// Run by `log_mode_writes_the_report_to_stderr` in a child process; a no-op otherwise.
#[test]
fn log_mode_child() {
    if std::env::var_os("PUSHPULL_LOCK_ORDER_CHILD").is_none() {
        return;
    }
    super::set_on_inversion(OnInversion::Log); // the child's whole process
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    for _ in 0..3 {
        {
            let _a = a.write();
            let _b = b.write();
        }
        let _b = b.write();
        let _a = a.write(); // reported the first time; no panic
    }
    println!("child went on");
}

#[test]
#[cfg_attr(miri, ignore)] // starts a process
fn log_mode_writes_the_report_to_stderr() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lock_order::tests::log_mode_child",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env("PUSHPULL_LOCK_ORDER_CHILD", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("child went on"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("pushpull: lock order inversion (possible deadlock)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("this thread takes Shared<pushpull::lock_order::tests::Jobs>#"),
        "{stderr}"
    );
    assert!(stderr.contains("earlier, "), "{stderr}");
    assert_eq!(
        stderr.matches("lock order inversion").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn custom_mode_hands_over_the_report() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn handler(report: &Report) {
        assert_eq!(report.len(), 2);
        // Relaxed: read back by this thread only.
        CALLS.fetch_add(1, Ordering::Relaxed);
    }
    mode(OnInversion::Custom(handler));
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    {
        let _a = a.write();
        let _b = b.write();
    }
    let _b = b.write();
    let _a = a.write();
    assert_eq!(CALLS.load(Ordering::Relaxed), 1);
}

#[test]
fn wait_group_wait_while_holding_a_lock_its_worker_takes() {
    let jobs = Lock::shared::<Jobs>();
    let group = LockRef::wait_group(NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let spawned_at = Location::caller();
    std::thread::scope(|s| {
        // A worker holds its group's token while it takes `jobs`: group → jobs.
        s.spawn(|| {
            mode(OnInversion::Panic);
            let _token = hold(group, How::Token, spawned_at);
            let _j = jobs.write();
        })
        .join()
        .unwrap();
    });
    mode(OnInversion::Panic);
    let _j = jobs.write();
    let text = inversion(|| before_acquire(group, How::WaitGroupWait, Location::caller()));
    let g = format!("WaitGroup#{}", group.id);
    assert!(
        text.contains(&format!("this thread waits for {g} (here: ")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "earlier, a worker of {g} (spawned at {spawned_at}) took Shared<"
        )),
        "{text}"
    );
    assert!(text.contains("a thread waiting for a WaitGroup"), "{text}");
    forget(group.id);
}

#[test]
fn upgrade_adds_edges_from_the_other_locks_held() {
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    // A modify guard of `a` (a read here), then `b`: a → b. Upgrading `a` waits for a's other
    // readers while holding `b`: b → a closes the cycle.
    let a_modify = a.read();
    let _b = b.read();
    let text = inversion(|| before_acquire(a.lock, How::Upgrade, Location::caller()));
    assert!(text.contains("(upgrade, here: "), "{text}");
    drop(a_modify);
}

/// In a mode that records cycles, an upgrade records the orders from the other locks held,
/// never one from the upgraded lock to itself.
#[test]
fn an_upgrade_records_no_order_from_the_lock_to_itself() {
    fn quiet(_: &Report) {}
    mode(OnInversion::Custom(quiet));
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    let a_modify = a.read();
    let _b = b.read(); // a → b
    before_acquire(a.lock, How::Upgrade, Location::caller()); // b → a
    assert_eq!(captured().len(), 1);
    assert!(graph().has_edge(b.id(), a.id()));
    assert!(!graph().has_edge(a.id(), a.id()));
    drop(a_modify);
}

/// In `Panic` mode, an inversion found while the thread unwinds from another panic is printed
/// instead: a second panic would abort the process.
#[test]
fn an_inversion_found_while_unwinding_is_printed_not_raised() {
    struct TakesAUnderB<'a>(&'a Lock, &'a Lock);
    impl Drop for TakesAUnderB<'_> {
        fn drop(&mut self) {
            let _b = self.1.write();
            let _a = self.0.write(); // b → a, while unwinding
        }
    }
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    {
        let _a = a.write();
        let _b = b.write(); // a → b
    }
    // The printed copy is checked by `log_mode_writes_the_report_to_stderr` (the same branch
    // of `deliver`); here it is captured only.
    let unwound = quietly(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let _takes = TakesAUnderB(&a, &b);
            panic!("the first panic");
        }))
    });
    assert_eq!(message(unwound.unwrap_err()), "the first panic");
    assert_eq!(captured().len(), 1, "the inversion was found and delivered");
}

#[test]
fn known_orders_take_no_global_lock() {
    mode(OnInversion::Panic);
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    let start = slow_paths();
    let _alone = a.write(); // nothing held: no graph
    assert_eq!(slow_paths(), start);
    let _b = b.write(); // new order a → b: the graph, once
    assert_eq!(slow_paths(), start + 1);
    drop((_b, _alone));
    for _ in 0..10 {
        let _a = a.write();
        let _b = b.read();
        let _b2 = b.read(); // recursive: nothing
    }
    assert_eq!(slow_paths(), start + 1);
}

#[test]
fn held_marks_release_in_any_order_and_change_in_place() {
    let (a, b) = (Lock::shared::<Jobs>(), Lock::shared::<Results>());
    let ga = a.write();
    let gb = b.read();
    let ids = |held: Vec<super::Held>| held.iter().map(|h| h.lock.id).collect::<Vec<_>>();
    assert_eq!(ids(local::held()), [a.id(), b.id()]);
    gb._mark.change(How::Upgrade, Location::caller());
    assert_eq!(local::held()[1].how, How::Upgrade);
    drop(ga);
    assert_eq!(ids(local::held()), [b.id()]);
    drop(gb);
    assert!(local::held().is_empty());
}

#[test]
fn standard_paths_are_shortened_in_names() {
    assert_eq!(
        short_type_name(std::any::type_name::<Vec<String>>()),
        "Vec<String>"
    );
    assert_eq!(
        short_type_name(std::any::type_name::<std::collections::HashMap<u8, Jobs>>()),
        "HashMap<u8, pushpull::lock_order::tests::Jobs>"
    );
}

/// The held list against a model: marks taken and dropped in a pseudo-random order (any
/// position, not only the last), up to three times the inline slots deep, so that entries
/// move between the inline slots and the overflow and `change` finds them in both.
#[test]
fn held_list_matches_a_model_through_the_inline_slots_and_the_overflow() {
    let mut model: Vec<(u64, HeldMark)> = Vec::new();
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = move || {
        // xorshift64: a fixed sequence, so a failure is reproducible.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let at = Location::caller();
    let mut deepest = 0;
    // Every step holds a fresh lock after up to 24 others, so the order graph grows by up to
    // 24 edges a step: under miri 4 000 steps took over an hour; 400 still go 17+ deep.
    let steps = if cfg!(miri) { 400 } else { 4_000 };
    for step in 0..steps {
        let r = next();
        if model.len() < 24 && (model.is_empty() || r % 8 < 5) {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            model.push((id, hold(LockRef::shared::<Jobs>(id), How::Read, at)));
        } else {
            let i = (next() % model.len() as u64) as usize;
            if r % 3 == 0 {
                model[i].1.change(How::Upgrade, at);
            }
            drop(model.remove(i));
        }
        deepest = deepest.max(model.len());
        let held = local::held();
        let ids: Vec<u64> = held.iter().map(|h| h.lock.id).collect();
        let want: Vec<u64> = model.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, want, "after step {step}");
        assert!(
            !local::top_is_a_hole(),
            "a hole left at the top after step {step}"
        );
        if model.is_empty() {
            assert_eq!(local::depth(), 0, "holes left at the top after step {step}");
        }
    }
    assert!(deepest > 16, "the walk went {deepest} deep only");
    // `change` reaches an entry in the overflow as well as an inline one.
    while model.len() < 12 {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        model.push((id, hold(LockRef::shared::<Jobs>(id), How::Read, at)));
    }
    model[0].1.change(How::Modify, at);
    model[11].1.change(How::Write, at);
    let held = local::held();
    assert_eq!((held[0].how, held[11].how), (How::Modify, How::Write));
    drop(model);
    assert!(local::held().is_empty());
    // Dropped from the bottom up: every release but the last leaves a hole, and the last one
    // pops them all, so a thread's list never grows past what it holds at once.
    assert_eq!(local::depth(), 0, "holes left at the top");
}

/// Releases in the inline slots: out of order (every hole that ends up on top is popped at
/// once), and in order through all of them.
#[test]
fn a_release_pops_every_hole_left_on_top_of_the_inline_slots() {
    let at = Location::caller();
    let mut marks: Vec<Option<HeldMark>> = (0..4)
        .map(|_| {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            Some(hold(LockRef::shared::<Jobs>(id), How::Read, at))
        })
        .collect();
    drop(marks[3].take()); // the top, fast: depth 3, slot 3 left as it was
    assert_eq!(local::depth(), 3);
    drop(marks[1].take()); // below the top: a hole
    assert_eq!(local::depth(), 3);
    drop(marks[2].take()); // the top, above a hole: both go
    assert_eq!(local::depth(), 1);
    assert!(!local::top_is_a_hole());
    drop(marks[0].take());
    assert_eq!(local::depth(), 0);
    // Every inline slot filled, then released from the top down: the fast path, up to the
    // last inline slot.
    let mut full: Vec<HeldMark> = (0..8)
        .map(|_| {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            hold(LockRef::shared::<Jobs>(id), How::Read, at)
        })
        .collect();
    while let Some(mark) = full.pop() {
        drop(mark);
        assert_eq!(local::depth(), full.len());
    }
}

#[test]
fn an_inversion_is_reported_while_more_guards_are_held_than_the_inline_slots() {
    mode(OnInversion::Panic);
    let locks: Vec<Lock> = (0..12).map(|_| Lock::shared::<Log>()).collect();
    {
        // 0 → 1 → … → 11, the last ones from the overflow.
        let _all: Vec<Guard<'_>> = locks.iter().map(Lock::write).collect();
    }
    let _last = locks[11].write();
    let text = inversion(|| locks[10].write());
    assert!(text.contains("lock order"), "{text}");
}
