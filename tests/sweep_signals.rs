//! Ctrl-C (SIGINT) and SIGTERM during a sweep against the fake `vllm serve`
//! (tests/doubles/fake_vllm.py, a TEST DOUBLE): the current run is recorded as interrupted,
//! the server's whole process group is stopped, modelbench exits with 128 + the signal, and
//! no process of the fake server survives.

mod sweep_support;

use std::time::Duration;

use sweep_support::{assert_no_survivors, finish, send_signal, text, wait_until, Sandbox};

const WAIT: Duration = Duration::from_secs(60);

fn interrupt_while_starting(sig: i32, worker_ignores_sigterm: bool) {
    let sb = Sandbox::new();
    let mut cmd = sb.command(&[
        "--serve-arg",
        "fake-mode=never_healthy,ok",
        "--stop-grace",
        "1",
    ]);
    if worker_ignores_sigterm {
        cmd.env("FAKE_VLLM_WORKER_IGNORES_SIGTERM", "1");
    }
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The server and its worker are up (the server never becomes healthy).
    let started = wait_until(WAIT, || sb.fake_pids().len() >= 2);
    send_signal(&child, sig);
    let out = finish(child, WAIT);
    assert!(
        started,
        "the fake server did not start\n{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(128 + sig), "{}", text(&out.stderr));

    let statuses = sb.statuses();
    assert_eq!(statuses.len(), 1, "the second configuration never starts");
    assert_eq!(statuses[0]["status"], "interrupted");
    assert_eq!(statuses[0]["phase"], "starting server");
    let summary = sb.summary();
    assert_eq!(summary["state"], "interrupted");
    assert_eq!(summary["planned_runs"], 2);
    assert!(
        text(&out.stdout).contains("1 not started"),
        "{}",
        text(&out.stdout)
    );
    assert_no_survivors(&sb, 2);
}

#[test]
fn sigint_while_the_server_starts_stops_its_group_and_exits_130() {
    interrupt_while_starting(libc::SIGINT, false);
}

#[test]
fn sigterm_while_the_server_starts_kills_a_stuck_worker_and_exits_143() {
    interrupt_while_starting(libc::SIGTERM, true);
}

#[test]
fn sigint_during_the_benchmark_saves_interrupted_results_and_stops_the_server() {
    let sb = Sandbox::new();
    // 40 requests of 20 tokens at 50 ms per token, 2 at a time: about 20 s if not interrupted.
    let child = sb
        .command(&[
            "--tp",
            "1,2",
            "--num-prompts",
            "40",
            "--output-len",
            "20",
            "--max-tokens",
            "20",
        ])
        .env("FAKE_VLLM_TOKEN_DELAY", "0.05")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The warm-up request and two measured requests have been sent.
    let benchmarking = wait_until(WAIT, || sb.requests_seen() >= 3);
    send_signal(&child, libc::SIGINT);
    let out = finish(child, WAIT);
    assert!(
        benchmarking,
        "the benchmark did not start\n{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));

    let statuses = sb.statuses();
    assert_eq!(statuses.len(), 1, "the second configuration never starts");
    assert_eq!(statuses[0]["status"], "interrupted", "{:#}", statuses[0]);
    assert_eq!(statuses[0]["phase"], "benchmarking");
    let dir = &sb.run_dirs()[0];
    assert!(
        dir.join("benchmark_results.json").exists(),
        "the measured requests are saved"
    );
    assert!(
        sb.requests_seen() < 40,
        "sending stopped: {}",
        sb.requests_seen()
    );
    assert_eq!(sb.summary()["state"], "interrupted");
    assert_no_survivors(&sb, 2);
}
