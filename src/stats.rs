//! Aggregate statistics over samples: percentiles with linear interpolation (numpy's default,
//! `numpy.percentile(x, q)` with `method="linear"`), mean, min, max — and [`RunStats`], the
//! aggregates of one run's request records (definitions in docs/metrics.md).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::records::{Outcome, RequestRecord, TokenSource};

/// Percentile `q` (0–100) of `sorted` (ascending, finite) with linear interpolation between
/// the two closest ranks, exactly as numpy's default: rank = q/100 · (n − 1).
/// `None` for an empty slice.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (q / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Mean of the values; `None` when empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// The percentiles the users' format reports for every latency group.
pub const REPORTED_PERCENTILES: [f64; 4] = [50.0, 90.0, 95.0, 99.0];

/// avg, p50, p90, p95, p99, max of one group of samples (NaN samples are dropped first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distribution {
    pub count: usize,
    pub avg: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

impl Distribution {
    /// `None` when there is no finite sample.
    pub fn of(samples: &[f64]) -> Option<Distribution> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable_by(f64::total_cmp);
        let p = |q| percentile_sorted(&v, q).unwrap_or(f64::NAN);
        Some(Distribution {
            count: v.len(),
            avg: mean(&v).unwrap_or(f64::NAN),
            p50: p(50.0),
            p90: p(90.0),
            p95: p(95.0),
            p99: p(99.0),
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

/// The latency groups of a run, in the order they are written and printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// Send → last content chunk (the users' `total_generation_latency`).
    TotalGeneration,
    TimeToFirstToken,
    /// Gaps between content chunks, pooled over all requests.
    InterToken,
    /// Actual − scheduled send time.
    ScheduleDelay,
    /// (E2E − TTFT) / (output tokens − 1).
    TimePerOutputToken,
    /// Send → last byte.
    EndToEnd,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::TotalGeneration,
        Group::TimeToFirstToken,
        Group::InterToken,
        Group::ScheduleDelay,
        Group::TimePerOutputToken,
        Group::EndToEnd,
    ];

    /// Key under `latency_percentiles_ms`.
    pub fn key(self) -> &'static str {
        match self {
            Group::TotalGeneration => "total_generation_latency",
            Group::TimeToFirstToken => "time_to_first_token",
            Group::InterToken => "inter_token_latency",
            Group::ScheduleDelay => "schedule_delay",
            Group::TimePerOutputToken => "time_per_output_token",
            Group::EndToEnd => "e2e_latency",
        }
    }

    /// Prefix of the group's fields (`total_p50`, `first_token_p99`, …).
    pub fn prefix(self) -> &'static str {
        match self {
            Group::TotalGeneration => "total",
            Group::TimeToFirstToken => "first_token",
            Group::InterToken => "inter_token",
            Group::ScheduleDelay => "schedule_delay",
            Group::TimePerOutputToken => "tpot",
            Group::EndToEnd => "e2e",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Group::TotalGeneration => crate::metrics::GENERATION_LATENCY,
            Group::TimeToFirstToken => crate::metrics::TIME_TO_FIRST_TOKEN,
            Group::InterToken => crate::metrics::INTER_TOKEN_LATENCY,
            Group::ScheduleDelay => "Schedule delay",
            Group::TimePerOutputToken => "Time per output token",
            Group::EndToEnd => crate::metrics::END_TO_END_LATENCY,
        }
    }
}

