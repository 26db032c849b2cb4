//! The async waits: `Puller::wait_async` / `ArcPuller::wait_async`,
//! `Shared::wait_until_async`, `WaitGroup::wait_async`, under a multi-thread tokio runtime
//! (`tokio::spawn`, so the futures must be `Send`) and under a minimal hand-written executor
//! (`common::block_on`); cancellation; changing wakers; one push waking threads and tasks.
//!
//! Every blocking call is bounded: `bounded` (a thread with a timeout) around the whole test,
//! and `tokio::time::timeout` around awaits.

mod common;

use common::{block_on, bounded, scaled, tokio_runtime, CountingWaker, SHORT, TIMEOUT};
use pushpull::{ArcPuller, Shared, WaitAsync, WaitGroup, WaitGroupWait, WaitUntilAsync};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll};
use std::thread;
use tokio::time::timeout;

fn assert_send<F: Send>(_: &F) {}

/// Runs `body` on a 2-worker multi-thread tokio runtime, bounded twice: by tokio's timer and
/// by `bounded` (if a worker were blocked, the timer could not fire).
fn on_tokio<R: Send + 'static>(
    what: &'static str,
    body: impl Future<Output = R> + Send + 'static,
) -> R {
    bounded(what, move || {
        tokio_runtime().block_on(async move {
            timeout(TIMEOUT, body)
                .await
                .unwrap_or_else(|_| panic!("{what}: did not finish within {TIMEOUT:?}"))
        })
    })
}

/// Polls `future` once with `waker`.
fn poll_once<F: Future + Unpin>(future: &mut F, waker: &std::task::Waker) -> Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut Context::from_waker(waker))
}

#[test]
fn the_futures_are_send_when_t_is_send_and_sync() {
    let shared = Arc::new(Shared::new(String::new()));
    let mut puller: ArcPuller<String> = shared.puller_arc();
    let mut borrowed = shared.puller();
    let wg = WaitGroup::new();
    let wait: WaitAsync<'_, _> = puller.wait_async();
    assert_send(&wait);
    drop(wait);
    assert_send(&borrowed.wait_async());
    let until: WaitUntilAsync<'_, _, _> = shared.wait_until_async(|s| s.is_empty());
    assert_send(&until);
    drop(until);
    let group: WaitGroupWait<'_> = wg.wait_async();
    assert_send(&group);
    assert!(format!("{group:?}").contains("WaitGroupWait"));
    assert!(format!("{:?}", puller.wait_async()).contains("WaitAsync"));
    let mut until = shared.wait_until_async(|s| !s.is_empty());
    assert!(format!("{until:?}").contains("registered: false"));
    let (_, waker) = CountingWaker::new();
    assert!(poll_once(&mut until, &waker).is_pending());
    let shown = format!("{until:?}");
    assert!(
        shown.starts_with("WaitUntilAsync") && shown.contains("registered: true"),
        "{shown}"
    );
}

// ---- tokio, multi-thread runtime, tokio::spawn ----------------------------------------------

#[test]
fn tokio_tasks_follow_thread_pushes_with_wait_async() {
    let pushes = scaled(2_000) as u64;
    on_tokio("wait_async under tokio::spawn", async move {
        let shared = Arc::new(Shared::new(0u64));
        let followers: Vec<_> = (0..4)
            .map(|_| {
                let mut puller = shared.puller_arc(); // before the task starts
                tokio::spawn(async move {
                    let mut last = 0;
                    let mut wakeups = 0;
                    while last < pushes {
                        let value = *puller.wait_async().await.unwrap();
                        assert!(value > last, "never backwards, never twice");
                        assert_eq!(value, puller.seen().get());
                        last = value;
                        wakeups += 1;
                    }
                    wakeups
                })
            })
            .collect();
        let pusher = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                for _ in 0..pushes {
                    shared.push(|v| *v += 1);
                }
            })
        };
        for follower in followers {
            let wakeups = follower.await.unwrap();
            assert!((1..=pushes).contains(&wakeups));
        }
        pusher.join().unwrap();
    });
}

