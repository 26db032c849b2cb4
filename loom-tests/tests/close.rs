#![cfg(loom)]
//! `Shared::close` racing the registration of a wait: no waiter, blocking or async, sleeps
//! through a close (a lost wake-up shows as a loom deadlock), and a change published before the
//! close is delivered before `Closed`.

use loom::future::block_on;
use loom::thread;
use pushpull::{Closed, Shared};
use pushpull_loom_tests::harness::check;
use std::sync::Arc;

/// A blocked `Puller::wait` and a close from another thread, in any order: the wait ends with
/// `Closed` (nothing was published).
#[test]
fn close_racing_a_registration_wakes_the_waiter() {
    // Unbounded (exhaustive): two threads, as `push_pull::puller_wait_never_misses_a_push`.
    check("close::wait_vs_close", None, || {
        let s = Arc::new(Shared::new(0u64));
        let mut puller = s.puller();
        let closer = {
            let s = Arc::clone(&s);
            thread::spawn(move || assert!(s.close()))
        };
        assert_eq!(puller.wait().map(|v| *v), Err(Closed));
        closer.join().unwrap();
    });
}

/// The async twin: a pending `wait_async` and a close.
#[test]
fn close_racing_an_async_registration_wakes_the_task() {
    // Unbounded (exhaustive): two threads.
    check("close::wait_async_vs_close", None, || {
        let s = Arc::new(Shared::new(0u64));
        let mut puller = s.puller_arc();
        let closer = {
            let s = Arc::clone(&s);
            thread::spawn(move || assert!(s.close()))
        };
        assert_eq!(block_on(puller.wait_async()).map(|v| *v), Err(Closed));
        closer.join().unwrap();
    });
}

/// A push then a close (by a `Closer`), against a blocked waiter: it gets the pushed value
/// first, whenever it registered, then `Closed`.
#[test]
fn a_push_before_the_close_is_delivered_before_closed() {
    // Bound 3: two threads, but four lock round trips on the producer's side and two waits on
    // the other make an exhaustive run far too long for the suite (with a third, async,
    // waiter the run took 1.2 million iterations / 90 s at bound 3: split into this model and
    // the next). 2 preemptions catch every lost wake-up seen so far (loom-pitfalls).
    check("close::push_then_close", Some(3), || {
        let s = Arc::new(Shared::new(0u64));
        let mut puller = s.puller();
        let producer = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let _closer = s.closer();
                s.push(|n| *n = 1);
            })
        };
        assert_eq!(puller.wait().map(|v| *v), Ok(1));
        assert_eq!(puller.wait().map(|v| *v), Err(Closed));
        producer.join().unwrap();
    });
}

/// `wait_until_async` with a predicate the push never makes true, against a push then a
/// close: it ends with `Closed`, never sleeping through the close.
#[test]
fn wait_until_async_ends_with_closed_when_the_predicate_never_holds() {
    // Bound 3, as the model above.
    check(
        "close::wait_until_async_vs_push_then_close",
        Some(3),
        || {
            let s = Arc::new(Shared::new(0u64));
            let producer = {
                let s = Arc::clone(&s);
                thread::spawn(move || {
                    s.push(|n| *n = 1);
                    s.close();
                })
            };
            assert_eq!(
                block_on(s.wait_until_async(|n| *n > 1)).map(|v| *v),
                Err(Closed)
            );
            producer.join().unwrap();
        },
    );
}
