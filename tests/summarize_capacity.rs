//! `modelbench summarize` with what `run --slo` / `--find-max` write: goodput and attainment as
//! appended CSV and table columns, the capacity section read from `capacity_*.json`, and the
//! missing-configurations list grouped per (TP, DP, PP).

mod common;

use std::path::{Path, PathBuf};

use common::{modelbench, values, write_run};

const MODEL: &str = "Org/Cap";
const FOLDER: &str = "Org_Cap";

/// The users' eleven columns and the appended `partial`, byte for byte.
const USERS_PREFIX: &str = "TP,DP,PP,max_num_batched_tokens,overall_throughput_tokens_per_sec,total_latency_p50_ms,total_latency_p99_ms,ttft_p50_ms,ttft_p99_ms,inter_token_p50_ms,inter_token_p99_ms,partial";

/// A run as `run --slo … --concurrency C` writes it: the load in `benchmark_config`, goodput
/// and attainment in `benchmark_stats.summary`.
fn write_slo_run(base: &Path, run: &str, tp: u32, mnbt: u64, conc: u32, goodput: (f64, f64, f64)) {
    let dir = plain_run(base, run, tp, mnbt);
    let file = dir.join("benchmark_results.json");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace(
            &format!("\"max_num_batched_tokens\": {mnbt}}}"),
            &format!(
                "\"max_num_batched_tokens\": {mnbt}, \"max_concurrency\": {conc}, \"request_rate\": \"inf\", \"burstiness\": 1.0}}"
            ),
        )
        .replace(
            "\"total_requests\": 10,",
            &format!(
                "\"total_requests\": 10, \"goodput_requests_per_sec\": {}, \"goodput_tokens_per_sec\": {}, \"slo_attainment_pct\": {}, \"good_requests\": 9,",
                goodput.0, goodput.1, goodput.2
            ),
        );
    assert!(text.contains("slo_attainment_pct") && text.contains("max_concurrency"));
    std::fs::write(file, text).unwrap();
}

/// A capacity file as `--find-max` writes it (docs/result-format.md).
fn write_capacity(base: &Path, name: &str, tp: u32, dp: u32, mnbt: u64, max: Option<f64>) {
    let max = max.map_or("null".to_owned(), |m| m.to_string());
    let doc = format!(
        r#"{{"search_id": "{name}", "tool": "modelbench",
  "configuration": {{"model_name": "{MODEL}", "tensor_parallel_size": {tp}, "pipeline_parallel_size": 1,
                     "data_parallel_size": {dp}, "max_num_batched_tokens": {mnbt}}},
  "slo": {{"ttft_ms": 500}}, "slo_attainment_target_pct": 99.0, "axis": "concurrency",
  "search": {{"start": 1, "max": 1000000, "growth": 2.0, "precision": null, "max_failed_fraction": 0.5}},
  "max_meeting_slo": {max}, "lowest_failing": null, "stopped": null, "probes": []}}"#
    );
    std::fs::write(base.join(FOLDER).join(format!("{name}.json")), doc).unwrap();
}

fn summarize(base: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "summarize",
        "--model",
        MODEL,
        "--base-dir",
        base.to_str().unwrap(),
    ];
    args.extend(extra);
    modelbench(&args)
}

/// A run without load or SLO, as the users' older runs.
fn plain_run(base: &Path, run: &str, tp: u32, mnbt: u64) -> PathBuf {
    write_run(
        base,
        FOLDER,
        run,
        MODEL,
        tp,
        1,
        1,
        mnbt,
        values(100.0, 50.0),
    )
}

/// The indented lines after the line starting with `header`.
fn section<'a>(stdout: &'a str, header: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(header))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect()
}

