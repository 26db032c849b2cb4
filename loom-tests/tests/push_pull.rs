#![cfg(loom)]
//! Push / pull: wake-ups of `Puller::wait` and `Shared::wait_until`, `push_at`, snapshots and
//! versions. A lost wake-up shows as a loom deadlock (timed waits are untimed under loom).

use loom::thread;
use pushpull::{Conflict, Shared, WriteGuard};
use pushpull_loom_tests::harness::check;
use std::sync::Arc;

/// A puller created before the push, waiting while another thread pushes: `wait` returns the
/// pushed value in every interleaving (no lost wake-up between publish and park).
#[test]
fn puller_wait_never_misses_a_push() {
    // Unbounded (exhaustive).
    check("push_pull::wait_vs_push", None, || {
        let s = Arc::new(Shared::new(0u64));
        let mut puller = s.puller();
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.push(|n| *n += 1))
        };
        assert_eq!(*puller.wait().unwrap(), 1);
        assert_eq!(puller.seen().get(), 1);
        pusher.join().unwrap();
    });
}

/// The waiter arrives concurrently with the push: it creates its puller on its own thread at
/// any point relative to the publish and waits if it started before it. If it saw version 0,
/// the push is still to come and `wait` must return it.
#[test]
fn puller_created_concurrently_with_the_push_never_hangs() {
    // Unbounded (exhaustive).
    check("push_pull::waiter_arrives_concurrently", None, || {
        let s = Arc::new(Shared::new(0u64));
        let waiter = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let mut puller = s.puller();
                if puller.seen().get() == 0 {
                    assert_eq!(*puller.wait().unwrap(), 1);
                }
                assert!(!puller.has_changed() || puller.seen().get() == 0);
            })
        };
        s.push(|n| *n += 1);
        waiter.join().unwrap();
    });
}

/// Two pullers waiting at once, one push: both are woken (the publish wakes all parked
/// waiters, whichever of them set the waiting flag). One puller waits on the main thread;
/// the other is created on its own thread (a `Puller` borrows its `Shared`, and loom has no
/// scoped threads) and waits if it started before the push.
#[test]
fn one_push_wakes_two_pullers() {
    // Bound 3: three threads through the read lock, the version word and the event's mutex
    // and condvar; an exhaustive run is far beyond the suite's time budget (the same shape in
    // `seed.rs` took 1,019,205 iterations / 86 s unbounded vs 4,393 at bound 3). 2
    // preemptions catch every lost wake-up seen so far (loom-pitfalls); 3 keeps a margin.
    check("push_pull::one_push_two_pullers", Some(3), || {
        let s = Arc::new(Shared::new(0u64));
        let mut puller = s.puller();
        let other_waiter = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let mut puller = s.puller();
                if puller.seen().get() == 0 {
                    assert_eq!(*puller.wait().unwrap(), 1);
                }
            })
        };
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.push(|n| *n += 1))
        };
        assert_eq!(*puller.wait().unwrap(), 1);
        other_waiter.join().unwrap();
        pusher.join().unwrap();
    });
}

/// `wait_until` never misses the publish that makes its condition true: a pusher pushes
/// twice, the waiter waits for the second value.
#[test]
fn wait_until_never_misses_a_push() {
    // Bound 3: exhaustive, this two-thread model took 295,254 iterations / 27 s once the loom
    // RwLock model counted readers (more loom operations per lock); loom-pitfalls found every
    // lost wake-up within 2 preemptions.
    check("push_pull::wait_until_vs_2_pushes", Some(3), || {
        let s = Arc::new(Shared::new(0u64));
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                s.push(|n| *n += 1);
                s.push(|n| *n += 1);
            })
        };
        let guard = s.wait_until(|n| *n == 2).unwrap();
        assert_eq!(*guard, 2);
        drop(guard);
        pusher.join().unwrap();
    });
}

/// `wait_until` with two pushers on two threads (three threads in all).
#[test]
fn wait_until_with_two_pushers() {
    // Bound 3: three threads, see `one_push_wakes_two_pullers`.
    check("push_pull::wait_until_2_pushers", Some(3), || {
        let s = Arc::new(Shared::new(0u64));
        let pushers: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&s);
                thread::spawn(move || s.push(|n| *n += 1))
            })
            .collect();
        assert_eq!(*s.wait_until(|n| *n == 2).unwrap(), 2);
        for pusher in pushers {
            pusher.join().unwrap();
        }
    });
}