#[test]
fn tokio_tasks_wait_until_async_for_a_condition() {
    on_tokio("wait_until_async under tokio::spawn", async {
        let shared = Arc::new(Shared::new(0u32));
        let waiters: Vec<_> = [10, 500, 1_000]
            .into_iter()
            .map(|target| {
                let shared = Arc::clone(&shared);
                tokio::spawn(
                    async move { *shared.wait_until_async(|n| *n >= target).await.unwrap() },
                )
            })
            .collect();
        let pusher = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                for _ in 0..1_000 {
                    shared.push(|n| *n += 1);
                }
            })
        };
        for (waiter, target) in waiters.into_iter().zip([10, 500, 1_000]) {
            assert!(waiter.await.unwrap() >= target);
        }
        pusher.join().unwrap();
        // Already true: completes at the first poll.
        assert_eq!(
            *shared.wait_until_async(|n| *n == 1_000).await.unwrap(),
            1_000
        );
    });
}

#[test]
fn tokio_task_awaits_a_wait_group_of_threads() {
    on_tokio("WaitGroup::wait_async under tokio::spawn", async {
        for _ in 0..scaled(50) {
            let wg = WaitGroup::new();
            let total = Arc::new(Shared::new(0u32));
            let master = {
                let tokens: Vec<_> = (0..3).map(|_| wg.token()).collect();
                let wg = wg.clone();
                let seen = Arc::clone(&total);
                let master = tokio::spawn(async move {
                    wg.wait_async().await;
                    let value = *seen.read();
                    value
                });
                for token in tokens {
                    let total = Arc::clone(&total);
                    thread::spawn(move || {
                        total.push(|t| *t += 1);
                        drop(token);
                    });
                }
                master
            };
            assert_eq!(master.await.unwrap(), 3, "the workers' pushes are visible");
        }
    });
}

// ---- the hand-written executor ------------------------------------------------------------

#[test]
fn block_on_executor_runs_every_async_wait() {
    bounded("block_on", || {
        let shared = Arc::new(Shared::new(0u64));
        let mut puller = shared.puller_arc();
        let wg = WaitGroup::new();
        let pusher = {
            let shared = Arc::clone(&shared);
            wg.spawn(move || {
                for _ in 0..scaled(1_000) {
                    shared.push(|v| *v += 1);
                }
            })
        };
        let first = *block_on(puller.wait_async()).unwrap();
        assert!(first >= 1);
        let last = *block_on(shared.wait_until_async(|v| *v == scaled(1_000) as u64)).unwrap();
        assert_eq!(last, scaled(1_000) as u64);
        block_on(wg.wait_async());
        assert_eq!(wg.count(), 0);
        pusher.join().unwrap();
        let mut borrowed = shared.puller_at(pushpull::Version::ZERO);
        assert_eq!(*block_on(borrowed.wait_async()).unwrap(), last);
    });
}

/// Futures created and polled while another thread writes back to back (every poll may find
/// a writer holding the lock, and a release wait may span several writers): each completes.
/// The regression test of a lost wake-up in the release protocol (a future announced its
/// release wait before the critical section that stored its waker: the first writer's release
/// woke nobody, and the next writer's found no flag; see loom's
/// `a_release_wait_survives_a_second_writer`).
#[test]
fn futures_waiting_through_a_stream_of_writers_always_complete() {
    let pushes = scaled(2_000) as u64;
    bounded("futures vs back-to-back writers", move || {
        for _ in 0..scaled(50) {
            let shared = Arc::new(Shared::new(0u64));
            let mut puller = shared.puller_arc();
            let pusher = {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    for _ in 0..pushes {
                        shared.push(|v| *v += 1);
                        drop(shared.write()); // and a writer that does not publish
                    }
                })
            };
            let mut last = 0;
            while last < pushes {
                let value = *block_on(puller.wait_async()).unwrap();
                assert!(value > last);
                last = value;
                let at_least = *block_on(shared.wait_until_async(|v| *v >= last)).unwrap();
                assert!(at_least >= last);
            }
            assert_eq!(
                *block_on(shared.wait_until_async(|v| *v == pushes)).unwrap(),
                pushes
            );
            pusher.join().unwrap();
        }
    });
}

