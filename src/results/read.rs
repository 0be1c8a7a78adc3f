//! Reading one run folder in the users' format:
//! `run_*/benchmark_results.json` (+ `config.json` as a fallback for the configuration).
//!
//! Only `benchmark_config` and `benchmark_stats` are built; `individual_requests` (hundreds of
//! MB in real sweeps) is scanned by the parser without being materialised, which still detects a
//! truncated file. Python's bare `NaN`/`Infinity` literals are accepted (see [`super::pyjson`]).
//!
//! Every file is opened with [`open_bounded`]: symlinks are followed, anything but a regular
//! file (a FIFO would block `compare` forever, a device such as `/dev/zero` never ends, a
//! directory) is refused, and nothing larger than [`MAX_FILE_BYTES`] is read.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::pyjson::PyJsonReader;
use super::samples::RawSamples;
use super::{ConfigKey, FieldValue, MetricValues, Parallelism, RunSummary};
use crate::metrics::Metric;
use crate::significance::RunSamples;

pub const RESULTS_FILE: &str = "benchmark_results.json";
pub const CONFIG_FILE: &str = "config.json";
/// The `run_info` key naming whose metric definitions an imported run's samples follow.
pub const METRIC_DEFINITIONS: &str = "metric_definitions";

/// The largest result file read (1 GiB): real `benchmark_results.json` files of 200 requests ×
/// 512 tokens are ~3.5 MB, a 20 000-request run ~350 MB. Larger files are skipped with a
/// warning instead of being read without bound.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Files up to this size are read into memory and parsed from a slice (fast); larger ones are
/// parsed from a buffered stream so memory stays flat.
const IN_MEMORY_LIMIT: u64 = 32 * 1024 * 1024;

/// `benchmark_config` fields that make up the model name and the [`ConfigKey`].
const CONFIG_KEY_FIELDS: [&str; 7] = [
    "model_name",
    "tensor_parallel_size",
    "data_parallel_size",
    "pipeline_parallel_size",
    "max_num_batched_tokens",
    "max_concurrency",
    "request_rate",
];

/// The load a run records in `benchmark_config` (`max_concurrency`: a whole number;
/// `request_rate`: a number or `"inf"`); anything else counts as not recorded.
fn load_of(bc: &Map<String, Value>) -> crate::results::Load {
    let conc = bc
        .get("max_concurrency")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok());
    let rate = match bc.get("request_rate") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("inf") => Some(f64::INFINITY),
        _ => None,
    };
    crate::results::Load::new(conc, rate)
}

/// Why a run folder cannot be used. Printed after the run folder's path.
#[derive(Debug, thiserror::Error)]
pub enum RunReadError {
    #[error("no benchmark_results.json (the run did not finish)")]
    MissingResults,
    #[error("{file} is not a regular file ({kind})")]
    NotRegular {
        file: &'static str,
        kind: &'static str,
    },
    #[error("{file} is larger than the {} MiB limit ({len} bytes)", .limit >> 20)]
    TooLarge {
        file: &'static str,
        len: u64,
        limit: u64,
    },
    #[error("cannot read {file}: {source}")]
    Io {
        file: &'static str,
        source: std::io::Error,
    },
    #[error("benchmark_results.json is empty (0 bytes)")]
    Empty,
    #[error("benchmark_results.json is truncated ({0})")]
    Truncated(String),
    #[error("benchmark_results.json is not valid JSON ({0})")]
    Corrupt(String),
    #[error("benchmark_results.json has none of the metric fields (benchmark_stats.summary / latency_percentiles_ms)")]
    NoMetrics,
    #[error("invalid {field} in {file}: {value}")]
    BadConfig {
        file: &'static str,
        field: &'static str,
        value: String,
    },
}

/// The parts of `benchmark_results.json` a reader needs. `individual_requests` is skipped
/// without being built (`S` = `IgnoredAny`) unless a command needs the per-request samples
/// (`S` = [`RawSamples`], for `compare`'s intervals); every other key is skipped.
#[derive(Deserialize)]
struct RawResults<S = serde::de::IgnoredAny> {
    #[serde(default)]
    benchmark_config: Option<Map<String, Value>>,
    #[serde(default)]
    benchmark_stats: Option<Map<String, Value>>,
    #[serde(default)]
    run_info: Option<Map<String, Value>>,
    #[serde(default)]
    server_metrics: Option<Map<String, Value>>,
    #[serde(default)]
    interrupted: Option<Value>,
    #[serde(default = "none")]
    individual_requests: Option<S>,
}

