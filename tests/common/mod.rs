//! Helpers shared by the integration tests: running the real binary and writing sweeps in the
//! users' format into temporary folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_modelbench"))
}

/// Runs `modelbench ARGS` with colours off and returns (exit code, stdout, stderr).
pub fn modelbench(args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run modelbench");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A JSON number, or Python's bare literal for non-finite values (as `json.dump` writes them).
pub fn py(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "Infinity".into()
    } else if v == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        format!("{v:?}")
    }
}

/// The seven headline values in column order: throughput, e2e p50, e2e p99, ttft p50, ttft p99,
/// itl p50, itl p99. `None` leaves the field out.
pub type Values = [Option<f64>; 7];

pub fn values(thr: f64, lat: f64) -> Values {
    [
        Some(thr),
        Some(lat),
        Some(lat * 2.0),
        Some(lat / 10.0),
        Some(lat / 5.0),
        Some(lat / 100.0),
        Some(lat / 50.0),
    ]
}

/// Writes `<base>/<folder>/<run>/` with config.json and benchmark_results.json.
#[allow(clippy::too_many_arguments)]
pub fn write_run(
    base: &Path,
    folder: &str,
    run: &str,
    model: &str,
    tp: u32,
    dp: u32,
    pp: u32,
    mnbt: u64,
    v: Values,
) -> PathBuf {
    let dir = base.join(folder).join(run);
    std::fs::create_dir_all(&dir).unwrap();
    let f = |i: usize, key: &str| v[i].map(|x| format!("\"{key}\": {}", py(x)));
    let group =
        |fields: Vec<Option<String>>| fields.into_iter().flatten().collect::<Vec<_>>().join(", ");
    let json = format!(
        r#"{{
    "benchmark_config": {{"model_name": "{model}", "tensor_parallel_size": {tp}, "pipeline_parallel_size": {pp},
        "data_parallel_size": {dp}, "max_num_batched_tokens": {mnbt}}},
    "benchmark_stats": {{
        "summary": {{"total_requests": 10, {thr}}},
        "latency_percentiles_ms": {{
            "total_generation_latency": {{{e2e}}},
            "time_to_first_token": {{{ttft}}},
            "inter_token_latency": {{{itl}}},
            "schedule_delay": {{"schedule_delay_p50": 0.1}}
        }}
    }},
    "individual_requests": [{{"request_id": "a", "token_latencies": [0.01, NaN, 0.02]}}]
}}"#,
        thr = f(0, "overall_throughput_tokens_per_sec")
            .unwrap_or_else(|| "\"total_output_tokens\": 5".into()),
        e2e = group(vec![f(1, "total_p50"), f(2, "total_p99")]),
        ttft = group(vec![f(3, "first_token_p50"), f(4, "first_token_p99")]),
        itl = group(vec![f(5, "inter_token_p50"), f(6, "inter_token_p99")]),
    );
    std::fs::write(dir.join("benchmark_results.json"), json).unwrap();
    std::fs::write(
        dir.join("config.json"),
        format!(r#"{{"model": "{model}", "tensor_parallel_size": {tp}}}"#),
    )
    .unwrap();
    dir
}

/// Appends fields to a run's `benchmark_config` (e.g. `"max_concurrency": 4`), as `run`
/// writes its load and a sweep its other server flags.
pub fn add_config(dir: &Path, fields: &str) {
    let p = dir.join("benchmark_results.json");
    let text = std::fs::read_to_string(&p).unwrap();
    let at = text.find("}").unwrap(); // the end of benchmark_config, the first object closed
    let text = format!("{}, {fields}{}", &text[..at], &text[at..]);
    std::fs::write(&p, text).unwrap();
}

