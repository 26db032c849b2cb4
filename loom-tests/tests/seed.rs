#![cfg(loom)]
//! The Go seed scenario, model-checked.
//!
//! The Go sample: `main` creates a `sync.WaitGroup` and a `sharedData{value}` with an
//! embedded `sync.Mutex`, and starts `numWorkers` goroutines (`wg.Add(1)` each). Every worker
//! does
//!
//! ```go
//! defer wg.Done()
//! data.Lock()
//! defer data.Unlock()
//! value := data.value
//! data.Lock()            // still holding the lock
//! data.value = newValue
//! ```
//!
//! Bug 1: Go's mutex is not re-entrant, so the second `Lock` self-deadlocks. Bug 2: the usual
//! repair (read under the lock, unlock, lock again, write `value + 1`) loses updates.
//!
//! The first two models translate the sample (and its repair) to Rust on a plain loom `Mutex`
//! and assert that loom *finds* each bug: they fail if loom ever stops catching it. The others
//! write the same workers with pushpull and prove they are right in every interleaving.
//!
//! Per loom-pitfalls: models that are expected to deadlock share the mutex through
//! `std::sync::Arc` (a loom `Arc`, or a loom `RwLock` guard, dropped while loom unwinds a
//! deadlocked model aborts the whole test binary) and hold only a loom `Mutex` guard.

use pushpull::{ModifyGuard, Shared, WaitGroup};
use pushpull_loom_tests::harness::{check, expect_failure, panic_of};
use std::sync::Arc;

/// Go's `sharedData`: the value, with the mutex embedded (here: around it).
#[derive(Debug, Default)]
struct SharedData {
    value: u64,
}

/// Two workers: the smallest number that shows both bugs (and `numWorkers` in spirit).
const WORKERS: u64 = 2;

/// Bug 1, translated faithfully: a worker locks the (non re-entrant) mutex and, with the guard
/// still alive, locks it again. loom must report the self-deadlock, on the first interleaving.
#[test]
fn go_sample_relock_is_a_deadlock_loom_reports() {
    // Unbounded: loom reports it on the very first execution anyway.
    let (message, stats) = expect_failure("seed::go_sample_relock_deadlock", None, || {
        let data = Arc::new(loom::sync::Mutex::new(SharedData::default()));
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let data = Arc::clone(&data);
                loom::thread::spawn(move || {
                    // data.Lock(); defer data.Unlock()
                    let guard = data.lock().unwrap();
                    let value = guard.value;
                    // data.Lock() again, still holding the lock: blocks forever.
                    let mut again = data.lock().unwrap();
                    again.value = value + 1;
                })
            })
            .collect();
        // wg.Wait()
        for worker in workers {
            worker.join().unwrap();
        }
    });
    assert!(
        message.contains("deadlock"),
        "loom failed the model, but not with a deadlock: {message}"
    );
    assert_eq!(stats.iterations, 1, "loom finds the self-deadlock at once");
}

