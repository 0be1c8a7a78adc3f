//! The server's own view of a run: vLLM's `/metrics` scraped during the measured phase
//! ([`scrape`]), parsed ([`prom`]), kept as a time series (`server_metrics.csv`), summarised into
//! the `server_metrics` block of `benchmark_results.json` and checked against the client's
//! numbers ([`check`]). Definitions: docs/metrics.md, "The server's own view".

pub mod check;
pub mod prom;
pub mod scrape;

use std::path::Path;
use std::time::Duration;

use prom::Sample;

use crate::results::write::Ordered;

/// File in the run folder: seconds since the run's start, then one column per kept series.
pub const CSV_FILE: &str = "server_metrics.csv";

pub const RUNNING: &str = "vllm:num_requests_running";
pub const WAITING: &str = "vllm:num_requests_waiting";
pub const KV_USAGE: &str = "vllm:kv_cache_usage_perc";
/// The name before vLLM 0.10 (V0 engine).
pub const KV_USAGE_OLD: &str = "vllm:gpu_cache_usage_perc";
pub const PROMPT_TOKENS: &str = "vllm:prompt_tokens";
pub const GENERATION_TOKENS: &str = "vllm:generation_tokens";
pub const PREEMPTIONS: &str = "vllm:num_preemptions";
pub const PREFIX_QUERIES: &str = "vllm:prefix_cache_queries";
pub const PREFIX_HITS: &str = "vllm:prefix_cache_hits";
pub const SUCCESS: &str = "vllm:request_success";
pub const TTFT: &str = "vllm:time_to_first_token_seconds";
pub const E2E: &str = "vllm:e2e_request_latency_seconds";
pub const QUEUE: &str = "vllm:request_queue_time_seconds";
pub const ITL: &str = "vllm:inter_token_latency_seconds";

/// Gauge and counter families kept as time series (one CSV column per label set).
pub const KEPT: [(&str, bool); 10] = [
    (RUNNING, true),
    (WAITING, true),
    (KV_USAGE, true),
    (KV_USAGE_OLD, true),
    (PROMPT_TOKENS, false),
    (GENERATION_TOKENS, false),
    (PREEMPTIONS, false),
    (PREFIX_QUERIES, false),
    (PREFIX_HITS, false),
    (SUCCESS, false),
];
/// Histogram families kept from the first and the last scrape (their delta is the window's).
pub const HISTOGRAMS: [&str; 4] = [TTFT, E2E, QUEUE, ITL];

/// Whether a family is kept (a gauge or counter of [`KEPT`], or one of [`HISTOGRAMS`]).
pub fn kept_family(f: &str) -> bool {
    KEPT.iter().any(|(n, _)| *n == f) || HISTOGRAMS.contains(&f)
}

/// Parses one answer of `/metrics` into its kept series (gauges, counters) and histogram
/// samples (`_created` samples dropped).
pub fn parse_kept(body: &str) -> Result<(Vec<Sample>, Vec<Sample>), prom::ParseError> {
    let e = prom::parse(body, kept_family)?;
    Ok(e.samples
        .into_iter()
        .filter(|s| !s.name.ends_with("_created"))
        .partition(|s| !HISTOGRAMS.contains(&prom::family(&s.name))))
}

/// Default `--metrics-interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// What the scraper collected.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// The `/metrics` URL (without credentials).
    pub url: String,
    pub interval: Duration,
    /// Series (`name{labels}`), in order of first appearance.
    pub columns: Vec<String>,
    /// Per scrape: seconds since the run's start, the value of each column (NaN: absent).
    pub rows: Vec<(f64, Vec<f64>)>,
    /// Histogram samples of the first and of the last scrape.
    pub first_hist: Vec<Sample>,
    pub last_hist: Vec<Sample>,
    /// Why scraping stopped early (printed once).
    pub warning: Option<String>,
    /// `Scraper::finish` ran (the last scrape was attempted).
    pub finished: bool,
}

fn series_key(s: &Sample) -> String {
    if s.labels.is_empty() {
        return s.name.clone();
    }
    let mut labels = s.labels.clone();
    labels.sort();
    let inner = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(",");
    format!("{}{{{inner}}}", s.name)
}

