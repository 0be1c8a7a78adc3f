//! Result files of `vllm bench serve --save-result` (and of its predecessor
//! `benchmarks/benchmark_serving.py`): one JSON object per run.
//!
//! With the per-request arrays (`--save-detailed`, or benchmark_serving.py's default):
//! `ttfts`, `itls`, `input_lens`, `output_lens` (and `latencies`, `errors` where present) become
//! one [`RequestRecord`] each, and every percentile is computed from them by
//! [`RunStats::from_records`] — the code of native runs. vLLM's own definitions are kept for
//! the samples (docs/metrics.md, "modelbench and vllm bench serve"): TTFT to the first chunk
//! with `choices`, every such chunk's gap an ITL sample, the request's latency to the last such
//! chunk, TPOT = (latency − TTFT) / (output_len − 1) over requests with output_len > 1.
//! Without the arrays only the summary figures are taken: `median_*_ms` as p50, `pNN_*_ms`,
//! `mean_*_ms`; every other figure is missing (never 0).

use serde_json::{Map, Value};

use super::ImportedRun;
use crate::records::{ErrorKind, Failure, Outcome, RequestRecord, TokenSource};
use crate::results::read::value_f64;
use crate::runner::LoadMode;
use crate::stats::{Distribution, Group, RunStats};
use crate::workload::arrivals::Rate;

/// The format's name (messages, `run_info.import.source_format`) and the name of its metric
/// definitions (`run_info.metric_definitions`).
pub const FORMAT: &str = "vllm bench serve";

/// The fields every vLLM bench result has (they identify the format).
const REQUIRED: [&str; 4] = ["date", "request_rate", "duration", "completed"];

/// The per-request arrays needed to rebuild the requests.
const ARRAYS: [&str; 4] = ["ttfts", "itls", "input_lens", "output_lens"];

/// vLLM's metric names in its summary fields, and the group each one fills.
const SUMMARY_METRICS: [(&str, &[Group]); 4] = [
    ("ttft", &[Group::TimeToFirstToken]),
    ("tpot", &[Group::TimePerOutputToken]),
    ("itl", &[Group::InterToken]),
    // vLLM's latency ends at the last chunk with `choices`: both our generation latency (to
    // the last token) and the end-to-end group hold it for imported runs.
    ("e2el", &[Group::TotalGeneration, Group::EndToEnd]),
];

fn num(o: &Map<String, Value>, k: &str) -> Option<f64> {
    o.get(k).and_then(value_f64)
}

fn array<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a Vec<Value>> {
    o.get(k).and_then(Value::as_array)
}

fn rate(v: &Value) -> Option<Rate> {
    if let Value::String(s) = v {
        if matches!(s.trim().to_ascii_lowercase().as_str(), "inf" | "infinity") {
            return Some(Rate::Infinite);
        }
    }
    match value_f64(v)? {
        r if r.is_infinite() && r > 0.0 => Some(Rate::Infinite),
        r if r.is_finite() && r > 0.0 => Some(Rate::PerSecond(r)),
        _ => None,
    }
}

