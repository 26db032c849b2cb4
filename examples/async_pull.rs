//! Threads push, tasks pull: one `Shared` between worker threads and tokio tasks.
//!
//! ```text
//! cargo run --release --example async_pull
//! cargo run --release --example async_pull -- --workers 4 --pushes 5000 --followers 8
//! ```
//!
//! Worker *threads* (started with [`WaitGroup::spawn`]) push readings into one
//! [`Shared`]`<Stats>`. On a multi-thread tokio runtime:
//!
//! * follower *tasks* track it with owned pullers ([`Shared::puller_arc`], created before the
//!   task is spawned, so no push is missed) and [`ArcPuller::wait_async`](pushpull::PullerOf::wait_async);
//! * a watcher task waits for a condition with [`Shared::wait_until_async`] (half the
//!   readings in);
//! * the master awaits the workers' [`WaitGroup`] with [`WaitGroup::wait_async`].
//!
//! pushpull has no runtime dependency: the futures store the task's waker, and the workers'
//! pushes (plain `push` calls on OS threads) wake them. The example checks its own result:
//! every reading arrived, every follower followed the tally to its last version, never
//! backwards, and the watcher saw at least half. Exit code 0 when all holds, 1 otherwise, 2
//! for bad arguments.

#[path = "support/cli.rs"]
mod cli;

use pushpull::{Shared, WaitGroup};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: async_pull [--workers N] [--pushes K] [--followers F] [--timeout-secs S]

Worker threads each push K readings into one Shared; tokio tasks follow it with wait_async
and wait_until_async; the master awaits the workers' WaitGroup with wait_async.

options:
  --workers N       worker threads (1..=64, default 4)
  --pushes K        readings per worker (1..=1000000, default 2000)
  --followers F     follower tasks (1..=256, default 8)
  --timeout-secs S  give up after S seconds (1..=3600, default 60)
  -h, --help        print this help

exit code: 0 everything arrived and was followed, 1 otherwise, 2 bad arguments";

struct Config {
    workers: u64,
    pushes: u64,
    followers: u64,
    timeout: Duration,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Config>, String> {
    let mut config = Config {
        workers: 4,
        pushes: 2000,
        followers: 8,
        timeout: Duration::from_secs(60),
    };
    let mut flags = cli::Flags::new(args);
    while let Some((flag, inline)) = flags.next_flag() {
        match flag.as_str() {
            "--help" => return Ok(None),
            "--workers" => config.workers = flags.number(&flag, inline, 1, 64)?,
            "--pushes" => config.pushes = flags.number(&flag, inline, 1, 1_000_000)?,
            "--followers" => config.followers = flags.number(&flag, inline, 1, 256)?,
            "--timeout-secs" => {
                config.timeout = Duration::from_secs(flags.number(&flag, inline, 1, 3600)?)
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Some(config))
}

/// What the workers push: how many readings arrived and their sum.
#[derive(Clone, Debug, Default)]
struct Stats {
    readings: u64,
    sum: u64,
}

/// What one follower task saw.
struct Followed {
    wakeups: u64,
    last_version: u64,
    last_readings: u64,
}

async fn run(config: Config) -> Result<(), String> {
    let Config {
        workers,
        pushes,
        followers,
        ..
    } = config;
    let total = workers * pushes;
    let stats = Arc::new(Shared::new(Stats::default()));

    // Followers subscribe here, before any worker starts: each sees every version from 0 on.
    let follower_tasks: Vec<_> = (0..followers)
        .map(|_| {
            let mut puller = stats.puller_arc();
            tokio::spawn(async move {
                let mut seen = Followed {
                    wakeups: 0,
                    last_version: 0,
                    last_readings: 0,
                };
                while seen.last_readings < total {
                    // The read guard is not `Send`: take what we need and drop it before the
                    // next `.await`.
                    let readings = puller.wait_async().await.unwrap().readings;
                    let version = puller.seen().get();
                    if version <= seen.last_version || readings < seen.last_readings {
                        return Err(format!(
                            "went backwards: v{} -> v{version}",
                            seen.last_version
                        ));
                    }
                    seen = Followed {
                        wakeups: seen.wakeups + 1,
                        last_version: version,
                        last_readings: readings,
                    };
                }
                Ok(seen)
            })
        })
        .collect();

    let watcher = {
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            let half = stats
                .wait_until_async(|s| s.readings * 2 >= total)
                .await
                .unwrap();
            half.readings
        })
    };

    let started = Instant::now();
    let wg = WaitGroup::new();
    for worker in 0..workers {
        let stats = Arc::clone(&stats);
        wg.spawn(move || {
            for i in 0..pushes {
                let reading = worker * pushes + i;
                stats.push(|s| {
                    s.readings += 1;
                    s.sum += reading;
                });
            }
        });
    }

    wg.wait_async().await; // the master: every worker is done
    let elapsed = started.elapsed();
    if wg.panicked() > 0 {
        return Err(format!("{} worker(s) panicked", wg.panicked()));
    }
    let (final_stats, version) = stats.snapshot();
    println!("async_pull: {workers} worker threads x {pushes} pushes, {followers} follower tasks");
    println!("readings: {} (expected {total})", final_stats.readings);
    println!("versions published: {}", version.get());
    println!("time: {:.3} s", elapsed.as_secs_f64());

    let mut problems = Vec::new();
    let expected_sum = total * (total - 1) / 2;
    if final_stats.readings != total || final_stats.sum != expected_sum {
        problems.push(format!(
            "lost readings: {} readings summing to {}, expected {total} summing to {expected_sum}",
            final_stats.readings, final_stats.sum
        ));
    }
    let mut wakeups = Vec::new();
    for task in follower_tasks {
        match task.await.map_err(|e| e.to_string())? {
            Ok(seen) => {
                if seen.last_version != version.get() {
                    problems.push(format!(
                        "a follower stopped at v{}, the tally is at {version}",
                        seen.last_version
                    ));
                }
                wakeups.push(seen.wakeups);
            }
            Err(problem) => problems.push(problem),
        }
    }
    let half = watcher.await.map_err(|e| e.to_string())?;
    println!(
        "follower wake-ups: min {} max {} (each follower gets the latest state; versions coalesce)",
        wakeups.iter().min().unwrap_or(&0),
        wakeups.iter().max().unwrap_or(&0)
    );
    println!("halfway watcher woke at {half} readings");
    if half * 2 < total {
        problems.push(format!("the halfway watcher woke early, at {half}"));
    }
    if problems.is_empty() {
        println!("OK: every reading arrived; every follower reached {version}");
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("async_pull: error: {message}\nrun with --help for usage");
            return ExitCode::from(2);
        }
    };
    let limit = config.timeout;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    let outcome = runtime.block_on(async {
        tokio::time::timeout(limit, run(config))
            .await
            .unwrap_or_else(|_| Err(format!("did not finish within {} s", limit.as_secs())))
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("FAILED: {problem}");
            ExitCode::FAILURE
        }
    }
}
