//! The server's own view in every run, against the in-test mock server (a TEST DOUBLE with
//! vLLM-named /metrics and a capacity limit): the scraped series and the `server_metrics`
//! block, the self-check in the summary, and a /metrics that is missing, HTML or stalls
//! (one warning, the run's numbers unchanged).

#[path = "doubles/mock_openai.rs"]
mod mock_openai;
mod run_support;

use std::time::{Duration, Instant};

use mock_openai::{MetricsMode, MockConfig, MockServer};
use run_support::run_prompts;

const SLOTS: usize = 3;

fn capacity_mock(metrics: MetricsMode) -> MockServer {
    MockServer::start(MockConfig {
        ttft: Duration::from_millis(20),
        chunk_delay: Duration::from_millis(10),
        tokens: 12,
        slots: Some(SLOTS),
        metrics,
        ..MockConfig::default()
    })
}

#[test]
fn at_twice_the_capacity_the_server_view_shows_the_queue_and_agrees_on_tokens() {
    let mock = capacity_mock(MetricsMode::Vllm);
    let dir = tempfile::tempdir().unwrap();
    let conc = (2 * SLOTS).to_string();
    let r = run_prompts(
        &mock.base_url(),
        dir.path(),
        60,
        &["--concurrency", &conc, "--metrics-interval", "0.05"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(!r.stderr().contains("warning"), "{}", r.stderr());
    let sm = &r.results["server_metrics"];
    assert_eq!(sm["complete"], true, "{sm}");
    assert!(sm["scrapes"].as_u64().unwrap() >= 5, "{sm}");
    let waiting = sm["num_requests_waiting"]["max"].as_f64().unwrap();
    assert!(waiting >= (SLOTS - 1) as f64, "waiting max {waiting}");
    assert_eq!(
        sm["num_requests_running"]["max"].as_f64(),
        Some(SLOTS as f64)
    );
    assert_eq!(sm["kv_cache_usage_perc"]["max"].as_f64(), Some(1.0));
    let s = r.summary();
    assert_eq!(
        sm["prompt_tokens"].as_f64(),
        s["total_input_tokens"].as_f64()
    );
    assert_eq!(
        sm["generation_tokens"].as_f64(),
        s["total_output_tokens"].as_f64()
    );
    assert_eq!(sm["request_success"].as_f64(), Some(60.0));
    assert_eq!(sm["time_to_first_token_ms"]["count"].as_f64(), Some(60.0));
    // The mock's TTFT includes the queue: 20 ms alone, ~120 ms behind a full batch.
    let p50 = sm["time_to_first_token_ms"]["p50"].as_f64().unwrap();
    assert!(p50 > 20.0 && p50 < 400.0, "{p50}");
    assert!(
        sm["request_queue_time_ms"]["mean"].as_f64().unwrap() > 10.0,
        "{sm}"
    );
    // The self-check, in the summary and in the block.
    let out = r.stdout();
    for needle in [
        "Self-check",
        "Prompt tokens: client",
        "(exact)",
        "TTFT median: client",
        "TTFT mean: client",
        "E2E latency (to last token) median",
        "Client: ",
    ] {
        assert!(out.contains(needle), "{needle} in\n{out}");
    }
    assert!(!out.contains("MISMATCH"), "{out}");
    assert!(sm["self_check"].as_array().unwrap().len() >= 6, "{sm}");
    let info = &r.results["run_info"];
    assert!(info["client_cpu_seconds"].as_f64().unwrap() > 0.0);
    // The environment, appended to run_info.
    assert_eq!(info["server_version"], "0.0.0+mock");
    assert_eq!(info["served_model"]["id"], "mock-model");
    assert!(info["served_model"]["max_model_len"].is_null());
    assert!(
        info["server_command"].is_null(),
        "run did not start the server"
    );
    assert!(info["host_cpu_cores"].as_u64().unwrap() >= 1);
    assert!(info.as_object().unwrap().contains_key("gpus"));
    let text = std::fs::read_to_string(r.run_dir.as_ref().unwrap().join("benchmark_results.json"))
        .unwrap();
    let (ri, sm_at) = (
        text.find("\n    \"run_info\"").unwrap(),
        text.find("\n    \"server_metrics\"").unwrap(),
    );
    assert!(sm_at > ri, "server_metrics is appended after run_info");
    // The timeline chart (PNG by default).
    let dir = r.run_dir.clone().unwrap();
    let png = std::fs::read(dir.join("timeline.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    assert!(!dir.join("timeline.svg").exists());
    // The time series: one row per scrape, the gauges' columns labelled.
    let csv = std::fs::read_to_string(r.run_dir.unwrap().join("server_metrics.csv")).unwrap();
    let head = csv.lines().next().unwrap();
    assert!(head.starts_with("t_s,"), "{head}");
    assert!(
        head.contains("vllm:num_requests_waiting{engine=\"\"0\"\",model_name=\"\"mock-model\"\"}"),
        "{head}"
    );
    assert!(!head.contains("_bucket"), "{head}");
    assert_eq!(
        csv.lines().count() as u64,
        sm["scrapes"].as_u64().unwrap() + 1
    );
}

/// The same run against a server whose /metrics is broken: the numbers are those of a run
/// without scraping, and exactly one warning says why.
#[test]
fn a_missing_html_or_stalling_metrics_endpoint_gives_one_warning_and_changes_nothing() {
    for (mode, reason) in [
        (MetricsMode::Missing, "answered HTTP 404"),
        (MetricsMode::Html, "did not answer Prometheus text"),
        (MetricsMode::Stall, "gave no answer within 3 s"),
    ] {
        let mock = capacity_mock(mode);
        let dir = tempfile::tempdir().unwrap();
        let t0 = Instant::now();
        let r = run_prompts(&mock.base_url(), dir.path(), 12, &["--concurrency", "3"]);
        let took = t0.elapsed();
        assert_eq!(r.code(), Some(0), "{mode:?}: {}", r.stderr());
        let err = r.stderr();
        let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(warnings.len(), 1, "{mode:?}: {}", r.stderr());
        assert!(
            warnings[0].contains("server metrics:") && warnings[0].contains(reason),
            "{mode:?}: {}",
            warnings[0]
        );
        let s = r.summary();
        assert_eq!(s["total_requests"], 12);
        assert_eq!(s["failed_requests"], 0);
        assert_eq!(r.requests().len(), 12);
        let sm = &r.results["server_metrics"];
        assert_eq!(sm["complete"], false, "{mode:?}");
        assert!(sm["warning"].as_str().unwrap().contains(reason));
        assert!(
            r.stdout().contains("Server metrics: not available"),
            "{}",
            r.stdout()
        );
        // The stall delays the start by at most the scrape timeout, and never the end further.
        assert!(took < Duration::from_secs(15), "{mode:?}: {took:?}");
        // Latencies as without scraping: 20 ms TTFT plus the queue of 3 slots at concurrency 3.
        let ttft = r.lat("time_to_first_token", "first_token_p50");
        assert!((20.0..80.0).contains(&ttft), "{mode:?}: ttft p50 {ttft}");
    }
}

#[test]
fn no_server_metrics_turns_scraping_off() {
    let mock = capacity_mock(MetricsMode::Stall);
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(
        &mock.base_url(),
        dir.path(),
        4,
        &["--no-server-metrics", "--format", "both"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(!r.stderr().contains("warning"), "{}", r.stderr());
    assert!(r.results.get("server_metrics").is_none());
    assert!(!r
        .run_dir
        .as_ref()
        .unwrap()
        .join("server_metrics.csv")
        .exists());
    assert!(r.stdout().contains("not scraped (--no-server-metrics)"));
    // The timeline still shows the client's side; both formats were asked for.
    let svg = std::fs::read_to_string(r.run_dir.as_ref().unwrap().join("timeline.svg")).unwrap();
    assert!(
        svg.contains("in flight (client)") && svg.contains("no data"),
        "{svg}"
    );
    assert!(r.run_dir.as_ref().unwrap().join("timeline.png").exists());
}

#[test]
fn the_steady_warm_up_sends_windows_until_the_ttft_stops_falling() {
    let mock = capacity_mock(MetricsMode::Vllm);
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(
        &mock.base_url(),
        dir.path(),
        30,
        &[
            "--concurrency",
            "3",
            "--steady-warmup",
            "on",
            "--warmup",
            "2",
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let info = &r.results["run_info"];
    assert_eq!(info["steady_warmup"], true);
    assert_eq!(info["steady_warmup_reached"], true, "{info}");
    // A constant TTFT: steady after the minimum of two windows of max(2 × 3, 8) = 8 requests,
    // then the 2 --warmup requests; none of them measured.
    assert_eq!(
        info["steady_warmup_ttft_p50_ms"].as_array().unwrap().len(),
        2
    );
    assert_eq!(info["warmup_requests_sent"], 18);
    assert_eq!(mock.stats.requests(), 48);
    assert_eq!(r.summary()["total_requests"], 30);
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(r.run_dir.clone().unwrap().join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["warmup"], 2, "the --warmup count as given");
    assert_eq!(cfg["steady_warmup"], true);
    assert!(r.stdout().contains("Steadiness: "), "{}", r.stdout());
}
