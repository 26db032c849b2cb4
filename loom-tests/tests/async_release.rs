#![cfg(loom)]
//! Futures and the lock (issue 23): a future that cannot read because another thread's
//! writer holds the lock sleeps until that writer's release (the `ASYNC` / `RELEASE_WAIT`
//! protocol of `src/shared/release.rs`); and wakers are user code (`src/park/wakers.rs`):
//! cloned outside the `Event`'s mutex, and a panicking `wake` costs no other waiter its
//! wake-up. A lost wake-up shows as a loom deadlock: `block_on_model`'s thread parks on loom's
//! `park`, which never returns spuriously.

use loom::thread;
use pushpull::Shared;
use pushpull_loom_tests::harness::{block_on_model, check, quietly, ModelWaker, WAKE_PANIC};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// A writer that takes the lock and releases it without publishing (a guard only read
/// through): nothing but its release can wake a `wait_until_async` whose first poll found it
/// holding the lock, and whose predicate holds all along.
#[test]
fn a_writer_that_does_not_publish_wakes_a_future_it_kept_from_reading() {
    // Unbounded (exhaustive): two threads.
    check("release::non_publishing_writer", None, || {
        let s = Arc::new(Shared::new(0u64));
        // Created first (it sets ASYNC while the lock is free), then raced with the writer.
        let until = s.wait_until_async(|n| *n == 0);
        let writer = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let guard = s.write();
                assert_eq!(*guard, 0); // read through only: no publish
            })
        };
        assert_eq!(*block_on_model(until).unwrap(), 0);
        assert_eq!(s.version().get(), 0);
        writer.join().unwrap();
    });
}

/// A writer holding the lock while a future polls, and publishing: the future either reads
/// before, registers and is woken by the publish, piggybacks on a registration, or sleeps
/// until the release; it completes with the pushed value in every interleaving.
#[test]
fn a_future_polled_while_a_writer_holds_completes_with_its_publish() {
    // Bound 3: two threads, but two futures with their registrations, the release protocol
    // and the read lock on each poll: 173,625 iterations / 15 s exhaustive, beyond the
    // suite's budget; 2 preemptions caught every lost wake-up seen so far, 3 keeps a margin.
    check("release::writer_holds_and_publishes", Some(3), || {
        let s = Arc::new(Shared::new(0u64));
        let mut puller = s.puller_arc();
        let until = s.wait_until_async(|n| *n == 1);
        let writer = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let mut guard = s.write();
                *guard = 1;
            })
        };
        assert_eq!(*block_on_model(until).unwrap(), 1);
        assert_eq!(*block_on_model(puller.wait_async()).unwrap(), 1);
        writer.join().unwrap();
    });
}

/// Two writers in a row, neither publishing: the first one's release may come after the
/// future announced that it waits for it but before the future stored its waker, and the
/// second writer may already hold the lock when the future checks it. The second writer's
/// release must still wake the future.
#[test]
fn a_release_wait_survives_a_second_writer() {
    // Bound 4: three threads. The lost wake-up this model was written for (the future
    // announced its wait before the critical section that stores its waker, so the first
    // writer's release woke nobody and the second writer's found no flag) needs 4 preemptions:
    // bound 3 passed it (1,457 iterations), bound 4 reports the deadlock. Exhaustive takes
    // more than 15 minutes.
    check("release::two_writers_in_a_row", Some(4), || {
        let s = Arc::new(Shared::new(0u64));
        let until = s.wait_until_async(|n| *n == 0);
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&s);
                thread::spawn(move || drop(s.write()))
            })
            .collect();
        assert_eq!(*block_on_model(until).unwrap(), 0);
        for writer in writers {
            writer.join().unwrap();
        }
    });
}

/// The version moved past the puller's (one push), and a second writer holds the lock
/// without publishing: `wait_async` must take its guard after that writer's release. Three
/// threads: the pusher, the non-publishing writer, the future.
#[test]
fn a_future_whose_version_moved_while_a_writer_holds_completes() {
    // Bound 3: three threads through the lock, the version word and the Event (as the other
    // three-thread async models); 2 preemptions caught every lost wake-up seen so far.
    check("release::version_moved_writer_holds", Some(3), || {
        let s = Arc::new(Shared::new(0u64));
        let mut puller = s.puller_arc();
        let wait = puller.wait_async();
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.push(|n| *n = 1))
        };
        let holder = {
            let s = Arc::clone(&s);
            thread::spawn(move || drop(s.write()))
        };
        assert_eq!(*block_on_model(wait).unwrap(), 1);
        pusher.join().unwrap();
        holder.join().unwrap();
    });
}

