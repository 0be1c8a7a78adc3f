//! `modelbench run` against the in-test mock server (a test double): the measured TTFT,
//! inter-token latency, TPOT and E2E match the mock's script.
//!
//! Tolerances: the mock's timers are never early, so TTFT and E2E are at least their scripted
//! values (−1 ms for clock jitter) and the median gap at least the scripted gap (−2 ms: a late read
//! shortens the next gap); the upper bounds are generous (+150 ms on TTFT p50, +30 ms on the
//! median gap and TPOT, +400 ms on E2E) because the machine is shared and the binaries are debug
//! builds. No wall-clock speed is asserted.

#[path = "doubles/mock_openai.rs"]
mod mock_openai;
mod run_support;

use std::time::Duration;

use mock_openai::{Flavor, MockConfig, MockServer};
use run_support::{run_prompts, within};

const TTFT_MS: f64 = 150.0;
const GAP_MS: f64 = 20.0;
const TOKENS: u64 = 12;

fn scripted(flavor: Flavor) -> MockServer {
    MockServer::start(MockConfig {
        ttft: Duration::from_millis(TTFT_MS as u64),
        chunk_delay: Duration::from_millis(GAP_MS as u64),
        tokens: TOKENS as u32,
        flavor,
        ..MockConfig::default()
    })
}

fn check_timings(endpoint: &str, flavor: Flavor) {
    let mock = scripted(flavor);
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(
        &mock.base_url(),
        dir.path(),
        6,
        &[
            "--concurrency",
            "2",
            "--max-tokens",
            "64",
            "--endpoint",
            endpoint,
        ],
    );
    assert_eq!(r.code(), Some(0), "stderr: {}", r.stderr());
    let s = r.summary();
    assert_eq!(s["total_requests"], 6);
    assert_eq!(s["failed_requests"], 0);
    assert_eq!(s["total_output_tokens"], 6 * TOKENS);
    assert_eq!(s["token_count_source"]["output"]["usage"], 6);

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
    within(
        "TPOT p50",
        r.lat("time_per_output_token", "tpot_p50"),
        GAP_MS - 2.0,
        GAP_MS + 30.0,
    );
    let e2e = TTFT_MS + (TOKENS - 1) as f64 * GAP_MS;
    within(
        "total p50",
        r.lat("total_generation_latency", "total_p50"),
        e2e - 1.0,
        e2e + 400.0,
    );
    within(
        "E2E p50",
        r.lat("e2e_latency", "e2e_p50"),
        e2e - 1.0,
        e2e + 400.0,
    );

    for req in r.requests() {
        let ttft = req["time_to_first_token"].as_f64().unwrap();
        let gaps: Vec<f64> = req["token_latencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(
            gaps.len() as u64,
            TOKENS - 1,
            "one gap between each of the {TOKENS} content chunks"
        );
        let total = req["total_latency"].as_f64().unwrap();
        // total = TTFT + the sum of the gaps (the users' definition)
        within(
            "ttft + Σgaps − total (s)",
            ttft + gaps.iter().sum::<f64>() - total,
            -1e-5,
            1e-5,
        );
        assert!(req["e2e_latency"].as_f64().unwrap() >= total);
        within(
            "per-request TTFT (ms)",
            ttft * 1000.0,
            TTFT_MS - 1.0,
            TTFT_MS + 400.0,
        );
        within(
            "schedule delay (s)",
            req["schedule_delay"].as_f64().unwrap(),
            0.0,
            0.5,
        );
        let start = req["processing_start_time"].as_f64().unwrap();
        assert!(start >= req["arrival_time"].as_f64().unwrap());
        within(
            "tokens_per_second",
            req["tokens_per_second"].as_f64().unwrap(),
            TOKENS as f64 / total - 1e-6,
            TOKENS as f64 / total + 1e-6,
        );
    }
}

#[test]
fn completions_timings_match_the_script() {
    check_timings("completions", Flavor::Vllm);
}

#[test]
fn chat_timings_ignore_the_empty_role_chunk() {
    // The mock sends chat's role chunk (content "") at once; TTFT must wait for real content.
    check_timings("chat", Flavor::Vllm);
}

#[test]
fn llama_cpp_shaped_streams_are_measured_the_same() {
    // usage inside the finish chunk, chat's first chunk with content null, timings objects
    check_timings("chat", Flavor::LlamaCpp);
    check_timings("completions", Flavor::LlamaCpp);
}

