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
//! ```
//!
//! Output: a markdown table on stdout, `$CARGO_TARGET_DIR/lockbench/results.json` (else
//! `target/lockbench/` in the package root) and `chart.svg` (ratios as bars on a log scale,
//! the 1.0 line in red, each target as a black tick).

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use pushpull::{ModifyGuard, Shared, WaitGroup};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Runs `iters` operations and returns the wall time they took.
type Runner = Box<dyn FnMut(u64) -> Duration>;

struct Impl {
    name: &'static str,
    /// pushpull's side (ratios are computed for every `ours` × every anchor).
    ours: bool,
    run: Runner,
}

struct Workload {
    name: &'static str,
    /// What one "op" is, for the table's footnotes.
    unit: &'static str,
    impls: Vec<Impl>,
}

fn ours(name: &'static str, run: impl FnMut(u64) -> Duration + 'static) -> Impl {
    Impl {
        name,
        ours: true,
        run: Box::new(run),
    }
}

fn anchor(name: &'static str, run: impl FnMut(u64) -> Duration + 'static) -> Impl {
    Impl {
        name,
        ours: false,
        run: Box::new(run),
    }
}

#[derive(Clone, Copy)]
struct Mode {
    repeats: usize,
    /// Target wall time of one sample.
    sample: Duration,
    /// Fixed tiny iteration count instead of calibration.
    smoke: bool,
    /// `--iters=N`: a fixed iteration count (for `valgrind --tool=callgrind`: run twice with
    /// different N and divide the difference in instructions).
    fixed_iters: Option<u64>,
}

struct Stats {
    workload: &'static str,
    imp: &'static str,
    ours: bool,
    median: f64,
    min: f64,
    max: f64,
}

struct Ratio {
    workload: &'static str,
    ours: &'static str,
    anchor: &'static str,
    /// median(ours) / median(anchor)
    ratio: f64,
    /// min(ours) / min(anchor): the best samples against each other.
    best_ratio: f64,
}

