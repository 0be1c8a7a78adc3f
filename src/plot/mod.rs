//! Charts: grouped bar charts per metric (and a combined figure of all seven) as SVG, and
//! PNG rendered from that SVG with resvg using the embedded DejaVu Sans fonts
//! (assets/fonts, licence beside them) — never the system's, so text looks the same on a
//! machine with no fonts installed.
//!
//! - [`text`]: text widths (DejaVu Sans metrics) and number formats ("2450.0", "+12.3%");
//! - [`layout`]: where every bar, error bar and label of a panel goes, in pixels — the y
//!   range (from 0, with headroom for the labels), flat or upright value labels, "missing"
//!   markers, "n=2"; pure and tested for overlaps;
//! - [`chart`]: drawing it with plotters' SVG backend;
//! - [`raster`]: SVG → PNG (resvg, embedded fonts only), texts through a glyph cache (`glyphs`).
//!
//! What plotters draws and what it does not: plotters' SVG backend writes every element and
//! its mesh draws the axes, grid, ticks, tick labels and axis titles (the y ticks are chosen
//! by the layout and handed over through a small `Ranged` wrapper). The chart's own content —
//! bars, error bars, value and % labels, legends, titles — are plotters elements (`Rectangle`,
//! `PathElement`, `Text`) placed at pixel positions the layout computed, rather than plotters'
//! series, captions and `SeriesLabel` legend: without a font feature plotters estimates text
//! as 0.565 em per byte (digits ~11 % too narrow, a 3-byte "−" 2.5 times too wide), and its legend
//! sits inside the plot area, so it could neither keep labels apart nor keep the legend clear
//! of the bars. The layout measures text with the real DejaVu Sans advance widths instead.
//!
//! The % label contract (for tests reading the SVG): each % label is its own `<text>` element
//! whose `fill` is exactly one of [`BETTER_COLOR`], [`WORSE_COLOR`], [`NA_COLOR`] ("n/a"),
//! [`SAME_COLOR`] ("0.0%") or [`NOISE_COLOR`] ("≈ +0.5%": the 95 % interval includes 0), in the form plotters writes (`#RRGGBB`, uppercase); no other text
//! uses these fills. The text is the signed change with one decimal, minus as U+2212
//! ("+12.3%", "−4.5%"), inside the element with surrounding whitespace (trim it).
//!
//! Speed (release build, 2-core machine shared with other jobs; CPU time per chart, SVG
//! generation + rasterising + PNG encoding): ~3 ms for a 1200×700 metric chart, ~12 ms for the
//! 2000×1040 combined figure, after the glyph cache is warm.

pub mod chart;
mod glyphs;
pub mod layout;
pub mod lines;
pub mod palette;
mod png;
pub mod raster;
pub mod text;
pub mod timeline;

use crate::compare::{ConfigComparison, MultiConfig};
use crate::metrics::Metric;

pub use raster::Rasterizer;

/// Colour (SVG `fill`) of a % label when model 2 is better in the metric's direction.
pub const BETTER_COLOR: &str = "#1A9641";
/// Colour of a % label when model 2 is worse.
pub const WORSE_COLOR: &str = "#D7191C";
/// Colour of an "n/a" label (a value missing, or model 1's value is 0).
pub const NA_COLOR: &str = "#808080";
/// Colour of a label whose 95 % interval includes 0: "≈ +0.5%" (within noise).
pub const NOISE_COLOR: &str = "#6E6E6E";
/// Colour of a "0.0%" label (both means exactly equal): a neutral near-black.
pub const SAME_COLOR: &str = "#333333";

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot render chart: {0}")]
    Render(String),
}

/// Names shown in legends and titles.
#[derive(Debug, Clone, Copy)]
pub struct ChartLabels<'a> {
    pub model1: &'a str,
    pub model2: &'a str,
}

/// Runs `f` with the names made safe for a chart ([`text::chart_label`]).
fn with_safe_names(names: &ModelNames, f: impl FnOnce(&ModelNames) -> String) -> String {
    let model1 = text::chart_label(names.model1);
    let candidates: Vec<_> = names
        .candidates
        .iter()
        .map(|c| text::chart_label(c))
        .collect();
    f(&ModelNames {
        model1: &model1,
        candidates: candidates.iter().map(|c| &c[..]).collect(),
    })
}

