//! `chart.svg`: the ratios ours / anchor (median wall time, and waiter CPU time where measured)
//! as bars on a log scale (plotters' SVG backend).

use std::path::Path;

use crate::harness::{target_of, Metric, Ratio};

pub fn draw_chart(path: &Path, ratios: &[Ratio]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    // One bar per ratio of median wall times, and one more per ratio of waiter CPU times.
    let mut bars: Vec<(String, f64, Option<f64>)> = Vec::new();
    for r in ratios {
        let who = if r.ours == "pushpull" {
            String::new()
        } else {
            format!("{} ", r.ours)
        };
        bars.push((
            format!("{}: {who}vs {}", r.workload, r.anchor),
            r.ratio,
            target_of(r, Metric::Median),
        ));
        if let Some((cpu, _, _)) = r.cpu {
            bars.push((
                format!("{} (CPU): {who}vs {}", r.workload, r.anchor),
                cpu,
                target_of(r, Metric::Cpu),
            ));
        }
    }
    let n = bars.len() as u32;
    let (lo, hi) = (0.002f64, 20f64);
    let root = SVGBackend::new(path, ((n * 28).max(1200), 840)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "pushpull / anchor, median ns/op or (CPU) waiter CPU ns/op (lower is better; red line = parity, black tick = target)",
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
