//! Integration tests of the push/pull side: versions, `Puller`, `wait_until`, `push_if`,
//! `push_at`. Every wait is bounded (`wait_for`, `wait_until_for`, or `common::bounded`).

mod common;

use common::{bounded, scaled, SHORT, TIMEOUT};
use pushpull::{Conflict, Shared, Version};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

#[test]
fn puller_sees_strictly_increasing_versions_ending_at_the_last_push() {
    let pushes = scaled(5_000) as u64;
    bounded("pusher + puller", move || {
        // The value always equals its version: every push sets it to the next number.
        let shared = Shared::new(0u64);
        thread::scope(|s| {
            let mut puller = shared.puller();
            let reader = s.spawn(move || {
                let mut last = Version::ZERO;
                let mut wakeups = 0u64;
                while last.get() < pushes {
                    let guard = puller
                        .wait_for(TIMEOUT)
                        .expect("not closed")
                        .expect("a push must wake the puller");
                    let seen = puller.seen();
                    assert!(
                        seen > last,
                        "versions must strictly increase: {last:?} -> {seen:?}"
                    );
                    assert_eq!(*guard, seen.get(), "the value belongs to the version seen");
                    last = seen;
                    wakeups += 1;
                }
                assert_eq!(last.get(), pushes);
                assert!(!puller.has_changed());
                wakeups
            });
            for _ in 0..pushes {
                shared.push(|v| *v += 1);
            }
            let wakeups = reader.join().unwrap();
            assert!((1..=pushes).contains(&wakeups));
        });
        assert_eq!(shared.version().get(), pushes);
        assert_eq!(*shared.read(), pushes);
    });
}

#[test]
fn pull_is_a_consistent_snapshot_under_concurrent_pushes() {
    let pushes = scaled(3_000) as u64;
    bounded("pull snapshots", move || {
        let shared = Shared::new(0u64);
        let done = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..pushes {
                    shared.push(|v| *v += 1);
                }
                done.store(true, Ordering::Release);
            });
            s.spawn(|| {
                let mut last = 0;
                while !done.load(Ordering::Acquire) {
                    let (value, version) = shared.snapshot();
                    assert_eq!(value, version.get(), "value and version from one instant");
                    assert!(version.get() >= last);
                    last = version.get();
                }
            });
        });
    });
}

#[test]
fn wait_for_on_a_quiet_shared_returns_none() {
    bounded("quiet wait_for", || {
        let shared = Shared::new(1);
        let mut puller = shared.puller();
        assert!(puller.wait_for(SHORT).unwrap().is_none());
        assert_eq!(
            puller.seen(),
            Version::ZERO,
            "a timed-out wait moves nothing"
        );
        assert!(shared.wait_until_for(SHORT, |v| *v == 2).unwrap().is_none());
        // A zero timeout is a poll.
        assert!(puller
            .wait_for(std::time::Duration::ZERO)
            .unwrap()
            .is_none());
        shared.push(|v| *v = 2);
        assert_eq!(
            *puller.wait_for(std::time::Duration::ZERO).unwrap().unwrap(),
            2
        );
    });
}

#[test]
fn push_if_false_neither_bumps_nor_wakes() {
    bounded("push_if(false)", || {
        let shared = Shared::new(0);
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            let mut puller = shared.puller();
            let barrier = &barrier;
            let waiter = s.spawn(move || {
                barrier.wait();
                // No publish happens during this wait: it must time out, however long the
                // pushes below take.
                let first = puller.wait_for(SHORT).unwrap().map(|g| *g);
                barrier.wait();
                let second = puller.wait_for(TIMEOUT).unwrap().map(|g| *g);
                (first, second, puller.seen())
            });
            barrier.wait();
            for _ in 0..scaled(200) {
                assert!(!shared.push_if(|v| {
                    let _ = *v;
                    false
                }));
            }
            assert_eq!(shared.version(), Version::ZERO);
            barrier.wait();
            assert!(shared.push_if(|v| {
                *v = 42;
                true
            }));
            let (first, second, seen) = waiter.join().unwrap();
            assert_eq!(first, None, "push_if(false) woke a puller with a change");
            assert_eq!(second, Some(42));
            assert_eq!(seen.get(), 1);
        });
    });
}

