//! One test (or a few) per row of the "Misuse and what you get" table in the crate docs
//! (src/lib.rs). Each asserts what the table promises, including the panic message naming the
//! type and the mistake.

mod common;

use common::{assert_contains_all, bounded, panic_message_of, quiet_expected_panics, EXPECTED};
use common::{SHORT, TIMEOUT};
use pushpull::{ModifyGuard, Shared, WaitGroup, WriteGuard};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

// Row: `write()` / `modify()` while this thread holds a `WriteGuard` or `ModifyGuard` of the
// same `Shared` -> panic "pushpull::Shared: write() would deadlock: this thread already holds
// a WriteGuard ...".

#[test]
#[cfg_attr(
    not(any(debug_assertions, feature = "reentrancy-check")),
    ignore = "release builds record the writer only with the reentrancy-check feature"
)]
fn row_write_while_holding_write_guard_panics() {
    let s = Shared::new(0);
    let msg = panic_message_of(|| {
        let _w = s.write();
        let _w2 = s.write();
    });
    assert!(
        msg.starts_with(
            "pushpull::Shared: write() would deadlock: this thread already holds a WriteGuard"
        ),
        "{msg}"
    );
    assert!(
        s.try_write().is_some(),
        "the held guard was released by the unwind"
    );
}

#[test]
#[cfg_attr(
    not(any(debug_assertions, feature = "reentrancy-check")),
    ignore = "release builds record the writer only with the reentrancy-check feature"
)]
fn row_modify_while_holding_write_guard_panics() {
    let s = Shared::new(0);
    let msg = panic_message_of(|| {
        let _w = s.write();
        let _m = s.modify();
    });
    assert!(
        msg.starts_with(
            "pushpull::Shared: modify() would deadlock: this thread already holds a WriteGuard"
        ),
        "{msg}"
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
#[cfg_attr(
    not(any(debug_assertions, feature = "reentrancy-check")),
    ignore = "release builds record the writer only with the reentrancy-check feature"
)]
fn row_update_push_and_clear_poison_inside_a_guard_panic_too() {
    // The closure helpers take the write lock: the same mistake, the same panic.
    let s = Shared::new(0);
    let msg = panic_message_of(|| {
        let _w = s.write();
        s.update(|v| *v += 1);
    });
    assert_contains_all(&msg, &["pushpull::Shared", "would deadlock", "WriteGuard"]);
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

// Row: `read()` while holding its `WriteGuard` -> the same panic, naming `read()`.

#[test]
#[cfg_attr(
    not(any(debug_assertions, feature = "reentrancy-check")),
    ignore = "release builds record the writer only with the reentrancy-check feature"
)]
fn row_read_while_holding_write_guard_panics() {
    let s = Shared::new(0);
    let msg = panic_message_of(|| {
        let _w = s.write();
        let _r = s.read();
    });
    assert!(
        msg.starts_with(
            "pushpull::Shared: read() would deadlock: this thread already holds a WriteGuard"
        ),
        "{msg}"
    );
    // `with` and `pull` read too.
    let msg = panic_message_of(|| {
        let _w = s.write();
        s.with(|v| *v)
    });
    assert_contains_all(&msg, &["read() would deadlock", "WriteGuard"]);
    let msg = panic_message_of(|| {
        let _w = s.write();
        s.pull()
    });
    assert_contains_all(&msg, &["read() would deadlock", "WriteGuard"]);
}

// Not a row of the table (documented on `Puller::wait` / `Shared::wait_until`): waiting for
// a publish while this thread holds a guard that keeps every publisher out. Untimed waits
// panic naming the call and the guard; timed ones give up at once.

#[test]
fn waiting_for_a_publish_while_holding_the_modify_guard() {
    bounded("wait while holding modify", || {
        let long = Duration::from_secs(60);
        let s = Shared::new(0);
        let mut puller = s.puller();
        let m = s.modify();
        assert!(puller.wait_for(long).is_none(), "timed: None at once");
        assert!(
            s.wait_until_for(long, |v| *v == 1).is_none(),
            "timed: None at once"
        );
        assert_eq!(
            *s.wait_until(|v| *v == 0),
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
#[cfg_attr(
    not(any(debug_assertions, feature = "reentrancy-check")),
    ignore = "release builds record the writer only with the reentrancy-check feature"
)]
fn waiting_for_a_publish_while_holding_the_write_guard() {
    bounded("wait while holding write", || {
        let long = Duration::from_secs(60);
        let s = Shared::new(0);
        let mut puller = s.puller();
        let msg = panic_message_of(|| {
            let _w = s.write();
            puller.wait()
        });
        assert_contains_all(&msg, &["pushpull::Shared", "would deadlock", "WriteGuard"]);
        let msg = panic_message_of(|| {
            let _w = s.write();
            s.wait_until(|v| *v == 1)
        });
        assert_contains_all(&msg, &["pushpull::Shared", "would deadlock", "WriteGuard"]);
        let w = s.write();
        assert!(puller.wait_for(long).is_none(), "timed: None at once");
        drop(w);
    });
}

/// KNOWN FAILING (bug in src/puller.rs, `Shared::wait_until_deadline`): with this thread
/// holding the `WriteGuard`, `Puller::wait_for` returns `None` at once, but
/// `Shared::wait_until_for` panics, and with a message naming `read()`, a call the user never
/// made. The first `self.read()` of `wait_until_deadline` panics before
/// `can_wait_for_publish` is consulted.
#[test]
#[cfg_attr(
    not(any(debug_assertions, feature = "reentrancy-check")),
    ignore = "release builds record the writer only with the reentrancy-check feature"
)]
fn regression_wait_until_for_while_holding_the_write_guard_panicked_naming_read() {
    bounded("wait_until_for while holding write", || {
        let s = Shared::new(0);
        let _w = s.write();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            s.wait_until_for(Duration::from_secs(60), |v| *v == 1)
                .is_none()
        }));
        match outcome {
            Ok(none) => assert!(none),
            Err(payload) => panic!(
                "wait_until_for panicked instead of returning None at once: {}",
                common::message(&*payload)
            ),
        }
    });
}

