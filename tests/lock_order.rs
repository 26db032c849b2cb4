//! Lock-order checking through the public API: an ABBA inversion is reported the first time
//! the inverted order is taken, deterministically, before anything blocks (debug builds and
//! release with `lock-order-check`); compiled out otherwise (plain release: no report).
//!
//! Every test here uses the default mode (`OnInversion::Panic`): the mode is process-wide,
//! so the modes that go on after a report are tested in `tests/lock_order_log.rs`, a binary of
//! their own.

mod common;

use common::{assert_contains_all, bounded, TIMEOUT};
use proptest::prelude::*;
use pushpull::lock_order::ENABLED;
use pushpull::{ModifyGuard, Shared, WaitGroup};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;

/// `file:line` of the line `offset` lines after the caller's.
macro_rules! here {
    ($offset:expr) => {
        format!("tests/lock_order.rs:{}:", line!() + $offset)
    };
}

/// Keeps the expected reports out of the test output (other panics still print).
fn quiet_reports() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !common::message(info.payload()).contains("lock order inversion") {
                previous(info);
            }
        }));
    });
}

/// The panic of `f` if checking is on; `f` must return normally where it is compiled out.
#[track_caller]
fn report_of<R>(f: impl FnOnce() -> R) -> Option<String> {
    quiet_reports();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => {
            if ENABLED {
                panic!("no lock order report, but checking is on in this build");
            }
            None
        }
        Err(payload) => {
            let msg = common::message(&*payload);
            if !ENABLED {
                panic!("panicked where checking is off: {msg}");
            }
            Some(msg)
        }
    }
}

#[derive(Debug, Default)]
struct Jobs(u32);
#[derive(Debug, Default)]
struct Results(u32);

#[test]
fn abba_in_one_thread_is_reported_at_the_first_inverted_acquisition_naming_both_sides() {
    let jobs = Shared::new(Jobs(0));
    let results = Shared::new(Results(0));
    let earlier_outer = here!(1);
    let j = jobs.write();
    let earlier_inner = here!(1);
    results.write().0 += 1;
    drop(j);

    let now_outer = here!(1);
    let r = results.read();
    let now_inner = here!(3);
    let report = report_of(|| {
        let _held = &r;
        jobs.write().0 += 1;
    });
    drop(r);
    if let Some(report) = report {
        assert_contains_all(
            &report,
            &[
                "lock order",
                "Shared<lock_order::Jobs>",
                "Shared<lock_order::Results>",
            ],
        );
        // This thread's side: where it takes `jobs` now, where it took `results`; the other
        // side: where the opposite order was first taken, both locations.
        assert_contains_all(
            &report,
            &[&now_inner, &now_outer, &earlier_outer, &earlier_inner],
        );
    }
    // Nothing blocked, nothing was poisoned, the locks are free.
    assert!(jobs.try_write().is_some() && results.try_write().is_some());
    assert!(!jobs.is_poisoned() && !results.is_poisoned());
}

#[test]
fn abba_across_two_threads_run_one_after_the_other_is_reported() {
    let jobs = Shared::new(Jobs(0));
    let results = Shared::new(Results(0));
    thread::scope(|s| {
        s.spawn(|| {
            let _j = jobs.modify();
            results.push(|r| r.0 += 1);
        })
        .join()
        .unwrap();
        let second = s.spawn(|| {
            report_of(|| {
                let _r = results.write();
                let _j = jobs.read(); // read under write counts: a queued writer is enough
            })
        });
        let report = second.join().unwrap();
        if let Some(report) = report {
            assert_contains_all(&report, &["lock order", "Jobs", "Results", "earlier"]);
        }
    });
}

#[test]
fn read_read_inversion_is_reported() {
    // With a writer queued on each lock, two readers in opposite orders deadlock.
    let a = Shared::new(1);
    let b = Shared::new(2);
    {
        let _a = a.read();
        let _b = b.read();
    }
    let report = report_of(|| {
        let _b = b.read();
        let _a = a.read();
    });
    if let Some(report) = report {
        assert_contains_all(&report, &["lock order", "read"]);
    }
}

#[test]
fn a_three_lock_cycle_is_reported_with_every_edge() {
    let (a, b, c) = (Shared::new(0), Shared::new(0), Shared::new(0));
    let a_then_b = here!(3);
    {
        let _a = a.write();
        let _b = b.write();
    }
    let b_then_c = here!(3);
    {
        let _b = b.write();
        let _c = c.write();
    }
    let report = report_of(|| {
        let _c = c.write();
        let _a = a.write();
    });
    if let Some(report) = report {
        assert_contains_all(&report, &["lock order", &a_then_b, &b_then_c]);
    }
}

