//! The run folder: the users' layout and keys, readable by the compare reader, and an interrupted
//! run (SIGINT) still writes its results, marked interrupted. Against the in-test mock server
//! (a test double).

#[path = "doubles/mock_openai.rs"]
mod mock_openai;
mod run_support;

use std::time::Duration;

use mock_openai::{MockConfig, MockServer};
use modelbench::metrics::Metric;
use modelbench::results::read::read_run;
use run_support::{
    find_run_dir, load_results, modelbench, plain_prompts, run, spawn_run, wait_until,
};

#[test]
fn results_have_the_users_layout_and_load_with_the_compare_reader() {
    let mock = MockServer::start(MockConfig {
        tokens: 5,
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let p = plain_prompts(dir.path(), 8);
    let out = dir.path().join("out");
    let r = run(
        &mock.base_url(),
        &out,
        &[
            "--prompts-file",
            p.to_str().unwrap(),
            "--model",
            "Org/Some-Model",
            "--tp",
            "2",
            "--dp",
            "4",
            "--pp",
            "1",
            "--max-num-batched-tokens",
            "8192",
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let run_dir = r.run_dir.clone().unwrap();
    assert_eq!(
        run_dir.parent().unwrap().file_name().unwrap(),
        "Org_Some-Model"
    );
    let name = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("run_") && name.len() == "run_20250714_090728".len(),
        "{name}"
    );
    for f in ["config.json", "benchmark.log", "benchmark_results.json"] {
        assert!(run_dir.join(f).is_file(), "{f}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&run_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files left: {leftovers:?}"
    );

    let res = &r.results;
    let cfg = &res["benchmark_config"];
    assert_eq!(cfg["model_name"], "Org/Some-Model");
    assert_eq!(
        (
            cfg["tensor_parallel_size"].as_u64(),
            cfg["data_parallel_size"].as_u64(),
            cfg["pipeline_parallel_size"].as_u64()
        ),
        (Some(2), Some(4), Some(1))
    );
    let lat = &res["benchmark_stats"]["latency_percentiles_ms"];
    for (group, prefix) in [
        ("total_generation_latency", "total"),
        ("time_to_first_token", "first_token"),
        ("inter_token_latency", "inter_token"),
        ("schedule_delay", "schedule_delay"),
        ("time_per_output_token", "tpot"),
        ("e2e_latency", "e2e"),
    ] {
        for stat in ["p50", "p90", "p95", "p99", "max", "avg"] {
            assert!(
                lat[group][format!("{prefix}_{stat}")].is_f64(),
                "{group}.{prefix}_{stat}"
            );
        }
    }
    let s = r.summary();
    for k in [
        "total_requests",
        "total_input_tokens",
        "total_output_tokens",
        "overall_throughput_tokens_per_sec",
        "failed_requests",
        "errors_by_kind",
        "request_throughput_per_sec",
        "token_count_source",
        "interrupted",
    ] {
        assert!(!s[k].is_null(), "summary.{k}");
    }
    let info = &res["run_info"];
    for k in ["tool_version", "start_time", "command_line"] {
        assert!(info[k].is_string(), "run_info.{k}");
    }
    let q = &r.requests()[0];
    for k in [
        "request_id",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "arrival_time",
        "processing_start_time",
        "schedule_delay",
        "total_latency",
        "time_to_first_token",
        "avg_inter_token_latency",
        "tokens_per_second",
        "token_latencies",
    ] {
        assert!(!q[k].is_null(), "individual_requests[0].{k}");
    }
    assert!(q.get("prompt").is_none(), "text only with --save-text");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - q["arrival_time"].as_f64().unwrap()).abs() < 600.0,
        "epoch seconds"
    );

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["model"], "Org/Some-Model");
    assert_eq!(config["concurrency"], 8);
    assert_eq!(config["tensor_parallel_size"], 2);
    let log = std::fs::read_to_string(run_dir.join("benchmark.log")).unwrap();
    assert!(
        log.contains("[modelbench:INFO] Benchmark run started. Results will be saved in:"),
        "{log}"
    );

    let summary = read_run(&run_dir).expect("the compare reader loads the run");
    assert_eq!(summary.model_name.as_deref(), Some("Org/Some-Model"));
    assert_eq!(
        (
            summary.config.par.tp,
            summary.config.par.dp,
            summary.config.max_num_batched_tokens
        ),
        (2, 4, Some(8192))
    );
    let ttft = summary.values.get(Metric::TtftP50).unwrap();
    assert_eq!(ttft, r.lat("time_to_first_token", "first_token_p50"));
    assert_eq!(
        summary.values.get(Metric::Throughput),
        s["overall_throughput_tokens_per_sec"].as_f64()
    );
    assert!(summary.values.get(Metric::InterTokenP99).is_some());
}

/// Runs `n` prompts at concurrency `conc` (output under `dir`) against a mock streaming `tokens`
/// chunks 100 ms apart, sends `signal` once `conc` requests are in flight (and `after` more), checks
/// the exit status 130 and returns the mock, the stderr, the run folder and its results.
#[cfg(unix)]
fn interrupted_run(
    dir: &std::path::Path,
    (tokens, n, conc): (u32, usize, u64),
    signal: i32,
    after: Duration,
) -> (MockServer, String, std::path::PathBuf, serde_json::Value) {
    let mock = MockServer::start(MockConfig {
        tokens,
        chunk_delay: Duration::from_millis(100),
        ..MockConfig::default()
    });
    let p = plain_prompts(dir, n);
    let out = dir.join("out");
    let conc_arg = conc.to_string();
    let child = spawn_run(
        &mock.base_url(),
        &out,
        &[
            "--concurrency",
            &conc_arg,
            "--prompts-file",
            p.to_str().unwrap(),
        ],
    );
    wait_until(|| mock.stats.requests() >= conc);
    std::thread::sleep(after);
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, signal) };
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(130), "stderr: {stderr}");
    let run_dir = find_run_dir(&out).unwrap();
    let res = load_results(&run_dir);
    (mock, stderr, run_dir, res)
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_sending_and_writes_interrupted_results() {
    // Streams of 30 chunks 100 ms apart (≈ 3 s): those in flight finish within the 5 s grace period.
    let dir = tempfile::tempdir().unwrap();
    let (mock, stderr, run_dir, res) = interrupted_run(
        dir.path(),
        (30, 20, 2),
        libc::SIGINT,
        Duration::from_millis(500),
    );
    assert!(stderr.contains("interrupted"));
    assert_eq!(
        mock.stats.requests(),
        2,
        "nothing new is sent after the interrupt"
    );
    let s = &res["benchmark_stats"]["summary"];
    assert_eq!(s["interrupted"], true);
    assert_eq!(res["run_info"]["interrupted"], true);
    assert_eq!(
        s["total_requests"], 2,
        "the two in flight finished within the grace period: {s}"
    );
    assert_eq!(s["not_sent_requests"], 18);
    assert!(read_run(&run_dir).is_ok());
}

