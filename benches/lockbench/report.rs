//! Output: the markdown tables on stdout, `results.json`, and the smoke-mode check of both
//! written files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::harness::{target_of, Ratio, Stats};

pub fn print_table(workloads: &[(&str, &str)], stats: &[Stats], ratios: &[Ratio]) {
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

pub fn to_json(stats: &[Stats], ratios: &[Ratio]) -> String {
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

pub fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    target.join("lockbench")
}

/// Smoke mode: the files exist, and the JSON names every workload × impl and every ratio.
pub fn check_output(json: &Path, svg: &Path, stats: &[Stats], ratios: &[Ratio]) {
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