/// Aggregates of one run's measured requests (latencies in milliseconds).
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    /// Requests that completed (`data: [DONE]` received).
    pub successful: usize,
    pub failed: usize,
    /// In flight when an interrupted run gave up waiting.
    pub cancelled: usize,
    pub errors_by_kind: BTreeMap<&'static str, usize>,
    /// Tokens of successful requests.
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    /// First send → last byte, over every measured request (seconds).
    pub duration_s: f64,
    /// Output tokens of successful requests / `duration_s`.
    pub output_throughput: f64,
    /// Successful requests / `duration_s`.
    pub request_throughput: f64,
    /// (Input + output tokens of successful requests) / `duration_s`.
    pub total_token_throughput: f64,
    /// Every group over the successful requests, in ms; `None` when it has no sample.
    pub groups: BTreeMap<Group, Distribution>,
    /// Tokens per content chunk, over the chunks whose count the server reported.
    pub tokens_per_chunk: Option<Distribution>,
    /// How many successful requests took their input / output counts from each source.
    pub input_sources: BTreeMap<&'static str, usize>,
    pub output_sources: BTreeMap<&'static str, usize>,
    /// Successful requests whose prompt the server counted differently from the length the
    /// workload built it to (only where both are known), and the largest difference.
    pub prompt_length_mismatches: usize,
    pub prompt_length_max_diff: u64,
}

impl RunStats {
    pub fn from_records(records: &[RequestRecord]) -> RunStats {
        let mut s = RunStats::default();
        let mut samples: BTreeMap<Group, Vec<f64>> =
            Group::ALL.iter().map(|g| (*g, Vec::new())).collect();
        let mut per_chunk = Vec::new();
        let (mut first, mut last): (Option<Instant>, Option<Instant>) = (None, None);
        for r in records {
            if !matches!(r.outcome, Outcome::Cancelled) {
                first = Some(first.map_or(r.sent, |f| f.min(r.sent)));
                last = Some(last.map_or(r.end(), |l| l.max(r.end())));
            }
            match &r.outcome {
                Outcome::Ok => {}
                Outcome::Cancelled => {
                    s.cancelled += 1;
                    continue;
                }
                Outcome::Failed(f) => {
                    s.failed += 1;
                    *s.errors_by_kind.entry(f.kind.as_str()).or_default() += 1;
                    continue;
                }
            }
            s.successful += 1;
            s.total_input_tokens += r.input_tokens.unwrap_or(0);
            s.total_output_tokens += r.output_tokens;
            *s.input_sources.entry(r.input_source.as_str()).or_default() += 1;
            if let (TokenSource::Usage, Some(got), Some(want)) =
                (r.input_source, r.input_tokens, r.requested_input_tokens)
            {
                if got != want {
                    s.prompt_length_mismatches += 1;
                    s.prompt_length_max_diff = s.prompt_length_max_diff.max(got.abs_diff(want));
                }
            }
            *s.output_sources
                .entry(r.output_source.as_str())
                .or_default() += 1;
            let mut push = |g: Group, v: Option<f64>| {
                if let (Some(v), Some(list)) = (v, samples.get_mut(&g)) {
                    list.push(v * 1000.0);
                }
            };
            push(Group::TotalGeneration, Some(r.total_latency()));
            push(Group::TimeToFirstToken, r.ttft);
            push(Group::ScheduleDelay, Some(r.schedule_delay()));
            push(Group::TimePerOutputToken, r.tpot());
            push(Group::EndToEnd, Some(r.e2e));
            if let Some(itl) = samples.get_mut(&Group::InterToken) {
                itl.extend(r.gaps.iter().map(|&g| f64::from(g) * 1000.0));
            }
            if let Some(k) = &r.chunk_tokens {
                per_chunk.extend(k.iter().map(|&k| f64::from(k)));
            }
        }
        for (g, v) in samples {
            if let Some(d) = Distribution::of(&v) {
                s.groups.insert(g, d);
            }
        }
        s.tokens_per_chunk = Distribution::of(&per_chunk);
        s.set_duration(match (first, last) {
            (Some(f), Some(l)) => l.saturating_duration_since(f).as_secs_f64(),
            _ => 0.0,
        });
        s
    }

