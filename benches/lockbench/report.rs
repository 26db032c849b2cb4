//! Output: the markdown tables on stdout, `results.json`, and the smoke-mode check of both
//! written files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::chart;
use crate::harness::{target_of, thread_cpu_now, Metric, Ratio, Spread, Stats, Workload};

pub fn print_table(workloads: &[&Workload], stats: &[Stats], ratios: &[Ratio]) {
    let dash = || "—".to_string();
    println!();
    println!(
        "| workload | impl | ns/op (median) | min–max | Mops/s | CPU ns/op (median) | min–max | \
         CPU ms per 100 ms | ratio ours/this |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
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
        let (cpu, cpu_range) = match s.cpu {
            Some(c) => (
                format!("{:.1}", c.median),
                format!("{:.1}–{:.1}", c.min, c.max),
            ),
            None => (dash(), dash()),
        };
        let share = s.cpu_share.map_or_else(dash, |c| {
            format!(
                "{:.1} ({:.1}–{:.1})",
                c.median * 100.0,
                c.min * 100.0,
                c.max * 100.0
            )
        });
        println!(
            "| {} | {}{} | {:.1} | {:.1}–{:.1} | {:.2} | {cpu} | {cpu_range} | {share} | {} |",
            s.workload,
            s.imp,
            if s.ours { " **(ours)**" } else { "" },
            s.median,
            s.min,
            s.max,
            1e3 / s.median,
            if rel.is_empty() {
                dash()
            } else {
                rel.join(", ")
            }
        );
    }
    println!();
    for w in workloads {
        let cpu = if w.cpu_of.is_empty() {
            String::new()
        } else {
            format!("; CPU = {}", w.cpu_of)
        };
        println!("* `{}`: one op = {}{cpu}", w.name, w.unit);
    }
    println!();
    println!(
        "Ratios ours / anchor: medians, and the lowest and highest of the per-round ratios \
              (the samples of one round of the interleaving against each other)."
    );
    println!();
    println!("| workload | ours vs anchor | wall ratio | min–max | slowest / anchor median | CPU ratio | min–max |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in ratios {
        let (cpu, cpu_range) = match r.cpu {
            Some((m, lo, hi)) => (format!("{m:.3}"), format!("{lo:.3}–{hi:.3}")),
            None => (dash(), dash()),
        };
        println!(
            "| {} | {} vs {} | {:.3} | {:.3}–{:.3} | {:.3} | {cpu} | {cpu_range} |",
            r.workload, r.ours, r.anchor, r.ratio, r.ratio_min, r.ratio_max, r.worst_ratio
        );
    }
    println!();
    println!("| target | ratio | limit | |");
    println!("|---|---:|---:|---|");
    for r in ratios {
        for metric in Metric::ALL {
            if let (Some(limit), Some(v)) = (target_of(r, metric), metric.of(r)) {
                println!(
                    "| {} {} vs {} ({}) | {:.3} | ≤ {:.2} | {} |",
                    r.workload,
                    r.ours,
                    r.anchor,
                    metric.label(),
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

fn spread_fields(out: &mut String, prefix: &str, unit: &str, s: Option<Spread>) {
    if let Some(s) = s {
        let _ = write!(
            out,
            ",\"{prefix}_median{unit}\":{},\"{prefix}_min{unit}\":{},\"{prefix}_max{unit}\":{}",
            json_num(s.median),
            json_num(s.min),
            json_num(s.max)
        );
    }
}

pub fn to_json(workloads: &[&Workload], stats: &[Stats], ratios: &[Ratio]) -> String {
    let results: Vec<String> = stats
        .iter()
        .map(|s| {
            let mut out = format!(
                "{{\"workload\":{},\"impl\":{},\"median_ns\":{},\"min_ns\":{},\"max_ns\":{},\"samples\":{}",
                json_str(s.workload),
                json_str(s.imp),
                json_num(s.median),
                json_num(s.min),
                json_num(s.max),
                s.wall_samples.len()
            );
            spread_fields(&mut out, "cpu", "_ns", s.cpu);
            spread_fields(&mut out, "cpu_share", "", s.cpu_share);
            if s.cpu.is_some() {
                let who = workloads
                    .iter()
                    .find(|w| w.name == s.workload)
                    .map_or("", |w| w.cpu_of);
                let _ = write!(out, ",\"cpu_of\":{}", json_str(who));
            }
            out.push('}');
            out
        })
        .collect();
    let ratios: Vec<String> = ratios
        .iter()
        .map(|r| {
            let mut out = format!(
                "{{\"workload\":{},\"ours\":{},\"anchor\":{},\"ratio\":{},\"best_ratio\":{},\
                 \"ratio_min\":{},\"ratio_max\":{},\"worst_ratio\":{}",
                json_str(r.workload),
                json_str(r.ours),
                json_str(r.anchor),
                json_num(r.ratio),
                json_num(r.best_ratio),
                json_num(r.ratio_min),
                json_num(r.ratio_max),
                json_num(r.worst_ratio)
            );
            if let Some((m, lo, hi)) = r.cpu {
                let _ = write!(
                    out,
                    ",\"cpu_ratio\":{},\"cpu_ratio_min\":{},\"cpu_ratio_max\":{}",
                    json_num(m),
                    json_num(lo),
                    json_num(hi)
                );
            }
            out.push('}');
            out
        })
        .collect();
    format!(
        "{{\"results\":[\n{}\n],\"ratios\":[\n{}\n]}}\n",
        results.join(",\n"),
        ratios.join(",\n")
    )
}

pub fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    target.join("lockbench")
}

/// Writes `results.json` and `chart.svg` to [`out_dir`] and, in smoke mode, checks both.
pub fn write_outputs(workloads: &[&Workload], stats: &[Stats], ratios: &[Ratio], smoke: bool) {
    let dir = out_dir();
    std::fs::create_dir_all(&dir).expect("create the lockbench output directory");
    let json_path = dir.join("results.json");
    std::fs::write(&json_path, to_json(workloads, stats, ratios)).expect("write results.json");
    let svg_path = dir.join("chart.svg");
    if let Err(e) = chart::draw_chart(&svg_path, ratios) {
        eprintln!("lockbench: chart failed: {e}");
        std::process::exit(1);
    }
    println!("\nwrote {} and {}", json_path.display(), svg_path.display());
    if smoke {
        check_output(&json_path, &svg_path, workloads, stats, ratios);
    }
}

/// Smoke mode: the files exist, the JSON names every workload × impl and every ratio, and
/// every workload that measures CPU has it for every impl (where the thread CPU clock exists).
fn check_output(
    json: &Path,
    svg: &Path,
    workloads: &[&Workload],
    stats: &[Stats],
    ratios: &[Ratio],
) {
    let text = std::fs::read_to_string(json).expect("read back results.json");
    let mut problems = Vec::new();
    let clock = thread_cpu_now().is_some();
    if !clock {
        eprintln!("smoke: no thread CPU clock (/proc/thread-self/schedstat): CPU columns empty");
    }
    for s in stats {
        let measures = workloads
            .iter()
            .any(|w| w.name == s.workload && !w.cpu_of.is_empty());
        match s.cpu {
            Some(c) if !(c.median > 0.0 && c.min >= 0.0) => {
                problems.push(format!("bad CPU time for {} / {}", s.workload, s.imp))
            }
            None if measures && clock => {
                problems.push(format!("no CPU time for {} / {}", s.workload, s.imp))
            }
            _ => {}
        }
    }
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