/// Model 1 and the candidates compared with it (model 2, …), as legends and titles show them.
#[derive(Debug, Clone)]
pub struct ModelNames<'a> {
    pub model1: &'a str,
    pub candidates: Vec<&'a str>,
}

impl<'a> From<&ChartLabels<'a>> for ModelNames<'a> {
    fn from(l: &ChartLabels<'a>) -> Self {
        ModelNames {
            model1: l.model1,
            candidates: vec![l.model2],
        }
    }
}

/// One metric of one parallelism configuration as an SVG document (1200×700).
pub fn metric_chart_svg(cmp: &ConfigComparison, metric: Metric, labels: &ChartLabels) -> String {
    multi_metric_chart_svg(&MultiConfig::single(cmp), metric, &labels.into())
}

/// All seven metrics of one parallelism configuration as one SVG document (2000×1040).
pub fn combined_chart_svg(cmp: &ConfigComparison, labels: &ChartLabels) -> String {
    multi_combined_chart_svg(&MultiConfig::single(cmp), &labels.into())
}

/// [`metric_chart_svg`] with 1 + k bars per x value (model 1 and k candidates).
pub fn multi_metric_chart_svg(cmp: &MultiConfig, metric: Metric, names: &ModelNames) -> String {
    with_safe_names(names, |n| {
        chart::render(chart::METRIC_SIZE, |root| {
            chart::metric_chart(root, cmp, metric, n)
        })
    })
}

/// [`combined_chart_svg`] with 1 + k bars per x value.
pub fn multi_combined_chart_svg(cmp: &MultiConfig, names: &ModelNames) -> String {
    with_safe_names(names, |n| {
        chart::render(chart::COMBINED_SIZE, |root| {
            chart::combined_chart(root, cmp, n)
        })
    })
}

/// Latency against output throughput for one curve family (1800×1060): six panels, one line
/// per model (model 1 first), points labelled by load level; `per_gpu` divides throughput by
/// TP·DP·PP.
pub fn curves_chart_svg(fam: &crate::curves::Family, names: &ModelNames, per_gpu: bool) -> String {
    with_safe_names(names, |n| {
        chart::render(lines::CURVES_SIZE, |root| {
            lines::curves_chart(root, fam, n, per_gpu)
        })
    })
}

/// The Pareto chart (1400×900): every model's (configuration, load) points, fronts joined.
pub fn pareto_chart_svg(
    models: &[(String, Vec<crate::curves::ParetoPoint>)],
    names: &ModelNames,
    scope: &str,
) -> String {
    with_safe_names(names, |n| {
        chart::render(lines::PARETO_SIZE, |root| {
            lines::pareto_chart(root, models, n, &text::chart_label(scope))
        })
    })
}

