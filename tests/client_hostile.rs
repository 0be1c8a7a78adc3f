//! Hostile and broken servers (issue 9): the client times, fails or recovers each request as
//! docs/metrics.md says, never hangs on a slot, never stores a secret, keeps memory bounded.
//! Servers: the in-test mock (a test double, `mock-fault:<kind>`) and small raw-TCP doubles that
//! answer every request with scripted bytes.

#[path = "doubles/mock_openai.rs"]
mod mock_openai;
mod run_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use mock_openai::{Fault, MockConfig, MockServer};
use run_support::{prompts, run, RunOutput};

fn run_lines(base_url: &str, lines: &[&str], args: &[&str]) -> (tempfile::TempDir, RunOutput) {
    let dir = tempfile::tempdir().unwrap();
    let p = prompts(dir.path(), lines);
    let mut all = vec!["--prompts-file", p.to_str().unwrap()];
    all.extend_from_slice(args);
    let r = run(base_url, &dir.path().join("out"), &all);
    (dir, r)
}

fn failed(r: &RunOutput) -> Vec<serde_json::Value> {
    r.results["failed_requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_stream_whose_body_never_ends_after_done_is_timed_to_done_and_frees_its_slot() {
    let mock = MockServer::start(MockConfig {
        tokens: 8,
        fault: Some(Fault::DoneHang),
        ..MockConfig::default()
    });
    let t0 = Instant::now();
    let (_d, r) = run_lines(
        &mock.base_url(),
        &["one", "two", "three"],
        &["--concurrency", "1", "--timeout", "4"],
    );
    let wall = t0.elapsed();
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.summary()["total_requests"], 3, "{}", r.summary());
    assert_eq!(r.summary()["failed_requests"], 0);
    for q in r.requests() {
        let e2e = q["e2e_latency"].as_f64().unwrap();
        assert!(e2e < 0.5, "e2e ends at [DONE], not at the timeout: {q}");
    }
    // Each slot is held for the grace after [DONE] (docs/metrics.md), not for the 4 s timeout.
    assert!(
        wall < Duration::from_secs(4),
        "3 requests took {wall:?} (the slot waited for the timeout)"
    );
    // The connections whose body never ended were not reused.
    assert_eq!(
        mock.stats
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        3
    );
}

#[test]
fn stray_bytes_after_a_response_discard_the_connection_and_the_request_succeeds() {
    let mock = MockServer::start(MockConfig {
        tokens: 4,
        ..MockConfig::default()
    });
    let (_d, r) = run_lines(
        &mock.base_url(),
        &[
            "mock-fault:stray a",
            "mock-fault:stray b",
            "c",
            "mock-fault:stray d",
            "e",
        ],
        &["--concurrency", "1", "--timeout", "10"],
    );
    assert_eq!(r.summary()["failed_requests"], 0, "{:?}", failed(&r));
    assert_eq!(r.summary()["total_requests"], 5);
    // Closed loop sends the next request before the stray bytes arrive (the response head it
    // reads is garbled: sent again on a new connection). Spaced requests find the stray bytes
    // already there when they take the idle connection (it is dropped before use).
    let (_d, r) = run_lines(
        &mock.base_url(),
        &["mock-fault:stray a", "mock-fault:stray b", "c"],
        &[
            "--request-rate",
            "20",
            "--concurrency",
            "1",
            "--timeout",
            "10",
        ],
    );
    assert_eq!(r.summary()["failed_requests"], 0, "{:?}", failed(&r));
    assert_eq!(r.summary()["total_requests"], 3);
}

/// Runs a request with the mock fault `fault`, then a fine one: the first must fail as
/// `malformed_sse` with `needle` in its message, the second succeed.
fn fault_is_malformed(fault: &str, needle: &str) -> RunOutput {
    let mock = MockServer::start(MockConfig {
        tokens: 4,
        ..MockConfig::default()
    });
    let prompt = format!("mock-fault:{fault}");
    let (_d, r) = run_lines(
        &mock.base_url(),
        &[&prompt, "fine"],
        &["--concurrency", "1"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.summary()["total_requests"], 1, "{}", r.summary());
    let f = failed(&r);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["error_kind"], "malformed_sse", "{f:?}");
    assert!(f[0]["error"].as_str().unwrap().contains(needle), "{f:?}");
    r
}