#[test]
fn push_at_with_a_stale_version_conflicts_and_reports_the_current_one() {
    let shared = Shared::new(10);
    let (value, seen) = shared.snapshot();
    assert_eq!((value, seen), (10, Version::ZERO));
    let ((), now) = shared.push_at(seen, |v| *v = value + 1).unwrap();
    assert_eq!(now.get(), 1);
    let ran = AtomicBool::new(false);
    let conflict = shared
        .push_at(seen, |v| {
            ran.store(true, Ordering::Relaxed);
            *v = 0;
        })
        .unwrap_err();
    assert_eq!(conflict, Conflict { current: now });
    assert!(
        !ran.load(Ordering::Relaxed),
        "a refused push must not run its closure"
    );
    assert_eq!(*shared.read(), 11);
    assert_eq!(shared.version(), now);

    // A version from the future conflicts too.
    let future = Version::ZERO;
    shared.push(|v| *v += 1); // now at 2
    let err = shared.push_at(future, |_| ()).unwrap_err();
    assert_eq!(err.current.get(), 2);

    // With the fresh version it wins and returns the closure's result and the new version.
    let (result, now) = shared
        .push_at(err.current, |v| {
            *v *= 2;
            *v
        })
        .unwrap();
    assert_eq!((result, now.get()), (24, 3));
    assert_eq!(
        err.to_string(),
        "pushpull::Shared::push_at: conflict, the value is now at v2"
    );
    assert!(!shared.is_poisoned());
}

#[test]
fn push_at_retry_loops_from_three_threads_lose_no_update() {
    let per_thread = scaled(2_000) as u64;
    let threads = 3;
    let conflicts = AtomicUsize::new(0);
    let shared = bounded("push_at retry loops", move || {
        let shared = Shared::new(0u64);
        thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        loop {
                            let (value, seen) = shared.snapshot();
                            let next = value + 1; // "compute" outside the lock
                            match shared.push_at(seen, |v| *v = next) {
                                Ok((_, now)) => {
                                    assert!(now > seen);
                                    break;
                                }
                                Err(Conflict { current }) => {
                                    assert!(current > seen, "a conflict means someone pushed");
                                    conflicts.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                });
            }
        });
        shared
    });
    assert_eq!(*shared.read(), threads * per_thread);
    assert_eq!(shared.version().get(), threads * per_thread);
}

/// The pairing `push_at`'s docs warn about, replayed step by step: the value read under one
/// lock and the version read after it let a push land in between, and `push_at` accepts a
/// change computed from the older value: that push is lost. The version of the guard itself
/// (`ReadGuard::version`) refuses it.
#[test]
fn push_at_with_the_version_read_after_the_value_loses_the_push_in_between() {
    // Wrong: value, then version.
    let shared = Shared::new(0u64);
    let value = *shared.read(); // 0
    shared.push(|v| *v += 1); // another worker's increment lands here (v1)
    let seen = shared.version(); // v1: not the version of `value`
    assert!(shared.push_at(seen, |v| *v = value + 1).is_ok());
    assert_eq!(
        *shared.read(),
        1,
        "two increments, one survived: a lost update"
    );

    // Right: the value and its own version under one lock.
    let shared = Shared::new(0u64);
    let (value, seen) = {
        let guard = shared.read();
        (*guard, guard.version())
    };
    shared.push(|v| *v += 1);
    let conflict = shared.push_at(seen, |v| *v = value + 1).unwrap_err();
    assert_eq!(conflict.current.get(), 1);
    let (value, seen) = shared.snapshot(); // the same pairing, as one call
    shared.push_at(seen, |v| *v = value + 1).unwrap();
    assert_eq!(*shared.read(), 2, "both increments kept");
}

/// The right pairing (`ReadGuard::version`) under real contention: nothing lost.
#[test]
fn push_at_with_the_guards_own_version_loses_nothing_under_contention() {
    let per_thread = scaled(5_000) as u64;
    let threads = 4;
    let shared = bounded("optimistic counters", move || {
        let shared = Shared::new(0u64);
        thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        loop {
                            let (value, seen) = {
                                let guard = shared.read();
                                (*guard, guard.version())
                            };
                            if shared.push_at(seen, |v| *v = value + 1).is_ok() {
                                break;
                            }
                        }
                    }
                });
            }
        });
        shared
    });
    assert_eq!(*shared.read(), threads * per_thread);
}

