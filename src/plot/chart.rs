//! Drawing the laid-out charts with plotters' SVG backend: axes, grid and tick labels come from
//! plotters' mesh; bars, error bars and labels are plotters elements placed at the pixel
//! positions computed in [`super::layout`].

use std::error::Error;

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{self, Pos};
use plotters::style::FontTransform;

use super::layout::{layout_panel_groups, HPos, PanelLayout, Rect, TextItem, Theme, VPos};
use super::palette;
use super::text::{fit_text, format_tick, text_width};
use super::ModelNames;
use crate::compare::{Aggregate, MultiConfig, Pair};
use crate::curves::CapacityPair;
use crate::metrics::Metric;
use crate::results::FieldValue;

/// The font family written into the SVG; the rasteriser resolves it to the embedded DejaVu Sans,
/// other SVG viewers to their sans-serif font.
pub const FONT_FAMILY: &str = "DejaVu Sans, sans-serif";

pub(super) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
pub(super) type DrawResult = Result<(), Box<dyn Error>>;

/// Size of the single-metric chart.
pub const METRIC_SIZE: (u32, u32) = (1200, 700);
/// Size of the combined figure.
pub const COMBINED_SIZE: (u32, u32) = (2000, 1040);

/// Renders with `draw` into a `size` SVG document. plotters cannot fail writing into a string,
/// but should anything go wrong the document says so instead of panicking.
pub fn render(size: (u32, u32), draw: impl FnOnce(&Area) -> DrawResult) -> String {
    let mut svg = String::new();
    let outcome = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let r = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|_| draw(&root));
        r.and_then(|_| root.present().map_err(Into::into))
    };
    match outcome {
        Ok(()) => svg,
        Err(e) => {
            let msg = format!("cannot draw chart: {e}");
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                let t = TextItem::new(msg, 20.0, 20.0, 16.0, palette::TEXT)
                    .anchor(HPos::Left, VPos::Top);
                let _ = root.fill(&WHITE);
                let _ = draw_text(&root, &t);
                let _ = root.present();
            }
            svg
        }
    }
}

/// The plotters font size that makes its SVG backend write `font-size="{px}"`: it writes
/// size / 1.24, and px × 1.24 / 1.24 is not always px again in floating point ("13.000000000000002").
fn plotters_size(px: f64) -> f64 {
    let s = px * 1.24;
    (0..16u64)
        .flat_map(|k| {
            [
                f64::from_bits(s.to_bits().wrapping_add(k)),
                f64::from_bits(s.to_bits().wrapping_sub(k)),
            ]
        })
        .find(|c| *c / 1.24 == px)
        .unwrap_or(s)
}

pub(crate) fn font(px: f64, bold: bool) -> FontDesc<'static> {
    FontDesc::new(
        FontFamily::Name(FONT_FAMILY),
        plotters_size(px),
        if bold {
            FontStyle::Bold
        } else {
            FontStyle::Normal
        },
    )
}

pub fn draw_text(root: &Area, t: &TextItem) -> DrawResult {
    let font = font(t.px, t.bold);
    let h = match t.h {
        HPos::Left => text_anchor::HPos::Left,
        HPos::Center => text_anchor::HPos::Center,
        HPos::Right => text_anchor::HPos::Right,
    };
    let v = match t.v {
        VPos::Top => text_anchor::VPos::Top,
        VPos::Center => text_anchor::VPos::Center,
        VPos::Bottom => text_anchor::VPos::Bottom,
    };
    let mut style = font.color(&t.color).pos(Pos::new(h, v));
    if t.rotated {
        style = style.transform(FontTransform::Rotate270);
    }
    root.draw(&Text::new(
        t.text.as_str(),
        (t.x.round() as i32, t.y.round() as i32),
        style,
    ))?;
    Ok(())
}

fn fill_rect(root: &Area, r: Rect, color: RGBColor) -> DrawResult {
    let (x0, y0, x1, y1) = (
        r.x0.round() as i32,
        r.y0.round() as i32,
        r.x1.round() as i32,
        r.y1.round() as i32,
    );
    root.draw(&Rectangle::new([(x0, y0), (x1, y1)], color.filled()))?;
    Ok(())
}