#[test]
fn timed_acquisitions_and_the_reads_inside_waits_count() {
    use std::time::Duration;
    let a = Shared::new(0);
    let b = Shared::new(0);
    {
        let _a = a.write();
        assert!(b.try_write_for(TIMEOUT).is_some()); // a → b, taken by a timed call
    }
    let mut puller = a.puller();
    a.push(|v| *v += 1); // the puller has something to read: its wait takes the read lock
    let report = report_of(|| {
        let _b = b.modify();
        puller.wait_for(Duration::ZERO).unwrap().map(|g| *g)
    });
    if let Some(report) = report {
        assert_contains_all(&report, &["lock order", "read in a wait"]);
    }
    let report = report_of(|| {
        let _b = b.write();
        *a.wait_until(|_| true).unwrap()
    });
    if let Some(report) = report {
        assert_contains_all(&report, &["lock order", "read in a wait"]);
    }
    let report = report_of(|| {
        let _b = b.write();
        a.try_read_for(Duration::ZERO).map(|g| *g)
    });
    assert_eq!(report.is_some(), ENABLED);
}

#[test]
fn upgrade_waits_for_readers_so_it_orders_too() {
    let a = Shared::new(0);
    let b = Shared::new(0);
    {
        let _a = a.write();
        let _b = b.write(); // a → b
    }
    let report = report_of(|| {
        let _b = b.read();
        let m = a.try_modify().expect("free"); // non-blocking: no order yet
        let _w = ModifyGuard::upgrade(m); // blocks for readers: b → a, an inversion
    });
    if let Some(report) = report {
        assert_contains_all(&report, &["lock order", "upgrade"]);
    }
}

#[test]
fn consistent_orders_over_many_threads_never_report() {
    let locks: Vec<Shared<u64>> = (0..4).map(Shared::new).collect();
    bounded("consistent orders", move || {
        thread::scope(|s| {
            for t in 0..4 {
                let locks = &locks;
                s.spawn(move || {
                    for round in 0..200 {
                        // Any subset, always in index order.
                        let mut held = Vec::new();
                        for (i, lock) in locks.iter().enumerate() {
                            if (round + t + i) % 3 != 0 {
                                held.push(lock.write());
                            }
                        }
                        for g in &mut held {
                            **g += 1;
                        }
                    }
                });
            }
        });
    });
}

#[test]
fn an_order_taken_only_with_try_never_reports() {
    let a = Shared::new(0);
    let b = Shared::new(0);
    {
        let _a = a.write();
        let _b = b.try_write().expect("free");
    }
    {
        let _b = b.write();
        let _a = a.try_write().expect("free");
    }
    {
        let _b = b.try_read().expect("free");
        let _a = a.try_modify().expect("free");
    }
}

#[test]
fn a_blocking_acquisition_under_a_try_acquired_guard_orders() {
    let a = Shared::new(0);
    let b = Shared::new(0);
    {
        let _a = a.try_write().expect("free");
        let _b = b.write(); // a → b: blocking, under a try-acquired guard
    }
    let report = report_of(|| {
        let _b = b.write();
        let _a = a.write();
    });
    if let Some(report) = report {
        assert_contains_all(&report, &["lock order"]);
    }
}

#[test]
fn a_recursive_read_and_a_read_under_ones_own_modify_are_no_order() {
    let a = Shared::new(0);
    let b = Shared::new(0);
    {
        let _a = a.read();
        let _b = b.read(); // a → b
        let _a2 = a.read(); // recursive: not b → a (that would close a cycle and report)
    }
    {
        let m = a.modify();
        let _b = b.write(); // a → b
        let _r = a.read(); // under its own modify guard: not b → a
        drop(m);
    }
}

#[test]
fn a_dropped_shared_forgets_its_orders_and_a_new_one_at_its_address_starts_clean() {
    let b = Shared::new(0);
    let mut slot = Shared::new(0);
    {
        let _a = slot.write();
        let _b = b.write();
    }
    // The edge is there: b → (old) a closes a cycle (a report where checking is on; `report_of`
    // fails the test otherwise).
    let inverted = report_of(|| {
        let _b = b.write();
        let _a = slot.write();
    });
    if let Some(report) = inverted {
        assert_contains_all(&report, &["lock order"]);
    }
    // Assignment drops the old `Shared` and puts a new one in the same place.
    slot = Shared::new(1);
    let _b = b.write();
    let _a = slot.write(); // b → (new) a: no cycle with the old a's edge (a report would panic)
}

#[test]
fn the_master_waiting_while_holding_a_lock_its_workers_take_is_reported() {
    let jobs = Shared::new(Jobs(0));
    let wg = WaitGroup::new();
    thread::scope(|s| {
        // A worker started by the group takes `jobs` while its token is outstanding...
        let spawned_at = here!(1);
        let worker = wg.spawn_scoped(s, || jobs.push(|j| j.0 += 1));
        assert!(wg.wait_for(TIMEOUT));
        worker.join().unwrap();
        // ...and the master waits for the group while holding `jobs`: the master-worker
        // deadlock, reported before the wait blocks (the count is zero here: the order
        // counts, not the timing).
        let report = report_of(|| {
            let _j = jobs.write();
            wg.wait();
        });
        if let Some(report) = report {
            assert_contains_all(&report, &["lock order", "WaitGroup", "Jobs", &spawned_at]);
        }
    });
}

