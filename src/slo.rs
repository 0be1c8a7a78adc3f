//! Service-level objectives and goodput (vLLM's `--goodput` semantics; the exact definitions are
//! in docs/metrics.md).
//!
//! A request is *good* when it succeeded and meets every threshold given: TTFT, TPOT and E2E at
//! or below theirs (vLLM: `slo >= value`), and — an addition of ours, vLLM has no ITL objective —
//! every one of its inter-token gaps at or below the ITL threshold (its largest gap). A
//! successful request without a TPOT (fewer than two output tokens) meets the TPOT objective,
//! as vLLM feeds it to goodput as 0.

use std::fmt;
use std::str::FromStr;

use crate::records::RequestRecord;
use crate::results::write::Ordered;

/// `--slo-attainment` when not given: a load meets the SLO when 99 % of its requests are good.
pub const DEFAULT_ATTAINMENT_PCT: f64 = 99.0;

/// Thresholds in milliseconds; `None` = not part of the objective.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub itl_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

const KEYS: &str = "ttft_ms, tpot_ms, itl_ms, e2e_ms";

impl FromStr for Slo {
    type Err = String;
    /// `ttft_ms=500,tpot_ms=50` (any non-empty subset of [`KEYS`], each at most once).
    fn from_str(s: &str) -> Result<Slo, String> {
        let mut slo = Slo::default();
        for part in s.split(',').map(str::trim) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(format!(
                    "expected KEY=MILLISECONDS separated by commas ({KEYS}), got {part:?}"
                ));
            };
            let k = k.trim();
            let ms = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| format!("{k}: expected milliseconds > 0, got {:?}", v.trim()))?;
            let slot = match k {
                "ttft_ms" => &mut slo.ttft_ms,
                "tpot_ms" => &mut slo.tpot_ms,
                "itl_ms" => &mut slo.itl_ms,
                "e2e_ms" => &mut slo.e2e_ms,
                _ => return Err(format!("unknown objective {k:?} (known: {KEYS})")),
            };
            if slot.replace(ms).is_some() {
                return Err(format!("{k} is given twice"));
            }
        }
        Ok(slo)
    }
}

impl fmt::Display for Slo {
    /// The same text `--slo` takes (keys in a fixed order).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.thresholds().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&parts.join(","))
    }
}

impl Slo {
    /// `(key, milliseconds)` of every threshold given, in a fixed order.
    pub fn thresholds(&self) -> impl Iterator<Item = (&'static str, f64)> {
        [
            ("ttft_ms", self.ttft_ms),
            ("tpot_ms", self.tpot_ms),
            ("itl_ms", self.itl_ms),
            ("e2e_ms", self.e2e_ms),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }

    /// Whether the request succeeded and meets every threshold (inclusive).
    pub fn is_good(&self, r: &RequestRecord) -> bool {
        if !r.is_ok() {
            return false;
        }
        let within = |limit: Option<f64>, seconds: Option<f64>| match (limit, seconds) {
            (None, _) => true,
            (Some(ms), Some(s)) => s * 1000.0 <= ms,
            (Some(_), None) => false,
        };
        let max_gap = r.gaps.iter().copied().fold(0.0_f32, f32::max);
        within(self.ttft_ms, r.ttft)
            && within(self.tpot_ms, Some(r.tpot().unwrap_or(0.0)))
            && within(self.itl_ms, Some(f64::from(max_gap)))
            && within(self.e2e_ms, Some(r.e2e))
    }

    /// The objective as recorded in the results (`{"ttft_ms": 500, …}`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.thresholds()
                .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
                .collect(),
        )
    }
}

/// The SLO of a run and the share of requests it needs to be met.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SloTarget {
    pub slo: Slo,
    /// Percent of the ended requests that must be good (`--slo-attainment`).
    pub attainment_pct: f64,
}

/// Goodput of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Goodput {
    /// Good requests.
    pub good: usize,
    /// Requests that ended (succeeded or failed; cancelled ones are left out).
    pub ended: usize,
    pub requests_per_sec: f64,
    /// Output tokens of the good requests per second.
    pub tokens_per_sec: f64,
    /// 100 · good / ended (NaN when nothing ended).
    pub attainment_pct: f64,
}

impl Goodput {
    /// Goodput of `records` over the run's duration (`RunStats::duration_s`).
    pub fn of(slo: &Slo, records: &[RequestRecord], duration_s: f64) -> Goodput {
        let (mut good, mut ended, mut tokens) = (0usize, 0usize, 0u64);
        for r in records {
            if matches!(r.outcome, crate::records::Outcome::Cancelled) {
                continue;
            }
            ended += 1;
            if slo.is_good(r) {
                good += 1;
                tokens += r.output_tokens;
            }
        }
        let per_s = |x: f64| {
            if duration_s > 0.0 {
                x / duration_s
            } else {
                f64::NAN
            }
        };
        Goodput {
            good,
            ended,
            requests_per_sec: per_s(good as f64),
            tokens_per_sec: per_s(tokens as f64),
            attainment_pct: if ended > 0 {
                100.0 * good as f64 / ended as f64
            } else {
                f64::NAN
            },
        }
    }

