//! The contention profile (`--features profile`): attribution of waits to holders and
//! waiters, classes by creation site, sampling, bounded memory, the push/pull and `WaitGroup`
//! waits of threads and tasks, and the three outputs (table, pprof, folded stacks).
//!
//! No timing assertions: where a test needs a hold to last, it *enforces* the hold (the
//! waiters are observed blocked first) and asserts lower bounds that follow from it. Every
//! blocking call is bounded. The profile is process-wide, so the tests take turns (`turn`).
#![cfg(all(feature = "profile", not(loom)))]

mod common;

use common::{bounded, CountingWaker, TIMEOUT};
use pushpull::profile::{self, Access, ClassProfile, ProfileConfig, Report, SiteProfile, What};
use pushpull::{ModifyGuard, Shared, WaitGroup};
use std::future::Future;
use std::io::Read;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

/// The profile is one per process: tests that enable it take turns, each starting from an
/// empty profile recording every event.
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    let guard = TURN.lock().unwrap_or_else(|e| e.into_inner());
    profile::enable(ProfileConfig {
        sample_every: 1,
        reset: true,
    });
    guard
}

/// The class of the objects created at `file:line`, if it recorded anything.
fn find_class(report: &Report, line: u32) -> Option<&ClassProfile> {
    report
        .classes()
        .iter()
        .find(|c| c.created_at.file() == file!() && c.created_at.line() == line)
}

/// The class of the objects created at `file:line`.
fn class(report: &Report, line: u32) -> &ClassProfile {
    find_class(report, line)
        .unwrap_or_else(|| panic!("no class created at {}:{line} in:\n{report}", file!()))
}

/// The "(other)" row of `class`: the waits charged to no recorded holder (or to sites past
/// the limit).
fn other_row(class: &ClassProfile) -> &SiteProfile {
    class
        .sites
        .iter()
        .find(|s| s.site.is_none())
        .unwrap_or_else(|| panic!("no (other) row in {class:#?}"))
}

/// The row of the call site at `line` of `class`.
fn site(class: &ClassProfile, line: u32) -> &SiteProfile {
    class
        .sites
        .iter()
        .find(|s| {
            s.site
                .is_some_and(|l| l.file() == file!() && l.line() == line)
        })
        .unwrap_or_else(|| panic!("no site at line {line} in {class:#?}"))
}

/// This thread's id in `/proc/self/task` (Linux).
fn tid() -> String {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    link.file_name().unwrap().to_string_lossy().into_owned()
}

/// Whether thread `tid` of this process is asleep in the kernel (state `S`): for a thread that
/// announced it is about to block on a lock, that it is parked on it.
fn asleep(tid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'))
}

/// Spins until every thread in `tids` is asleep (bounded).
fn until_asleep(tids: &[String]) {
    let give_up = Instant::now() + TIMEOUT;
    while !tids.iter().all(|t| asleep(t)) {
        assert!(Instant::now() < give_up, "the waiters never blocked");
        thread::yield_now();
    }
}

/// Spins until `cond()` (bounded).
fn until(what: &str, cond: impl Fn() -> bool) {
    let give_up = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        thread::yield_now();
    }
}

/// The hold the attribution test enforces.
const HOLD: Duration = Duration::from_millis(20);