/// The family of a column key (`vllm:prompt_tokens_total{...}` → `vllm:prompt_tokens`).
fn column_family(key: &str) -> &str {
    prom::family(key.split('{').next().unwrap_or(key))
}

impl Collected {
    pub fn new(url: &str, interval: Duration) -> Collected {
        Collected {
            url: url.to_owned(),
            interval,
            ..Collected::default()
        }
    }

    /// Adds one scrape.
    pub fn push(&mut self, t: f64, series: &[Sample], hist: Vec<Sample>) {
        let mut row = vec![f64::NAN; self.columns.len()];
        for s in series {
            let key = series_key(s);
            let i = match self.columns.iter().position(|c| *c == key) {
                Some(i) => i,
                None => {
                    self.columns.push(key);
                    row.push(f64::NAN);
                    self.columns.len() - 1
                }
            };
            row[i] = s.value;
        }
        if self.rows.is_empty() {
            self.first_hist = hist.clone();
        }
        self.last_hist = hist;
        self.rows.push((t, row));
    }

    pub fn drop_last_row(&mut self) {
        if self.rows.len() > 1 {
            self.rows.pop();
        }
    }

    /// Scrapes that succeeded.
    pub fn scrapes(&self) -> usize {
        self.rows.len()
    }

    /// Covers the whole measured window: first scrape before it, last one after it, no failure.
    pub fn complete(&self) -> bool {
        self.warning.is_none() && self.finished && self.rows.len() >= 2
    }

    /// The value of a family in one row, summed over its label sets (`None`: absent).
    pub fn family_sum(&self, row: &[f64], family: &str) -> Option<f64> {
        let mut sum = None;
        for (i, c) in self.columns.iter().enumerate() {
            if column_family(c) == family {
                if let Some(v) = row.get(i).copied().filter(|v| v.is_finite()) {
                    *sum.get_or_insert(0.0) += v;
                }
            }
        }
        sum
    }

    /// A gauge over the scrapes, summed over label sets (engines): (max, mean).
    pub fn gauge(&self, family: &str) -> Option<(f64, f64)> {
        let v: Vec<f64> = self
            .rows
            .iter()
            .filter_map(|(_, r)| self.family_sum(r, family))
            .collect();
        if v.is_empty() {
            return None;
        }
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((max, v.iter().sum::<f64>() / v.len() as f64))
    }

    /// A gauge's values over time (seconds since the run's start, value).
    pub fn gauge_series(&self, family: &str) -> Vec<(f64, f64)> {
        self.rows
            .iter()
            .filter_map(|(t, r)| self.family_sum(r, family).map(|v| (*t, v)))
            .collect()
    }

    /// A counter's increase from the first to the last scrape, summed over its label sets (a
    /// label set first seen later started from 0).
    pub fn counter_delta(&self, family: &str) -> Option<f64> {
        let (first, last) = (&self.rows.first()?.1, &self.rows.last()?.1);
        let mut sum = None;
        for (i, c) in self.columns.iter().enumerate() {
            if column_family(c) != family {
                continue;
            }
            let Some(end) = last.get(i).copied().filter(|v| v.is_finite()) else {
                continue;
            };
            let start = first
                .get(i)
                .copied()
                .filter(|v| v.is_finite())
                .unwrap_or(0.0);
            *sum.get_or_insert(0.0) += end - start;
        }
        sum
    }

    /// `vllm:request_success_total` counted since the first scrape.
    pub fn successes_counted(&self) -> Option<u64> {
        self.counter_delta(SUCCESS).map(|v| v.round() as u64)
    }

    /// A histogram's delta over the window, label sets summed.
    pub fn histogram(&self, family: &str) -> Option<Histogram> {
        let first = Histogram::of(&self.first_hist, family);
        let last = Histogram::of(&self.last_hist, family)?;
        Some(last.minus(first.as_ref()))
    }
}

/// Cumulative buckets (upper bound, count), ascending, with count and sum.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
    pub count: f64,
    pub sum: f64,
}

