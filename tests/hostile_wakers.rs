//! A `Waker` is user code: its `clone`, `wake` and `drop` may panic, block, or call back into
//! pushpull. None of them runs under a lock of pushpull's, one waker's panic costs nobody
//! else their wake-up, and a panic while the thread already unwinds never aborts the process.
//!
//! A safe `std::task::Wake` cannot hook `clone` (it is an `Arc` clone), so the wakers here
//! are built from a `RawWaker` vtable: the one `unsafe` of the test suite (the library itself
//! is `#![forbid(unsafe_code)]`).

mod common;

use common::{bounded, message, CountingWaker, TIMEOUT};
use pushpull::{Shared, WaitGroup};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::thread;
use std::time::Duration;

/// What a hooked waker is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Clone,
    Wake,
    Drop,
}

type Hook = dyn Fn(Call) + Send + Sync;

/// A waker that calls `hook` on every clone, wake and drop (of any of its copies).
fn hooked(hook: impl Fn(Call) + Send + Sync + 'static) -> Waker {
    let data: Arc<Box<Hook>> = Arc::new(Box::new(hook));
    let raw = RawWaker::new(Arc::into_raw(data).cast(), &VTABLE);
    // SAFETY: the vtable below upholds `RawWaker`'s contract: the data pointer is an
    // `Arc<Box<Hook>>` (`Send + Sync`) turned into a raw pointer; `clone` adds a strong
    // count, `wake` and `drop` give one back, `wake_by_ref` leaves it.
    unsafe { Waker::from_raw(raw) }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// The hook of `data` (an `Arc<Box<Hook>>` pointer this waker owns one count of).
fn hook_of(data: *const ()) -> &'static Hook {
    // SAFETY: `data` came from `Arc::into_raw` and this waker holds a count, so the box
    // lives at least as long as the call this reference is used in (never stored).
    unsafe { &**(data as *const Box<Hook>) }
}

fn clone(data: *const ()) -> RawWaker {
    // SAFETY: as in `hook_of`; the new count belongs to the returned waker.
    unsafe { Arc::increment_strong_count(data as *const Box<Hook>) };
    hook_of(data)(Call::Clone);
    RawWaker::new(data, &VTABLE)
}

fn wake(data: *const ()) {
    hook_of(data)(Call::Wake);
    drop_count(data);
}

fn wake_by_ref(data: *const ()) {
    hook_of(data)(Call::Wake);
}

fn drop_waker(data: *const ()) {
    // Give the count back even if the hook panics.
    struct Release(*const ());
    impl Drop for Release {
        fn drop(&mut self) {
            drop_count(self.0);
        }
    }
    let _release = Release(data);
    hook_of(data)(Call::Drop);
}

fn drop_count(data: *const ()) {
    // SAFETY: gives back the count this waker held (once: `wake` consumes the waker).
    unsafe { Arc::decrement_strong_count(data as *const Box<Hook>) };
}

fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// The expected panics of these tests, kept out of the output.
const EXPECTED: &str = common::EXPECTED;

// ---- clone -------------------------------------------------------------------------------

/// A waker whose `clone` pushes to the very `Shared` its future waits on (once: `armed`).
/// `poll` clones it with no lock of pushpull's held, so the push goes through, and the
/// future sees it.
#[test]
fn a_waker_clone_that_pushes_to_the_same_shared_does_not_deadlock_poll() {
    bounded("clone pushes", || {
        let shared = Arc::new(Shared::new(0));
        let armed = Arc::new(AtomicBool::new(false));
        let waker = {
            let (shared, armed) = (Arc::clone(&shared), Arc::clone(&armed));
            hooked(move |call| {
                if call == Call::Clone && armed.swap(false, Ordering::SeqCst) {
                    shared.push(|n| *n += 1);
                }
            })
        };
        // A first registration clones the waker.
        let mut puller = shared.puller();
        let mut wait = puller.wait_async();
        armed.store(true, Ordering::SeqCst);
        assert!(matches!(poll_once(&mut wait, &waker), Poll::Ready(Ok(g)) if *g == 1));
        drop(wait);
        // A re-poll with another task's waker replaces the stored one: a clone too.
        let mut until = shared.wait_until_async(|n| *n == 2);
        let (_, counting) = CountingWaker::new();
        assert!(poll_once(&mut until, &counting).is_pending());
        armed.store(true, Ordering::SeqCst);
        assert!(matches!(poll_once(&mut until, &waker), Poll::Ready(Ok(g)) if *g == 2));
    });
}

