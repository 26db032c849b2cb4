//! Master / workers with a shared aggregate: the Go seed's first pattern, with pushpull.
//!
//! ```text
//! cargo run --release --example master_worker
//! cargo run --release --example master_worker -- --workers 8 --tasks 1000000
//! ```
//!
//! The master hands out tasks (compute the Collatz stopping time of `n`, for `n` in
//! `1..=tasks`) over a `std::sync::mpsc` channel whose receiver the workers share behind a
//! `Mutex`. Each worker pushes its result into a [`Shared`] aggregate (count, sum, a
//! histogram, the longest chain, per-worker counts): one `push` per result, a read-modify-write
//! under one lock, so no result is lost. Go's `wg.Add(1)` before `go worker()` becomes a
//! [`WaitGroup::token`] handed to the worker thread (dropped when the worker returns *or
//! panics*, so the master never hangs); the feeder runs under [`WaitGroup::spawn`]. The master
//! watches the aggregate with [`Shared::wait_until_for`], waits for the group with
//! [`WaitGroup::wait_for`], and finally checks the aggregate against a sequential computation.
//!
//! Exit code 0 when the aggregate matches, 1 when it does not (or a worker failed or timed
//! out), 2 for bad arguments.

#[path = "support/cli.rs"]
mod cli;

use pushpull::{Shared, WaitGroup};
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: master_worker [--workers N] [--tasks K] [--timeout-secs S]

A master hands K tasks to N workers over a channel; workers push their results into a
shared aggregate; the master waits on a WaitGroup and checks the aggregate against a
sequential computation.

options:
  --workers N       worker threads (1..=1024, default 4)
  --tasks K         tasks: Collatz stopping times of 1..=K (1..=10000000, default 100000)
  --timeout-secs S  give up waiting for the workers after S seconds (1..=86400, default 120)
  -h, --help        print this help

exit code: 0 the aggregate matches, 1 it does not (or a worker failed), 2 bad arguments";

#[derive(Debug)]
struct Config {
    workers: usize,
    tasks: u64,
    timeout: Duration,
}

enum Command {
    Run(Config),
    Help,
}

