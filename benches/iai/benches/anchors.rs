//! The anchors of `fast_paths.rs`: the same operations on parking_lot, std, crossbeam and
//! tokio's watch channel, measured the same way (`ITERS` operations in one loop, the loop's own
//! instructions measured by `loop_overhead` and subtracted by `benches/iai/check.py`).
//!
//! A binary of its own so that the feature builds of `benches/iai/run`, which change pushpull
//! only, need not run it again.

use iai_callgrind::{library_benchmark, library_benchmark_group, main};
use std::hint::black_box;

/// Operations per benchmark: as in `fast_paths.rs`.
const ITERS: u64 = 100_000;

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

// The loop of every benchmark below with nothing in it but the `black_box` of the handle.
#[library_benchmark]
#[bench::run(setup = atomic)]
fn loop_overhead(a: &'static std::sync::atomic::AtomicU64) {
    for _ in 0..ITERS {
        black_box(black_box(a));
    }
}

type PlRwLock = parking_lot::RwLock<u64>;
type PlMutex<T> = parking_lot::Mutex<T>;
type StdRwLock = std::sync::RwLock<u64>;
type StdMutex = std::sync::Mutex<u64>;
type Watch = (
    tokio::sync::watch::Sender<u64>,
    tokio::sync::watch::Receiver<u64>,
);

fn pl_rwlock() -> &'static PlRwLock {
    leak(PlRwLock::new(1))
}
fn std_rwlock() -> &'static StdRwLock {
    leak(StdRwLock::new(1))
}
fn pl_mutex() -> &'static PlMutex<u64> {
    leak(PlMutex::new(1))
}
fn std_mutex() -> &'static StdMutex {
    leak(StdMutex::new(1))
}
fn watch() -> Watch {
    tokio::sync::watch::channel(1)
}
fn atomic() -> &'static std::sync::atomic::AtomicU64 {
    leak(std::sync::atomic::AtomicU64::new(1))
}
fn versioned_mutex() -> &'static PlMutex<(u64, u64)> {
    leak(PlMutex::new((1, 1)))
}
fn condvar() -> &'static (PlMutex<u64>, parking_lot::Condvar) {
    leak((PlMutex::new(1), parking_lot::Condvar::new()))
}
fn std_latch() -> &'static (std::sync::Mutex<usize>, std::sync::Condvar) {
    leak((std::sync::Mutex::new(0), std::sync::Condvar::new()))
}

// parking_lot `RwLock::read` + deref + drop (anchor of `read`).
#[library_benchmark]
#[bench::run(setup = pl_rwlock)]
fn read_parking_lot(l: &'static PlRwLock) {
    for _ in 0..ITERS {
        black_box(*black_box(l).read());
    }
}

// std `RwLock::read` (poisoning) + deref + drop (anchor of `read`).
#[library_benchmark]
#[bench::run(setup = std_rwlock)]
fn read_std(l: &'static StdRwLock) {
    for _ in 0..ITERS {
        black_box(*black_box(l).read().unwrap());
    }
}

// tokio `watch::Receiver::borrow` + deref + drop (anchor of `read`).
#[library_benchmark]
#[bench::run(setup = watch)]
fn read_watch_borrow(w: Watch) -> Watch {
    for _ in 0..ITERS {
        black_box(*black_box(&w.1).borrow());
    }
    w
}

// parking_lot `upgradable_read` + deref + drop (anchor of `modify`).
#[library_benchmark]
#[bench::run(setup = pl_rwlock)]
fn modify_parking_lot(l: &'static PlRwLock) {
    for _ in 0..ITERS {
        black_box(*black_box(l).upgradable_read());
    }
}

// parking_lot `upgradable_read`, `upgrade`, `+= 1`, drop (anchor of `modify_upgrade`).
#[library_benchmark]
#[bench::run(setup = pl_rwlock)]
fn modify_upgrade_parking_lot(l: &'static PlRwLock) {
    for _ in 0..ITERS {
        let u = black_box(l).upgradable_read();
        *parking_lot::RwLockUpgradableReadGuard::upgrade(u) += 1;
    }
}

// parking_lot `RwLock::write` + `+= 1` + drop (anchor of `write`).
#[library_benchmark]
#[bench::run(setup = pl_rwlock)]
fn write_parking_lot(l: &'static PlRwLock) {
    for _ in 0..ITERS {
        *black_box(l).write() += 1;
    }
}

// std `RwLock::write` (poisoning) + `+= 1` + drop (anchor of `write`).
#[library_benchmark]
#[bench::run(setup = std_rwlock)]
fn write_std(l: &'static StdRwLock) {
    for _ in 0..ITERS {
        *black_box(l).write().unwrap() += 1;
    }
}

// parking_lot `RwLock::write` + read + drop (anchor of `write_no_mutation`).
#[library_benchmark]
#[bench::run(setup = pl_rwlock)]
fn write_no_mutation_parking_lot(l: &'static PlRwLock) {
    for _ in 0..ITERS {
        black_box(*black_box(l).write());
    }
}

// std `RwLock::write` + read + drop (anchor of `write_no_mutation`).
#[library_benchmark]
#[bench::run(setup = std_rwlock)]
fn write_no_mutation_std(l: &'static StdRwLock) {
    for _ in 0..ITERS {
        black_box(*black_box(l).write().unwrap());
    }
}

// parking_lot `Mutex::lock` + `+= 1` + drop (anchor of `push`).
#[library_benchmark]
#[bench::run(setup = pl_mutex)]
fn push_parking_lot(l: &'static PlMutex<u64>) {
    for _ in 0..ITERS {
        *black_box(l).lock() += 1;
    }
}

