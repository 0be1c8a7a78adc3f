//! `modelbench import vllm-bench` on real `vllm bench serve` / benchmark_serving.py result files
//! (tests/fixtures/vllm-bench/README.md says where each comes from), then `compare` and
//! `summarize` on the imported runs.

mod common;

use std::path::{Path, PathBuf};

use common::modelbench;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vllm-bench")
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

fn run_dirs(model_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(model_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("run_"))
        .collect();
    v.sort();
    v
}

fn import(args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["import", "vllm-bench"];
    a.extend_from_slice(args);
    modelbench(&a)
}

#[track_caller]
fn close(what: &str, ours: f64, theirs: f64, rel: f64) {
    let d = (ours - theirs).abs() / theirs.abs().max(f64::MIN_POSITIVE);
    assert!(
        d <= rel,
        "{what}: ours {ours} vs vLLM {theirs} (relative difference {d:e} > {rel:e})"
    );
}

/// The run folder that imported `source` (by `run_info.import.source_file`).
fn imported_from(model_dir: &Path, source: &Path) -> Value {
    for d in run_dirs(model_dir) {
        let r = json(&d.join("benchmark_results.json"));
        if r["run_info"]["import"]["source_file"].as_str() == Some(&source.display().to_string()) {
            return r;
        }
    }
    panic!(
        "{} not imported in {}",
        source.display(),
        model_dir.display()
    );
}

/// Every figure vLLM reports in `source` against ours in the imported run. TPOT is compared
/// to `tpot_rel` (files without `latencies`: vLLM's TTFT was a second clock read, see
/// docs/metrics.md); everything else to 1e-9.
fn check_against_vllm(r: &Value, source: &Path, tpot_rel: f64) {
    let v = json(source);
    let lat = &r["benchmark_stats"]["latency_percentiles_ms"];
    let s = &r["benchmark_stats"]["summary"];
    let name = source.file_name().unwrap().to_string_lossy().into_owned();
    let mut checked = 0;
    for (metric, group, prefix) in [
        ("ttft", "time_to_first_token", "first_token"),
        ("itl", "inter_token_latency", "inter_token"),
        ("tpot", "time_per_output_token", "tpot"),
        ("e2el", "e2e_latency", "e2e"),
    ] {
        let rel = if metric == "tpot" { tpot_rel } else { 1e-9 };
        for (theirs, ours) in [
            ("mean", "avg"),
            ("median", "p50"),
            ("p90", "p90"),
            ("p95", "p95"),
            ("p99", "p99"),
        ] {
            let Some(t) = v[format!("{theirs}_{metric}_ms")].as_f64() else {
                continue;
            };
            let o = lat[group][format!("{prefix}_{ours}")]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: no {group}.{prefix}_{ours}"));
            close(&format!("{name} {theirs}_{metric}_ms"), o, t, rel);
            checked += 1;
        }
    }
    assert!(checked >= 9, "{name}: only {checked} percentiles checked");
    for (theirs, ours) in [
        ("output_throughput", "overall_throughput_tokens_per_sec"),
        ("request_throughput", "request_throughput_per_sec"),
        ("total_token_throughput", "total_token_throughput_per_sec"),
        ("total_input_tokens", "total_input_tokens"),
        ("total_output_tokens", "total_output_tokens"),
        ("completed", "total_requests"),
        ("duration", "duration_s"),
    ] {
        close(
            &format!("{name} {theirs}"),
            s[ours].as_f64().unwrap(),
            v[theirs].as_f64().unwrap(),
            1e-9,
        );
    }
    assert_eq!(
        r["individual_requests"].as_array().unwrap().len() as u64,
        v["completed"].as_u64().unwrap()
    );
    let bc = &r["benchmark_config"];
    let rate = match &v["request_rate"] {
        Value::String(s) => Value::String(s.clone()),
        n => n.clone(),
    };
    assert_eq!(bc["request_rate"], rate, "{name}");
    assert_eq!(bc["max_concurrency"], v["max_concurrency"], "{name}");
    assert_eq!(bc["burstiness"], v["burstiness"], "{name}");
    assert_eq!(r["run_info"]["metric_definitions"], "vllm bench serve");
    assert_eq!(r["run_info"]["imported_summary_only"], false);
}

