#![cfg(loom)]
//! `WaitGroup`: wake-ups of `wait`, several waiters, re-arming, tokens, and the visibility of
//! the workers' writes. A lost wake-up shows as a loom deadlock.

use loom::sync::atomic::AtomicUsize;
use loom::thread;
use pushpull::WaitGroup;
use pushpull_loom_tests::harness::check;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// No lost wake-up between the last `done` (on a worker) and `wait` (on the main thread).
#[test]
fn last_done_wakes_the_waiter() {
    // Unbounded (exhaustive).
    check("wait_group::done_vs_wait", None, || {
        let wg = WaitGroup::new();
        wg.add(1);
        let worker = {
            let wg = wg.clone();
            thread::spawn(move || wg.done())
        };
        wg.wait();
        assert_eq!(wg.count(), 0);
        worker.join().unwrap();
    });
}

/// The waiter arrives concurrently with the last `done`: it may start before, during or after
/// it, and returns in every case.
#[test]
fn waiter_arriving_concurrently_with_the_last_done_returns() {
    // Unbounded (exhaustive).
    check("wait_group::waiter_arrives_concurrently", None, || {
        let wg = WaitGroup::new();
        wg.add(2);
        let waiter = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait())
        };
        wg.done();
        wg.done(); // the last one
        waiter.join().unwrap();
    });
}

/// Two threads waiting at once are both released by the last `done`.
#[test]
fn two_concurrent_waiters_are_both_released() {
    // Bound 3: three threads on the state word and the event's mutex and condvar; exhaustive
    // runs of three-thread WaitGroup models take minutes (loom-pitfalls, and `seed.rs`:
    // 1,019,205 iterations / 86 s unbounded). 2 preemptions catch every lost wake-up seen so
    // far; 3 keeps a margin.
    check("wait_group::two_waiters", Some(3), || {
        let wg = WaitGroup::new();
        wg.add(1);
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let wg = wg.clone();
                thread::spawn(move || wg.wait())
            })
            .collect();
        wg.done();
        for waiter in waiters {
            waiter.join().unwrap();
        }
    });
}

/// Re-arming right after the last `done`, while a waiter of the finished round may still be
/// waking up: that waiter returns anyway. It waits for its round to end (the generation), not
/// for a zero count: a count-based waiter woken after the re-arm would see a count of 1, park
/// again with its waiting flag already cleared, and sleep through the final `done` (a loom
/// deadlock here).
///
/// A waiter that starts after the re-arm legitimately waits for the next round, and the API
/// cannot tell from outside which round a waiter joined, so the model ends the second round
/// too; the waiters that returned while the second round was still open (seen through a std
/// flag, which follows loom's schedule exactly) are counted across all interleavings, and the
/// test requires some: a count-based group could never return before the final `done`.
#[test]
fn rearming_after_the_last_done_still_releases_the_waiter() {
    use std::sync::atomic::{AtomicBool as StdBool, AtomicUsize as StdUsize};
    static RETURNED_WHILE_REARMED: StdUsize = StdUsize::new(0);
    // Unbounded (exhaustive).
    check("wait_group::rearm_while_waiter_wakes", None, || {
        let wg = WaitGroup::new();
        let final_done_started = Arc::new(StdBool::new(false));
        wg.add(1);
        let waiter = {
            let (wg, final_done_started) = (wg.clone(), Arc::clone(&final_done_started));
            thread::spawn(move || {
                wg.wait();
                if !final_done_started.load(Relaxed) {
                    RETURNED_WHILE_REARMED.fetch_add(1, Relaxed);
                }
            })
        };
        wg.done();
        wg.add(1); // the next round starts at once
        final_done_started.store(true, Relaxed);
        wg.done();
        waiter.join().unwrap();
        wg.wait();
    });
    let early = RETURNED_WHILE_REARMED.load(Relaxed);
    eprintln!("[loom] wait_group::rearm_while_waiter_wakes: {early} interleavings returned while re-armed");
    assert!(
        early > 0,
        "no waiter ever returned while the group was re-armed"
    );
}

/// Dropping a token is `done`: tokens moved into workers release the waiter, also a token
/// dropped while its worker unwinds from a panic (caught on the worker), which `panicked`
/// counts. The workers run one after the other here; see the next model for the concurrent
/// case.
#[test]
fn token_drop_is_done_also_when_panicking() {
    // Unbounded (exhaustive).
    check("wait_group::token_drop_is_done", None, || {
        let wg = WaitGroup::new();
        let calm_token = wg.token();
        let panicking_token = wg.token();
        let worker = thread::spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _token = panicking_token;
                std::panic::resume_unwind(Box::new("worker failed"));
            }));
            assert!(result.is_err());
            drop(calm_token);
        });
        wg.wait();
        assert_eq!(wg.count(), 0);
        assert_eq!(wg.panicked(), 1);
        worker.join().unwrap();
    });
}

/// One worker's token is dropped while it unwinds, another worker's token is dropped calmly
/// at the same time: `panicked` counts exactly one.
///
/// Ignored: a documented limitation of pushpull under loom (crate docs, "Model-check your own
/// code"), kept as its reproduction. Under
/// loom, `thread_panicking()` is `std::thread::panicking()`, which is per *OS* thread, and loom
/// runs every model thread on the test's one OS thread. When the unwinding worker is preempted
/// at a loom operation inside `Token::drop`, the calm worker's `Token::drop` sees
/// `panicking() == true` and is counted too: `panicked() == 2`.
#[test]
#[ignore = "documented loom limitation: std::thread::panicking() is per OS thread, loom runs all model threads on one"]
fn panicking_token_is_counted_once_with_a_concurrent_calm_token() {
    // Unbounded (exhaustive).
    check("wait_group::panicked_counted_once", None, || {
        let wg = WaitGroup::new();
        let calm = {
            let token = wg.token();
            thread::spawn(move || drop(token))
        };
        let panicking = {
            let token = wg.token();
            thread::spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _token = token;
                    std::panic::resume_unwind(Box::new("worker failed"));
                }));
                assert!(result.is_err());
            })
        };
        wg.wait();
        assert_eq!(wg.count(), 0);
        assert_eq!(wg.panicked(), 1, "a calm token was counted as panicked");
        calm.join().unwrap();
        panicking.join().unwrap();
    });
}

/// What the workers wrote before `done` is visible to the waiter after `wait`: the writes are
/// `Relaxed`, so only the group's own happens-before edges (each `done` releases, `wait`
/// acquires) can make loom show them.
#[test]
fn workers_writes_are_visible_after_wait() {
    // Bound 3: three threads, see `two_concurrent_waiters_are_both_released`.
    check("wait_group::writes_visible_after_wait", Some(3), || {
        let results = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let wg = WaitGroup::new();
        for i in 0..2 {
            let results = Arc::clone(&results);
            wg.spawn(move || results[i].store(i + 1, Relaxed));
        }
        wg.wait();
        assert_eq!(results[0].load(Relaxed), 1);
        assert_eq!(results[1].load(Relaxed), 2);
    });
}
