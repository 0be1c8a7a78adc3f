//! A run's timeline (`timeline.png` / `.svg` in the run folder): panels stacked over one shared
//! x axis (seconds since the run's start) — requests in flight (client) against the server's
//! running and waiting requests, KV-cache usage, output tokens/s. Same look as the compare
//! charts (fonts, colours, grid, embedded DejaVu Sans when rasterised); each panel's legend sits
//! in its header strip, above the plot area, so it never covers data.
//!
//! Every series is drawn as steps (a value holds until the next sample): the lines are
//! axis-aligned, which the rasteriser draws crisply, and a gauge sampled once a second is shown
//! as what is known of it.

use plotters::prelude::*;

use super::chart::{draw_text, font, render};
use super::layout::{HPos, TextItem, VPos};
use super::palette;
use super::text::{format_tick, text_width};

/// Width and height of the figure (the height grows with the number of panels).
pub const WIDTH: u32 = 1200;
const PANEL_H: u32 = 210;
const TITLE_H: u32 = 56;
const HEADER_H: f64 = 30.0;
const X_AXIS_H: u32 = 50;

/// One line: `(t, value)` samples, each holding until the next.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// One panel: a title, the y axis' unit, its lines.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub unit: String,
    pub series: Vec<Series>,
    /// A fixed top of the y axis (KV usage: 1.0); else from the data.
    pub ymax: Option<f64>,
}

/// Colours of the timeline's lines (the compare charts' palette).
pub const CLIENT: RGBColor = palette::MODEL1;
pub const RUNNING: RGBColor = palette::MODEL2;
pub const WAITING: RGBColor = palette::CANDIDATES[2];
pub const KV: RGBColor = palette::CANDIDATES[1];
pub const TOKENS: RGBColor = palette::MODEL1;

fn step_points(points: &[(f64, f64)], t_end: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2 + 1);
    for (i, &(t, v)) in points.iter().enumerate() {
        if i > 0 {
            out.push((t, points[i - 1].1));
        }
        out.push((t, v));
    }
    if let Some(&(t, v)) = points.last() {
        if t < t_end {
            out.push((t_end, v));
        }
    }
    out
}

/// A round top for the y axis above `max`.
fn nice_max(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(max.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|v| *v >= max * 1.05)
        .unwrap_or(max * 1.1)
}

/// The figure as SVG: `title` over the panels, x from `t0` to `t_end` seconds.
pub fn timeline_svg(title: &str, panels: &[Panel], t0: f64, t_end: f64) -> String {
    let n = panels.len().max(1) as u32;
    let height = TITLE_H + n * PANEL_H + X_AXIS_H;
    let t0 = if t0.is_finite() { t0 } else { 0.0 };
    let t_end = if t_end.is_finite() && t_end > t0 {
        t_end
    } else {
        t0 + 1.0
    };
    render((WIDTH, height), |root| {
        let t = TextItem::new(
            super::text::fit_text(title, 18.0, true, f64::from(WIDTH) - 40.0),
            f64::from(WIDTH) / 2.0,
            16.0,
            18.0,
            palette::TEXT,
        )
        .bold()
        .anchor(HPos::Center, VPos::Top);
        draw_text(root, &t)?;
        for (i, p) in panels.iter().enumerate() {
            let last = i + 1 == panels.len();
            let y0 = TITLE_H + i as u32 * PANEL_H;
            let h = PANEL_H + if last { X_AXIS_H } else { 0 };
            let area = root.clone().shrink((0, y0 as i32), (WIDTH, h));
            draw_panel(&area, p, (t0, t_end), last)?;
        }
        Ok(())
    })
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    p: &Panel,
    (t0, t_end): (f64, f64),
    last: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let left = 90.0;
    // Header: the title, then the legend, left to right, above the plot area.
    let mut x = left;
    let title = TextItem::new(p.title.clone(), x, 8.0, 14.0, palette::TEXT)
        .bold()
        .anchor(HPos::Left, VPos::Top);
    x += title.width() + 24.0;
    draw_text(area, &title)?;
    for s in &p.series {
        area.draw(&Rectangle::new(
            [(x as i32, 14), (x as i32 + 22, 17)],
            s.color.filled(),
        ))?;
        x += 28.0;
        let t = TextItem::new(s.name.clone(), x, 8.0, 13.25, palette::TEXT)
            .anchor(HPos::Left, VPos::Top);
        x += text_width(&s.name, 13.25, false) + 22.0;
        draw_text(area, &t)?;
    }
    let data_max = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|q| q.1))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let ymax = p.ymax.unwrap_or_else(|| nice_max(data_max));
    let mut chart = ChartBuilder::on(area)
        .margin_top(HEADER_H as i32)
        .margin_right(30)
        .margin_bottom(6)
        .x_label_area_size(if last { X_AXIS_H as i32 } else { 0 })
        .y_label_area_size(left as i32)
        .build_cartesian_2d(t0..t_end, 0f64..ymax)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .y_labels(5)
        .y_label_formatter(&|v| format_tick(*v))
        .y_desc(p.unit.as_str())
        .label_style(font(13.25, false).color(&palette::TEXT))
        .axis_desc_style(font(14.0, false).color(&palette::TEXT))
        .axis_style(palette::AXIS)
        .bold_line_style(palette::GRID)
        .light_line_style(TRANSPARENT);
    if last {
        mesh.x_labels(12)
            .x_label_formatter(&|v| format_tick(*v))
            .x_desc("seconds since the run's start");
    } else {
        mesh.x_labels(0);
    }
    mesh.draw()?;
    for s in &p.series {
        chart.draw_series(std::iter::once(PathElement::new(
            step_points(&s.points, t_end),
            s.color.stroke_width(2),
        )))?;
    }
    if p.series.iter().all(|s| s.points.is_empty()) {
        let note = TextItem::new(
            "no data (server metrics not available)",
            f64::from(WIDTH) / 2.0,
            HEADER_H + 60.0,
            13.25,
            palette::SUBTLE,
        )
        .anchor(HPos::Center, VPos::Center);
        draw_text(area, &note)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_hold_each_value_until_the_next_sample() {
        assert_eq!(
            step_points(&[(0.0, 1.0), (1.0, 3.0)], 2.0),
            vec![(0.0, 1.0), (1.0, 1.0), (1.0, 3.0), (2.0, 3.0)]
        );
        assert_eq!(nice_max(7.3), 8.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(100.0), 120.0);
    }

    #[test]
    fn the_legend_is_in_the_header_and_every_panel_is_drawn() {
        let p = |title: &str| Panel {
            title: title.into(),
            unit: "requests".into(),
            series: vec![Series {
                name: "client in flight".into(),
                color: CLIENT,
                points: vec![(0.0, 1.0), (2.0, 4.0)],
            }],
            ymax: None,
        };
        let svg = timeline_svg("m — run_x", &[p("Requests"), p("KV")], 0.0, 10.0);
        assert!(svg.contains("Requests") && svg.contains("KV"));
        assert!(svg.contains("seconds since the run"));
        assert!(
            svg.matches("client in flight").count() >= 2,
            "one legend per panel"
        );
        let png = super::super::Rasterizer::new().svg_to_png(&svg).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
    }
}