/// Read coalescing (docs/metrics.md, "Timestamp resolution"): with tokens 1 ms apart on 8
/// streams and the widest window (5 ms), events are read in batches — over a third of the gaps
/// are 0 (about 58 % measured; none without coalescing) — yet
/// nothing is lost: every token is counted, the mean gap is still the scripted one (differences
/// of timestamps are unbiased), and TTFT is late by at most the window (plus scheduling slack).
#[test]
fn coalesced_reads_batch_fast_streams_without_losing_time() {
    const GAP: f64 = 1.0;
    const N: u64 = 64;
    const FIRST: f64 = 50.0;
    let mock = MockServer::start(MockConfig {
        ttft: Duration::from_millis(FIRST as u64),
        chunk_delay: Duration::from_millis(GAP as u64),
        tokens: N as u32,
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(
        &mock.base_url(),
        dir.path(),
        16,
        &[
            "--concurrency",
            "8",
            "--max-tokens",
            "64",
            "--read-coalesce-us",
            "5000",
        ],
    );
    assert_eq!(r.code(), Some(0), "stderr: {}", r.stderr());
    assert_eq!(r.summary()["total_output_tokens"], 16 * N);
    let (mut gaps, mut zero) = (0usize, 0usize);
    for req in r.requests() {
        let g: Vec<f64> = req["token_latencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() * 1000.0)
            .collect();
        assert_eq!(g.len() as u64, N - 1);
        gaps += g.len();
        zero += g.iter().filter(|&&x| x < 0.05).count();
        // The mock's 1 ms timers run late, never early, so the true mean gap is at least GAP;
        // the measured sum of gaps (last − first content read) can fall short of the truth only
        // by the first read's lateness, at most the 5 ms window. The upper bound is generous:
        // a busy machine makes the mock's timers later.
        within(
            "mean gap (ms)",
            g.iter().sum::<f64>() / g.len() as f64,
            GAP - 5.0 / (N - 1) as f64 - 0.02,
            GAP + 20.0,
        );
        within(
            "TTFT (ms)",
            req["time_to_first_token"].as_f64().unwrap() * 1000.0,
            FIRST - 1.0,
            FIRST + 5.0 + 150.0,
        );
    }
    eprintln!("{zero} of {gaps} gaps are 0");
    assert!(
        zero * 3 > gaps,
        "coalescing should read many 1 ms-apart events together with a 5 ms window: {zero} of {gaps} gaps are 0"
    );
}

/// Linux: reads carry the kernel's receive time of their bytes, so a read taken late (here after
/// a 5 ms coalescing nap, with events arriving every ~1 ms) still timestamps each token when it
/// arrived. The mock writes a stream's tokens at least 20 ms apart, so every gap is either ≥ 20 ms
/// (minus the µs of loopback delivery) or 0 (two tokens of one stream in one read, on a very busy
/// machine). Timestamps taken when the read returns would put many gaps in between: up to 5 ms
/// short or long (measured: gaps from 15.3 ms).
#[cfg(target_os = "linux")]
#[test]
fn coalesced_reads_keep_the_kernel_arrival_time() {
    const GAP: f64 = 20.0;
    let mock = MockServer::start(MockConfig {
        ttft: Duration::from_millis(GAP as u64),
        chunk_delay: Duration::from_millis(GAP as u64),
        tokens: 24,
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(
        &mock.base_url(),
        dir.path(),
        48,
        &[
            "--concurrency",
            "24",
            "--max-tokens",
            "24",
            "--read-coalesce-us",
            "5000",
        ],
    );
    assert_eq!(r.code(), Some(0), "stderr: {}", r.stderr());
    assert_eq!(r.summary()["total_output_tokens"], 48 * 24);
    let gaps: Vec<f64> = r
        .requests()
        .iter()
        .flat_map(|req| req["token_latencies"].as_array().unwrap().clone())
        .map(|v| v.as_f64().unwrap() * 1000.0)
        .collect();
    assert_eq!(gaps.len(), 48 * 23);
    let between: Vec<f64> = gaps
        .iter()
        .copied()
        .filter(|&g| g > 0.05 && g < GAP - 0.5)
        .collect();
    assert!(
        between.is_empty(),
        "{} of {} gaps are shorter than the mock's {GAP} ms and not 0: {:?}",
        between.len(),
        gaps.len(),
        &between[..between.len().min(10)]
    );
}
