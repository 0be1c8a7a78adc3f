//! Failures: every fault kind of the in-test mock server (a test double) is counted under its
//! kind, the run goes on, and the results are still written and readable.

#[path = "doubles/mock_openai.rs"]
mod mock_openai;
mod run_support;

use std::time::Duration;

use mock_openai::{MockConfig, MockServer};
use run_support::{prompts, run};

#[test]
fn each_fault_kind_is_counted_and_the_run_goes_on() {
    let mock = MockServer::start(MockConfig {
        tokens: 6,
        chunk_delay: Duration::from_millis(2),
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let p = prompts(
        dir.path(),
        &[
            "fine one",
            "please mock-fault:http500 now",
            "mock-fault:cut",
            "mock-fault:nodone",
            "fine two",
            "mock-fault:malformed",
            "mock-fault:stall",
            "mock-fault:error_event",
            "fine three",
        ],
    );
    let r = run(
        &mock.base_url(),
        &dir.path().join("out"),
        &[
            "--prompts-file",
            p.to_str().unwrap(),
            "--concurrency",
            "3",
            "--timeout",
            "2",
        ],
    );
    assert_eq!(r.code(), Some(0), "some requests succeeded: {}", r.stderr());
    let s = r.summary();
    assert_eq!(s["total_requests"], 3, "{s}");
    assert_eq!(s["failed_requests"], 6);
    let kinds = &s["errors_by_kind"];
    for kind in [
        "http_status",
        "stream_cut",
        "malformed_sse",
        "read_timeout",
        "server_error_event",
    ] {
        assert!(
            kinds[kind].as_u64().unwrap_or(0) >= 1,
            "{kind} missing in {kinds}"
        );
    }
    assert_eq!(
        kinds["stream_cut"], 2,
        "a broken connection and a stream without [DONE]: {kinds}"
    );
    let failed = r.results["failed_requests"].as_array().unwrap();
    assert_eq!(failed.len(), 6);
    let http = failed
        .iter()
        .find(|f| f["error_kind"] == "http_status")
        .unwrap();
    assert_eq!(http["http_status"], 500);
    assert!(
        http["error"]
            .as_str()
            .unwrap()
            .contains("internal server error"),
        "body excerpt: {http}"
    );
    assert!(r.stdout().contains("Failed requests:"));
    assert!(r.stdout().contains("http_status: 1"));
    // only successful requests are in individual_requests
    assert_eq!(r.requests().len(), 3);
    let dir_run = r.run_dir.as_ref().unwrap();
    modelbench::results::read::read_run(dir_run).expect("results readable by the compare reader");
}

#[test]
fn an_unreachable_server_fails_every_request_but_still_writes_results() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let p = prompts(dir.path(), &["a", "b", "c"]);
    let r = run(
        &format!("http://127.0.0.1:{port}"),
        &dir.path().join("out"),
        &["--prompts-file", p.to_str().unwrap()],
    );
    assert_eq!(r.code(), Some(1), "exit 1 when no request succeeded");
    assert!(
        r.stderr().contains("no request succeeded"),
        "{}",
        r.stderr()
    );
    assert_eq!(r.summary()["failed_requests"], 3);
    assert_eq!(r.summary()["errors_by_kind"]["connect_error"], 3);
    assert_eq!(r.summary()["total_requests"], 0);
    assert!(
        r.results["benchmark_stats"]["latency_percentiles_ms"]["time_to_first_token"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn bad_flags_fail_with_one_line_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let p = prompts(dir.path(), &["a"]);
    let out = dir.path().join("out");
    for (args, needle) in [
        (
            vec!["--prompts-file", p.to_str().unwrap(), "--concurrency", "0"],
            "--concurrency",
        ),
        (
            vec![
                "--prompts-file",
                p.to_str().unwrap(),
                "--extra-body",
                "{\"stream\": false}",
            ],
            "--extra-body",
        ),
        (vec!["--dataset", "random"], "--input-len"),
        (
            vec!["--prompts-file", "/nonexistent/prompts.txt"],
            "/nonexistent/prompts.txt",
        ),
        (
            vec![
                "--dataset",
                "random",
                "--input-len",
                "4",
                "--tokenizer",
                "/nonexistent/tok",
            ],
            "--tokenizer",
        ),
    ] {
        let r = run("http://127.0.0.1:9", &out, &args);
        // 2: refused by the flag parser; 1: refused by the checks after it.
        assert!(matches!(r.code(), Some(1 | 2)), "{args:?}");
        let err = r.stderr();
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    // A scheme other than http/https (https itself: tests/run_tls.rs).
    let r = run(
        "ftp://127.0.0.1:9",
        &out,
        &["--prompts-file", p.to_str().unwrap()],
    );
    assert!(r.stderr().contains("--base-url"), "{}", r.stderr());
}
