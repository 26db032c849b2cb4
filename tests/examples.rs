//! Runs the `push_pull`, `async_pull`, `config_reload` and `master_worker` examples as child processes with small arguments
//! and checks their report and exit code. Every child wait is bounded: a hung example is
//! killed and the test fails.
//!
//! The example binaries are built (or found up to date) with the `cargo` that runs the tests,
//! into the same target directory and profile as this test binary.
#![cfg(not(loom))]

#[path = "support/examples.rs"]
mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;
use support::{example, wait_bounded};

/// How long an example may run before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(120);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The value after `prefix` on the first stdout line starting with it.
    fn field(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{}", self.stdout))
            .trim()
    }

    fn number(&self, prefix: &str) -> u64 {
        let text = self.field(prefix);
        let first = text.split_whitespace().next().unwrap_or("");
        first
            .parse()
            .unwrap_or_else(|_| panic!("{prefix:?} is followed by {text:?}, not a number"))
    }
}

/// Runs example `name` with `args`, bounded by [`RUN_LIMIT`], capturing its output.
fn run(name: &'static str, args: &[&str]) -> Run {
    let mut child = Command::new(example(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"));
    // Drain both pipes while the child runs, so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let what = format!("example {name} {args:?}");
    let status = wait_bounded(&mut child, RUN_LIMIT, &what);
    let run = Run {
        code: status.code(),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    };
    eprintln!(
        "--- {what}: exit {:?}\n{}{}",
        run.code, run.stdout, run.stderr
    );
    run
}

#[test]
fn push_pull_small_run_loses_nothing() {
    let run = run("push_pull", &["--workers", "3", "--pushes", "200"]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.number("final value:"), 600);
    assert_eq!(run.number("expected:"), 600);
    assert_eq!(run.number("versions published:"), 600);
    assert_eq!(run.number("lost updates:"), 0);
    assert_eq!(run.field("per worker:"), "200 200 200");
    assert!(run.field("throughput:").contains("pushes/s"));
    // stdout is a pipe, not a terminal: plain progress lines, no carriage returns.
    assert!(!run.stdout.contains('\r'));
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("progress:") && l.contains("100% 600/600")),
        "no final progress line"
    );
    assert!(run.stdout.contains("OK: every update arrived"));
    assert!(
        run.field("puller wake-ups:").contains("last saw v600"),
        "the puller, subscribed before the workers started, follows to the last version"
    );
    assert!(run.stderr.is_empty());
}

#[test]
fn async_pull_tasks_follow_thread_pushes() {
    let run = run(
        "async_pull",
        &["--workers", "3", "--pushes", "500", "--followers", "4"],
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.number("readings:"), 1500);
    assert_eq!(run.number("versions published:"), 1500);
    assert!(run
        .stdout
        .contains("OK: every reading arrived; every follower reached v1500"));
    assert!(run.stderr.is_empty());
}

#[test]
fn async_pull_default_run_and_help() {
    let run = run("async_pull", &[]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(run.stdout.contains("OK: every reading arrived"));
    let help = self::run("async_pull", &["--help"]);
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.starts_with("usage: async_pull"));
    let bad = self::run("async_pull", &["--followers", "0"]);
    assert_eq!(bad.code, Some(2));
}