fn none<S>() -> Option<S> {
    None
}

/// What kind of file system object `t` is, for messages.
fn file_kind(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Opens `path` for reading if it is a regular file (after following symlinks) of at most
/// `limit` bytes; `Ok(None)` when it does not exist. Opened non-blocking, so a FIFO is
/// refused instead of waiting for a writer. Returns the file and its length.
pub fn open_bounded(
    path: &Path,
    file: &'static str,
    limit: u64,
) -> Result<Option<(File, u64)>, RunReadError> {
    let io = |source| RunReadError::Io { file, source };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let f = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(RunReadError::NotRegular {
            file,
            kind: file_kind(meta.file_type()),
        });
    }
    if meta.len() > limit {
        return Err(RunReadError::TooLarge {
            file,
            len: meta.len(),
            limit,
        });
    }
    Ok(Some((f, meta.len())))
}

/// A reader that fails (instead of going on) past `left` bytes: a file growing while it is
/// read stays bounded too.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "larger than the {} MiB limit",
                MAX_FILE_BYTES >> 20
            ))
        })?;
        Ok(n)
    }
}

/// Reads a whole (small) file with [`open_bounded`]'s rules; `Ok(None)` when missing.
pub fn read_bounded(path: &Path, file: &'static str) -> Result<Option<Vec<u8>>, RunReadError> {
    let Some((f, len)) = open_bounded(path, file, MAX_FILE_BYTES)? else {
        return Ok(None);
    };
    let mut buf = Vec::with_capacity(len as usize);
    Bounded {
        inner: f,
        left: MAX_FILE_BYTES,
    }
    .read_to_end(&mut buf)
    .map_err(|source| RunReadError::Io { file, source })?;
    Ok(Some(buf))
}

fn classify(e: serde_json::Error) -> RunReadError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => RunReadError::Truncated(e.to_string()),
        Category::Io => RunReadError::Io {
            file: RESULTS_FILE,
            source: e.into(),
        },
        Category::Syntax | Category::Data => RunReadError::Corrupt(e.to_string()),
    }
}

fn parse_results<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunReadError> {
    parse_results_with_limit(path, IN_MEMORY_LIMIT)
}

fn parse_results_with_limit<T: serde::de::DeserializeOwned>(
    path: &Path,
    in_memory_limit: u64,
) -> Result<T, RunReadError> {
    let io = |source| RunReadError::Io {
        file: RESULTS_FILE,
        source,
    };
    let (file, len) =
        open_bounded(path, RESULTS_FILE, MAX_FILE_BYTES)?.ok_or(RunReadError::MissingResults)?;
    if len == 0 {
        return Err(RunReadError::Empty);
    }
    let mut reader = PyJsonReader::new(Bounded {
        inner: file,
        left: MAX_FILE_BYTES,
    });
    if len <= in_memory_limit {
        let mut buf = Vec::with_capacity(len as usize + 1024);
        reader.read_to_end(&mut buf).map_err(io)?;
        serde_json::from_slice(&buf).map_err(classify)
    } else {
        serde_json::from_reader(BufReader::with_capacity(256 * 1024, reader)).map_err(classify)
    }
}

