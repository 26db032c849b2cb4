//! One test (or a few) per row of the "Misuse and what you get" table in the crate docs
//! (src/lib.rs), each asserting the cell of the build it runs in: debug, release, release with
//! `reentrancy-check` (CI runs all three). A "panic" cell checks the message naming the type
//! and the mistake; a "deadlock" cell checks that the call stays blocked
//! ([`common::assert_stays_blocked`]), so no cell can drift from the docs unnoticed.

mod common;

use common::{assert_contains_all, assert_stays_blocked, bounded, leak, panic_message_of};
use common::{quiet_expected_panics, EXPECTED, READERS_TRACKED, SHORT, TIMEOUT, WRITERS_TRACKED};
use pushpull::{ModifyGuard, Shared, WaitGroup, WriteGuard};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// A "panic | deadlock" cell: where this build records the guard (`tracked`), `f` panics with
/// a message starting with `prefix`; elsewhere it stays blocked. `f` runs on a thread of its
/// own either way, so it must own (or leak) what it uses.
#[track_caller]
fn panics_where_tracked(tracked: bool, prefix: &str, f: impl FnOnce() + Send + 'static) {
    if tracked {
        let msg = bounded(prefix, move || panic_message_of(f));
        assert!(msg.starts_with(prefix), "expected {prefix:?}, got {msg:?}");
    } else {
        assert_stays_blocked(prefix, f);
    }
}

// Row: `write()` / `modify()` / `read()` while holding its `WriteGuard` -> panic naming the
// call and `WriteGuard` (debug, reentrancy-check); deadlock (plain release).

#[test]
fn row_write_modify_read_while_holding_write_guard() {
    let prefix = |call: &str| {
        format!("pushpull::Shared: {call} would deadlock: this thread already holds a WriteGuard")
    };
    let s = leak(Shared::new(0));
    panics_where_tracked(WRITERS_TRACKED, &prefix("write()"), move || {
        let _w = s.write();
        let _w2 = s.write();
    });
    let s = leak(Shared::new(0));
    panics_where_tracked(WRITERS_TRACKED, &prefix("modify()"), move || {
        let _w = s.write();
        let _m = s.modify();
    });
    let s = leak(Shared::new(0));
    panics_where_tracked(WRITERS_TRACKED, &prefix("read()"), move || {
        let _w = s.write();
        let _r = s.read();
    });
    if WRITERS_TRACKED {
        let s = Shared::new(0);
        let _ = panic_message_of(|| {
            let _w = s.write();
            let _w2 = s.write();
        });
        assert!(
            s.try_write().is_some(),
            "the unwind released the held guard"
        );
    }
}

#[test]
fn row_helpers_that_lock_while_holding_write_guard() {
    // The closure helpers take the same locks: the same mistake, the same cell.
    let s = leak(Shared::new(0));
    panics_where_tracked(
        WRITERS_TRACKED,
        "pushpull::Shared: push() would deadlock",
        move || {
            let _w = s.write();
            s.push(|v| *v += 1);
        },
    );
    let s = leak(Shared::new(0));
    panics_where_tracked(
        WRITERS_TRACKED,
        "pushpull::Shared: with() would deadlock",
        move || {
            let _w = s.write();
            s.with(|v| *v);
        },
    );
    let s = leak(Shared::new(0));
    panics_where_tracked(
        WRITERS_TRACKED,
        "pushpull::Shared: snapshot() would deadlock",
        move || {
            let _w = s.write();
            s.snapshot();
        },
    );
}

#[test]
fn row_write_while_holding_modify_guard_panics() {
    let s = Shared::new(0);
    let msg = panic_message_of(|| {
        let _m = s.modify();
        let _w = s.write();
    });
    assert!(
        msg.starts_with(
            "pushpull::Shared: write() would deadlock: this thread already holds a ModifyGuard"
        ),
        "{msg}"
    );
    assert_contains_all(&msg, &["ModifyGuard::upgrade"]); // the hint
    assert!(s.try_write().is_some());
}