fn csv_lines(base: &Path) -> Vec<String> {
    std::fs::read_to_string(base.join(FOLDER).join("benchmark_results_summary.csv"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn goodput_and_load_are_appended_after_the_users_columns() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path();
    plain_run(base, "run_20250101_000001", 1, 4096);
    write_slo_run(base, "run_20250101_000002", 2, 4096, 8, (2.5, 640.0, 90.0));
    let (code, stdout, stderr) = summarize(base, &[]);
    assert_eq!(code, 0, "{stderr}");
    let lines = csv_lines(base);
    assert!(
        lines[0].starts_with(&format!("{USERS_PREFIX},")),
        "{}",
        lines[0]
    );
    assert_eq!(
        &lines[0][USERS_PREFIX.len()..],
        ",max_concurrency,request_rate,goodput_requests_per_sec,goodput_tokens_per_sec,slo_attainment_pct"
    );
    // a run without an SLO or load: empty appended cells
    assert!(lines[1].starts_with("1,1,1,4096,100,"), "{}", lines[1]);
    assert!(lines[1].ends_with(",,,,,,"), "{}", lines[1]);
    assert!(lines[2].starts_with("2,1,1,4096,100,"), "{}", lines[2]);
    assert!(lines[2].ends_with(",,8,inf,2.5,640,90"), "{}", lines[2]);
    // the table shows them too
    for col in [
        "load",
        "goodput req/s",
        "SLO attainment %",
        "concurrency ≤ 8",
        "640.00",
    ] {
        assert!(stdout.contains(col), "{col}: {stdout}");
    }
}

#[test]
fn old_runs_keep_the_old_table() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path();
    plain_run(base, "run_20250101_000001", 1, 4096);
    let (code, stdout, stderr) = summarize(base, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stdout.contains("goodput") && !stdout.contains("load"),
        "{stdout}"
    );
    assert!(!stdout.contains("capacity"), "{stdout}");
    assert!(csv_lines(base)[0].starts_with(USERS_PREFIX));
}

#[test]
fn capacity_section_sorted_by_capacity_per_gpu_with_the_best_named() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path();
    plain_run(base, "run_20250101_000001", 1, 4096);
    // TP=1: 8 on 1 GPU (8/GPU); TP=2, DP=2: 24 on 4 GPUs (6/GPU); TP=4: no level met it.
    write_capacity(base, "capacity_20261130_100000", 1, 1, 4096, Some(8.0));
    write_capacity(base, "capacity_20261130_110000", 2, 2, 4096, Some(24.0));
    write_capacity(base, "capacity_20261130_120000", 4, 1, 4096, None);
    // a broken file: one warning naming it, the rest is still printed
    std::fs::write(
        base.join(FOLDER).join("capacity_20261130_130000.json"),
        "{\"axis\": ",
    )
    .unwrap();
    let (code, stdout, stderr) = summarize(base, &[]);
    assert_eq!(code, 0, "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("capacity_20261130_130000.json"),
        "{stderr}"
    );

    let section: Vec<&str> = section(&stdout, "capacity per configuration");
    assert_eq!(section.len(), 3, "{stdout}");
    assert!(
        section[0].contains("TP=1, DP=1, PP=1, max_num_batched_tokens=4096: concurrency 8 meets the SLO, 1 GPU(s), 8.00 per GPU")
            && section[0].contains("ttft_ms≤500")
            && section[0].contains("capacity_20261130_100000.json"),
        "{stdout}"
    );
    assert!(
        section[1].contains("TP=2, DP=2, PP=1")
            && section[1].contains("concurrency 24 meets the SLO, 4 GPU(s), 6.00 per GPU"),
        "{stdout}"
    );
    assert!(
        section[2].contains("TP=4, DP=1, PP=1")
            && section[2].contains("no concurrency met the SLO"),
        "{stdout}"
    );
    let best = stdout
        .lines()
        .find(|l| l.starts_with("best configuration by capacity per GPU"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        best.contains("TP=1, DP=1, PP=1, max_num_batched_tokens=4096")
            && best.contains("8.00 per GPU"),
        "{best}"
    );

    // a newer search of the same configuration replaces the older answer
    write_capacity(base, "capacity_20261130_140000", 2, 2, 4096, Some(40.0));
    let (_, stdout, _) = summarize(base, &[]);
    let best = stdout
        .lines()
        .find(|l| l.starts_with("best configuration by capacity per GPU"))
        .unwrap();
    assert!(
        best.contains("TP=2, DP=2, PP=1") && best.contains("10.00 per GPU"),
        "{best}"
    );
    assert!(!stdout.contains("concurrency 24"), "{stdout}");
}

#[test]
fn missing_list_is_one_line_per_parallelism() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path();
    plain_run(base, "run_20250101_000001", 1, 4096);
    plain_run(base, "run_20250101_000002", 2, 20480);
    let (code, stdout, stderr) = summarize(
        base,
        &["--expected-grid", "tp=1,2,4;dp=1;mnbt=4096,20480,73728"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("missing from the expected grid (7 of 9)"),
        "{stdout}"
    );
    let missing: Vec<&str> = section(&stdout, "missing from the expected grid");
    assert_eq!(
        missing,
        [
            "  TP=1, DP=1, PP=1: max_num_batched_tokens 20480, 73728 missing",
            "  TP=2, DP=1, PP=1: max_num_batched_tokens 4096, 73728 missing",
            "  TP=4, DP=1, PP=1: all 3 max_num_batched_tokens missing",
        ],
        "{stdout}"
    );
}

/// The bundled example: 36 missing configurations were 36 lines; now one per (TP, DP, PP).
#[test]
fn bundled_example_missing_list_is_ten_lines() {
    let d = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sweep_configs/Qwen_Qwen3-4B");
    let dst = d.path().join("Qwen_Qwen3-4B");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            let to = dst.join(e.file_name());
            std::fs::create_dir_all(&to).unwrap();
            for f in std::fs::read_dir(e.path()).unwrap() {
                let f = f.unwrap();
                std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
            }
        }
    }
    let (code, stdout, stderr) = modelbench(&[
        "summarize",
        "--model",
        "Qwen/Qwen3-4B",
        "--base-dir",
        d.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("missing from the expected grid (36 of 40)"),
        "{stdout}"
    );
    let n = section(&stdout, "missing from the expected grid").len();
    assert_eq!(n, 10, "{stdout}");
}