impl Histogram {
    /// The family's buckets in `samples`, summed over label sets.
    pub fn of(samples: &[Sample], family: &str) -> Option<Histogram> {
        let mut h = Histogram {
            buckets: Vec::new(),
            count: 0.0,
            sum: 0.0,
        };
        let mut any = false;
        for s in samples {
            let Some(suffix) = s.name.strip_prefix(family) else {
                continue;
            };
            match suffix {
                "_bucket" => {
                    let Some(le) = s.label("le").and_then(prom::parse_value) else {
                        continue;
                    };
                    match h.buckets.iter_mut().find(|(b, _)| *b == le) {
                        Some(b) => b.1 += s.value,
                        None => h.buckets.push((le, s.value)),
                    }
                    any = true;
                }
                "_count" => h.count += s.value,
                "_sum" => h.sum += s.value,
                _ => {}
            }
        }
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        any.then_some(h)
    }

    fn minus(mut self, base: Option<&Histogram>) -> Histogram {
        if let Some(b) = base {
            for (le, c) in &mut self.buckets {
                if let Some((_, bc)) = b.buckets.iter().find(|(x, _)| x == le) {
                    *c -= bc;
                }
            }
            self.count -= b.count;
            self.sum -= b.sum;
        }
        self
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// The bucket (lower, upper] holding the q-quantile's rank.
    pub fn bucket_of(&self, q: f64) -> Option<(f64, f64)> {
        let total = self.buckets.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let i = self.buckets.iter().position(|(_, c)| *c >= rank)?;
        let lower = if i == 0 { 0.0 } else { self.buckets[i - 1].0 };
        Some((lower, self.buckets[i].0))
    }

    /// The q-quantile as Prometheus' `histogram_quantile` computes it: linear interpolation
    /// inside the bucket holding rank q·count (the first bucket starts at 0); in the `+Inf`
    /// bucket, the highest finite upper bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let b = &self.buckets;
        if b.len() < 2 || b.last()?.0 != f64::INFINITY {
            return None;
        }
        let total = b.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let i = b.iter().position(|(_, c)| *c >= rank)?;
        if i == b.len() - 1 {
            return Some(b[b.len() - 2].0);
        }
        let (end, cum) = b[i];
        if i == 0 && end <= 0.0 {
            return Some(end);
        }
        let (start, below) = if i == 0 { (0.0, 0.0) } else { b[i - 1] };
        let inside = cum - below;
        if inside <= 0.0 {
            return Some(end);
        }
        Some(start + (end - start) * (rank - below) / inside)
    }
}

/// The `server_metrics` block of `benchmark_results.json` (latencies in ms).
pub fn block(c: &Collected, self_check: &[String]) -> Ordered {
    let mut o = Ordered::default();
    o.push("source", crate::secrets::mask_url(&c.url));
    o.push("interval_s", c.interval.as_secs_f64());
    o.push("scrapes", c.scrapes());
    o.push("complete", c.complete());
    o.push("warning", c.warning.clone());
    if let (Some((t0, _)), Some((t1, _))) = (c.rows.first(), c.rows.last()) {
        o.push("first_scrape_s", *t0);
        o.push("last_scrape_s", *t1);
    }
    let kv = if c.gauge(KV_USAGE).is_some() {
        KV_USAGE
    } else {
        KV_USAGE_OLD
    };
    for (key, family) in [
        ("num_requests_running", RUNNING),
        ("num_requests_waiting", WAITING),
        ("kv_cache_usage_perc", kv),
    ] {
        let mut g = Ordered::default();
        let (max, mean) = c.gauge(family).unzip();
        g.push("max", max);
        g.push("mean", mean);
        o.push_object(key, g);
    }
    for (key, family) in [
        ("prompt_tokens", PROMPT_TOKENS),
        ("generation_tokens", GENERATION_TOKENS),
        ("num_preemptions", PREEMPTIONS),
        ("prefix_cache_queries", PREFIX_QUERIES),
        ("prefix_cache_hits", PREFIX_HITS),
        ("request_success", SUCCESS),
    ] {
        o.push(key, c.counter_delta(family));
    }
    let hit_rate = c
        .counter_delta(PREFIX_HITS)
        .zip(c.counter_delta(PREFIX_QUERIES))
        .and_then(|(h, q)| (q > 0.0).then(|| h / q));
    o.push("prefix_cache_hit_rate", hit_rate);
    for (key, family) in [
        ("time_to_first_token_ms", TTFT),
        ("e2e_request_latency_ms", E2E),
        ("request_queue_time_ms", QUEUE),
        ("inter_token_latency_ms", ITL),
    ] {
        let h = c.histogram(family);
        let ms = |v: Option<f64>| v.map(|v| v * 1000.0);
        let mut g = Ordered::default();
        g.push("count", h.as_ref().map(|h| h.count));
        g.push("mean", ms(h.as_ref().and_then(Histogram::mean)));
        g.push("p50", ms(h.as_ref().and_then(|h| h.quantile(0.5))));
        g.push("p99", ms(h.as_ref().and_then(|h| h.quantile(0.99))));
        o.push_object(key, g);
    }
    o.push("self_check", serde_json::Value::from(self_check.to_vec()));
    o
}

