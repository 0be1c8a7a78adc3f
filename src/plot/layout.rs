//! Where everything of one chart panel goes, in pixels, computed before anything is drawn: the
//! y range (from 0, with headroom for the labels), the bars, error bars and every label. Kept
//! free of drawing so that tests can check it (no bar for a missing value, no label overlapping
//! another or leaving the plot).

use plotters::style::RGBColor;

use super::palette;
use super::text::{format_pct, format_tick, format_value, text_width};
use crate::compare::{Aggregate, Pair};
use crate::metrics::{Metric, Verdict};
use crate::results::FieldValue;

/// An axis-aligned box in pixels (y grows downwards).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    pub fn new(x0: f64, y0: f64, x1: f64, y1: f64) -> Rect {
        Rect { x0, y0, x1, y1 }
    }
    pub fn width(&self) -> f64 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> f64 {
        self.y1 - self.y0
    }
    pub fn intersects(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
    pub fn contains(&self, o: &Rect) -> bool {
        o.x0 >= self.x0 && o.x1 <= self.x1 && o.y0 >= self.y0 && o.y1 <= self.y1
    }
}

/// Horizontal anchor of a text: where `x` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HPos {
    Left,
    Center,
    Right,
}

/// Vertical anchor of a text: where `y` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VPos {
    Top,
    Center,
    Bottom,
}

/// One line of text, placed the way plotters' SVG backend places it: `(x, y)` is the anchor
/// point, `h`/`v` the anchor; `rotated` turns it to read upwards (rotation about the anchor).
#[derive(Debug, Clone, PartialEq)]
pub struct TextItem {
    pub text: String,
    pub x: f64,
    pub y: f64,
    pub px: f64,
    pub bold: bool,
    pub color: RGBColor,
    pub h: HPos,
    pub v: VPos,
    pub rotated: bool,
}

impl TextItem {
    pub fn new(text: impl Into<String>, x: f64, y: f64, px: f64, color: RGBColor) -> TextItem {
        TextItem {
            text: text.into(),
            x,
            y,
            px,
            bold: false,
            color,
            h: HPos::Left,
            v: VPos::Bottom,
            rotated: false,
        }
    }
    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }
    pub fn anchor(mut self, h: HPos, v: VPos) -> Self {
        self.h = h;
        self.v = v;
        self
    }
    pub fn rotated(mut self) -> Self {
        self.rotated = true;
        self
    }

    pub fn width(&self) -> f64 {
        text_width(&self.text, self.px, self.bold)
    }

    /// The box the glyphs occupy. The SVG backend shifts the baseline with `dy`: 0.76 em for
    /// top, 0.5 ex (= 0.25 em in usvg) for centre, −0.5 ex for bottom; DejaVu Sans's glyphs
    /// reach 0.76 em above the baseline and 0.24 em below.
    pub fn bbox(&self) -> Rect {
        let w = self.width();
        let (u0, u1) = match self.h {
            HPos::Left => (0.0, w),
            HPos::Center => (-w / 2.0, w / 2.0),
            HPos::Right => (-w, 0.0),
        };
        let baseline = match self.v {
            VPos::Top => 0.76,
            VPos::Center => 0.25,
            VPos::Bottom => -0.25,
        } * self.px;
        let (v0, v1) = (baseline - 0.76 * self.px, baseline + 0.24 * self.px);
        if self.rotated {
            // Rotated by 270°: text direction u goes up the screen, v goes right.
            Rect::new(self.x + v0, self.y - u1, self.x + v1, self.y - u0)
        } else {
            Rect::new(self.x + u0, self.y + v0, self.x + u1, self.y + v1)
        }
    }
}

/// Font sizes (SVG px) and proportions of one chart panel. Sizes are ones plotters can write
/// exactly (13 and 15 come out as "13.000000000000002"; see `chart::plotters_size`).
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub tick_px: f64,
    pub axis_px: f64,
    pub value_px: f64,
    pub pct_px: f64,
    pub small_px: f64,
    pub max_bar_w: f64,
}