#[test]
fn absurd_usage_counts_fail_the_request_as_malformed() {
    let r = fault_is_malformed("huge_usage", "usage");
    assert!(r.summary()["total_output_tokens"].as_u64().unwrap() < 100);
}

#[test]
fn an_sse_event_over_16_mib_fails_the_request_as_malformed() {
    fault_is_malformed("huge_event", "16 MiB");
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn an_api_key_echoed_in_an_error_body_is_stored_nowhere() {
    let key = "sk-test-7f3a9c2e51d04b8e";
    let mock = MockServer::start(MockConfig::default());
    let (dir, r) = run_lines(
        &mock.base_url(),
        &[
            "mock-fault:echo_auth a",
            "please mock-fault:echo_auth",
            "fine",
        ],
        &["--api-key", key, "--concurrency", "1"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let f = failed(&r);
    assert_eq!(f.len(), 2, "{}", r.summary());
    assert_eq!(f[0]["http_status"], 401);
    assert!(
        f[0]["error"].as_str().unwrap().contains("***"),
        "masked, not dropped: {f:?}"
    );
    assert!(!r.stdout().contains(key), "stdout: {}", r.stdout());
    assert!(!r.stderr().contains(key), "stderr: {}", r.stderr());
    let all = files(dir.path());
    assert!(all.len() >= 3, "{all:?}");
    for p in all {
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        assert!(!text.contains(key), "{} holds the key", p.display());
    }
}

#[test]
fn tpot_ends_at_the_last_content_chunk_not_at_a_late_usage_chunk() {
    let mock = MockServer::start(MockConfig {
        tokens: 10,
        chunk_delay: Duration::from_millis(5),
        usage_delay: Duration::from_millis(20),
        ..MockConfig::default()
    });
    let (_d, r) = run_lines(&mock.base_url(), &["a", "b", "c"], &["--concurrency", "1"]);
    assert_eq!(r.summary()["total_requests"], 3, "{}", r.stderr());
    for q in r.requests() {
        let f = |k: &str| q[k].as_f64().unwrap();
        let n = q["output_tokens"].as_u64().unwrap();
        assert_eq!(n, 10);
        // vLLM's definition: (last content chunk − first content chunk) / (output tokens − 1).
        let want = (f("total_latency") - f("time_to_first_token")) / (n - 1) as f64;
        assert!(
            (f("time_per_output_token") - want).abs() < 1e-9,
            "tpot {} vs {want}: {q}",
            f("time_per_output_token")
        );
        // and e2e still runs to the last byte, after the late usage chunk
        assert!(f("e2e_latency") >= f("total_latency") + 0.015, "{q}");
    }
}

#[test]
fn error_messages_say_each_thing_once() {
    // An unresolvable host: the run stops before any request.
    let (_d, r) = run_lines("http://no-such-host.invalid:80", &["a"], &[]);
    let err = r.stderr();
    assert_eq!(r.code(), Some(1));
    assert_eq!(err.matches("cannot resolve").count(), 1, "{err}");
    // A results folder that cannot be made.
    let dir = tempfile::tempdir().unwrap();
    let p = prompts(dir.path(), &["a"]);
    let r = run(
        "http://127.0.0.1:9",
        std::path::Path::new("/proc/no-such-dir/out"),
        &["--prompts-file", p.to_str().unwrap()],
    );
    let err = r.stderr();
    assert_eq!(err.matches("os error").count(), 1, "{err}");
    // A closed port, an HTTP 500, a cut stream.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_d, r) = run_lines(&format!("http://127.0.0.1:{port}"), &["a"], &[]);
    let mut messages: Vec<String> = failed(&r)
        .iter()
        .map(|f| f["error"].as_str().unwrap().to_owned())
        .collect();
    let mock = MockServer::start(MockConfig::default());
    let (_d2, r2) = run_lines(
        &mock.base_url(),
        &["mock-fault:http500", "mock-fault:cut", "mock-fault:nodone"],
        &[],
    );
    messages.extend(
        failed(&r2)
            .iter()
            .map(|f| f["error"].as_str().unwrap().to_owned()),
    );
    assert_eq!(messages.len(), 4, "{messages:?}");
    for m in messages {
        // No clause of the message comes twice.
        let parts: Vec<&str> = m.split(": ").filter(|p| p.len() > 3).collect();
        for (i, p) in parts.iter().enumerate() {
            assert!(!parts[i + 1..].contains(p), "{p:?} repeated in {m:?}");
        }
    }
}

/// A raw-TCP test double: answers every request on every connection with `response`, then
/// closes the connection (`close`) or keeps it open until the client closes it.
fn raw_server(response: Vec<u8>, close: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let response = response.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                loop {
                    // One request: its head and Content-Length body.
                    let body_end = loop {
                        if let Some(h) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
                            let len: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if buf.len() >= h + 4 + len {
                                break h + 4 + len;
                            }
                        }
                        match sock.read(&mut tmp) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    };
                    buf.drain(..body_end);
                    if sock.write_all(&response).is_err() {
                        return;
                    }
                    if close {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

const SSE: &str = "data: {\"choices\":[{\"text\":\" a\"}]}\n\ndata: {\"choices\":[{\"text\":\" b\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";

fn outcome(r: &RunOutput) -> String {
    match failed(r).first() {
        None => "ok".into(),
        Some(f) => format!(
            "{}: {}",
            f["error_kind"].as_str().unwrap_or("?"),
            f["error"].as_str().unwrap_or("?")
        ),
    }
}

#[test]
fn hostile_raw_servers_give_a_clear_outcome_quickly() {
    let length_body = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\n\r\n{SSE}",
        SSE.len()
    );
    let chunked = |sse: &str| format!("{:x}\r\n{sse}\r\n0\r\n\r\n", sse.len());
    let big_header = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nTransfer-Encoding: chunked\r\n\r\n{}",
        "y".repeat(1 << 20),
        chunked(SSE)
    );
    let cases: Vec<(&str, String, bool, &str)> = vec![
        ("content-length body", length_body, false, "ok"),
        (
            "100 Continue first",
            format!(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{}",
                chunked(SSE)
            ),
            false,
            "ok",
        ),
        (
            "chunk size 2^63",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\ndata: {\"choices\":[{\"text\":\" a\"}]}\n\n".into(),
            true,
            "stream_cut",
        ),
        ("1 MiB header line", big_header, true, "other"),
        (
            "closed right after the head",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
            true,
            "stream_cut",
        ),
        (
            "closed right after a head without length",
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n".into(),
            true,
            "malformed_sse",
        ),
        (
            "two different content-lengths",
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: {}\r\n\r\n{SSE}",
                SSE.len()
            ),
            true,
            "other",
        ),
        (
            "content-length 2^64-1, then close",
            format!("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n{SSE}"),
            true,
            "ok",
        ),
        (
            "HTTP 500 whose body never completes",
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1000\r\n\r\n{\"error\": \"overloaded".into(),
            false,
            "http_status: HTTP 500: {\"error\": \"overloaded",
        ),
        (
            "broken chunk framing after [DONE]",
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{SSE}\r\nnot-a-size\r\n",
                SSE.len()
            ),
            false,
            "ok",
        ),
        (
            "JSON nested 1 million deep",
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{}",
                chunked(&format!(
                    "data: {{\"choices\":[{{\"text\":\"a\",\"x\":{}{}}}]}}\n\n{SSE}",
                    "[".repeat(1 << 20),
                    "]".repeat(1 << 20)
                ))
            ),
            false,
            // Valid JSON: read without recursion (no stack overflow), the extra field skipped.
            "ok",
        ),
        (
            "not HTTP",
            "SSH-2.0-OpenSSH_9.6\r\n\r\n".into(),
            true,
            "other",
        ),
    ];
    let mut wrong = Vec::new();
    for (name, response, close, want) in cases {
        let url = raw_server(response.into_bytes(), close);
        let t0 = Instant::now();
        let (_d, r) = run_lines(&url, &["a", "b"], &["--concurrency", "1", "--timeout", "5"]);
        let got = outcome(&r);
        let took = t0.elapsed();
        eprintln!("{name}: {got} ({took:?})");
        if !got.starts_with(want) || took > Duration::from_secs(4) {
            wrong.push(format!("{name}: want {want}, got {got} in {took:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
