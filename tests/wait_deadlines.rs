//! Every wait keeps its word: a timed wait returns by its deadline whatever another thread
//! does with the lock, and the per-thread records cannot be fooled. Regression tests of the
//! "every wait keeps its word" issue, each named after the bug it pins; each failed on the
//! code before the fix (there the timed waits blocked in an untimed `read()`).
//!
//! No test measures time: a writer elsewhere holds the lock *until the wait under test has
//! returned* (`common::while_written_elsewhere`), so a wait that needs the lock to be released
//! never returns and `bounded` fails the test after its generous limit.

mod common;

use common::{bounded, while_written_elsewhere, READERS_TRACKED, SHORT, TIMEOUT};
use pushpull::{Shared, WaitGroup};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Long enough that a wait which honoured it instead of giving up would be caught by
/// `bounded`; short enough for the release builds where giving up takes the whole timeout.
const WAIT: Duration = Duration::from_millis(200);

#[test]
fn regression_puller_wait_for_blocked_until_another_threads_writer_let_go() {
    bounded("Puller::wait_for while written elsewhere", || {
        let s = Shared::new(0);
        let mut puller = s.puller();
        let got = while_written_elsewhere(&s, None, || puller.wait_for(WAIT).unwrap().map(|g| *g));
        assert_eq!(got, None, "nothing was published");
        assert_eq!(puller.seen().get(), 0);
    });
}

#[test]
fn regression_puller_wait_for_returned_some_only_after_a_publishing_writer_let_go() {
    bounded("Puller::wait_for, published, lock still held", || {
        let s = Shared::new(0);
        let mut puller = s.puller();
        let got = while_written_elsewhere(&s, Some(|v| *v = 1), || {
            puller.wait_for(WAIT).unwrap().map(|g| *g)
        });
        // v1 was published, but its value cannot be read before the writer lets go: the wait
        // gives up by its deadline and the puller stays at v0, so the next wait sees v1.
        assert_eq!(got, None);
        assert_eq!(puller.seen().get(), 0);
        assert!(puller.has_changed());
        assert_eq!(puller.wait_for(TIMEOUT).unwrap().map(|g| *g), Some(1));
        assert_eq!(puller.seen().get(), 1);
    });
}

#[test]
fn regression_wait_until_for_blocked_until_another_threads_writer_let_go() {
    bounded("wait_until_for while written elsewhere", || {
        let s = Shared::new(0);
        let got = while_written_elsewhere(&s, None, || {
            s.wait_until_for(WAIT, |v| *v == 1).unwrap().map(|g| *g)
        });
        assert_eq!(got, None);
        let got = while_written_elsewhere(&s, Some(|v| *v = 1), || {
            s.wait_until_for(WAIT, |v| *v == 1).unwrap().map(|g| *g)
        });
        assert_eq!(got, None, "true only once the writer lets go");
        assert_eq!(
            s.wait_until_for(TIMEOUT, |v| *v == 1).unwrap().map(|g| *g),
            Some(1)
        );
    });
}

