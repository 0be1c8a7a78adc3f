//! The seven headline metrics that `compare` and `summarize` report, where each is read from in
//! `benchmark_results.json`, its unit and which direction is better.
//!
//! How each is *measured* is in `crate::stats` (percentiles) and `crate::records` (per request);
//! their definitions are written down in docs/metrics.md.

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

    /// Human title used in charts and tables.
    pub fn title(self) -> &'static str {
        match self {
            Metric::Throughput => "Overall throughput",
            Metric::TotalLatencyP50 => "End-to-end latency p50",
            Metric::TotalLatencyP99 => "End-to-end latency p99",
            Metric::TtftP50 => "Time to first token p50",
            Metric::TtftP99 => "Time to first token p99",
            Metric::InterTokenP50 => "Inter-token latency p50",
            Metric::InterTokenP99 => "Inter-token latency p99",
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
    fn keys_roundtrip_in_column_order() {
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(m.index(), i);
            assert_eq!(Metric::from_key(m.key()), Some(*m));
        }
    }
}