/// A write guard that came from `ModifyGuard::upgrade` is recorded as a write guard in every
/// build (the modify claim is promoted, not dropped): re-entrant use names `WriteGuard`, and
/// the lock is free again once the panic released it.
#[test]
fn an_upgraded_guard_is_recorded_as_a_write_guard_in_every_build() {
    let s = Shared::new(0);
    for (call, reenter) in [
        (
            "write()",
            (|s: &Shared<i32>| drop(s.write())) as fn(&Shared<i32>),
        ),
        ("modify()", |s| drop(s.modify())),
        ("read()", |s| drop(s.read())),
    ] {
        let msg = panic_message_of(|| {
            let mut w = ModifyGuard::upgrade(s.modify());
            *w += 1;
            reenter(&s);
        });
        let expected = format!(
            "pushpull::Shared: {call} would deadlock: this thread already holds a WriteGuard"
        );
        assert!(msg.starts_with(&expected), "{msg}");
        assert!(s.try_write().is_some(), "the panic released the lock");
    }
}

#[test]
fn row_modify_while_holding_modify_guard_panics() {
    let s = Shared::new(0);
    let msg = panic_message_of(|| {
        let _m = s.modify();
        let _m2 = s.modify();
    });
    assert!(
        msg.starts_with(
            "pushpull::Shared: modify() would deadlock: this thread already holds a ModifyGuard"
        ),
        "{msg}"
    );
}

#[test]
fn row_update_push_and_clear_poison_inside_a_modify_guard_panic_in_every_build() {
    // The closure helpers take the write lock: the same mistake, the same panic.
    let s = Shared::new(0);
    let msg = panic_message_of(|| {
        let _m = s.modify();
        s.push(|v| *v += 1);
    });
    assert_contains_all(&msg, &["pushpull::Shared", "would deadlock", "ModifyGuard"]);
    let msg = panic_message_of(|| {
        let _m = s.modify();
        s.clear_poison();
    });
    assert_contains_all(&msg, &["pushpull::Shared", "would deadlock", "ModifyGuard"]);
    assert_eq!(*s.read(), 0);
    assert!(!s.is_poisoned(), "no mutable access was handed out");
}

// Rows: `Puller::wait` / `Shared::wait_until` while this thread holds a guard that keeps every
// publisher out, and their timed twins. ModifyGuard: panic / `None` at once, every build.
// WriteGuard: panic / `None` at once where the writer is recorded; deadlock / `None` at the
// timeout in plain release. ReadGuard: panic / `None` at once in debug; deadlock / `None` at
// the timeout in release.

#[test]
fn row_waits_while_holding_the_modify_guard() {
    bounded("wait while holding modify", || {
        let long = Duration::from_secs(60);
        let s = Shared::new(0);
        let mut puller = s.puller();
        let m = s.modify();
        assert!(
            puller.wait_for(long).unwrap().is_none(),
            "timed: None at once"
        );
        assert!(
            s.wait_until_for(long, |v| *v == 1).unwrap().is_none(),
            "timed: None at once"
        );
        assert_eq!(
            *s.wait_until(|v| *v == 0).unwrap(),
            0,
            "already true: no wait at all"
        );
        let msg = panic_message_of(|| puller.wait());
        assert_contains_all(
            &msg,
            &["pushpull::Shared", "Puller::wait()", "would deadlock"],
        );
        assert_contains_all(&msg, &["ModifyGuard"]);
        let msg = panic_message_of(|| s.wait_until(|v| *v == 1));
        assert_contains_all(
            &msg,
            &["Shared::wait_until()", "would deadlock", "ModifyGuard"],
        );
        drop(m);
        assert_eq!(puller.seen().get(), 0);
    });
}

