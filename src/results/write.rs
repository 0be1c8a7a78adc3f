//! Writing the users' result format (used by run and sweep), atomically: each file is written
//! to a temporary file in the same folder, flushed, then renamed over the target, so a reader (or
//! a crash) never sees half a file.
//!
//! `benchmark_results.json` keeps the users' keys and units — `benchmark_stats` in milliseconds,
//! per-request values in seconds, `arrival_time`/`processing_start_time` in epoch seconds — and
//! adds fields beside them (see docs/result-format.md and docs/metrics.md). Key order follows the
//! users' files. Non-finite numbers are written as `null`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use super::names::model_folder_name;
use super::read::RESULTS_FILE;
use crate::records::{Clock, Outcome, RequestRecord};
use crate::stats::{Distribution, Group, RunStats};

/// Creates `<base>/<model folder>/run_<YYYYmmdd_HHMMSS>/` ([`model_folder_name`] gives the
/// model folder; a name that is not one folder inside `base` is an `InvalidInput` error).
pub fn create_model_run_dir(
    base: &Path,
    model: &str,
    now: chrono::DateTime<chrono::Local>,
) -> io::Result<PathBuf> {
    let folder =
        model_folder_name(model).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    create_run_dir(&base.join(folder), now)
}

/// Creates a new `run_<YYYYmmdd_HHMMSS>/` (local time of `now`) in `model_dir` (created if
/// missing) — the one implementation `run` and `sweep` use. The folder is claimed with one
/// `mkdir` (atomic: two processes never get the same folder); when a folder of this second
/// exists, a suffix `_2`, `_3`, … is added (names stay unique within a second and sort by time).
pub fn create_run_dir(
    model_dir: &Path,
    now: chrono::DateTime<chrono::Local>,
) -> io::Result<PathBuf> {
    fs::create_dir_all(model_dir)?;
    let stem = format!("run_{}", now.format("%Y%m%d_%H%M%S"));
    create_numbered(model_dir, &stem, "", |p| fs::create_dir(p))
}

/// Creates `<dir>/<stem><ext>` with `create` (which must fail with `AlreadyExists` when the
/// name is taken: `create_dir`, or `create_new` for a file), else `<stem>_2<ext>`, `_3`, …:
/// the one rule for names that processes sharing a folder (even over NFS) never both get.
pub fn create_numbered(
    dir: &Path,
    stem: &str,
    ext: &str,
    create: impl Fn(&Path) -> io::Result<()>,
) -> io::Result<PathBuf> {
    for n in 1..10_000 {
        let name = if n == 1 {
            format!("{stem}{ext}")
        } else {
            format!("{stem}_{n}{ext}")
        };
        let path = dir.join(name);
        match create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("too many files named {stem}_*{ext} in {}", dir.display()),
    ))
}

/// Writes a JSON value atomically (pretty-printed, 4-space indent like Python's json.dump).
pub fn write_json_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<()> {
    crate::atomic::write_atomic_with(path, true, |w| {
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(w, fmt);
        value.serialize(&mut ser).map_err(io::Error::other)
    })
}

/// A JSON object whose keys keep their insertion order (serde_json's `Map` sorts them).
#[derive(Debug, Clone, Default)]
pub struct Ordered(pub Vec<(String, Field)>);

/// A value of an [`Ordered`] object: plain JSON or a nested ordered object.
#[derive(Debug, Clone)]
pub enum Field {
    Value(Value),
    Object(Ordered),
}

impl Ordered {
    pub fn push(&mut self, k: &str, v: impl Into<Value>) {
        self.0.push((k.to_owned(), Field::Value(v.into())));
    }
    pub fn push_object(&mut self, k: &str, v: Ordered) {
        self.0.push((k.to_owned(), Field::Object(v)));
    }
    pub fn contains_key(&self, k: &str) -> bool {
        self.0.iter().any(|(have, _)| have == k)
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(v) => v.serialize(s),
            Field::Object(o) => o.serialize(s),
        }
    }
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// `{prefix}_p50 … {prefix}_max, {prefix}_avg` (the users' order); empty without samples.
pub fn group_json(prefix: &str, d: Option<&Distribution>) -> Ordered {
    let mut o = Ordered::default();
    if let Some(d) = d {
        for (name, v) in [
            ("p50", d.p50),
            ("p90", d.p90),
            ("p95", d.p95),
            ("p99", d.p99),
            ("max", d.max),
            ("avg", d.avg),
        ] {
            o.push(&format!("{prefix}_{name}"), v);
        }
    }
    o
}