#[test]
fn real_files_round_trip_with_vllms_own_figures() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let src = fixtures().join("01_tp8_pp2_no_ib");
    let (code, stdout, stderr) = import(&[
        src.to_str().unwrap(),
        "--model",
        "deepseek-ai/DeepSeek-V2.5",
        "--tp",
        "8",
        "--pp",
        "2",
        "--label",
        "network=no-ib",
        "--output-dir",
        o,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stderr, "");
    let model_dir = out.path().join("deepseek-ai_DeepSeek-V2.5");
    let runs = run_dirs(&model_dir);
    let names: Vec<String> = runs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // One run folder per file, named from the file's date.
    assert_eq!(names, ["run_20250420_185632", "run_20250420_190207"]);
    for d in &runs {
        for f in ["config.json", "benchmark.log", "benchmark_results.json"] {
            assert!(d.join(f).is_file(), "{}/{f}", d.display());
        }
    }
    for f in json_files(&src) {
        let r = imported_from(&model_dir, &f);
        check_against_vllm(&r, &f, 1e-6);
        let bc = &r["benchmark_config"];
        assert_eq!(
            (
                bc["tensor_parallel_size"].as_u64(),
                bc["pipeline_parallel_size"].as_u64()
            ),
            (Some(8), Some(2))
        );
        assert_eq!(bc["labels"]["network"], "no-ib");
        // Send times are not in vLLM's file: missing, not invented.
        let first = &r["individual_requests"][0];
        assert!(first["arrival_time"].is_null() && first["schedule_delay"].is_null());
        assert_eq!(
            r["benchmark_stats"]["latency_percentiles_ms"]["schedule_delay"],
            serde_json::json!({})
        );
    }

    // Re-importing changes nothing.
    let (code, stdout, _) = import(&[
        src.to_str().unwrap(),
        "--model",
        "deepseek-ai/DeepSeek-V2.5",
        "--output-dir",
        o,
    ]);
    assert_eq!(code, 0);
    assert_eq!(stdout.matches("already imported as").count(), 2, "{stdout}");
    assert_eq!(run_dirs(&model_dir).len(), 2);

    // summarize reads the imported runs unchanged; the load columns say what vLLM ran.
    let (code, stdout, stderr) = modelbench(&[
        "summarize",
        "--model",
        "deepseek-ai/DeepSeek-V2.5",
        "--base-dir",
        o,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let csv = std::fs::read_to_string(model_dir.join("benchmark_results_summary.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows.iter().any(|r| r.contains(",inf,")), "{csv}");
}

#[test]
fn files_of_the_current_vllm_bench_serve_match_to_1e9_tpot_included() {
    let src = fixtures().join("vllm-0.32-cpu");
    let out = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = import(&[
        src.to_str().unwrap(),
        "--model",
        "tiny",
        "--output-dir",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let files = json_files(&src);
    assert!(files.len() >= 2);
    for f in files {
        let r = imported_from(&out.path().join("tiny"), &f);
        check_against_vllm(&r, &f, 1e-9);
    }
}

#[test]
fn a_summary_only_file_keeps_its_figures_and_nothing_else() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let src = fixtures().join("summary-only");
    let (code, stdout, stderr) =
        import(&[src.to_str().unwrap(), "--model", "m", "--output-dir", o]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("summary figures only"), "{stdout}");
    let f = &json_files(&src)[0];
    let v = json(f);
    let r = imported_from(&out.path().join("m"), f);
    assert_eq!(r["run_info"]["imported_summary_only"], true);
    assert_eq!(
        r["benchmark_stats"]["summary"]["imported_summary_only"],
        true
    );
    assert_eq!(r["individual_requests"], serde_json::json!([]));
    let lat = &r["benchmark_stats"]["latency_percentiles_ms"];
    let t = &lat["time_to_first_token"];
    assert_eq!(t["first_token_p50"], v["median_ttft_ms"]);
    assert_eq!(t["first_token_p99"], v["p99_ttft_ms"]);
    assert_eq!(t["first_token_avg"], v["mean_ttft_ms"]);
    // Not reported by vLLM: missing (null), never 0.
    for k in ["first_token_p90", "first_token_p95", "first_token_max"] {
        assert!(t[k].is_null(), "{k}: {}", t[k]);
    }
    assert_eq!(
        lat["inter_token_latency"]["inter_token_p99"],
        v["p99_itl_ms"]
    );
    assert_eq!(lat["total_generation_latency"], serde_json::json!({}));
    let s = &r["benchmark_stats"]["summary"];
    assert_eq!(
        s["overall_throughput_tokens_per_sec"],
        v["output_throughput"]
    );
    assert_eq!(s["total_output_tokens"], v["total_output_tokens"]);

    // summarize: the figures it has, empty cells (not 0) for the generation latency.
    let (code, stdout, stderr) = modelbench(&["summarize", "--model", "m", "--base-dir", o]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let csv = std::fs::read_to_string(out.path().join("m/benchmark_results_summary.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("total_latency_p50_ms"), "");
    assert_eq!(col("total_latency_p99_ms"), "");
    assert_eq!(
        col("ttft_p99_ms").parse::<f64>().unwrap(),
        v["p99_ttft_ms"].as_f64().unwrap()
    );
    assert_eq!(col("request_rate"), "4");

    // The full file of the same run (same date, other bytes) is another run folder, and a
    // re-import of both writes nothing.
    let full = fixtures()
        .join("01_tp8_pp2_no_ib/serving_deepseek-ai-DeepSeek-V2.5_tp8_pp2_sharegpt_qps_04.json");
    for expected in [1, 2] {
        let (code, stdout, stderr) = import(&[
            full.to_str().unwrap(),
            src.to_str().unwrap(),
            "--model",
            "m",
            "--output-dir",
            o,
        ]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert_eq!(
            stdout.matches("already imported").count(),
            expected,
            "{stdout}"
        );
    }
    let names: Vec<String> = run_dirs(&out.path().join("m"))
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["run_20250420_185632", "run_20250420_185632_2"]);
}

#[test]
fn foreign_files_are_named_with_what_is_missing_and_the_rest_imported() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let foreign = fixtures().join("foreign");
    let good = fixtures().join("summary-only");
    let (code, stdout, stderr) = import(&[
        foreign.to_str().unwrap(),
        good.to_str().unwrap(),
        "--model",
        "m",
        "--output-dir",
        o,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains("benchmark_results.json")
            && warnings[0].contains("the top level is an array"),
        "{stderr}"
    );
    assert!(
        warnings[1].contains("other_field_names.json")
            && warnings[1].contains("missing date, request_rate, duration, completed"),
        "{stderr}"
    );
    assert_eq!(run_dirs(&out.path().join("m")).len(), 1);

    // Nothing importable: failure, one line saying so.
    let (code, _, stderr) = import(&[
        foreign.to_str().unwrap(),
        "--model",
        "m2",
        "--output-dir",
        o,
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("error: nothing imported (2 file(s) skipped)"),
        "{stderr}"
    );
    assert!(!out.path().join("m2").exists());
    let (code, _, stderr) = import(&["/nonexistent/x.json", "--model", "m2", "--output-dir", o]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("/nonexistent/x.json: cannot read"),
        "{stderr}"
    );
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// Two setups imported under two model names and compared: each CSV value is the source
/// file's own figure. (Today's x axis is max_num_batched_tokens, one CSV per load.)
#[test]
fn compare_of_two_imported_setups_shows_the_source_figures() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    for (dir, model) in [("01_tp8_pp2_no_ib", "ds-no-ib"), ("02_tp8_pp2_ib", "ds-ib")] {
        let src = fixtures().join(dir);
        let (code, stdout, stderr) = import(&[
            src.to_str().unwrap(),
            "--model",
            model,
            "--tp",
            "8",
            "--pp",
            "2",
            "--output-dir",
            o,
        ]);
        assert_eq!(code, 0, "{stdout}{stderr}");
    }
    let charts = out.path().join("charts");
    let (code, stdout, stderr) = modelbench(&[
        "compare",
        "--model1",
        "ds-no-ib",
        "--model2",
        "ds-ib",
        "--tp",
        "8",
        "--pp",
        "2",
        "--base-dir",
        o,
        "--output-dir",
        charts.to_str().unwrap(),
        "--format",
        "svg",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Both sides follow vLLM's definitions: no warning.
    assert!(!stderr.contains("metric definitions"), "{stderr}");
    for (tag, file) in [
        (
            "r4",
            "serving_deepseek-ai-DeepSeek-V2.5_tp8_pp2_sharegpt_qps_04.json",
        ),
        (
            "rinf",
            "serving_deepseek-ai-DeepSeek-V2.5_tp8_pp2_sharegpt_qps_inf.json",
        ),
    ] {
        let v1 = json(&fixtures().join("01_tp8_pp2_no_ib").join(file));
        let v2 = json(&fixtures().join("02_tp8_pp2_ib").join(file));
        let rows = csv_rows(&charts.join(format!("comparison_tp8_dp1_pp2_{tag}.csv")));
        let mut seen = 0;
        for (metric, field) in [
            ("overall_throughput_tokens_per_sec", "output_throughput"),
            ("ttft_p50_ms", "median_ttft_ms"),
            ("ttft_p99_ms", "p99_ttft_ms"),
            ("inter_token_p50_ms", "median_itl_ms"),
            ("inter_token_p99_ms", "p99_itl_ms"),
        ] {
            let row = rows.iter().find(|r| r[0] == metric).unwrap();
            close(
                metric,
                row[2].parse().unwrap(),
                v1[field].as_f64().unwrap(),
                1e-9,
            );
            close(
                metric,
                row[3].parse().unwrap(),
                v2[field].as_f64().unwrap(),
                1e-9,
            );
            seen += 1;
        }
        assert_eq!(seen, 5);
    }
    // `--x request_rate`: one chart set for the configuration, the rates side by side on the
    // x axis (inf last), the same values as the source files.
    let charts = out.path().join("charts_x");
    let (code, stdout, stderr) = modelbench(&[
        "compare",
        "--model1",
        "ds-no-ib",
        "--model2",
        "ds-ib",
        "--tp",
        "8",
        "--pp",
        "2",
        "--base-dir",
        o,
        "--output-dir",
        charts.to_str().unwrap(),
        "--format",
        "svg",
        "--x",
        "request_rate",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let p = charts.join("comparison_tp8_dp1_pp2_mnbtdefault.csv");
    let header = std::fs::read_to_string(&p).unwrap();
    assert!(
        header.starts_with("metric,request_rate,model1,model2,"),
        "{header}"
    );
    let rows = csv_rows(&p);
    for (metric, field) in [
        ("overall_throughput_tokens_per_sec", "output_throughput"),
        ("ttft_p99_ms", "p99_ttft_ms"),
        ("inter_token_p50_ms", "median_itl_ms"),
    ] {
        let rows: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == metric).collect();
        let xs: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
        assert_eq!(xs, ["4", "inf"], "{metric}");
        for (row, q) in rows.iter().zip(["04", "inf"]) {
            let file = format!("serving_deepseek-ai-DeepSeek-V2.5_tp8_pp2_sharegpt_qps_{q}.json");
            let v1 = json(&fixtures().join("01_tp8_pp2_no_ib").join(&file));
            let v2 = json(&fixtures().join("02_tp8_pp2_ib").join(&file));
            close(
                metric,
                row[2].parse().unwrap(),
                v1[field].as_f64().unwrap(),
                1e-9,
            );
            close(
                metric,
                row[3].parse().unwrap(),
                v2[field].as_f64().unwrap(),
                1e-9,
            );
        }
    }
    let svg =
        std::fs::read_to_string(charts.join("ttft_p99_ms_tp8_dp1_pp2_mnbtdefault.svg")).unwrap();
    // the x axis title (the chart key no longer holds the rate, so nothing else says it)
    assert!(svg.contains("request_rate"), "x axis title missing");
}

/// A native run next to an imported one: one warning line about the definitions.
#[test]
fn compare_warns_when_native_and_imported_runs_meet() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let src = fixtures().join("01_tp8_pp2_no_ib");
    let (code, _, stderr) = import(&[
        src.to_str().unwrap(),
        "--model",
        "imported",
        "--output-dir",
        o,
    ]);
    assert_eq!(code, 0, "{stderr}");
    // A native run at the same configuration and load (request rate inf, burstiness 1).
    let native = out.path().join("native/run_20260101_000000");
    std::fs::create_dir_all(&native).unwrap();
    std::fs::write(
        native.join("benchmark_results.json"),
        r#"{"benchmark_config": {"model_name": "native", "tensor_parallel_size": 1,
            "pipeline_parallel_size": 1, "data_parallel_size": 1, "max_num_batched_tokens": null,
            "max_concurrency": null, "request_rate": "inf", "burstiness": 1.0},
          "benchmark_stats": {"summary": {"overall_throughput_tokens_per_sec": 300.0},
            "latency_percentiles_ms": {"time_to_first_token": {"first_token_p50": 1500.0}}}}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = modelbench(&[
        "compare",
        "--model1",
        "native",
        "--model2",
        "imported",
        "--base-dir",
        o,
        "--output-dir",
        out.path().join("charts").to_str().unwrap(),
        "--format",
        "svg",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("metric definitions"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("modelbench | vllm bench serve"),
        "{stderr}"
    );
}