fn line(root: &Area, a: (f64, f64), b: (f64, f64), color: RGBColor, width: u32) -> DrawResult {
    let p = |(x, y): (f64, f64)| (x.round() as i32, y.round() as i32);
    root.draw(&PathElement::new(
        vec![p(a), p(b)],
        color.stroke_width(width),
    ))?;
    Ok(())
}

/// A linear axis from 0 with the tick values chosen by the layout (plotters'
/// `with_key_points` would do, but it loses the label formatter).
#[derive(Clone)]
pub(super) struct TickAxis {
    pub(super) range: RangedCoordf64,
    pub(super) ticks: Vec<f64>,
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.range.map(value, limit)
    }
    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }
    fn range(&self) -> Range<f64> {
        self.range.range()
    }
}

/// Axes, grid and ticks (plotters' mesh), then the bars, error bars and labels of `l`.
pub fn draw_panel(
    root: &Area,
    l: &PanelLayout,
    theme: &Theme,
    x_desc: &str,
    y_desc: &str,
) -> DrawResult {
    let a = l.area;
    let panel = root.clone().shrink(
        (a.x0.round() as i32, a.y0.round() as i32),
        (a.width().round() as u32, a.height().round() as u32),
    );
    let n = l.groups.max(1);
    let mut chart = ChartBuilder::on(&panel)
        .margin_top(l.top().round() as i32)
        .margin_right(l.right().round() as i32)
        .x_label_area_size(l.bottom().round() as i32)
        .y_label_area_size(l.left().round() as i32)
        .build_cartesian_2d(
            0f64..n as f64,
            TickAxis {
                range: RangedCoordf64::from(0f64..l.ymax),
                ticks: l.ticks.clone(),
            },
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_label_formatter(&|v| format_tick(*v))
        .y_desc(y_desc)
        .x_desc(x_desc)
        .label_style(font(theme.tick_px, false).color(&palette::TEXT))
        .axis_desc_style(font(theme.axis_px, false).color(&palette::TEXT))
        .axis_style(palette::AXIS)
        .bold_line_style(palette::GRID)
        .light_line_style(TRANSPARENT)
        .draw()?;

    for bar in &l.bars {
        fill_rect(root, bar.rect, bar.color)?;
    }
    for bar in &l.bars {
        if let Some((x, y_min, y_max, cap)) = bar.whisker {
            line(root, (x, y_min), (x, y_max), palette::WHISKER, 2)?;
            line(
                root,
                (x - cap, y_min),
                (x + cap, y_min),
                palette::WHISKER,
                2,
            )?;
            line(
                root,
                (x - cap, y_max),
                (x + cap, y_max),
                palette::WHISKER,
                2,
            )?;
        }
    }
    for t in &l.texts {
        draw_text(root, t)?;
    }
    Ok(())
}

/// A piece of a legend line.
pub enum Piece {
    Swatch(RGBColor),
    Text(String, RGBColor),
    Bold(String, RGBColor),
    /// Start a new line.
    Break,
}

/// Sets `items` (each a short run of pieces kept together) in lines between `x0` and `x1`
/// starting at `y` (top), centred or left-aligned; returns the y below the last line.
pub fn draw_legend(
    root: &Area,
    items: &[Vec<Piece>],
    px: f64,
    x0: f64,
    x1: f64,
    y: f64,
    centred: bool,
) -> Result<f64, Box<dyn Error>> {
    let line_h = px * 1.6;
    let sw = (px * 0.85).round();
    let item_gap = px * 1.4;
    let piece_w = |p: &Piece| match p {
        Piece::Swatch(_) => sw + px * 0.4,
        Piece::Text(s, _) => text_width(s, px, false),
        Piece::Bold(s, _) => text_width(s, px, true),
        Piece::Break => 0.0,
    };
    // Break into lines.
    let mut lines: Vec<Vec<&Vec<Piece>>> = vec![vec![]];
    let mut w = 0.0;
    for item in items {
        let iw: f64 = item.iter().map(piece_w).sum();
        if matches!(item.first(), Some(Piece::Break)) {
            lines.push(vec![]);
            w = 0.0;
            continue;
        }
        let cur = lines.last().map_or(0, |l| l.len());
        if cur > 0 && w + item_gap + iw > x1 - x0 {
            lines.push(vec![]);
            w = 0.0;
        }
        if let Some(l) = lines.last_mut() {
            w += if l.is_empty() { iw } else { item_gap + iw };
            l.push(item);
        }
    }
    let mut y = y;
    for l in lines.iter().filter(|l| !l.is_empty()) {
        let total: f64 = l
            .iter()
            .map(|i| i.iter().map(piece_w).sum::<f64>())
            .sum::<f64>()
            + item_gap * (l.len() - 1) as f64;
        let mut x = if centred { (x0 + x1 - total) / 2.0 } else { x0 };
        let mid = y + line_h / 2.0;
        for item in l {
            for p in item.iter() {
                match p {
                    Piece::Swatch(c) => fill_rect(
                        root,
                        Rect::new(x, mid - sw / 2.0, x + sw, mid + sw / 2.0),
                        *c,
                    )?,
                    Piece::Text(s, c) => draw_text(
                        root,
                        &TextItem::new(s.clone(), x, mid, px, *c).anchor(HPos::Left, VPos::Center),
                    )?,
                    Piece::Bold(s, c) => draw_text(
                        root,
                        &TextItem::new(s.clone(), x, mid, px, *c)
                            .bold()
                            .anchor(HPos::Left, VPos::Center),
                    )?,
                    Piece::Break => {}
                }
                x += piece_w(p);
            }
            x += item_gap;
        }
        y += line_h;
    }
    Ok(y)
}

fn plain(s: impl Into<String>) -> Piece {
    Piece::Text(s.into(), palette::TEXT)
}

fn subtle(s: impl Into<String>) -> Piece {
    Piece::Text(s.into(), palette::SUBTLE)
}

/// A chart's bold title (centred at the top) and its model legend below it; returns the y
/// below the legend.
pub(super) fn title_and_models(
    root: &Area,
    w: f64,
    title: &str,
    title_px: f64,
    labels: &ModelNames,
    legend_px: f64,
    extra: Vec<Vec<Piece>>,
) -> Result<f64, Box<dyn Error>> {
    draw_text(
        root,
        &TextItem::new(
            fit_text(title, title_px, true, w - 40.0),
            w / 2.0,
            12.0,
            title_px,
            palette::TEXT,
        )
        .bold()
        .anchor(HPos::Center, VPos::Top),
    )?;
    let mut items = model_items(labels, legend_px, w / 2.0 - 60.0);
    items.extend(extra);
    draw_legend(
        root,
        &items,
        legend_px,
        20.0,
        w - 20.0,
        title_px * 2.0,
        true,
    )
}

pub(super) fn model_items(labels: &ModelNames, px: f64, max_w: f64) -> Vec<Vec<Piece>> {
    let name = |s: &str, role: &str| fit_text(&format!("{s} ({role})"), px, false, max_w);
    let mut v = vec![vec![
        Piece::Swatch(palette::MODEL1),
        plain(name(labels.model1, "model 1")),
    ]];
    for (j, c) in labels.candidates.iter().enumerate() {
        v.push(vec![
            Piece::Swatch(palette::candidate(j)),
            plain(name(c, &format!("model {}", j + 2))),
        ]);
    }
    v
}

fn colour_key_items(candidates: usize, repeats: bool, intervals: bool) -> Vec<Vec<Piece>> {
    let how = if candidates > 1 {
        "% above each bar: that model vs model 1"
    } else {
        "% above each pair: model 2 vs model 1"
    };
    let mut v = vec![
        vec![subtle(how)],
        vec![Piece::Swatch(palette::BETTER), subtle("better")],
        vec![Piece::Swatch(palette::WORSE), subtle("worse")],
        vec![
            Piece::Swatch(palette::NA),
            subtle("n/a (missing, or model 1 is 0)"),
        ],
    ];
    if intervals {
        v.insert(
            3,
            vec![
                Piece::Swatch(palette::NOISE),
                subtle("\u{2248} within noise (95 % CI includes 0)"),
            ],
        );
    }
    if repeats {
        v.push(vec![subtle(
            "bars: mean, whiskers: min\u{2013}max of n runs",
        )]);
    }
    v
}

fn has_intervals(cmp: &MultiConfig, metrics: &[Metric]) -> bool {
    metrics
        .iter()
        .flat_map(|m| cmp.groups(*m))
        .flatten()
        .any(|p| p.ci.is_some())
}

fn direction(metric: Metric) -> &'static str {
    if metric.higher_is_better() {
        "higher is better"
    } else {
        "lower is better"
    }
}