impl Theme {
    /// The single-metric chart.
    pub const LARGE: Theme = Theme {
        tick_px: 13.25,
        axis_px: 14.0,
        value_px: 13.25,
        pct_px: 15.5,
        small_px: 11.0,
        max_bar_w: 110.0,
    };
    /// A panel of the combined figure.
    pub const SMALL: Theme = Theme {
        tick_px: 11.0,
        axis_px: 11.5,
        value_px: 11.0,
        pct_px: 12.5,
        small_px: 10.0,
        max_bar_w: 64.0,
    };
}

/// A bar (never for a missing value) with its optional min–max error bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub rect: Rect,
    pub color: RGBColor,
    /// (x, y of min, y of max, half width of the caps), when the value is a mean of n > 1 runs.
    pub whisker: Option<(f64, f64, f64, f64)>,
}

/// Everything one panel draws, in absolute pixels.
#[derive(Debug, Clone)]
pub struct PanelLayout {
    /// The whole panel, axis labels included.
    pub area: Rect,
    /// The plotting area (inside the axes).
    pub plot: Rect,
    /// Number of bar groups (x positions).
    pub groups: usize,
    pub ymax: f64,
    pub ticks: Vec<f64>,
    pub bars: Vec<Bar>,
    /// Value, "n=…", "missing", % and group labels.
    pub texts: Vec<TextItem>,
    /// The % labels, in x order (also contained in `texts`).
    pub pct_labels: Vec<TextItem>,
}

impl PanelLayout {
    pub fn left(&self) -> f64 {
        self.plot.x0 - self.area.x0
    }
    pub fn bottom(&self) -> f64 {
        self.area.y1 - self.plot.y1
    }
    pub fn top(&self) -> f64 {
        self.plot.y0 - self.area.y0
    }
    pub fn right(&self) -> f64 {
        self.area.x1 - self.plot.x1
    }
}

/// The text and colour of the % label of a pair: grey "≈ +0.5%" when its 95 % interval
/// includes 0, green/red otherwise.
pub fn pct_label(pair: &Pair, metric: Metric) -> (String, RGBColor) {
    if let (Some(false), Some(d)) = (pair.significant(), pair.diff_pct()) {
        return (format!("\u{2248} {}", format_pct(d)), palette::NOISE);
    }
    match (pair.verdict(metric), pair.diff_pct()) {
        (Verdict::Better, Some(d)) => (format_pct(d), palette::BETTER),
        (Verdict::Worse, Some(d)) => (format_pct(d), palette::WORSE),
        (Verdict::Same, Some(d)) => (format_pct(d), palette::SAME),
        _ => ("n/a".to_owned(), palette::NA),
    }
}

/// Evenly spaced "nice" ticks (1, 2, 2.5, 5 × 10^k) from 0 up to `ymax`, about `target` of
/// them up to `data_max`.
pub fn nice_ticks(data_max: f64, ymax: f64, target: usize) -> Vec<f64> {
    if !(ymax.is_finite() && ymax > 0.0 && data_max.is_finite() && data_max > 0.0) {
        return vec![0.0];
    }
    let raw = data_max / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    if !(step.is_finite() && step > 0.0) {
        // a subnormal maximum (5e-324): the step underflows to 0 and the ticks never end
        return vec![0.0];
    }
    (0..)
        .map(|i| i as f64 * step)
        .take_while(|t| *t <= ymax * (1.0 + 1e-9))
        .take(1000)
        .collect()
}

const GAP: f64 = 3.0;
const PCT_GAP: f64 = 6.0;
const TICK_LABEL_DIST: f64 = 10.0; // plotters: twice the tick size (5)

/// Lays out one panel of `metric` in `area` (absolute pixels): two bars per x value.
pub fn layout_panel(
    area: Rect,
    theme: &Theme,
    metric: Metric,
    xs: &[FieldValue],
    pairs: &[Pair],
) -> PanelLayout {
    let groups: Vec<Vec<Pair>> = pairs.iter().map(|p| vec![*p]).collect();
    layout_panel_groups(area, theme, metric, xs, &groups)
}