/// `(text, fill)` of every `<text>` element of an SVG document.
pub fn svg_texts(svg: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find("<text") {
        rest = &rest[start..];
        let Some(open_end) = rest.find('>') else {
            break;
        };
        let tag = &rest[..open_end];
        let Some(close) = rest.find("</text>") else {
            break;
        };
        let text = rest[open_end + 1..close].trim().to_owned();
        let fill = tag
            .split("fill=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("")
            .to_owned();
        out.push((unescape(&text), fill));
        rest = &rest[close..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// `modelbench sweep --dry-run --model MODEL --output-dir OUT` with a minimal workload and
/// `EXTRA` flags (no server starts); (exit code, stdout, stderr).
pub fn sweep_dry_run(model: &str, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "sweep",
        "--dry-run",
        "--model",
        model,
        "--output-dir",
        out.to_str().unwrap(),
        "--serve-cmd",
        "vllm serve",
        "--dataset",
        "random",
        "--input-len",
        "8",
        "--output-len",
        "4",
        "--num-prompts",
        "4",
    ];
    args.extend_from_slice(extra);
    modelbench(&args)
}

/// One request of a generated run (seconds): TTFT and the token gaps; its total latency is
/// TTFT + Σ gaps.
pub struct Req {
    pub ttft: f64,
    pub gaps: Vec<f64>,
}

fn percentile_linear(v: &mut [f64], q: f64) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let rank = q / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

/// Writes a run whose `individual_requests` hold `reqs` and whose `benchmark_stats` are
/// computed from them as modelbench/the users' scripts do (ms, numpy-linear percentiles).
#[allow(clippy::too_many_arguments)]
pub fn write_run_requests(
    base: &Path,
    folder: &str,
    run: &str,
    model: &str,
    tp: u32,
    mnbt: u64,
    throughput: f64,
    reqs: &[Req],
) -> PathBuf {
    let dir = base.join(folder).join(run);
    std::fs::create_dir_all(&dir).unwrap();
    let ms = |v: Vec<f64>| v.into_iter().map(|x| x * 1000.0).collect::<Vec<f64>>();
    let ttft = ms(reqs.iter().map(|r| r.ttft).collect());
    let total = ms(reqs
        .iter()
        .map(|r| r.ttft + r.gaps.iter().sum::<f64>())
        .collect());
    let gaps = ms(reqs.iter().flat_map(|r| r.gaps.iter().copied()).collect());
    let group = |prefix: &str, v: &[f64]| {
        let mut v = v.to_vec();
        format!(
            r#"{{"{prefix}_p50": {}, "{prefix}_p99": {}}}"#,
            py(percentile_linear(&mut v, 50.0)),
            py(percentile_linear(&mut v, 99.0))
        )
    };
    let requests: Vec<String> = reqs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let gaps: Vec<String> = r.gaps.iter().map(|g| py(*g)).collect();
            format!(
                r#"{{"request_id": "r{i}", "input_tokens": 100, "output_tokens": {}, "total_latency": {}, "time_to_first_token": {}, "token_latencies": [{}]}}"#,
                r.gaps.len() + 1,
                py(r.ttft + r.gaps.iter().sum::<f64>()),
                py(r.ttft),
                gaps.join(", ")
            )
        })
        .collect();
    let json = format!(
        r#"{{"benchmark_config": {{"model_name": "{model}", "tensor_parallel_size": {tp}, "pipeline_parallel_size": 1,
        "data_parallel_size": 1, "max_num_batched_tokens": {mnbt}}},
    "benchmark_stats": {{
        "summary": {{"total_requests": {n}, "overall_throughput_tokens_per_sec": {thr}}},
        "latency_percentiles_ms": {{
            "total_generation_latency": {e2e},
            "time_to_first_token": {tt},
            "inter_token_latency": {itl}
        }}
    }},
    "individual_requests": [{reqs}]
}}"#,
        n = reqs.len(),
        thr = py(throughput),
        e2e = group("total", &total),
        tt = group("first_token", &ttft),
        itl = group("inter_token", &gaps),
        reqs = requests.join(",\n")
    );
    std::fs::write(dir.join("benchmark_results.json"), json).unwrap();
    dir
}

/// Writes `<base>/<model folder>/capacity_<stamp>.json` as `run --find-max concurrency` does:
/// model `model` at TP=`tp`, max concurrency meeting a `ttft_ms=slo` SLO (`None`: none met).
pub fn capacity_file(base: &Path, model: &str, stamp: &str, tp: u32, max: Option<f64>, slo: u32) {
    let dir = base.join(model.replace('/', "_"));
    std::fs::create_dir_all(&dir).unwrap();
    let max = max.map_or("null".to_owned(), |v| v.to_string());
    std::fs::write(
        dir.join(format!("capacity_{stamp}.json")),
        format!(
            r#"{{"search_id": "capacity_{stamp}", "configuration": {{"model_name": "{model}", "tensor_parallel_size": {tp},
                "pipeline_parallel_size": 1, "data_parallel_size": 1, "max_num_batched_tokens": null}},
                "slo": {{"ttft_ms": {slo}}}, "slo_attainment_target_pct": 99.0, "axis": "concurrency",
                "max_meeting_slo": {max}, "probes": []}}"#
        ),
    )
    .unwrap();
}