#[test]
fn row_waits_while_holding_the_write_guard() {
    let s = leak(Shared::new(0));
    panics_where_tracked(
        WRITERS_TRACKED,
        "pushpull::Shared: Puller::wait() would deadlock: this thread already holds a WriteGuard",
        move || {
            let mut puller = s.puller();
            let _w = s.write();
            let _ = puller.wait();
        },
    );
    let s = leak(Shared::new(0));
    panics_where_tracked(WRITERS_TRACKED, "pushpull::Shared: Shared::wait_until() would deadlock: this thread already holds a WriteGuard", move || {
        let _w = s.write();
        let _ = s.wait_until(|v| *v == 1);
    });
    // Even when the predicate holds: the guard it returns could never be taken.
    let s = leak(Shared::new(0));
    panics_where_tracked(WRITERS_TRACKED, "pushpull::Shared: Shared::wait_until() would deadlock: this thread already holds a WriteGuard", move || {
        let _w = s.write();
        let _ = s.wait_until(|v| *v == 0);
    });
    // The timed twins: `None`, at once (a 60 s timeout would fail `bounded`) where the writer is
    // recorded, at the timeout elsewhere.
    bounded("timed waits while holding write", || {
        let timeout = common::writer_own_timeout(Duration::from_secs(60));
        let s = Shared::new(0);
        let mut puller = s.puller();
        let w = s.write();
        assert!(puller.wait_for(timeout).unwrap().is_none());
        assert!(s.wait_until_for(timeout, |v| *v == 1).unwrap().is_none());
        assert!(
            s.wait_until_for(timeout, |v| *v == 0).unwrap().is_none(),
            "true, but unreadable"
        );
        drop(w);
        assert_eq!(
            s.wait_until_for(TIMEOUT, |v| *v == 0).unwrap().map(|g| *g),
            Some(0)
        );
    });
}

/// `Shared::wait_until_for` while this thread holds the `WriteGuard` used to panic naming
/// `read()`, a call the user never made, instead of returning `None` at once.
#[test]
fn regression_wait_until_for_while_holding_the_write_guard_panicked_naming_read() {
    bounded("wait_until_for while holding write", || {
        let s = Shared::new(0);
        let _w = s.write();
        let timeout = common::writer_own_timeout(Duration::from_secs(60));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            s.wait_until_for(timeout, |v| *v == 1).unwrap().is_none()
        }));
        match outcome {
            Ok(none) => assert!(none),
            Err(payload) => panic!(
                "wait_until_for panicked instead of returning None: {}",
                common::message(&*payload)
            ),
        }
    });
}

#[test]
fn row_waits_while_holding_a_read_guard() {
    let s = leak(Shared::new(0));
    panics_where_tracked(
        READERS_TRACKED,
        "pushpull::Shared: Puller::wait() would deadlock: this thread already holds a ReadGuard",
        move || {
            let mut puller = s.puller();
            let _r = s.read();
            let _ = puller.wait();
        },
    );
    let s = leak(Shared::new(0));
    panics_where_tracked(READERS_TRACKED, "pushpull::Shared: Shared::wait_until() would deadlock: this thread already holds a ReadGuard", move || {
        let _r = s.read();
        let _ = s.wait_until(|v| *v == 1);
    });
    bounded("timed waits while reading", || {
        let timeout = if READERS_TRACKED {
            Duration::from_secs(60)
        } else {
            SHORT
        };
        let s = Shared::new(0);
        let mut puller = s.puller();
        let r = s.read();
        assert!(puller.wait_for(timeout).unwrap().is_none());
        assert!(s.wait_until_for(timeout, |v| *v == 1).unwrap().is_none());
        assert_eq!(
            s.wait_until_for(timeout, |v| *v == 0).unwrap().map(|g| *g),
            Some(0),
            "already true"
        );
        drop(r);
    });
}

// Row: `write()` / `modify()` / `ModifyGuard::upgrade` while holding a `ReadGuard` of it, when
// it must wait -> panic naming `ReadGuard` in debug builds; deadlock in release builds.

#[test]
fn row_write_while_holding_read_guard() {
    let s = leak(Shared::new(0));
    panics_where_tracked(
        READERS_TRACKED,
        "pushpull::Shared: write() would deadlock: this thread already holds a ReadGuard",
        move || {
            let _r = s.read();
            let _w = s.write();
        },
    );
    // Also for the read half of a downgraded guard, and through `update`.
    let s = leak(Shared::new(0));
    panics_where_tracked(
        READERS_TRACKED,
        "pushpull::Shared: push() would deadlock: this thread already holds a ReadGuard",
        move || {
            let _r = WriteGuard::downgrade(s.write());
            s.push(|v| *v += 1);
        },
    );
    if READERS_TRACKED {
        let s = Shared::new(0);
        let _ = panic_message_of(|| {
            let _r = s.read();
            let _w = s.write();
        });
        assert!(s.try_write().is_some(), "the unwind released the read");
    }
}