fn has_repeats(cmp: &MultiConfig, metrics: &[Metric]) -> bool {
    metrics
        .iter()
        .flat_map(|m| cmp.groups(*m))
        .flatten()
        .flat_map(|p| [p.model1, p.model2])
        .flatten()
        .any(|a| a.n > 1)
}

pub fn metric_chart(
    root: &Area,
    cmp: &MultiConfig,
    metric: Metric,
    labels: &ModelNames,
) -> DrawResult {
    let (w, h) = (f64::from(METRIC_SIZE.0), f64::from(METRIC_SIZE.1));
    let title = format!(
        "{} ({}) \u{2014} {}",
        metric.title(),
        metric.unit(),
        cmp.par
    );
    let title = fit_text(&title, 20.0, true, w - 40.0);
    draw_text(
        root,
        &TextItem::new(title, w / 2.0, 12.0, 20.0, palette::TEXT)
            .bold()
            .anchor(HPos::Center, VPos::Top),
    )?;
    let y = draw_legend(
        root,
        &model_items(labels, 14.0, w / 2.0 - 60.0),
        14.0,
        20.0,
        w - 20.0,
        40.0,
        true,
    )?;
    let mut notes = vec![vec![Piece::Bold(
        format!("{}.", capitalise(direction(metric))),
        palette::SUBTLE,
    )]];
    notes.extend(colour_key_items(
        labels.candidates.len(),
        has_repeats(cmp, &[metric]),
        has_intervals(cmp, &[metric]),
    ));
    let y = draw_legend(root, &notes, 12.0, 20.0, w - 20.0, y, true)?;
    let area = Rect::new(12.0, y + 4.0, w - 10.0, h - 6.0);
    let l = layout_panel_groups(area, &Theme::LARGE, metric, &cmp.xs, cmp.groups(metric));
    draw_panel(root, &l, &Theme::LARGE, &cmp.x_name, metric.unit())
}

