//! The push-pull pattern, done right.
//!
//! ```text
//! cargo run --release --example push_pull
//! cargo run --release --example push_pull -- --workers 8 --pushes 5000 --pace-us 0
//! ```
//!
//! The Go program this replaces keeps a value in a struct that embeds a `sync.Mutex`, starts
//! workers with `wg.Add(1)`, and `wg.Wait()`s for them. Each worker locks, reads the value and
//! then locks *again* to write `value + 1`: a self-deadlock, because Go mutexes are not
//! re-entrant. The usual repair (read under the lock, unlock, lock again, write) loses updates
//! whenever two workers read the same value.
//!
//! Here every worker adds one to a [`Shared`] tally `--pushes` times, each in one of four
//! correct ways (worker `i` uses style `i % 4`):
//!
//! * `push`: the read-modify-write as one closure under the write lock;
//! * `write`: a [`WriteGuard`](pushpull::WriteGuard) held for the change: its first mutable
//!   access publishes, the lock is released (and the puller woken) when it is dropped;
//! * `modify + upgrade`: the seed's intent written out, read the value under a
//!   [`ModifyGuard`] (readers still get in), then [`ModifyGuard::upgrade`] and write
//!   `value + 1`: no other writer can slip in between the read and the write;
//! * `push_at`: optimistic, read a snapshot and its version under a brief read lock, then
//!   compare-and-push; a conflict (someone pushed meanwhile) is retried from a fresh snapshot.
//!
//! A puller thread reports progress as versions advance. Its puller is an owned one
//! ([`Shared::puller_arc`]), created *before* any worker starts and moved into the thread, so
//! it follows every version from 0 on, even if the workers push before the thread runs. The
//! master waits for the workers on a [`WaitGroup`] (with a timeout), then checks that nothing
//! was lost: the final value, the per-worker counts and the number of versions published must
//! all match, and the puller must have followed the tally to its last version. Exit code 0
//! when they do, 1 when they do not (or a worker panicked or timed out), 2 for bad arguments.

#[path = "support/cli.rs"]
mod cli;

use pushpull::{ArcPuller, ModifyGuard, Shared, WaitGroup};
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: push_pull [--workers N] [--pushes K] [--pace-us US] [--timeout-secs S]

Workers each add one to a shared tally K times (push, write, modify+upgrade, push_at),
a puller reports progress as versions advance, and the master checks nothing was lost.

options:
  --workers N       worker threads (1..=1024, default 4)
  --pushes K        pushes per worker (1..=10000000, default 2000)
  --pace-us US      pause between two pushes of a worker, in microseconds, so the progress
                    display has something to show (0..=1000000, default 300; 0 = full speed)
  --timeout-secs S  give up waiting for the workers after S seconds (1..=86400, default 120)
  -h, --help        print this help

exit code: 0 all updates arrived, 1 an update was lost (or a worker failed), 2 bad arguments";

#[derive(Debug)]
struct Config {
    workers: usize,
    pushes: u64,
    pace: Duration,
    timeout: Duration,
}

/// What the command line asked for.
enum Command {
    Run(Config),
    Help,
}

/// Parses `args` (without the program name). Accepts `--flag value` and `--flag=value`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = Config {
        workers: 4,
        pushes: 2000,
        pace: Duration::from_micros(300),
        timeout: Duration::from_secs(120),
    };
    let mut flags = cli::Flags::new(args);
    while let Some((flag, inline)) = flags.next_flag() {
        match flag.as_str() {
            "--help" => return Ok(Command::Help),
            "--workers" => config.workers = flags.number(&flag, inline, 1, 1024)? as usize,
            "--pushes" => config.pushes = flags.number(&flag, inline, 1, 10_000_000)?,
            "--pace-us" => {
                config.pace = Duration::from_micros(flags.number(&flag, inline, 0, 1_000_000)?)
            }
            "--timeout-secs" => {
                config.timeout = Duration::from_secs(flags.number(&flag, inline, 1, 86_400)?)
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Command::Run(config))
}

/// The shared state: the value the workers increment, and how many increments each made.
#[derive(Clone, Debug)]
struct Tally {
    value: u64,
    per_worker: Vec<u64>,
}

#[derive(Clone, Copy, Debug)]
enum Style {
    Push,
    Write,
    ModifyUpgrade,
    PushAt,
}

const STYLES: [Style; 4] = [
    Style::Push,
    Style::Write,
    Style::ModifyUpgrade,
    Style::PushAt,
];

impl Style {
    fn name(self) -> &'static str {
        match self {
            Style::Push => "push",
            Style::Write => "write",
            Style::ModifyUpgrade => "modify+upgrade",
            Style::PushAt => "push_at",
        }
    }
}