#[cfg(debug_assertions)]
#[test]
fn waiting_for_a_publish_while_holding_a_read_guard_in_debug_builds() {
    bounded("wait while reading", || {
        let long = Duration::from_secs(60);
        let s = Shared::new(0);
        let mut puller = s.puller();
        let r = s.read();
        assert!(puller.wait_for(long).is_none(), "timed: None at once");
        assert!(
            s.wait_until_for(long, |v| *v == 1).is_none(),
            "timed: None at once"
        );
        let msg = panic_message_of(|| puller.wait());
        assert_contains_all(&msg, &["Puller::wait()", "would deadlock", "ReadGuard"]);
        drop(r);
    });
}

// Row: `write()` / `modify()` / `ModifyGuard::upgrade` while holding a `ReadGuard` of it ->
// panic in debug builds; may deadlock in release builds (not tested there).

#[cfg(debug_assertions)]
#[test]
fn row_write_while_holding_read_guard_panics_in_debug_builds() {
    let s = Shared::new(0);
    let msg = panic_message_of(|| {
        let _r = s.read();
        let _w = s.write();
    });
    assert!(
        msg.starts_with(
            "pushpull::Shared: write() would deadlock: this thread already holds a ReadGuard"
        ),
        "{msg}"
    );
    // Also for the read half of a downgraded guard, and through `update`.
    let msg = panic_message_of(|| {
        let _r = WriteGuard::downgrade(s.write());
        s.update(|v| *v += 1);
    });
    assert_contains_all(&msg, &["write() would deadlock", "ReadGuard"]);
    assert!(s.try_write().is_some());
}

#[cfg(debug_assertions)]
#[test]
fn row_modify_while_holding_read_guard_panics_in_debug_builds_when_it_would_wait() {
    // modify() coexists with readers, so it only panics when it would have to wait: here
    // another thread holds the modify lock (and could be about to upgrade, waiting for us).
    bounded("modify while reading, other modifier", || {
        let s = Shared::new(0);
        thread::scope(|sc| {
            let (held_tx, held_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let s_ref = &s;
            let holder = sc.spawn(move || {
                let _m = s_ref.modify();
                held_tx.send(()).unwrap();
                release_rx.recv_timeout(TIMEOUT).unwrap();
            });
            held_rx.recv_timeout(TIMEOUT).unwrap();
            let msg = panic_message_of(|| {
                let _r = s.read();
                let _m = s.modify();
            });
            assert!(
                msg.starts_with(
                    "pushpull::Shared: modify() would deadlock: this thread already holds a \
                     ReadGuard"
                ),
                "{msg}"
            );
            release_tx.send(()).unwrap();
            holder.join().unwrap();
        });
        // Without another modifier, a reader may take the modify lock.
        let r = s.read();
        let m = s.modify();
        assert_eq!(*r + *m, 0);
    });
}

#[cfg(debug_assertions)]
#[test]
fn row_upgrade_while_holding_read_guard_panics_in_debug_builds_and_releases_the_lock() {
    let s = Shared::new(0);
    let msg = panic_message_of(|| {
        let m = s.modify();
        let _r = s.read(); // allowed: a modifier may read
        let _w = ModifyGuard::upgrade(m); // but not upgrade while that read is held
    });
    assert!(
        msg.starts_with(
            "pushpull::Shared: ModifyGuard::upgrade() would deadlock: this thread already holds \
             a ReadGuard"
        ),
        "{msg}"
    );
    assert!(s.try_modify().is_some(), "the modify lock was given back");
    assert!(s.try_write().is_some());
    assert!(!s.is_poisoned());
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
    wg.add(u32::MAX as usize);
    assert_eq!(wg.count(), u32::MAX as usize);
    let msg = panic_message_of(|| wg.add(1));
    assert_contains_all(&msg, &["pushpull::WaitGroup::add", "overflow"]);
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
            let waiter = sc.spawn(move || puller.wait_for(TIMEOUT).map(|g| *g));
            thread::sleep(Duration::from_millis(2)); // make "waiter parked" likely
            let r = catch_unwind(AssertUnwindSafe(|| {
                s.update(|v| {
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
/// reach `read()` and panic naming a call the user never made; now it gives up at once.
#[test]
#[cfg_attr(
    not(any(debug_assertions, feature = "reentrancy-check")),
    ignore = "release builds record the writer only with the reentrancy-check feature"
)]
fn regression_puller_wait_for_after_own_publish_under_held_write_guard_panicked_naming_read() {
    bounded("puller wait_for while holding write", || {
        let s = Shared::new(0);
        let mut puller = s.puller();
        let mut w = s.write();
        *w += 1; // publishes v1 while the lock is still held
        assert!(puller.has_changed());
        assert!(puller.wait_for(Duration::from_secs(60)).is_none());
        let msg = panic_message_of(|| {
            let _ = puller.wait();
        });
        assert_contains_all(&msg, &["Puller::wait()", "would deadlock", "WriteGuard"]);
        drop(w);
        assert_eq!(*puller.wait_for(Duration::from_secs(10)).unwrap(), 1);
    });
}