/// Picks an iteration count so that one sample takes about `mode.sample`.
fn calibrate(run: &mut Runner, mode: Mode) -> u64 {
    if let Some(n) = mode.fixed_iters {
        return n;
    }
    if mode.smoke {
        return 50;
    }
    let mut iters = 16u64;
    loop {
        let t = run(iters);
        if t >= mode.sample / 8 || iters >= 1 << 34 {
            let per = t.as_secs_f64() / iters as f64;
            return ((mode.sample.as_secs_f64() / per.max(1e-12)) as u64).clamp(16, 1 << 36);
        }
        iters *= 4;
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn run_workload(w: &mut Workload, mode: Mode) -> Vec<Stats> {
    let iters: Vec<u64> = w
        .impls
        .iter_mut()
        .map(|i| calibrate(&mut i.run, mode))
        .collect();
    let n = w.impls.len();
    let mut samples = vec![Vec::with_capacity(mode.repeats); n];
    for rep in 0..mode.repeats {
        for k in 0..n {
            let i = (rep + k) % n; // rotate who goes first
            let t = (w.impls[i].run)(iters[i]);
            samples[i].push(t.as_nanos() as f64 / iters[i] as f64);
        }
    }
    w.impls
        .iter()
        .zip(samples)
        .map(|(imp, mut s)| {
            s.sort_by(f64::total_cmp);
            Stats {
                workload: w.name,
                imp: imp.name,
                ours: imp.ours,
                median: median(&s),
                min: s[0],
                max: s[s.len() - 1],
            }
        })
        .collect()
}

fn ratios(stats: &[Stats]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for o in stats.iter().filter(|s| s.ours) {
        for a in stats.iter().filter(|s| !s.ours && s.workload == o.workload) {
            out.push(Ratio {
                workload: o.workload,
                ours: o.imp,
                anchor: a.imp,
                ratio: o.median / a.median,
                best_ratio: o.min / a.min,
            });
        }
    }
    out
}

/// (workload, ours, anchor, compare best samples instead of medians, max ratio)
const TARGETS: &[(&str, &str, &str, bool, f64)] = &[
    ("read_uncontended", "pushpull", PL_RW, false, 1.10),
    ("write_uncontended", "pushpull", PL_RW, false, 1.10),
    ("modify_uncontended", "pushpull", PL_RW, false, 1.10),
    ("modify_upgrade_uncontended", "pushpull", PL_RW, false, 1.10),
    ("update_uncontended", "pushpull", PL_MUTEX, false, 1.0),
    ("pull_unchanged", "pushpull", PL_RW_CMP, false, 0.15),
    ("pull_unchanged", "pushpull", ATOMIC, false, 2.0),
    ("waitgroup_cycle", "pushpull", CB_WG, false, 0.15),
    ("waitgroup_fanin", "pushpull", CB_WG, false, 0.25),
    ("update_contended_2t", "pushpull", PL_MUTEX, false, 1.0),
    ("push_wait_pingpong", "pushpull", PL_CONDVAR, false, 0.10),
    ("push_wait_pingpong", "pushpull", PL_CONDVAR, true, 0.02),
    ("snapshot_read_mostly", "pushpull", PL_RW_ARC, false, 1.0),
];

fn target_of(r: &Ratio, best: bool) -> Option<f64> {
    TARGETS
        .iter()
        .find(|t| t.0 == r.workload && t.1 == r.ours && t.2 == r.anchor && t.3 == best)
        .map(|t| t.4)
}

// ---------------------------------------------------------------------------------------------
// Output: markdown, JSON, SVG
// ---------------------------------------------------------------------------------------------

fn print_table(workloads: &[(&str, &str)], stats: &[Stats], ratios: &[Ratio]) {
    println!();
    println!("| workload | impl | ns/op (median) | min–max | Mops/s | ratio ours/this |");
    println!("|---|---|---:|---:|---:|---:|");
    for s in stats {
        let rel: Vec<String> = ratios
            .iter()
            .filter(|r| r.workload == s.workload && r.anchor == s.imp)
            .map(|r| {
                let who = if r.ours == "pushpull" {
                    String::new()
                } else {
                    format!(" ({})", r.ours)
                };
                format!("{:.3}{who}", r.ratio)
            })
            .collect();
        println!(
            "| {} | {}{} | {:.1} | {:.1}–{:.1} | {:.2} | {} |",
            s.workload,
            s.imp,
            if s.ours { " **(ours)**" } else { "" },
            s.median,
            s.min,
            s.max,
            1e3 / s.median,
            if rel.is_empty() {
                "—".to_string()
            } else {
                rel.join(", ")
            }
        );
    }
    println!();
    for (w, unit) in workloads {
        println!("* `{w}`: one op = {unit}");
    }
    println!();
    println!("| target | ratio | limit | |");
    println!("|---|---:|---:|---|");
    for r in ratios {
        for best in [false, true] {
            if let Some(limit) = target_of(r, best) {
                let v = if best { r.best_ratio } else { r.ratio };
                println!(
                    "| {} {} vs {}{} | {:.3} | ≤ {:.2} | {} |",
                    r.workload,
                    r.ours,
                    r.anchor,
                    if best {
                        " (best samples)"
                    } else {
                        " (medians)"
                    },
                    v,
                    limit,
                    if v <= limit { "met" } else { "**MISSED**" }
                );
            }
        }
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        "null".to_string()
    }
}

fn to_json(stats: &[Stats], ratios: &[Ratio]) -> String {
    let results: Vec<String> = stats
        .iter()
        .map(|s| {
            format!(
                "{{\"workload\":{},\"impl\":{},\"median_ns\":{},\"min_ns\":{},\"max_ns\":{}}}",
                json_str(s.workload),
                json_str(s.imp),
                json_num(s.median),
                json_num(s.min),
                json_num(s.max)
            )
        })
        .collect();
    let ratios: Vec<String> = ratios
        .iter()
        .map(|r| {
            format!(
                "{{\"workload\":{},\"ours\":{},\"anchor\":{},\"ratio\":{},\"best_ratio\":{}}}",
                json_str(r.workload),
                json_str(r.ours),
                json_str(r.anchor),
                json_num(r.ratio),
                json_num(r.best_ratio)
            )
        })
        .collect();
    format!(
        "{{\"results\":[\n{}\n],\"ratios\":[\n{}\n]}}\n",
        results.join(",\n"),
        ratios.join(",\n")
    )
}

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    target.join("lockbench")
}

fn draw_chart(path: &std::path::Path, ratios: &[Ratio]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let bars: Vec<(String, f64, Option<f64>)> = ratios
        .iter()
        .map(|r| {
            let who = if r.ours == "pushpull" {
                String::new()
            } else {
                format!("{} ", r.ours)
            };
            (
                format!("{}: {who}vs {}", r.workload, r.anchor),
                r.ratio,
                target_of(r, false),
            )
        })
        .collect();
    let n = bars.len() as u32;
    let (lo, hi) = (0.002f64, 20f64);
    let root = SVGBackend::new(path, (1200, 840)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "pushpull / anchor, median ns/op (lower is better; red line = parity, black tick = target)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(400)
        .y_label_area_size(60)
        .build_cartesian_2d((0u32..n.max(1)).into_segmented(), (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len().max(1))
        .x_label_formatter(&|_| String::new())
        .y_desc("ratio ours / anchor (log scale)")
        .draw()?;
    let data: Vec<(u32, f64)> = bars
        .iter()
        .enumerate()
        .map(|(i, b)| (i as u32, b.1.clamp(lo, hi)))
        .collect();
    let targets: Vec<Option<f64>> = bars.iter().map(|b| b.2).collect();
    chart.draw_series(
        Histogram::vertical(&chart)
            .baseline(lo)
            .margin(4)
            .style_func(|x, y| {
                let i = match x {
                    SegmentValue::Exact(i) | SegmentValue::CenterOf(i) => *i as usize,
                    SegmentValue::Last => 0,
                };
                match targets.get(i).copied().flatten() {
                    Some(t) if *y > t => RGBColor(230, 140, 40).filled(),
                    Some(_) => RGBColor(60, 150, 90).filled(),
                    None => RGBColor(120, 140, 190).filled(),
                }
            })
            .data(data),
    )?;
    chart.draw_series(LineSeries::new(
        vec![(SegmentValue::Exact(0), 1.0), (SegmentValue::Last, 1.0)],
        RED.stroke_width(2),
    ))?;
    for (i, t) in targets.iter().enumerate() {
        if let Some(t) = t {
            let i = i as u32;
            chart.draw_series(LineSeries::new(
                vec![
                    (SegmentValue::Exact(i), *t),
                    (SegmentValue::Exact(i + 1), *t),
                ],
                BLACK.stroke_width(2),
            ))?;
        }
    }
    // Bar labels, drawn by hand so that they start at the axis (plotters centres rotated tick
    // labels on the tick, which pushes half of a long label into the plot).
    let style = ("sans-serif", 12)
        .into_font()
        .transform(FontTransform::Rotate90)
        .color(&BLACK);
    for (i, b) in bars.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(SegmentValue::CenterOf(i as u32), lo));
        root.draw(&Text::new(b.0.clone(), (x + 6, y + 6), style.clone()))?;
    }
    root.present()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------

const PP: &str = "pushpull";
const PL_RW: &str = "parking_lot::RwLock";
const STD_RW: &str = "std::sync::RwLock";
const PL_MUTEX: &str = "parking_lot::Mutex";
const STD_MUTEX: &str = "std::sync::Mutex";
const ATOMIC: &str = "AtomicU64";
const PL_RW_CMP: &str = "parking_lot::RwLock read+compare";
const CB_WG: &str = "crossbeam WaitGroup";
const LATCH: &str = "Mutex+Condvar latch";
const PL_CONDVAR: &str = "parking_lot Mutex+Condvar";
const MPSC: &str = "std mpsc pair";
const PL_RW_ARC: &str = "parking_lot::RwLock<Arc> clone";
const ARCSWAP: &str = "ArcSwap load";

fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

fn guard_workloads() -> Vec<Workload> {
    use parking_lot::{RwLock as PlRw, RwLockUpgradableReadGuard as PlUp};
    use std::sync::RwLock as StdRw;
    let mut v = Vec::new();

    v.push(Workload {
        name: "read_uncontended",
        unit: "read guard taken, value read, dropped",
        impls: vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&s).read());
                    })
                }
            }),
            anchor(PL_RW, {
                let l = PlRw::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&l).read());
                    })
                }
            }),
            anchor(STD_RW, {
                let l = StdRw::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&l).read().unwrap());
                    })
                }
            }),
        ],
    });
    v.push(Workload {
        name: "write_uncontended",
        unit: "write guard taken, `*g += 1`, dropped (pushpull: publishes a version)",
        impls: vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| {
                    if std::env::var_os("LOCKBENCH_ADDR").is_some() {
                        let local = 0u8;
                        eprintln!(
                            "shared at {:p} (mod 4096: {}), size {}, stack at {:p} (mod 4096: {})",
                            &s,
                            &s as *const _ as usize % 4096,
                            std::mem::size_of_val(&s),
                            &local,
                            &local as *const u8 as usize % 4096
                        );
                    }
                    timed(n, || *black_box(&s).write() += 1)
                }
            }),
            anchor(PL_RW, {
                let l = PlRw::new(1u64);
                move |n| timed(n, || *black_box(&l).write() += 1)
            }),
            anchor(STD_RW, {
                let l = StdRw::new(1u64);
                move |n| timed(n, || *black_box(&l).write().unwrap() += 1)
            }),
        ],
    });
    v.push(Workload {
        name: "write_guard_uncontended",
        unit: "write guard taken and dropped, no mutation (pushpull: no publish); compare a run with `--features reentrancy-check` for the cost of the re-entrancy check",
        impls: vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| timed(n, || drop(black_box(black_box(&s).write())))
            }),
            anchor(PL_RW, {
                let l = PlRw::new(1u64);
                move |n| timed(n, || drop(black_box(black_box(&l).write())))
            }),
        ],
    });
    v.push(Workload {
        name: "modify_uncontended",
        unit: "modify guard (upgradable read) taken, value read, dropped; std: a read guard",
        impls: vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&s).modify());
                    })
                }
            }),
            anchor(PL_RW, {
                let l = PlRw::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&l).upgradable_read());
                    })
                }
            }),
            anchor(STD_RW, {
                let l = StdRw::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&l).read().unwrap());
                    })
                }
            }),
        ],
    });
    v.push(Workload {
        name: "modify_upgrade_uncontended",
        unit: "modify guard, upgrade, `*g += 1`, drop; std (no upgrade): a write guard",
        impls: vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| {
                    timed(n, || {
                        let g = black_box(&s).modify();
                        *ModifyGuard::upgrade(g) += 1;
                    })
                }
            }),
            anchor(PL_RW, {
                let l = PlRw::new(1u64);
                move |n| {
                    timed(n, || {
                        let g = black_box(&l).upgradable_read();
                        *PlUp::upgrade(g) += 1;
                    })
                }
            }),
            anchor(STD_RW, {
                let l = StdRw::new(1u64);
                move |n| timed(n, || *black_box(&l).write().unwrap() += 1)
            }),
        ],
    });
    v.push(Workload {
        name: "update_uncontended",
        unit: "`update(|v| *v += 1)` / lock + `+= 1` / `fetch_add(1)`",
        impls: vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| timed(n, || black_box(&s).update(|v| *v += 1))
            }),
            anchor(PL_MUTEX, {
                let m = parking_lot::Mutex::new(1u64);
                move |n| timed(n, || *black_box(&m).lock() += 1)
            }),
            anchor(STD_MUTEX, {
                let m = std::sync::Mutex::new(1u64);
                move |n| timed(n, || *black_box(&m).lock().unwrap() += 1)
            }),
            anchor(ATOMIC, {
                let a = AtomicU64::new(1);
                move |n| {
                    timed(n, || {
                        black_box(&a).fetch_add(1, Ordering::AcqRel);
                    })
                }
            }),
        ],
    });
    v
}