/// A JSON value as a float: numbers, and the strings that stand for Python's non-finite
/// literals. `None` for anything else (including null).
pub fn value_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// A configuration field as a whole number: integers, integral floats (`2.0`) and numeric
/// strings are accepted; `null`/absent is `Ok(None)`.
fn config_int(
    map: &Map<String, Value>,
    field: &'static str,
    file: &'static str,
) -> Result<Option<u64>, RunReadError> {
    let bad = |v: &Value| RunReadError::BadConfig {
        file,
        field,
        value: v.to_string(),
    };
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => Ok(Some(u)),
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < 1e15 => Ok(Some(f as u64)),
            _ => Err(bad(v)),
        },
        Some(v @ Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

fn read_config_json(dir: &Path) -> Result<Option<Map<String, Value>>, RunReadError> {
    let Some(text) = read_bounded(&dir.join(CONFIG_FILE), CONFIG_FILE)? else {
        return Ok(None);
    };
    let value: Value = serde_json::from_reader(PyJsonReader::new(&text[..]))
        .map_err(|e| RunReadError::Corrupt(format!("{CONFIG_FILE}: {e}")))?;
    Ok(match value {
        Value::Object(m) => Some(m),
        _ => None,
    })
}

/// The largest value taken as a measurement: 1e12 (ms: 31 years; tokens/s: far beyond any
/// server). Larger or negative values are errors of whatever wrote the file.
pub const MAX_METRIC_VALUE: f64 = 1e12;

/// Extracts the seven headline metrics from `benchmark_stats`, and the values that were
/// present but impossible (negative, or above [`MAX_METRIC_VALUE`]) as `key = value` notes;
/// those are missing in the result. NaN and infinities are missing without a note (Python
/// writes NaN for "no sample").
pub fn metric_values(stats: &Map<String, Value>) -> (MetricValues, Vec<String>) {
    let mut values = MetricValues::default();
    let mut invalid = Vec::new();
    let latency = stats
        .get("latency_percentiles_ms")
        .and_then(Value::as_object);
    for m in Metric::ALL {
        let (group, field) = m.source();
        let group = if group == "summary" {
            stats.get("summary").and_then(Value::as_object)
        } else {
            latency
                .and_then(|l| l.get(group))
                .and_then(Value::as_object)
        };
        let v = group.and_then(|g| g.get(field)).and_then(value_f64);
        match v {
            Some(x) if x.is_finite() && !(0.0..=MAX_METRIC_VALUE).contains(&x) => {
                let shown = if x.abs() >= 1e6 {
                    format!("{x:e}")
                } else {
                    x.to_string()
                };
                invalid.push(format!("{} = {shown}", m.key()));
            }
            _ => values.set(m, v),
        }
    }
    (values, invalid)
}

fn has_metric_fields(stats: &Map<String, Value>) -> bool {
    Metric::ALL.iter().any(|m| {
        let (group, field) = m.source();
        if group == "summary" {
            stats
                .get("summary")
                .and_then(Value::as_object)
                .is_some_and(|g| g.contains_key(field))
        } else {
            stats
                .get("latency_percentiles_ms")
                .and_then(Value::as_object)
                .and_then(|l| l.get(group))
                .is_some()
        }
    })
}

/// Why a run is not a complete measurement, if it is not: it says `interrupted: true` (at the
/// top level, in `run_info`, `benchmark_config` or `benchmark_stats.summary`, where
/// `modelbench run` writes it) or `not_sent_requests > 0` (requests it never sent).
fn partial_reason<S>(raw: &RawResults<S>) -> Option<String> {
    let summary = raw
        .benchmark_stats
        .as_ref()
        .and_then(|s| s.get("summary"))
        .and_then(Value::as_object);
    let flag = |m: Option<&Map<String, Value>>| {
        m.and_then(|m| m.get("interrupted"))
            .and_then(Value::as_bool)
            == Some(true)
    };
    let interrupted = raw.interrupted.as_ref().and_then(Value::as_bool) == Some(true)
        || flag(raw.run_info.as_ref())
        || flag(raw.benchmark_config.as_ref())
        || flag(summary);
    let not_sent = summary
        .and_then(|m| m.get("not_sent_requests"))
        .and_then(value_f64)
        .filter(|n| *n > 0.0);
    match (interrupted, not_sent) {
        (false, None) => None,
        (true, None) => Some("interrupted".to_owned()),
        (false, Some(n)) => Some(format!("{n} requests not sent")),
        (true, Some(n)) => Some(format!("interrupted, {n} requests not sent")),
    }
}

/// Reads one `run_*` folder.
pub fn read_run(dir: &Path) -> Result<RunSummary, RunReadError> {
    let raw: RawResults = parse_results(&dir.join(RESULTS_FILE))?;
    summary_of(dir, raw)
}

/// Reads one `run_*` folder with its per-request samples (TTFT, total latency, token gaps),
/// prepared for the intervals of `compare`; `samples` stays `None` when the file has none
/// that reproduce its metrics.
pub fn read_run_with_samples(dir: &Path) -> Result<RunSummary, RunReadError> {
    let mut raw: RawResults<RawSamples> = parse_results(&dir.join(RESULTS_FILE))?;
    let samples = raw.individual_requests.take();
    let mut run = summary_of(dir, raw)?;
    run.samples = samples.and_then(|s| {
        RunSamples::new(s.ttft, s.total, s.gaps, &run.values).map(std::sync::Arc::new)
    });
    Ok(run)
}

fn summary_of<S>(dir: &Path, raw: RawResults<S>) -> Result<RunSummary, RunReadError> {
    let partial = partial_reason(&raw);
    let server_version = raw
        .run_info
        .as_ref()
        .and_then(|i| i.get("server_version"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let stats = raw.benchmark_stats.unwrap_or_default();
    if !has_metric_fields(&stats) {
        return Err(RunReadError::NoMetrics);
    }
    let server_view = server_view(
        dir,
        raw.run_info.as_ref(),
        raw.server_metrics.as_ref(),
        &stats,
    );
    let (values, invalid_values) = metric_values(&stats);
    let goodput = goodput_values(&stats);
    let tpot_mean_ms = tpot_mean_ms(&stats);

    let bc = raw.benchmark_config.unwrap_or_default();
    // config.json is only needed when benchmark_config lacks a field.
    let needs_fallback = [
        "tensor_parallel_size",
        "data_parallel_size",
        "pipeline_parallel_size",
        "max_num_batched_tokens",
        "model_name",
    ]
    .iter()
    .any(|k| bc.get(*k).is_none_or(Value::is_null));
    let cfg = if needs_fallback {
        read_config_json(dir)?.unwrap_or_default()
    } else {
        Map::new()
    };

    let field = |name: &'static str| -> Result<Option<u64>, RunReadError> {
        match config_int(&bc, name, RESULTS_FILE)? {
            Some(v) => Ok(Some(v)),
            None => config_int(&cfg, name, CONFIG_FILE),
        }
    };
    let par_field = |name: &'static str| -> Result<u32, RunReadError> {
        match field(name)? {
            None => Ok(1), // vLLM's default when neither file records it
            Some(v) if (1..=u64::from(u32::MAX)).contains(&v) => Ok(v as u32),
            Some(v) => Err(RunReadError::BadConfig {
                file: RESULTS_FILE,
                field: name,
                value: v.to_string(),
            }),
        }
    };
    let config = ConfigKey {
        par: Parallelism {
            tp: par_field("tensor_parallel_size")?,
            dp: par_field("data_parallel_size")?,
            pp: par_field("pipeline_parallel_size")?,
        },
        max_num_batched_tokens: field("max_num_batched_tokens")?,
        load: load_of(&bc),
    };
    let model_name = bc
        .get("model_name")
        .and_then(Value::as_str)
        .or_else(|| cfg.get("model").and_then(Value::as_str))
        .map(str::to_owned);
    let other_config = bc
        .iter()
        // A field recorded as null (`burstiness` of a closed-loop run) is the same as an absent
        // one: an older run without it is still a true repeat.
        .filter(|(k, v)| !CONFIG_KEY_FIELDS.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let settings = bc
        .iter()
        .filter(|(k, v)| !CONFIG_KEY_FIELDS.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), FieldValue::of_json(v)))
        .collect();
    let definitions = raw
        .run_info
        .as_ref()
        .and_then(|i| i.get(METRIC_DEFINITIONS))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(RunSummary {
        definitions,
        dir: dir.to_path_buf(),
        model_name,
        config,
        other_config,
        settings,
        values,
        goodput,
        tpot_mean_ms,
        partial,
        invalid_values,
        samples: None,
        server_version,
        server_view,
    })
}

