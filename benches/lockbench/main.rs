//! Comparison harness: pushpull against the locks and latches it replaces.
//!
//! In the spirit of parking_lot's `benchmark/` crate and matklad's lock-bench: every workload
//! runs pushpull and its anchors interleaved in one process (A B C A B C ..., the starting
//! impl rotating each repeat), at least 7 repeats, and reports the median and the min–max of
//! the per-sample ns/op. Ratios are ours / anchor (lower is better for pushpull).
//!
//! ```text
//! cargo bench --bench lockbench               # full run (~1-2 min)
//! cargo bench --bench lockbench -- --quick    # ~30 s
//! cargo bench --bench lockbench -- --smoke    # tiny iteration counts, checks the JSON (CI)
//! cargo bench --bench lockbench -- --spin-study   # push_wait_pingpong spin-policy prototypes
//! cargo bench --bench lockbench -- pull       # only workloads whose name contains "pull"
//! cargo bench --bench lockbench -- wait_group # a family (module) by its name
//! ```
//!
//! Layout: `harness` (impls, workloads, modes, calibration, the interleaved run, ratios,
//! targets), `report` (markdown, JSON, the smoke check), `chart` (SVG), one module per workload
//! family (`guards`, `push_pull`, `wait_group`, `contended`), and `spin_study`.
//!
//! Output: a markdown table on stdout, `$CARGO_TARGET_DIR/lockbench/results.json` (else
//! `target/lockbench/` in the package root) and `chart.svg` (ratios as bars on a log scale,
//! the 1.0 line in red, each target as a black tick).

mod chart;
mod contended;
mod guards;
mod harness;
mod push_pull;
mod report;
mod spin_study;
mod wait_group;

use std::time::{Duration, Instant};

use harness::{ratios, run_workload, Mode, Workload};
use report::{check_output, out_dir, print_table, to_json};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    let filter: Option<&String> = args.iter().find(|a| !a.starts_with("--"));
    let opt = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(name)?.strip_prefix('='))
            .map(|v| v.to_string())
    };
    let only_impl = opt("--impl");
    let mut mode = if has("--smoke") {
        Mode {
            repeats: 7,
            sample: Duration::ZERO,
            smoke: true,
            fixed_iters: None,
        }
    } else if has("--quick") {
        Mode {
            repeats: 7,
            sample: Duration::from_millis(50),
            smoke: false,
            fixed_iters: None,
        }
    } else {
        Mode {
            repeats: 11,
            sample: Duration::from_millis(150),
            smoke: false,
            fixed_iters: None,
        }
    };

    if let Some(n) = opt("--iters") {
        mode.fixed_iters = Some(n.parse().expect("--iters=N"));
    }
    if let Some(n) = opt("--repeats") {
        mode.repeats = n.parse().expect("--repeats=N");
    }

    if has("--spin-study") {
        let sample = if mode.smoke {
            Duration::from_millis(1)
        } else {
            mode.sample
        };
        spin_study::run(mode.repeats, sample);
        return;
    }

    let mut workloads: Vec<Workload> = guards::workloads()
        .into_iter()
        .chain(push_pull::workloads())
        .chain(wait_group::workloads())
        .chain(contended::workloads())
        .collect();
    if let Some(f) = filter {
        // A family's name selects that family; anything else, the workloads whose name
        // contains it.
        if workloads.iter().any(|w| w.family == f.as_str()) {
            workloads.retain(|w| w.family == f.as_str());
        } else {
            workloads.retain(|w| w.name.contains(f.as_str()));
        }
    }
    if let Some(only) = &only_impl {
        for w in &mut workloads {
            w.impls.retain(|i| i.name == only.as_str());
        }
        workloads.retain(|w| !w.impls.is_empty());
    }

    eprintln!(
        "lockbench: {} workloads, {} repeats, {} per sample{}",
        workloads.len(),
        mode.repeats,
        if mode.smoke {
            "50 iterations".to_string()
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
    let units: Vec<(&str, &str)> = workloads.iter().map(|w| (w.name, w.unit)).collect();
    print_table(&units, &stats, &ratios);

    let dir = out_dir();
    std::fs::create_dir_all(&dir).expect("create the lockbench output directory");
    let json_path = dir.join("results.json");
    let json = to_json(&stats, &ratios);
    std::fs::write(&json_path, &json).expect("write results.json");
    let svg_path = dir.join("chart.svg");
    if let Err(e) = chart::draw_chart(&svg_path, &ratios) {
        eprintln!("lockbench: chart failed: {e}");
        std::process::exit(1);
    }
    println!("\nwrote {} and {}", json_path.display(), svg_path.display());

    if mode.smoke {
        check_output(&json_path, &svg_path, &stats, &ratios);
    }
}