#[test]
fn block_on_ping_pong_through_two_shareds() {
    let rounds = scaled(2_000) as u64;
    bounded("async ping-pong", move || {
        let ping = Arc::new(Shared::new(0u64));
        let pong = Arc::new(Shared::new(0u64));
        let mut from_ping = ping.puller_arc();
        let mut from_pong = pong.puller_arc();
        let partner = {
            let pong = Arc::clone(&pong);
            thread::spawn(move || {
                block_on(async {
                    for _ in 0..rounds {
                        let v = *from_ping.wait_async().await.unwrap();
                        pong.push(|p| *p = v);
                    }
                })
            })
        };
        block_on(async {
            for i in 1..=rounds {
                ping.push(|p| *p = i);
                assert_eq!(*from_pong.wait_async().await.unwrap(), i);
            }
        });
        partner.join().unwrap();
    });
}

// ---- cancellation --------------------------------------------------------------------------

#[test]
fn a_timed_out_wait_async_leaves_the_puller_as_it_was() {
    on_tokio("tokio::time::timeout around wait_async", async {
        let shared = Arc::new(Shared::new(1));
        let mut puller = shared.puller_arc();
        for _ in 0..3 {
            assert!(timeout(SHORT, puller.wait_async()).await.is_err());
            assert_eq!(puller.seen().get(), 0, "a cancelled wait moves nothing");
        }
        assert!(timeout(SHORT, shared.wait_until_async(|n| *n > 1))
            .await
            .is_err());
        let wg = WaitGroup::new();
        let token = wg.token();
        assert!(timeout(SHORT, wg.wait_async()).await.is_err());

        // What timed out left nothing that keeps the next waits from working.
        let pusher = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                shared.push(|n| *n = 2);
                drop(token);
            })
        };
        assert_eq!(*puller.wait_async().await.unwrap(), 2);
        assert_eq!(*shared.wait_until_async(|n| *n > 1).await.unwrap(), 2);
        wg.wait_async().await;
        pusher.join().unwrap();
    });
}

/// Futures dropped while registered — before, and after, the push that notified them — never
/// take the wake-up of a waiter that stays.
#[test]
fn a_dropped_waiter_never_strands_another() {
    let shared = Shared::new(0);
    let (stays_count, stays_waker) = CountingWaker::new();
    let (_, gone_waker) = CountingWaker::new();

    let mut staying_puller = shared.puller();
    let mut stays = staying_puller.wait_async();
    assert!(poll_once(&mut stays, &stays_waker).is_pending());

    // Dropped before any push.
    let mut early_puller = shared.puller();
    let mut early = early_puller.wait_async();
    assert!(poll_once(&mut early, &gone_waker).is_pending());
    drop(early);

    // Notified by the push, then dropped without being polled again.
    let mut late = shared.wait_until_async(|n| *n > 0);
    assert!(poll_once(&mut late, &gone_waker).is_pending());
    shared.push(|n| *n = 1);
    drop(late);

    assert_eq!(stays_count.wakes(), 1, "the staying waiter was woken");
    match poll_once(&mut stays, &stays_waker) {
        Poll::Ready(Ok(guard)) => assert_eq!(*guard, 1),
        Poll::Ready(Err(closed)) => panic!("{closed}: nobody closed it"),
        Poll::Pending => panic!("the staying waiter must complete"),
    };
}