/// Bug 2: the usual repair (read under the lock, unlock, lock again, write `value + 1`) from
/// two workers. loom must find the interleaving that loses an update, and fail with this
/// model's own assertion.
#[test]
fn go_sample_repair_loses_an_update_loom_finds_it() {
    // Unbounded: the lost update needs one preemption and is found in a few iterations.
    let (message, _) = expect_failure("seed::go_repair_lost_update", None, || {
        let data = Arc::new(loom::sync::Mutex::new(SharedData::default()));
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let data = Arc::clone(&data);
                loom::thread::spawn(move || {
                    let value = data.lock().unwrap().value; // read, unlock
                    data.lock().unwrap().value = value + 1; // lock again, write
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let value = data.lock().unwrap().value;
        assert_eq!(
            value, WORKERS,
            "lost update: {WORKERS} workers, value {value}"
        );
    });
    assert!(
        message.contains("lost update"),
        "loom failed the model, but not on the lost-update assertion: {message}"
    );
}

/// The workers with pushpull: `Shared::push` is the read-modify-write under one lock, and a
/// `WaitGroup` (`wg.spawn` spawns loom threads under loom) replaces Go's `wg`. In every
/// interleaving the value, and the version, end at exactly the number of workers.
#[test]
fn pushpull_push_workers_lose_nothing() {
    // Bound 3: three threads (main + 2 workers) through Shared *and* WaitGroup; exhaustive
    // runs of this shape took minutes (loom-pitfalls); 2 preemptions already catch every
    // bug of this kind seen so far, 3 keeps a margin.
    check("seed::pushpull_push", Some(3), || {
        let data = Arc::new(Shared::new(SharedData::default()));
        let wg = WaitGroup::new();
        for _ in 0..WORKERS {
            let data = Arc::clone(&data);
            wg.spawn(move || data.push(|d| d.value += 1));
        }
        wg.wait();
        assert_eq!(data.read().value, WORKERS);
        assert_eq!(data.version().get(), WORKERS);
    });
}

/// The same with `update` and the workers' writes observed through the value returned by
/// `update` (each worker sees a distinct count: nobody read a stale value).
#[test]
fn pushpull_update_workers_see_distinct_values() {
    // Bound 3: as `pushpull_push_workers_lose_nothing`.
    check("seed::pushpull_update", Some(3), || {
        let data = Arc::new(Shared::new(SharedData::default()));
        let seen = Arc::new(Shared::new(Vec::new()));
        let wg = WaitGroup::new();
        for _ in 0..WORKERS {
            let data = Arc::clone(&data);
            let seen = Arc::clone(&seen);
            wg.spawn(move || {
                let now = data.push(|d| {
                    d.value += 1;
                    d.value
                });
                seen.push(|s| s.push(now));
            });
        }
        wg.wait();
        let mut seen = seen.read().clone();
        seen.sort_unstable();
        assert_eq!(seen, (1..=WORKERS).collect::<Vec<_>>());
        assert_eq!(data.read().value, WORKERS);
    });
}

/// The "look, then write" shape of the sample done right: `modify()` reads, and
/// `ModifyGuard::upgrade` turns it into a write with no writer in between, so
/// `value + 1` written after the upgrade is never stale.
#[test]
fn pushpull_modify_upgrade_workers_lose_nothing() {
    // Bound 3: as `pushpull_push_workers_lose_nothing`.
    check("seed::pushpull_modify_upgrade", Some(3), || {
        let data = Arc::new(Shared::new(SharedData::default()));
        let wg = WaitGroup::new();
        for _ in 0..WORKERS {
            let data = Arc::clone(&data);
            let token = wg.token(); // tokens moved into plain loom threads
            loom::thread::spawn(move || {
                let _token = token; // defer wg.Done()
                let guard = data.modify();
                let value = guard.value;
                let mut guard = ModifyGuard::upgrade(guard);
                guard.value = value + 1;
            });
        }
        wg.wait();
        assert_eq!(data.read().value, WORKERS);
        assert_eq!(data.version().get(), WORKERS);
    });
}

/// The sample's double lock written with pushpull: `write()` while this thread holds a
/// `WriteGuard` of the same `Shared`. Under loom too, that is a clear re-entrancy panic (the
/// worker catches it here), never a deadlock; the worker then writes through the guard it
/// already holds, and no update is lost.
#[test]
fn pushpull_double_write_is_a_reentrancy_panic_not_a_deadlock() {
    // Bound 3: as `pushpull_push_workers_lose_nothing`.
    check("seed::pushpull_double_write_panics", Some(3), || {
        let data = Arc::new(Shared::new(SharedData::default()));
        let wg = WaitGroup::new();
        for _ in 0..WORKERS {
            let data = Arc::clone(&data);
            wg.spawn(move || {
                let mut guard = data.write(); // data.Lock(); defer data.Unlock()
                let value = guard.value;
                let message = panic_of(|| data.write()); // data.Lock() again
                assert!(
                    message.contains("write() would deadlock")
                        && message.contains("already holds a WriteGuard"),
                    "unexpected panic: {message}"
                );
                guard.value = value + 1; // the one guard is all it needs
            });
        }
        wg.wait();
        assert_eq!(data.read().value, WORKERS);
    });
}
