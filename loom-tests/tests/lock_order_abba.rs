#![cfg(loom)]
//! The ABBA program, model-checked: loom finds the deadlock that pushpull's lock-order checker
//! reports in debug builds on the first run (tests/lock_order.rs).
//!
//! Under loom the checker is compiled out: loom explores the interleavings itself, so the
//! model must find the real deadlock. In its own test binary, and with the guards kept out of
//! the unwinding path (`ManuallyDrop`, leaked `Shared`s: see loom-pitfalls, loom issue 291), so
//! that loom's deadlock report unwinds cleanly instead of aborting the binary.

use pushpull::Shared;
use pushpull_loom_tests::harness::expect_failure;
use std::mem::ManuallyDrop;

/// Thread 1 takes `jobs` then `results`; thread 2 takes `results` then `jobs`. loom must find
/// the interleaving where each holds one and waits for the other.
#[test]
fn abba_two_shareds_in_opposite_orders_is_a_deadlock_loom_reports() {
    // Two threads, two locks each: preemption bound 2 is enough to put both first
    // acquisitions before either second one (the pitfalls note: 2 caught every bug seen).
    let (message, _stats) = expect_failure("lock_order::abba", Some(2), || {
        let jobs: &'static Shared<u32> = Box::leak(Box::new(Shared::new(0)));
        let results: &'static Shared<u32> = Box::leak(Box::new(Shared::new(0)));
        let t = loom::thread::spawn(move || {
            let j = ManuallyDrop::new(jobs.write());
            let mut r = ManuallyDrop::new(results.write());
            **r += 1;
            drop(ManuallyDrop::into_inner(r));
            drop(ManuallyDrop::into_inner(j));
        });
        let r = ManuallyDrop::new(results.write());
        let mut j = ManuallyDrop::new(jobs.write());
        **j += 1;
        drop(ManuallyDrop::into_inner(j));
        drop(ManuallyDrop::into_inner(r));
        t.join().unwrap();
    });
    assert!(
        message.contains("deadlock"),
        "loom failed the model, but not with a deadlock: {message}"
    );
}

/// The fix, one global order, is deadlock-free in every interleaving loom explores.
#[test]
fn one_global_order_never_deadlocks() {
    pushpull_loom_tests::harness::check("lock_order::one_order", Some(2), || {
        let jobs: &'static Shared<u32> = Box::leak(Box::new(Shared::new(0)));
        let results: &'static Shared<u32> = Box::leak(Box::new(Shared::new(0)));
        let t = loom::thread::spawn(move || {
            let _j = jobs.write();
            *results.write() += 1;
        });
        {
            let _j = jobs.write();
            *results.write() += 1;
        }
        t.join().unwrap();
        assert_eq!(*results.read(), 2);
    });
}
