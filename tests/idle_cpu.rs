//! A waiter spins only briefly before it parks: waiting 100 ms must not burn 100 ms of CPU.
//! Measured as the waiting thread's own CPU time (Linux `/proc/thread-self/schedstat`), not
//! wall time, with a wide margin: the spin phase is microseconds, the bound is 30 ms.

#![cfg(target_os = "linux")]

use pushpull::{Shared, WaitGroup};
use std::time::Duration;

const WAIT: Duration = Duration::from_millis(100);
const MAX_CPU: Duration = Duration::from_millis(30);

/// CPU time this thread has spent running, from the kernel's scheduler statistics.
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat is readable on Linux");
    let ns: u64 = stat
        .split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .expect("schedstat starts with the time on CPU in ns");
    Duration::from_nanos(ns)
}

/// Runs `wait` and returns the CPU time it used on this thread.
fn cpu_used_by(wait: impl FnOnce()) -> Duration {
    let before = thread_cpu_time();
    wait();
    thread_cpu_time() - before
}

#[test]
fn puller_wait_for_on_a_quiet_shared_parks_instead_of_spinning() {
    let shared = Shared::new(0u64);
    let mut puller = shared.puller();
    let cpu = cpu_used_by(|| assert!(puller.wait_for(WAIT).is_none()));
    assert!(
        cpu < MAX_CPU,
        "an idle 100 ms Puller::wait_for used {cpu:?} of CPU"
    );
}

#[test]
fn wait_until_for_a_predicate_that_never_holds_parks_instead_of_spinning() {
    let shared = Shared::new(0u64);
    let cpu = cpu_used_by(|| assert!(shared.wait_until_for(WAIT, |v| *v > 0).is_none()));
    assert!(
        cpu < MAX_CPU,
        "an idle 100 ms wait_until_for used {cpu:?} of CPU"
    );
}

#[test]
fn wait_group_wait_for_an_outstanding_token_parks_instead_of_spinning() {
    let wg = WaitGroup::new();
    let token = wg.token();
    let cpu = cpu_used_by(|| assert!(!wg.wait_for(WAIT)));
    assert!(
        cpu < MAX_CPU,
        "an idle 100 ms WaitGroup::wait_for used {cpu:?} of CPU"
    );
    drop(token);
    assert!(wg.wait_for(Duration::from_secs(10)));
}