/// Many tasks wait; half of them are cancelled while pushes happen; every remaining task
/// completes.
#[test]
fn cancelling_tasks_during_pushes_strands_no_other_task() {
    on_tokio("abort half the waiters during pushes", async {
        for _ in 0..scaled(20) {
            let shared = Arc::new(Shared::new(0u32));
            let mut kept = Vec::new();
            let mut cancelled = Vec::new();
            for i in 0..32 {
                let mut puller = shared.puller_arc();
                let task = tokio::spawn(async move { *puller.wait_async().await.unwrap() });
                if i % 2 == 0 {
                    kept.push(task);
                } else {
                    cancelled.push(task);
                }
            }
            let pusher = {
                let shared = Arc::clone(&shared);
                thread::spawn(move || shared.push(|n| *n = 7))
            };
            for task in &cancelled {
                task.abort();
            }
            pusher.join().unwrap();
            for task in kept {
                assert_eq!(task.await.unwrap(), 7);
            }
            for task in cancelled {
                let _ = task.await; // cancelled or completed: either is fine
            }
        }
    });
}

// ---- wakers --------------------------------------------------------------------------------

/// A future polled with one waker, then with another (it moved to another task): the push
/// wakes the latest.
#[test]
fn the_latest_waker_is_woken() {
    let shared = Shared::new(0);
    let wg = WaitGroup::new();
    let token = wg.token();
    let (first, first_waker) = CountingWaker::new();
    let (second, second_waker) = CountingWaker::new();

    let mut puller = shared.puller();
    let mut wait = puller.wait_async();
    let mut until = shared.wait_until_async(|n| *n == 1);
    let mut group = wg.wait_async();
    assert!(poll_once(&mut wait, &first_waker).is_pending());
    assert!(poll_once(&mut until, &first_waker).is_pending());
    assert!(poll_once(&mut group, &first_waker).is_pending());
    assert!(poll_once(&mut wait, &second_waker).is_pending());
    assert!(poll_once(&mut until, &second_waker).is_pending());
    assert!(poll_once(&mut group, &second_waker).is_pending());

    shared.push(|n| *n = 1);
    drop(token);
    assert_eq!(first.wakes(), 0, "the replaced waker is not woken");
    assert_eq!(second.wakes(), 3);
    assert!(poll_once(&mut wait, &second_waker).is_ready());
    assert!(poll_once(&mut until, &second_waker).is_ready());
    assert!(poll_once(&mut group, &second_waker).is_ready());
}

// ---- one push wakes both worlds -------------------------------------------------------------

#[test]
fn one_push_wakes_blocked_threads_and_pending_tasks() {
    bounded("mixed sync + async wake", || {
        for _ in 0..scaled(50) {
            let shared = Arc::new(Shared::new(0u32));
            let wg = WaitGroup::new();
            let token = wg.token();
            let barrier = Arc::new(Barrier::new(3));

            // Two threads blocked in `wait` / `WaitGroup::wait` (pullers created here, first).
            let threads: Vec<_> = (0..2)
                .map(|i| {
                    let mut puller = shared.puller_arc();
                    let (wg, barrier) = (wg.clone(), Arc::clone(&barrier));
                    thread::spawn(move || {
                        barrier.wait();
                        if i == 0 {
                            *puller
                                .wait_for(TIMEOUT)
                                .unwrap()
                                .expect("the thread was not woken")
                        } else {
                            assert!(wg.wait_for(TIMEOUT), "the thread was not woken");
                            *puller
                                .wait_for(TIMEOUT)
                                .unwrap()
                                .expect("the thread was not woken")
                        }
                    })
                })
                .collect();

            // Futures registered before the push (polled to Pending by hand)...
            let (count, waker) = CountingWaker::new();
            let mut puller = shared.puller();
            let mut wait = puller.wait_async();
            let mut until = shared.wait_until_async(|n| *n == 5);
            let mut group = wg.wait_async();
            assert!(poll_once(&mut wait, &waker).is_pending());
            assert!(poll_once(&mut until, &waker).is_pending());
            assert!(poll_once(&mut group, &waker).is_pending());
            // ...and tokio tasks.
            let rt = tokio_runtime();
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let mut puller = shared.puller_arc();
                    rt.spawn(async move { *puller.wait_async().await.unwrap() })
                })
                .collect();

            barrier.wait();
            shared.push(|n| *n = 5);
            drop(token);

            assert_eq!(count.wakes(), 3, "every pending future was woken");
            assert!(matches!(poll_once(&mut wait, &waker), Poll::Ready(Ok(g)) if *g == 5));
            assert!(matches!(poll_once(&mut until, &waker), Poll::Ready(Ok(g)) if *g == 5));
            assert!(poll_once(&mut group, &waker).is_ready());
            rt.block_on(async {
                for task in tasks {
                    assert_eq!(timeout(TIMEOUT, task).await.unwrap().unwrap(), 5);
                }
            });
            for t in threads {
                assert_eq!(t.join().unwrap(), 5);
            }
        }
    });
}