/// The guard a wait returns tells which version it was woken for, while it borrows the puller
/// (`puller.seen()` cannot be called then, for an `ArcPuller`).
#[test]
fn the_guard_of_a_wait_knows_its_version() {
    let shared = Arc::new(Shared::new(0u64));
    let mut puller = shared.puller_arc();
    shared.push(|v| *v = 10);
    shared.push(|v| *v = 20);
    let guard = puller.wait().unwrap();
    assert_eq!((*guard, guard.version().get()), (20, 2));
    drop(guard);
    assert_eq!(puller.seen().get(), 2);
    let modify = shared.modify();
    assert_eq!(modify.version().get(), 2);
    let mut write = pushpull::ModifyGuard::upgrade(modify);
    assert_eq!(write.version().get(), 2, "not published yet");
    *write = 30;
    assert_eq!(write.version().get(), 3, "its own publish");
}

#[test]
fn wait_until_returns_at_once_when_already_true() {
    // Nobody ever publishes: an untimed wait_until must still return (checked in `bounded`).
    bounded("wait_until already true", || {
        let shared = Shared::new(5);
        let guard = shared.wait_until(|v| *v == 5).unwrap();
        assert_eq!(*guard, 5);
        drop(guard);
        let guard = shared.wait_until_for(TIMEOUT, |v| *v > 0).unwrap().unwrap();
        assert_eq!(*guard, 5);
    });
}

#[test]
fn wait_until_for_sees_a_condition_reached_by_another_thread() {
    let steps = scaled(500) as u32;
    bounded("wait_until_for across threads", move || {
        let shared = Shared::new(0u32);
        thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..steps {
                    shared.push(|v| *v += 1);
                }
            });
            let mut calls = 0;
            let guard = shared
                .wait_until_for(TIMEOUT, |v| {
                    calls += 1;
                    *v == steps
                })
                .expect("not closed")
                .expect("the condition is reached");
            assert_eq!(*guard, steps);
            assert!(calls >= 1);
        });
    });
}

#[test]
fn a_write_guard_only_read_through_does_not_bump_nor_wake() {
    bounded("read-only WriteGuard", || {
        let shared = Shared::new(vec![1, 2]);
        let mut puller = shared.puller();
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            let barrier = &barrier;
            let waiter = s.spawn(move || {
                barrier.wait();
                let woke = puller.wait_for(SHORT).unwrap().is_some();
                (woke, puller)
            });
            barrier.wait();
            for _ in 0..scaled(100) {
                let w = shared.write();
                assert_eq!(w.len(), 2); // Deref only
                drop(w);
            }
            let (woke, puller) = waiter.join().unwrap();
            assert!(!woke, "a read-only WriteGuard woke a puller");
            assert!(!puller.has_changed());
        });
        assert_eq!(shared.version(), Version::ZERO);
    });
}

#[test]
fn one_push_wakes_every_waiting_puller() {
    let pullers = 4;
    bounded("one push, many pullers", move || {
        let shared = Shared::new(0);
        let barrier = Barrier::new(pullers + 1);
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        thread::scope(|s| {
            let handles: Vec<_> = (0..pullers)
                .map(|_| {
                    let mut puller = shared.puller();
                    let (barrier, tid_tx) = (&barrier, tid_tx.clone());
                    s.spawn(move || {
                        tid_tx.send(common::kernel_tid()).unwrap();
                        barrier.wait();
                        let value = puller.wait_for(TIMEOUT).unwrap().map(|g| *g);
                        (value, puller.seen())
                    })
                })
                .collect();
            let tids: Vec<u32> = (0..pullers).map(|_| tid_rx.recv().unwrap()).collect();
            barrier.wait();
            // Every puller asleep in its wait: the push must wake each of them.
            common::until_asleep(&tids);
            shared.push(|v| *v = 7);
            for h in handles {
                let (value, seen) = h.join().unwrap();
                assert_eq!(value, Some(7));
                assert_eq!(seen.get(), 1);
            }
        });
    });
}

