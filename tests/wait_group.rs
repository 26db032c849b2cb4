//! Integration tests of `WaitGroup`: add / done / wait, tokens, reuse, timeouts, panicking
//! workers. Every wait is bounded (`wait_for`, or `common::bounded` around an untimed one).

mod common;

use common::{assert_contains_all, bounded, panic_message_of, scaled, SHORT, TIMEOUT};
use pushpull::{Shared, WaitGroup};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

/// Starts `n` workers, each holding a token and recording its completion in `log` (slot
/// `i` set to `round`) *before* its token drops.
fn start_round(
    wg: &WaitGroup,
    log: &Arc<Shared<Vec<usize>>>,
    round: usize,
    n: usize,
) -> Vec<thread::JoinHandle<()>> {
    (0..n)
        .map(|i| {
            let token = wg.token(); // counted before the worker starts
            let log = Arc::clone(log);
            thread::spawn(move || {
                // Some work of varying length, so workers finish in different orders.
                let mut x = i as u64;
                for _ in 0..(i * 500) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
                std::hint::black_box(x);
                if i % 3 == 0 {
                    thread::yield_now();
                }
                log.push(|l| l[i] = round);
                drop(token);
            })
        })
        .collect()
}

#[test]
fn wait_returns_only_after_every_worker_finished() {
    let workers = 8;
    let wg = WaitGroup::new();
    let log = Arc::new(Shared::new(vec![0; workers]));
    let handles = start_round(&wg, &log, 1, workers);
    assert!(wg.wait_for(TIMEOUT), "all workers finish");
    // Every worker recorded its completion before its token dropped, so all are visible.
    assert_eq!(*log.read(), vec![1; workers]);
    assert_eq!(wg.count(), 0);
    assert_eq!(wg.panicked(), 0);
    bounded("join workers", move || {
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn untimed_wait_returns_after_every_worker_finished() {
    let workers = 8;
    let wg = WaitGroup::new();
    let log = Arc::new(Shared::new(vec![0; workers]));
    let handles = start_round(&wg, &log, 1, workers);
    let waiter = wg.clone();
    bounded("untimed wait", move || waiter.wait());
    assert_eq!(*log.read(), vec![1; workers]);
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn reuse_across_three_rounds() {
    let workers = 8;
    let wg = WaitGroup::new();
    let log = Arc::new(Shared::new(vec![0; workers]));
    for round in 1..=3 {
        let handles = start_round(&wg, &log, round, workers);
        assert!(wg.wait_for(TIMEOUT), "round {round} finishes");
        assert_eq!(*log.read(), vec![round; workers], "round {round}");
        assert_eq!(wg.count(), 0);
        for h in handles {
            h.join().unwrap();
        }
    }
}

#[test]
fn many_short_rounds_never_lose_a_wakeup() {
    // One worker per round: the master waits while the worker finishes, over and over. A lost
    // wake-up shows up as a `wait_for` returning false.
    let rounds = scaled(1_000);
    let wg = WaitGroup::new();
    let total = Arc::new(Shared::new(0usize));
    for round in 1..=rounds {
        let total2 = Arc::clone(&total);
        let handle = wg.spawn(move || total2.push(|t| *t += 1));
        assert!(wg.wait_for(TIMEOUT), "round {round}: lost wake-up");
        assert_eq!(*total.read(), round);
        handle.join().unwrap();
    }
}

#[test]
fn wait_for_is_false_while_a_token_is_outstanding_and_true_after() {
    let wg = WaitGroup::new();
    assert!(wg.wait_for(Duration::ZERO), "nothing outstanding");
    let token = wg.token();
    assert_eq!(wg.count(), 1);
    assert!(!wg.wait_for(SHORT));
    assert!(!wg.wait_for(Duration::ZERO));
    assert_eq!(wg.count(), 1, "a timed-out wait changes nothing");
    let waiter = thread::spawn({
        let wg = wg.clone();
        move || wg.wait_for(TIMEOUT)
    });
    drop(token);
    assert!(wg.wait_for(TIMEOUT));
    assert!(waiter.join().unwrap(), "the other waiter was released");
}

#[test]
fn wait_on_an_empty_group_returns_at_once() {
    bounded("wait on empty group", || {
        let wg = WaitGroup::new();
        wg.wait();
        wg.add(0);
        wg.wait();
        assert_eq!(wg.count(), 0);
        let d = WaitGroup::default();
        d.wait();
    });
}

#[test]
fn done_underflow_panics_and_leaves_the_count_at_zero() {
    let wg = WaitGroup::new();
    let msg = panic_message_of(|| wg.done());
    assert_contains_all(&msg, &["WaitGroup::done", "more times than add"]);
    assert_eq!(wg.count(), 0);

    wg.add(1);
    wg.done();
    let msg = panic_message_of(|| wg.done());
    assert_contains_all(&msg, &["WaitGroup::done", "more times than add"]);
    assert_eq!(wg.count(), 0);

    // Still usable afterwards.
    let token = wg.token();
    assert_eq!(wg.count(), 1);
    drop(token);
    assert!(wg.wait_for(TIMEOUT));
}

#[test]
fn a_worker_that_panics_with_a_token_counts_as_done_and_as_panicked() {
    let wg = WaitGroup::new();
    let ok = wg.spawn(|| 1);
    let bad = wg.spawn(|| -> i32 { panic!("worker failed") });
    let token = wg.token();
    let manual = thread::spawn(move || {
        let _token = token;
        panic!("manual worker failed");
    });
    assert!(
        wg.wait_for(TIMEOUT),
        "a panicking worker must not hang the master"
    );
    assert_eq!(wg.panicked(), 2);
    assert_eq!(wg.count(), 0);
    assert_eq!(ok.join().unwrap(), 1);
    assert!(bad.join().is_err());
    assert!(manual.join().is_err());
    // A token dropped normally is not counted.
    drop(wg.token());
    assert_eq!(wg.panicked(), 2);
}

#[test]
fn clone_shares_the_count() {
    let wg = WaitGroup::new();
    let other = wg.clone();
    assert_eq!(other.count(), 0, "cloning adds nothing");
    other.add(2);
    assert_eq!(wg.count(), 2);
    wg.done();
    assert_eq!(other.count(), 1);
    assert!(!wg.wait_for(Duration::ZERO));
    let t = other.token();
    assert_eq!(wg.count(), 2);
    other.done();
    drop(t);
    assert!(wg.wait_for(TIMEOUT));
    assert!(other.wait_for(TIMEOUT));
    drop(other);
    assert_eq!(wg.count(), 0);
}

#[test]
fn many_waiters_at_once_are_all_released() {
    let waiters = 6;
    let wg = WaitGroup::new();
    let token = wg.token();
    let barrier = Arc::new(Barrier::new(waiters + 1));
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let handles: Vec<_> = (0..waiters)
        .map(|_| {
            let wg = wg.clone();
            let (barrier, tid_tx) = (Arc::clone(&barrier), tid_tx.clone());
            thread::spawn(move || {
                tid_tx.send(common::kernel_tid()).unwrap();
                barrier.wait();
                wg.wait_for(TIMEOUT)
            })
        })
        .collect();
    let tids: Vec<u32> = (0..waiters).map(|_| tid_rx.recv().unwrap()).collect();
    bounded("barrier", {
        let barrier = Arc::clone(&barrier);
        move || {
            barrier.wait();
        }
    });
    // Every waiter asleep in its wait: the last `done` must wake each of them.
    common::until_asleep(&tids);
    drop(token);
    bounded("join waiters", move || {
        for h in handles {
            assert!(h.join().unwrap(), "every waiter is released");
        }
    });
}

#[test]
fn a_slow_waiter_returns_even_if_the_group_is_rearmed_before_it_wakes() {
    // A waiter of round 1 must return once round 1 ends, even if the group is re-armed
    // (round 2) before it wakes. The waiter is registered in round 1 before it ends (the
    // group's `Debug` shows `waiting: true`), and round 2 stays open until the waiter
    // returned. With the bug (waiting for the count to reach zero instead of for the round to
    // end), it would never return.
    use std::sync::mpsc;
    let iterations = scaled(20);
    let wg = WaitGroup::new();
    for _ in 0..iterations {
        let first = wg.token();
        let (tx, rx) = mpsc::channel();
        let waiter = thread::spawn({
            let wg = wg.clone();
            move || tx.send(wg.wait_for(TIMEOUT)).unwrap()
        });
        common::until_a_waiter_registered(&wg);
        drop(first);
        let second = wg.token(); // re-armed at once
        let result = rx
            .recv_timeout(TIMEOUT)
            .expect("the waiter of round 1 returns while round 2 is open");
        assert!(result, "the waiter of the finished round must return true");
        drop(second);
        waiter.join().unwrap();
        assert!(wg.wait_for(TIMEOUT));
    }
}

#[test]
fn add_and_done_from_other_threads() {
    let wg = WaitGroup::new();
    let n = 16;
    wg.add(n);
    assert_eq!(wg.count(), n);
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let wg = wg.clone();
            thread::spawn(move || wg.done())
        })
        .collect();
    assert!(wg.wait_for(TIMEOUT));
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(wg.count(), 0);
}

#[test]
fn spawn_scoped_may_borrow_and_is_waited_for() {
    let data = [1, 2, 3, 4];
    let sum = Shared::new(0);
    let wg = WaitGroup::new();
    thread::scope(|s| {
        for chunk in data.chunks(2) {
            let sum = &sum;
            wg.spawn_scoped(s, move || sum.push(|t| *t += chunk.iter().sum::<i32>()));
        }
        let h = wg.spawn_scoped(s, || data.len());
        assert!(wg.wait_for(TIMEOUT));
        assert_eq!(*sum.read(), 10);
        assert_eq!(h.join().unwrap(), 4);
    });
    assert_eq!(sum.version().get(), 2);
}

#[test]
fn spawn_returns_the_result_through_the_join_handle() {
    let wg = WaitGroup::new();
    let h = wg.spawn(|| 6 * 7);
    assert!(wg.wait_for(TIMEOUT));
    assert_eq!(h.join().unwrap(), 42);
}

#[test]
fn debug_shows_count_and_panicked() {
    let wg = WaitGroup::new();
    let t = wg.token();
    let text = format!("{wg:?}");
    assert_contains_all(&text, &["WaitGroup", "count: 1", "panicked: 0"]);
    assert_contains_all(&format!("{t:?}"), &["Token", "count: 1"]);
    drop(t);
}

#[test]
fn a_timed_out_waiter_does_not_disturb_later_rounds() {
    let wg = WaitGroup::new();
    let t = wg.token();
    assert!(!wg.wait_for(Duration::from_millis(5))); // may leave its "waiting" mark behind
    drop(t);
    assert!(wg.wait_for(TIMEOUT));
    for _ in 0..3 {
        let h = wg.spawn(|| ());
        assert!(wg.wait_for(TIMEOUT));
        h.join().unwrap();
    }
    assert_eq!(wg.count(), 0);
}
