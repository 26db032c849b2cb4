//! Comparison harness: pushpull against the locks, latches and channels it replaces.
//!
//! In the spirit of parking_lot's `benchmark/` crate and matklad's lock-bench: every workload
//! runs pushpull and its anchors interleaved in one process (A B C A B C ..., the starting
//! impl rotating each repeat), at least 7 repeats, and reports the median and the min–max of
//! the per-sample ns/op, and, for the workloads that wait, the CPU time of the waiting threads
//! per op (thread CPU clock, see `harness::thread_cpu_now`). Ratios are ours / anchor (lower
//! is better for pushpull), as medians and as the min–max of the per-round ratios.
//!
//! ```text
//! cargo bench --bench lockbench                        # full run
//! cargo bench --bench lockbench -- --quick             # shorter samples
//! cargo bench --bench lockbench -- --smoke             # tiny iteration counts, checks the JSON (CI)
//! cargo bench --bench lockbench -- --spin-study        # push_wait_pingpong spin-policy prototypes
//! cargo bench --bench lockbench -- --filter wake       # one family, by its (module) name
//! cargo bench --bench lockbench -- --filter pingpong   # the workloads whose name contains it
//! #   --impl=NAME --iters=N --repeats=N                # one impl, fixed iterations (callgrind)
//! ```
//!
//! Layout: one module per workload family, named as the family (`guards`, `push_pull`,
//! `wait_group`, `contended`, `wake`, `async`, `idle`, `profile`); `harness` (options, impls and workloads, calibration,
//! the interleaved run, wall and CPU statistics, ratios, targets), `report` (markdown,
//! `results.json`, the smoke check), `chart` (SVG), and `spin_study`.
//!
//! Output: markdown tables on stdout, `$CARGO_TARGET_DIR/lockbench/results.json` (else
//! `target/lockbench/` in the package root) and `chart.svg` (ratios as bars on a log scale,
//! the 1.0 line in red, each target as a black tick).

#[path = "async.rs"]
mod async_waits;
mod chart;
mod contended;
mod guards;
mod harness;
mod idle;
mod profile;
mod push_pull;
mod report;
mod spin_study;
mod wait_group;
mod wake;

use std::time::{Duration, Instant};

use harness::{ratios, run_workload, Options, Workload};

/// A family: its name (= its module's name) and its workloads.
type Family = (&'static str, fn() -> Vec<Workload>);

/// Every family, in run order.
const FAMILIES: &[Family] = &[
    ("guards", guards::workloads),
    ("push_pull", push_pull::workloads),
    ("wait_group", wait_group::workloads),
    ("contended", contended::workloads),
    ("wake", wake::workloads),
    ("async", async_waits::workloads),
    ("idle", idle::workloads),
    ("profile", profile::workloads),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = Options::from_args(&args);
    let mode = opts.mode;

    if opts.spin_study {
        let sample = if mode.smoke {
            Duration::from_millis(1)
        } else {
            mode.sample
        };
        spin_study::run(mode.repeats, sample);
        return;
    }

    let mut workloads: Vec<Workload> = FAMILIES
        .iter()
        .flat_map(|(family, make)| {
            let ws = make();
            assert!(
                ws.iter().all(|w| w.family == *family),
                "{family}: a workload of another family"
            );
            ws
        })
        .collect();
    opts.select(&mut workloads);
    if workloads.is_empty() {
        let names: Vec<&str> = FAMILIES.iter().map(|f| f.0).collect();
        eprintln!(
            "lockbench: no workload matches {:?} (families: {})",
            opts.filter.as_deref().unwrap_or(""),
            names.join(", ")
        );
        std::process::exit(2);
    }

    eprintln!(
        "lockbench: {} workloads, {} repeats, {} per sample{}",
        workloads.len(),
        mode.repeats,
        if mode.smoke {
            format!("{} iterations", harness::SMOKE_ITERS)
        } else {
            format!("~{:?}", mode.sample)
        },
        if mode.smoke { " (smoke)" } else { "" }
    );
    let t0 = Instant::now();
    let mut stats = Vec::new();
    for w in &mut workloads {
        eprintln!("  {} ...", w.name);
        stats.extend(run_workload(w, mode));
    }
    eprintln!("lockbench: done in {:.1} s", t0.elapsed().as_secs_f64());

    let ratios = ratios(&stats);
    let workloads: Vec<&Workload> = workloads.iter().collect();
    report::print_table(&workloads, &stats, &ratios);
    report::write_outputs(&workloads, &stats, &ratios, mode.smoke);
}