#[test]
fn ping_pong_never_loses_a_wakeup() {
    // Two threads take turns: each waits for the other's push before pushing. A lost wake-up
    // shows up as a `wait_for` timing out.
    let rounds = scaled(2_000) as u64;
    bounded("ping pong", move || {
        let ping = Shared::new(0u64);
        let pong = Shared::new(0u64);
        thread::scope(|s| {
            let mut from_ping = ping.puller();
            let pong_ref = &pong;
            s.spawn(move || {
                for i in 1..=rounds {
                    let v = *from_ping
                        .wait_for(TIMEOUT)
                        .unwrap()
                        .expect("lost wake-up (ping)");
                    assert_eq!(v, i);
                    pong_ref.push(|p| *p = i);
                }
            });
            let mut from_pong = pong.puller();
            for i in 1..=rounds {
                ping.push(|p| *p = i);
                let v = *from_pong
                    .wait_for(TIMEOUT)
                    .unwrap()
                    .expect("lost wake-up (pong)");
                assert_eq!(v, i);
            }
        });
        assert_eq!(ping.version().get(), rounds);
        assert_eq!(pong.version().get(), rounds);
    });
}

#[test]
fn puller_pull_pull_with_has_changed_mark_seen_seen() {
    let shared = Shared::new(vec![1]);
    shared.push(|v| v.push(2)); // before the puller: not reported
    let mut puller = shared.puller();
    assert_eq!(
        puller.seen().get(),
        1,
        "a puller starts at the current version"
    );
    assert!(!puller.has_changed());
    assert_eq!(puller.pull(), None);
    assert_eq!(puller.pull_with(|v| v.len()), None);

    shared.push(|v| v.push(3));
    shared.push(|v| v.push(4));
    assert!(puller.has_changed());
    assert_eq!(
        puller.pull(),
        Some(vec![1, 2, 3, 4]),
        "only the latest state"
    );
    assert_eq!(puller.seen().get(), 3);
    assert_eq!(puller.pull(), None, "never the same version twice");

    shared.push(|v| v.clear());
    let mut clone = puller.clone();
    assert_eq!(puller.pull_with(|v| v.len()), Some(0));
    assert_eq!(puller.seen().get(), 4);
    assert!(clone.has_changed(), "a clone has its own cursor");
    clone.mark_seen();
    assert!(!clone.has_changed());
    assert_eq!(clone.seen().get(), 4);
    assert_eq!(clone.pull(), None);

    assert!(std::ptr::eq(puller.shared(), &shared));
    assert!(format!("{puller:?}").contains("Puller"));

    // A puller that is told it missed nothing waits for the next push.
    let mut late = shared.puller();
    shared.push(|v| v.push(9));
    let guard = late.wait_for(TIMEOUT).unwrap().expect("a push happened");
    assert_eq!(*guard, [9]);
    drop(guard);
    assert_eq!(late.seen().get(), 5);
}

#[test]
fn publishes_are_counted_exactly_once_each() {
    let shared = Shared::new(0);
    shared.push(|v| *v += 1); // 1
    shared.push(|v| *v += 1); // 2
    assert!(shared.push_if(|v| {
        *v += 1;
        true
    })); // 3
    assert!(!shared.push_if(|_| false)); // still 3
    let mut w = shared.write();
    *w += 1;
    *w += 1; // one publish per guard: 4
    drop(w);
    let seen = shared.version();
    shared.push_at(seen, |v| *v += 1).unwrap(); // 5
    let m = shared.modify();
    *pushpull::ModifyGuard::upgrade(m) += 1; // 6
    let _ = shared.with(|v| *v); // reads publish nothing
    drop(shared.read());
    drop(shared.modify());
    assert_eq!(shared.version().get(), 6);
    assert_eq!(*shared.read(), 7);
}

#[test]
fn version_and_conflict_formatting_and_order() {
    let a = Version::ZERO;
    let shared = Shared::new(());
    shared.push(|_| ());
    let b = shared.version();
    assert!(a < b);
    assert_eq!(b.get(), 1);
    assert_eq!(b.to_string(), "v1");
    assert_eq!(format!("{b:?}"), "Version(1)");
    assert_eq!(Version::default(), Version::ZERO);
    let c = Conflict { current: b };
    let e: &dyn std::error::Error = &c;
    assert!(e.to_string().contains("v1"));
}

#[test]
fn untimed_puller_wait_returns_after_a_push_from_another_thread() {
    let shared = Arc::new(Shared::new(0));
    let value = bounded("Puller::wait", {
        let shared = Arc::clone(&shared);
        move || {
            thread::scope(|s| {
                let mut puller = shared.puller();
                let pusher = &shared;
                s.spawn(move || pusher.push(|v| *v = 3));
                let value = *puller.wait().unwrap();
                value
            })
        }
    });
    assert_eq!(value, 3);
}
