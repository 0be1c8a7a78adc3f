//! What goes into a run folder besides the log: the folder itself, `config.json` (every option,
//! validated values echoed) and the content of `benchmark_results.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::{BenchSettings, LoadMode, RunMeta};
use crate::records::{Clock, RequestRecord};
use crate::results::write::{create_model_run_dir, Ordered, ResultsDoc};
use crate::results::ConfigKey;
use crate::slo::Goodput;
use crate::stats::RunStats;
use crate::workload::Workload;

/// `meta.run_dir` when given (created if missing), else a new
/// `<output-dir>/<model>/run_<timestamp>/`.
pub fn prepare_run_dir(
    s: &BenchSettings,
    meta: &RunMeta,
    now: chrono::DateTime<chrono::Local>,
) -> std::io::Result<PathBuf> {
    match &meta.run_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            Ok(d.clone())
        }
        None => create_model_run_dir(&s.output_dir, &s.model, now),
    }
}

pub fn load_description(load: &LoadMode) -> String {
    let cap = |c: &Option<u32>| {
        c.map(|c| format!(", at most {c} in flight"))
            .unwrap_or_default()
    };
    match load {
        LoadMode::Closed { concurrency } => format!("closed loop, {concurrency} in flight"),
        LoadMode::Open {
            rate,
            burstiness,
            max_concurrency,
        } => {
            format!(
                "open loop, {rate} requests/s, burstiness {burstiness}{}",
                cap(max_concurrency)
            )
        }
        LoadMode::Trace { max_concurrency } => {
            format!("trace arrival times{}", cap(max_concurrency))
        }
    }
}

/// `benchmark_config`: the four parallelism fields (the users' keys), then the extra
/// configuration and labels, then the load (`max_concurrency`, `request_rate`, `burstiness`).
fn benchmark_config(s: &BenchSettings, meta: &RunMeta) -> Ordered {
    let mut c = server_config(s, meta);
    push_load(&mut c, &s.load);
    c
}

/// Appends the load of a run to `benchmark_config`: `max_concurrency`, `request_rate`,
/// `burstiness` ([`LoadMode::recorded`]); also used by `import`.
pub fn push_load(c: &mut Ordered, load: &LoadMode) {
    let (max_concurrency, request_rate, burstiness) = load.recorded();
    c.push("max_concurrency", max_concurrency);
    c.push("request_rate", request_rate);
    c.push("burstiness", burstiness);
}

/// The model and server configuration part of `benchmark_config` (also a capacity file's
/// `configuration`).
pub fn server_config(s: &BenchSettings, meta: &RunMeta) -> Ordered {
    config_fields(&s.model, &meta.config, &meta.extra_config, &s.labels)
}

/// The model, the four parallelism fields (the users' keys and order), the other recorded
/// configuration and the labels: the start of `benchmark_config` (`run`, `sweep`, `import`).
pub fn config_fields(
    model: &str,
    config: &ConfigKey,
    extra_config: &BTreeMap<String, Value>,
    labels: &BTreeMap<String, String>,
) -> Ordered {
    let mut c = Ordered::default();
    c.push("model_name", model);
    c.push("tensor_parallel_size", config.par.tp);
    c.push("pipeline_parallel_size", config.par.pp);
    c.push("data_parallel_size", config.par.dp);
    c.push("max_num_batched_tokens", config.max_num_batched_tokens);
    for (k, v) in extra_config {
        if !c.contains_key(k) {
            c.push(k, v.clone());
        }
    }
    if !labels.is_empty() {
        c.push(
            "labels",
            serde_json::to_value(labels).unwrap_or(Value::Null),
        );
    }
    c
}

/// Goodput of the run's records when the settings have an SLO.
pub fn goodput(s: &BenchSettings, records: &[RequestRecord], stats: &RunStats) -> Option<Goodput> {
    s.slo
        .map(|t| Goodput::of(&t.slo, records, stats.duration_s))
}

/// `https://` runs: the measured requests that opened a connection (its TLS handshake, whatever
/// their outcome) and the handshake times' distribution in ms (docs/metrics.md, "TLS handshake").
fn tls_handshake_fields(records: &[RequestRecord], extra: &mut Ordered) {
    let ms: Vec<f64> = records
        .iter()
        .filter_map(|r| r.tls_handshake)
        .map(|s| s * 1000.0)
        .collect();
    extra.push("tls_handshakes", ms.len());
    extra.push_object(
        "tls_handshake_ms",
        crate::results::write::group_json(
            "tls_handshake",
            crate::stats::Distribution::of(&ms).as_ref(),
        ),
    );
}

/// Everything `benchmark_results.json` holds.
/// `(stats, measured records, warm-up records)`, `(clock, start time)`,
/// `(interrupted, not sent, internal errors)`.
pub fn results_doc<'a>(
    s: &BenchSettings,
    meta: &RunMeta,
    wl: &Workload,
    (stats, records, warmup): (&'a RunStats, &'a [RequestRecord], &[RequestRecord]),
    (clock, started_at): (Clock, chrono::DateTime<chrono::Local>),
    (interrupted, not_sent, internal_errors): (bool, usize, usize),
    (timestamps, tls): (&'static str, Value),
) -> ResultsDoc<'a> {
    let mut extra = Ordered::default();
    extra.push("not_sent_requests", not_sent);
    extra.push("interrupted", interrupted);
    extra.push("lengths_approximate", wl.approximate.clone());
    extra.push("internal_errors", internal_errors);
    if let Some(g) = goodput(s, records, stats) {
        g.summary_fields(&mut extra);
    }
    if !tls.is_null() {
        tls_handshake_fields(records, &mut extra);
    }

    let mut info = Ordered::default();
    info.push("tool", "modelbench");
    info.push("tool_version", env!("CARGO_PKG_VERSION"));
    info.push("start_time", started_at.to_rfc3339());
    info.push("end_time", chrono::Local::now().to_rfc3339());
    info.push("command_line", meta.command_line.clone());
    info.push("interrupted", interrupted);
    info.push("base_url", crate::secrets::mask_url(&meta.base_url));
    info.push("endpoint", s.body.endpoint.name());
    info.push("workload", s.workload.source.name());
    info.push("load", load_description(&s.load));
    info.push("measured_requests", wl.measured.len());
    info.push("warmup_requests_sent", warmup.len());
    info.push(
        "warmup_requests_failed",
        warmup.iter().filter(|r| !r.is_ok()).count(),
    );
    info.push("lengths_approximate", wl.approximate.clone());
    info.push("continuous_usage_stats", s.body.continuous_usage_stats);
    info.push("timestamps", timestamps);
    info.push("slo", s.slo.map(|t| t.slo.json()));
    info.push("slo_attainment_target_pct", s.slo.map(|t| t.attainment_pct));
    info.push("capacity_probe", meta.capacity_search.is_some());
    info.push("capacity_search", meta.capacity_search.clone());
    info.push("tls", tls);

    ResultsDoc {
        benchmark_config: benchmark_config(s, meta),
        stats,
        extra_summary: extra,
        run_info: info,
        records,
        clock,
        send_times: true,
        server_metrics: None,
    }
}