/// Lays out one panel with 1 + k bars per x value: `groups[i]` holds each of the k
/// candidates' pairs with model 1 (all sharing model 1's value). With k = 1 the % label sits
/// above the pair, as in [`layout_panel`]; with k ≥ 2 each candidate's label sits above its own
/// bar.
pub fn layout_panel_groups(
    area: Rect,
    theme: &Theme,
    metric: Metric,
    xs: &[FieldValue],
    groups: &[Vec<Pair>],
) -> PanelLayout {
    let top = theme.pct_px * 0.5;
    let right = 14.0;
    let n_row = if has_repeats(groups) {
        theme.small_px + 4.0
    } else {
        0.0
    };
    let bottom = 6.0 + n_row + theme.tick_px + 8.0 + theme.axis_px * 1.05 + 2.0;
    let plot_h = (area.height() - top - bottom).max(20.0);
    let plot_at = |left: f64| {
        Rect::new(
            area.x0 + left,
            area.y0 + top,
            area.x1 - right,
            area.y0 + top + plot_h,
        )
    };
    // The left label area (axis title, tick labels) is as wide as the widest tick label.
    let left_for = |ticks: &[f64]| {
        let tick_w = ticks
            .iter()
            .map(|t| text_width(&format_tick(*t), theme.tick_px, false))
            .fold(0.0, f64::max);
        (theme.axis_px * 1.2 + 6.0 + tick_w + TICK_LABEL_DIST).ceil()
    };
    // The ticks depend on the y range, which depends (a little) on the plot width: settle it.
    let mut left = left_for(&[1000.0]);
    let mut l = layout_in(area, plot_at(left), theme, metric, xs, groups);
    for _ in 0..2 {
        let need = left_for(&l.ticks);
        if need <= left && need > left - 12.0 {
            break;
        }
        left = need;
        l = layout_in(area, plot_at(left), theme, metric, xs, groups);
    }
    l
}

fn has_repeats(groups: &[Vec<Pair>]) -> bool {
    groups
        .iter()
        .flatten()
        .flat_map(|p| [p.model1, p.model2])
        .flatten()
        .any(|a| a.n > 1)
}

/// The bars of one x value: model 1's, then each candidate's.
fn group_aggs(g: &[Pair]) -> Vec<Option<Aggregate>> {
    let base = g.iter().find_map(|p| p.model1);
    std::iter::once(base)
        .chain(g.iter().map(|p| p.model2))
        .collect()
}