// ---- a writer holding, or queued for, the lock while the future is polled -----------------
//
// A pending future never asks to be polled again at once (`wakes` stays 0 while nothing
// happened): it sleeps until what it waits for happens, and is woken once per such event.

/// The measured scenario: a writer queued behind a long reader made a pending
/// `wait_async` wake itself on every poll (4.6 million polls in 300 ms). A future's read does
/// not queue behind a waiting writer: it registers and sleeps until the push.
#[test]
fn a_pending_wait_async_behind_a_queued_writer_sleeps_until_the_push() {
    bounded("wait_async behind a queued writer", || {
        let shared = Arc::new(Shared::new(0));
        let (count, waker) = CountingWaker::new();
        let mut puller = shared.puller();
        let mut wait = puller.wait_async();
        let queued = common::queue_writer_behind_a_reader(&shared, |n| *n = 1);
        for _ in 0..3 {
            assert!(poll_once(&mut wait, &waker).is_pending());
        }
        assert_eq!(count.wakes(), 0, "no busy re-poll behind a queued writer");
        // The first poll of `wait_until_async` checks the value behind it too.
        assert!(
            poll_once(&mut shared.wait_until_async(|n| *n == 0), &waker).is_ready(),
            "the predicate holds now"
        );
        let (until_count, until_waker) = CountingWaker::new();
        let mut until = shared.wait_until_async(|n| *n == 1);
        assert!(poll_once(&mut until, &until_waker).is_pending());
        queued.release();
        assert_eq!(
            (count.wakes(), until_count.wakes()),
            (1, 1),
            "the push woke both"
        );
        assert!(matches!(poll_once(&mut wait, &waker), Poll::Ready(Ok(g)) if *g == 1));
        assert!(matches!(poll_once(&mut until, &until_waker), Poll::Ready(Ok(g)) if *g == 1));
    });
}

/// No registration stands and another thread's writer holds the lock: the future sleeps
/// until the writer's release (here with its publish), not polling itself meanwhile.
#[test]
fn a_wait_async_polled_while_a_writer_holds_the_lock_sleeps_until_it_is_gone() {
    bounded("wait_async during a write", || {
        let shared = Arc::new(Shared::new(0));
        let (count, waker) = CountingWaker::new();
        let mut puller = shared.puller();
        let mut wait = puller.wait_async();
        let writer = common::hold_write_lock(&shared, |n| *n = 1);
        for _ in 0..3 {
            assert!(poll_once(&mut wait, &waker).is_pending());
        }
        assert_eq!(count.wakes(), 0, "no busy re-poll while the writer holds");
        writer.release(true);
        assert_eq!(count.wakes(), 1, "woken once, by the writer's release");
        assert!(matches!(poll_once(&mut wait, &waker), Poll::Ready(Ok(g)) if *g == 1));
    });
}

