//! Panic safety: a panic with mutable access releases the lock, poisons, publishes the
//! half-done change and wakes waiters; a panic with read-only access does neither; a panicking
//! WaitGroup worker never hangs the master. Every wait is bounded.

mod common;

use common::{bounded, quiet_expected_panics, scaled, EXPECTED, TIMEOUT};
use pushpull::{ModifyGuard, Shared, WaitGroup};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

/// One way of panicking half-way through a change of `[1, 2]` (it clears the vector, then
/// panics before putting anything back).
type Panicker = fn(&Shared<Vec<i32>>);

fn in_update(s: &Shared<Vec<i32>>) {
    s.push(|v| {
        v.clear();
        panic!("{EXPECTED} update");
    })
}

fn in_push(s: &Shared<Vec<i32>>) {
    s.push(|v| {
        v.clear();
        panic!("{EXPECTED} push");
    })
}

fn in_write_guard(s: &Shared<Vec<i32>>) {
    let mut w = s.write();
    w.clear();
    panic!("{EXPECTED} write guard");
}

fn after_modify_upgrade(s: &Shared<Vec<i32>>) {
    let m = s.modify();
    let mut w = ModifyGuard::upgrade(m);
    w.clear();
    panic!("{EXPECTED} upgraded modify guard");
}

fn in_push_if(s: &Shared<Vec<i32>>) {
    s.push_if(|v| {
        v.clear();
        panic!("{EXPECTED} push_if");
    });
}

fn in_push_at(s: &Shared<Vec<i32>>) {
    let seen = s.version();
    let _ = s.push_at(seen, |v| {
        v.clear();
        panic!("{EXPECTED} push_at");
    });
}

/// Runs `panicker` while a `Puller::wait_for` and a `wait_until_for` wait on other threads,
/// then checks: the panic propagated, the lock is free, the value is poisoned, the half-done
/// change was published exactly once, both waiters were woken, and `clear_poison` clears.
fn check_panic_poisons_releases_and_wakes(name: &str, panicker: Panicker) {
    quiet_expected_panics();
    let name = name.to_string();
    bounded(&name.clone(), move || {
        let shared = Shared::new(vec![1, 2]);
        let barrier = Barrier::new(3);
        thread::scope(|s| {
            let mut puller = shared.puller();
            let (shared_ref, barrier_ref) = (&shared, &barrier);
            let (tid_tx, tid_rx) = std::sync::mpsc::channel();
            let pull_tid = tid_tx.clone();
            let pull_waiter = s.spawn(move || {
                pull_tid.send(common::kernel_tid()).unwrap();
                barrier_ref.wait();
                let guard = puller.wait_for(TIMEOUT).unwrap().map(|g| g.clone());
                (guard, shared_ref.is_poisoned(), puller.seen())
            });
            let until_waiter = s.spawn(move || {
                tid_tx.send(common::kernel_tid()).unwrap();
                barrier_ref.wait();
                let guard = shared_ref
                    .wait_until_for(TIMEOUT, |v| v.is_empty())
                    .unwrap();
                guard.map(|g| g.clone())
            });
            let tids = [tid_rx.recv().unwrap(), tid_rx.recv().unwrap()];
            barrier.wait();
            // Both waiters asleep in their waits: the panic's publish must wake them.
            common::until_asleep(&tids);
            let result = catch_unwind(AssertUnwindSafe(|| panicker(&shared)));
            assert!(result.is_err(), "{name}: the panic propagates");

            let (seen_value, poisoned, seen) = pull_waiter.join().unwrap();
            assert_eq!(
                seen_value,
                Some(vec![]),
                "{name}: puller woken with the half-done value"
            );
            assert!(
                poisoned,
                "{name}: the puller can tell the value is poisoned"
            );
            assert_eq!(seen.get(), 1);
            assert_eq!(
                until_waiter.join().unwrap(),
                Some(vec![]),
                "{name}: wait_until woken"
            );
        });
        assert!(shared.is_poisoned(), "{name}: poisoned");
        assert_eq!(shared.version().get(), 1, "{name}: published exactly once");
        assert!(shared.try_write().is_some(), "{name}: the lock is free");
        assert!(shared.try_modify().is_some(), "{name}: the lock is free");
        assert!(format!("{shared:?}").contains("poisoned: true"));
        // Access is never refused; repair, then clear.
        shared.push(|v| v.extend([1, 2]));
        assert!(
            shared.is_poisoned(),
            "a successful write does not clear the flag by itself"
        );
        let before = shared.version();
        shared.clear_poison();
        assert!(!shared.is_poisoned(), "{name}: clear_poison clears");
        assert_eq!(shared.version(), before, "clear_poison publishes nothing");
        assert_eq!(*shared.read(), [1, 2]);
    });
}