    /// Whether the attainment reaches the target.
    pub fn meets(&self, target: &SloTarget) -> bool {
        self.attainment_pct >= target.attainment_pct
    }

    /// The fields appended to `benchmark_stats.summary`.
    pub fn summary_fields(&self, out: &mut Ordered) {
        out.push("goodput_requests_per_sec", self.requests_per_sec);
        out.push("goodput_tokens_per_sec", self.tokens_per_sec);
        out.push("slo_attainment_pct", self.attainment_pct);
        out.push("good_requests", self.good);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::records::{ErrorKind, Failure, Outcome, TokenSource};

    fn rec(ttft: f64, e2e: f64, gaps: Vec<f32>, outcome: Outcome) -> RequestRecord {
        let t = Instant::now();
        RequestRecord {
            index: 0,
            request_id: "r".into(),
            scheduled: t,
            sent: t,
            ttft: Some(ttft),
            last_content: Some(e2e),
            e2e,
            done_at: t + Duration::from_secs_f64(e2e),
            content_chunks: gaps.len() as u32 + 1,
            output_tokens: gaps.len() as u64 + 1,
            gaps,
            chunk_tokens: None,
            input_tokens: Some(1),
            input_source: TokenSource::Usage,
            requested_input_tokens: None,
            output_source: TokenSource::Usage,
            outcome,
            prompt: None,
            output: None,
            uncounted_output: None,
            tls_handshake: None,
        }
    }

    #[test]
    fn parses_and_prints() {
        let s: Slo = "ttft_ms=500, tpot_ms=50".parse().unwrap();
        assert_eq!(
            (s.ttft_ms, s.tpot_ms, s.itl_ms),
            (Some(500.0), Some(50.0), None)
        );
        assert_eq!(s.to_string(), "ttft_ms=500,tpot_ms=50");
        assert_eq!(s.json()["ttft_ms"], 500.0);
        for bad in [
            "",
            "ttft=500",
            "ttft_ms",
            "ttft_ms=0",
            "ttft_ms=-1",
            "ttft_ms=inf",
            "ttft_ms=1,ttft_ms=2",
            "ttft_ms=1,",
        ] {
            assert!(bad.parse::<Slo>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn good_means_ok_and_every_threshold_met_inclusive() {
        let slo: Slo = "ttft_ms=100,itl_ms=20,e2e_ms=1000".parse().unwrap();
        assert!(slo.is_good(&rec(0.1, 0.5, vec![0.02, 0.01], Outcome::Ok)));
        assert!(!slo.is_good(&rec(0.1001, 0.5, vec![], Outcome::Ok)));
        assert!(
            !slo.is_good(&rec(0.05, 0.5, vec![0.01, 0.03], Outcome::Ok)),
            "one slow gap"
        );
        assert!(!slo.is_good(&rec(0.05, 1.5, vec![], Outcome::Ok)));
        let failed = Outcome::Failed(Failure {
            kind: ErrorKind::StreamCut,
            status: None,
            message: String::new(),
        });
        assert!(!slo.is_good(&rec(0.01, 0.02, vec![], failed)));
        // TPOT = (0.39 - 0.1) / 3 ≈ 97 ms; a single-token request meets any TPOT.
        let tpot: Slo = "tpot_ms=100".parse().unwrap();
        assert!(tpot.is_good(&rec(0.1, 0.39, vec![0.1, 0.1, 0.09], Outcome::Ok)));
        assert!(!tpot.is_good(&rec(0.1, 0.41, vec![0.1, 0.1, 0.11], Outcome::Ok)));
        assert!(tpot.is_good(&rec(0.1, 9.0, vec![], Outcome::Ok)));
    }

    #[test]
    fn goodput_counts_good_requests_over_the_duration() {
        let slo: Slo = "ttft_ms=100".parse().unwrap();
        let records = vec![
            rec(0.05, 0.2, vec![0.1], Outcome::Ok),
            rec(0.2, 0.3, vec![0.1], Outcome::Ok),
            rec(0.05, 0.2, vec![0.1, 0.1, 0.1], Outcome::Ok),
            rec(0.5, 0.6, vec![], Outcome::Ok),
            rec(0.0, 0.0, vec![], Outcome::Cancelled),
        ];
        let g = Goodput::of(&slo, &records, 2.0);
        assert_eq!((g.good, g.ended), (2, 4));
        assert_eq!(g.attainment_pct, 50.0);
        assert_eq!(g.requests_per_sec, 1.0);
        assert_eq!(g.tokens_per_sec, 3.0, "(2 + 4) output tokens / 2 s");
        let target = SloTarget {
            slo,
            attainment_pct: 50.0,
        };
        assert!(g.meets(&target));
        assert!(!Goodput::of(&slo, &[], 0.0).meets(&target));
    }
}
