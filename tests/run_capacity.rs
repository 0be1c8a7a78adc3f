//! Load levels, SLO goodput and the capacity search of `modelbench run`, against the in-test
//! mock server (a TEST DOUBLE) — with `slots`, a server with a real capacity limit: at most N
//! requests generate at once, the rest queue and the wait counts in their TTFT.

#[path = "doubles/mock_openai.rs"]
mod mock_openai;
mod run_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mock_openai::{MockConfig, MockServer};
use run_support::{load_results, modelbench, plain_prompts, prompts, within};
use serde_json::Value;

/// Every `run_*` folder under `out/mock-model/`, in the order they started.
fn run_dirs(out: &Path) -> Vec<PathBuf> {
    let model = out.join("mock-model");
    let mut dirs: Vec<(String, PathBuf)> = std::fs::read_dir(&model)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("benchmark_results.json").exists())
                .map(|p| {
                    let start = load_results(&p)["run_info"]["start_time"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    (start, p)
                })
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter().map(|(_, p)| p).collect()
}

/// `modelbench run --base-url URL --model mock-model --output-dir OUT ARGS…`.
fn run(url: &str, out: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = modelbench()
        .args([
            "run",
            "--base-url",
            url,
            "--model",
            "mock-model",
            "--output-dir",
        ])
        .arg(out)
        .args(args)
        .output()
        .expect("run modelbench");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Writes `n` plain prompts and runs them with `args`; output in `dir/out`.
fn run_prompts(
    mock: &MockServer,
    dir: &Path,
    n: usize,
    args: &[&str],
) -> (Option<i32>, String, String, PathBuf) {
    let p = plain_prompts(dir, n);
    let out = dir.join("out");
    let mut all = vec!["--prompts-file", p.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = run(&mock.base_url(), &out, &all);
    (code, stdout, stderr, out)
}

/// A server with `slots` batch slots and a service time of 200 ms per request (TTFT 50 ms,
/// then one more token 150 ms later): it serves 4 / 0.2 s = 20 requests/s with 4 slots. A
/// request that waits for a slot has a TTFT of 250 ms or more, one that does not about 50 ms:
/// an SLO of 150 ms leaves 100 ms for the machine's own delays either way.
fn limited(slots: usize) -> MockServer {
    MockServer::start(MockConfig {
        ttft: Duration::from_millis(50),
        chunk_delay: Duration::from_millis(150),
        tokens: 2,
        slots: Some(slots),
        record_requests: false,
        ..MockConfig::default()
    })
}

fn config(dir: &Path) -> Value {
    load_results(dir)["benchmark_config"].clone()
}

#[test]
fn concurrency_levels_run_ascending_one_folder_each() {
    let mock = MockServer::start(MockConfig {
        ttft: Duration::from_millis(5),
        chunk_delay: Duration::from_millis(2),
        tokens: 4,
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr, out) =
        run_prompts(&mock, dir.path(), 8, &["--concurrency", "4,1,2"]);
    assert_eq!(code, Some(0), "{stderr}");
    let dirs = run_dirs(&out);
    let levels: Vec<Value> = dirs
        .iter()
        .map(|d| config(d)["max_concurrency"].clone())
        .collect();
    assert_eq!(levels, [1, 2, 4], "ascending, one folder per level");
    for d in &dirs {
        let c = config(d);
        assert_eq!(c["request_rate"], Value::Null);
        assert_eq!(c["tensor_parallel_size"], 1, "the users' keys stay");
        let r = load_results(d);
        assert_eq!(r["benchmark_stats"]["summary"]["total_requests"], 8);
        assert_eq!(r["run_info"]["capacity_probe"], false);
    }
    assert_eq!(stdout.matches("Benchmark summary").count(), 3);
    let table = stdout.split("Load levels:").nth(1).unwrap_or_default();
    assert_eq!(table.matches("8 ok, 0 failed").count(), 3, "{stdout}");
    assert_eq!(mock.stats.requests(), 24);
}

#[test]
fn rate_levels_record_the_rate_and_inf_as_a_string() {
    let mock = MockServer::start(MockConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr, out) = run_prompts(
        &mock,
        dir.path(),
        6,
        &["--request-rate", "inf,50", "--concurrency", "3"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let configs: Vec<Value> = run_dirs(&out).iter().map(|d| config(d)).collect();
    assert_eq!(configs.len(), 2);
    assert_eq!(configs[0]["request_rate"], 50.0);
    assert_eq!(configs[1]["request_rate"], "inf");
    for c in &configs {
        assert_eq!(c["max_concurrency"], 3, "the cap of every level");
        assert_eq!(c["burstiness"], 1.0);
    }
}

#[test]
fn a_level_that_fails_badly_stops_the_ascent() {
    // One slot, 200 ms per request, 0.5 s timeout: one at a time is fine; 8 at once queue
    // for up to 1.6 s and most time out.
    let mock = limited(1);
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr, out) = run_prompts(
        &mock,
        dir.path(),
        8,
        &["--concurrency", "1,8,16", "--timeout", "0.5"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("stopped the ascent at concurrency 8: ")
            && stderr.contains(
                "requests failed (more than --max-failed-fraction 0.5); 1 higher level(s) not run"
            ),
        "{stderr}"
    );
    let levels: Vec<Value> = run_dirs(&out)
        .iter()
        .map(|d| config(d)["max_concurrency"].clone())
        .collect();
    assert_eq!(levels, [1, 8], "the level after the bad one is not run");
}

#[test]
fn goodput_counts_the_requests_within_the_slo() {
    // Half of the prompts ask the mock for a 300 ms TTFT, the others get 10 ms.
    let mock = MockServer::start(MockConfig {
        ttft: Duration::from_millis(10),
        tokens: 3,
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                format!("slow prompt {i} mock-ttft-ms:300")
            } else {
                format!("fast prompt {i}")
            }
        })
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let p = prompts(dir.path(), &refs);
    let out = dir.path().join("out");
    let (code, stdout, stderr) = run(
        &mock.base_url(),
        &out,
        &[
            "--prompts-file",
            p.to_str().unwrap(),
            "--concurrency",
            "4",
            "--slo",
            "ttft_ms=150",
            "--slo-attainment",
            "50",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let dirs = run_dirs(&out);
    let r = load_results(&dirs[0]);
    let s = &r["benchmark_stats"]["summary"];
    assert_eq!(s["slo_attainment_pct"], 50.0);
    assert_eq!(s["good_requests"], 4);
    let duration = s["duration_s"].as_f64().unwrap();
    within(
        "goodput req/s",
        s["goodput_requests_per_sec"].as_f64().unwrap(),
        4.0 / duration - 1e-9,
        4.0 / duration + 1e-9,
    );
    within(
        "goodput tok/s",
        s["goodput_tokens_per_sec"].as_f64().unwrap(),
        12.0 / duration - 1e-9,
        12.0 / duration + 1e-9,
    );
    assert_eq!(r["run_info"]["slo"]["ttft_ms"], 150.0);
    assert_eq!(r["run_info"]["slo_attainment_target_pct"], 50.0);
    assert!(stdout.contains("SLO attainment (%):"), "{stdout}");
    assert!(
        stdout.contains("50.00 (4 of 8 requests good; meets the SLO when ≥ 50%)"),
        "{stdout}"
    );
}

#[test]
fn bad_slo_and_search_flags_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let p = plain_prompts(dir.path(), 1);
    let p = p.to_str().unwrap();
    let url = "http://127.0.0.1:9";
    let cases: &[(&[&str], &str)] = &[
        (&["--slo", "ttft=500"], "--slo"),
        (&["--slo", "ttft_ms=-1"], "--slo"),
        (&["--slo", "ttft_ms=5,ttft_ms=6"], "--slo"),
        (&["--find-max", "concurrency"], "--slo"),
        (
            &["--slo", "ttft_ms=5", "--slo-attainment", "120"],
            "--slo-attainment",
        ),
        (
            &[
                "--slo",
                "ttft_ms=5",
                "--find-max",
                "request-rate",
                "--request-rate",
                "inf",
            ],
            "--request-rate",
        ),
        (
            &[
                "--slo",
                "ttft_ms=5",
                "--find-max",
                "concurrency",
                "--request-rate",
                "2",
            ],
            "--request-rate",
        ),
        (
            &["--request-rate", "1,2", "--concurrency", "1,2"],
            "--concurrency",
        ),
    ];
    for (args, flag) in cases {
        let mut all = vec!["--prompts-file", p];
        all.extend_from_slice(args);
        let (code, _, stderr) = run(url, &dir.path().join("out"), &all);
        // clap's own checks exit 2, the cross-flag checks of the settings 1.
        assert!(matches!(code, Some(1 | 2)), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert_eq!(
            stderr
                .trim()
                .lines()
                .filter(|l| l.starts_with("error"))
                .count(),
            1,
            "{stderr}"
        );
    }
}

/// The capacity file of a search in `out/mock-model/`.
fn capacity_file(out: &Path) -> Value {
    let files: Vec<PathBuf> = std::fs::read_dir(out.join("mock-model"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("capacity_"))
        })
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap()
}

#[test]
fn find_max_concurrency_finds_the_slot_count() {
    // 4 slots; TTFT 50 ms alone, 250 ms or more after a wait for a slot: an SLO of 150 ms is
    // met by every request up to 4 in flight and missed by some from 5 on.
    let mock = limited(4);
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr, out) = run_prompts(
        &mock,
        dir.path(),
        20,
        &["--slo", "ttft_ms=150", "--find-max", "concurrency"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("Highest concurrency meeting the SLO: 4 in flight"),
        "{stdout}"
    );
    let c = capacity_file(&out);
    assert_eq!(c["max_meeting_slo"], 4);
    assert_eq!(c["axis"], "concurrency");
    assert_eq!(c["slo"]["ttft_ms"], 150.0);
    let levels: Vec<u64> = c["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["level"].as_u64().unwrap())
        .collect();
    assert_eq!(levels, [1, 2, 4, 8, 6, 5]);
    let id = c["search_id"].as_str().unwrap();
    for probe in c["probes"].as_array().unwrap() {
        let folder = out
            .join("mock-model")
            .join(probe["folder"].as_str().unwrap());
        let r = load_results(&folder);
        assert_eq!(r["run_info"]["capacity_probe"], true);
        assert_eq!(r["run_info"]["capacity_search"], id);
        assert_eq!(r["benchmark_config"]["max_concurrency"], probe["level"]);
        assert_eq!(
            r["benchmark_stats"]["summary"]["slo_attainment_pct"],
            probe["slo_attainment_pct"]
        );
    }
    eprintln!("{stdout}");
}

#[test]
fn find_max_request_rate_lands_near_the_service_rate() {
    // 4 slots × 5 requests/s each = 20 requests/s: regular arrivals (burstiness 100) below it
    // never wait; above it the queue grows and the TTFT SLO is missed.
    let mock = limited(4);
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr, out) = run_prompts(
        &mock,
        dir.path(),
        80,
        &[
            "--slo",
            "ttft_ms=150",
            "--find-max",
            "request-rate",
            "--request-rate",
            "5",
            "--burstiness",
            "100",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let c = capacity_file(&out);
    let found = c["max_meeting_slo"].as_f64().unwrap();
    let failing = c["lowest_failing"].as_f64().unwrap();
    eprintln!("{stdout}\nfound {found} req/s (lowest failing {failing}); known 20 req/s");
    assert!(failing <= found * 1.05 + 1e-9, "bisected to 5 %");
    // The mock's timers are late, never early: its real service rate is at most 20/s.
    within("found rate (req/s)", found, 20.0 * 0.9, 20.0 * 1.05);
}

#[test]
fn an_interrupted_search_still_writes_its_capacity_file() {
    let mock = limited(4);
    let dir = tempfile::tempdir().unwrap();
    let p = plain_prompts(dir.path(), 40);
    let out = dir.path().join("out");
    let child = modelbench()
        .args([
            "run",
            "--base-url",
            &mock.base_url(),
            "--model",
            "mock-model",
            "--output-dir",
        ])
        .arg(&out)
        .args(["--prompts-file", p.to_str().unwrap()])
        .args(["--slo", "ttft_ms=150", "--find-max", "concurrency"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first probe (one at a time, 40 × 200 ms) is under way once the mock saw a request.
    run_support::wait_until(|| mock.stats.requests() >= 2);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(130), "{stdout}");
    let c = capacity_file(&out);
    assert_eq!(c["stopped"], "interrupted at concurrency 1", "{c:#}");
    assert_eq!(c["max_meeting_slo"], Value::Null);
    assert_eq!(c["probes"][0]["verdict"], "interrupted (not counted)");
    assert!(
        stdout.contains("none found before the search stopped")
            && stdout.contains("Search incomplete: interrupted at concurrency 1"),
        "{stdout}"
    );
}