fn layout_in(
    area: Rect,
    plot: Rect,
    theme: &Theme,
    metric: Metric,
    xs: &[FieldValue],
    groups: &[Vec<Pair>],
) -> PanelLayout {
    let n = groups.len().max(1);
    let k = groups.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let nb = k + 1;
    let any_repeat = has_repeats(groups);
    let gw = plot.width() / n as f64;
    let gap = (gw * 0.03).clamp(2.0, 6.0);
    let bar_w = (gw * 0.72 / nb as f64).min(theme.max_bar_w).max(2.0);
    let slot = bar_w + gap;
    let offset = slot / 2.0;
    let bar_x = |i: usize, j: usize| {
        plot.x0 + gw * (i as f64 + 0.5) + (j as f64 - (nb - 1) as f64 / 2.0) * slot
    };
    let aggs: Vec<Vec<Option<Aggregate>>> = groups.iter().map(|g| group_aggs(g)).collect();

    // Value labels lie flat when each fits between its neighbours and inside its group's cell;
    // otherwise all of them in this panel read upwards.
    let value_labels: Vec<Vec<Option<String>>> = aggs
        .iter()
        .map(|a| a.iter().map(|a| a.map(|a| format_value(a.mean))).collect())
        .collect();
    let lw = |s: &Option<String>| {
        s.as_deref()
            .map_or(0.0, |s| text_width(s, theme.value_px, false))
    };
    let missing_w = text_width("missing", theme.small_px, false);
    // The width a bar's label (or its "missing" marker) needs.
    let need_w = |s: &Option<String>| if s.is_some() { lw(s) } else { missing_w };
    let flat_fits = value_labels.iter().all(|ls| {
        let w: Vec<f64> = ls.iter().map(need_w).collect();
        w.windows(2).all(|p| (p[0] + p[1]) / 2.0 + GAP <= slot)
            && w.iter().copied().fold(0.0, f64::max) <= gw - (nb - 1) as f64 * slot - GAP
    });
    let rotate_values = !flat_fits;
    let label_h = |s: &Option<String>| match s {
        None => 0.0,
        Some(_) if rotate_values => lw(s),
        Some(_) => theme.value_px,
    };

    // The % labels: one per candidate of each group.
    let pct: Vec<Vec<(String, RGBColor)>> = groups
        .iter()
        .map(|g| g.iter().map(|p| pct_label(p, metric)).collect())
        .collect();
    let max_pct_w = pct
        .iter()
        .flatten()
        .map(|(t, _)| text_width(t, theme.pct_px, true))
        .fold(0.0, f64::max);
    // Each label's room: the whole cell for one candidate, its bar's slot for several.
    let pct_room = if k == 1 { gw } else { slot };
    let rotate_pct = max_pct_w + 2.0 * GAP > pct_room;
    let pct_h = |t: &str| {
        if rotate_pct {
            text_width(t, theme.pct_px, true)
        } else {
            theme.pct_px
        }
    };
    let missing_h = if rotate_values {
        missing_w
    } else {
        theme.small_px
    };

    // Headroom: each bar's top (its error bar's top) plus what is stacked on it must fit.
    let h = plot.height();
    let mut ymax: f64 = 0.0;
    let mut data_max: f64 = 0.0;
    for (i, a) in aggs.iter().enumerate() {
        let ph = pct[i].iter().map(|(t, _)| pct_h(t)).fold(0.0, f64::max);
        for (j, a) in a.iter().enumerate() {
            let Some(a) = a else { continue };
            let t = a.max.max(a.mean).max(0.0);
            data_max = data_max.max(t);
            let need = GAP + label_h(&value_labels[i][j]) + PCT_GAP + ph + 2.0;
            let room = (h - need).max(h * 0.25);
            ymax = ymax.max(t * h / room);
        }
    }
    let has_values = aggs.iter().flatten().any(Option::is_some);
    if ymax <= 0.0 || !ymax.is_finite() {
        ymax = 1.0;
        data_max = 1.0;
    }
    let ticks = if has_values {
        nice_ticks(data_max, ymax, if h < 250.0 { 4 } else { 6 })
    } else {
        vec![0.0]
    };

    let y_of = |v: f64| plot.y1 - v / ymax * h;
    let mut bars = Vec::new();
    let mut texts = Vec::new();
    let mut pct_labels = Vec::new();
    let value_color = palette::TEXT;
    for (i, a) in aggs.iter().enumerate() {
        let cx = plot.x0 + gw * (i as f64 + 0.5);
        // The top of what is stacked on each bar (value label or "missing" marker).
        let mut tops = vec![plot.y1; nb];
        for (j, agg) in a.iter().enumerate() {
            let bx = bar_x(i, j);
            let color = if j == 0 {
                palette::MODEL1
            } else {
                palette::candidate(j - 1)
            };
            let Some(a) = agg else {
                // No bar for a missing value: a "missing" marker on the axis instead.
                let t = TextItem::new(
                    "missing",
                    bx,
                    plot.y1 - 3.0,
                    theme.small_px,
                    palette::MISSING,
                );
                let t = if rotate_values {
                    t.anchor(HPos::Left, VPos::Center).rotated()
                } else {
                    t.anchor(HPos::Center, VPos::Bottom)
                };
                tops[j] = plot.y1 - 3.0 - missing_h;
                texts.push(t);
                continue;
            };
            let y_mean = y_of(a.mean.max(0.0));
            let whisker = (a.n > 1).then(|| {
                (
                    bx,
                    y_of(a.min.max(0.0)),
                    y_of(a.max.max(0.0)),
                    (bar_w * 0.18).max(3.0),
                )
            });
            let top_px = whisker.map_or(y_mean, |w| w.2.min(y_mean));
            bars.push(Bar {
                rect: Rect::new(bx - bar_w / 2.0, y_mean, bx + bar_w / 2.0, plot.y1),
                color,
                whisker,
            });
            let label = value_labels[i][j].clone().unwrap_or_default();
            let t = TextItem::new(label, bx, top_px - GAP, theme.value_px, value_color);
            let t = if rotate_values {
                t.anchor(HPos::Left, VPos::Center).rotated()
            } else {
                t.anchor(HPos::Center, VPos::Bottom)
            };
            tops[j] = t.bbox().y0;
            texts.push(t);
        }
        if k == 1 {
            if let Some(p) = groups[i].first() {
                texts.extend(repeat_labels(
                    p,
                    cx,
                    offset,
                    slot,
                    gw,
                    plot.y1 + 5.0,
                    theme.small_px,
                ));
            }
        } else {
            texts.extend(repeat_labels_multi(
                a,
                |j| bar_x(i, j),
                slot,
                gw,
                cx,
                plot.y1 + 5.0,
                theme.small_px,
            ));
        }
        for (c, (label, color)) in pct[i].iter().enumerate() {
            // One candidate: above the pair. Several: above the candidate's own bar, clear of
            // its neighbours' labels.
            let (x, stack_top) = if k == 1 {
                (cx, tops.iter().copied().fold(plot.y1, f64::min))
            } else {
                let j = c + 1;
                let near = tops[j - 1..(j + 2).min(nb)].iter().copied();
                (bar_x(i, j), near.fold(plot.y1, f64::min))
            };
            let t =
                TextItem::new(label.clone(), x, stack_top - PCT_GAP, theme.pct_px, *color).bold();
            let t = if rotate_pct {
                t.anchor(HPos::Left, VPos::Center).rotated()
            } else {
                t.anchor(HPos::Center, VPos::Bottom)
            };
            pct_labels.push(t.clone());
            texts.push(t);
        }

        let gy = plot.y1
            + 6.0
            + if any_repeat {
                theme.small_px + 4.0
            } else {
                0.0
            };
        let g = xs
            .get(i)
            .map_or_else(|| "default".to_owned(), |x| x.to_string());
        let mut px = theme.tick_px;
        while px > 7.0 && text_width(&g, px, false) > gw - 4.0 {
            px -= 0.5;
        }
        texts.push(TextItem::new(g, cx, gy, px, palette::TEXT).anchor(HPos::Center, VPos::Top));
    }
    if !has_values {
        let (x, y) = ((plot.x0 + plot.x1) / 2.0, (plot.y0 + plot.y1) / 2.0);
        texts.push(
            TextItem::new(
                "no results for either model",
                x,
                y,
                theme.axis_px,
                palette::MISSING,
            )
            .anchor(HPos::Center, VPos::Center),
        );
    }
    PanelLayout {
        area,
        plot,
        groups: n,
        ymax,
        ticks,
        bars,
        texts,
        pct_labels,
    }
}