/// `push_at` race: two threads push at the same version. Exactly one wins, and the other's
/// `Conflict { current }` is the winner's version; only the winner's change is applied.
#[test]
fn push_at_same_version_exactly_one_wins() {
    // Unbounded (exhaustive).
    check("push_pull::push_at_race", None, || {
        let s = Arc::new(Shared::new(0u64));
        let seen = s.version();
        let other = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.push_at(seen, |n| *n = 2))
        };
        let mine = s.push_at(seen, |n| *n = 1);
        let theirs = other.join().unwrap();
        let (winner_value, won_at, conflict) = match (mine, theirs) {
            (Ok(((), v)), Err(c)) => (1, v, c),
            (Err(c), Ok(((), v))) => (2, v, c),
            (mine, theirs) => panic!("not exactly one winner: {mine:?} / {theirs:?}"),
        };
        assert_eq!(won_at.get(), seen.get() + 1);
        assert_eq!(conflict, Conflict { current: won_at });
        assert_eq!(*s.read(), winner_value);
        assert_eq!(s.version(), won_at);
    });
}

/// A pulled snapshot is never older than its version: the value counts the pushes, and every
/// way of pulling (`Shared::pull`, `Puller::pull_with`, `Puller::wait`) returns a value equal
/// to the version it reports.
#[test]
fn pulled_snapshot_matches_its_version() {
    // Unbounded (exhaustive).
    check("push_pull::snapshot_matches_version", None, || {
        let s = Arc::new(Shared::new(0u64));
        let mut puller = s.puller();
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                s.push(|n| *n += 1);
                s.push(|n| *n += 1);
            })
        };
        let (value, version) = s.snapshot();
        assert_eq!(value, version.get());
        if let Some(value) = puller.pull_with(|n| *n) {
            assert_eq!(value, puller.seen().get());
        }
        if puller.seen().get() < 2 {
            let guard = puller.wait().unwrap();
            assert_eq!(*guard, puller.seen().get());
        }
        pusher.join().unwrap();
        assert_eq!(s.snapshot(), (2, s.version()));
    });
}

/// The version goes up by exactly one per publish: a `WriteGuard` mutated twice publishes
/// once, `push` once, and each writer sees, under its lock, a version equal to the number of
/// publishes so far (the value counts them); an observer never sees the version go back.
#[test]
fn version_increases_by_one_per_publish() {
    // Unbounded (exhaustive).
    check("push_pull::version_plus_one_per_publish", None, || {
        let s = Arc::new(Shared::new(0u64));
        let guard_writer = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let mut guard = s.write();
                let before = s.version().get();
                assert_eq!(before, *guard);
                *guard += 1; // publishes
                *guard += 0; // the same guard: no second publish
                assert_eq!(s.version().get(), before + 1);
                assert_eq!(s.version().get(), *guard);
            })
        };
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                s.push(|n| *n += 1);
            })
        };
        let first = s.version();
        let second = s.version();
        assert!(second >= first, "the version went back");
        guard_writer.join().unwrap();
        pusher.join().unwrap();
        assert_eq!(s.version().get(), 2);
        assert_eq!(*s.read(), 2);
    });
}

/// `push_if` returning `false` publishes nothing: the version stays, and a waiting puller is
/// not released by it; the real push that follows releases it with the right value.
#[test]
fn push_if_false_does_not_bump_or_wake() {
    // Unbounded (exhaustive).
    check("push_pull::push_if_false_no_bump", None, || {
        let s = Arc::new(Shared::new(0u64));
        let mut puller = s.puller();
        let pusher = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                assert!(!s.push_if(|_| false));
                assert!(s.push_if(|n| {
                    *n += 1;
                    true
                }));
            })
        };
        let guard = puller.wait().unwrap();
        assert_eq!(*guard, 1);
        assert_eq!(puller.seen().get(), 1);
        drop(guard);
        pusher.join().unwrap();
        assert_eq!(s.version().get(), 1);
    });
}

/// A write guard that is downgraded after a change wakes the waiting puller (the publish
/// happened, the lock was handed over without a writer in between).
#[test]
fn downgrade_after_change_wakes_the_puller() {
    // Unbounded (exhaustive).
    check("push_pull::downgrade_wakes_puller", None, || {
        let s = Arc::new(Shared::new(0u64));
        let mut puller = s.puller();
        let writer = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let mut guard = s.write();
                *guard = 7;
                let read = WriteGuard::downgrade(guard);
                assert_eq!(*read, 7);
            })
        };
        assert_eq!(*puller.wait().unwrap(), 7);
        writer.join().unwrap();
    });
}