#[test]
#[cfg(target_os = "linux")]
fn a_holder_that_makes_two_threads_wait_is_charged_with_both_waits() {
    let _turn = turn();
    let report = bounded("attribution", || {
        let (stats, created) = (Arc::new(Shared::new(0u64)), line!());
        let (holding_tx, holding_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = {
            let stats = Arc::clone(&stats);
            thread::spawn(move || {
                let (mut guard, held_at) = (stats.write(), line!());
                *guard += 1;
                holding_tx.send(held_at).unwrap();
                release_rx.recv().unwrap();
                // The hold this test enforces: both waiters are already blocked.
                let start = Instant::now();
                while start.elapsed() < HOLD {
                    thread::yield_now();
                }
                drop(guard);
                start
            })
        };
        let held_at = holding_rx.recv().unwrap();
        let waiter = |write: bool| {
            let stats = Arc::clone(&stats);
            let (tx, rx) = mpsc::channel();
            let handle = thread::spawn(move || {
                tx.send(tid()).unwrap();
                if write {
                    let (mut guard, line) = (stats.write(), line!());
                    *guard += 1;
                    line
                } else {
                    let (_guard, line) = (stats.read(), line!());
                    line
                }
            });
            (rx.recv().unwrap(), handle)
        };
        let (writer_tid, writer) = waiter(true);
        let (reader_tid, reader) = waiter(false);
        until_asleep(&[writer_tid, reader_tid]);
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        let writer_line = writer.join().unwrap();
        let reader_line = reader.join().unwrap();
        (
            profile::report(),
            created,
            held_at,
            writer_line,
            reader_line,
        )
    });
    let (report, created, held_at, writer_line, reader_line) = report;
    let class = class(&report, created);
    assert_eq!(class.what, What::Shared);
    assert_eq!(class.type_name, "u64");
    let holder = site(class, held_at);
    assert_eq!(holder.caused.contentions, 2, "two threads waited: {report}");
    assert!(
        holder.caused.delay >= 2 * HOLD,
        "each waiter waited at least the enforced hold: {:?} < 2 × {HOLD:?}\n{report}",
        holder.caused.delay
    );
    assert_eq!(holder.contentions(), 0, "the holder itself never waited");
    let writer = site(class, writer_line);
    assert_eq!(writer.write.count, 1);
    assert!(writer.write.total >= HOLD && writer.write.max >= HOLD);
    assert_eq!(writer.write.histogram.iter().sum::<u64>(), 1);
    assert_eq!(writer.held.count, 1, "a contended write's hold is timed");
    let reader = site(class, reader_line);
    assert_eq!(reader.read.count, 1);
    assert!(reader.read.total >= HOLD);
    assert_eq!(reader.held.count, 0, "a read's hold is not timed");
    // Every wait is charged to the holder's site, none to the waiters'.
    let caused: u64 = class.sites.iter().map(|s| s.caused.contentions).sum();
    assert_eq!(caused, 2, "{report}");
    let text = report.to_string();
    assert!(text.contains("Shared<u64> created at"), "{text}");
    assert!(text.contains(&format!("{}:{held_at}:", file!())), "{text}");
    assert!(
        text.contains(&format!("{}:{writer_line}:", file!())),
        "{text}"
    );
}

/// Runs `f` while another thread holds a read guard of `shared`; returns what `f` returned
/// and the line the read was taken at (`second`: another line, for a second holder site).
fn while_read_elsewhere<T: Send + Sync, R>(
    shared: &Shared<T>,
    second: bool,
    f: impl FnOnce() -> R,
) -> (R, u32) {
    let (held_tx, held_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        s.spawn(move || {
            let (_read, line) = if second {
                (shared.read(), line!())
            } else {
                (shared.read(), line!())
            };
            held_tx.send(line).unwrap();
            done_rx.recv_timeout(TIMEOUT).unwrap();
        });
        let line = held_rx.recv_timeout(TIMEOUT).unwrap();
        let result = f();
        done_tx.send(()).unwrap();
        (result, line)
    })
}

/// A `Shared<u64>` created always at the same line, and that line.
fn new_counter() -> (Shared<u64>, u32) {
    (Shared::new(0), line!())
}

/// Makes `shared`'s `write` wait at the caller's site and give up: another thread holds a read.
fn contend(shared: &Shared<u64>) {
    while_read_elsewhere(shared, false, || {
        assert!(timed_write(shared).is_none(), "a reader holds the lock");
    });
}

/// `try_write_for` with no time to wait, at the caller's site.
#[track_caller]
fn timed_write(shared: &Shared<u64>) -> Option<pushpull::WriteGuard<'_, u64>> {
    shared.try_write_for(Duration::ZERO)
}