/// One worker: `pushes` increments of the tally in the given style. Returns how many
/// `push_at` attempts were refused (and retried).
fn worker(id: usize, style: Style, tally: &Shared<Tally>, pushes: u64, pace: Duration) -> u64 {
    let mut conflicts = 0;
    for _ in 0..pushes {
        match style {
            Style::Push => tally.push(|t| {
                t.value += 1;
                t.per_worker[id] += 1;
            }),
            Style::Write => {
                let mut guard = tally.write();
                guard.value += 1; // the first mutable access publishes
                guard.per_worker[id] += 1;
            }
            Style::ModifyUpgrade => {
                // The Go seed's intent: read the value, then write value + 1. The modify
                // guard lets readers in but keeps every other writer out until we are done.
                let guard = tally.modify();
                let value = guard.value;
                let mut guard = ModifyGuard::upgrade(guard);
                guard.value = value + 1;
                guard.per_worker[id] += 1;
            }
            Style::PushAt => loop {
                // Snapshot the value and its version under a short read lock, compute
                // outside any lock, then push only if nobody pushed in between.
                let (value, seen) = {
                    let guard = tally.read();
                    (guard.value, guard.version()) // the version of this very value
                };
                let next = compute_next(value);
                match tally.push_at(seen, |t| {
                    t.value = next;
                    t.per_worker[id] += 1;
                }) {
                    Ok(_) => break,
                    Err(_conflict) => conflicts += 1,
                }
            },
        }
        if !pace.is_zero() {
            thread::sleep(pace); // pacing for the demo, not synchronization
        }
    }
    conflicts
}

/// The work a real program does between its snapshot and its push, outside any lock (here a
/// short computation, a few microseconds): other workers' pushes land in this window, and
/// `push_at` refuses the stale result instead of losing their updates.
fn compute_next(value: u64) -> u64 {
    let mut x = value;
    for i in 0..1024u64 {
        x = std::hint::black_box(x.rotate_left(7) ^ i);
    }
    std::hint::black_box(x);
    value + 1
}

/// What the progress puller saw.
struct PullerStats {
    wakeups: u64,
    last_version: u64,
}

/// Follows the tally with `puller` until it reaches `expected` (or `stop` is set), showing
/// progress: one line rewritten in place on a terminal, a line per quarter otherwise.
fn follow_progress(mut puller: ArcPuller<Tally>, expected: u64, stop: &AtomicBool) -> PullerStats {
    let tty = io::stdout().is_terminal();
    let mut stats = PullerStats {
        wakeups: 0,
        last_version: puller.seen().get(),
    };
    let mut last_draw: Option<Instant> = None;
    let mut quarters_shown = 0;
    loop {
        // Bounded wait, so that a stop request is noticed even if nothing is pushed anymore.
        // (The read guard is dropped at once: only the value is kept.)
        let pulled = puller
            .wait_for(Duration::from_millis(100))
            .unwrap()
            .map(|g| g.value);
        if let Some(value) = pulled {
            stats.wakeups += 1;
            stats.last_version = puller.seen().get();
            let done = value >= expected;
            if tty {
                let due = last_draw.map_or(true, |t| t.elapsed() >= Duration::from_millis(40));
                if due || done {
                    last_draw = Some(Instant::now());
                    print!("\r{}", progress_line(value, expected, stats.last_version));
                    let _ = io::stdout().flush();
                }
            } else {
                let quarters = value.saturating_mul(4) / expected.max(1);
                if quarters > quarters_shown {
                    quarters_shown = quarters;
                    println!("{}", progress_line(value, expected, stats.last_version));
                }
            }
            if done {
                break;
            }
        }
        // Stopped (the workers are done or given up on): drain what is left, so the last
        // version is seen too.
        if stop.load(Ordering::Acquire) && !puller.has_changed() {
            break;
        }
    }
    if tty {
        println!();
    }
    stats
}

