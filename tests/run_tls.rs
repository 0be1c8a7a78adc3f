//! `modelbench run` against `https://`: the in-test mock server (a test double) serving TLS
//! with a self-signed certificate made at test time (`mock_openai::self_signed`).
//!
//! Trusted with `--ca-cert`, or with `--insecure`, every request succeeds with the same tokens
//! and timing as over plain HTTP, the reads keep the kernel's receive timestamps, and each
//! connection's handshake is recorded once; without either, every request fails as
//! `tls_certificate`; a plain HTTP server is `tls_handshake`, a server's fatal alert
//! `tls_alert`. No speed is asserted (docs/performance-client.md measures it).

#[path = "doubles/mock_openai.rs"]
mod mock_openai;
mod run_support;

use std::path::PathBuf;
use std::time::Duration;

use mock_openai::{MockConfig, MockServer};
use run_support::{prompts, run, run_prompts, within};

const TTFT_MS: f64 = 60.0;
const GAP_MS: f64 = 10.0;
const TOKENS: u64 = 8;

/// A TLS mock and the PEM file of its certificate (in `dir`).
fn tls_mock(dir: &std::path::Path) -> (MockServer, PathBuf) {
    let (pem, cfg) = mock_openai::self_signed();
    let path = dir.join("mock-ca.pem");
    std::fs::write(&path, pem).unwrap();
    let mock = MockServer::start(MockConfig {
        ttft: Duration::from_millis(TTFT_MS as u64),
        chunk_delay: Duration::from_millis(GAP_MS as u64),
        tokens: TOKENS as u32,
        tls: Some(cfg),
        ..MockConfig::default()
    });
    (mock, path)
}

#[test]
fn https_with_ca_cert_measures_as_plain_http_does() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, ca) = tls_mock(dir.path());
    let r = run_prompts(
        &mock.https_url(),
        dir.path(),
        6,
        &[
            "--concurrency",
            "2",
            "--max-tokens",
            "64",
            "--ca-cert",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code(), Some(0), "stderr: {}", r.stderr());
    let s = r.summary();
    assert_eq!(s["total_requests"], 6);
    assert_eq!(s["failed_requests"], 0);
    assert_eq!(s["total_output_tokens"], 6 * TOKENS);
    assert_eq!(s["token_count_source"]["output"]["usage"], 6);
    // Kept alive: two connections for two slots, one handshake each.
    assert_eq!(
        mock.stats
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    assert_eq!(s["tls_handshakes"], 2);
    let hs = &s["tls_handshake_ms"];
    assert!(hs["tls_handshake_p50"].as_f64().unwrap() > 0.0, "{hs}");
    let stamped: Vec<f64> = r
        .requests()
        .iter()
        .filter_map(|q| q["tls_handshake_time"].as_f64())
        .collect();
    assert_eq!(stamped.len(), 2, "the first request of each connection");
    let info = &r.results["run_info"];
    assert_eq!(info["timestamps"], "kernel_receive_time");
    let tls = &info["tls"];
    assert_eq!(tls["verification"], "webpki-roots + --ca-cert", "{tls}");
    assert_eq!(tls["insecure"], false);
    assert_eq!(tls["version"], "TLSv1_3");
    assert_eq!(tls["alpn"], "http/1.1");
    assert_eq!(tls["handshakes"], 2);
    assert!(tls["ca_cert"].as_str().unwrap().ends_with("mock-ca.pem"));
    // The scripted timing, as over plain HTTP (tests/run_timing.rs: same tolerances).
    within(
        "TTFT p50",
        r.lat("time_to_first_token", "first_token_p50"),
        TTFT_MS - 1.0,
        TTFT_MS + 150.0,
    );
    within(
        "ITL p50",
        r.lat("inter_token_latency", "inter_token_p50"),
        GAP_MS - 2.0,
        GAP_MS + 30.0,
    );
    assert!(!r.stderr().contains("--insecure"));
    // The side channels use the same TLS settings: /metrics was scraped over https.
    assert!(!r.stderr().contains("warning"), "{}", r.stderr());
    let sm = &r.results["server_metrics"];
    assert_eq!(sm["complete"], true, "{sm}");
    assert!(
        sm["source"].as_str().unwrap_or("").starts_with("https://"),
        "{sm}"
    );
    assert_eq!(
        sm["generation_tokens"].as_f64(),
        s["total_output_tokens"].as_f64()
    );
}

#[test]
fn https_without_the_ca_fails_every_request_as_a_certificate_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _) = tls_mock(dir.path());
    let r = run_prompts(&mock.https_url(), dir.path(), 3, &["--concurrency", "1"]);
    assert_eq!(r.code(), Some(1), "stderr: {}", r.stderr());
    let s = r.summary();
    assert_eq!(s["total_requests"], 0);
    assert_eq!(s["failed_requests"], 3);
    assert_eq!(
        s["errors_by_kind"],
        serde_json::json!({"tls_certificate": 3})
    );
    let failed = r.results["failed_requests"].as_array().unwrap();
    let e = failed[0]["error"].as_str().unwrap();
    assert!(
        e.contains("certificate") && e.contains("--ca-cert") && e.contains("--insecure"),
        "{e}"
    );
    assert_eq!(mock.stats.requests(), 0, "nothing was sent");
}