/// "n=…" for 1 + k bars: under each bar of a mean of several runs when they fit, otherwise one
/// label under the group ("n=2/1/3", model 1 first).
fn repeat_labels_multi(
    aggs: &[Option<Aggregate>],
    bar_x: impl Fn(usize) -> f64,
    slot: f64,
    gw: f64,
    cx: f64,
    y: f64,
    px: f64,
) -> Vec<TextItem> {
    let n: Vec<Option<usize>> = aggs.iter().map(|a| a.map(|a| a.n)).collect();
    if !n.iter().flatten().any(|n| *n > 1) {
        return Vec::new();
    }
    let item = |s: String, x: f64, px: f64| {
        TextItem::new(s, x, y, px, palette::SUBTLE).anchor(HPos::Center, VPos::Top)
    };
    let widest = n
        .iter()
        .flatten()
        .map(|k| text_width(&format!("n={k}"), px, false))
        .fold(0.0, f64::max);
    if widest + 2.0 <= slot {
        return n
            .iter()
            .enumerate()
            .filter_map(|(j, k)| {
                k.filter(|k| *k > 1)
                    .map(|k| item(format!("n={k}"), bar_x(j), px))
            })
            .collect();
    }
    let parts: Vec<String> = n
        .iter()
        .map(|k| k.map_or_else(|| "\u{2013}".to_owned(), |k| k.to_string()))
        .collect();
    let s = format!("n={}", parts.join("/"));
    let mut px = px;
    while px > 7.0 && text_width(&s, px, false) > gw - 4.0 {
        px -= 0.5;
    }
    vec![item(s, cx, px)]
}