#[test]
fn regression_a_parked_timed_wait_returns_by_its_deadline_while_a_writer_holds_the_lock() {
    // The waiter is parked (registered) before the writer takes the lock and publishes; the
    // wake-up comes while the lock is held. The wait must give up by its deadline rather than
    // queue for the read behind the writer.
    bounded("parked wait_for, then a writer publishes and holds", || {
        let s = Shared::new(0);
        thread::scope(|sc| {
            let (published_tx, published_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let mut puller = s.puller();
            let waiter = sc.spawn(move || {
                let got = puller.wait_for(WAIT).unwrap().map(|g| *g);
                (got, puller)
            });
            let s = &s;
            let writer = sc.spawn(move || {
                let mut w = s.write();
                *w = 5;
                published_tx.send(()).unwrap();
                release_rx.recv_timeout(TIMEOUT).expect("never released");
            });
            published_rx.recv_timeout(TIMEOUT).unwrap();
            let (got, mut puller) = waiter.join().unwrap();
            release_tx.send(()).unwrap();
            writer.join().unwrap();
            assert_eq!(got, None, "the value could not be read by the deadline");
            assert_eq!(puller.wait_for(TIMEOUT).unwrap().map(|g| *g), Some(5));
        });
    });
}

#[test]
fn regression_try_read_for_and_the_waits_agree_on_a_zero_timeout() {
    // A zero timeout is a timed call that has already expired: no spin, no park, no wait for
    // the lock; the answer is what holds right now.
    bounded("zero timeouts", || {
        let s = Shared::new(0);
        let mut puller = s.puller();
        assert!(puller.wait_for(Duration::ZERO).unwrap().is_none());
        assert!(s
            .wait_until_for(Duration::ZERO, |v| *v == 1)
            .unwrap()
            .is_none());
        assert_eq!(
            s.wait_until_for(Duration::ZERO, |v| *v == 0)
                .unwrap()
                .map(|g| *g),
            Some(0)
        );
        s.push(|v| *v = 1);
        assert_eq!(
            puller.wait_for(Duration::ZERO).unwrap().map(|g| *g),
            Some(1)
        );
        let got = while_written_elsewhere(&s, None, || {
            (
                s.try_read_for(Duration::ZERO).is_none(),
                puller.wait_for(Duration::ZERO).unwrap().is_none(),
                s.wait_until_for(Duration::ZERO, |_| true)
                    .unwrap()
                    .is_none(),
            )
        });
        assert_eq!(got, (true, true, true));
        let wg = WaitGroup::new();
        let token = wg.token();
        assert!(!wg.wait_for(Duration::ZERO));
        drop(token);
        assert!(wg.wait_for(Duration::ZERO));
    });
}

#[test]
fn regression_a_timeout_too_large_for_instant_is_still_a_timed_call() {
    // `now + Duration::MAX` does not fit in an `Instant`. It used to turn the call into its
    // untimed twin, which panics where the timed one must give up at once.
    bounded("Duration::MAX", || {
        let s = Shared::new(0);
        let mut puller = s.puller();
        let m = s.modify();
        assert!(puller.wait_for(Duration::MAX).unwrap().is_none());
        assert!(s
            .wait_until_for(Duration::MAX, |v| *v == 1)
            .unwrap()
            .is_none());
        assert!(s.try_modify_for(Duration::MAX).is_none());
        assert!(s.try_write_for(Duration::MAX).is_none());
        drop(m);
        s.push(|v| *v = 1);
        assert_eq!(puller.wait_for(Duration::MAX).unwrap().map(|g| *g), Some(1));
    });
}

#[test]
fn regression_puller_wait_for_with_own_read_guard_and_a_queued_writer_hung_in_release() {
    // This thread reads; another thread's writer queues behind that read. The wait's own
    // read used to queue behind the writer, which waits for this thread: a deadlock that no
    // timeout ended (release builds, which do not track readers). Debug builds see the read
    // guard and give up at once; release builds give up when the timeout expires.
    bounded("wait_for with own read and a queued writer", || {
        let s = Shared::new(0);
        thread::scope(|sc| {
            let mut puller = s.puller();
            let r = s.read();
            let writer = sc.spawn(|| s.push(|v| *v = 1));
            while s.try_read().is_some() {
                // Until the writer is queued (it then refuses new plain readers).
                thread::yield_now();
            }
            assert!(puller.wait_for(WAIT).unwrap().is_none());
            assert!(s.wait_until_for(WAIT, |v| *v == 1).unwrap().is_none());
            if READERS_TRACKED {
                // The recursive read of a known reader does not queue behind the writer.
                assert_eq!(
                    s.wait_until_for(WAIT, |v| *v == 0).unwrap().map(|g| *g),
                    Some(0)
                );
            }
            drop(r);
            writer.join().unwrap();
            assert_eq!(puller.wait_for(TIMEOUT).unwrap().map(|g| *g), Some(1));
        });
    });
}

#[test]
fn regression_timed_waits_under_own_write_guard_self_deadlocked_in_plain_release() {
    // The registration read under this thread's own write lock never succeeds. Builds that
    // track the writer give up at once; plain release builds give up at the timeout.
    bounded("timed waits under own WriteGuard", || {
        let s = Shared::new(0);
        let mut puller = s.puller();
        {
            let _w = s.write();
            assert!(puller.wait_for(SHORT).unwrap().is_none());
            assert!(s.wait_until_for(SHORT, |v| *v == 1).unwrap().is_none());
            assert!(
                s.wait_until_for(SHORT, |v| *v == 0).unwrap().is_none(),
                "true, but unreadable"
            );
        }
        {
            let mut w = s.write();
            *w = 1; // published, lock still held
            assert!(puller.wait_for(SHORT).unwrap().is_none());
            assert!(s.wait_until_for(SHORT, |v| *v == 1).unwrap().is_none());
        }
        assert_eq!(puller.wait_for(TIMEOUT).unwrap().map(|g| *g), Some(1));
    });
}

#[test]
#[cfg(debug_assertions)]
fn regression_forgotten_read_guard_and_address_reuse_gave_a_false_already_holds_a_read_guard() {
    // A `ReadGuard` that is forgotten leaves its record behind. The record used to be keyed by
    // the `Shared`'s address, so a new `Shared` in the same place inherited it: its `write()`
    // panicked "already holds a ReadGuard" and its timed waits gave up at once.
    bounded("mem::forget + address reuse", || {
        let mut slot = Shared::new(0);
        std::mem::forget(slot.read());
        // The record is there: this thread "holds" a read guard of the old `Shared`, so its
        // timed write gives up at once (60 s would be noticed: `bounded` fails after 10 s).
        assert!(slot.try_write_for(Duration::from_secs(60)).is_none());
        // Assignment drops the old `Shared` and puts the new one in the same place.
        slot = Shared::new(1);
        *slot.write() = 2; // no false "already holds a ReadGuard"
        assert!(slot.try_write_for(TIMEOUT).is_some());
        let mut puller = slot.puller();
        thread::scope(|sc| {
            sc.spawn(|| slot.push(|v| *v = 3));
            assert_eq!(puller.wait_for(TIMEOUT).unwrap().map(|g| *g), Some(3));
        });
        assert_eq!(
            slot.wait_until_for(TIMEOUT, |v| *v == 3)
                .unwrap()
                .map(|g| *g),
            Some(3)
        );
    });
}

#[test]
fn a_guard_of_one_shared_does_not_count_against_another() {
    // Each `Shared` keeps its own records: holding a guard of `a` says nothing about `b`.
    bounded("guards of another Shared", || {
        let a = Shared::new(0);
        let b = Shared::new(0);
        let mut pb = b.puller();
        let _ra = a.read();
        let _ma = a.modify();
        *b.write() = 1; // no "would deadlock": the read and modify guards are a's
        assert_eq!(pb.wait_for(TIMEOUT).unwrap().map(|g| *g), Some(1));
        assert!(b.try_write_for(TIMEOUT).is_some());
        assert!(b.try_modify_for(TIMEOUT).is_some());
        thread::scope(|sc| {
            sc.spawn(|| b.push(|v| *v = 2));
            assert_eq!(
                b.wait_until_for(TIMEOUT, |v| *v == 2).unwrap().map(|g| *g),
                Some(2)
            );
            assert_eq!(*b.wait_until(|v| *v == 2).unwrap(), 2);
        });
        {
            assert!(a.try_write().is_none(), "a is read here"); // and never a panic
            let m = b.modify();
            let _w = pushpull::ModifyGuard::upgrade(m);
        }
    });
}
