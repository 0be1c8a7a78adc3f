//! The seven headline metrics that `compare` and `summarize` report, where each is read from in
//! `benchmark_results.json`, its unit and which direction is better.
//!
//! How each is *measured* is in `crate::stats` (percentiles) and `crate::records` (per request);
//! their definitions are written down in docs/metrics.md.

/// The names of the measures, each defined once here and used everywhere a human reads them
/// (chart titles, tables, `run`'s summary, docs/metrics.md, README). The CSV column names and
/// result field names (`total_latency_p50_ms`, `total_generation_latency`, `e2e_latency`) are
/// the users' and stay as they are.
///
/// Send → last content chunk: TTFT + every inter-token gap (the users' `total_latency`,
/// grouped as `total_generation_latency`; what `compare` and `summarize` report).
pub const GENERATION_LATENCY: &str = "Generation latency (to last token)";
/// Send → last byte of the response (after the usage chunk and `data: [DONE]`; `e2e_latency`,
/// measured by `run` only).
pub const END_TO_END_LATENCY: &str = "End-to-end latency (to last byte)";
/// Send → first content chunk.
pub const TIME_TO_FIRST_TOKEN: &str = "Time to first token";
/// The gaps between consecutive content chunks, pooled over all requests.
pub const INTER_TOKEN_LATENCY: &str = "Inter-token latency";
/// Output tokens / wall time of the run.
pub const OVERALL_THROUGHPUT: &str = "Overall throughput";

/// One headline metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Throughput,
    TotalLatencyP50,
    TotalLatencyP99,
    TtftP50,
    TtftP99,
    InterTokenP50,
    InterTokenP99,
}

impl Metric {
    /// Every metric, in the users' column order.
    pub const ALL: [Metric; 7] = [
        Metric::Throughput,
        Metric::TotalLatencyP50,
        Metric::TotalLatencyP99,
        Metric::TtftP50,
        Metric::TtftP99,
        Metric::InterTokenP50,
        Metric::InterTokenP99,
    ];

    /// Position in [`Metric::ALL`] (and in [`crate::results::MetricValues`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Column / file name used in CSV files and chart file names.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Throughput => "overall_throughput_tokens_per_sec",
            Metric::TotalLatencyP50 => "total_latency_p50_ms",
            Metric::TotalLatencyP99 => "total_latency_p99_ms",
            Metric::TtftP50 => "ttft_p50_ms",
            Metric::TtftP99 => "ttft_p99_ms",
            Metric::InterTokenP50 => "inter_token_p50_ms",
            Metric::InterTokenP99 => "inter_token_p99_ms",
        }
    }

    /// The measure's name (one of the constants above).
    pub fn measure(self) -> &'static str {
        match self {
            Metric::Throughput => OVERALL_THROUGHPUT,
            Metric::TotalLatencyP50 | Metric::TotalLatencyP99 => GENERATION_LATENCY,
            Metric::TtftP50 | Metric::TtftP99 => TIME_TO_FIRST_TOKEN,
            Metric::InterTokenP50 | Metric::InterTokenP99 => INTER_TOKEN_LATENCY,
        }
    }

    /// `p50`, `p99`, or empty for throughput.
    fn percentile(self) -> &'static str {
        match self {
            Metric::Throughput => "",
            Metric::TotalLatencyP50 | Metric::TtftP50 | Metric::InterTokenP50 => "p50",
            _ => "p99",
        }
    }

    /// Human title used in charts: the measure's name and the percentile.
    pub fn title(self) -> String {
        match self.percentile() {
            "" => self.measure().to_owned(),
            p => format!("{} {p}", self.measure()),
        }
    }

    /// Short column header for terminal tables (`gen p50 ms`, `ttft p99 ms`, `tok/s`).
    pub fn short_header(self) -> &'static str {
        match self {
            Metric::Throughput => "tok/s",
            Metric::TotalLatencyP50 => "gen p50 ms",
            Metric::TotalLatencyP99 => "gen p99 ms",
            Metric::TtftP50 => "ttft p50 ms",
            Metric::TtftP99 => "ttft p99 ms",
            Metric::InterTokenP50 => "itl p50 ms",
            Metric::InterTokenP99 => "itl p99 ms",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::Throughput => "tokens/s",
            _ => "ms",
        }
    }

    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Throughput)
    }

    /// Where the value lives in `benchmark_stats`: (group, field).
    /// `group` is `summary` or a group of `latency_percentiles_ms`.
    pub fn source(self) -> (&'static str, &'static str) {
        match self {
            Metric::Throughput => ("summary", "overall_throughput_tokens_per_sec"),
            Metric::TotalLatencyP50 => ("total_generation_latency", "total_p50"),
            Metric::TotalLatencyP99 => ("total_generation_latency", "total_p99"),
            Metric::TtftP50 => ("time_to_first_token", "first_token_p50"),
            Metric::TtftP99 => ("time_to_first_token", "first_token_p99"),
            Metric::InterTokenP50 => ("inter_token_latency", "inter_token_p50"),
            Metric::InterTokenP99 => ("inter_token_latency", "inter_token_p99"),
        }
    }

    pub fn from_key(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }
}

/// Percentage difference of `b` against `a`: (b − a) / a × 100. `None` when either value is
/// missing or not finite, or when `a` is 0.
pub fn diff_pct(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    if !a.is_finite() || !b.is_finite() || a == 0.0 {
        return None;
    }
    Some((b - a) / a * 100.0)
}

/// Whether a change from `a` to `b` is an improvement, a regression or neither for `metric`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Worse,
    Same,
    NotAvailable,
}

pub fn verdict(metric: Metric, a: Option<f64>, b: Option<f64>) -> Verdict {
    match diff_pct(a, b) {
        None => Verdict::NotAvailable,
        Some(0.0) => Verdict::Same,
        Some(d) => {
            if (d > 0.0) == metric.higher_is_better() {
                Verdict::Better
            } else {
                Verdict::Worse
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_and_direction() {
        assert_eq!(diff_pct(Some(200.0), Some(250.0)), Some(25.0));
        assert_eq!(diff_pct(Some(0.0), Some(1.0)), None);
        assert_eq!(diff_pct(None, Some(1.0)), None);
        assert_eq!(diff_pct(Some(f64::NAN), Some(1.0)), None);
        assert_eq!(
            verdict(Metric::Throughput, Some(100.0), Some(110.0)),
            Verdict::Better
        );
        assert_eq!(
            verdict(Metric::TtftP50, Some(100.0), Some(110.0)),
            Verdict::Worse
        );
        assert_eq!(
            verdict(Metric::TtftP99, Some(100.0), Some(90.0)),
            Verdict::Better
        );
        assert_eq!(
            verdict(Metric::InterTokenP50, Some(0.0), Some(90.0)),
            Verdict::NotAvailable
        );
    }

    #[test]
    fn generation_latency_is_never_called_end_to_end() {
        assert_eq!(
            Metric::TotalLatencyP99.title(),
            "Generation latency (to last token) p99"
        );
        assert_eq!(Metric::Throughput.title(), "Overall throughput");
        for m in Metric::ALL {
            assert!(!m.title().contains("End-to-end") && !m.short_header().contains("e2e"));
        }
    }

    #[test]
    fn keys_roundtrip_in_column_order() {
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(m.index(), i);
            assert_eq!(Metric::from_key(m.key()), Some(*m));
        }
    }
}
