//! Full sweeps against the fake `vllm serve` (tests/doubles/fake_vllm.py, a TEST DOUBLE),
//! with real benchmarks: results that `compare` reads, a server crashing mid-run, and
//! `--resume` skipping complete configurations and re-running failed ones.

mod sweep_support;

use std::path::Path;

use modelbench::results::discover::load_model;
use modelbench::results::Parallelism;
use sweep_support::{assert_no_survivors, read_json, text, Sandbox, MODEL};

fn par(tp: u32) -> Parallelism {
    Parallelism { tp, dp: 1, pp: 1 }
}

#[test]
fn a_sweep_writes_results_that_compare_reads() {
    let sb = Sandbox::new();
    let out = sb.run(&[
        "--tp",
        "1,2",
        "--max-num-batched-tokens",
        "256",
        "--serve-arg",
        "max-num-seqs=4",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");

    let statuses = sb.statuses();
    assert_eq!(statuses.len(), 2);
    for (s, dir) in statuses.iter().zip(sb.run_dirs()) {
        assert_eq!(s["status"], "complete", "{s:#}");
        assert_eq!(s["results_file"], "benchmark_results.json");
        assert_eq!(s["successful_requests"], 4);
        for f in [
            "benchmark_results.json",
            "config.json",
            "benchmark.log",
            "server.log",
        ] {
            assert!(dir.join(f).exists(), "{} lacks {f}", dir.display());
        }
        let bc = &read_json(&dir.join("benchmark_results.json"))["benchmark_config"];
        assert_eq!(
            bc["max_num_seqs"], 4,
            "the configuration's other flags are recorded: {bc:#}"
        );
        assert_eq!(bc["max_num_batched_tokens"], 256);
    }
    let log = std::fs::read_to_string(sb.run_dirs()[1].join("server.log")).unwrap();
    assert!(
        log.contains("\"--tensor-parallel-size\", \"2\"")
            && log.contains("\"--max-num-seqs\", \"4\""),
        "{log}"
    );

    let model = load_model(&sb.out(), MODEL).unwrap();
    assert!(model.skipped.is_empty(), "{:?}", model.skipped);
    let mut configs: Vec<_> = model
        .runs
        .iter()
        .map(|r| (r.config.par, r.config.max_num_batched_tokens))
        .collect();
    configs.sort();
    assert_eq!(configs, [(par(1), Some(256)), (par(2), Some(256))]);
    assert!(
        model
            .runs
            .iter()
            .all(|r| r.values.0[0].is_some_and(|t| t > 0.0)),
        "throughput recorded"
    );

    // One warm-up request plus 4 measured requests per configuration.
    assert!(sb.requests_seen() >= 10, "{}", sb.requests_seen());
    assert!(
        stdout.contains("tok/s") && stdout.contains("2 complete, 0 failed"),
        "{stdout}"
    );
    assert!(
        stderr.contains("[2/2]") && stderr.contains("benchmarking"),
        "{stderr}"
    );
    // The self-check of each configuration, against the fake server's vLLM-named counters.
    assert_eq!(
        stderr
            .matches("self-check: Generation tokens: client 16 = server 16 (exact)")
            .count(),
        2,
        "{stderr}"
    );
    assert!(!stderr.contains("warning: server metrics"), "{stderr}");
    // The environment: the fake's version and the command the sweep started it with.
    let run = read_json(&sb.run_dirs()[0].join("benchmark_results.json"));
    assert_eq!(run["run_info"]["server_version"], "0.0.0+fake");
    assert_eq!(
        run["run_info"]["steady_warmup"], true,
        "on by default in a sweep"
    );
    let cmd = run["run_info"]["server_command"].as_str().unwrap();
    assert!(cmd.contains("serve") && cmd.contains("--port"), "{cmd}");
    assert_eq!(sb.summary()["state"], "finished");
    assert_no_survivors(&sb, 4);
}

#[test]
fn a_server_crashing_mid_run_fails_its_configuration_and_the_sweep_goes_on() {
    let sb = Sandbox::new();
    // The first server serves the warm-up and two requests, then dies with a worker left behind.
    let out = sb
        .command(&[
            "--serve-arg",
            "fake-mode=crash_after:3,ok",
            "--num-prompts",
            "20",
            "--output-len",
            "8",
            "--max-tokens",
            "8",
        ])
        .env("FAKE_VLLM_TOKEN_DELAY", "0.01")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let statuses = sb.statuses();
    assert_eq!(statuses.len(), 2);
    let crashed = &statuses[0];
    assert_eq!(crashed["status"], "failed");
    assert_eq!(crashed["phase"], "benchmarking");
    assert_eq!(crashed["server_exit"], "exit code 1");
    let reason = crashed["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("RuntimeError: fake engine died"),
        "{reason}"
    );
    assert!(
        reason.ends_with("(then server exited during the benchmark (exit code 1))"),
        "{reason}"
    );
    let dirs = sb.run_dirs();
    assert!(
        !dirs[0].join("benchmark_results.json").exists(),
        "a failed run must not look like a result"
    );
    assert_eq!(statuses[1]["status"], "complete");

    let model = load_model(&sb.out(), MODEL).unwrap();
    assert_eq!(
        model.runs.len(),
        1,
        "only the complete configuration is a result"
    );
    assert_eq!(model.skipped.len(), 1);
    assert!(
        stdout.contains("Failed configurations:") && stdout.contains("fake engine died"),
        "{stdout}"
    );
    assert_no_survivors(&sb, 4);
}

fn status_of(dir: &Path) -> String {
    read_json(&dir.join("sweep_status.json"))["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn resume_skips_complete_configurations_and_reruns_failed_ones() {
    let sb = Sandbox::new();
    // TP=2 "does not fit" the first time.
    let first = sb
        .command(&["--tp", "1,2"])
        .env("FAKE_VLLM_OOM_ABOVE_TP", "1")
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", text(&first.stderr));
    let dirs = sb.run_dirs();
    assert_eq!(
        dirs.iter().map(|d| status_of(d)).collect::<Vec<_>>(),
        ["complete", "failed"]
    );
    let pids_before = sb.fake_pids().len();

    let second = sb.run(&["--tp", "1,2", "--resume"]);
    let stdout = text(&second.stdout);
    assert!(
        second.status.success(),
        "{stdout}\n{}",
        text(&second.stderr)
    );
    assert!(
        stdout.contains("tp=1 dp=1 pp=1 mnbt=default: already has a complete result"),
        "{stdout}"
    );
    let dirs = sb.run_dirs();
    assert_eq!(dirs.len(), 3, "only TP=2 ran again");
    assert_eq!(status_of(&dirs[2]), "complete");
    assert_eq!(
        sb.fake_pids().len(),
        pids_before + 2,
        "one more server and worker"
    );

    let third = sb.run(&["--tp", "1,2", "--resume"]);
    assert!(third.status.success());
    assert!(
        text(&third.stdout).contains("Nothing to run."),
        "{}",
        text(&third.stdout)
    );
    assert_eq!(sb.run_dirs().len(), 3);
    assert_no_survivors(&sb, 6);
}