#[test]
fn row_modify_while_holding_read_guard_when_it_must_wait() {
    // modify() coexists with readers, so it only has to wait when another thread holds the
    // modify lock; here that thread is upgrading, which waits for our read: a real deadlock,
    // which debug builds turn into a panic (releasing our read lets the upgrade through).
    let s = leak(Shared::new(0));
    let (held_tx, held_rx) = mpsc::channel();
    let (read_tx, read_rx) = mpsc::channel::<()>();
    let upgrader = thread::spawn(move || {
        let m = s.modify();
        held_tx.send(()).unwrap();
        read_rx.recv_timeout(TIMEOUT).unwrap();
        *ModifyGuard::upgrade(m) += 1;
    });
    held_rx.recv_timeout(TIMEOUT).unwrap();
    panics_where_tracked(
        READERS_TRACKED,
        "pushpull::Shared: modify() would deadlock: this thread already holds a ReadGuard",
        move || {
            let _r = s.read();
            read_tx.send(()).unwrap(); // the upgrade now waits for this read
            let _m = s.modify();
        },
    );
    if READERS_TRACKED {
        bounded("upgrade after the panic", move || upgrader.join().unwrap());
        assert_eq!(*s.read(), 1);
        // Without another modifier, a reader may take the modify lock.
        let r = s.read();
        let m = s.modify();
        assert_eq!(*r + *m, 2);
    }
}

#[test]
fn row_upgrade_while_holding_read_guard() {
    let s = leak(Shared::new(0));
    panics_where_tracked(
        READERS_TRACKED,
        "pushpull::Shared: ModifyGuard::upgrade() would deadlock: this thread already holds a \
         ReadGuard",
        move || {
            let m = s.modify();
            let _r = s.read(); // allowed: a modifier may read
            let _w = ModifyGuard::upgrade(m); // but not upgrade while that read is held
        },
    );
    if READERS_TRACKED {
        assert!(s.try_modify().is_some(), "the modify lock was given back");
        assert!(s.try_write().is_some());
        assert!(!s.is_poisoned());
    }
}

// Row: `read()` twice on one thread while another thread's writer is queued between the two
// -> debug: the second read is taken recursively; release: may deadlock (here it does: the
// writer is queued for certain).

#[test]
fn row_read_twice_with_a_writer_queued_between() {
    let s = leak(Shared::new(0));
    let (read_tx, read_rx) = mpsc::channel();
    let (again_tx, again_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let r = s.read();
        read_tx.send(()).unwrap();
        again_rx.recv().unwrap();
        let r2 = s.read();
        done_tx.send(*r + *r2).unwrap();
    });
    read_rx.recv_timeout(TIMEOUT).unwrap();
    let writer = thread::spawn(move || s.push(|v| *v = 1));
    while s.try_read().is_some() {
        // Until the writer is queued (it then refuses new plain readers).
        thread::yield_now();
    }
    again_tx.send(()).unwrap();
    if READERS_TRACKED {
        assert_eq!(
            done_rx.recv_timeout(TIMEOUT),
            Ok(0),
            "the recursive read succeeded"
        );
        bounded("the writer", move || writer.join().unwrap());
        assert_eq!(*s.read(), 1);
    } else {
        assert!(
            done_rx.recv_timeout(SHORT).is_err(),
            "release: the second read queues behind the writer, which waits for the first"
        );
    }
}

// Row: `try_*` in any of the cases above -> `None`, at once, never a panic.

#[test]
fn row_try_calls_in_the_misuse_cases_return_none_and_never_panic() {
    // The 60 s timeouts would be noticed: `bounded` fails after 10 s.
    bounded("try_* in misuse cases", || {
        let long = Duration::from_secs(60);
        let s = Shared::new(0);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            {
                let _w = s.write();
                assert!(s.try_read().is_none());
                assert!(s.try_modify().is_none());
                assert!(s.try_write().is_none());
                let own = common::writer_own_timeout(long);
                assert!(s.try_read_for(own).is_none());
                assert!(s.try_modify_for(own).is_none());
                assert!(s.try_write_for(own).is_none());
            }
            {
                let m = s.modify();
                assert!(s.try_modify().is_none());
                assert!(s.try_write().is_none());
                assert!(s.try_modify_for(long).is_none());
                assert!(s.try_write_for(long).is_none());
                let r = s.read();
                let m = ModifyGuard::try_upgrade(m).expect_err("our own read is in the way");
                if cfg!(debug_assertions) {
                    // Readers are tracked: the hopeless wait is refused at once.
                    let m = ModifyGuard::try_upgrade_for(m, long).expect_err("our own read");
                    drop(m);
                } else {
                    let m = ModifyGuard::try_upgrade_for(m, SHORT).expect_err("our own read");
                    drop(m);
                }
                drop(r);
            }
            {
                let _r = s.read();
                assert!(s.try_write().is_none());
                if cfg!(debug_assertions) {
                    assert!(s.try_write_for(long).is_none());
                } else {
                    assert!(s.try_write_for(SHORT).is_none());
                }
            }
        }));
        assert!(outcome.is_ok(), "a try_* call panicked");
        assert!(s.try_write().is_some());
    });
}

