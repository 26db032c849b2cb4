//! A config-reload service with a clean shutdown: one reloader, thread and task followers, and
//! a master that confirms every follower stopped.
//!
//! ```text
//! cargo run --release --example config_reload
//! cargo run --release --example config_reload -- --reloads 20 --threads 4 --tasks 16
//! ```
//!
//! The reloader thread owns the config: it pushes a new [`Config`] every `--interval-ms`
//! (as a service re-reading its file on SIGHUP would), `--reloads` times, then stops. It holds
//! a [`Closer`](pushpull::Closer): however it stops (returns or panics), the `Shared` is
//! closed, so nobody waits for a reload that will never come.
//!
//! Followers apply every config they are woken for, and stop when told:
//!
//! * follower *threads* loop on [`ArcPuller::wait`](pushpull::PullerOf::wait) until it returns
//!   [`Closed`];
//! * follower *tasks* on a tokio runtime loop on
//!   [`wait_async`](pushpull::PullerOf::wait_async) the same way;
//! * a *watcher* task waits with [`Shared::wait_until_async`] for a config that asks for
//!   debug logging, which never comes: it ends with `Closed` too.
//!
//! Every puller is created before its thread or task starts (no reload is missed), and every
//! follower holds a [`WaitGroup`] token, so the master's `wait_for` confirms the shutdown: all
//! followers stopped, each having applied the last config. Exit code 0 when that holds, 1
//! otherwise, 2 for bad arguments.

#[path = "support/cli.rs"]
mod cli;

use pushpull::{ArcPuller, Closed, Shared, WaitGroup};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: config_reload [--reloads N] [--interval-ms MS] [--threads T] [--tasks K] [--timeout-secs S]

A reloader pushes N configs, then closes; follower threads and tokio tasks apply each one and
stop when the Shared is closed; the master waits on a WaitGroup for all of them.

options:
  --reloads N       configs pushed after the first (1..=100000, default 10)
  --interval-ms MS  pause between two reloads (0..=10000, default 20)
  --threads T       follower threads (1..=64, default 3)
  --tasks K         follower tasks (1..=1024, default 8)
  --timeout-secs S  give up waiting for the followers after S seconds (1..=3600, default 30)
  -h, --help        print this help

exit code: 0 every follower applied the last config and stopped, 1 otherwise, 2 bad arguments";

