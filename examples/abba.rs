//! The ABBA bug and pushpull's lock-order report.
//!
//! A master-worker program keeps two states, `jobs` and `results`. One path takes `jobs`, then
//! `results`; another takes `results`, then `jobs`. Run at the wrong moment by two threads,
//! the two paths deadlock; run one after the other, as here, they never do, so tests pass for
//! months. pushpull's lock-order checker (on in debug builds, and in release with the
//! `lock-order-check` feature) reports the inversion the first time the second order is
//! taken, with both sides' source locations.
//!
//! ```text
//! cargo run --example abba            # prints the report (Log mode) and the fix's result
//! ```

use pushpull::lock_order::{self, OnInversion};
use pushpull::Shared;
use std::thread;

#[derive(Debug, Default)]
struct Jobs(Vec<u32>);
#[derive(Debug, Default)]
struct Results(Vec<u32>);

fn main() {
    // A service would log rather than panic; tests keep the default, `Panic`.
    lock_order::set_on_inversion(OnInversion::Log);

    let jobs = Shared::new(Jobs(vec![1, 2, 3]));
    let results = Shared::new(Results::default());
    thread::scope(|s| {
        // The worker: takes a job, then records its result while still holding the job list.
        s.spawn(|| {
            let mut jobs = jobs.write();
            let job = jobs.0.pop().expect("a job");
            results.write().0.push(job * 10);
        })
        .join()
        .unwrap();
        // The master: looks at the results, then trims the job list while holding them.
        s.spawn(|| {
            let results = results.read();
            let done = results.0.len();
            jobs.write().0.truncate(3 - done); // the inverted order: reported here
        })
        .join()
        .unwrap();
    });

    let checked = lock_order::ENABLED;
    println!(
        "jobs left: {:?}, results: {:?}; lock-order checking in this build: {}",
        jobs.read().0,
        results.read().0,
        if checked {
            "on (see the report above)"
        } else {
            "off"
        }
    );
}
