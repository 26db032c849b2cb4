//! Instructions per operation of every uncontended fast path of pushpull, each beside its
//! anchors (parking_lot, std, crossbeam, tokio's watch channel), counted by callgrind through
//! iai-callgrind.
//!
//! Every benchmark runs its operation `ITERS` times in one loop on a value made by a setup
//! function (not counted). `benches/iai/check.py` turns the totals into instructions per
//! operation: `(total - loop_overhead) / ITERS`, where `loop_overhead` is the same loop with
//! only the `black_box` of the handle in its body. Instruction counts of one binary are
//! deterministic (same input, environment cleared, ASLR off: the runner does both), so a
//! difference is a change of the code, never noise.
//!
//! The anchors, measured the same way, are in `anchors.rs` (a binary of its own: run in the
//! default build only, since pushpull's features do not change them).
//!
//! `bash benches/iai/run` builds, runs and checks; see BENCHMARKS.md, "Instruction counts".

use iai_callgrind::{library_benchmark, library_benchmark_group, main};
use pushpull::{ModifyGuard, Puller, Shared, Version, WaitGroup};
use std::hint::black_box;

/// Operations per benchmark. Large enough that the fixed costs of the measured function (its
/// prologue, the loop's setup) are below 0.01 instructions per operation.
const ITERS: u64 = 100_000;

// ---- setups (run before the measured function; their instructions are not counted) -------

/// A `Shared` at version 1 (one publish happened, like most values in use), leaked: every
/// benchmark runs in a process of its own, and a `'static` handle keeps borrows simple.
fn shared() -> &'static Shared<u64> {
    let s = Box::leak(Box::new(Shared::new(0u64)));
    s.push(|v| *v += 1);
    s
}

/// A puller that is up to date (`has_changed` is false), on a leaked `Shared`.
fn puller() -> Puller<'static, u64> {
    shared().puller()
}

fn wait_group() -> &'static WaitGroup {
    Box::leak(Box::new(WaitGroup::new()))
}

// The loop every benchmark runs, with nothing in it but the `black_box` of the handle:
// subtracted from every total.
#[library_benchmark]
#[bench::run(setup = shared)]
fn loop_overhead(s: &'static Shared<u64>) {
    for _ in 0..ITERS {
        black_box(black_box(s));
    }
}

// `read()` + deref + drop.
#[library_benchmark]
#[bench::run(setup = shared)]
fn read(s: &'static Shared<u64>) {
    for _ in 0..ITERS {
        black_box(*black_box(s).read());
    }
}

// `modify()` + deref + drop.
#[library_benchmark]
#[bench::run(setup = shared)]
fn modify(s: &'static Shared<u64>) {
    for _ in 0..ITERS {
        black_box(*black_box(s).modify());
    }
}

// `modify()`, `ModifyGuard::upgrade`, `+= 1` (publishes), drop.
#[library_benchmark]
#[bench::run(setup = shared)]
fn modify_upgrade(s: &'static Shared<u64>) {
    for _ in 0..ITERS {
        let m = black_box(s).modify();
        *ModifyGuard::upgrade(m) += 1;
    }
}

// `write()` + `+= 1` (the first mutable access publishes) + drop.
#[library_benchmark]
#[bench::run(setup = shared)]
fn write(s: &'static Shared<u64>) {
    for _ in 0..ITERS {
        *black_box(s).write() += 1;
    }
}

// `write()` + read through the guard + drop: no mutable access, nothing published.
#[library_benchmark]
#[bench::run(setup = shared)]
fn write_no_mutation(s: &'static Shared<u64>) {
    for _ in 0..ITERS {
        black_box(*black_box(s).write());
    }
}

// `push(|v| *v += 1)`.
#[library_benchmark]
#[bench::run(setup = shared)]
fn push(s: &'static Shared<u64>) {
    for _ in 0..ITERS {
        black_box(s).push(|v| *v += 1);
    }
}

