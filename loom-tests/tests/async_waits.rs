#![cfg(loom)]
//! The async registration protocol: `Puller::wait_async`, `Shared::wait_until_async` and
//! `WaitGroup::wait_async` driven by `loom::future::block_on`, whose waker is a loom
//! operation (and whose waits may return spuriously, so re-polls are explored too). A lost
//! wake-up shows as a loom deadlock.
//!
//! Every model here must pass: a model in which loom has to find an async deadlock can abort
//! the test binary while unwinding (loom-pitfalls), so none is kept in this binary.

use loom::future::block_on;
use loom::thread;
use pushpull::{Shared, WaitGroup};
use pushpull_loom_tests::harness::{check, PollOnce};
use std::sync::Arc;

/// One push, one async waiter: the waiter's future completes with the pushed value in every
/// interleaving (registration under the read lock, waker stored after re-checking under the
/// Event's mutex, or the piggyback path while the pusher holds the write lock).
#[test]
fn one_push_and_one_async_waiter_never_lose_the_wake() {
    // Unbounded (exhaustive): two threads.
    check("async::wait_async_vs_push", None, || {
        let s = Arc::new(Shared::new(0u64));
        let mut puller = s.puller_arc();
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.push(|n| *n += 1))
        };
        assert_eq!(*block_on(puller.wait_async()).unwrap(), 1);
        assert_eq!(puller.seen().get(), 1);
        pusher.join().unwrap();
    });
}

/// The async waiter subscribes on its own thread, concurrently with the push: if it saw
/// version 0, its future must complete with the push.
#[test]
fn async_waiter_arriving_concurrently_with_the_push_never_hangs() {
    // Unbounded (exhaustive): two threads.
    check("async::waiter_arrives_concurrently", None, || {
        let s = Arc::new(Shared::new(0u64));
        let waiter = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let mut puller = s.puller();
                if puller.seen().get() == 0 {
                    assert_eq!(*block_on(puller.wait_async()).unwrap(), 1);
                }
            })
        };
        s.push(|n| *n += 1);
        waiter.join().unwrap();
    });
}

/// `wait_until_async(== 2)` against a thread pushing twice: the predicate is re-checked after
/// every wake, and the last push is never missed.
#[test]
fn wait_until_async_never_misses_a_push() {
    // Bound 3, as the blocking twin `push_pull::wait_until_never_misses_a_push`: two pushes
    // and a re-registration after the first make the exhaustive run long; 2 preemptions catch
    // every lost wake-up seen so far (loom-pitfalls), 3 keeps a margin.
    check("async::wait_until_async_vs_two_pushes", Some(3), || {
        let s = Arc::new(Shared::new(0u64));
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                s.push(|n| *n += 1);
                s.push(|n| *n += 1);
            })
        };
        assert_eq!(*block_on(s.wait_until_async(|n| *n == 2)).unwrap(), 2);
        pusher.join().unwrap();
    });
}

/// A waiter future registered and then dropped mid-wait while a push happens (before, during
/// or after the push's `notify_all` took its waker) never strands another waiter: the
/// remaining async waiter still completes.
#[test]
fn a_waiter_dropped_mid_wait_never_strands_another() {
    // Bound 3: three threads through the read lock, the version word and the Event's mutex;
    // an exhaustive run is far beyond the suite's budget (three-thread models: loom-pitfalls,
    // `seed.rs`). 2 preemptions catch every lost wake-up seen so far; 3 keeps a margin.
    check("async::dropped_waiter_vs_push", Some(3), || {
        let s = Arc::new(Shared::new(0u64));
        let mut staying = s.puller_arc();
        let mut leaving = s.puller_arc();
        let leaver = thread::spawn(move || {
            let mut wait = leaving.wait_async();
            let _pending = block_on(PollOnce(&mut wait)); // registered, unless already pushed
            drop(wait); // frees its slot, whatever the push did with it
        });
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.push(|n| *n += 1))
        };
        assert_eq!(*block_on(staying.wait_async()).unwrap(), 1);
        leaver.join().unwrap();
        pusher.join().unwrap();
    });
}

/// One push wakes a thread blocked in `Puller::wait` and a future pending in `wait_async`
/// together (the condvar and the waker slab of one Event).
#[test]
fn one_push_wakes_a_sync_and_an_async_waiter() {
    // Bound 3: three threads, as above.
    check("async::one_push_wakes_sync_and_async", Some(3), || {
        let s = Arc::new(Shared::new(0u64));
        let mut async_puller = s.puller_arc();
        let mut sync_puller = s.puller_arc();
        let sync_waiter = thread::spawn(move || *sync_puller.wait().unwrap());
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.push(|n| *n += 1))
        };
        assert_eq!(*block_on(async_puller.wait_async()).unwrap(), 1);
        assert_eq!(sync_waiter.join().unwrap(), 1);
        pusher.join().unwrap();
    });
}

/// `WaitGroup::wait_async` against a racing last `done`: the future completes in every
/// interleaving, and sees the worker's write.
#[test]
fn wait_group_wait_async_vs_a_racing_last_done() {
    // Unbounded (exhaustive): two threads.
    check("async::wait_group_wait_async_vs_done", None, || {
        let wg = WaitGroup::new();
        let data = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let token = wg.token();
        let worker = {
            let data = Arc::clone(&data);
            thread::spawn(move || {
                data.store(1, std::sync::atomic::Ordering::Relaxed);
                drop(token);
            })
        };
        block_on(wg.wait_async());
        assert_eq!(wg.count(), 0);
        // Relaxed: the happens-before comes from the group (the last `done` releases, the
        // completed wait acquires).
        assert_eq!(data.load(std::sync::atomic::Ordering::Relaxed), 1);
        worker.join().unwrap();
    });
}

/// A `WaitGroup::wait_async` future and a blocking `wait` on another thread, one last `done`:
/// both return.
#[test]
fn wait_group_last_done_wakes_a_sync_and_an_async_waiter() {
    // Bound 3: three threads on the state word and the Event, as
    // `wait_group::two_concurrent_waiters_are_both_released`.
    check("async::wait_group_sync_and_async", Some(3), || {
        let wg = WaitGroup::new();
        let token = wg.token();
        let sync_waiter = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait())
        };
        let worker = thread::spawn(move || drop(token));
        block_on(wg.wait_async());
        sync_waiter.join().unwrap();
        worker.join().unwrap();
    });
}