/// Two models' capacities under one SLO (1200×700).
pub fn capacity_chart_svg(pair: &crate::curves::CapacityPair, names: &ModelNames) -> String {
    with_safe_names(names, |n| {
        chart::render(chart::METRIC_SIZE, |root| {
            chart::capacity_chart(root, pair, n)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Aggregate, Pair};
    use crate::results::Parallelism;

    fn one(mean: f64) -> Option<Aggregate> {
        Some(Aggregate {
            mean,
            min: mean,
            max: mean,
            n: 1,
        })
    }

    /// Groups: model 2 higher, model 2 lower, model 2 missing, model 1 repeated (n=2).
    fn cmp() -> ConfigComparison {
        let rep = Some(Aggregate {
            mean: 150.0,
            min: 100.0,
            max: 200.0,
            n: 2,
        });
        let pairs = vec![
            Pair {
                model1: one(100.0),
                model2: one(120.0),
                ci: None,
            },
            Pair {
                model1: one(100.0),
                model2: one(90.0),
                ci: None,
            },
            Pair {
                model1: one(100.0),
                model2: None,
                ci: None,
            },
            Pair {
                model1: rep,
                model2: one(150.0),
                ci: None,
            },
        ];
        ConfigComparison {
            par: crate::results::ChartKey {
                par: Parallelism {
                    tp: 2,
                    dp: 1,
                    pp: 1,
                },
                load: crate::results::Load::NONE,
                batch_tokens: None,
            },
            x_name: "max_num_batched_tokens".into(),
            xs: [Some(4096), Some(8192), Some(16384), None]
                .into_iter()
                .map(crate::results::FieldValue::of_u64)
                .collect(),
            pairs: vec![pairs; Metric::ALL.len()],
            partial: vec![vec![[0, 0]; 4]; Metric::ALL.len()],
        }
    }

    const LABELS: ChartLabels = ChartLabels {
        model1: "org/base-model",
        model2: "org/base-model-AWQ",
    };

    /// (text, fill) of every `<text>` element.
    fn texts(svg: &str) -> Vec<(String, String)> {
        svg.split("<text")
            .skip(1)
            .map(|t| {
                let fill = t
                    .split("fill=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .unwrap_or("");
                let body = t
                    .split_once('>')
                    .map_or("", |(_, b)| b.split("</text>").next().unwrap_or(""));
                (body.trim().to_owned(), fill.to_owned())
            })
            .collect()
    }

    fn pct_labels(svg: &str) -> Vec<(String, String)> {
        texts(svg)
            .into_iter()
            .filter(|(t, _)| t.ends_with('%') || t == "n/a")
            .collect()
    }

    fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn colour_constants_are_what_the_svg_says() {
        assert_eq!(BETTER_COLOR, palette::svg_hex(palette::BETTER));
        assert_eq!(WORSE_COLOR, palette::svg_hex(palette::WORSE));
        assert_eq!(NA_COLOR, palette::svg_hex(palette::NA));
        assert_eq!(SAME_COLOR, palette::svg_hex(palette::SAME));
        assert_eq!(NOISE_COLOR, palette::svg_hex(palette::NOISE));
    }

    #[test]
    fn pct_labels_are_coloured_by_the_metric_direction() {
        let thr = metric_chart_svg(&cmp(), Metric::Throughput, &LABELS);
        let expect = [
            ("+20.0%", BETTER_COLOR),
            ("\u{2212}10.0%", WORSE_COLOR),
            ("n/a", NA_COLOR),
            ("0.0%", SAME_COLOR),
        ];
        assert_eq!(pct_labels(&thr), owned(&expect));
        let lat = metric_chart_svg(&cmp(), Metric::TtftP99, &LABELS);
        let expect = [
            ("+20.0%", WORSE_COLOR),
            ("\u{2212}10.0%", BETTER_COLOR),
            ("n/a", NA_COLOR),
            ("0.0%", SAME_COLOR),
        ];
        assert_eq!(pct_labels(&lat), owned(&expect));
        // These fills are used by the % labels only.
        let colours = [BETTER_COLOR, WORSE_COLOR, NA_COLOR, SAME_COLOR];
        let coloured = texts(&thr)
            .into_iter()
            .filter(|(_, f)| colours.contains(&f.as_str()))
            .count();
        assert_eq!(coloured, 4);
    }

    #[test]
    fn missing_values_have_no_bar_and_repeats_show_n_with_an_error_bar() {
        let svg = metric_chart_svg(&cmp(), Metric::InterTokenP50, &LABELS);
        let rects = |c: plotters::style::RGBColor| {
            svg.matches(&format!("fill=\"{}\"", palette::svg_hex(c)))
                .count()
        };
        // One legend swatch each, plus four bars for model 1 and three for model 2.
        assert_eq!((rects(palette::MODEL1), rects(palette::MODEL2)), (5, 4));
        let t = texts(&svg);
        assert_eq!(t.iter().filter(|(s, _)| s == "missing").count(), 1);
        assert_eq!(t.iter().filter(|(s, _)| s == "n=2").count(), 1);
        assert!(
            t.iter().any(|(s, _)| s == "default"),
            "x label of the default max_num_batched_tokens"
        );
        // The error bar: a vertical line and two caps.
        let whisker = format!(
            "stroke=\"{}\" stroke-width=\"2\"",
            palette::svg_hex(palette::WHISKER)
        );
        assert_eq!(svg.matches(&whisker).count(), 3);
        assert!(
            t.iter()
                .any(|(s, _)| s == "Inter-token latency p50 (ms) \u{2014} TP=2, DP=1, PP=1"),
            "{t:?}"
        );
        assert!(t.iter().any(|(s, _)| s == "org/base-model-AWQ (model 2)"));
        assert!(t.iter().any(|(s, _)| s == "max_num_batched_tokens"));
    }

    #[test]
    fn combined_figure_has_seven_panels() {
        let svg = combined_chart_svg(&cmp(), &LABELS);
        let t = texts(&svg);
        for m in Metric::ALL {
            let title = format!("{} ({})", m.title(), m.unit());
            assert_eq!(t.iter().filter(|(s, _)| *s == title).count(), 1, "{title}");
        }
        assert_eq!(pct_labels(&svg).len(), 7 * 4);
        assert!(t
            .iter()
            .any(|(s, _)| s == "org/base-model vs org/base-model-AWQ \u{2014} TP=2, DP=1, PP=1"));
    }

    #[test]
    fn png_has_the_chart_size_and_visible_text_in_colour() {
        let r = Rasterizer::new();
        let png = r
            .svg_to_png(&metric_chart_svg(&cmp(), Metric::Throughput, &LABELS))
            .unwrap();
        let p = resvg::tiny_skia::Pixmap::decode_png(&png).unwrap();
        assert_eq!((p.width(), p.height()), (1200, 700));
        let px = |x: u32, y: u32| p.pixel(x, y).unwrap();
        // The title band (top 36 px, no bars) holds dark text pixels.
        let dark = (0..1200)
            .flat_map(|x| (0..36).map(move |y| (x, y)))
            .filter(|&(x, y)| px(x, y).red() < 80)
            .count();
        assert!(dark > 300, "{dark} dark pixels in the title");
        // The green "+20.0%" label is there (below the legend, whose key has a green swatch).
        let green = (0..1200)
            .flat_map(|x| (100..700).map(move |y| (x, y)))
            .filter(|&(x, y)| {
                let c = px(x, y);
                (c.red(), c.green(), c.blue())
                    == (palette::BETTER.0, palette::BETTER.1, palette::BETTER.2)
            })
            .count();
        assert!(green > 20, "{green} label-green pixels");
        let combined = r.svg_to_png(&combined_chart_svg(&cmp(), &LABELS)).unwrap();
        let p = resvg::tiny_skia::Pixmap::decode_png(&combined).unwrap();
        assert_eq!((p.width(), p.height()), (2000, 1040));
    }

    /// The glyph cache (`glyphs`) takes plotters' `<text>` elements out of the SVG by their
    /// exact form. This fails the day plotters writes text differently: every text element
    /// of real charts must be taken by the fast path, carry the text the SVG holds, and be
    /// drawn where resvg itself would draw it (so the PNG has text pixels at the labels).
    #[test]
    fn every_text_plotters_writes_takes_the_glyph_path_and_lands_where_resvg_puts_it() {
        let r = Rasterizer::new();
        let labels = ChartLabels {
            model1: "org/base-model <&> \"q\"",
            model2: "org/base-model-AWQ",
        };
        for svg in [
            metric_chart_svg(&cmp(), Metric::TotalLatencyP99, &labels),
            combined_chart_svg(&cmp(), &labels),
        ] {
            let in_svg = texts(&svg);
            let (shapes, runs) = glyphs::split_texts(&svg);
            assert!(in_svg.len() > 20, "{} texts", in_svg.len());
            assert_eq!(runs.len(), in_svg.len(), "a text element left to usvg");
            assert!(!shapes.contains("<text"));
            let unescape = |s: &str| {
                s.replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&#39;", "'")
                    .replace("&amp;", "&")
            };
            for (run, (text, _)) in runs.iter().zip(&in_svg) {
                assert_eq!(run.text(), unescape(text));
            }
            assert!(runs.iter().any(|t| t.text().contains("<&> \"q\"")));
            assert!(runs.iter().any(|t| t.is_rotated()), "the y axis title");

            // text pixels: dark on the white background (bars are mid-tone colours)
            let (a, b, off) = raster::tests::fast_vs_resvg(&r, &svg, |c| {
                c.red() < 120 && c.green() < 120 && c.blue() < 120
            });
            assert!(b > 2000 && a.abs_diff(b) * 20 < b, "ink {a} vs {b}");
            // Same glyphs at the same places: ~5 % of the inked pixels differ (anti-aliasing at
            // quarter-pixel offsets); one pixel off makes it 85–120 % (measured 2026-11-30).
            assert!(off * 8 < b, "{off} pixels differ a lot, of {b} inked");
        }
    }
}
