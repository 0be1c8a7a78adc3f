//! Line and point charts: load curves (latency against output throughput, one line per model,
//! points labelled by load level) and the Pareto chart (tokens/s per user against tokens/s per
//! GPU, each model's front drawn). Same look as the bar charts: plotters' mesh for axes, ticks
//! and titles; lines, points and labels placed in pixels; legend above the panels, never over
//! data; point labels that would overlap another label or point are left out (the CSV has
//! every value).

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::chart::{draw_text, font, title_and_models, Area, DrawResult, Piece, TickAxis};
use super::layout::{nice_ticks, HPos, Rect, TextItem, VPos};
use super::palette;
use super::text::{fit_text, format_tick, text_width};
use super::ModelNames;
use crate::curves::{Family, ParetoPoint};
use crate::metrics::Metric;

/// Size of the curves figure (six latency panels).
pub const CURVES_SIZE: (u32, u32) = (1800, 1060);
/// Size of the Pareto chart.
pub const PARETO_SIZE: (u32, u32) = (1400, 900);

/// The latency panels of the curves figure, in reading order.
pub const CURVE_METRICS: [Metric; 6] = [
    Metric::TtftP50,
    Metric::TtftP99,
    Metric::InterTokenP50,
    Metric::InterTokenP99,
    Metric::TotalLatencyP50,
    Metric::TotalLatencyP99,
];

/// One series: colour, points (x, y, label), whether the points are joined, and which points
/// are drawn filled and labelled (the others hollow and unlabelled).
struct Series {
    color: RGBColor,
    points: Vec<(f64, f64, String, bool)>,
    line: bool,
}