#[test]
fn shareds_created_at_one_site_are_one_class() {
    let _turn = turn();
    let (first, created) = new_counter();
    contend(&first);
    drop(first);
    let (second, again) = new_counter();
    assert_eq!(created, again);
    contend(&second);
    let (third, _) = new_counter();
    let report = profile::report();
    let class = class(&report, created);
    let gave_up: u64 = class.sites.iter().map(|s| s.write.count).sum();
    assert_eq!(gave_up, 2, "both Shareds' waits in one class:\n{report}");
    assert_eq!(
        class.sites.iter().map(|s| s.write.timed_out).sum::<u64>(),
        2
    );
    let classes = report
        .classes()
        .iter()
        .filter(|c| c.created_at.line() == created && c.created_at.file() == file!())
        .count();
    assert_eq!(classes, 1);
    drop((second, third));
}

#[test]
fn sampling_at_n_records_about_one_event_in_n() {
    let _turn = turn();
    const N: u32 = 10;
    const EVENTS: u64 = 20_000;
    profile::enable(ProfileConfig {
        sample_every: N,
        reset: true,
    });
    let (shared, created) = new_counter();
    while_read_elsewhere(&shared, false, || {
        for _ in 0..EVENTS {
            assert!(timed_write(&shared).is_none()); // each one a contended write that gives up
        }
    });
    let report = profile::report();
    assert_eq!(report.sample_every(), N);
    let class = class(&report, created);
    let samples: u64 = class.sites.iter().map(|s| s.write.samples).sum();
    let count: u64 = class.sites.iter().map(|s| s.write.count).sum();
    // Binomial(20 000, 1/10): mean 2000, standard deviation 42.4; ±6 σ fails once in ~5e8.
    let (mean, sd) = (
        EVENTS as f64 / f64::from(N),
        (EVENTS as f64 * 0.1 * 0.9).sqrt(),
    );
    assert!(
        (samples as f64 - mean).abs() <= 6.0 * sd,
        "{samples} sampled of {EVENTS} at 1 in {N}"
    );
    assert_eq!(count, samples * u64::from(N), "counts are scaled back by N");
    let caused: u64 = class.sites.iter().map(|s| s.caused.contentions).sum();
    assert_eq!(caused, count, "every sampled wait is charged to a holder");
}

#[test]
fn sites_beyond_the_limit_fold_into_one_other_row_however_long_the_run() {
    let _turn = turn();
    let (shared, created) = new_counter();
    while_read_elsewhere(&shared, false, || {
        let s = &shared;
        for _ in 0..50 {
            // 40 distinct call sites (columns).
            let _ = (
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
            );
            let _ = (
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
            );
            let _ = (
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
            );
            let _ = (
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
            );
            let _ = (
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
            );
            let _ = (
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
            );
            let _ = (
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
            );
            let _ = (
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
                timed_write(s),
            );
        }
    });
    let report = profile::report();
    let class = class(&report, created);
    // 40 waiter sites and 1 holder site: 32 rows with a site, then "(other)".
    assert_eq!(
        class.sites.len(),
        profile::MAX_SITES_PER_CLASS + 1,
        "{report}"
    );
    let other = other_row(class);
    let waits: u64 = class.sites.iter().map(|s| s.write.count).sum();
    assert_eq!(waits, 40 * 50, "nothing lost, only folded");
    assert!(other.write.count >= 8 * 50, "{other:?}");
    assert!(report.to_string().contains("(other)"));
}

#[test]
fn a_disabled_profile_records_nothing_and_reset_forgets() {
    let _turn = turn();
    profile::disable();
    assert!(!profile::is_enabled());
    let (shared, created) = new_counter();
    contend(&shared);
    assert!(
        find_class(&profile::report(), created).is_none(),
        "recorded while disabled"
    );
    profile::enable(ProfileConfig::default());
    contend(&shared);
    let report = profile::report();
    let class = class(&report, created);
    assert_eq!(
        report.class(&class.created_at).map(|c| c.created_at),
        Some(class.created_at)
    );
    profile::reset();
    assert!(profile::report().is_empty(), "reset forgets everything");
}