#[test]
fn panic_inside_update_poisons_releases_and_wakes() {
    check_panic_poisons_releases_and_wakes("update", in_update);
}

#[test]
fn panic_inside_push_poisons_releases_and_wakes() {
    check_panic_poisons_releases_and_wakes("push", in_push);
}

#[test]
fn panic_with_a_mutated_write_guard_poisons_releases_and_wakes() {
    check_panic_poisons_releases_and_wakes("WriteGuard", in_write_guard);
}

#[test]
fn panic_after_modify_guard_upgrade_poisons_releases_and_wakes() {
    check_panic_poisons_releases_and_wakes("ModifyGuard::upgrade", after_modify_upgrade);
}

#[test]
fn panic_inside_push_if_closure_poisons_releases_and_wakes() {
    check_panic_poisons_releases_and_wakes("push_if", in_push_if);
}

#[test]
fn panic_inside_push_at_closure_poisons_releases_and_wakes() {
    check_panic_poisons_releases_and_wakes("push_at", in_push_at);
}

/// The crate docs promise that waiters are woken after the lock is released. A panicking
/// `push_if` closure publishes its half-done change through the guard's poisoning (it had
/// not published yet): that wake-up came under the write lock before. The waker here looks
/// at the lock when it is woken (on the panicking thread, during its unwinding).
#[test]
fn a_panic_wakes_waiters_after_the_lock_is_released() {
    use std::sync::Mutex;
    use std::task::{Context, Wake, Waker};

    struct SeesTheLock {
        shared: Arc<Shared<Vec<i32>>>,
        free_when_woken: Mutex<Vec<bool>>,
    }
    impl Wake for SeesTheLock {
        fn wake(self: Arc<Self>) {
            let free = self.shared.try_write().is_some();
            self.free_when_woken.lock().unwrap().push(free);
        }
    }

    quiet_expected_panics();
    let panickers: [(&str, Panicker); 6] = [
        ("push_if", in_push_if),
        ("push", in_push),
        ("update", in_update),
        ("push_at", in_push_at),
        ("WriteGuard", in_write_guard),
        ("upgraded ModifyGuard", after_modify_upgrade),
    ];
    for (name, panicker) in panickers {
        let shared = Arc::new(Shared::new(vec![1, 2]));
        let sees = Arc::new(SeesTheLock {
            shared: Arc::clone(&shared),
            free_when_woken: Mutex::new(Vec::new()),
        });
        let waker = Waker::from(Arc::clone(&sees));
        let mut puller = shared.puller_arc();
        let mut wait = Box::pin(puller.wait_async());
        assert!(wait
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        let result = catch_unwind(AssertUnwindSafe(|| panicker(&shared)));
        assert!(result.is_err(), "{name}: the panic propagates");
        assert_eq!(
            *sees.free_when_woken.lock().unwrap(),
            [true],
            "{name}: woken once, with the lock released"
        );
        drop(wait);
    }
}

#[test]
fn panic_lets_a_blocked_writer_in() {
    quiet_expected_panics();
    bounded("blocked writer after panic", || {
        let shared = Shared::new(0);
        thread::scope(|s| {
            let mut w = shared.write();
            *w = 1;
            let (started_tx, started_rx) = std::sync::mpsc::channel();
            let shared_ref = &shared;
            let writer = s.spawn(move || {
                started_tx.send(common::kernel_tid()).unwrap();
                let mut w = shared_ref
                    .try_write_for(TIMEOUT)
                    .expect("released by the panic");
                *w += 10;
            });
            let tid = started_rx.recv_timeout(TIMEOUT).unwrap();
            common::until_asleep(&[tid]); // the writer is blocked on the lock
            let r = catch_unwind(AssertUnwindSafe(move || {
                let _w = w;
                panic!("{EXPECTED} holding the write lock");
            }));
            assert!(r.is_err());
            writer.join().unwrap();
        });
        assert_eq!(*shared.read(), 11);
        assert!(shared.is_poisoned());
        assert_eq!(shared.version().get(), 2);
    });
}

#[test]
fn panic_with_read_only_access_does_not_poison() {
    quiet_expected_panics();
    let shared = Shared::new(5);
    type Case = Box<dyn Fn(&Shared<i32>)>;
    let cases: Vec<(&str, Case)> = vec![
        (
            "ReadGuard",
            Box::new(|s| {
                let r = s.read();
                panic!("{EXPECTED} read {}", *r);
            }),
        ),
        (
            "with",
            Box::new(|s| {
                s.with(|v| panic!("{EXPECTED} with {v}"));
            }),
        ),
        (
            "ModifyGuard",
            Box::new(|s| {
                let m = s.modify();
                panic!("{EXPECTED} modify {}", *m);
            }),
        ),
        (
            "WriteGuard read through",
            Box::new(|s| {
                let w = s.write();
                panic!("{EXPECTED} write {}", *w);
            }),
        ),
        (
            "upgraded, read through",
            Box::new(|s| {
                let w = ModifyGuard::upgrade(s.modify());
                panic!("{EXPECTED} upgraded {}", *w);
            }),
        ),
        (
            "downgraded after a change",
            Box::new(|s| {
                let mut w = s.write();
                *w += 0;
                let r = pushpull::WriteGuard::downgrade(w);
                panic!("{EXPECTED} downgraded {}", *r);
            }),
        ),
    ];
    for (name, case) in cases {
        let before = shared.version();
        assert!(catch_unwind(AssertUnwindSafe(|| case(&shared))).is_err());
        assert!(!shared.is_poisoned(), "{name}: must not poison");
        assert!(shared.try_write().is_some(), "{name}: lock released");
        if name != "downgraded after a change" {
            assert_eq!(shared.version(), before, "{name}: nothing published");
        }
    }
    assert_eq!(*shared.read(), 5);
}

#[test]
fn a_write_during_unwinding_does_not_poison_like_std_mutex() {
    // Cleanup code that runs in a destructor while the thread unwinds (e.g. a repair) took
    // mutable access only after the panic started: like std's Mutex, that does not poison.
    quiet_expected_panics();
    struct Repair<'a>(&'a Shared<i32>);
    impl Drop for Repair<'_> {
        fn drop(&mut self) {
            self.0.push(|v| *v = 0);
        }
    }
    let shared = Shared::new(1);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _repair = Repair(&shared);
        panic!("{EXPECTED} with a repairing destructor");
    }));
    assert!(r.is_err());
    assert_eq!(*shared.read(), 0);
    assert_eq!(shared.version().get(), 1);
    assert!(!shared.is_poisoned());
}