/// The first poll of `wait_until_async` cannot check its predicate while a writer holds the
/// lock; a writer that releases it without publishing must still wake it (nothing else
/// would: the value did not change), and the predicate, true all along, completes it.
#[test]
fn wait_until_async_first_polled_under_a_writer_that_does_not_publish_completes() {
    bounded("wait_until_async under a non-publishing writer", || {
        let shared = Arc::new(Shared::new(0));
        let (count, waker) = CountingWaker::new();
        let mut until = shared.wait_until_async(|n| *n == 0);
        let writer = common::hold_write_lock(&shared, |n| *n = 1);
        assert!(poll_once(&mut until, &waker).is_pending());
        assert!(poll_once(&mut until, &waker).is_pending());
        assert_eq!(count.wakes(), 0, "asleep while the writer holds the lock");
        writer.release(false);
        assert_eq!(count.wakes(), 1, "the release woke it");
        assert_eq!(shared.version().get(), 0, "nothing was published");
        assert!(matches!(poll_once(&mut until, &waker), Poll::Ready(Ok(g)) if *g == 0));
    });
}

/// The version moved past the puller's, but another thread's writer holds the lock, so the
/// guard cannot be taken yet: the future sleeps until that writer is gone.
#[test]
fn a_wait_async_whose_version_moved_sleeps_until_the_writer_is_gone() {
    bounded("wait_async: version moved, writer holds", || {
        let shared = Arc::new(Shared::new(0));
        let (count, waker) = CountingWaker::new();
        let mut puller = shared.puller();
        let mut wait = puller.wait_async();
        shared.push(|n| *n = 1);
        let writer = common::hold_write_lock(&shared, |n| *n = 2);
        assert!(poll_once(&mut wait, &waker).is_pending());
        assert_eq!(count.wakes(), 0);
        writer.release(false);
        assert_eq!(count.wakes(), 1, "the release woke it");
        assert!(matches!(poll_once(&mut wait, &waker), Poll::Ready(Ok(g)) if *g == 1));
        drop(wait);
        assert_eq!(puller.seen().get(), 1);
    });
}

/// Writers that come and go without publishing wake a future only while it waits for a
/// release (its first poll found one holding); once registered for a publish, they do not
/// wake it at all: one wake-up per event it waits for, however long the writers hold.
#[test]
fn releases_wake_a_future_once_each_and_only_while_it_waits_for_one() {
    bounded("wake-ups per release", || {
        let shared = Arc::new(Shared::new(0));
        let (count, waker) = CountingWaker::new();
        let mut until = shared.wait_until_async(|n| *n == 5);
        let writer = common::hold_write_lock(&shared, |n| *n = 1);
        assert!(poll_once(&mut until, &waker).is_pending());
        writer.release(false);
        assert_eq!(count.wakes(), 1);
        assert!(
            poll_once(&mut until, &waker).is_pending(),
            "registered at 0"
        );
        for _ in 0..3 {
            let writer = common::hold_write_lock(&shared, |n| *n = 1);
            assert!(poll_once(&mut until, &waker).is_pending());
            writer.release(false);
        }
        assert_eq!(
            count.wakes(),
            1,
            "no publish: nothing it waits for happened"
        );
        shared.push(|n| *n = 5);
        assert_eq!(count.wakes(), 2);
        assert!(matches!(poll_once(&mut until, &waker), Poll::Ready(Ok(g)) if *g == 5));
    });
}

/// What remains of "a future re-polls itself" (documented in the crate docs): a future
/// created *and* first polled while another thread's writer holds the lock of a `Shared` no
/// other live future uses cannot sleep (no writer would tell it of the release), so it asks
/// to be polled again; once it got the read lock it sleeps like any other.
#[test]
fn a_future_created_while_a_writer_holds_a_fresh_shared_asks_to_be_polled_again() {
    bounded("the bootstrap case", || {
        let shared = Arc::new(Shared::new(0));
        let (count, waker) = CountingWaker::new();
        let writer = common::hold_write_lock(&shared, |n| *n = 1);
        let mut until = shared.wait_until_async(|n| *n == 2);
        assert!(poll_once(&mut until, &waker).is_pending());
        assert_eq!(count.wakes(), 1, "asked to be polled again");
        writer.release(true);
        assert!(poll_once(&mut until, &waker).is_pending(), "1 is not 2");
        let wakes = count.wakes();
        let writer = common::hold_write_lock(&shared, |n| *n = 2);
        assert!(poll_once(&mut until, &waker).is_pending());
        assert_eq!(count.wakes(), wakes, "registered now: it sleeps");
        writer.release(true);
        assert_eq!(count.wakes(), wakes + 1);
        assert!(matches!(poll_once(&mut until, &waker), Poll::Ready(Ok(g)) if *g == 2));
    });
}