/// Parses one vLLM bench result. `Err` says what is missing or wrong, for one warning line.
pub fn parse(v: &Value) -> Result<ImportedRun, String> {
    let Some(o) = v.as_object() else {
        return Err(format!(
            "the top level is {}, not an object",
            match v {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "not an object",
            }
        ));
    };
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|k| o.get(*k).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing {}", missing.join(", ")));
    }
    let mut notes = Vec::new();
    let date_text = o.get("date").and_then(Value::as_str).unwrap_or_default();
    let date = chrono::NaiveDateTime::parse_from_str(date_text, "%Y%m%d-%H%M%S")
        .map_err(|_| format!("date {date_text:?} is not YYYYmmdd-HHMMSS"))?;
    let rate = o.get("request_rate").and_then(rate).ok_or_else(|| {
        format!(
            "request_rate {} is not a positive number or \"inf\"",
            o["request_rate"]
        )
    })?;
    let burstiness = match o.get("burstiness").filter(|b| !b.is_null()) {
        None => {
            notes.push(
                "no burstiness in the file: vLLM's default 1.0 (Poisson arrivals) recorded".into(),
            );
            1.0
        }
        Some(b) => value_f64(b)
            .filter(|b| *b > 0.0)
            .ok_or_else(|| format!("burstiness {b} is not a positive number"))?,
    };
    let max_concurrency = match o.get("max_concurrency").filter(|c| !c.is_null()) {
        None => None,
        Some(c) => Some(
            c.as_u64()
                .and_then(|c| u32::try_from(c).ok())
                .filter(|c| *c > 0)
                .ok_or_else(|| format!("max_concurrency {c} is not a positive whole number"))?,
        ),
    };
    let duration = num(o, "duration")
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| {
            format!(
                "duration {} is not a positive number of seconds",
                o["duration"]
            )
        })?;
    let completed = o
        .get("completed")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("completed {} is not a whole number", o["completed"]))?;

    let has_arrays: Vec<&str> = ARRAYS
        .iter()
        .copied()
        .filter(|k| array(o, k).is_some())
        .collect();
    let (records, stats, summary_only) = if has_arrays.len() == ARRAYS.len() {
        let (records, stats) = from_arrays(o, duration, completed, &mut notes)?;
        (records, stats, false)
    } else {
        if !has_arrays.is_empty() {
            notes.push(format!(
                "per-request arrays incomplete (has {}, needs {}): summary figures used",
                has_arrays.join(", "),
                ARRAYS.join(", ")
            ));
        }
        (Vec::new(), from_summary(o, duration, completed)?, true)
    };

    let source_fields = o
        .iter()
        .filter(|(_, v)| !v.is_array() && !v.is_object())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(ImportedRun {
        tool: FORMAT,
        date,
        load: LoadMode::Open {
            rate,
            burstiness,
            max_concurrency,
        },
        records,
        stats,
        summary_only,
        source_fields,
        notes,
    })
}

