//! `compare` and `summarize` on awkward inputs: partial (interrupted) runs, result files that
//! are not regular files, control characters in names, model names that are not folder names,
//! and other hostile files. No panic, no hang: one clear line naming the file, the rest compared.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, modelbench, sweep_dry_run, values, write_run};

const A: &str = "Org/ModelA";
const B: &str = "Org/ModelB";
const FA: &str = "Org_ModelA";
const FB: &str = "Org_ModelB";

/// Runs `modelbench ARGS`, killing it after `limit` (a hang fails the test instead of
/// blocking it). Returns (exit code, stdout, stderr); -1 when killed.
fn modelbench_within(args: &[&str], limit: Duration) -> (i32, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A run at TP=DP=PP=1, max_num_batched_tokens=4096.
fn run1(base: &Path, folder: &str, run: &str, model: &str, v: common::Values) -> PathBuf {
    write_run(base, folder, run, model, 1, 1, 1, 4096, v)
}

/// `compare --model1 A --model2 B` over `base` into `out` as SVG (killed after 30 s).
fn compare_ab(base: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    compare_with(A, base, out, "svg", extra)
}

/// `compare --model1 M1 --model2 B --format FORMAT EXTRA…` (killed after 30 s).
fn compare_with(
    m1: &str,
    base: &Path,
    out: &Path,
    format: &str,
    extra: &[&str],
) -> (i32, String, String) {
    let mut args = vec![
        "compare",
        "--model1",
        m1,
        "--model2",
        B,
        "--base-dir",
        base.to_str().unwrap(),
        "--output-dir",
        out.to_str().unwrap(),
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    modelbench_within(&args, Duration::from_secs(30))
}

fn results_path(base: &Path, folder: &str, run: &str) -> PathBuf {
    base.join(folder).join(run).join("benchmark_results.json")
}

/// Rewrites a run's results file with `f`.
fn edit_results(base: &Path, folder: &str, run: &str, f: impl Fn(String) -> String) {
    let p = results_path(base, folder, run);
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, f(text)).unwrap();
}

/// Marks a run as `modelbench run` marks an interrupted one (4 of 20 requests sent).
fn mark_interrupted(base: &Path, folder: &str, run: &str) {
    edit_results(base, folder, run, |t| {
        t.replace(
            "\"total_requests\": 10,",
            "\"total_requests\": 4, \"not_sent_requests\": 16, \"interrupted\": true,",
        )
    });
}

/// Model A: a complete run (100 tok/s) and an interrupted one (20 tok/s) of the same
/// configuration; model B: one complete run.
fn partial_sweep(base: &Path) {
    run1(base, FA, "run_20250101_000001", A, values(100.0, 50.0));
    run1(base, FA, "run_20250101_000002", A, values(20.0, 10.0));
    mark_interrupted(base, FA, "run_20250101_000002");
    run1(base, FB, "run_20250101_000001", B, values(120.0, 40.0));
}

fn csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[test]
fn partial_runs_are_excluded_by_default_and_marked_when_included() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    partial_sweep(&base);
    let out = d.path().join("plots");
    let (code, _, err) = compare_ab(&base, &out, &[]);
    assert_eq!(code, 0, "{err}");
    let warn: Vec<&str> = err.lines().filter(|l| l.contains("partial")).collect();
    assert_eq!(warn.len(), 1, "one warning line: {err}");
    assert!(
        warn[0].contains("run_20250101_000002") && warn[0].contains("--include-partial"),
        "{err}"
    );
    let rows = csv(&out.join("comparison_tp1_dp1_pp1.csv"));
    let thr = rows
        .iter()
        .find(|r| r[0] == "overall_throughput_tokens_per_sec")
        .unwrap();
    assert_eq!(&thr[2..7], ["100", "120", "20", "1", "1"], "{rows:?}");

    let (code, stdout, err) = compare_ab(&base, &out, &["--include-partial"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("excluded"), "{err}");
    let rows = csv(&out.join("comparison_tp1_dp1_pp1.csv"));
    // The users' seven columns first, then the appended interval and partial-run counts.
    assert_eq!(
        rows[0],
        [
            "metric",
            "max_num_batched_tokens",
            "model1",
            "model2",
            "diff_pct",
            "n1",
            "n2",
            "diff_ci_low",
            "diff_ci_high",
            "significant",
            "partial1",
            "partial2"
        ]
    );
    let thr = rows
        .iter()
        .find(|r| r[0] == "overall_throughput_tokens_per_sec")
        .unwrap();
    assert_eq!(
        &thr[2..],
        ["60", "120", "100", "2", "1", "", "", "", "1", "0"],
        "{rows:?}"
    );
    assert!(stdout.contains("partial"), "the table marks it: {stdout}");

    // summarize: the same rule, and an appended `partial` column.
    let b = base.to_str().unwrap();
    let (code, stdout, err) = modelbench(&["summarize", "--model", A, "--base-dir", b]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("partial")).count(),
        1,
        "{err}"
    );
    assert!(stdout.contains("1 run(s)"), "{stdout}");
    let rows = csv(&base.join(FA).join("benchmark_results_summary.csv"));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0][11], "partial",
        "partial, then the appended load and goodput columns"
    );
    assert_eq!(rows[0][..11].join(","), "TP,DP,PP,max_num_batched_tokens,overall_throughput_tokens_per_sec,total_latency_p50_ms,total_latency_p99_ms,ttft_p50_ms,ttft_p99_ms,inter_token_p50_ms,inter_token_p99_ms");
    let (code, stdout, err) = modelbench(&[
        "summarize",
        "--model",
        A,
        "--base-dir",
        b,
        "--include-partial",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("2 run(s)"), "{stdout}");
    let rows = csv(&base.join(FA).join("benchmark_results_summary.csv"));
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[1].last().unwrap(), "");
    assert!(rows[2][11].contains("interrupted"), "{rows:?}");
}