// Row: `WaitGroup::done()` more often than `add()` -> panic "pushpull::WaitGroup::done()
// called more times than add()"; the count stays 0.

#[test]
fn row_done_more_often_than_add_panics_and_count_stays_zero() {
    let wg = WaitGroup::new();
    wg.add(2);
    wg.done();
    wg.done();
    let msg = panic_message_of(|| wg.done());
    assert!(
        msg.starts_with("pushpull::WaitGroup::done() called more times than add()"),
        "{msg}"
    );
    assert_eq!(wg.count(), 0);
    assert!(wg.wait_for(Duration::ZERO));
}

// Row: `WaitGroup::add(n)` beyond `u32::MAX` outstanding -> panic naming `WaitGroup::add`;
// the count is unchanged.

#[test]
fn row_add_beyond_u32_max_panics_naming_add_and_leaves_the_count() {
    let wg = WaitGroup::new();
    // In a later round, so that the group's word carries a generation next to the count: the
    // message reports the count alone.
    wg.add(1);
    wg.done();
    wg.add(u32::MAX as usize);
    assert_eq!(wg.count(), u32::MAX as usize);
    let msg = panic_message_of(|| wg.add(1));
    let outstanding = format!("({} outstanding", u32::MAX);
    assert_contains_all(
        &msg,
        &["pushpull::WaitGroup::add", "overflow", &outstanding],
    );
    assert_eq!(wg.count(), u32::MAX as usize, "count unchanged");
    let msg = panic_message_of(|| wg.token());
    assert_contains_all(&msg, &["WaitGroup::add"]);
    assert_eq!(wg.count(), u32::MAX as usize);
    // The group still counts down.
    wg.done();
    assert_eq!(wg.count(), u32::MAX as usize - 1);

    let fresh = WaitGroup::new();
    let msg = panic_message_of(|| fresh.add(usize::MAX));
    assert_contains_all(&msg, &["WaitGroup::add"]);
    assert_eq!(fresh.count(), 0);
    let msg = panic_message_of(|| fresh.add(u32::MAX as usize + 1));
    assert_contains_all(&msg, &["WaitGroup::add"]);
    assert_eq!(fresh.count(), 0);
}

// Row: a worker panics holding a `Token` -> its work counts as done; `wait` returns;
// `WaitGroup::panicked` counts it.

#[test]
fn row_worker_panicking_with_a_token_counts_as_done() {
    quiet_expected_panics();
    let wg = WaitGroup::new();
    let token = wg.token();
    let worker = thread::spawn(move || {
        let _token = token;
        panic!("{EXPECTED} worker with a token");
    });
    let waiter = wg.clone();
    bounded("wait after panicking worker", move || waiter.wait());
    assert_eq!(wg.panicked(), 1);
    assert_eq!(wg.count(), 0);
    assert!(worker.join().is_err());
}

// Row: a panic with mutable access -> the lock is released, the `Shared` is poisoned,
// waiters wake.

#[test]
fn row_panic_with_mutable_access_releases_poisons_and_wakes() {
    quiet_expected_panics();
    bounded("panic with mutable access", || {
        let s = Shared::new(0);
        thread::scope(|sc| {
            let mut puller = s.puller();
            let waiter = sc.spawn(move || puller.wait_for(TIMEOUT).unwrap().map(|g| *g));
            common::until_a_waiter_registered(&s); // the panic's publish must wake it
            let r = catch_unwind(AssertUnwindSafe(|| {
                s.push(|v| {
                    *v = 1;
                    panic!("{EXPECTED} mutable access");
                })
            }));
            assert!(r.is_err());
            assert_eq!(waiter.join().unwrap(), Some(1), "the waiter woke");
        });
        assert!(s.is_poisoned());
        assert!(s.try_write().is_some(), "lock released");
    });
}