#[test]
fn push_pull_every_style_at_full_speed() {
    // 6 workers: every style (push, write, modify+upgrade, push_at), some twice, unpaced so
    // the workers really contend.
    let run = run(
        "push_pull",
        &["--workers=6", "--pushes=3000", "--pace-us=0"],
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(run.stdout.contains("push, write, modify+upgrade, push_at"));
    assert_eq!(run.number("final value:"), 18_000);
    assert_eq!(run.number("versions published:"), 18_000);
    assert_eq!(run.number("lost updates:"), 0);
    assert_eq!(run.field("per worker:"), "3000 3000 3000 3000 3000 3000");
}

#[test]
fn push_pull_one_worker_one_push() {
    let run = run("push_pull", &["--workers", "1", "--pushes", "1"]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.number("final value:"), 1);
    assert_eq!(run.number("versions published:"), 1);
}

#[test]
fn push_pull_help() {
    let run = run("push_pull", &["--help"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.starts_with("usage: push_pull"));
    assert!(run.stdout.contains("--workers N"));
    assert!(run.stdout.contains("--pushes K"));
}

/// Each bad command line: exit code 2, nothing on stdout, and an error naming the problem.
fn assert_rejected(name: &'static str, cases: &[(&[&str], &str)]) {
    for (args, mentions) in cases {
        let run = run(name, args);
        assert_eq!(
            run.code,
            Some(2),
            "{args:?} should be rejected with exit code 2"
        );
        assert!(run.stdout.is_empty(), "{args:?} printed: {}", run.stdout);
        assert!(
            run.stderr.contains("error:") && run.stderr.contains(mentions),
            "{args:?}: stderr should mention {mentions:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn push_pull_rejects_bad_flags() {
    assert_rejected(
        "push_pull",
        &[
            (&["--workers", "0"], "--workers must be between 1 and 1024"),
            (&["--workers", "many"], "--workers expects a whole number"),
            (&["--workers", "-3"], "--workers expects a whole number"),
            (&["--pushes"], "--pushes needs a value"),
            (
                &["--pushes", "99999999999999999999999"],
                "--pushes expects a whole number",
            ),
            (&["--pace-us=fast"], "--pace-us expects a whole number"),
            (&["--bogus"], "unknown argument \"--bogus\""),
            (&["stray"], "unknown argument \"stray\""),
        ],
    );
}

#[test]
fn config_reload_followers_stop_cleanly_at_the_close() {
    let run = run(
        "config_reload",
        &[
            "--reloads",
            "30",
            "--interval-ms",
            "1",
            "--threads",
            "2",
            "--tasks",
            "6",
        ],
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(run
        .stdout
        .contains("reloader: pushed 30 configs, then closed (version v30, closed: true)"));
    assert!(run
        .field("followers:")
        .starts_with("8 stopped on Closed, each at generation 30"));
    assert!(run.field("watcher:").ends_with("ended with Closed"));
    assert!(run
        .stdout
        .contains("OK: clean shutdown, all 8 followers and the watcher stopped"));
    assert!(run.stderr.is_empty());
}

#[test]
fn config_reload_at_full_speed_and_bad_flags() {
    let run = run(
        "config_reload",
        &["--reloads", "2000", "--interval-ms", "0", "--tasks", "32"],
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(run.stdout.contains("OK: clean shutdown"));
    assert_rejected(
        "config_reload",
        &[
            (
                &["--reloads", "0"],
                "--reloads must be between 1 and 100000",
            ),
            (&["--tasks"], "--tasks needs a value"),
            (&["--bogus"], "unknown argument \"--bogus\""),
        ],
    );
}

#[test]
fn master_worker_matches_the_sequential_computation() {
    let run = run("master_worker", &["--workers", "3", "--tasks", "5000"]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    for line in [
        "results:",
        "sum of steps:",
        "longest:",
        "histogram by steps/32:",
    ] {
        // "<parallel> (sequential: <sequential>)": both halves equal.
        let text = run.field(line);
        let (got, rest) = text.split_once(" (sequential: ").expect("sequential part");
        assert_eq!(got, rest.trim_end_matches(')'), "{line} differs");
    }
    assert_eq!(run.number("results:"), 5000);
    // Collatz stopping times of 1..=5000: longest chain is n=3711 with 237 steps.
    assert!(run.field("longest:").starts_with("n=3711 with 237 steps"));
    assert_eq!(run.number("versions published:"), 5000);
    let per_worker: Vec<u64> = run
        .field("per worker:")
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(per_worker.len(), 3);
    assert_eq!(per_worker.iter().sum::<u64>(), 5000);
    assert!(run.stdout.contains("halfway: "));
    assert!(run.stdout.contains("result: OK"));
}

#[test]
fn master_worker_more_workers_than_tasks() {
    let run = run("master_worker", &["--workers=8", "--tasks=3"]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.number("results:"), 3);
    assert!(run.field("longest:").starts_with("n=3 with 7 steps"));
    assert!(run.stdout.contains("result: OK"));
}

#[test]
fn master_worker_help_and_bad_flags() {
    let help = run("master_worker", &["-h"]);
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.starts_with("usage: master_worker"));
    assert_rejected(
        "master_worker",
        &[
            (&["--tasks", "0"], "--tasks must be between 1"),
            (
                &["--workers", "2000"],
                "--workers must be between 1 and 1024",
            ),
            (&["--workers"], "--workers needs a value"),
            (&["--tasks", "1e3"], "--tasks expects a whole number"),
            (&["--pushes", "3"], "unknown argument \"--pushes\""),
        ],
    );
}
