//! `modelbench sweep` against the fake `vllm serve` (tests/doubles/fake_vllm.py, a TEST
//! DOUBLE): servers that crash at start or never become healthy are recorded as failed with
//! their reason and the sweep goes on; a stuck worker is killed; fatal problems (port taken,
//! server command missing) end the sweep with one clear line. No fake process survives.

mod sweep_support;

use std::net::TcpListener;

use serde_json::Value;
use sweep_support::{assert_no_survivors, text, Sandbox};

#[test]
fn startup_failures_are_recorded_and_the_sweep_goes_on() {
    let sb = Sandbox::new();
    let out = sb
        .command(&[
            "--serve-arg",
            "fake-mode=crash_at_start,never_healthy",
            "--startup-timeout",
            "5",
            "--stop-grace",
            "1",
        ])
        // The workers ignore SIGTERM: stopping needs SIGKILL after the grace period.
        .env("FAKE_VLLM_WORKER_IGNORES_SIGTERM", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "failed configurations make the exit code 1\n{stdout}\n{stderr}"
    );

    let statuses = sb.statuses();
    assert_eq!(statuses.len(), 2, "one run folder per configuration");
    for s in &statuses {
        assert_eq!(s["status"], "failed", "{s:#}");
        assert_eq!(s["phase"], "starting server");
        assert!(!s["log_tail"].as_array().unwrap().is_empty());
        assert_eq!(s["results_file"], Value::Null);
    }
    let crash = statuses[0]["reason"].as_str().unwrap();
    // The root cause in server.log first, what modelbench saw after it.
    assert!(
        crash.starts_with("torch.OutOfMemoryError: CUDA out of memory"),
        "{crash}"
    );
    assert!(
        crash.ends_with("(then server exited during startup (exit code 1))"),
        "{crash}"
    );
    assert_eq!(statuses[0]["server_exit"], "exit code 1");
    assert_eq!(
        statuses[0]["config"]["serve_args"]["fake-mode"],
        "crash_at_start"
    );
    let never = statuses[1]["reason"].as_str().unwrap();
    assert!(
        // "(/health answered 503 …)" once the fake listens; a very slow machine may not get there.
        never.starts_with("server not ready after ") && never.contains("/health"),
        "{never}"
    );
    for d in sb.run_dirs() {
        assert!(d.join("server.log").exists());
        assert!(
            !d.join("benchmark_results.json").exists(),
            "a failure must not look like a result"
        );
    }

    let summary = sb.summary();
    assert_eq!(summary["state"], "finished");
    assert_eq!(summary["planned_runs"], 2);
    let reasons: Vec<&str> = summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, [crash, never]);

    assert!(
        stdout.contains("Failed configurations:") && stdout.contains("CUDA out of memory"),
        "{stdout}"
    );
    assert!(stdout.contains("0 complete, 2 failed"), "{stdout}");
    assert!(
        stderr.contains("killed its process group"),
        "SIGKILL escalation is reported\n{stderr}"
    );
    assert!(
        stderr.contains("[2/2]") && stderr.contains("starting server"),
        "{stderr}"
    );
    // Two servers and their two workers, all gone (the workers needed SIGKILL).
    assert_no_survivors(&sb, 4);
}

#[test]
fn a_worker_that_died_is_the_reason_not_only_the_http_500_it_caused() {
    let sb = Sandbox::new();
    let out = sb.run(&["--serve-arg", "fake-mode=worker_dies"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let statuses = sb.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0]["status"], "failed");
    assert_eq!(statuses[0]["phase"], "warming up");
    let reason = statuses[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "Worker proc VllmWorker-0 died unexpectedly (exit code: -4 = SIGILL), shutting down executor."
        ),
        "{reason}"
    );
    assert!(
        reason.contains("(then warm-up request to /v1/completions answered HTTP 500: ")
            && reason.contains("EngineCore encountered an issue"),
        "{reason}"
    );
    assert_no_survivors(&sb, 2);
}

#[test]
fn a_taken_port_ends_the_sweep_with_one_clear_line() {
    // Hold a port bound by the kernel (port 0), so no parallel test can take it between a
    // "free port" probe and this bind.
    let holder = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let mut sb = Sandbox::new();
    sb.port = holder.local_addr().unwrap().port();
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let last = stderr.trim().lines().last().unwrap();
    assert!(
        last.starts_with("error: port") && last.contains("--port"),
        "{stderr}"
    );
    assert!(sb.fake_pids().is_empty(), "no server was started");
    assert_eq!(sb.summary()["state"], "aborted");
}

#[test]
fn a_missing_server_command_ends_the_sweep_with_one_clear_line() {
    let sb = Sandbox::new();
    let out = sb.run(&["--serve-cmd", "/nonexistent/bin/vllm serve"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: cannot start server command `/nonexistent/bin/vllm`"),
        "{stderr}"
    );
}