fn pull_workloads() -> Vec<Workload> {
    let mut v = Vec::new();
    v.push(Workload {
        name: "pull_unchanged",
        unit: "one \"did it change?\" check on a quiet value",
        impls: vec![
            ours(PP, {
                // The puller borrows the Shared: leak one per process (a few bytes).
                let s: &'static Shared<u64> = Box::leak(Box::new(Shared::new(1)));
                let p = s.puller();
                move |n| {
                    timed(n, || {
                        black_box(black_box(&p).has_changed());
                    })
                }
            }),
            anchor(PL_RW_CMP, {
                let l = parking_lot::RwLock::new(1u64);
                let seen = 1u64;
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&l).read() != seen);
                    })
                }
            }),
            anchor(ATOMIC, {
                let a = AtomicU64::new(1);
                let seen = 1u64;
                move |n| {
                    timed(n, || {
                        black_box(black_box(&a).load(Ordering::Acquire) != seen);
                    })
                }
            }),
        ],
    });
    v
}

/// A hand-rolled completion latch: what people write without a WaitGroup.
#[derive(Default)]
struct Latch {
    count: std::sync::Mutex<usize>,
    zero: std::sync::Condvar,
}

impl Latch {
    fn add(&self, n: usize) {
        *self.count.lock().unwrap() += n;
    }
    fn done(&self) {
        let mut c = self.count.lock().unwrap();
        *c -= 1;
        if *c == 0 {
            self.zero.notify_all();
        }
    }
    fn wait(&self) {
        let mut c = self.count.lock().unwrap();
        while *c != 0 {
            c = self.zero.wait(c).unwrap();
        }
    }
}

