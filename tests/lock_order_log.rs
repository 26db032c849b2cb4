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

/// One test only: it owns the process-wide mode.
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

    // Log mode: prints and goes on (the text goes to stderr; the unit tests check it).
    lock_order::set_on_inversion(OnInversion::Log);
    let (a, b) = (Shared::new(0), Shared::new(0));
    {
        let _a = a.write();
        let _b = b.write();
    }
    {
        let _b = b.write();
        let _a = a.write();
    }
    lock_order::set_on_inversion(OnInversion::Panic);
}