#[test]
fn insecure_skips_verification_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _) = tls_mock(dir.path());
    let r = run_prompts(
        &mock.https_url(),
        dir.path(),
        3,
        &["--concurrency", "1", "--insecure", "--max-tokens", "64"],
    );
    assert_eq!(r.code(), Some(0), "stderr: {}", r.stderr());
    assert_eq!(r.summary()["total_requests"], 3);
    assert_eq!(r.summary()["total_output_tokens"], 3 * TOKENS);
    let stderr = r.stderr();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("--insecure"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("not verified"), "{}", warnings[0]);
    let tls = &r.results["run_info"]["tls"];
    assert_eq!(tls["insecure"], true);
    assert_eq!(tls["verification"], "none (--insecure)");
    assert_eq!(r.results["run_info"]["timestamps"], "kernel_receive_time");
}

#[test]
fn faults_over_tls_keep_their_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, ca) = tls_mock(dir.path());
    let p = prompts(
        dir.path(),
        &["fine", "mock-fault:cut", "mock-fault:http500"],
    );
    let r = run(
        &mock.https_url(),
        &dir.path().join("out"),
        &[
            "--prompts-file",
            p.to_str().unwrap(),
            "--concurrency",
            "1",
            "--ca-cert",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code(), Some(0), "stderr: {}", r.stderr());
    let s = r.summary();
    assert_eq!(s["total_requests"], 1);
    assert_eq!(
        s["errors_by_kind"],
        serde_json::json!({"http_status": 1, "stream_cut": 1})
    );
}

/// A plain HTTP server answering the client hello as uvicorn (vLLM's server) answers bytes that
/// are not HTTP: `400 Bad Request`, then the close.
#[test]
fn a_plain_http_server_behind_an_https_url_is_a_handshake_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Answers every connection (the run's requests, and its side channels: /version, /metrics)
    // until the test ends.
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        while let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 11\r\nconnection: close\r\n\r\nInvalid HTTP request received.",
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(
        &format!("https://{addr}"),
        dir.path(),
        2,
        &["--concurrency", "1"],
    );
    assert_eq!(r.code(), Some(1), "stderr: {}", r.stderr());
    assert_eq!(
        r.summary()["errors_by_kind"],
        serde_json::json!({"tls_handshake": 2})
    );
    let e = r.results["failed_requests"][0]["error"].as_str().unwrap();
    assert!(e.contains("TLS handshake") && e.contains("http://"), "{e}");
}

#[test]
fn tls_flags_and_proxy_variables_are_checked_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let p = prompts(dir.path(), &["x"]);
    let out = dir.path().join("out");
    let base = ["--prompts-file", p.to_str().unwrap()];
    // --insecure / --ca-cert on a plain http URL.
    let mut a = base.to_vec();
    a.push("--insecure");
    let r = run("http://127.0.0.1:9", &out, &a);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr().contains("--insecure: only for https://"),
        "{}",
        r.stderr()
    );
    // A --ca-cert that is not a certificate file.
    let mut a = base.to_vec();
    a.extend(["--ca-cert", p.to_str().unwrap()]);
    let r = run("https://127.0.0.1:9", &out, &a);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr().contains("--ca-cert") && r.stderr().contains("no certificate"),
        "{}",
        r.stderr()
    );
    // A proxy variable that applies: refused, naming it (the proxy's password masked).
    let r = {
        let mut cmd = run_support::modelbench();
        cmd.env("HTTPS_PROXY", "http://user:hunter22@proxy.invalid:3128")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env_remove("https_proxy")
            .args([
                "run",
                "--base-url",
                "https://api.example.invalid",
                "--model",
                "m",
            ])
            .arg("--output-dir")
            .arg(&out)
            .args(base);
        cmd.output().unwrap()
    };
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("HTTPS_PROXY") && err.contains("NO_PROXY") && !err.contains("hunter22"),
        "{err}"
    );
    assert!(!out.exists(), "no run folder");
}

/// A server that demands a client certificate (which modelbench never sends) answers the
/// client's handshake with a fatal alert: TLS 1.3 lets the client finish its side first, so the
/// alert arrives where the response is read, and still fails the request as `tls_alert`.
#[test]
fn a_fatal_alert_from_the_server_is_a_tls_alert() {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let client_auth = rustls::server::WebPkiClientVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(client_auth)
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    let mock = MockServer::start(MockConfig {
        tls: Some(std::sync::Arc::new(cfg)),
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(
        &mock.https_url(),
        dir.path(),
        2,
        &["--concurrency", "1", "--insecure"],
    );
    assert_eq!(r.code(), Some(1), "stderr: {}", r.stderr());
    assert_eq!(
        r.summary()["errors_by_kind"],
        serde_json::json!({"tls_alert": 2})
    );
    let e = r.results["failed_requests"][0]["error"].as_str().unwrap();
    assert!(
        e.contains("TLS alert") && e.contains("CertificateRequired"),
        "{e}"
    );
}