/// The run's environment and the server's own view, when the run recorded either.
fn server_view(
    dir: &Path,
    info: Option<&Map<String, Value>>,
    sm: Option<&Map<String, Value>>,
    stats: &Map<String, Value>,
) -> Option<Box<super::ServerView>> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let num = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_f64);
    let mut env = Vec::new();
    if let Some(gpus) = info.and_then(|i| i.get("gpus")).and_then(Value::as_array) {
        if let Some(first) = gpus.first().and_then(Value::as_object) {
            let name = text(first.get("name")).unwrap_or_else(|| "GPU".into());
            let mut t = format!("GPUs: {} × {name}", gpus.len());
            if let Some(mem) = num(first, "memory_total_mib") {
                t.push_str(&format!(" ({mem} MiB"));
                if let Some(d) = text(first.get("driver_version")) {
                    t.push_str(&format!(", driver {d}"));
                }
                t.push(')');
            }
            env.push(t);
        }
    }
    if let Some(cpu) = info.and_then(|i| text(i.get("host_cpu_model"))) {
        let cores = info
            .and_then(|i| i.get("host_cpu_cores"))
            .and_then(Value::as_u64)
            .map(|c| format!(", {c} cores"))
            .unwrap_or_default();
        env.push(format!("host: {cpu}{cores}"));
    }
    let metrics = sm.map(|m| {
        if let Some(w) = text(m.get("warning")) {
            return format!("not scraped: {w}");
        }
        let max = |k: &str| {
            m.get(k)
                .and_then(Value::as_object)
                .and_then(|g| num(g, "max"))
        };
        let mut parts = Vec::new();
        if let Some(v) = max("num_requests_running") {
            parts.push(format!("running ≤ {v}"));
        }
        if let Some(v) = max("num_requests_waiting") {
            parts.push(format!("waiting ≤ {v}"));
        }
        if let Some(v) = max("kv_cache_usage_perc") {
            parts.push(format!("KV cache ≤ {:.0} %", v * 100.0));
        }
        if let Some(v) = num(m, "num_preemptions") {
            parts.push(format!("{v} preemptions"));
        }
        let summary = stats.get("summary").and_then(Value::as_object);
        for (server, client, name) in [
            ("prompt_tokens", "total_input_tokens", "prompt"),
            ("generation_tokens", "total_output_tokens", "generation"),
        ] {
            if let (Some(s), Some(c)) = (num(m, server), summary.and_then(|x| num(x, client))) {
                parts.push(if s == c {
                    format!("{name} tokens {s} = client")
                } else {
                    format!("{name} tokens: server {s}, client {c}")
                });
            }
        }
        if parts.is_empty() {
            "scraped, no vLLM series".to_owned()
        } else {
            parts.join(", ")
        }
    });
    let timeline = dir.join("timeline.png").is_file();
    let environment = (!env.is_empty()).then(|| env.join("; "));
    (environment.is_some() || metrics.is_some() || timeline).then(|| {
        Box::new(super::ServerView {
            environment,
            metrics,
            timeline,
        })
    })
}