/// The "tiny batch" a fan-in worker does per round.
#[inline(never)]
fn tiny_batch(seed: u64) -> u64 {
    let mut x = seed;
    for i in 0..16u64 {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

fn fanin_pushpull(rounds: u64) -> Duration {
    const STOP: u64 = u64::MAX;
    let round = Shared::new(0u64);
    let wg = WaitGroup::new();
    let barrier = Barrier::new(3);
    thread::scope(|s| {
        for _ in 0..2 {
            // Created before the master's first push, so no round is missed.
            let mut p = round.puller();
            let (wg, barrier) = (&wg, &barrier);
            s.spawn(move || {
                barrier.wait();
                loop {
                    let r = *p.wait();
                    if r == STOP {
                        break;
                    }
                    black_box(tiny_batch(r));
                    wg.done();
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        for r in 1..=rounds {
            wg.add(2);
            round.push(|v| *v = r);
            wg.wait();
        }
        let t = start.elapsed();
        round.push(|v| *v = STOP);
        t
    })
}

fn fanin_crossbeam(rounds: u64) -> Duration {
    let barrier = Barrier::new(3);
    thread::scope(|s| {
        let mut txs = Vec::new();
        for _ in 0..2 {
            let (tx, rx) = mpsc::channel::<Option<(u64, crossbeam_utils::sync::WaitGroup)>>();
            txs.push(tx);
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                while let Ok(Some((r, wg))) = rx.recv() {
                    black_box(tiny_batch(r));
                    drop(wg);
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        for r in 1..=rounds {
            let wg = crossbeam_utils::sync::WaitGroup::new();
            for tx in &txs {
                tx.send(Some((r, wg.clone()))).unwrap();
            }
            wg.wait();
        }
        let t = start.elapsed();
        for tx in &txs {
            tx.send(None).unwrap();
        }
        t
    })
}

fn fanin_latch(rounds: u64) -> Duration {
    const STOP: u64 = u64::MAX;
    // (round, outstanding)
    let state = std::sync::Mutex::new((0u64, 0usize));
    let work = std::sync::Condvar::new();
    let done = std::sync::Condvar::new();
    let barrier = Barrier::new(3);
    thread::scope(|s| {
        for _ in 0..2 {
            let (state, work, done, barrier) = (&state, &work, &done, &barrier);
            s.spawn(move || {
                barrier.wait();
                let mut seen = 0;
                loop {
                    let mut g = state.lock().unwrap();
                    while g.0 == seen {
                        g = work.wait(g).unwrap();
                    }
                    seen = g.0;
                    drop(g);
                    if seen == STOP {
                        break;
                    }
                    black_box(tiny_batch(seen));
                    let mut g = state.lock().unwrap();
                    g.1 -= 1;
                    if g.1 == 0 {
                        done.notify_one();
                    }
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        for r in 1..=rounds {
            let mut g = state.lock().unwrap();
            *g = (r, 2);
            work.notify_all();
            while g.1 != 0 {
                g = done.wait(g).unwrap();
            }
        }
        let t = start.elapsed();
        state.lock().unwrap().0 = STOP;
        work.notify_all();
        t
    })
}

fn waitgroup_workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "waitgroup_cycle",
            unit: "one thread: add 4 / done 4 / wait (crossbeam: new, clone 4, drop 4, wait)",
            impls: vec![
                ours(PP, {
                    let wg = WaitGroup::new();
                    move |n| {
                        timed(n, || {
                            let wg = black_box(&wg);
                            wg.add(4);
                            for _ in 0..4 {
                                wg.done();
                            }
                            wg.wait();
                        })
                    }
                }),
                anchor(CB_WG, |n| {
                    timed(n, || {
                        let wg = crossbeam_utils::sync::WaitGroup::new();
                        let c = [wg.clone(), wg.clone(), wg.clone(), wg.clone()];
                        drop(black_box(c));
                        wg.wait();
                    })
                }),
                anchor(LATCH, {
                    let l = Latch::default();
                    move |n| {
                        timed(n, || {
                            let l = black_box(&l);
                            l.add(4);
                            for _ in 0..4 {
                                l.done();
                            }
                            l.wait();
                        })
                    }
                }),
            ],
        },
        Workload {
            name: "waitgroup_fanin",
            unit: "one round: master hands a tiny batch to 2 long-lived workers and waits for both \
                   (pushpull: workers Puller::wait a Shared<u64> round counter, WaitGroup add/done/wait; \
                   crossbeam: a fresh WaitGroup per round, clones sent over one mpsc channel per worker; \
                   latch: one std Mutex<(round, outstanding)>, a work Condvar and a done Condvar)",
            impls: vec![
                ours(PP, fanin_pushpull),
                anchor(CB_WG, fanin_crossbeam),
                anchor(LATCH, fanin_latch),
            ],
        },
    ]
}

/// Two threads (this one and one more) each do `n` ops; returns the wall time for `2n` ops.
fn two_threads(n: u64, op: impl Fn() + Sync) -> Duration {
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let other = s.spawn(|| {
            barrier.wait();
            for _ in 0..n {
                op();
            }
        });
        barrier.wait();
        let start = Instant::now();
        for _ in 0..n {
            op();
        }
        other.join().unwrap();
        start.elapsed()
    })
}

fn pingpong_pushpull(n: u64) -> Duration {
    let ping = Shared::new(0u64);
    let pong = Shared::new(0u64);
    let barrier = Barrier::new(2);
    // Both pullers exist before the first push.
    let mut ping_puller = ping.puller();
    let mut pong_puller = pong.puller();
    thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            for i in 0..n {
                drop(ping_puller.wait());
                pong.push(|v| *v = i);
            }
        });
        barrier.wait();
        let start = Instant::now();
        for i in 0..n {
            ping.push(|v| *v = i);
            drop(pong_puller.wait());
        }
        start.elapsed()
    })
}

fn pingpong_condvar(n: u64) -> Duration {
    // An even count is the master's turn, odd the partner's.
    let turn = parking_lot::Mutex::new(0u64);
    let cv = parking_lot::Condvar::new();
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            for _ in 0..n {
                let mut g = turn.lock();
                while *g & 1 == 0 {
                    cv.wait(&mut g);
                }
                *g += 1;
                cv.notify_one();
            }
        });
        barrier.wait();
        let start = Instant::now();
        for _ in 0..n {
            let mut g = turn.lock();
            *g += 1;
            cv.notify_one();
            while *g & 1 == 1 {
                cv.wait(&mut g);
            }
        }
        start.elapsed()
    })
}