#[cfg(unix)]
#[test]
fn requests_still_running_after_the_grace_period_are_cancelled() {
    // Streams of ≈ 30 s: still running when the 5 s grace period ends.
    let dir = tempfile::tempdir().unwrap();
    let (_mock, _stderr, _run_dir, res) =
        interrupted_run(dir.path(), (300, 5, 3), libc::SIGTERM, Duration::ZERO);
    let s = &res["benchmark_stats"]["summary"];
    let counts = (
        s["cancelled_requests"].as_u64(),
        s["total_requests"].as_u64(),
        s["not_sent_requests"].as_u64(),
    );
    assert_eq!(counts, (Some(3), Some(0), Some(2)), "{s}");
    assert_eq!(
        s["failed_requests"], 0,
        "cancelled requests are not failures"
    );
    let cancelled = res["failed_requests"].as_array().unwrap();
    assert!(cancelled.iter().all(|f| f["error_kind"] == "cancelled"));
}

/// SIGHUP (a closed terminal or SSH session) stops a run like SIGTERM; a second signal cancels
/// the requests in flight at once and the results are still written (nothing measured is lost).
#[cfg(unix)]
#[test]
fn sighup_then_a_second_signal_writes_the_results_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start(MockConfig {
        tokens: 300, // ≈ 30 s streams: still running when the signals come
        chunk_delay: Duration::from_millis(100),
        ..MockConfig::default()
    });
    let p = plain_prompts(dir.path(), 5);
    let out = dir.path().join("out");
    let child = spawn_run(
        &mock.base_url(),
        &out,
        &["--concurrency", "3", "--prompts-file", p.to_str().unwrap()],
    );
    wait_until(|| mock.stats.requests() >= 3);
    let start = std::time::Instant::now();
    // SAFETY: sending signals to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(130), "stderr: {stderr}");
    assert!(stderr.contains("received SIGHUP"), "{stderr}");
    // Without the second signal the in-flight requests would get the 5 s grace period.
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    let res = load_results(&find_run_dir(&out).unwrap());
    let s = &res["benchmark_stats"]["summary"];
    assert_eq!(s["interrupted"], true);
    assert_eq!(s["cancelled_requests"], 3, "{s}");
    assert_eq!(s["not_sent_requests"], 2, "{s}");
}

/// When the run folder cannot take the results at the end (disk full, folder made read-only or,
/// here, a directory standing where the file must go: a failure even root cannot bypass), the
/// summary is still printed, the results are written to a fallback file whose path is printed,
/// and the run exits non-zero.
#[test]
fn results_that_cannot_be_written_go_to_a_printed_fallback_file() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start(MockConfig {
        tokens: 10,
        chunk_delay: Duration::from_millis(100), // ≈ 1 s per request
        ..MockConfig::default()
    });
    let p = plain_prompts(dir.path(), 4);
    let out = dir.path().join("out");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let child = modelbench()
        .args(["run", "--base-url", &mock.base_url(), "--model", "m"])
        .arg("--output-dir")
        .arg(&out)
        .args(["--prompts-file", p.to_str().unwrap(), "--concurrency", "2"])
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(|| find_run_dir(&out).is_some());
    let run_dir = find_run_dir(&out).unwrap();
    std::fs::create_dir_all(run_dir.join("benchmark_results.json").join("blocker")).unwrap();
    let o = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Successful requests"),
        "summary first: {stdout}"
    );
    let saved: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}\n{stderr}");
    assert!(
        stderr.contains(&saved[0].display().to_string()),
        "the fallback path is printed: {stderr}"
    );
    assert_eq!(
        stderr
            .trim()
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1,
        "{stderr}"
    );
    let res: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved[0]).unwrap()).unwrap();
    assert_eq!(res["benchmark_stats"]["summary"]["total_requests"], 4);
}