pub fn combined_chart(root: &Area, cmp: &MultiConfig, labels: &ModelNames) -> DrawResult {
    let (w, h) = (f64::from(COMBINED_SIZE.0), f64::from(COMBINED_SIZE.1));
    let title = format!(
        "{} vs {} \u{2014} {}",
        labels.model1,
        labels.candidates.join(", "),
        cmp.par
    );
    let title = fit_text(&title, 22.0, true, w - 40.0);
    draw_text(
        root,
        &TextItem::new(title, w / 2.0, 12.0, 22.0, palette::TEXT)
            .bold()
            .anchor(HPos::Center, VPos::Top),
    )?;
    let (cols, rows) = (4usize, 2usize);
    let top = 48.0;
    let (cw, ch) = (w / cols as f64, (h - top) / rows as f64);
    for (i, &metric) in Metric::ALL.iter().enumerate() {
        let (cx0, cy0) = (cw * (i % cols) as f64, top + ch * (i / cols) as f64);
        let head = format!("{} ({})", metric.title(), metric.unit());
        let note = direction(metric);
        let sep = 8.0;
        let (hw, nw) = (text_width(&head, 14.0, true), text_width(note, 12.0, false));
        let x = cx0 + (cw - hw - sep - nw) / 2.0;
        draw_text(
            root,
            &TextItem::new(head, x, cy0 + 12.0, 14.0, palette::TEXT)
                .bold()
                .anchor(HPos::Left, VPos::Center),
        )?;
        draw_text(
            root,
            &TextItem::new(note, x + hw + sep, cy0 + 12.0, 12.0, palette::SUBTLE)
                .anchor(HPos::Left, VPos::Center),
        )?;
        let area = Rect::new(cx0 + 6.0, cy0 + 26.0, cx0 + cw - 8.0, cy0 + ch - 6.0);
        let l = layout_panel_groups(area, &Theme::SMALL, metric, &cmp.xs, cmp.groups(metric));
        draw_panel(root, &l, &Theme::SMALL, &cmp.x_name, metric.unit())?;
    }
    // The eighth cell: legend and how to read the labels.
    let (cx0, cy0) = (cw * 3.0, top + ch);
    let (x0, x1) = (cx0 + 30.0, cx0 + cw - 20.0);
    let mut items = Vec::new();
    for item in model_items(labels, 15.5, x1 - x0 - 30.0) {
        items.push(item);
        items.push(vec![Piece::Break]);
    }
    let y = draw_legend(root, &items, 15.5, x0, x1, cy0 + ch * 0.22, false)?;
    let mut notes: Vec<Vec<Piece>> = Vec::new();
    for (k, item) in colour_key_items(
        labels.candidates.len(),
        has_repeats(cmp, &Metric::ALL),
        has_intervals(cmp, &Metric::ALL),
    )
    .into_iter()
    .enumerate()
    {
        if k != 0 {
            notes.push(vec![Piece::Break]);
        }
        notes.push(item);
    }
    notes.push(vec![Piece::Break]);
    notes.push(vec![subtle(
        "\u{201c}missing\u{201d}: no result for that model",
    )]);
    draw_legend(root, &notes, 12.5, x0, x1, y + 12.0, false)?;
    Ok(())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Two models' capacities under one SLO: two bars per configuration (the max load meeting the
/// SLO), the % difference above each pair coloured as on the metric charts (more capacity is
/// better).
pub fn capacity_chart(root: &Area, pair: &CapacityPair, labels: &ModelNames) -> DrawResult {
    let (w, h) = (f64::from(METRIC_SIZE.0), f64::from(METRIC_SIZE.1));
    let what = if pair.axis == "request_rate" {
        "max request rate meeting the SLO (requests/s)"
    } else {
        "max concurrency meeting the SLO"
    };
    let title = format!("Capacity \u{2014} {what}");
    let y = title_and_models(root, w, &title, 20.0, labels, 14.0, Vec::new())?;
    let mut notes = vec![vec![subtle(fit_text(
        &format!("SLO: {}", pair.slo),
        13.0,
        false,
        w - 60.0,
    ))]];
    notes.extend(colour_key_items(labels.candidates.len(), false, false));
    let y = draw_legend(root, &notes, 12.0, 20.0, w - 20.0, y, true)?;
    let one = |v: Option<f64>| {
        v.map(|mean| Aggregate {
            mean,
            min: mean,
            max: mean,
            n: 1,
        })
    };
    let xs: Vec<FieldValue> = pair
        .configs
        .iter()
        .map(|r| FieldValue::Text(r.label.clone()))
        .collect();
    let groups: Vec<Vec<Pair>> = pair
        .configs
        .iter()
        .map(|r| {
            vec![Pair {
                model1: one(r.model1),
                model2: one(r.model2),
                ci: None,
            }]
        })
        .collect();
    let area = Rect::new(12.0, y + 4.0, w - 10.0, h - 6.0);
    // Throughput's direction and number format: more is better.
    let l = layout_panel_groups(area, &Theme::LARGE, Metric::Throughput, &xs, &groups);
    let unit = if pair.axis == "request_rate" {
        "requests/s"
    } else {
        "concurrent requests"
    };
    draw_panel(root, &l, &Theme::LARGE, "configuration", unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_sizes_come_out_exact() {
        let themes = [Theme::LARGE, Theme::SMALL];
        let theme_sizes = themes
            .iter()
            .flat_map(|t| [t.tick_px, t.axis_px, t.value_px, t.pct_px, t.small_px]);
        for px in theme_sizes.chain([12.0, 12.5, 14.0, 15.5, 16.0, 20.0, 22.0]) {
            assert_eq!(format!("{}", plotters_size(px) / 1.24), format!("{px}"));
        }
    }
}