fn pingpong_mpsc(n: u64) -> Duration {
    let (tx1, rx1) = mpsc::channel::<u64>();
    let (tx2, rx2) = mpsc::channel::<u64>();
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let barrier = &barrier;
        s.spawn(move || {
            barrier.wait();
            for _ in 0..n {
                let v = rx1.recv().unwrap();
                tx2.send(v).unwrap();
            }
        });
        barrier.wait();
        let start = Instant::now();
        for i in 0..n {
            tx1.send(i).unwrap();
            black_box(rx2.recv().unwrap());
        }
        start.elapsed()
    })
}

type Snapshot = Arc<[u64; 64]>;

fn fresh_snapshot(k: u64) -> Snapshot {
    Arc::new([k; 64])
}

/// Runs `reader(n)` while a writer thread calls `publish(k)` about every microsecond.
fn with_writer(
    n: u64,
    publish: impl Fn(u64) + Sync,
    reader: impl FnOnce(u64) -> Duration,
) -> Duration {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            let mut k = 0;
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                next += Duration::from_micros(1);
                while Instant::now() < next {
                    std::hint::spin_loop();
                }
                k += 1;
                publish(k);
            }
        });
        barrier.wait();
        let t = reader(n);
        stop.store(true, Ordering::Relaxed);
        t
    })
}