/// Once registered, a poll during a write piggybacks on the registration and sleeps; a
/// registration of another future for the same version serves as well.
#[test]
fn a_poll_during_a_write_piggybacks_on_a_standing_registration() {
    bounded("piggyback on a registration", || {
        let shared = Arc::new(Shared::new(0));
        let (other_count, other_waker) = CountingWaker::new();
        let mut other_puller = shared.puller();
        let mut other = other_puller.wait_async();
        assert!(poll_once(&mut other, &other_waker).is_pending());
        let (count, waker) = CountingWaker::new();
        let mut puller = shared.puller();
        let mut wait = puller.wait_async();
        // A writer that does not publish: the registration stands, nothing to wake for.
        let writer = common::hold_write_lock(&shared, |n| *n = 2);
        assert!(poll_once(&mut wait, &waker).is_pending());
        writer.release(false);
        assert_eq!(
            count.wakes(),
            0,
            "no publish: not woken (not even by the release)"
        );
        let writer = common::hold_write_lock(&shared, |n| *n = 2);
        assert!(poll_once(&mut wait, &waker).is_pending());
        assert_eq!(count.wakes(), 0, "registered: no busy re-poll");
        writer.release(true);
        assert_eq!(
            (count.wakes(), other_count.wakes()),
            (1, 1),
            "the publish woke both"
        );
        assert!(matches!(poll_once(&mut wait, &waker), Poll::Ready(Ok(g)) if *g == 2));
        assert!(matches!(poll_once(&mut other, &other_waker), Poll::Ready(Ok(g)) if *g == 2));
    });
}

/// `wait_until_async` polled while another thread's writer holds the lock, after a poll that
/// registered it: it sleeps on that registration with the waker of this poll (no busy re-poll),
/// and the writer's publish wakes that waker.
#[test]
fn wait_until_async_polled_during_a_write_sleeps_until_the_publish() {
    bounded("wait_until_async during a write", || {
        let shared = Shared::new(0);
        let mut until = shared.wait_until_async(|n| *n == 2);
        let (first, first_waker) = CountingWaker::new();
        assert!(poll_once(&mut until, &first_waker).is_pending());
        let (second, second_waker) = CountingWaker::new();
        let pending = common::while_written_elsewhere(&shared, None, || {
            poll_once(&mut until, &second_waker).is_pending()
        });
        assert!(pending);
        assert_eq!(
            (first.wakes(), second.wakes()),
            (0, 0),
            "registered: no busy re-poll while the writer holds the lock"
        );
        *shared.write() = 1;
        assert_eq!(
            (first.wakes(), second.wakes()),
            (0, 1),
            "the publish woke the waker of the latest poll"
        );
        assert!(
            poll_once(&mut until, &second_waker).is_pending(),
            "1 is not 2"
        );
        *shared.write() = 2;
        assert_eq!(second.wakes(), 2);
        assert!(matches!(poll_once(&mut until, &second_waker), Poll::Ready(Ok(g)) if *g == 2));
    });
}

// ---- WaitGroup::wait_async -----------------------------------------------------------------

#[test]
fn wait_group_wait_async_against_a_racing_last_done() {
    bounded("wait_async vs done", || {
        for _ in 0..scaled(2_000) {
            let wg = WaitGroup::new();
            let token = wg.token();
            let worker = thread::spawn(move || drop(token));
            block_on(wg.wait_async());
            assert_eq!(wg.count(), 0);
            worker.join().unwrap();
        }
    });
}

