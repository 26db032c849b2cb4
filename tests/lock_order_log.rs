//! The modes that go on after a lock-order report (`OnInversion::Custom` / `Log`), in a
//! binary of their own: the mode is process-wide, and `tests/lock_order.rs` needs `Panic`.

mod common;

use common::assert_contains_all;
use pushpull::lock_order::{self, OnInversion, Report, ENABLED};
use pushpull::Shared;
use std::sync::Mutex;

static REPORTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn collect(report: &Report) {
    REPORTS.lock().unwrap().push(report.to_string());
}

/// The only test of this process that sets the mode (the Log half runs in a child process).
#[test]
fn custom_mode_reports_each_inversion_once_and_the_program_goes_on() {
    lock_order::set_on_inversion(OnInversion::Custom(collect));
    let jobs = Shared::new(vec![1, 2, 3]);
    let results = Shared::new(Vec::new());
    for _ in 0..3 {
        {
            let jobs = jobs.read();
            results.write().extend(jobs.iter().map(|j| j * 10));
        }
        {
            let results = results.read();
            let n = results.len();
            jobs.write().truncate(n); // the inverted order: reported, then it goes on
        }
    }
    assert_eq!(results.read().len(), 9, "every acquisition went through");
    let reports = REPORTS.lock().unwrap().clone();
    if ENABLED {
        assert_eq!(
            reports.len(),
            1,
            "one inverted order, reported once: {reports:?}"
        );
        assert_contains_all(&reports[0], &["lock order", "tests/lock_order_log.rs:"]);
    } else {
        assert!(reports.is_empty());
    }

    lock_order::set_on_inversion(OnInversion::Panic);
}

/// The `Log` half, run by `log_mode_prints_the_report_and_goes_on` in a child process (so its
/// stderr line is checked there instead of alarming the reader of `cargo test`); a no-op
/// otherwise.
#[test]
fn log_mode_child() {
    if std::env::var_os("PUSHPULL_LOG_MODE_CHILD").is_none() {
        return;
    }
    lock_order::set_on_inversion(OnInversion::Log); // the child's whole process
    let (a, b) = (Shared::new(0), Shared::new(0));
    for _ in 0..2 {
        {
            let _a = a.write();
            let _b = b.write();
        }
        let _b = b.write();
        let _a = a.write(); // reported the first time; no panic
    }
    println!("child went on");
}

#[test]
#[cfg_attr(miri, ignore)] // starts a process
fn log_mode_prints_the_report_and_goes_on() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "log_mode_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("PUSHPULL_LOG_MODE_CHILD", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("child went on"), "{stdout}\n{stderr}");
    if ENABLED {
        assert_eq!(
            stderr.matches("pushpull: lock order inversion").count(),
            1,
            "one report, printed once: {stderr}"
        );
        assert_contains_all(&stderr, &["tests/lock_order_log.rs:", "earlier, "]);
    } else {
        assert!(!stderr.contains("lock order"), "{stderr}");
    }
}