#[cfg(unix)]
#[test]
fn fifo_and_device_results_files_are_skipped_with_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    partial_sweep(&base); // A/run_2 is interrupted (excluded); fine for this test
    run1(
        base.as_path(),
        FA,
        "run_20250101_000003",
        A,
        values(1.0, 1.0),
    );
    run1(
        base.as_path(),
        FA,
        "run_20250101_000004",
        A,
        values(1.0, 1.0),
    );
    run1(
        base.as_path(),
        FA,
        "run_20250101_000005",
        A,
        values(1.0, 1.0),
    );
    let fifo = results_path(&base, FA, "run_20250101_000003");
    std::fs::remove_file(&fifo).unwrap();
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let zero = results_path(&base, FA, "run_20250101_000004");
    std::fs::remove_file(&zero).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let dir = results_path(&base, FA, "run_20250101_000005");
    std::fs::remove_file(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();

    let out = d.path().join("plots");
    let (code, _, err) = compare_ab(&base, &out, &[]);
    assert_eq!(code, 0, "must finish, not hang: {err}");
    for run in [
        "run_20250101_000003",
        "run_20250101_000004",
        "run_20250101_000005",
    ] {
        let l: Vec<&str> = err.lines().filter(|l| l.contains(run)).collect();
        assert_eq!(l.len(), 1, "{run}: {err}");
        assert!(l[0].contains("not a regular file"), "{err}");
    }
    let (code, _, err) = modelbench_within(
        &[
            "summarize",
            "--model",
            A,
            "--base-dir",
            base.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
}

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n')
}

#[test]
fn control_characters_never_reach_the_terminal_and_charts_are_still_made() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    let evil = "Org/Evil\\u001b[31mRED\\u0007";
    run1(
        &base,
        "Org_Evil",
        "run_20250101_000001",
        evil,
        values(100.0, 50.0),
    );
    run1(
        &base,
        "Org_Evil",
        "run_20250101_000002",
        evil,
        values(90.0, 50.0),
    );
    // a config value with an OSC sequence: printed in the "runs differ" warning
    edit_results(&base, "Org_Evil", "run_20250101_000002", |t| {
        t.replace(
            "\"max_num_batched_tokens\": 4096",
            "\"max_num_batched_tokens\": 4096, \"max_num_seqs\": \"\\u001b]0;title\\u0007\"",
        )
    });
    run1(&base, FB, "run_20250101_000001", B, values(120.0, 40.0));
    write_run(
        &base,
        FB,
        "run_20250101_000002",
        B,
        2,
        1,
        1,
        4096,
        values(120.0, 40.0),
    );
    // a broken run in a folder whose name holds a control character
    let weird = format!("{FB}/run_20250101_000003\u{1b}[2J");
    std::fs::create_dir_all(base.join(&weird)).unwrap();

    let out = d.path().join("plots");
    let (code, stdout, err) = compare_with(
        "Org_Evil",
        &base,
        &out,
        "both",
        &["--all-configs", "--combined"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!has_control(&stdout), "stdout: {stdout:?}");
    assert!(!has_control(&err), "stderr: {err:?}");
    assert!(stdout.contains("\\u{1b}"), "escaped, not dropped: {stdout}");
    for ext in ["svg", "png"] {
        let p = out.join(format!(
            "overall_throughput_tokens_per_sec_tp1_dp1_pp1.{ext}"
        ));
        assert!(p.exists(), "{}", p.display());
    }
    let svg =
        std::fs::read_to_string(out.join("overall_throughput_tokens_per_sec_tp1_dp1_pp1.svg"))
            .unwrap();
    assert!(
        !has_control(&svg.replace(['\r', '\t'], "")),
        "SVG has control characters"
    );

    let (code, stdout, err) = modelbench(&[
        "summarize",
        "--model",
        "Org_Evil",
        "--base-dir",
        base.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !has_control(&stdout) && !has_control(&err),
        "{stdout:?} {err:?}"
    );
    // an unknown model name with control characters: the error line is escaped too
    let (code, _, err) = modelbench(&[
        "summarize",
        "--model",
        "nope\u{1b}[31m",
        "--base-dir",
        base.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(!has_control(&err), "{err:?}");
}

#[test]
fn model_names_that_are_not_folder_names_are_rejected_naming_the_flag() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    run1(&base, FB, "run_20250101_000001", B, values(120.0, 40.0));
    let b = base.to_str().unwrap();
    for bad in ["..", ".", " / ", "  "] {
        let (code, _, err) = modelbench(&["summarize", "--model", bad, "--base-dir", b]);
        assert_ne!(code, 0, "{bad:?}");
        assert!(err.contains("--model"), "{bad:?}: {err}");
        let (code, _, err) = modelbench(&[
            "run",
            "--model",
            bad,
            "--base-url",
            "http://127.0.0.1:9",
            "--output-dir",
            b,
        ]);
        assert_ne!(code, 0, "{bad:?}");
        assert!(
            err.contains("--model") && err.contains("folder"),
            "{bad:?}: {err}"
        );
        let (code, _, err) = sweep_dry_run(bad, &base, &[]);
        assert_ne!(code, 0, "sweep {bad:?}");
        assert!(
            err.contains("--model") && err.contains("folder"),
            "{bad:?}: {err}"
        );
    }
    // the names `run` stores under are the names `compare`/`summarize` find: a backslash and
    // surrounding spaces
    run1(
        &base,
        "Org_Back",
        "run_20250101_000001",
        "Org\\\\Back",
        values(1.0, 1.0),
    );
    let (code, _, err) = modelbench(&["summarize", "--model", " Org\\Back ", "--base-dir", b]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn hostile_results_files_give_one_line_each_and_the_rest_is_compared() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    run1(&base, FB, "run_20250101_000001", B, values(120.0, 40.0));
    run1(&base, FA, "run_20250101_000001", A, values(100.0, 50.0));
    let mut n = 1;
    let mut add = |content: String| {
        n += 1;
        let run = format!("run_20250101_0000{n:02}");
        run1(&base, FA, &run, A, values(1.0, 1.0));
        std::fs::write(results_path(&base, FA, &run), content).unwrap();
        run
    };
    let good = std::fs::read_to_string(results_path(&base, FA, "run_20250101_000001")).unwrap();
    let cases = [
        add(String::new()),                                              // 0 bytes
        add(format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000))), // deep nesting
        add(good.replace("\"tensor_parallel_size\": 1", "\"tensor_parallel_size\": 0")),
        add(good.replace(
            "\"tensor_parallel_size\": 1",
            "\"tensor_parallel_size\": 1e30",
        )),
        add("[1, 2, 3]".to_owned()),                // not an object
        add("{\"benchmark_stats\": 5}".to_owned()), // wrong type
    ];
    // duplicated keys: the last one wins (as Python's json.load does), not an error
    let dup = add(good.replace(
        "\"tensor_parallel_size\": 1,",
        "\"tensor_parallel_size\": 8, \"tensor_parallel_size\": 1,",
    ));
    // Infinity in a stat: treated as missing
    let inf = add(good.replace(
        "\"overall_throughput_tokens_per_sec\": 100.0",
        "\"overall_throughput_tokens_per_sec\": Infinity",
    ));
    let out = d.path().join("plots");
    let (code, stdout, err) = compare_ab(&base, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for run in &cases {
        let l: Vec<&str> = err.lines().filter(|l| l.contains(run.as_str())).collect();
        assert_eq!(l.len(), 1, "{run}: {err}");
    }
    assert!(err.contains("is empty (0 bytes)"), "{err}");
    assert!(!err.contains(&dup), "{err}");
    assert!(!err.contains(&inf), "{err}");
    // A's throughput: 100 (run 1), 100 (dup); Infinity is missing → n=2
    let rows = csv(&out.join("comparison_tp1_dp1_pp1.csv"));
    let thr = rows
        .iter()
        .find(|r| r[0] == "overall_throughput_tokens_per_sec")
        .unwrap();
    assert_eq!(
        &thr[2..7],
        ["100", "120", "20", "2", "1"],
        "{stdout}\n{err}"
    );
}

/// `total_latency_*` is the time to the last content chunk (`total_generation_latency`), not
/// the end-to-end latency (last byte, `e2e_latency`): charts and tables must not call it that.
#[test]
fn generation_latency_is_not_called_end_to_end() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    partial_sweep(&base);
    let out = d.path().join("plots");
    let (code, stdout, err) = compare_ab(&base, &out, &["--combined"]);
    assert_eq!(code, 0, "{err}");
    for file in [
        "total_latency_p50_ms_tp1_dp1_pp1.svg",
        "combined_tp1_dp1_pp1.svg",
    ] {
        let svg = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(svg.contains("Generation latency"), "{file}");
        assert!(!svg.to_lowercase().contains("end-to-end"), "{file}");
    }
    assert!(!stdout.to_lowercase().contains("end-to-end"), "{stdout}");
    let (code, stdout, err) = modelbench(&[
        "summarize",
        "--model",
        A,
        "--base-dir",
        base.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let lower = stdout.to_lowercase();
    assert!(
        !lower.contains("e2e") && !lower.contains("end-to-end"),
        "{stdout}"
    );
    assert!(stdout.contains("gen p50 ms"), "{stdout}");
}

/// A negative or absurd metric (a bug in whatever wrote the file) is not a measurement: it is
/// treated as missing with one warning line naming the run, instead of wrecking the chart's
/// scale and the mean.
#[test]
fn negative_and_absurd_metric_values_are_missing_with_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    run1(&base, FA, "run_20250101_000001", A, values(100.0, 50.0));
    let mut bad = values(-5.0, 50.0);
    bad[1] = Some(1e300); // total_latency_p50_ms
    run1(&base, FA, "run_20250101_000002", A, bad);
    run1(&base, FB, "run_20250101_000001", B, values(120.0, 40.0));
    let out = d.path().join("plots");
    let (code, _, err) = compare_ab(&base, &out, &[]);
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("run_20250101_000002"))
        .collect();
    assert_eq!(l.len(), 1, "{err}");
    assert!(
        l[0].contains("overall_throughput_tokens_per_sec") && l[0].contains("total_latency_p50_ms"),
        "{err}"
    );
    let rows = csv(&out.join("comparison_tp1_dp1_pp1.csv"));
    let row = |m: &str| rows.iter().find(|r| r[0] == m).unwrap().clone();
    assert_eq!(
        row("overall_throughput_tokens_per_sec")[2..7],
        ["100", "120", "20", "1", "1"]
    );
    assert_eq!(
        row("total_latency_p50_ms")[2..7],
        ["50", "40", "-20", "1", "1"]
    );
    assert_eq!(
        row("ttft_p50_ms")[5],
        "2",
        "the run's other values are kept"
    );
}

/// A model whose only runs are partial: the error says so and how to keep them, instead of
/// "no readable run".
#[test]
fn only_partial_runs_says_how_to_keep_them() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    run1(&base, FA, "run_20250101_000001", A, values(20.0, 10.0));
    mark_interrupted(&base, FA, "run_20250101_000001");
    run1(&base, FB, "run_20250101_000001", B, values(120.0, 40.0));
    let b = base.to_str().unwrap();
    let error_line = |err: &str| {
        err.lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default()
            .to_owned()
    };
    let (code, _, err) = modelbench(&["summarize", "--model", A, "--base-dir", b]);
    assert_ne!(code, 0);
    let e = error_line(&err);
    assert!(
        e.contains("1 partial run(s) left out") && e.contains("--include-partial"),
        "{err}"
    );
    let (code, _, err) = compare_ab(&base, &d.path().join("plots"), &[]);
    assert_ne!(code, 0);
    assert!(
        error_line(&err).contains("1 partial run(s) left out"),
        "{err}"
    );
    let (code, _, err) = compare_ab(&base, &d.path().join("plots"), &["--include-partial"]);
    assert_eq!(code, 0, "{err}");
}