/// Axes with nice ticks from 0, then the series; labels avoid each other and the points.
#[allow(clippy::too_many_arguments)]
fn panel(
    root: &Area,
    area: Rect,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    px: f64,
) -> DrawResult {
    if !title.is_empty() {
        draw_text(
            root,
            &TextItem::new(
                fit_text(title, px + 2.0, true, area.width() - 10.0),
                (area.x0 + area.x1) / 2.0,
                area.y0 + 2.0,
                px + 2.0,
                palette::TEXT,
            )
            .bold()
            .anchor(HPos::Center, VPos::Top),
        )?;
    }
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| (p.0, p.1)))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let xmax_data = all.iter().map(|p| p.0).fold(0.0, f64::max);
    let ymax_data = all.iter().map(|p| p.1).fold(0.0, f64::max);
    let axis = |max: f64| {
        let top = if max > 0.0 { max * 1.12 } else { 1.0 };
        let ticks = nice_ticks(max.max(f64::MIN_POSITIVE), top, 6);
        let end = ticks.last().copied().unwrap_or(top).max(top);
        (end, ticks)
    };
    let (xend, xticks) = axis(xmax_data);
    let (yend, yticks) = axis(ymax_data);
    let tick_w = yticks
        .iter()
        .map(|t| text_width(&format_tick(*t), px, false))
        .fold(0.0, f64::max);
    let left = (px * 1.2 + 6.0 + tick_w + 10.0).ceil();
    let bottom = (px * 2.6 + 18.0).ceil();
    let top = px * 2.2 + 8.0;
    let sub = root.clone().shrink(
        (area.x0.round() as i32, area.y0.round() as i32),
        (area.width().round() as u32, area.height().round() as u32),
    );
    let mut chart = ChartBuilder::on(&sub)
        .margin_top(top.round() as i32)
        .margin_right(16)
        .x_label_area_size(bottom as i32)
        .y_label_area_size(left as i32)
        .build_cartesian_2d(
            TickAxis {
                range: RangedCoordf64::from(0f64..xend),
                ticks: xticks,
            },
            TickAxis {
                range: RangedCoordf64::from(0f64..yend),
                ticks: yticks,
            },
        )?;
    chart
        .configure_mesh()
        .x_label_formatter(&|v| format_tick(*v))
        .y_label_formatter(&|v| format_tick(*v))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(font(px, false).color(&palette::TEXT))
        .axis_desc_style(font(px, false).color(&palette::TEXT))
        .axis_style(palette::AXIS)
        .bold_line_style(palette::GRID)
        .light_line_style(TRANSPARENT)
        .draw()?;
    if all.is_empty() {
        let (cx, cy) = ((area.x0 + area.x1) / 2.0, (area.y0 + area.y1) / 2.0);
        draw_text(
            root,
            &TextItem::new("no data", cx, cy, px, palette::MISSING)
                .anchor(HPos::Center, VPos::Center),
        )?;
        return Ok(());
    }
    // Pixel positions (absolute), to place labels.
    // Pixel positions in the document (the plotting area maps to backend coordinates).
    let plotting = chart.plotting_area().clone();
    let to_px = |x: f64, y: f64| {
        let (px_, py_) = plotting.map_coordinate(&(x, y));
        (f64::from(px_), f64::from(py_))
    };
    let ipt = |(x, y): (f64, f64)| (x.round() as i32, y.round() as i32);
    let plot_box = {
        let (x0, y0) = to_px(0.0, yend);
        let (x1, y1) = to_px(xend, 0.0);
        Rect::new(x0, y0, x1, y1)
    };
    let r = (px * 0.38).max(3.5);
    let mut taken: Vec<Rect> = Vec::new();
    for s in series {
        for p in &s.points {
            let (x, y) = to_px(p.0, p.1);
            taken.push(Rect::new(x - r, y - r, x + r, y + r));
        }
    }
    // The drawn line segments, in pixels (labels keep off them too).
    let mut segments: Vec<((f64, f64), (f64, f64))> = Vec::new();
    for s in series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| s.line || p.3)
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|p| to_px(p.0, p.1))
            .collect();
        segments.extend(pts.windows(2).map(|w| (w[0], w[1])));
        if pts.len() >= 2 {
            let ipts: Vec<(i32, i32)> = pts.iter().map(|p| ipt(*p)).collect();
            root.draw(&PathElement::new(ipts, s.color.stroke_width(3)))?;
        }
        for p in &s.points {
            let style = if p.3 {
                s.color.filled()
            } else {
                s.color.stroke_width(2)
            };
            root.draw(&Circle::new(ipt(to_px(p.0, p.1)), r.round() as i32, style))?;
        }
    }
    for s in series {
        for p in s.points.iter().filter(|p| p.3 && !p.2.is_empty()) {
            let (x, y) = to_px(p.0, p.1);
            let w = text_width(&p.2, px - 1.0, false);
            let h = (px - 1.0) * 1.2;
            // Right-above, right-below, left-above, left-below, above, below, right, left of
            // the point; the first spot clear of every label, point and line wins.
            let spots = [
                (x + r + 2.0, y - r - h, HPos::Left),
                (x + r + 2.0, y + r, HPos::Left),
                (x - r - 2.0 - w, y - r - h, HPos::Right),
                (x - r - 2.0 - w, y + r, HPos::Right),
                (x - w / 2.0, y - r - 3.0 - h, HPos::Left),
                (x - w / 2.0, y + r + 3.0, HPos::Left),
                (x + r + 4.0, y - h / 2.0, HPos::Left),
                (x - r - 4.0 - w, y - h / 2.0, HPos::Right),
            ];
            for (lx, ly, anchor) in spots {
                let b = Rect::new(lx, ly, lx + w, ly + h);
                if plot_box.contains(&b)
                    && !taken.iter().any(|t| t.intersects(&b))
                    && !segments.iter().any(|(a, c)| segment_hits(*a, *c, &b))
                {
                    let tx = if anchor == HPos::Left { lx } else { lx + w };
                    draw_text(
                        root,
                        &TextItem::new(p.2.clone(), tx, ly, px - 1.0, s.color)
                            .anchor(anchor, VPos::Top),
                    )?;
                    taken.push(b);
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Whether the segment a–c passes through the rectangle (sampled every 2 px).
fn segment_hits(a: (f64, f64), c: (f64, f64), r: &Rect) -> bool {
    let len = ((c.0 - a.0).powi(2) + (c.1 - a.1).powi(2)).sqrt();
    let n = (len / 2.0).ceil().clamp(1.0, 10_000.0) as usize;
    (0..=n).any(|i| {
        let t = i as f64 / n as f64;
        let (x, y) = (a.0 + (c.0 - a.0) * t, a.1 + (c.1 - a.1) * t);
        x >= r.x0 && x <= r.x1 && y >= r.y0 && y <= r.y1
    })
}

fn color_of(i: usize) -> RGBColor {
    if i == 0 {
        palette::MODEL1
    } else {
        palette::candidate(i - 1)
    }
}

/// Latency against output throughput for one family: six panels (TTFT, inter-token latency,
/// generation latency; p50 and p99), one line per model, points labelled by load level.
pub fn curves_chart(root: &Area, fam: &Family, names: &ModelNames, per_gpu: bool) -> DrawResult {
    let (w, h) = (f64::from(CURVES_SIZE.0), f64::from(CURVES_SIZE.1));
    let title = format!("Latency vs throughput \u{2014} {}", fam.key);
    let note = vec![vec![Piece::Text(
        "points: load levels (c = concurrency, r/s = request rate); lower and further right is better"
            .to_owned(),
        palette::SUBTLE,
    )]];
    let y = title_and_models(root, w, &title, 22.0, names, 15.0, note)?;
    let gpus = fam.key.par.gpus() as f64;
    let x_desc = if per_gpu {
        "output tokens/s per GPU"
    } else {
        "output tokens/s"
    };
    let (cols, rows) = (3usize, 2usize);
    let top = y + 6.0;
    let (cw, ch) = (w / cols as f64, (h - top) / rows as f64);
    for (i, &m) in CURVE_METRICS.iter().enumerate() {
        let (cx0, cy0) = (cw * (i % cols) as f64, top + ch * (i / cols) as f64);
        let series: Vec<Series> = fam
            .curves
            .iter()
            .enumerate()
            .map(|(j, c)| Series {
                color: color_of(j),
                points: c
                    .points
                    .iter()
                    .filter_map(|p| {
                        let thr = p.get(Metric::Throughput)?;
                        let lat = p.get(m)?;
                        Some((if per_gpu { thr / gpus } else { thr }, lat, p.label(), true))
                    })
                    .collect(),
                line: true,
            })
            .collect();
        panel(
            root,
            Rect::new(cx0 + 8.0, cy0 + 4.0, cx0 + cw - 8.0, cy0 + ch - 6.0),
            &m.title(),
            x_desc,
            m.unit(),
            &series,
            13.0,
        )?;
    }
    Ok(())
}

/// Tokens/s per user against tokens/s per GPU across every configuration and load; each
/// model's Pareto front joined and labelled by configuration.
pub fn pareto_chart(
    root: &Area,
    models: &[(String, Vec<ParetoPoint>)],
    names: &ModelNames,
    scope: &str,
) -> DrawResult {
    let (w, h) = (f64::from(PARETO_SIZE.0), f64::from(PARETO_SIZE.1));
    let title = format!("Pareto: per-user speed vs throughput per GPU \u{2014} {scope}");
    let note = vec![vec![Piece::Text(
        "filled and joined: the model's Pareto front (no other of its points is better on both axes); hollow: dominated"
            .to_owned(),
        palette::SUBTLE,
    )]];
    let y = title_and_models(root, w, &title, 22.0, names, 15.0, note)?;
    let series: Vec<Series> = models
        .iter()
        .enumerate()
        .map(|(j, (_, pts))| {
            let mut points: Vec<(f64, f64, String, bool)> = pts
                .iter()
                .map(|p| (p.per_user, p.per_gpu, p.label.clone(), p.front))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                color: color_of(j),
                points,
                line: false,
            }
        })
        .collect();
    panel(
        root,
        Rect::new(10.0, y + 6.0, w - 10.0, h - 8.0),
        "",
        "output tokens/s per user (1000 / mean TPOT ms)",
        "output tokens/s per GPU",
        &series,
        14.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_through_a_label_box_is_seen() {
        let b = Rect::new(10.0, 10.0, 30.0, 20.0);
        assert!(segment_hits((0.0, 15.0), (40.0, 15.0), &b));
        assert!(segment_hits((0.0, 0.0), (40.0, 40.0), &b));
        assert!(!segment_hits((0.0, 0.0), (40.0, 0.0), &b));
        assert!(!segment_hits((0.0, 30.0), (5.0, 0.0), &b));
        // a zero-length segment inside
        assert!(segment_hits((12.0, 12.0), (12.0, 12.0), &b));
    }
}