// `push(|v| *v += 1)` with a live puller that is not waiting.
#[library_benchmark]
#[bench::run(setup = puller)]
fn push_puller_live(p: Puller<'static, u64>) -> Puller<'static, u64> {
    let s = p.shared();
    for _ in 0..ITERS {
        black_box(s).push(|v| *v += 1);
    }
    p
}

// `push_if` whose closure declines: nothing published.
#[library_benchmark]
#[bench::run(setup = shared)]
fn push_if_false(s: &'static Shared<u64>) {
    for _ in 0..ITERS {
        black_box(black_box(s).push_if(|v| black_box(*v) == 0));
    }
}

// `push_at` at the current version: wins every time (the next one starts from its result).
#[library_benchmark]
#[bench::run(setup = shared)]
fn push_at_win(s: &'static Shared<u64>) {
    let mut seen = s.version();
    for _ in 0..ITERS {
        match black_box(s).push_at(seen, |v| *v += 1) {
            Ok(((), now)) => seen = now,
            Err(_) => unreachable!("nobody else pushes"),
        }
    }
}

// `push_at` at a stale version: refused without a lock.
#[library_benchmark]
#[bench::run(setup = shared)]
fn push_at_conflict(s: &'static Shared<u64>) {
    for _ in 0..ITERS {
        let _ = black_box(black_box(s).push_at(Version::ZERO, |v| *v += 1));
    }
}

// `has_changed()` on an up-to-date puller.
#[library_benchmark]
#[bench::run(setup = puller)]
fn has_changed(p: Puller<'static, u64>) -> Puller<'static, u64> {
    for _ in 0..ITERS {
        black_box(black_box(&p).has_changed());
    }
    p
}

// `pull()` with nothing new: `None`, no lock.
#[library_benchmark]
#[bench::run(setup = puller)]
fn pull_unchanged(mut p: Puller<'static, u64>) -> Puller<'static, u64> {
    for _ in 0..ITERS {
        black_box(black_box(&mut p).pull());
    }
    p
}

// `pull()` with a change to report (a puller at version 0 of a `Shared` at version 1, made
// afresh each time: two stores): the check, a read lock, the clone, the version.
#[library_benchmark]
#[bench::run(setup = shared)]
fn pull_changed(s: &'static Shared<u64>) {
    for _ in 0..ITERS {
        black_box(black_box(s).puller_at(Version::ZERO).pull());
    }
}

// `Puller::wait()` that finds a change already there: returns the guard at once.
#[library_benchmark]
#[bench::run(setup = shared)]
fn wait_changed(s: &'static Shared<u64>) {
    for _ in 0..ITERS {
        black_box(*black_box(s).puller_at(Version::ZERO).wait().unwrap());
    }
}

// One round of a `WaitGroup`: `add(1)`, `done()`, `wait()` (returns at once).
#[library_benchmark]
#[bench::run(setup = wait_group)]
fn waitgroup_add_done_wait(wg: &'static WaitGroup) {
    for _ in 0..ITERS {
        let wg = black_box(wg);
        wg.add(1);
        wg.done();
        wg.wait();
    }
}

// One round with a token: `token()` (adds one), drop it (done), `wait()`.
#[library_benchmark]
#[bench::run(setup = wait_group)]
fn waitgroup_token_wait(wg: &'static WaitGroup) {
    for _ in 0..ITERS {
        let wg = black_box(wg);
        drop(wg.token());
        wg.wait();
    }
}

library_benchmark_group!(
    name = ours;
    benchmarks =
        loop_overhead,
        read,
        modify,
        modify_upgrade,
        write,
        write_no_mutation,
        push,
        push_puller_live,
        push_if_false,
        push_at_win,
        push_at_conflict,
        has_changed,
        pull_unchanged,
        pull_changed,
        wait_changed,
        waitgroup_add_done_wait,
        waitgroup_token_wait
);

main!(library_benchmark_groups = ours);