/// Parses `args` (without the program name). Accepts `--flag value` and `--flag=value`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = Config {
        workers: 4,
        tasks: 100_000,
        timeout: Duration::from_secs(120),
    };
    let mut flags = cli::Flags::new(args);
    while let Some((flag, inline)) = flags.next_flag() {
        match flag.as_str() {
            "--help" => return Ok(Command::Help),
            "--workers" => config.workers = flags.number(&flag, inline, 1, 1024)? as usize,
            "--tasks" => config.tasks = flags.number(&flag, inline, 1, 10_000_000)?,
            "--timeout-secs" => {
                config.timeout = Duration::from_secs(flags.number(&flag, inline, 1, 86_400)?)
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Command::Run(config))
}

/// The task: how many Collatz steps take `n` to 1.
fn collatz_steps(mut n: u64) -> u64 {
    let mut steps = 0;
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

const BUCKETS: usize = 8;
const BUCKET_WIDTH: u64 = 32;

/// What the workers compute together. Independent of the order results arrive in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Aggregate {
    count: u64,
    sum: u64,
    /// Results by `steps / BUCKET_WIDTH`, the last bucket open-ended.
    histogram: [u64; BUCKETS],
    /// The longest chain as `(steps, n)`; ties go to the smaller `n`.
    longest: Option<(u64, u64)>,
}

impl Aggregate {
    fn add(&mut self, n: u64, steps: u64) {
        self.count += 1;
        self.sum += steps;
        self.histogram[((steps / BUCKET_WIDTH) as usize).min(BUCKETS - 1)] += 1;
        let better = match self.longest {
            None => true,
            Some((best_steps, best_n)) => steps > best_steps || (steps == best_steps && n < best_n),
        };
        if better {
            self.longest = Some((steps, n));
        }
    }

    fn longest_text(&self) -> String {
        match self.longest {
            Some((steps, n)) => format!("n={n} with {steps} steps"),
            None => "none".into(),
        }
    }
}

/// The shared state: the aggregate plus who did how much (which the sequential run lacks).
#[derive(Clone, Debug)]
struct Results {
    aggregate: Aggregate,
    per_worker: Vec<u64>,
}

fn worker(id: usize, tasks: &Mutex<mpsc::Receiver<u64>>, results: &Shared<Results>) {
    loop {
        // Hold the receiver's lock only to take one task; a poisoned lock (another worker
        // panicked while receiving) still guards a usable receiver.
        let next = tasks.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(n) = next else {
            return; // channel closed and drained: no more work
        };
        let steps = collatz_steps(n); // the work, outside any lock
        results.push(|r| {
            r.aggregate.add(n, steps);
            r.per_worker[id] += 1;
        });
    }
}

fn run(config: Config) -> ExitCode {
    let Config {
        workers,
        tasks,
        timeout,
    } = config;
    println!(
        "master_worker: {workers} workers, {tasks} tasks (Collatz stopping times of 1..={tasks})"
    );

    let results = Arc::new(Shared::new(Results {
        aggregate: Aggregate::default(),
        per_worker: vec![0; workers],
    }));
    let (sender, receiver) = mpsc::sync_channel::<u64>(1024);
    let receiver = Arc::new(Mutex::new(receiver));
    let started = Instant::now();
    let wg = WaitGroup::new();

    for id in 0..workers {
        // Go: wg.Add(1) before `go worker()`; the token is the `defer wg.Done()`.
        let token = wg.token();
        let (receiver, results) = (Arc::clone(&receiver), Arc::clone(&results));
        let spawned = thread::Builder::new()
            .name(format!("worker-{id}"))
            .spawn(move || {
                let _done = token;
                worker(id, &receiver, &results);
            });
        if let Err(e) = spawned {
            // The closure, and with it the token, was dropped: the group does not wait for it.
            eprintln!("error: cannot start worker {id}: {e}");
            return ExitCode::FAILURE;
        }
    }
    drop(receiver);

    // The feeder is part of the group too; it stops early if every worker is gone.
    wg.spawn(move || {
        for n in 1..=tasks {
            if sender.send(n).is_err() {
                return;
            }
        }
    });

    // Pull side: the master watches the aggregate while the workers push into it.
    let half = (tasks + 1) / 2;
    match results
        .wait_until_for(timeout, |r| r.aggregate.count >= half)
        .unwrap()
    {
        Some(r) => println!(
            "halfway: {} results in at {}",
            r.aggregate.count,
            results.version()
        ),
        None => println!("halfway: not reached within {} s", timeout.as_secs()),
    }

    if !wg.wait_for(timeout) {
        eprintln!(
            "error: {} of {} threads still running after {} s (--timeout-secs); giving up",
            wg.count(),
            workers + 1,
            timeout.as_secs()
        );
        return ExitCode::FAILURE;
    }
    let elapsed = started.elapsed();
    if wg.panicked() > 0 {
        eprintln!("error: {} thread(s) panicked", wg.panicked());
        return ExitCode::FAILURE;
    }

    let (results, version) = results.snapshot();
    let mut sequential = Aggregate::default();
    for n in 1..=tasks {
        sequential.add(n, collatz_steps(n));
    }
    let got = &results.aggregate;
    let per_worker: Vec<String> = results.per_worker.iter().map(u64::to_string).collect();
    let histogram = |a: &Aggregate| {
        let cells: Vec<String> = a.histogram.iter().map(u64::to_string).collect();
        cells.join(" ")
    };
    println!("results: {} (sequential: {})", got.count, sequential.count);
    println!("sum of steps: {} (sequential: {})", got.sum, sequential.sum);
    println!(
        "longest: {} (sequential: {})",
        got.longest_text(),
        sequential.longest_text()
    );
    println!(
        "histogram by steps/{BUCKET_WIDTH}: {} (sequential: {})",
        histogram(got),
        histogram(&sequential)
    );
    println!("per worker: {}", per_worker.join(" "));
    println!("versions published: {}", version.get());
    println!("time: {:.3} s", elapsed.as_secs_f64());

    let mut problems = Vec::new();
    if *got != sequential {
        problems.push("the aggregate differs from the sequential computation".to_string());
    }
    if results.per_worker.iter().sum::<u64>() != tasks {
        problems.push("per-worker counts do not add up to the number of tasks".into());
    }
    if version.get() != tasks {
        problems.push(format!(
            "{} versions published, expected one per result ({tasks})",
            version.get()
        ));
    }
    cli::verdict(
        problems,
        "result: OK, matches the sequential computation",
        "result: MISMATCH: ",
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
            eprintln!("master_worker: error: {message}\nrun with --help for usage");
            ExitCode::from(2)
        }
    }
}