/// "n=2" under each bar that is a mean of several runs; when the two do not fit side by side,
/// one label under the pair ("n=2", or "n=2/3" for model 1/model 2).
fn repeat_labels(
    p: &Pair,
    cx: f64,
    offset: f64,
    slot: f64,
    gw: f64,
    y: f64,
    px: f64,
) -> Vec<TextItem> {
    let n = [p.model1.map(|a| a.n), p.model2.map(|a| a.n)];
    if !n.iter().flatten().any(|n| *n > 1) {
        return Vec::new();
    }
    let label = |k: usize| format!("n={k}");
    let w = |k: Option<usize>| {
        k.filter(|k| *k > 1)
            .map_or(0.0, |k| text_width(&label(k), px, false))
    };
    let item = |s: String, x: f64, px: f64| {
        TextItem::new(s, x, y, px, palette::SUBTLE).anchor(HPos::Center, VPos::Top)
    };
    if (w(n[0]) + w(n[1])) / 2.0 + 2.0 <= slot && w(n[0]).max(w(n[1])) <= gw - slot {
        return [(n[0], cx - offset), (n[1], cx + offset)]
            .into_iter()
            .filter_map(|(k, x)| k.filter(|k| *k > 1).map(|k| item(label(k), x, px)))
            .collect();
    }
    let s = match n {
        [Some(a), Some(b)] if a == b => label(a),
        _ => {
            let f = |k: Option<usize>| k.map_or_else(|| "\u{2013}".to_owned(), |k| k.to_string());
            format!("n={}/{}", f(n[0]), f(n[1]))
        }
    };
    let mut px = px;
    while px > 7.0 && text_width(&s, px, false) > gw - 4.0 {
        px -= 0.5;
    }
    vec![item(s, cx, px)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xs(v: &[Option<u64>]) -> Vec<FieldValue> {
        v.iter().map(|b| FieldValue::of_u64(*b)).collect()
    }

    fn agg(mean: f64) -> Option<Aggregate> {
        Some(Aggregate {
            mean,
            min: mean,
            max: mean,
            n: 1,
        })
    }

    fn area() -> Rect {
        Rect::new(0.0, 100.0, 1200.0, 700.0)
    }

    fn assert_no_overlaps(l: &PanelLayout) {
        for (i, a) in l.texts.iter().enumerate() {
            for b in &l.texts[i + 1..] {
                assert!(!a.bbox().intersects(&b.bbox()), "{a:?} overlaps {b:?}");
            }
            for bar in &l.bars {
                let r = bar.rect;
                let r = Rect::new(r.x0, r.y0 + 0.5, r.x1, r.y1);
                assert!(
                    !a.bbox().intersects(&r) || a.text.starts_with("n="),
                    "{a:?} covers a bar {r:?}"
                );
            }
        }
        for t in &l.pct_labels {
            assert!(
                l.plot.contains(&t.bbox()),
                "{t:?} leaves the plot {:?}",
                l.plot
            );
        }
    }

    #[test]
    fn ticks_end_for_subnormal_and_huge_maxima() {
        assert_eq!(nice_ticks(5e-324, 5e-324 * 1.15, 5), vec![0.0]);
        assert!(nice_ticks(1e-310, 1.2e-310, 5).len() <= 1000);
        assert!(nice_ticks(1e300, 1.2e300, 5).len() < 20);
    }

    #[test]
    fn pct_label_colours_follow_the_metric_direction() {
        let up = Pair {
            model1: agg(100.0),
            model2: agg(110.0),
            ci: None,
        };
        let down = Pair {
            model1: agg(100.0),
            model2: agg(90.0),
            ci: None,
        };
        assert_eq!(
            pct_label(&up, Metric::Throughput),
            ("+10.0%".to_owned(), palette::BETTER)
        );
        assert_eq!(
            pct_label(&down, Metric::Throughput),
            ("\u{2212}10.0%".to_owned(), palette::WORSE)
        );
        assert_eq!(
            pct_label(&up, Metric::TtftP99),
            ("+10.0%".to_owned(), palette::WORSE)
        );
        assert_eq!(
            pct_label(&down, Metric::InterTokenP50),
            ("\u{2212}10.0%".to_owned(), palette::BETTER)
        );
        let same = Pair {
            model1: agg(100.0),
            model2: agg(100.0),
            ci: None,
        };
        assert_eq!(
            pct_label(&same, Metric::TtftP50),
            ("0.0%".to_owned(), palette::SAME)
        );
        for p in [
            Pair {
                model1: agg(0.0),
                model2: agg(5.0),
                ci: None,
            },
            Pair {
                model1: None,
                model2: agg(5.0),
                ci: None,
            },
            Pair {
                model1: agg(5.0),
                model2: None,
                ci: None,
            },
        ] {
            assert_eq!(
                pct_label(&p, Metric::Throughput),
                ("n/a".to_owned(), palette::NA)
            );
        }
    }

    #[test]
    fn missing_values_get_no_bar_but_a_marker() {
        let pairs = [
            Pair {
                model1: agg(2450.0),
                model2: None,
                ci: None,
            },
            Pair {
                model1: None,
                model2: None,
                ci: None,
            },
        ];
        let l = layout_panel(
            area(),
            &Theme::LARGE,
            Metric::Throughput,
            &xs(&[Some(4096), Some(8192)]),
            &pairs,
        );
        assert_eq!(l.bars.len(), 1);
        assert_eq!(l.bars[0].color, palette::MODEL1);
        assert_eq!(l.texts.iter().filter(|t| t.text == "missing").count(), 3);
        assert_eq!(
            l.pct_labels
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>(),
            ["n/a", "n/a"]
        );
        assert!(!l.texts.iter().any(|t| t.text.starts_with("no results")));
        assert!(l.texts.iter().any(|t| t.text == "2450.0"));
        assert_no_overlaps(&l);
        let none = Pair {
            model1: None,
            model2: None,
            ci: None,
        };
        let l = layout_panel(
            area(),
            &Theme::LARGE,
            Metric::InterTokenP50,
            &xs(&[Some(8192)]),
            &[none],
        );
        assert!(l.bars.is_empty());
        assert_eq!(l.ticks, [0.0]);
        assert!(l.texts.iter().any(|t| t.text.starts_with("no results")));
        assert_no_overlaps(&l);
    }

    #[test]
    fn repeats_show_n_and_an_error_bar() {
        let a = Some(Aggregate {
            mean: 150.0,
            min: 100.0,
            max: 200.0,
            n: 2,
        });
        let l = layout_panel(
            area(),
            &Theme::LARGE,
            Metric::TtftP50,
            &xs(&[None]),
            &[Pair {
                model1: a,
                model2: agg(120.0),
                ci: None,
            }],
        );
        assert_eq!(l.texts.iter().filter(|t| t.text == "n=2").count(), 1);
        let w = l.bars[0].whisker.expect("error bar");
        assert!(
            w.2 < l.bars[0].rect.y0 && w.1 > l.bars[0].rect.y0,
            "{w:?} around {:?}",
            l.bars[0].rect
        );
        assert!(l.bars[1].whisker.is_none());
        assert!(l.texts.iter().any(|t| t.text == "default"));
        // The headroom leaves the labels inside the plot, above the error bar.
        let v = l
            .texts
            .iter()
            .find(|t| t.text == "150.0")
            .expect("value label");
        assert!(v.bbox().y1 <= w.2);
        assert_no_overlaps(&l);
    }

    #[test]
    fn crowded_panels_turn_labels_and_stay_clear() {
        let rep = Some(Aggregate {
            mean: 23456.7,
            min: 23000.0,
            max: 24000.0,
            n: 3,
        });
        let pairs: Vec<Pair> = (0..8)
            .map(|i| Pair {
                model1: agg(12345.6 + i as f64),
                model2: if i % 2 == 0 { rep } else { None },
                ci: None,
            })
            .collect();
        let mut pairs = pairs;
        pairs[0].model1 = Some(Aggregate {
            mean: 12000.0,
            min: 11000.0,
            max: 13000.0,
            n: 2,
        });
        let bt = xs(&(0..8).map(|i| Some(4096 * (i + 1))).collect::<Vec<_>>());
        let l = layout_panel(
            Rect::new(0.0, 0.0, 480.0, 420.0),
            &Theme::SMALL,
            Metric::Throughput,
            &bt,
            &pairs,
        );
        assert!(l.texts.iter().any(|t| t.rotated));
        let n_labels: Vec<&str> = l
            .texts
            .iter()
            .filter(|t| t.text.starts_with("n="))
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(n_labels, ["n=2/3", "n=3", "n=3", "n=3"]);
        assert_no_overlaps(&l);
        let l = layout_panel(
            area(),
            &Theme::LARGE,
            Metric::Throughput,
            &bt[..4],
            &pairs[..4],
        );
        assert!(!l.texts.iter().any(|t| t.rotated));
        assert_no_overlaps(&l);
    }

    #[test]
    fn three_models_get_three_bars_and_a_label_above_each_candidate() {
        let group = |a: f64, b: Option<f64>, c: Option<f64>| {
            vec![
                Pair {
                    model1: agg(a),
                    model2: b.and_then(agg),
                    ci: None,
                },
                Pair {
                    model1: agg(a),
                    model2: c.and_then(agg),
                    ci: None,
                },
            ]
        };
        let groups = vec![
            group(100.0, Some(80.0), Some(130.0)),
            group(12345.6, None, Some(12000.0)),
            group(50.0, Some(50.0), Some(51.0)),
        ];
        let bt = xs(&[Some(4096), Some(8192), None]);
        for (area, theme) in [
            (area(), Theme::LARGE),
            (Rect::new(0.0, 0.0, 480.0, 420.0), Theme::SMALL),
        ] {
            let l = layout_panel_groups(area, &theme, Metric::TtftP50, &bt, &groups);
            assert_eq!(l.bars.len(), 8);
            assert_eq!(l.pct_labels.len(), 6);
            assert_eq!(
                l.bars[..3].iter().map(|b| b.color).collect::<Vec<_>>(),
                [palette::MODEL1, palette::MODEL2, palette::candidate(1)]
            );
            // Each candidate's label is centred on (or starts at) its own bar.
            let cx = |r: &Rect| (r.x0 + r.x1) / 2.0;
            let label_x = |t: &TextItem| (t.bbox().x0 + t.bbox().x1) / 2.0;
            assert!((label_x(&l.pct_labels[0]) - cx(&l.bars[1].rect)).abs() < 12.0);
            assert!((label_x(&l.pct_labels[1]) - cx(&l.bars[2].rect)).abs() < 12.0);
            assert_eq!(l.texts.iter().filter(|t| t.text == "missing").count(), 1);
            assert_no_overlaps(&l);
        }
    }

    #[test]
    fn ticks_are_nice_and_start_at_zero() {
        assert_eq!(
            nice_ticks(2450.0, 2734.0, 5),
            vec![0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0]
        );
        assert_eq!(
            nice_ticks(12.0, 14.0, 5),
            vec![0.0, 2.5, 5.0, 7.5, 10.0, 12.5]
        );
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0]);
    }
}