#[test]
fn an_upgrade_that_waits_for_a_reader_is_charged_to_the_readers_site() {
    let _turn = turn();
    let (shared, created) = new_counter();
    let modify = shared.modify();
    let ((modify, upgrade_line), read_line) = while_read_elsewhere(&shared, false, || {
        const ZERO: Duration = Duration::ZERO;
        let (upgraded, line) = (ModifyGuard::try_upgrade_for(modify, ZERO), line!());
        (upgraded.unwrap_err(), line)
    });
    drop(modify);
    let report = profile::report();
    let class = class(&report, created);
    let upgrade = site(class, upgrade_line);
    assert_eq!((upgrade.upgrade.count, upgrade.upgrade.timed_out), (1, 1));
    assert_eq!(upgrade.waited(Access::Upgrade).count, 1);
    assert_eq!(site(class, read_line).caused.contentions, 1, "{report}");
}

/// Polls `future` once with `waker`.
fn poll_once<F: Future>(
    future: std::pin::Pin<&mut F>,
    waker: &std::task::Waker,
) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

#[test]
fn tasks_waiting_with_wait_async_are_counted_like_threads() {
    let _turn = turn();
    let (shared, created) = new_counter();
    // A thread: its predicate is false on 0 and 1, true on 2; it is pushed to only after it
    // has evaluated the predicate (so it waits, and wakes twice).
    let evaluated = AtomicUsize::new(0);
    let thread_line = thread::scope(|s| {
        let waiter = s.spawn(|| {
            let two = |v: &u64| {
                evaluated.fetch_add(1, Ordering::SeqCst);
                *v >= 2
            };
            let (guard, line) = (shared.wait_until(two).unwrap(), line!());
            assert_eq!(*guard, 2);
            line
        });
        until("first evaluation", || evaluated.load(Ordering::SeqCst) >= 1);
        shared.push(|v| *v = 1);
        until("second evaluation", || {
            evaluated.load(Ordering::SeqCst) >= 2
        });
        shared.push(|v| *v = 2);
        waiter.join().unwrap()
    });
    // A task: the same, polled by hand.
    let (_count, waker) = CountingWaker::new();
    let (task_shared, _) = new_counter();
    let (until_two, task_line) = (task_shared.wait_until_async(|v| *v >= 2), line!());
    let mut until_two = pin!(until_two);
    assert!(poll_once(until_two.as_mut(), &waker).is_pending());
    task_shared.push(|v| *v = 1);
    assert!(poll_once(until_two.as_mut(), &waker).is_pending());
    task_shared.push(|v| *v = 2);
    assert!(matches!(poll_once(until_two.as_mut(), &waker), Poll::Ready(Ok(g)) if *g == 2));
    let report = profile::report();
    let thread_row = site(class(&report, created), thread_line);
    let task_row = site(class(&report, created), task_line);
    for (who, row) in [("thread", thread_row), ("task", task_row)] {
        let p = &row.pull;
        assert_eq!(p.waits.count, 1, "{who}: one wait");
        assert_eq!(p.wakes, 2, "{who}: woken by both pushes");
        assert_eq!(
            p.woke_for_nothing, 1,
            "{who}: 1 did not satisfy the predicate"
        );
        assert_eq!(p.skipped_versions, 0, "{who}");
        assert_eq!(p.waits.timed_out, 0, "{who}");
    }
}

