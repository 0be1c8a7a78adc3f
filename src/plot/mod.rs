//! Charts: grouped bar charts per metric (and a combined figure) as SVG, rasterised to PNG
//! with resvg using the embedded DejaVu Sans font (assets/fonts, licence beside it), so text
//! renders identically on machines without fonts.

use crate::compare::ConfigComparison;
use crate::metrics::Metric;

/// Colour of a % label when model 2 is better in the metric's direction.
pub const BETTER_COLOR: &str = "#1a9641";
/// Colour of a % label when model 2 is worse.
pub const WORSE_COLOR: &str = "#d7191c";
/// Colour of an "n/a" label (a value missing, or model 1's value is 0).
pub const NA_COLOR: &str = "#808080";

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

/// One metric of one parallelism configuration as an SVG document.
pub fn metric_chart_svg(_cmp: &ConfigComparison, _metric: Metric, _labels: &ChartLabels) -> String {
    todo!("plot: metric_chart_svg")
}

/// All seven metrics of one parallelism configuration as one SVG document.
pub fn combined_chart_svg(_cmp: &ConfigComparison, _labels: &ChartLabels) -> String {
    todo!("plot: combined_chart_svg")
}

/// Turns SVG documents into PNG bytes. Create once and share (font loading is the costly part).
pub struct Rasterizer {}

impl Rasterizer {
    pub fn new() -> Rasterizer {
        Rasterizer {}
    }

    pub fn svg_to_png(&self, _svg: &str) -> Result<Vec<u8>, PlotError> {
        todo!("plot: svg_to_png")
    }
}

impl Default for Rasterizer {
    fn default() -> Self {
        Self::new()
    }
}