// std `Mutex::lock` (poisoning) + `+= 1` + drop (anchor of `push`).
#[library_benchmark]
#[bench::run(setup = std_mutex)]
fn push_std(l: &'static StdMutex) {
    for _ in 0..ITERS {
        *black_box(l).lock().unwrap() += 1;
    }
}

// tokio `watch::Sender::send_modify(|v| *v += 1)` with a live receiver (anchor of `push`).
#[library_benchmark]
#[bench::run(setup = watch)]
fn push_watch_send_modify(w: Watch) -> Watch {
    for _ in 0..ITERS {
        black_box(&w.0).send_modify(|v| *v += 1);
    }
    w
}

// tokio `watch::Sender::send_if_modified` whose closure declines (anchor of `push_if_false`).
#[library_benchmark]
#[bench::run(setup = watch)]
fn push_if_false_watch(w: Watch) -> Watch {
    for _ in 0..ITERS {
        black_box(black_box(&w.0).send_if_modified(|v| black_box(*v) == 0));
    }
    w
}

// A parking_lot `Mutex<(value, version)>`: lock, compare the version, change, bump (anchor of
// `push_at_win`).
#[library_benchmark]
#[bench::run(setup = versioned_mutex)]
fn push_at_win_parking_lot(l: &'static PlMutex<(u64, u64)>) {
    let mut seen = 1;
    for _ in 0..ITERS {
        let mut g = black_box(l).lock();
        if g.1 == seen {
            g.0 += 1;
            g.1 += 1;
            seen = g.1;
        }
    }
    black_box(seen);
}

// An atomic load and compare: the "did it change?" floor (anchor of `has_changed`,
// `pull_unchanged` and `push_at_conflict`).
#[library_benchmark]
#[bench::run(setup = atomic)]
fn has_changed_atomic(a: &'static std::sync::atomic::AtomicU64) {
    for _ in 0..ITERS {
        black_box(black_box(a).load(std::sync::atomic::Ordering::Acquire) != 1);
    }
}

// tokio `watch::Receiver::has_changed` (anchor of `has_changed` and `pull_unchanged`).
#[library_benchmark]
#[bench::run(setup = watch)]
fn has_changed_watch(w: Watch) -> Watch {
    for _ in 0..ITERS {
        let _ = black_box(black_box(&w.1).has_changed());
    }
    w
}

// parking_lot `RwLock::read` + clone + drop: a pull's lock and copy without its version
// check (anchor of `pull_changed`).
#[library_benchmark]
#[bench::run(setup = pl_rwlock)]
fn pull_changed_parking_lot(l: &'static PlRwLock) {
    for _ in 0..ITERS {
        black_box(Some(*black_box(l).read()));
    }
}

// tokio `mark_changed` + `has_changed` + `borrow_and_update` + clone (anchor of
// `pull_changed`).
#[library_benchmark]
#[bench::run(setup = watch)]
fn pull_changed_watch(mut w: Watch) -> Watch {
    for _ in 0..ITERS {
        let rx = black_box(&mut w.1);
        rx.mark_changed();
        if rx.has_changed().unwrap_or(false) {
            black_box(*rx.borrow_and_update());
        }
    }
    w
}

// parking_lot `Mutex` + `Condvar` wait loop that finds its condition already true: lock,
// check, read, unlock (anchor of `wait_changed`).
#[library_benchmark]
#[bench::run(setup = condvar)]
fn wait_changed_condvar(c: &'static (PlMutex<u64>, parking_lot::Condvar)) {
    for _ in 0..ITERS {
        let (m, cv) = black_box(c);
        let mut g = m.lock();
        while *g == 0 {
            cv.wait(&mut g);
        }
        black_box(*g);
    }
}

// crossbeam `WaitGroup`: new, clone, drop the clone, wait (its `wait` consumes the group;
// anchor of `waitgroup_add_done_wait` and `waitgroup_token_wait`).
#[library_benchmark]
#[bench::run()]
fn waitgroup_crossbeam() {
    for _ in 0..ITERS {
        let wg = crossbeam_utils::sync::WaitGroup::new();
        drop(black_box(wg.clone()));
        wg.wait();
    }
}

// A std `Mutex<usize>` + `Condvar` latch: add, done, wait (three lock round trips; anchor of
// `waitgroup_add_done_wait`).
#[library_benchmark]
#[bench::run(setup = std_latch)]
fn waitgroup_std_latch(l: &'static (std::sync::Mutex<usize>, std::sync::Condvar)) {
    for _ in 0..ITERS {
        let (count, zero) = black_box(l);
        *count.lock().unwrap() += 1;
        {
            let mut c = count.lock().unwrap();
            *c -= 1;
            if *c == 0 {
                zero.notify_all();
            }
        }
        let mut c = count.lock().unwrap();
        while *c != 0 {
            c = zero.wait(c).unwrap();
        }
    }
}

library_benchmark_group!(
    name = anchors;
    benchmarks =
        loop_overhead,
        read_parking_lot,
        read_std,
        read_watch_borrow,
        modify_parking_lot,
        modify_upgrade_parking_lot,
        write_parking_lot,
        write_std,
        write_no_mutation_parking_lot,
        write_no_mutation_std,
        push_parking_lot,
        push_std,
        push_watch_send_modify,
        push_if_false_watch,
        push_at_win_parking_lot,
        has_changed_atomic,
        has_changed_watch,
        pull_changed_parking_lot,
        pull_changed_watch,
        wait_changed_condvar,
        waitgroup_crossbeam,
        waitgroup_std_latch
);

main!(library_benchmark_groups = anchors);