#[test]
fn wait_group_wait_async_completes_for_the_round_it_observed() {
    let wg = WaitGroup::new();
    let (_, waker) = CountingWaker::new();
    assert!(
        poll_once(&mut wg.wait_async(), &waker).is_ready(),
        "nothing outstanding"
    );

    wg.add(1);
    let mut round = wg.wait_async();
    assert!(poll_once(&mut round, &waker).is_pending());
    wg.done();
    wg.add(1); // re-armed before the future looked again
    assert!(poll_once(&mut round, &waker).is_ready(), "its round ended");
    let mut next = wg.wait_async();
    assert!(
        poll_once(&mut next, &waker).is_pending(),
        "the new round is running"
    );
    wg.done();
    assert!(poll_once(&mut next, &waker).is_ready());
}

// ---- misuse --------------------------------------------------------------------------------

#[test]
fn wait_async_while_this_thread_holds_a_modify_guard_panics() {
    common::quiet_expected_panics();
    let shared = Shared::new(0);
    let (_, waker) = CountingWaker::new();
    let mut puller = shared.puller();
    let guard = shared.modify();
    let msg = common::panic_message_of(|| poll_once(&mut puller.wait_async(), &waker));
    common::assert_contains_all(
        &msg,
        &["Puller::wait_async()", "would deadlock", "ModifyGuard"],
    );
    let msg =
        common::panic_message_of(|| poll_once(&mut shared.wait_until_async(|n| *n > 0), &waker));
    common::assert_contains_all(
        &msg,
        &[
            "Shared::wait_until_async()",
            "would deadlock",
            "ModifyGuard",
        ],
    );
    // A predicate that holds needs no publish: fine under the modify guard, as `wait_until`.
    assert!(poll_once(&mut shared.wait_until_async(|n| *n == 0), &waker).is_ready());
    drop(guard);
}

#[test]
fn wait_async_while_this_thread_holds_the_write_guard_panics_where_tracked() {
    if !common::WRITERS_TRACKED {
        return; // plain release builds do not record the writer (see the misuse table)
    }
    let shared = Shared::new(0);
    let (_, waker) = CountingWaker::new();
    let mut puller = shared.puller();
    let mut guard = shared.write();
    *guard = 1; // published: the wait would be over, but the guard could never be taken
    let msg = common::panic_message_of(|| poll_once(&mut puller.wait_async(), &waker));
    common::assert_contains_all(
        &msg,
        &["Puller::wait_async()", "would deadlock", "WriteGuard"],
    );
    drop(guard);
}

#[test]
fn polling_a_completed_wait_async_panics() {
    let shared = Shared::new(0);
    shared.push(|n| *n = 1);
    let (_, waker) = CountingWaker::new();
    let mut puller = shared.puller_at(pushpull::Version::ZERO);
    let mut wait = pin!(puller.wait_async());
    assert!(wait
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_ready());
    let msg = common::panic_message_of(|| wait.as_mut().poll(&mut Context::from_waker(&waker)));
    assert!(msg.contains("polled after completion"), "{msg}");
}

/// The other cells of the misuse table for the async waits: a `ReadGuard` of this thread
/// panics where readers are tracked (debug builds); where a guard is not tracked, the future
/// never completes (it stays pending, or re-polls itself under its own writer).
#[test]
fn wait_async_under_this_threads_other_guards_per_build() {
    common::quiet_expected_panics();
    let shared = Shared::new(0);
    let (_, waker) = CountingWaker::new();
    let mut puller = shared.puller();

    let read = shared.read();
    if common::READERS_TRACKED {
        let msg = common::panic_message_of(|| poll_once(&mut puller.wait_async(), &waker));
        common::assert_contains_all(
            &msg,
            &["Puller::wait_async()", "would deadlock", "ReadGuard"],
        );
    } else {
        let mut wait = puller.wait_async();
        for _ in 0..3 {
            assert!(poll_once(&mut wait, &waker).is_pending());
        }
    }
    drop(read);

    if !common::WRITERS_TRACKED {
        let write = shared.write();
        let mut wait = puller.wait_async();
        for _ in 0..3 {
            assert!(poll_once(&mut wait, &waker).is_pending());
        }
        drop(wait);
        drop(write);
    }
}