/// `time_per_output_token.tpot_avg`, else `inter_token_latency.inter_token_avg` (older runs);
/// missing unless finite and positive.
fn tpot_mean_ms(stats: &Map<String, Value>) -> Option<f64> {
    let lat = stats
        .get("latency_percentiles_ms")
        .and_then(Value::as_object)?;
    let get = |group: &str, field: &str| {
        lat.get(group)
            .and_then(Value::as_object)
            .and_then(|g| g.get(field))
            .and_then(value_f64)
            .filter(|v| v.is_finite() && *v > 0.0 && *v <= MAX_METRIC_VALUE)
    };
    get("time_per_output_token", "tpot_avg")
        .or_else(|| get("inter_token_latency", "inter_token_avg"))
}

/// `goodput_requests_per_sec`, `goodput_tokens_per_sec` and `slo_attainment_pct` of
/// `benchmark_stats.summary` (written with `--slo`); absent, null, non-finite, negative or
/// impossible values are missing.
fn goodput_values(stats: &Map<String, Value>) -> super::GoodputValues {
    let summary = stats.get("summary").and_then(Value::as_object);
    let get = |k: &str, max: f64| {
        summary
            .and_then(|s| s.get(k))
            .and_then(value_f64)
            .filter(|v| v.is_finite() && (0.0..=max).contains(v))
    };
    super::GoodputValues {
        requests_per_sec: get("goodput_requests_per_sec", MAX_METRIC_VALUE),
        tokens_per_sec: get("goodput_tokens_per_sec", MAX_METRIC_VALUE),
        attainment_pct: get("slo_attainment_pct", 100.0),
    }
}