/// The requests rebuilt from the per-request arrays, and their statistics.
fn from_arrays(
    o: &Map<String, Value>,
    duration: f64,
    completed: u64,
    notes: &mut Vec<String>,
) -> Result<(Vec<RequestRecord>, RunStats), String> {
    let get = |k: &str| array(o, k).map(Vec::as_slice).unwrap_or_default();
    let (ttfts, itls, ins, outs) = (
        get("ttfts"),
        get("itls"),
        get("input_lens"),
        get("output_lens"),
    );
    let latencies = array(o, "latencies");
    let errors = array(o, "errors");
    let n = ttfts.len();
    let mut lens = vec![
        ("ttfts", n),
        ("itls", itls.len()),
        ("input_lens", ins.len()),
        ("output_lens", outs.len()),
    ];
    lens.extend(latencies.map(|l| ("latencies", l.len())));
    lens.extend(errors.map(|e| ("errors", e.len())));
    if lens.iter().any(|(_, l)| *l != n) {
        return Err(format!(
            "per-request arrays of different lengths ({})",
            lens.iter()
                .map(|(k, l)| format!("{k} {l}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let bad = |k: &str, i: usize| format!("{k}[{i}] is not a number");
    let start = std::time::Instant::now();
    let mut records = Vec::with_capacity(n);
    let mut itl_ms: Vec<f64> = Vec::new();
    for i in 0..n {
        let error = errors.and_then(|e| e[i].as_str()).filter(|e| !e.is_empty());
        let output_len = outs[i].as_u64().ok_or_else(|| bad("output_lens", i))?;
        let input_len = ins[i].as_u64().ok_or_else(|| bad("input_lens", i))?;
        // vLLM writes an empty error for a success and 0 output tokens for a failure.
        let ok = match errors {
            Some(_) => error.is_none(),
            None => output_len > 0,
        };
        let mut r = RequestRecord {
            index: i,
            request_id: format!("vllm-bench-{i}"),
            scheduled: start,
            sent: start,
            ttft: None,
            last_content: None,
            e2e: 0.0,
            done_at: start,
            gaps: Vec::new(),
            content_chunks: 0,
            chunk_tokens: None,
            input_tokens: Some(input_len),
            input_source: TokenSource::Imported,
            requested_input_tokens: None,
            output_tokens: 0,
            output_source: TokenSource::Imported,
            outcome: Outcome::Ok,
            prompt: None,
            output: None,
            uncounted_output: None,
            tls_handshake: None,
        };
        if !ok {
            let message = error.unwrap_or("failed (no error text in the file)");
            r.outcome = Outcome::Failed(Failure {
                kind: ErrorKind::Other,
                status: None,
                message: message
                    .lines()
                    .last()
                    .unwrap_or(message)
                    .chars()
                    .take(500)
                    .collect(),
            });
            records.push(r);
            continue;
        }
        let ttft = value_f64(&ttfts[i]).ok_or_else(|| bad("ttfts", i))?;
        let gaps: Vec<f64> = itls[i]
            .as_array()
            .ok_or_else(|| format!("itls[{i}] is not a list"))?
            .iter()
            .enumerate()
            .map(|(j, g)| value_f64(g).ok_or_else(|| format!("itls[{i}][{j}] is not a number")))
            .collect::<Result<_, _>>()?;
        // vLLM's latency: send → the last chunk with `choices` = TTFT + every gap.
        let latency = match latencies {
            Some(l) => value_f64(&l[i]).ok_or_else(|| bad("latencies", i))?,
            None => ttft + gaps.iter().sum::<f64>(),
        };
        itl_ms.extend(gaps.iter().map(|g| g * 1000.0));
        r.ttft = Some(ttft);
        r.last_content = Some(latency);
        r.e2e = latency;
        r.content_chunks = u32::try_from(gaps.len() + 1).unwrap_or(u32::MAX);
        r.gaps = gaps.iter().map(|&g| g as f32).collect();
        r.output_tokens = output_len;
        records.push(r);
    }
    let mut stats = RunStats::from_records(&records);
    if stats.successful as u64 != completed {
        notes.push(format!(
            "{} requests succeeded by the per-request arrays, the file says completed = {completed}",
            stats.successful
        ));
    }
    // The gaps of the records are single precision (as `run` keeps them); the pooled
    // inter-token statistics are computed from the file's double-precision values, with the
    // same code.
    match Distribution::of(&itl_ms) {
        Some(d) => stats.groups.insert(Group::InterToken, d),
        None => stats.groups.remove(&Group::InterToken),
    };
    // Send and scheduled times are not in the file (vLLM keeps no queueing delay).
    stats.groups.remove(&Group::ScheduleDelay);
    // The wall time is vLLM's (first request sent → last response over), as it divides by.
    stats.set_duration(duration);
    Ok((records, stats))
}

/// The statistics of a file without per-request arrays: its summary figures; everything it
/// does not report is NaN (written as null: missing).
fn from_summary(o: &Map<String, Value>, duration: f64, completed: u64) -> Result<RunStats, String> {
    let mut s = RunStats {
        successful: usize::try_from(completed).unwrap_or(usize::MAX),
        ..RunStats::default()
    };
    s.failed = match (
        num(o, "failed"),
        o.get("num_prompts").and_then(Value::as_u64),
    ) {
        (Some(f), _) if f >= 0.0 => f as usize,
        (_, Some(n)) => n.saturating_sub(completed) as usize,
        _ => 0,
    };
    let total = |k: &str| {
        o.get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("{k} is missing or not a whole number"))
    };
    s.total_input_tokens = total("total_input_tokens")?;
    s.total_output_tokens = total("total_output_tokens")?;
    s.set_duration(duration);
    for (metric, groups) in SUMMARY_METRICS {
        let f = |stat: &str| num(o, &format!("{stat}_{metric}_ms")).unwrap_or(f64::NAN);
        let d = Distribution {
            count: s.successful,
            avg: f("mean"),
            p50: f("median"),
            p90: f("p90"),
            p95: f("p95"),
            p99: f("p99"),
            min: f64::NAN,
            max: f64::NAN,
        };
        if [d.avg, d.p50, d.p90, d.p95, d.p99]
            .iter()
            .any(|v| v.is_finite())
        {
            for g in groups {
                s.groups.insert(*g, d);
            }
        }
    }
    if s.groups.is_empty() {
        return Err(format!(
            "neither per-request arrays ({}) nor summary figures (median_ttft_ms, p99_ttft_ms, mean_ttft_ms, …)",
            ARRAYS.join(", ")
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "date": "20250420-190207", "backend": "vllm", "model_id": "m",
            "num_prompts": 3, "request_rate": "inf", "burstiness": 1.0, "max_concurrency": null,
            "duration": 2.0, "completed": 2, "total_input_tokens": 30, "total_output_tokens": 7,
        })
    }

    #[test]
    fn arrays_become_records_with_vllm_definitions() {
        let mut v = base();
        let o = v.as_object_mut().unwrap();
        o.insert("ttfts".into(), json!([0.1, 0.2, 0.0]));
        o.insert(
            "itls".into(),
            json!([[0.01, 0.03], [0.02, 0.02, 0.02, 0.02], []]),
        );
        o.insert("input_lens".into(), json!([10, 20, 5]));
        o.insert("output_lens".into(), json!([3, 4, 0]));
        o.insert("errors".into(), json!(["", "", "Traceback\nTimeoutError"]));
        let r = parse(&v).unwrap();
        assert!(!r.summary_only);
        assert_eq!((r.stats.successful, r.stats.failed), (2, 1));
        assert_eq!(
            (r.stats.total_input_tokens, r.stats.total_output_tokens),
            (30, 7)
        );
        assert_eq!(r.stats.output_throughput, 3.5);
        // TPOT per request = (latency − ttft) / (output_len − 1): 0.02 and 0.08 / 3.
        let tpot = r.stats.groups[&Group::TimePerOutputToken];
        assert!((tpot.avg - (20.0 + 80.0 / 3.0) / 2.0).abs() < 1e-9);
        assert_eq!(r.stats.groups[&Group::InterToken].count, 6);
        assert!(!r.stats.groups.contains_key(&Group::ScheduleDelay));
        assert_eq!(
            r.load,
            LoadMode::Open {
                rate: Rate::Infinite,
                burstiness: 1.0,
                max_concurrency: None
            }
        );
        match &r.records[2].outcome {
            Outcome::Failed(f) => assert_eq!(f.message, "TimeoutError"),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn summary_only_keeps_what_is_reported_and_nothing_else() {
        let mut v = base();
        let o = v.as_object_mut().unwrap();
        o.insert("median_ttft_ms".into(), json!(100.0));
        o.insert("p99_ttft_ms".into(), json!(300.0));
        o.insert("mean_ttft_ms".into(), json!(120.0));
        o.insert("request_rate".into(), json!(4.0));
        o.insert("max_concurrency".into(), json!(16));
        let r = parse(&v).unwrap();
        assert!(r.summary_only);
        let t = r.stats.groups[&Group::TimeToFirstToken];
        assert_eq!((t.p50, t.p99, t.avg), (100.0, 300.0, 120.0));
        assert!(t.p90.is_nan() && t.max.is_nan());
        assert!(!r.stats.groups.contains_key(&Group::InterToken));
        assert_eq!(r.stats.failed, 1);
        assert_eq!(r.load.recorded(), (json!(16), json!(4.0), json!(1.0)));
    }

    #[test]
    fn foreign_files_say_what_is_missing() {
        assert_eq!(
            parse(&json!([1, 2])).unwrap_err(),
            "the top level is an array, not an object"
        );
        assert_eq!(
            parse(&json!({"date": "20250420-190207", "requests": 3})).unwrap_err(),
            "missing request_rate, duration, completed"
        );
        let mut v = base();
        v["date"] = json!("yesterday");
        assert!(parse(&v).unwrap_err().contains("not YYYYmmdd-HHMMSS"));
        let v = base();
        assert!(parse(&v)
            .unwrap_err()
            .starts_with("neither per-request arrays"));
        let mut v = base();
        v["ttfts"] = json!([0.1]);
        v["itls"] = json!([[0.1], []]);
        v["input_lens"] = json!([1]);
        v["output_lens"] = json!([2]);
        assert!(parse(&v).unwrap_err().contains("itls 2"));
    }
}