fn contended_workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "update_contended_2t",
            unit: "one increment; 2 threads increment one counter (ns/op = wall time / total ops; Mops/s = total throughput)",
            impls: vec![
                ours(PP, |n| {
                    let s = Shared::new(0u64);
                    two_threads(n, || s.update(|v| *v += 1))
                }),
                anchor(PL_MUTEX, |n| {
                    let m = parking_lot::Mutex::new(0u64);
                    two_threads(n, || *m.lock() += 1)
                }),
                anchor(STD_MUTEX, |n| {
                    let m = std::sync::Mutex::new(0u64);
                    two_threads(n, || *m.lock().unwrap() += 1)
                }),
                anchor(PL_RW, |n| {
                    let l = parking_lot::RwLock::new(0u64);
                    two_threads(n, || *l.write() += 1)
                }),
                anchor(ATOMIC, |n| {
                    let a = AtomicU64::new(0);
                    two_threads(n, || {
                        a.fetch_add(1, Ordering::AcqRel);
                    })
                }),
            ],
        }
        .per_total_ops(2),
        Workload {
            name: "push_wait_pingpong",
            unit: "one round trip: A pushes, B wakes and pushes back, A wakes",
            impls: vec![
                ours(PP, pingpong_pushpull),
                anchor(PL_CONDVAR, pingpong_condvar),
                anchor(MPSC, pingpong_mpsc),
            ],
        },
        Workload {
            name: "snapshot_read_mostly",
            unit: "one reader snapshot (Arc<[u64; 64]>) while a writer publishes a new one every ~1 µs; \
                   Mops/s = the reader's throughput. pushpull: a Puller that re-pulls (clones the Arc) \
                   only when the version moved; `read+clone`: Shared::read().clone() every time",
            impls: vec![
                ours(PP, |n| {
                    let s = Shared::new(fresh_snapshot(0));
                    with_writer(
                        n,
                        |k| drop(s.update(|v| std::mem::replace(v, fresh_snapshot(k)))),
                        |n| {
                            let mut p = s.puller();
                            let mut snap = s.read().clone();
                            let start = Instant::now();
                            for i in 0..n {
                                if let Some(new) = p.pull() {
                                    snap = new;
                                }
                                black_box(snap[(i & 63) as usize]);
                            }
                            start.elapsed()
                        },
                    )
                }),
                ours("pushpull read+clone", |n| {
                    let s = Shared::new(fresh_snapshot(0));
                    with_writer(
                        n,
                        |k| drop(s.update(|v| std::mem::replace(v, fresh_snapshot(k)))),
                        |n| {
                            let start = Instant::now();
                            for i in 0..n {
                                let snap = s.read().clone();
                                black_box(snap[(i & 63) as usize]);
                            }
                            start.elapsed()
                        },
                    )
                }),
                anchor(PL_RW_ARC, |n| {
                    let l = parking_lot::RwLock::new(fresh_snapshot(0));
                    with_writer(
                        n,
                        |k| drop(std::mem::replace(&mut *l.write(), fresh_snapshot(k))),
                        |n| {
                            let start = Instant::now();
                            for i in 0..n {
                                let snap = l.read().clone();
                                black_box(snap[(i & 63) as usize]);
                            }
                            start.elapsed()
                        },
                    )
                }),
                anchor(ARCSWAP, |n| {
                    let a = arc_swap::ArcSwap::new(fresh_snapshot(0));
                    with_writer(
                        n,
                        |k| a.store(fresh_snapshot(k)),
                        |n| {
                            let start = Instant::now();
                            for i in 0..n {
                                let snap = a.load();
                                black_box(snap[(i & 63) as usize]);
                            }
                            start.elapsed()
                        },
                    )
                }),
            ],
        },
    ]
}