#[test]
fn no_published_version_exposes_a_half_applied_change_without_the_flag() {
    // The pusher sets `a = x`, and sometimes panics before setting `b = x`; after such a
    // panic it checks the half-done state, repairs it and clears the flag. Readers assert:
    // whenever they see `a != b` (under their read lock), `is_poisoned()` is true.
    quiet_expected_panics();
    #[derive(Clone, Debug, Default)]
    struct Pair {
        a: u64,
        b: u64,
    }
    let rounds = scaled(2_000) as u64;
    bounded("half-applied changes", move || {
        let shared = Shared::new(Pair::default());
        // How often the racing readers catch a torn state depends on scheduling: counted, not
        // asserted. The checker below looks at every torn state, on purpose.
        let half_seen = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let (check_tx, check_rx) = std::sync::mpsc::channel::<u64>();
        let (checked_tx, checked_rx) = std::sync::mpsc::channel::<(bool, bool)>();
        thread::scope(|s| {
            // The checker: told after each panicked push (the torn state stays published until
            // the pusher repairs it, which waits for the answer), it looks through a puller and
            // a plain read, on another thread.
            let mut checker_puller = shared.puller();
            let shared_ref = &shared;
            s.spawn(move || {
                while let Ok(x) = check_rx.recv() {
                    let pulled = checker_puller
                        .pull_with(|p| (p.a, p.b, shared_ref.is_poisoned()))
                        .expect("the panicked push published");
                    let read = {
                        let g = shared_ref.read();
                        (g.a, g.b, shared_ref.is_poisoned())
                    };
                    let torn =
                        |(a, b, poisoned): (u64, u64, bool)| (a == x && b == x - 1, poisoned);
                    let (pulled, read) = (torn(pulled), torn(read));
                    checked_tx
                        .send((pulled.0 && read.0, pulled.1 && read.1))
                        .unwrap();
                }
            });
            let reader = |use_puller: bool| {
                let mut puller = shared.puller();
                let (shared, stop, half_seen) = (&shared, &stop, &half_seen);
                move || {
                    while !stop.load(Ordering::Acquire) {
                        let torn = if use_puller {
                            puller
                                .pull_with(|p| (p.a != p.b, shared.is_poisoned()))
                                .unwrap_or((false, false))
                        } else {
                            let g = shared.read();
                            (g.a != g.b, shared.is_poisoned())
                        };
                        if torn.0 {
                            assert!(torn.1, "a half-applied change without the poison flag");
                            half_seen.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            };
            s.spawn(reader(false));
            s.spawn(reader(true));
            for x in 1..=rounds {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    shared.push(|p| {
                        p.a = x;
                        if x % 5 == 0 {
                            panic!("{EXPECTED} between a and b");
                        }
                        p.b = x;
                    })
                }));
                if x % 5 == 0 {
                    assert!(r.is_err());
                    {
                        let g = shared.read();
                        assert_eq!((g.a, g.b), (x, x - 1), "the half-done change is visible");
                        assert!(shared.is_poisoned());
                    }
                    check_tx.send(x).unwrap();
                    let (torn, poisoned) = checked_rx.recv_timeout(TIMEOUT).unwrap();
                    assert!(
                        torn,
                        "the checker saw the half-done change (puller and read)"
                    );
                    assert!(poisoned, "a half-applied change without the poison flag");
                    shared.push(|p| p.b = p.a);
                    shared.clear_poison();
                } else {
                    assert!(r.is_ok());
                }
            }
            stop.store(true, Ordering::Release);
            drop(check_tx); // the checker ends
        });
        let g = shared.read();
        assert_eq!((g.a, g.b), (rounds, rounds));
        assert!(!shared.is_poisoned());
        // One publish per push, one per panicked push, one per repair.
        assert_eq!(shared.version().get(), rounds + rounds / 5);
    });
}