/// The self-check lines recorded in a run folder's `benchmark_results.json` (empty when the run
/// has none), for `sweep`'s report of each configuration.
pub fn recorded_self_check(run_dir: &Path) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        server_metrics: Option<Block>,
    }
    #[derive(serde::Deserialize)]
    struct Block {
        #[serde(default)]
        self_check: Vec<String>,
    }
    std::fs::File::open(run_dir.join(crate::results::read::RESULTS_FILE))
        .ok()
        .and_then(|f| serde_json::from_reader::<_, Doc>(std::io::BufReader::new(f)).ok())
        .and_then(|d| d.server_metrics)
        .map(|b| b.self_check)
        .unwrap_or_default()
}

/// Writes `server_metrics.csv` atomically: `t_s` (seconds since the run's start), then one
/// column per series (`name{label="value",...}`); an empty cell where a series was absent.
pub fn write_csv(dir: &Path, c: &Collected) -> std::io::Result<()> {
    crate::atomic::write_atomic_with(&dir.join(CSV_FILE), false, |w| {
        let mut out = csv::Writer::from_writer(w);
        let mut head = vec!["t_s".to_owned()];
        head.extend(c.columns.iter().cloned());
        out.write_record(&head).map_err(std::io::Error::other)?;
        for (t, row) in &c.rows {
            let mut rec = vec![format!("{t:.3}")];
            for i in 0..c.columns.len() {
                rec.push(match row.get(i) {
                    Some(v) if v.is_finite() => format!("{v}"),
                    _ => String::new(),
                });
            }
            out.write_record(&rec).map_err(std::io::Error::other)?;
        }
        out.flush()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            value,
        }
    }

    fn hist(counts: &[(&str, f64)], engine: &str) -> Vec<Sample> {
        let mut v: Vec<Sample> = counts
            .iter()
            .map(|(le, c)| {
                s(
                    "vllm:time_to_first_token_seconds_bucket",
                    &[("engine", engine), ("le", le)],
                    *c,
                )
            })
            .collect();
        let n = counts.last().map_or(0.0, |c| c.1);
        v.push(s(
            "vllm:time_to_first_token_seconds_count",
            &[("engine", engine)],
            n,
        ));
        v.push(s(
            "vllm:time_to_first_token_seconds_sum",
            &[("engine", engine)],
            n * 0.03,
        ));
        v
    }

    /// A real capture: vLLM 0.32.0 (CPU) after 4 requests of 16 tokens (its `vllm:` lines).
    #[test]
    fn real_vllm_metrics_parse_into_the_kept_series() {
        let body = include_str!("../../tests/data/vllm-0.32.0-metrics.txt");
        let (series, hist) = parse_kept(body).unwrap();
        let mut c = Collected::new("http://h/metrics", DEFAULT_INTERVAL);
        c.push(0.0, &[], vec![]);
        c.push(1.0, &series, hist);
        c.finished = true;
        assert_eq!(c.counter_delta(GENERATION_TOKENS), Some(64.0));
        assert_eq!(c.counter_delta(PROMPT_TOKENS), Some(12.0));
        assert_eq!(c.counter_delta(SUCCESS), Some(4.0));
        assert_eq!(c.gauge(KV_USAGE), Some((0.0, 0.0)));
        assert_eq!(
            c.gauge(WAITING),
            Some((0.0, 0.0)),
            "waiting_by_reason is not waiting"
        );
        let ttft = c.histogram(TTFT).unwrap();
        assert_eq!(ttft.count, 4.0);
        // 1 in (0.02, 0.04], 2 in (0.04, 0.06], 1 in (0.06, 0.08]: rank 2 → 0.04 + 0.02 · 1/2.
        assert_eq!(ttft.bucket_of(0.5), Some((0.04, 0.06)));
        assert!((ttft.quantile(0.5).unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(c.histogram(ITL).unwrap().count, 60.0);
        assert_eq!(c.histogram(QUEUE).unwrap().count, 4.0);
        assert_eq!(c.histogram(E2E).unwrap().count, 4.0);
    }

    #[test]
    fn quantiles_interpolate_like_histogram_quantile() {
        // 10 observations: 2 in (0, 0.01], 6 in (0.01, 0.02], 2 in (0.02, 0.04].
        let h = Histogram::of(
            &hist(
                &[("0.01", 2.0), ("0.02", 8.0), ("0.04", 10.0), ("+Inf", 10.0)],
                "0",
            ),
            TTFT,
        )
        .unwrap();
        // rank 5 → bucket (0.01, 0.02]: 0.01 + 0.01 · (5 − 2) / 6
        assert!((h.quantile(0.5).unwrap() - 0.015).abs() < 1e-12);
        // rank 9.9 → (0.02, 0.04]: 0.02 + 0.02 · 1.9 / 2
        assert!((h.quantile(0.99).unwrap() - 0.039).abs() < 1e-12);
        assert_eq!(h.bucket_of(0.5), Some((0.01, 0.02)));
        // rank 1 → the first bucket starts at 0.
        assert!((h.quantile(0.1).unwrap() - 0.005).abs() < 1e-12);
        // All in +Inf → the highest finite bound.
        let inf = Histogram::of(&hist(&[("0.01", 0.0), ("+Inf", 3.0)], "0"), TTFT).unwrap();
        assert_eq!(inf.quantile(0.5), Some(0.01));
        assert!((h.mean().unwrap() - 0.03).abs() < 1e-12);
    }

    #[test]
    fn deltas_sum_label_sets_and_subtract_the_first_scrape() {
        let mut c = Collected::new("http://h/metrics", DEFAULT_INTERVAL);
        let run = |v: f64, e: &str| s(RUNNING, &[("engine", e)], v);
        let tok = |v: f64, e: &str| s("vllm:generation_tokens_total", &[("engine", e)], v);
        c.push(
            0.0,
            &[run(0.0, "0"), tok(100.0, "0")],
            hist(&[("0.01", 1.0), ("+Inf", 1.0)], "0"),
        );
        c.push(
            1.0,
            &[run(3.0, "0"), run(2.0, "1"), tok(150.0, "0"), tok(7.0, "1")],
            vec![],
        );
        c.push(
            2.0,
            &[
                run(1.0, "0"),
                run(0.0, "1"),
                tok(200.0, "0"),
                tok(10.0, "1"),
            ],
            [
                hist(&[("0.01", 3.0), ("+Inf", 5.0)], "0"),
                hist(&[("0.01", 1.0), ("+Inf", 1.0)], "1"),
            ]
            .concat(),
        );
        c.finished = true;
        assert_eq!(c.columns.len(), 4, "label sets kept apart: {:?}", c.columns);
        assert_eq!(c.gauge(RUNNING), Some((5.0, 2.0)));
        assert_eq!(c.counter_delta(GENERATION_TOKENS), Some(110.0));
        assert_eq!(c.counter_delta(PREEMPTIONS), None);
        let h = c.histogram(TTFT).unwrap();
        assert_eq!(h.buckets, vec![(0.01, 3.0), (f64::INFINITY, 5.0)]);
        assert_eq!(h.count, 5.0);
        assert!(c.complete());
        let d = tempfile::tempdir().unwrap();
        write_csv(d.path(), &c).unwrap();
        let text = std::fs::read_to_string(d.path().join(CSV_FILE)).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("t_s,\"vllm:num_requests_running{engine=\"\"0\"\"}\",\"vllm:generation_tokens_total{engine=\"\"0\"\"}\",\"vllm:num_requests_running{engine=\"\"1\"\"}\",\"vllm:generation_tokens_total{engine=\"\"1\"\"}\"")
        );
        assert_eq!(lines.next(), Some("0.000,0,100,,"));
    }
}
