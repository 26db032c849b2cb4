//! `Shared::close`: every wait, blocking or async, timed or not, on pullers, `wait_until*`
//! and their `Arc` forms, ends with `Closed` once there is nothing left to deliver; a push after
//! the close panics naming the call; a `Closer` closes on drop, panics included.

mod common;

use common::{assert_contains_all, block_on, bounded, panic_message_of, CountingWaker, TIMEOUT};
use pushpull::{Closed, Shared, WriteGuard};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

fn poll_once<F: Future>(future: std::pin::Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

#[test]
fn every_wait_started_after_the_close_returns_closed_at_once() {
    let shared = Arc::new(Shared::new(0));
    let mut borrowed = shared.puller();
    let mut owned = shared.puller_arc();
    assert!(shared.close());
    assert!(shared.is_closed() && borrowed.is_closed() && owned.is_closed());
    // Untimed waits would hang forever if they did not see the close: bounded by the helper
    // where they block, at once here.
    assert_eq!(borrowed.wait().map(|g| *g), Err(Closed));
    assert_eq!(owned.wait().map(|g| *g), Err(Closed));
    // A timed wait reports the close, not a timeout, and does not wait out its timeout (an
    // hour here: the test would not finish).
    let hour = Duration::from_secs(3600);
    assert_eq!(borrowed.wait_for(hour).map(|g| g.is_some()), Err(Closed));
    assert_eq!(owned.wait_for(hour).map(|g| g.is_some()), Err(Closed));
    assert_eq!(shared.wait_until(|n| *n > 0).map(|g| *g), Err(Closed));
    assert_eq!(
        shared.wait_until_for(hour, |n| *n > 0).map(|g| g.is_some()),
        Err(Closed)
    );
    assert_eq!(block_on(owned.wait_async()).map(|g| *g), Err(Closed));
    assert_eq!(block_on(borrowed.wait_async()).map(|g| *g), Err(Closed));
    assert_eq!(
        block_on(shared.wait_until_async(|n| *n > 0)).map(|g| *g),
        Err(Closed)
    );
    // A predicate that holds on the last value still holds: the guard, not `Closed`.
    assert_eq!(shared.wait_until(|n| *n == 0).map(|g| *g), Ok(0));
    assert_eq!(
        block_on(shared.wait_until_async(|n| *n == 0)).map(|g| *g),
        Ok(0)
    );
    // Reading goes on.
    assert_eq!((*shared.read(), shared.snapshot().0), (0, 0));
}

#[test]
fn the_last_change_is_delivered_before_closed() {
    let shared = Arc::new(Shared::new(0));
    let mut puller = shared.puller_arc();
    let mut timed = shared.puller();
    let mut task = shared.puller_arc();
    shared.push(|n| *n = 1);
    shared.push(|n| *n = 2);
    shared.close();
    let guard = puller.wait().unwrap();
    assert_eq!((*guard, guard.version().get()), (2, 2));
    drop(guard);
    assert_eq!(puller.wait().map(|g| *g), Err(Closed));
    assert_eq!(timed.wait_for(TIMEOUT).unwrap().map(|g| *g), Some(2));
    assert_eq!(timed.wait_for(TIMEOUT).map(|g| g.is_some()), Err(Closed));
    assert_eq!(block_on(task.wait_async()).map(|g| *g), Ok(2));
    assert_eq!(block_on(task.wait_async()).map(|g| *g), Err(Closed));
}

#[test]
fn blocked_threads_return_closed_once_the_shared_is_closed() {
    let shared = Arc::new(Shared::new(0u32));
    let mut puller = shared.puller_arc();
    let waiting = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            let changed = puller.wait().map(|g| *g);
            let until = shared.wait_until(|n| *n > 5).map(|g| *g);
            (changed, until)
        })
    };
    let timed = {
        let mut puller = shared.puller_arc();
        thread::spawn(move || puller.wait_for(TIMEOUT).map(|g| g.map(|g| *g)))
    };
    // Whether they parked before the close or not, both must end with `Closed` (the parked
    // case is pinned deterministically by the unit test `close::tests` and the loom models).
    shared.close();
    let (changed, until) = bounded("waiters end at the close", move || waiting.join().unwrap());
    assert_eq!((changed, until), (Err(Closed), Err(Closed)));
    let timed = bounded("a timed waiter ends at the close", move || {
        timed.join().unwrap()
    });
    assert_eq!(timed, Err(Closed), "Closed, not a timeout after 10 s");
}

#[test]
fn a_pending_future_is_woken_by_the_close_and_completes_with_closed() {
    let shared = Arc::new(Shared::new(0u32));
    let (count, waker) = CountingWaker::new();
    let mut puller = shared.puller_arc();
    let mut wait = pin!(puller.wait_async());
    let mut until = pin!(shared.wait_until_async(|n| *n > 5));
    assert!(poll_once(wait.as_mut(), &waker).is_pending());
    assert!(poll_once(until.as_mut(), &waker).is_pending());
    shared.close();
    assert_eq!(count.wakes(), 2, "the close woke both registered futures");
    assert!(matches!(
        poll_once(wait.as_mut(), &waker),
        Poll::Ready(Err(Closed))
    ));
    assert!(matches!(
        poll_once(until.as_mut(), &waker),
        Poll::Ready(Err(Closed))
    ));
}

#[test]
fn close_names_itself_when_this_thread_holds_a_guard() {
    if !common::WRITERS_TRACKED {
        return; // a plain release build deadlocks here, as `write()` does (misuse table)
    }
    let shared = Shared::new(0);
    let msg = panic_message_of(|| {
        let _w = shared.write();
        shared.close();
    });
    assert_contains_all(&msg, &["close() would deadlock", "WriteGuard"]);
    assert!(!shared.is_closed());
}

#[test]
fn closing_twice_is_harmless_and_close_publishes_no_version() {
    let shared = Shared::new(0);
    shared.push(|n| *n = 1);
    assert!(shared.close());
    assert!(!shared.close());
    assert_eq!(shared.version().get(), 1);
    assert!(
        shared.puller_at(0.into()).wait().is_ok(),
        "v1 is still unseen at v0"
    );
}

#[test]
fn a_closer_closes_on_drop_also_when_its_thread_panics() {
    let shared = Arc::new(Shared::new(0));
    let mut follower = shared.puller_arc();
    let closer = shared.closer_arc();
    let producer = thread::spawn(move || {
        let _closer = closer;
        panic!("{} the producer failed", common::EXPECTED);
    });
    common::quiet_expected_panics();
    assert!(producer.join().is_err());
    assert!(shared.is_closed());
    assert_eq!(follower.wait().map(|g| *g), Err(Closed));

    let kept = Shared::new(0);
    kept.closer().disarm();
    assert!(!kept.is_closed(), "a disarmed closer leaves it open");
    {
        let _closer = kept.closer();
    }
    assert!(kept.is_closed());
}

#[test]
fn a_write_guard_published_before_the_close_is_delivered() {
    let shared = Shared::new(0);
    let mut puller = shared.puller();
    {
        let mut w = shared.write();
        *w = 5;
        let r = WriteGuard::downgrade(w);
        assert_eq!(r.version().get(), 1);
    }
    shared.close();
    assert_eq!(puller.wait().map(|g| *g), Ok(5));
    assert_eq!(puller.wait().map(|g| *g), Err(Closed));
}
