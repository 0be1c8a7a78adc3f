//! Charts: grouped bar charts per metric (and a combined figure) as SVG, rasterised to PNG
//! with resvg using the embedded DejaVu Sans font (assets/fonts, licence beside it), so text
//! renders identically on machines without fonts.
//!
//! - [`text`]: text widths (DejaVu Sans metrics) and number formats;
//! - [`layout`]: where every bar and label of a panel goes, in pixels (pure, tested);
//! - [`chart`]: drawing it with plotters' SVG backend;
//! - [`raster`]: SVG → PNG with resvg and the embedded fonts.
//!
//! In the SVG, each % label is its own `<text>` element whose `fill` is exactly one of
//! [`BETTER_COLOR`], [`WORSE_COLOR`], [`NA_COLOR`] or [`SAME_COLOR`] (the form plotters writes:
//! `#RRGGBB`, uppercase); no other text uses these fills.

pub mod chart;
pub mod layout;
pub mod palette;
mod png;
pub mod raster;
pub mod text;

use crate::compare::ConfigComparison;
use crate::metrics::Metric;

pub use raster::Rasterizer;

/// Colour (SVG `fill`) of a % label when model 2 is better in the metric's direction.
pub const BETTER_COLOR: &str = "#1A9641";
/// Colour of a % label when model 2 is worse.
pub const WORSE_COLOR: &str = "#D7191C";
/// Colour of an "n/a" label (a value missing, or model 1's value is 0).
pub const NA_COLOR: &str = "#808080";
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

/// One metric of one parallelism configuration as an SVG document (1200×700).
pub fn metric_chart_svg(cmp: &ConfigComparison, metric: Metric, labels: &ChartLabels) -> String {
    chart::render(chart::METRIC_SIZE, |root| {
        chart::metric_chart(root, cmp, metric, labels)
    })
}

/// All seven metrics of one parallelism configuration as one SVG document (2000×1040).
pub fn combined_chart_svg(cmp: &ConfigComparison, labels: &ChartLabels) -> String {
    chart::render(chart::COMBINED_SIZE, |root| {
        chart::combined_chart(root, cmp, labels)
    })
}