fn counts(m: &std::collections::BTreeMap<&'static str, usize>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect(),
    )
}

/// `benchmark_stats`.
pub fn stats_json(s: &RunStats, extra_summary: &Ordered) -> Ordered {
    let mut summary = Ordered::default();
    summary.push("total_requests", s.successful);
    summary.push("total_input_tokens", s.total_input_tokens);
    summary.push("total_output_tokens", s.total_output_tokens);
    summary.push("overall_throughput_tokens_per_sec", s.output_throughput);
    summary.push("failed_requests", s.failed);
    summary.push("errors_by_kind", counts(&s.errors_by_kind));
    summary.push("cancelled_requests", s.cancelled);
    summary.push("request_throughput_per_sec", s.request_throughput);
    summary.push("total_token_throughput_per_sec", s.total_token_throughput);
    summary.push("duration_s", s.duration_s);
    let mut src = Map::new();
    src.insert("input".into(), counts(&s.input_sources));
    src.insert("output".into(), counts(&s.output_sources));
    summary.push("token_count_source", Value::Object(src));
    summary.push("prompt_length_mismatches", s.prompt_length_mismatches);
    summary.push("prompt_length_max_diff", s.prompt_length_max_diff);
    summary.push_object(
        "tokens_per_chunk",
        group_json("tokens_per_chunk", s.tokens_per_chunk.as_ref()),
    );
    summary.0.extend(extra_summary.0.iter().cloned());

    let mut lat = Ordered::default();
    for g in Group::ALL {
        lat.push_object(g.key(), group_json(g.prefix(), s.groups.get(&g)));
    }
    let mut out = Ordered::default();
    out.push_object("summary", summary);
    out.push_object("latency_percentiles_ms", lat);
    out
}

/// One successful request, in the users' per-request shape (seconds) plus extras.
#[derive(Serialize)]
struct Individual<'a> {
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
    input_tokens: u64,
    output_tokens: u64,
    total_tokens: u64,
    arrival_time: Option<f64>,
    processing_start_time: Option<f64>,
    schedule_delay: Option<f64>,
    total_latency: f64,
    time_to_first_token: Option<f64>,
    avg_inter_token_latency: f64,
    tokens_per_second: Option<f64>,
    token_latencies: &'a [f32],
    e2e_latency: f64,
    time_per_output_token: Option<f64>,
    content_chunks: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    chunk_tokens: Option<&'a [u32]>,
    input_token_source: &'static str,
    output_token_source: &'static str,
    /// `https://`, first request of a connection only.
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_handshake_time: Option<f64>,
}

impl<'a> Individual<'a> {
    fn of(r: &'a RequestRecord, clock: &Clock, times: bool) -> Individual<'a> {
        let input = r.input_tokens.unwrap_or(0);
        Individual {
            request_id: &r.request_id,
            prompt: r.prompt.as_deref(),
            output: r.output.as_deref(),
            input_tokens: input,
            output_tokens: r.output_tokens,
            total_tokens: input + r.output_tokens,
            arrival_time: times.then(|| clock.epoch(r.scheduled)),
            processing_start_time: times.then(|| clock.epoch(r.sent)),
            schedule_delay: times.then(|| r.schedule_delay()),
            total_latency: r.total_latency(),
            time_to_first_token: r.ttft,
            avg_inter_token_latency: r.avg_gap().unwrap_or(0.0),
            tokens_per_second: r.tokens_per_second(),
            token_latencies: &r.gaps,
            e2e_latency: r.e2e,
            time_per_output_token: r.tpot(),
            content_chunks: r.content_chunks,
            chunk_tokens: r.chunk_tokens.as_deref(),
            input_token_source: r.input_source.as_str(),
            output_token_source: r.output_source.as_str(),
            tls_handshake_time: r.tls_handshake,
        }
    }
}

/// One failed or cancelled request.
#[derive(Serialize)]
struct FailedRequest<'a> {
    request_id: &'a str,
    error_kind: &'static str,
    http_status: Option<u16>,
    error: &'a str,
    arrival_time: Option<f64>,
    processing_start_time: Option<f64>,
    elapsed: Option<f64>,
    content_chunks: u32,
}