/// One of two waiters has a waker that panics when woken: the push wakes the other all the
/// same (the panic, if the panicking waiter was registered in time, reaches the pusher after
/// every wake-up was delivered).
#[test]
fn a_panicking_wake_costs_no_other_waiter_its_wake_up() {
    // Bound 3: three model threads (the panicking waiter's poll runs on the main thread).
    check("wakers::panicking_wake", Some(3), || {
        let s = Arc::new(Shared::new(0u64));
        let mut staying = s.puller_arc();
        let mut broken = s.puller_arc();
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || match quietly(|| s.push(|n| *n = 1)) {
                Ok(()) => {}
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_default();
                    assert!(message.contains(WAKE_PANIC), "{message}");
                }
            })
        };
        let waiter = thread::spawn(move || *block_on_model(staying.wait_async()).unwrap());
        {
            let panicking = Waker::from(ModelWaker::new(true));
            let mut wait = broken.wait_async();
            let pending = quietly(|| {
                std::pin::Pin::new(&mut wait)
                    .poll(&mut Context::from_waker(&panicking))
                    .is_pending()
            });
            // Dropping it after the push may have woken it: the slot is freed or left alone.
            let _ = pending;
        }
        assert_eq!(waiter.join().unwrap(), 1);
        pusher.join().unwrap();
    });
}

/// A waker whose `clone` pushes to the `Shared` its future waits on: `AsyncWaiter::park` clones
/// it with the `Event`'s mutex released, so the push's wake-up (which takes that mutex: the
/// future's registration set `WAITING`) goes through; had the clone run under the mutex, loom
/// would report the re-lock as a deadlock. Another thread pushes concurrently.
#[test]
fn a_waker_is_cloned_outside_the_events_mutex() {
    // Bound 3: two threads, but every clone is a push (578,164 iterations / 35 s exhaustive).
    check("wakers::clone_outside_the_mutex", Some(3), || {
        let s = Arc::new(Shared::new(0u64));
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.push(|n| *n += 1))
        };
        let mut puller = s.puller_arc();
        let waker = pushing_waker(Arc::clone(&s));
        let mut wait = puller.wait_async();
        // The clone pushes before the waker is stored (or the other push came first), so the
        // future completes; it may have to poll again if it was created and first polled
        // while the other pusher held the lock (the documented bootstrap case: it re-polls).
        let value = loop {
            match std::pin::Pin::new(&mut wait).poll(&mut Context::from_waker(&waker)) {
                Poll::Ready(guard) => break *guard.unwrap(),
                Poll::Pending => thread::yield_now(),
            }
        };
        assert!(value >= 1);
        drop(wait);
        pusher.join().unwrap();
    });
}

/// A waker whose every clone pushes once to `shared` (built from a `RawWaker`: a safe `Wake`
/// cannot hook `clone`); waking it does nothing.
fn pushing_waker(shared: Arc<Shared<u64>>) -> Waker {
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, drop_data, noop, drop_data);
    fn clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` is an `Arc<Shared<u64>>` from `Arc::into_raw`, alive while any copy
        // of this waker is; the new count belongs to the returned copy.
        let shared = unsafe {
            Arc::increment_strong_count(data as *const Shared<u64>);
            &*(data as *const Shared<u64>)
        };
        shared.push(|n| *n += 1);
        RawWaker::new(data, &VTABLE)
    }
    fn noop(_: *const ()) {}
    fn drop_data(data: *const ()) {
        // SAFETY: gives back the count this copy held.
        unsafe { Arc::decrement_strong_count(data as *const Shared<u64>) };
    }
    let raw = RawWaker::new(Arc::into_raw(shared).cast(), &VTABLE);
    // SAFETY: the vtable upholds `RawWaker`'s contract (see `clone` and `drop_data`);
    // `Shared<u64>` is `Send + Sync`.
    unsafe { Waker::from_raw(raw) }
}