struct Options {
    reloads: u64,
    interval: Duration,
    threads: u64,
    tasks: u64,
    timeout: Duration,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        reloads: 10,
        interval: Duration::from_millis(20),
        threads: 3,
        tasks: 8,
        timeout: Duration::from_secs(30),
    };
    let mut flags = cli::Flags::new(args);
    while let Some((flag, inline)) = flags.next_flag() {
        match flag.as_str() {
            "--help" => return Ok(None),
            "--reloads" => options.reloads = flags.number(&flag, inline, 1, 100_000)?,
            "--interval-ms" => {
                options.interval = Duration::from_millis(flags.number(&flag, inline, 0, 10_000)?)
            }
            "--threads" => options.threads = flags.number(&flag, inline, 1, 64)?,
            "--tasks" => options.tasks = flags.number(&flag, inline, 1, 1024)?,
            "--timeout-secs" => {
                options.timeout = Duration::from_secs(flags.number(&flag, inline, 1, 3600)?)
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Some(options))
}

/// The service's configuration, as the reloader parsed it.
#[derive(Clone, Debug, PartialEq)]
struct Config {
    generation: u64,
    log_level: &'static str,
    max_connections: u32,
}

impl Config {
    /// What the reloader "reads from disk" for its `generation`-th reload.
    fn load(generation: u64) -> Config {
        Config {
            generation,
            log_level: if generation % 2 == 0 { "info" } else { "warn" },
            max_connections: 100 + 10 * generation as u32,
        }
    }
}

/// What one follower did before it stopped.
struct Followed {
    name: String,
    applied: u64,
    last_generation: u64,
    ended: Result<(), Closed>,
}

/// A follower thread: applies every config it is woken for until the `Shared` is closed.
fn follow_on_a_thread(name: String, mut puller: ArcPuller<Config>) -> Followed {
    let (mut applied, mut last_generation) = (0, 0);
    let ended = loop {
        match puller.wait() {
            Ok(config) => {
                applied += 1;
                last_generation = config.generation;
            }
            Err(closed) => break Err(closed),
        }
    };
    Followed {
        name,
        applied,
        last_generation,
        ended,
    }
}

/// The same on a task.
async fn follow_on_a_task(name: String, mut puller: ArcPuller<Config>) -> Followed {
    let (mut applied, mut last_generation) = (0, 0);
    let ended = loop {
        match puller.wait_async().await {
            Ok(config) => {
                applied += 1;
                last_generation = config.generation;
            }
            Err(closed) => break Err(closed),
        }
    };
    Followed {
        name,
        applied,
        last_generation,
        ended,
    }
}

fn run(options: Options) -> ExitCode {
    let Options {
        reloads,
        interval,
        threads,
        tasks,
        timeout,
    } = options;
    println!(
        "config_reload: {reloads} reloads every {} ms, {threads} follower threads, {tasks} follower tasks",
        interval.as_millis()
    );
    let config = Arc::new(Shared::new(Config::load(0)));
    let results = Arc::new(Mutex::new(Vec::new()));
    let followers = WaitGroup::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime");

    // Followers first: every puller subscribes now, before the reloader starts.
    for i in 0..threads {
        let (puller, results) = (config.puller_arc(), Arc::clone(&results));
        followers.spawn(move || {
            let followed = follow_on_a_thread(format!("thread {i}"), puller);
            results.lock().unwrap().push(followed);
        });
    }
    for i in 0..tasks {
        let (puller, results, token) =
            (config.puller_arc(), Arc::clone(&results), followers.token());
        runtime.spawn(async move {
            let followed = follow_on_a_task(format!("task {i}"), puller).await;
            results.lock().unwrap().push(followed);
            drop(token);
        });
    }
    let watcher = {
        let (config, token) = (Arc::clone(&config), followers.token());
        runtime.spawn(async move {
            let outcome = config
                .wait_until_async(|c| c.log_level == "debug")
                .await
                .map(|c| c.generation);
            drop(token);
            outcome
        })
    };

    let reloader = {
        let (config, closer) = (Arc::clone(&config), config.closer_arc());
        thread::spawn(move || {
            let _closer = closer; // closes the config however this thread ends
            for generation in 1..=reloads {
                if !interval.is_zero() {
                    thread::sleep(interval); // the time between two reloads, not synchronization
                }
                config.replace(Config::load(generation));
            }
        })
    };
    let reloader_ok = reloader.join().is_ok();
    let closed_at = Instant::now();
    println!(
        "reloader: pushed {reloads} configs, then closed (version {}, closed: {})",
        config.version(),
        config.is_closed()
    );

    let stopped = followers.wait_for(timeout);
    let shutdown = closed_at.elapsed();
    let watched = runtime.block_on(watcher).expect("watcher task");
    runtime.shutdown_timeout(Duration::from_secs(1));

    let mut problems = Vec::new();
    if !reloader_ok {
        problems.push("the reloader panicked".to_string());
    }
    if !stopped {
        problems.push(format!(
            "{} followers still running {} s after the close",
            followers.count(),
            timeout.as_secs()
        ));
    }
    let results = std::mem::take(&mut *results.lock().unwrap());
    for followed in &results {
        if followed.last_generation != reloads || followed.ended != Err(Closed) {
            problems.push(format!(
                "{} stopped at generation {} ({:?}), not at {reloads} with Closed",
                followed.name, followed.last_generation, followed.ended
            ));
        }
    }
    let applied: Vec<u64> = results.iter().map(|f| f.applied).collect();
    println!(
        "followers: {} stopped on Closed, each at generation {reloads}; configs applied per follower: {}..={} (a follower gets the latest config, reloads in between coalesce)",
        results.len(),
        applied.iter().min().unwrap_or(&0),
        applied.iter().max().unwrap_or(&0),
    );
    println!(
        "watcher: waited for log_level = debug, which never came: {}",
        match watched {
            Ok(generation) => format!("saw it at generation {generation} (unexpected)"),
            Err(Closed) => "ended with Closed".to_string(),
        }
    );
    if watched.is_ok() {
        problems.push("the watcher saw a debug config".to_string());
    }
    if results.len() as u64 != threads + tasks {
        problems.push(format!(
            "{} of {} followers reported",
            results.len(),
            threads + tasks
        ));
    }
    let ok = format!(
        "OK: clean shutdown, all {} followers and the watcher stopped within {} of the close (WaitGroup)",
        threads + tasks,
        cli::human(shutdown)
    );
    cli::verdict(problems, &ok, "FAILED: ")
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => run(options),
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("config_reload: error: {message}\nrun with --help for usage");
            ExitCode::from(2)
        }
    }
}