impl<'a> FailedRequest<'a> {
    fn of(r: &'a RequestRecord, clock: &Clock, times: bool) -> Option<FailedRequest<'a>> {
        let (error_kind, http_status, error) = match &r.outcome {
            Outcome::Ok => return None,
            Outcome::Failed(f) => (f.kind.as_str(), f.status, f.message.as_str()),
            Outcome::Cancelled => (
                "cancelled",
                None,
                "still in flight when the interrupted run stopped waiting",
            ),
        };
        Some(FailedRequest {
            request_id: &r.request_id,
            error_kind,
            http_status,
            error,
            arrival_time: times.then(|| clock.epoch(r.scheduled)),
            processing_start_time: times.then(|| clock.epoch(r.sent)),
            elapsed: times.then_some(r.e2e),
            content_chunks: r.content_chunks,
        })
    }
}

/// Everything that goes into `benchmark_results.json`.
pub struct ResultsDoc<'a> {
    pub benchmark_config: Ordered,
    pub stats: &'a RunStats,
    /// Appended to `benchmark_stats.summary` (interrupted, not-sent count, …).
    pub extra_summary: Ordered,
    pub run_info: Ordered,
    /// Measured requests, any outcome, in send order.
    pub records: &'a [RequestRecord],
    pub clock: Clock,
    /// Whether the records' send times (and a failed request's elapsed time) were measured;
    /// `false` for imported results that do not record them: `arrival_time`,
    /// `processing_start_time`, `schedule_delay` and `elapsed` are then written as `null`.
    pub send_times: bool,
    /// The server's own view (`server_metrics`, after `run_info`), when scraped.
    pub server_metrics: Option<Ordered>,
}

struct Seq<I>(std::cell::RefCell<Option<I>>);

impl<I: Iterator<Item = T>, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.borrow_mut().take() {
            Some(it) => s.collect_seq(it),
            None => s.collect_seq(std::iter::empty::<T>()),
        }
    }
}

impl Serialize for ResultsDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (clock, times) = (self.clock, self.send_times);
        let mut m = s.serialize_map(Some(5 + usize::from(self.server_metrics.is_some())))?;
        m.serialize_entry("benchmark_config", &self.benchmark_config)?;
        m.serialize_entry(
            "benchmark_stats",
            &stats_json(self.stats, &self.extra_summary),
        )?;
        let ok = self
            .records
            .iter()
            .filter(|r| r.is_ok())
            .map(|r| Individual::of(r, &clock, times));
        m.serialize_entry(
            "individual_requests",
            &Seq(std::cell::RefCell::new(Some(ok))),
        )?;
        let failed = self
            .records
            .iter()
            .filter_map(|r| FailedRequest::of(r, &clock, times));
        m.serialize_entry(
            "failed_requests",
            &Seq(std::cell::RefCell::new(Some(failed))),
        )?;
        m.serialize_entry("run_info", &self.run_info)?;
        if let Some(sm) = &self.server_metrics {
            m.serialize_entry("server_metrics", sm)?;
        }
        m.end()
    }
}

/// Writes `<dir>/benchmark_results.json` atomically.
pub fn write_results(dir: &Path, doc: &ResultsDoc<'_>) -> io::Result<PathBuf> {
    let path = dir.join(RESULTS_FILE);
    write_json_atomic(&path, doc)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write_json_atomic(&p, &serde_json::json!({"a": 1})).unwrap();
        write_json_atomic(&p, &serde_json::json!({"a": 2, "nan": f64::NAN})).unwrap();
        let v: Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(v["a"], 2);
        assert!(v["nan"].is_null());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        assert!(write_json_atomic(&d.path().join("missing/x.json"), &1).is_err());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn run_dirs_are_unique_per_second() {
        let d = tempfile::tempdir().unwrap();
        let now = chrono::Local::now();
        let a = create_model_run_dir(d.path(), "Org/Model", now).unwrap();
        let b = create_model_run_dir(d.path(), "Org/Model", now).unwrap();
        let e = create_model_run_dir(d.path(), "..", now).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(a.parent().unwrap().file_name().unwrap(), "Org_Model");
        assert!(a.file_name().unwrap().to_string_lossy().starts_with("run_"));
        assert_eq!(
            b.file_name().unwrap().to_string_lossy(),
            format!("{}_2", a.file_name().unwrap().to_string_lossy())
        );
    }

    #[test]
    fn groups_use_the_users_keys_and_order() {
        let d = Distribution::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        let g = serde_json::to_string(&group_json("first_token", Some(&d))).unwrap();
        assert_eq!(
            g,
            r#"{"first_token_p50":2.5,"first_token_p90":3.7,"first_token_p95":3.8499999999999996,"first_token_p99":3.9699999999999998,"first_token_max":4.0,"first_token_avg":2.5}"#
        );
        assert_eq!(
            serde_json::to_string(&group_json("inter_token", None)).unwrap(),
            "{}"
        );
    }
}