// Row: `wait()` on a group from a thread that holds one of its tokens -> blocks forever (it
// waits for itself); use `wait_for`.

#[test]
fn row_wait_for_from_a_thread_holding_one_of_its_tokens_returns_false() {
    let wg = WaitGroup::new();
    let token = wg.token();
    assert!(!wg.wait_for(SHORT), "it waits for itself: must time out");
    drop(token);
    assert!(wg.wait_for(TIMEOUT));

    // Same from inside a spawned worker, which holds the group's token for its closure.
    let inner = wg.clone();
    let worker = wg.spawn(move || inner.wait_for(SHORT));
    assert!(wg.wait_for(TIMEOUT));
    assert!(!bounded("join worker", move || worker.join().unwrap()));
}

/// `Puller::wait_for` after this thread published through the `WriteGuard` it still holds:
/// the version moved, but the wait would end with a read this thread can never get. It used to
/// reach `read()` and panic naming a call the user never made; now it gives up (at once where
/// the writer is recorded), and `wait` panics naming itself (deadlocks in plain release).
#[test]
fn regression_puller_wait_for_after_own_publish_under_held_write_guard_panicked_naming_read() {
    bounded("puller wait_for while holding write", || {
        let s = Shared::new(0);
        let mut puller = s.puller();
        let mut w = s.write();
        *w += 1; // publishes v1 while the lock is still held
        assert!(puller.has_changed());
        let timeout = common::writer_own_timeout(Duration::from_secs(60));
        assert!(puller.wait_for(timeout).unwrap().is_none());
        drop(w);
        assert_eq!(*puller.wait_for(TIMEOUT).unwrap().unwrap(), 1);
    });
    let s = leak(Shared::new(0));
    panics_where_tracked(
        WRITERS_TRACKED,
        "pushpull::Shared: Puller::wait() would deadlock: this thread already holds a WriteGuard",
        move || {
            let mut puller = s.puller();
            let mut w = s.write();
            *w += 1;
            let _ = puller.wait();
        },
    );
}

// Row: a write after `Shared::close` (`write`, the push family, `replace`, an upgrade) -> panic
// naming the call; nothing changes, nothing is poisoned; the `try_*` twins give up instead.
// The same in every build.

#[test]
fn row_a_write_after_close_panics_naming_the_call_and_changes_nothing() {
    let shared = Shared::new(vec![1]);
    shared.close();
    for (call, msg) in [
        ("push()", panic_message_of(|| shared.push(|v| v.push(2)))),
        ("replace()", panic_message_of(|| shared.replace(vec![]))),
        (
            "push_if()",
            panic_message_of(|| shared.push_if(|v| v.is_empty())),
        ),
        (
            "push_at()",
            panic_message_of(|| shared.push_at(shared.version(), |v| v.push(2))),
        ),
        ("write()", panic_message_of(|| shared.write().len())),
        (
            "ModifyGuard::upgrade()",
            panic_message_of(|| ModifyGuard::upgrade(shared.modify()).len()),
        ),
    ] {
        assert_contains_all(
            &msg,
            &["pushpull::Shared: ", call, " after close()", "is_closed()"],
        );
    }
    let mut ran = false;
    let _ = panic_message_of(|| shared.push_if(|_| std::mem::replace(&mut ran, true)));
    assert!(!ran, "the closure of a push after close never runs");
    assert_eq!(
        (shared.read().clone(), shared.version().get()),
        (vec![1], 0)
    );
    assert!(
        !shared.is_poisoned(),
        "a refused write is not a half-done change"
    );
    // Every lock was let go of before the panic, and the non-panicking twins give up.
    assert!(shared.try_write().is_none());
    assert!(shared.try_write_for(Duration::from_secs(3600)).is_none());
    let modify = shared
        .try_modify()
        .expect("reading goes on, a modifier included");
    let modify = ModifyGuard::try_upgrade(modify).map(|_| ()).unwrap_err();
    assert!(ModifyGuard::try_upgrade_for(modify, Duration::from_secs(3600)).is_err());
    // A stale version is a plain conflict, refused before the lock.
    assert!(shared.push_at(7.into(), |_| ()).is_err());
}