/// Just `benchmark_config.model_name` (or config.json's `model`), for matching a model name
/// against folders. Reads config.json first (tiny) and the results file only without it.
pub fn read_model_name(dir: &Path) -> Option<String> {
    if let Ok(Some(cfg)) = read_config_json(dir) {
        if let Some(m) = cfg.get("model").and_then(Value::as_str) {
            return Some(m.to_owned());
        }
    }
    let raw: RawResults = parse_results(&dir.join(RESULTS_FILE)).ok()?;
    raw.benchmark_config?
        .get("model_name")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_dir(results: Option<&str>, config: Option<&str>) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        if let Some(r) = results {
            std::fs::write(d.path().join(RESULTS_FILE), r).unwrap();
        }
        if let Some(c) = config {
            std::fs::write(d.path().join(CONFIG_FILE), c).unwrap();
        }
        d
    }

    const FULL: &str = r#"{"benchmark_config": {"model_name": "Org/M", "tensor_parallel_size": 2,
        "pipeline_parallel_size": 1, "data_parallel_size": 4, "max_num_batched_tokens": 4096},
      "benchmark_stats": {"summary": {"overall_throughput_tokens_per_sec": 1234.5},
        "latency_percentiles_ms": {
          "total_generation_latency": {"total_p50": 10.0, "total_p99": NaN},
          "time_to_first_token": {"first_token_p50": 1.0, "first_token_p99": 2.0},
          "inter_token_latency": {}}},
      "individual_requests": [{"token_latencies": [0.1, NaN, 0.2]}]}"#;

    #[test]
    fn reads_values_and_treats_nan_and_empty_groups_as_missing() {
        let d = run_dir(Some(FULL), None);
        let r = read_run(d.path()).unwrap();
        assert_eq!(r.model_name.as_deref(), Some("Org/M"));
        assert_eq!(
            r.config.par,
            Parallelism {
                tp: 2,
                dp: 4,
                pp: 1
            }
        );
        assert_eq!(r.config.max_num_batched_tokens, Some(4096));
        assert_eq!(r.values.get(Metric::Throughput), Some(1234.5));
        assert_eq!(r.values.get(Metric::TotalLatencyP50), Some(10.0));
        assert_eq!(r.values.get(Metric::TotalLatencyP99), None);
        assert_eq!(r.values.get(Metric::InterTokenP50), None);
    }

    #[test]
    fn streaming_path_gives_the_same_answers() {
        let d = run_dir(Some(FULL), None);
        let p = d.path().join(RESULTS_FILE);
        let streamed: RawResults = parse_results_with_limit(&p, 0).unwrap();
        let in_memory: RawResults = parse_results_with_limit(&p, u64::MAX).unwrap();
        assert_eq!(streamed.benchmark_config, in_memory.benchmark_config);
        assert_eq!(streamed.benchmark_stats, in_memory.benchmark_stats);
        std::fs::write(&p, &FULL[..FULL.len() - 40]).unwrap();
        assert!(matches!(
            parse_results_with_limit::<RawResults>(&p, 0),
            Err(RunReadError::Truncated(_))
        ));
    }

    /// The load is part of the key and a null field is no setting: a new closed-loop run
    /// (`max_concurrency: 8, request_rate: null, burstiness: null`) differs from an older run
    /// without those fields only in its load, never in "other settings".
    #[test]
    fn load_is_keyed_and_null_fields_are_not_other_settings() {
        let text = FULL.replace(
            "\"max_num_batched_tokens\": 4096}",
            "\"max_num_batched_tokens\": 4096, \"max_concurrency\": 8, \"request_rate\": null, \"burstiness\": null, \"max_num_seqs\": 4}",
        );
        let d = run_dir(Some(&text), None);
        let r = read_run(d.path()).unwrap();
        assert_eq!(r.other_config, "max_num_seqs=4");
        assert_eq!(r.config.load, crate::results::Load::new(Some(8), None));
        let d = run_dir(Some(FULL), None);
        assert!(read_run(d.path()).unwrap().config.load.is_none());
    }

    #[test]
    fn falls_back_to_config_json() {
        let res = r#"{"benchmark_config": {"model_name": "Org/M"},
          "benchmark_stats": {"summary": {"overall_throughput_tokens_per_sec": 1}}}"#;
        let cfg = r#"{"model": "Org/M", "tensor_parallel_size": 8, "data_parallel_size": 1,
          "pipeline_parallel_size": 2, "max_num_batched_tokens": 73728}"#;
        let d = run_dir(Some(res), Some(cfg));
        let r = read_run(d.path()).unwrap();
        assert_eq!(
            r.config.par,
            Parallelism {
                tp: 8,
                dp: 1,
                pp: 2
            }
        );
        assert_eq!(r.config.max_num_batched_tokens, Some(73728));
    }

    #[test]
    fn bad_inputs_are_classified() {
        let d = run_dir(None, Some("{}"));
        assert!(matches!(
            read_run(d.path()),
            Err(RunReadError::MissingResults)
        ));
        let d = run_dir(Some(&FULL[..FULL.len() - 40]), None);
        assert!(matches!(
            read_run(d.path()),
            Err(RunReadError::Truncated(_))
        ));
        let d = run_dir(Some("{\"benchmark_stats\": [1,,]}"), None);
        assert!(matches!(read_run(d.path()), Err(RunReadError::Corrupt(_))));
        let d = run_dir(Some("{\"benchmark_config\": {}}"), None);
        assert!(matches!(read_run(d.path()), Err(RunReadError::NoMetrics)));
        let d = run_dir(
            Some(&FULL.replace(
                "\"tensor_parallel_size\": 2",
                "\"tensor_parallel_size\": \"two\"",
            )),
            None,
        );
        assert!(matches!(
            read_run(d.path()),
            Err(RunReadError::BadConfig { .. })
        ));
    }
}