fn progress_line(value: u64, expected: u64, version: u64) -> String {
    const WIDTH: u64 = 30;
    let filled = (value.min(expected) * WIDTH / expected.max(1)) as usize;
    format!(
        "progress: [{}{}] {:>3}% {value}/{expected} pushes, at v{version}",
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled),
        value.min(expected) * 100 / expected.max(1),
    )
}

fn run(config: Config) -> ExitCode {
    let Config {
        workers,
        pushes,
        pace,
        timeout,
    } = config;
    let expected = workers as u64 * pushes;
    let styles: Vec<&str> = STYLES.iter().take(workers).map(|s| s.name()).collect();
    println!(
        "push_pull: {workers} workers x {pushes} pushes ({}), pace {} us",
        styles.join(", "),
        pace.as_micros()
    );

    let tally = Arc::new(Shared::new(Tally {
        value: 0,
        per_worker: vec![0; workers],
    }));
    let conflicts = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    // The puller subscribes here, before any worker starts, and moves into its thread: it
    // sees every version from 0 on, whenever that thread gets to run.
    let progress = {
        let (puller, stop) = (tally.puller_arc(), Arc::clone(&stop));
        thread::spawn(move || follow_progress(puller, expected, &stop))
    };

    let started = Instant::now();
    let wg = WaitGroup::new();
    for id in 0..workers {
        let (tally, conflicts) = (Arc::clone(&tally), Arc::clone(&conflicts));
        let style = STYLES[id % STYLES.len()];
        // spawn = Go's wg.Add(1) + go func() { defer wg.Done() ... }, panic-safe.
        wg.spawn(move || {
            let refused = worker(id, style, &tally, pushes, pace);
            conflicts.fetch_add(refused, Ordering::Relaxed);
        });
    }
    let finished = wg.wait_for(timeout);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Release);
    let seen = progress.join().unwrap_or(PullerStats {
        wakeups: 0,
        last_version: 0,
    });

    if !finished {
        eprintln!(
            "error: {} of {workers} workers still running after {} s (--timeout-secs); giving up",
            wg.count(),
            timeout.as_secs()
        );
        return ExitCode::FAILURE;
    }
    if wg.panicked() > 0 {
        eprintln!("error: {} worker(s) panicked", wg.panicked());
        return ExitCode::FAILURE;
    }

    let (final_tally, version) = tally.snapshot();
    let versions = version.get();
    let lost = expected.saturating_sub(final_tally.value);
    let secs = elapsed.as_secs_f64();
    let per_worker: Vec<String> = final_tally.per_worker.iter().map(u64::to_string).collect();
    println!("final value: {}", final_tally.value);
    println!("expected: {expected}");
    println!("per worker: {}", per_worker.join(" "));
    println!("versions published: {versions}");
    println!("lost updates: {lost}");
    let retried = conflicts.load(Ordering::Relaxed);
    if workers > Style::PushAt as usize {
        println!(
            "push_at conflicts retried: {retried} (another worker pushed between a snapshot and its push_at; nothing lost)"
        );
    }
    println!(
        "puller wake-ups: {} (last saw v{}; a puller gets the latest state, intermediate versions coalesce)",
        seen.wakeups, seen.last_version
    );
    println!("time: {}", cli::human(elapsed));
    println!(
        "throughput: {:.0} pushes/s{}",
        expected as f64 / secs.max(1e-9),
        if pace.is_zero() {
            ""
        } else {
            " (paced; --pace-us 0 for full speed)"
        }
    );

    let mut problems = Vec::new();
    if final_tally.value != expected {
        problems.push(format!(
            "final value {} != expected {expected}",
            final_tally.value
        ));
    }
    if versions != expected {
        problems.push(format!(
            "{versions} versions published, expected one per push ({expected})"
        ));
    }
    if seen.last_version != versions {
        problems.push(format!(
            "the puller stopped at v{} but the tally reached v{versions}",
            seen.last_version
        ));
    }
    if let Some((id, n)) = final_tally
        .per_worker
        .iter()
        .enumerate()
        .find(|&(_, &n)| n != pushes)
    {
        problems.push(format!(
            "worker {id} has {n} pushes recorded, expected {pushes}"
        ));
    }
    cli::verdict(
        problems,
        "OK: every update arrived, one version per push",
        "FAILED: ",
    )
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => run(config),
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("push_pull: error: {message}\nrun with --help for usage");
            ExitCode::from(2)
        }
    }
}