/// The same for a `WaitGroup`: a waker whose `clone` calls the group's last `done`.
#[test]
fn a_waker_clone_that_ends_the_round_does_not_deadlock_poll() {
    bounded("clone calls done", || {
        let wg = WaitGroup::new();
        let token = Mutex::new(Some(wg.token()));
        let waker = hooked(move |call| {
            if call == Call::Clone {
                drop(token.lock().unwrap().take()); // the last done, once
            }
        });
        let mut wait = wg.wait_async();
        assert!(poll_once(&mut wait, &waker).is_ready());
        assert_eq!(wg.count(), 0);
    });
}

/// A re-poll with the waker already stored (or one that would wake the same task) clones
/// nothing (`Waker::will_wake`); a first registration, and a replacement by another task's
/// waker, clone once each.
#[test]
fn a_repoll_with_the_same_waker_clones_nothing() {
    let clones = Arc::new(AtomicUsize::new(0));
    let waker = {
        let clones = Arc::clone(&clones);
        hooked(move |call| {
            if call == Call::Clone {
                clones.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let shared = Shared::new(0);
    let mut puller = shared.puller();
    let mut wait = puller.wait_async();
    assert!(poll_once(&mut wait, &waker).is_pending());
    assert_eq!(clones.load(Ordering::SeqCst), 1, "the stored copy");
    for _ in 0..3 {
        assert!(poll_once(&mut wait, &waker).is_pending());
    }
    assert_eq!(clones.load(Ordering::SeqCst), 1, "kept: no clone");
    let (_, other) = CountingWaker::new();
    assert!(poll_once(&mut wait, &other).is_pending());
    assert!(poll_once(&mut wait, &waker).is_pending());
    assert_eq!(clones.load(Ordering::SeqCst), 2, "replaced: one clone");
}

/// The release protocol's check under the `Event`'s mutex: a future whose read failed (a
/// writer holds the lock) announces that it waits for the release, and the writer releases
/// the lock while the future clones its waker, before storing it. The writer's release found
/// no waker to wake; the future's check sees the lock free and reads again, so no wake-up is
/// lost.
#[test]
fn a_writer_released_while_the_future_registers_for_its_release_loses_no_wake_up() {
    bounded("release during registration", || {
        let shared = Arc::new(Shared::new(0));
        let mut until = shared.wait_until_async(|n| *n == 0);
        let writer = Mutex::new(Some(common::hold_write_lock(&shared, |n| *n = 1)));
        let waker = hooked(move |call| {
            if call == Call::Clone {
                if let Some(writer) = writer.lock().unwrap().take() {
                    writer.release(false);
                }
            }
        });
        assert!(
            matches!(poll_once(&mut until, &waker), Poll::Ready(Ok(g)) if *g == 0),
            "completed in the same poll"
        );
    });
}

/// A waker whose `clone` blocks (a slow executor, a lock of its own) on one thread does not
/// hold up another thread's timed wait on the same `Shared` or `WaitGroup`: "a timed wait
/// never blocks past its timeout" holds with any waker. (Were the clone made under the
/// Event's mutex, the timed waits below would block on that mutex until the clone is let go,
/// which happens only after they return: `bounded` would fail.)
#[test]
fn a_blocking_waker_clone_does_not_hold_up_another_threads_timed_wait() {
    bounded("clone blocks", || {
        let shared = Arc::new(Shared::new(0));
        let wg = WaitGroup::new();
        let token = wg.token();
        let (in_clone_tx, in_clone_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let blocking = Arc::new(AtomicBool::new(false));
        let waker = {
            let in_clone_tx = Mutex::new(in_clone_tx);
            let go_rx = Mutex::new(go_rx);
            let blocking = Arc::clone(&blocking);
            hooked(move |call| {
                if call == Call::Clone && blocking.load(Ordering::SeqCst) {
                    in_clone_tx.lock().unwrap().send(()).unwrap();
                    go_rx.lock().unwrap().recv_timeout(TIMEOUT).unwrap();
                }
            })
        };
        let poller = {
            let shared = Arc::clone(&shared);
            let wg = wg.clone();
            let waker = waker.clone();
            blocking.store(true, Ordering::SeqCst); // from the poller's clones on
            thread::spawn(move || {
                let mut puller = shared.puller();
                let mut wait = puller.wait_async();
                assert!(poll_once(&mut wait, &waker).is_pending());
                let mut group = wg.wait_async();
                assert!(poll_once(&mut group, &waker).is_pending());
            })
        };
        let mut puller = shared.puller();
        for _ in 0..2 {
            in_clone_rx.recv_timeout(TIMEOUT).unwrap(); // the poller is inside a clone
            assert!(puller.wait_for(Duration::from_millis(1)).unwrap().is_none());
            assert!(!wg.wait_for(Duration::from_millis(1)));
            go_tx.send(()).unwrap();
        }
        poller.join().unwrap();
        blocking.store(false, Ordering::SeqCst);
        drop(token);
    });
}

// ---- wake --------------------------------------------------------------------------------

/// One waiter's `wake` panics: every other waiter is woken all the same, the panic reaches
/// the pusher once they were (the push itself is done and not poisoning), and nothing is
/// left registered that could lose a later wake-up.
#[test]
fn a_panicking_wake_reaches_the_pusher_after_every_other_waiter_was_woken() {
    common::quiet_expected_panics();
    let shared = Shared::new(0);
    let panicking = hooked(|call| {
        if call == Call::Wake {
            panic!("{EXPECTED} wake");
        }
    });
    let counts: Vec<_> = (0..40).map(|_| CountingWaker::new()).collect();
    let mut pullers: Vec<_> = (0..41).map(|_| shared.puller()).collect();
    let mut waits: Vec<_> = pullers.iter_mut().map(|p| p.wait_async()).collect();
    // The panicking waker sits between the others, in the first of two batches.
    for (i, wait) in waits.iter_mut().enumerate() {
        let waker = match i {
            5 => &panicking,
            i if i < 5 => &counts[i].1,
            i => &counts[i - 1].1,
        };
        assert!(poll_once(wait, waker).is_pending());
    }
    let err = catch_unwind(AssertUnwindSafe(|| shared.push(|n| *n = 1)))
        .expect_err("the waker's panic reaches the pusher");
    assert!(message(&*err).contains("wake"));
    assert_eq!(shared.version().get(), 1, "the push happened");
    assert!(
        !shared.is_poisoned(),
        "the lock was released before any wake"
    );
    assert!(counts.iter().all(|(count, _)| count.wakes() == 1));
    for (i, wait) in waits.iter_mut().enumerate() {
        let waker = if i == 5 { &panicking } else { &counts[0].1 };
        assert!(matches!(poll_once(wait, waker), Poll::Ready(Ok(g)) if *g == 1));
    }
    drop(waits);
    // Later waits and pushes work as ever.
    let mut puller = shared.puller();
    let mut wait = puller.wait_async();
    assert!(poll_once(&mut wait, &counts[0].1).is_pending());
    shared.push(|n| *n = 2);
    assert!(matches!(poll_once(&mut wait, &counts[0].1), Poll::Ready(Ok(g)) if *g == 2));
}

/// A worker panics while holding a `WaitGroup` token; its drop is the last `done`, which
/// wakes a task whose waker panics. Before, that was a panic during unwinding: the process
/// aborted. Now the waker's panic is reported on stderr and swallowed, the other waiter is
/// woken, and the worker's own panic is what `join` returns.
#[test]
fn a_panicking_wake_during_a_workers_unwinding_does_not_abort() {
    common::quiet_expected_panics();
    let wg = WaitGroup::new();
    let token = wg.token();
    let panicking = hooked(|call| {
        if call == Call::Wake {
            panic!("{EXPECTED} wake while unwinding");
        }
    });
    let (count, counting) = CountingWaker::new();
    let mut first = wg.wait_async();
    let mut second = wg.wait_async();
    assert!(poll_once(&mut first, &panicking).is_pending());
    assert!(poll_once(&mut second, &counting).is_pending());
    let worker = thread::spawn(move || {
        let _token = token;
        panic!("{EXPECTED} the worker's own panic");
    });
    let err = worker.join().expect_err("the worker panicked");
    assert!(message(&*err).contains("the worker's own panic"));
    assert_eq!(count.wakes(), 1, "the other waiter was woken");
    assert_eq!(wg.panicked(), 1);
    assert!(poll_once(&mut first, &panicking).is_ready());
    assert!(poll_once(&mut second, &counting).is_ready());
}

/// The same for a `Shared`: a pusher's closure panics, the poisoning publish wakes waiters
/// after the unlock while the pusher unwinds, and one of them panics in `wake`.
#[test]
fn a_panicking_wake_during_a_poisoning_push_does_not_abort() {
    common::quiet_expected_panics();
    let shared = Shared::new(0);
    let panicking = hooked(|call| {
        if call == Call::Wake {
            panic!("{EXPECTED} wake while unwinding");
        }
    });
    let (count, counting) = CountingWaker::new();
    let mut a = shared.puller();
    let mut b = shared.puller();
    let mut first = a.wait_async();
    let mut second = b.wait_async();
    assert!(poll_once(&mut first, &panicking).is_pending());
    assert!(poll_once(&mut second, &counting).is_pending());
    let err = catch_unwind(AssertUnwindSafe(|| {
        shared.push(|n| {
            *n = 1;
            panic!("{EXPECTED} the pusher's own panic")
        })
    }))
    .expect_err("the pusher panicked");
    assert!(message(&*err).contains("the pusher's own panic"));
    assert!(shared.is_poisoned());
    assert_eq!(count.wakes(), 1);
    assert!(poll_once(&mut second, &counting).is_ready());
}

// ---- drop --------------------------------------------------------------------------------

/// A future dropped while its task unwinds frees its slot and drops the stored waker; a
/// waker whose `drop` panics there must not abort the process either.
#[test]
fn a_panicking_waker_drop_during_unwinding_does_not_abort() {
    common::quiet_expected_panics();
    let shared = Shared::new(0);
    let armed = Arc::new(AtomicBool::new(false));
    let drops = Arc::new(AtomicUsize::new(0));
    let waker = {
        let (armed, drops) = (Arc::clone(&armed), Arc::clone(&drops));
        hooked(move |call| {
            if call == Call::Drop && armed.load(Ordering::SeqCst) {
                drops.fetch_add(1, Ordering::SeqCst);
                panic!("{EXPECTED} drop");
            }
        })
    };
    let mut puller = shared.puller();
    let err = catch_unwind(AssertUnwindSafe(|| {
        let mut wait = puller.wait_async();
        assert!(poll_once(&mut wait, &waker).is_pending());
        armed.store(true, Ordering::SeqCst);
        panic!("{EXPECTED} the task's own panic");
    }))
    .expect_err("the task panicked");
    assert!(message(&*err).contains("the task's own panic"));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the stored waker was dropped"
    );
    armed.store(false, Ordering::SeqCst);
    // Nothing stays registered: a push wakes nobody and works.
    shared.push(|n| *n = 1);
}