    /// Sets the run's wall time and the throughputs derived from it (tokens and requests per
    /// second; NaN — missing — without a positive duration).
    pub fn set_duration(&mut self, duration_s: f64) {
        self.duration_s = duration_s;
        let per_s = |x: f64| {
            if duration_s > 0.0 {
                x / duration_s
            } else {
                f64::NAN
            }
        };
        self.output_throughput = per_s(self.total_output_tokens as f64);
        self.request_throughput = per_s(self.successful as f64);
        self.total_token_throughput =
            per_s((self.total_input_tokens + self.total_output_tokens) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], [50, 90, 99]) == [2.5, 3.7, 3.97]
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_sorted(&v, 50.0), Some(2.5));
        assert!((percentile_sorted(&v, 90.0).unwrap() - 3.7).abs() < 1e-12);
        assert!((percentile_sorted(&v, 99.0).unwrap() - 3.97).abs() < 1e-12);
        assert_eq!(percentile_sorted(&v, 0.0), Some(1.0));
        assert_eq!(percentile_sorted(&v, 100.0), Some(4.0));
        assert_eq!(percentile_sorted(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile_sorted(&[], 50.0), None);
        // numpy.percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 95) == 95.5
        let w: Vec<f64> = (1..=10).map(|i| f64::from(i) * 10.0).collect();
        assert!((percentile_sorted(&w, 95.0).unwrap() - 95.5).abs() < 1e-12);
    }

    #[test]
    fn distribution_drops_nan_and_sorts() {
        let d = Distribution::of(&[3.0, f64::NAN, 1.0, 2.0]).unwrap();
        assert_eq!(
            (d.count, d.min, d.max, d.p50, d.avg),
            (3, 1.0, 3.0, 2.0, 2.0)
        );
        assert!(Distribution::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn run_stats_pool_gaps_and_count_outcomes() {
        use crate::records::{ErrorKind, Failure, TokenSource};
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        let rec =
            |i: usize, sent_ms: u64, e2e: f64, gaps: Vec<f32>, outcome: Outcome| RequestRecord {
                index: i,
                request_id: format!("r{i}"),
                scheduled: t0,
                sent: t0 + Duration::from_millis(sent_ms),
                ttft: Some(0.1),
                last_content: Some(e2e),
                e2e,
                done_at: t0,
                gaps,
                content_chunks: 3,
                chunk_tokens: None,
                input_tokens: Some(10),
                input_source: TokenSource::Usage,
                requested_input_tokens: None,
                output_tokens: 3,
                output_source: TokenSource::Chunks,
                outcome,
                prompt: None,
                output: None,
                uncounted_output: None,
                tls_handshake: None,
            };
        let fail = Outcome::Failed(Failure {
            kind: ErrorKind::StreamCut,
            status: None,
            message: String::new(),
        });
        let records = vec![
            rec(0, 0, 1.0, vec![0.01, 0.02], Outcome::Ok),
            rec(1, 500, 1.5, vec![0.03, 0.04], Outcome::Ok),
            rec(2, 100, 0.2, vec![9.0], fail),
            rec(3, 100, 0.1, vec![], Outcome::Cancelled),
        ];
        let s = RunStats::from_records(&records);
        assert_eq!((s.successful, s.failed, s.cancelled), (2, 1, 1));
        assert_eq!(s.errors_by_kind.get("stream_cut"), Some(&1));
        assert_eq!((s.total_input_tokens, s.total_output_tokens), (20, 6));
        // first send at 0, last byte at 0.5 + 1.5 = 2.0 s
        assert!((s.duration_s - 2.0).abs() < 1e-9);
        assert!((s.output_throughput - 3.0).abs() < 1e-9);
        assert!((s.request_throughput - 1.0).abs() < 1e-9);
        let itl = s.groups[&Group::InterToken];
        assert_eq!(itl.count, 4, "gaps of successful requests only, pooled");
        assert!((itl.max - 40.0).abs() < 1e-3 && (itl.min - 10.0).abs() < 1e-3);
        assert!((s.groups[&Group::TimeToFirstToken].p50 - 100.0).abs() < 1e-9);
        assert_eq!(s.output_sources.get("chunks"), Some(&2));
        assert!(s.tokens_per_chunk.is_none());
    }
}