#[test]
fn pullers_report_skipped_versions_and_timeouts_blocking_and_async() {
    let _turn = turn();
    let (shared, created) = new_counter();
    let mut puller = shared.puller();
    for _ in 0..3 {
        shared.push(|v| *v += 1);
    }
    let (pulled, pull_line) = (puller.pull(), line!());
    assert_eq!(pulled, Some(3));
    let timeout_line = line!() + 1; // the wait on the next line
    let timed_out = puller.wait_for(Duration::from_millis(1)).unwrap().is_none();
    assert!(timed_out);
    let (_count, waker) = CountingWaker::new();
    {
        let (wait, async_line) = (puller.wait_async(), line!());
        let mut wait = Box::pin(wait);
        assert!(poll_once(wait.as_mut(), &waker).is_pending());
        drop(wait); // dropped pending: how a timeout around an await ends it
        let report = profile::report();
        let class = class(&report, created);
        assert_eq!(
            site(class, pull_line).pull.skipped_versions,
            2,
            "v1, v2 never seen"
        );
        let timed = &site(class, timeout_line).pull.waits;
        assert_eq!((timed.count, timed.timed_out), (1, 1));
        let dropped = &site(class, async_line).pull.waits;
        assert_eq!((dropped.count, dropped.timed_out), (1, 1));
    }
    let pushed = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..4 {
                shared.push(|v| *v += 1);
            }
            pushed.store(true, Ordering::SeqCst);
        });
        until("pushed", || pushed.load(Ordering::SeqCst));
    });
    let (waited, wait_line) = (puller.wait(), line!());
    drop(waited);
    let report = profile::report();
    let class = class(&report, created);
    assert_eq!(
        site(class, wait_line).pull.skipped_versions,
        3,
        "4 pushes, 1 seen"
    );
    assert!(
        site(class, wait_line).pull.waits.is_empty(),
        "it did not have to wait"
    );
}

#[test]
fn wait_group_waits_are_charged_to_the_groups_creation_site() {
    let _turn = turn();
    let (wg, created) = (WaitGroup::new(), line!());
    let token = wg.token();
    let (done, timed_line) = (wg.wait_for(Duration::from_millis(1)), line!());
    assert!(!done);
    let (_count, waker) = CountingWaker::new();
    let (wait, async_line) = (wg.wait_async(), line!());
    let mut wait = pin!(wait);
    assert!(poll_once(wait.as_mut(), &waker).is_pending());
    drop(token);
    assert!(poll_once(wait.as_mut(), &waker).is_ready());
    wg.wait(); // nothing outstanding: not a wait
    let report = profile::report();
    let class = class(&report, created);
    assert_eq!(class.what, What::WaitGroup);
    assert_eq!(class.name(), "WaitGroup");
    let timed = &site(class, timed_line).group_waits;
    assert_eq!((timed.count, timed.timed_out), (1, 1));
    let waited = &site(class, async_line).group_waits;
    assert_eq!((waited.count, waited.timed_out), (1, 0));
    assert_eq!(class.sites.len(), 2, "a wait that did not wait is no event");
    assert!(report.to_string().contains("WaitGroup created at"));
}

// --- outputs -----------------------------------------------------------------------------------

/// pprof's `profile.proto` (package `perftools.profiles`), the messages and fields a reader
/// of this profile needs, declared here independently of the library's encoder.
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub mapping: Vec<Mapping>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub period: i64,
        #[prost(int64, repeated, tag = "13")]
        pub comment: Vec<i64>,
        #[prost(int64, tag = "14")]
        pub default_sample_type: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Mapping {
        #[prost(uint64, tag = "1")]
        pub id: u64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub mapping_id: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
        #[prost(int64, tag = "5")]
        pub start_line: i64,
    }
}

/// A report with caused delays at two holder sites of one class.
fn two_holders() -> (Report, u32, u32, u32) {
    let (shared, created) = new_counter();
    let mut lines = Vec::new();
    for second in [false, true] {
        let ((), line) = while_read_elsewhere(&shared, second, || {
            for _ in 0..3 {
                assert!(timed_write(&shared).is_none());
            }
        });
        lines.push(line);
    }
    (profile::report(), created, lines[0], lines[1])
}