#[test]
fn a_worker_taking_a_lock_the_master_held_while_waiting_is_reported_in_the_worker() {
    let jobs = Shared::new(Jobs(0));
    let wg = WaitGroup::new();
    {
        let _j = jobs.write();
        wg.wait(); // nothing outstanding: returns at once, but jobs → group is recorded
    }
    thread::scope(|s| {
        let worker = wg.spawn_scoped(s, || report_of(|| jobs.push(|j| j.0 += 1)));
        assert!(wg.wait_for(TIMEOUT));
        if let Some(report) = worker.join().unwrap() {
            assert_contains_all(&report, &["lock order", "WaitGroup", "Jobs"]);
        }
    });
}

/// One step of a single-threaded acquisition program over `LOCKS` `Shared`s.
#[derive(Clone, Debug)]
enum Step {
    /// Take lock `i` (blocking `write`), unless already held.
    Take(usize),
    /// Take lock `i` with `try_write` (no order), unless already held.
    TryTake(usize),
    /// Release the most recent guard.
    Release,
}

const LOCKS: usize = 4;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..LOCKS).prop_map(Step::Take),
        1 => (0..LOCKS).prop_map(Step::TryTake),
        3 => Just(Step::Release),
    ]
}

/// The model: the first `Take` (its index in `steps`) that closes a cycle in the order graph
/// built from the blocking acquisitions before it, or `None`.
fn first_inversion(steps: &[Step]) -> Option<usize> {
    let mut edges = [[false; LOCKS]; LOCKS];
    let mut held: Vec<usize> = Vec::new();
    let reaches = |edges: &[[bool; LOCKS]; LOCKS], from: usize, to: usize| {
        let mut seen = [false; LOCKS];
        let mut stack = vec![from];
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if !std::mem::replace(&mut seen[n], true) {
                stack.extend((0..LOCKS).filter(|&m| edges[n][m]));
            }
        }
        false
    };
    for (k, step) in steps.iter().enumerate() {
        match *step {
            Step::Take(i) if !held.contains(&i) => {
                if held.iter().any(|&h| reaches(&edges, i, h)) {
                    return Some(k);
                }
                for &h in &held {
                    edges[h][i] = true;
                }
                held.push(i);
            }
            Step::TryTake(i) if !held.contains(&i) => held.push(i),
            Step::Release => {
                held.pop();
            }
            _ => {}
        }
    }
    None
}

/// Runs `steps` on fresh `Shared`s; the index of the step that panicked, if one did.
fn run(steps: &[Step]) -> Option<usize> {
    quiet_reports();
    let locks: Vec<Shared<u8>> = (0..LOCKS).map(|_| Shared::new(0)).collect();
    let mut held: Vec<(usize, pushpull::WriteGuard<'_, u8>)> = Vec::new();
    for (k, step) in steps.iter().enumerate() {
        let outcome = catch_unwind(AssertUnwindSafe(|| match *step {
            Step::Take(i) if !held.iter().any(|(h, _)| *h == i) => Some((i, locks[i].write())),
            Step::TryTake(i) if !held.iter().any(|(h, _)| *h == i) => {
                Some((i, locks[i].try_write().expect("only this thread locks")))
            }
            _ => None,
        }));
        match outcome {
            Ok(Some(guard)) => held.push(guard),
            Ok(None) if matches!(step, Step::Release) => drop(held.pop()),
            Ok(None) => {}
            Err(_) => return Some(k),
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::scaled(256) as u32))]

    /// Programs that take locks only in increasing index order never report.
    #[test]
    fn acquisitions_that_respect_one_global_order_never_report(
        steps in proptest::collection::vec(step(), 0..40)
    ) {
        // Keep only the takes that respect the order of what is held.
        let mut held: Vec<usize> = Vec::new();
        let ordered: Vec<Step> = steps
            .into_iter()
            .filter(|s| match *s {
                Step::Take(i) | Step::TryTake(i) => {
                    let ok = held.iter().all(|&h| h < i);
                    if ok {
                        held.push(i);
                    }
                    ok
                }
                Step::Release => {
                    held.pop();
                    true
                }
            })
            .collect();
        prop_assert_eq!(first_inversion(&ordered), None);
        prop_assert_eq!(run(&ordered), None);
    }

    /// Any program: the checker reports exactly at the first acquisition that closes a
    /// cycle (where checking is on), and never otherwise.
    #[test]
    fn the_first_inverted_acquisition_reports(
        steps in proptest::collection::vec(step(), 0..40)
    ) {
        let expected = if ENABLED { first_inversion(&steps) } else { None };
        prop_assert_eq!(run(&steps), expected);
    }
}