#[test]
fn a_panicking_worker_holding_a_token_is_counted_and_does_not_hang_wait() {
    quiet_expected_panics();
    let wg = WaitGroup::new();
    let shared = Arc::new(Shared::new(0));
    let mut handles = Vec::new();
    for i in 0..6 {
        let shared = Arc::clone(&shared);
        handles.push(wg.spawn(move || {
            if i % 2 == 0 {
                shared.push(|v| {
                    *v += 1;
                    panic!("{EXPECTED} worker {i}");
                });
            } else {
                shared.push(|v| *v += 1);
            }
        }));
    }
    assert!(
        wg.wait_for(TIMEOUT),
        "wait returns despite panicking workers"
    );
    assert_eq!(wg.panicked(), 3);
    assert_eq!(wg.count(), 0);
    assert_eq!(
        *shared.read(),
        6,
        "the panicking workers' increments were published"
    );
    assert!(shared.is_poisoned());
    let failed = handles.into_iter().map(|h| h.join().is_err());
    assert_eq!(failed.filter(|failed| *failed).count(), 3);
    // An untimed wait on the (finished) group returns too.
    let wg2 = wg.clone();
    bounded("untimed wait", move || wg2.wait());
    // A new round still works and a quiet round does not add to `panicked`.
    let h = wg.spawn(|| ());
    assert!(wg.wait_for(TIMEOUT));
    h.join().unwrap();
    assert_eq!(wg.panicked(), 3);
}