impl Workload {
    /// The runners of this workload do `k` ops per requested iteration (one per thread).
    fn per_total_ops(mut self, k: u64) -> Self {
        for imp in &mut self.impls {
            let mut run = std::mem::replace(&mut imp.run, Box::new(|_| Duration::ZERO));
            imp.run = Box::new(move |n| {
                // `n` total ops: each of the k threads does n / k.
                let per = (n / k).max(1);
                let t = run(per);
                // Rescale so the harness's division by `n` gives time per op.
                t.mul_f64(n as f64 / (per * k) as f64)
            });
        }
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Spin-policy study for push_wait_pingpong (prototype of crate::park's logic)
// ---------------------------------------------------------------------------------------------

mod spin_study {
    //! A copy of pushpull's push / wait protocol (version word with a WAITING bit, set under a
    //! read lock; publish under the write lock; wake through a parking_lot Mutex+Condvar
    //! "Event" only if the bit was set), with the spin phase before parking made pluggable.

    use super::*;

    const WAITING: u64 = 1;
    const ONE: u64 = 2;

    pub struct Cell {
        lock: parking_lot::RwLock<u64>,
        word: AtomicU64,
        m: parking_lot::Mutex<()>,
        cv: parking_lot::Condvar,
    }

    impl Cell {
        pub fn new() -> Self {
            Cell {
                lock: parking_lot::RwLock::new(0),
                word: AtomicU64::new(0),
                m: parking_lot::Mutex::new(()),
                cv: parking_lot::Condvar::new(),
            }
        }
        pub fn version(&self) -> u64 {
            self.word.load(Ordering::Acquire) >> 1
        }
        pub fn push(&self, v: u64) {
            let wake = {
                let mut g = self.lock.write();
                *g = v;
                let w = self.word.load(Ordering::Relaxed);
                self.word.store((w + ONE) & !WAITING, Ordering::Release);
                w & WAITING != 0
            };
            if wake {
                drop(self.m.lock());
                self.cv.notify_all();
            }
        }
        pub fn wait_past(&self, seen: u64, policy: Policy, stats: &mut Counts) {
            let ready = || self.version() != seen;
            if ready() {
                stats.immediate += 1;
                return;
            }
            if policy.spin(&ready) {
                stats.spun += 1;
                return;
            }
            let registered = {
                let _r = self.lock.read();
                self.word.fetch_or(WAITING, Ordering::AcqRel) >> 1 == seen
            };
            if !registered {
                stats.spun += 1;
                return;
            }
            stats.parked += 1;
            let mut g = self.m.lock();
            while !ready() {
                self.cv.wait(&mut g);
            }
        }
    }

    #[derive(Default, Debug, Clone, Copy)]
    pub struct Counts {
        pub immediate: u64,
        pub spun: u64,
        pub parked: u64,
    }

    #[derive(Clone, Copy, Debug)]
    pub enum Policy {
        /// crossbeam `Backoff` until `is_completed` (what crate::park does today): 127
        /// spin_loop hints in 7 doubling steps, then 4 `yield_now`s.
        Backoff,
        /// Park at once.
        NoSpin,
        /// Spin (spin_loop hint, re-check) for up to this long, never yield.
        SpinFor(Duration),
        /// Spin for up to this long, then up to `n` yield_now's.
        SpinForThenYield(Duration, u32),
    }

    impl Policy {
        /// `true` if ready before giving up.
        fn spin(self, ready: &impl Fn() -> bool) -> bool {
            match self {
                Policy::Backoff => {
                    let b = crossbeam_utils::Backoff::new();
                    while !b.is_completed() {
                        b.snooze();
                        if ready() {
                            return true;
                        }
                    }
                    false
                }
                Policy::NoSpin => false,
                Policy::SpinFor(d) => spin_for(d, ready),
                Policy::SpinForThenYield(d, n) => {
                    if spin_for(d, ready) {
                        return true;
                    }
                    for _ in 0..n {
                        thread::yield_now();
                        if ready() {
                            return true;
                        }
                    }
                    false
                }
            }
        }
    }

    fn spin_for(d: Duration, ready: &impl Fn() -> bool) -> bool {
        let start = Instant::now();
        loop {
            for _ in 0..32 {
                std::hint::spin_loop();
                if ready() {
                    return true;
                }
            }
            if start.elapsed() >= d {
                return false;
            }
        }
    }

    pub fn pingpong(n: u64, policy: Policy) -> (Duration, Counts) {
        let ping = Cell::new();
        let pong = Cell::new();
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            s.spawn(|| {
                let mut c = Counts::default();
                barrier.wait();
                for i in 0..n {
                    ping.wait_past(i, policy, &mut c);
                    pong.push(i);
                }
            });
            let mut c = Counts::default();
            barrier.wait();
            let start = Instant::now();
            for i in 0..n {
                ping.push(i);
                pong.wait_past(i, policy, &mut c);
            }
            (start.elapsed(), c)
        })
    }

    /// Cost of one park + wake with nobody spinning: the slow mode's floor.
    pub fn run(repeats: usize, sample: Duration) {
        let policies = [
            ("Backoff (current)", Policy::Backoff),
            ("no spin (park at once)", Policy::NoSpin),
            ("spin 2 µs", Policy::SpinFor(Duration::from_micros(2))),
            ("spin 10 µs", Policy::SpinFor(Duration::from_micros(10))),
            ("spin 50 µs", Policy::SpinFor(Duration::from_micros(50))),
            (
                "spin 10 µs + 4 yields",
                Policy::SpinForThenYield(Duration::from_micros(10), 4),
            ),
            (
                "spin 50 µs + 4 yields",
                Policy::SpinForThenYield(Duration::from_micros(50), 4),
            ),
        ];
        // Calibrate each policy once.
        let iters: Vec<u64> = policies
            .iter()
            .map(|(_, p)| {
                let mut n = 64u64;
                loop {
                    let (t, _) = pingpong(n, *p);
                    if t >= sample / 8 || n > 1 << 26 {
                        let per = t.as_secs_f64() / n as f64;
                        break ((sample.as_secs_f64() / per) as u64).max(64);
                    }
                    n *= 4;
                }
            })
            .collect();
        let mut samples = vec![Vec::new(); policies.len()];
        let mut counts = vec![Counts::default(); policies.len()];
        for rep in 0..repeats {
            for k in 0..policies.len() {
                let i = (rep + k) % policies.len();
                let (t, c) = pingpong(iters[i], policies[i].1);
                samples[i].push(t.as_nanos() as f64 / iters[i] as f64);
                counts[i].immediate += c.immediate;
                counts[i].spun += c.spun;
                counts[i].parked += c.parked;
            }
        }
        // How long crossbeam's Backoff spins + yields before `is_completed` (the budget the
        // current wait gives a pusher before parking), on an idle wait.
        let mut budget: Vec<f64> = (0..201)
            .map(|_| {
                let start = Instant::now();
                let b = crossbeam_utils::Backoff::new();
                while !b.is_completed() {
                    b.snooze();
                }
                start.elapsed().as_nanos() as f64
            })
            .collect();
        budget.sort_by(f64::total_cmp);
        println!(
            "\ncrossbeam Backoff budget until is_completed: median {:.0} ns (min {:.0}, max {:.0})",
            median(&budget),
            budget[0],
            budget[budget.len() - 1]
        );
        println!("\n### push_wait_pingpong spin-policy study (prototype of crate::park)\n");
        println!("| policy | ns/round trip median | min–max | samples (sorted) | master's waits: ready at once / after spin / parked |");
        println!("|---|---:|---:|---|---|");
        for (i, (name, _)) in policies.iter().enumerate() {
            let mut s = samples[i].clone();
            s.sort_by(f64::total_cmp);
            let c = counts[i];
            let tot = (c.immediate + c.spun + c.parked).max(1) as f64;
            let list: Vec<String> = s.iter().map(|x| format!("{x:.0}")).collect();
            println!(
                "| {name} | {:.0} | {:.0}–{:.0} | {} | {:.1}% / {:.1}% / {:.1}% |",
                median(&s),
                s[0],
                s[s.len() - 1],
                list.join(" "),
                100.0 * c.immediate as f64 / tot,
                100.0 * c.spun as f64 / tot,
                100.0 * c.parked as f64 / tot
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

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

    let mut workloads: Vec<Workload> = guard_workloads()
        .into_iter()
        .chain(pull_workloads())
        .chain(waitgroup_workloads())
        .chain(contended_workloads())
        .filter(|w| filter.map_or(true, |f| w.name.contains(f.as_str())))
        .collect();
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
    if let Err(e) = draw_chart(&svg_path, &ratios) {
        eprintln!("lockbench: chart failed: {e}");
        std::process::exit(1);
    }
    println!("\nwrote {} and {}", json_path.display(), svg_path.display());

    if mode.smoke {
        check_output(&json_path, &svg_path, &stats, &ratios);
    }
}

/// Smoke mode: the files exist, and the JSON names every workload × impl and every ratio.
fn check_output(json: &std::path::Path, svg: &std::path::Path, stats: &[Stats], ratios: &[Ratio]) {
    let text = std::fs::read_to_string(json).expect("read back results.json");
    let mut problems = Vec::new();
    if !text.starts_with("{\"results\":[") || !text.trim_end().ends_with("]}") {
        problems.push("results.json is not the expected object".to_string());
    }
    let entries = text.matches("\"median_ns\":").count();
    if entries != stats.len() {
        problems.push(format!("{entries} results, expected {}", stats.len()));
    }
    if text.matches("\"ratio\":").count() != ratios.len() || ratios.is_empty() {
        problems.push("ratios missing".to_string());
    }
    for s in stats {
        let key = format!(
            "{{\"workload\":{},\"impl\":{},",
            json_str(s.workload),
            json_str(s.imp)
        );
        if !text.contains(&key) {
            problems.push(format!("missing {} / {}", s.workload, s.imp));
        }
        if !(s.median.is_finite() && s.median > 0.0) {
            problems.push(format!("bad median for {} / {}", s.workload, s.imp));
        }
    }
    if text.contains("null") {
        problems.push("non-finite number in results.json".to_string());
    }
    match std::fs::read_to_string(svg) {
        Ok(s) if s.contains("<svg") && s.contains("</svg>") => {}
        _ => problems.push("chart.svg missing or incomplete".to_string()),
    }
    if problems.is_empty() {
        println!(
            "smoke: OK ({} results, {} ratios)",
            stats.len(),
            ratios.len()
        );
    } else {
        for p in &problems {
            eprintln!("smoke: {p}");
        }
        std::process::exit(1);
    }
}