#[test]
fn write_pprof_is_a_gzip_pprof_with_the_mutex_profile_sample_types() {
    let _turn = turn();
    let (report, created, first, second) = two_holders();
    let mut gz = Vec::new();
    report.write_pprof(&mut gz).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzip magic");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .unwrap();
    let p: proto::Profile = prost::Message::decode(&raw[..]).expect("a profile.proto Profile");
    let s = |i: i64| p.string_table[usize::try_from(i).unwrap()].as_str();
    assert_eq!(s(0), "", "string_table[0] is empty");
    let types: Vec<(&str, &str)> = p
        .sample_type
        .iter()
        .map(|t| (s(t.r#type), s(t.unit)))
        .collect();
    assert_eq!(types, [("contentions", "count"), ("delay", "nanoseconds")]);
    let period = p.period_type.as_ref().unwrap();
    assert_eq!(
        (s(period.r#type), s(period.unit), p.period),
        ("contentions", "count", 1)
    );
    assert!(p.time_nanos > 0 && p.duration_nanos > 0);
    // Every id a sample names exists; ids are non-zero.
    let name_of = |loc: u64| {
        let l = p
            .location
            .iter()
            .find(|l| l.id == loc)
            .expect("location id");
        let f = p
            .function
            .iter()
            .find(|f| f.id == l.line[0].function_id)
            .expect("function id");
        (
            s(f.name).to_string(),
            s(f.filename).to_string(),
            l.line[0].line,
        )
    };
    let class = class(&report, created);
    let mut seen = 0;
    for sample in &p.sample {
        assert_eq!(sample.location_id.len(), 2, "holder site under its class");
        assert_eq!(sample.value.len(), 2);
        let (leaf, leaf_file, leaf_line) = name_of(sample.location_id[0]);
        let (root, _, root_line) = name_of(sample.location_id[1]);
        if root_line != i64::from(created) || !root.contains(file!()) {
            continue; // another test's class (none: each test resets), or another class
        }
        assert!(root.starts_with("Shared[u64] "), "{root}");
        assert_eq!(leaf_file, file!());
        let row = site(class, u32::try_from(leaf_line).unwrap());
        assert!(
            leaf.starts_with(&format!("{}:{leaf_line}:", file!())),
            "{leaf}"
        );
        assert_eq!(
            sample.value[0],
            i64::try_from(row.caused.contentions).unwrap()
        );
        assert_eq!(
            sample.value[1],
            i64::try_from(row.caused.delay.as_nanos()).unwrap()
        );
        assert_eq!(sample.value[0], 3, "three waits per holder");
        seen += 1;
        assert!(leaf_line == i64::from(first) || leaf_line == i64::from(second));
    }
    assert_eq!(seen, 2, "one sample per holder site");
}

#[test]
fn write_folded_has_one_line_per_class_and_holder_site() {
    let _turn = turn();
    let (report, created, first, second) = two_holders();
    let mut out = Vec::new();
    report.write_folded(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let class = class(&report, created);
    let root = format!("Shared<u64> ({}:{created}:", file!());
    let mut total = 0u128;
    for line in text.lines().filter(|l| l.starts_with(&root)) {
        let (stack, value) = line.rsplit_once(' ').expect("stack value");
        let frames: Vec<&str> = stack.split(';').collect();
        assert_eq!(frames.len(), 2, "{line}");
        assert!(
            frames[1].starts_with(&format!("{}:{first}:", file!()))
                || frames[1].starts_with(&format!("{}:{second}:", file!())),
            "{line}"
        );
        total += value.parse::<u128>().unwrap();
    }
    assert_eq!(total, class.caused_total().as_nanos(), "{text}");
    assert!(total > 0);
}

#[test]
fn a_type_name_with_a_semicolon_stays_one_folded_frame() {
    let _turn = turn();
    let (arrays, created) = (Shared::new([0u8; 2]), line!());
    while_read_elsewhere(&arrays, false, || {
        assert!(arrays.try_write_for(Duration::ZERO).is_none());
    });
    let report = profile::report();
    assert_eq!(class(&report, created).type_name, "[u8; 2]");
    let mut out = Vec::new();
    report.write_folded(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Shared<[u8, 2]>"))
        .expect(&text);
    assert_eq!(line.split(';').count(), 2, "{line}");
}

#[test]
fn a_shared_created_before_enable_records_holders_from_its_first_contended_wait() {
    let _turn = turn();
    profile::disable();
    let (shared, created) = new_counter(); // not armed: profiling was off
    profile::enable(ProfileConfig::default());
    // The first contended wait finds no holder recorded: charged to "(other)"; it arms the
    // Shared, so the next holder's site is recorded.
    let ((), first) =
        while_read_elsewhere(&shared, false, || assert!(timed_write(&shared).is_none()));
    let ((), second) =
        while_read_elsewhere(&shared, true, || assert!(timed_write(&shared).is_none()));
    let report = profile::report();
    let class = class(&report, created);
    let other = other_row(class);
    assert_eq!(other.caused.contentions, 1, "{report}");
    assert_ne!(first, second);
    assert_eq!(site(class, second).caused.contentions, 1, "{report}");
    assert!(class
        .sites
        .iter()
        .all(|s| s.site.map(|l| l.line()) != Some(first)));
}

/// Regression: reads record their site whether or not the `Shared` is armed (a plain store is
/// cheaper than testing the switch), so arming must forget that site: a writer that took the
/// lock before the switch (unrecorded) and still holds it is no reader's fault.
#[test]
fn arming_forgets_the_site_a_read_stored_before_it() {
    let _turn = turn();
    profile::disable();
    let (shared, created) = new_counter();
    let read_line = {
        let (_read, line) = (shared.read(), line!());
        line
    };
    profile::enable(ProfileConfig::default());
    let (held_tx, held_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let shared = &shared;
        s.spawn(move || {
            let _write = shared.write(); // not armed yet: its site is not recorded
            held_tx.send(()).unwrap();
            done_rx.recv_timeout(TIMEOUT).unwrap();
        });
        held_rx.recv_timeout(TIMEOUT).unwrap();
        assert!(timed_write(shared).is_none(), "the writer holds the lock"); // arms it
        assert!(timed_write(shared).is_none(), "the writer still holds it");
        done_tx.send(()).unwrap();
    });
    let report = profile::report();
    let class = class(&report, created);
    let other = other_row(class);
    assert_eq!(other.caused.contentions, 2, "{report}");
    assert!(
        class
            .sites
            .iter()
            .all(|s| s.site.map(|l| l.line()) != Some(read_line)),
        "charged to a read that had left: {report}"
    );
}

/// A modify that had to wait has its hold timed, whether it ends as a modify guard (the flag
/// in the guard) or after an upgrade (owed after the write guard's unlock): one hold each.
#[test]
#[cfg(target_os = "linux")]
fn a_contended_modify_has_its_hold_timed_upgraded_or_not() {
    for upgrade in [false, true] {
        let _turn = turn();
        let (created, line) = bounded("contended modify", move || {
            let (shared, created) = new_counter();
            let shared = &shared;
            let (held_tx, held_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            thread::scope(|s| {
                s.spawn(move || {
                    let _modify = shared.modify();
                    held_tx.send(()).unwrap();
                    release_rx.recv_timeout(TIMEOUT).unwrap();
                });
                held_rx.recv_timeout(TIMEOUT).unwrap();
                let (tid_tx, tid_rx) = mpsc::channel();
                let waiter = s.spawn(move || {
                    tid_tx.send(tid()).unwrap();
                    let (modify, line) = (shared.modify(), line!());
                    if upgrade {
                        *ModifyGuard::upgrade(modify) += 1;
                    } else {
                        drop(modify);
                    }
                    line
                });
                until_asleep(&[tid_rx.recv_timeout(TIMEOUT).unwrap()]);
                release_tx.send(()).unwrap();
                (created, waiter.join().unwrap())
            })
        });
        let report = profile::report();
        let waiter = site(class(&report, created), line);
        assert_eq!(waiter.modify.count, 1, "{report}");
        assert_eq!(waiter.held.count, 1, "upgrade: {upgrade}\n{report}");
    }
}
