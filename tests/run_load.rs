//! Load shapes of `modelbench run` against the in-test mock server (a test double): closed loop
//! keeps N in flight, open loop follows its schedule, a cap holds, traces send at their
//! timestamps with their lengths, warm-up requests are sent but not counted.

#[path = "doubles/mock_openai.rs"]
mod mock_openai;
mod run_support;

use std::time::Duration;

use mock_openai::{MockConfig, MockServer};
use run_support::{run, run_prompts, within};

fn paced(ttft_ms: u64, gap_ms: u64, tokens: u32) -> MockServer {
    MockServer::start(MockConfig {
        ttft: Duration::from_millis(ttft_ms),
        chunk_delay: Duration::from_millis(gap_ms),
        tokens,
        ..MockConfig::default()
    })
}

#[test]
fn closed_loop_keeps_exactly_n_in_flight() {
    let mock = paced(40, 10, 8);
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(&mock.base_url(), dir.path(), 30, &["--concurrency", "5"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.summary()["total_requests"], 30);
    assert_eq!(mock.stats.requests(), 30);
    assert_eq!(
        mock.stats.max_in_flight(),
        5,
        "5 requests in flight at the peak, never more"
    );
    let conns = mock
        .stats
        .connections
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(conns, 5, "connections are kept alive and reused");
    // each request after the first five starts when one ends: its schedule delay is client-side only
    within(
        "schedule delay p50 (ms)",
        r.lat("schedule_delay", "schedule_delay_p50"),
        0.0,
        50.0,
    );
}

#[test]
fn open_loop_follows_its_schedule() {
    let mock = paced(5, 2, 4);
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(
        &mock.base_url(),
        dir.path(),
        40,
        &["--request-rate", "20", "--seed", "3"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.summary()["total_requests"], 40);
    // Poisson arrivals at 20/s: the mean gap of 39 exponential gaps is 50 ms ± 8 ms (1σ).
    let mut arrivals: Vec<f64> = r
        .requests()
        .iter()
        .map(|q| q["arrival_time"].as_f64().unwrap())
        .collect();
    arrivals.sort_by(f64::total_cmp);
    let mean_gap = (arrivals[39] - arrivals[0]) / 39.0;
    within("mean scheduled gap (s)", mean_gap, 0.02, 0.1);
    // the client keeps up: actual send times follow the scheduled ones closely
    within(
        "schedule delay p50 (ms)",
        r.lat("schedule_delay", "schedule_delay_p50"),
        0.0,
        50.0,
    );
    within(
        "schedule delay max (ms)",
        r.lat("schedule_delay", "schedule_delay_max"),
        0.0,
        1000.0,
    );
    // the mock saw them spread out the same way
    let seen = mock.stats.received();
    let span = seen
        .last()
        .unwrap()
        .at
        .duration_since(seen[0].at)
        .as_secs_f64();
    within(
        "span at the server (s)",
        span,
        (arrivals[39] - arrivals[0]) - 0.3,
        (arrivals[39] - arrivals[0]) + 0.5,
    );
}

#[test]
fn infinite_rate_with_a_cap_never_exceeds_it() {
    let mock = paced(30, 5, 4);
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(
        &mock.base_url(),
        dir.path(),
        12,
        &["--request-rate", "inf", "--concurrency", "3"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.summary()["total_requests"], 12);
    assert_eq!(mock.stats.max_in_flight(), 3);
    // all were due at once, so the later ones waited for a slot: queueing shows in schedule delay
    assert!(r.lat("schedule_delay", "schedule_delay_max") > 30.0);
}

#[test]
fn trace_requests_are_sent_at_their_times_with_their_lengths() {
    let mock = paced(0, 0, 1);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.csv");
    std::fs::write(
        &trace,
        "request_arrived_at,request_num_prefill_tokens,request_num_decode_tokens\n0.0,5,3\n0.3,9,5\n0.6,2,7\n",
    )
    .unwrap();
    let r = run(
        &mock.base_url(),
        &dir.path().join("out"),
        &["--trace", trace.to_str().unwrap()],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let reqs = r.requests();
    assert_eq!(reqs.len(), 3);
    let t0 = reqs[0]["arrival_time"].as_f64().unwrap();
    for (req, (at, prefill, decode)) in reqs.iter().zip([(0.0, 5, 3), (0.3, 9, 5), (0.6, 2, 7)]) {
        within(
            "arrival offset (s)",
            req["arrival_time"].as_f64().unwrap() - t0,
            at - 0.002,
            at + 0.002,
        );
        within(
            "send offset (s)",
            req["processing_start_time"].as_f64().unwrap() - t0,
            at,
            at + 0.5,
        );
        assert_eq!(
            req["output_tokens"], decode,
            "exactly the trace's decode tokens"
        );
        // the mock counts one prompt token per word; without --tokenizer a prompt of N tokens is N words
        assert_eq!(req["input_tokens"], prefill);
    }
    for rec in mock.stats.received() {
        assert_eq!(
            rec.body["ignore_eos"], true,
            "traces ask for exact output lengths"
        );
    }
    assert!(r.summary()["lengths_approximate"]
        .as_str()
        .unwrap()
        .contains("approximate"));
    assert!(
        r.stderr().contains("approximate"),
        "the run says so: {}",
        r.stderr()
    );
}

#[test]
fn warmup_requests_are_sent_but_not_counted() {
    let mock = paced(0, 0, 4);
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &mock.base_url(),
        &dir.path().join("out"),
        &[
            "--dataset",
            "random",
            "--input-len",
            "16",
            "--output-len",
            "4",
            "--num-prompts",
            "10",
            "--warmup",
            "3",
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(mock.stats.requests(), 13);
    assert_eq!(r.summary()["total_requests"], 10);
    assert_eq!(r.summary()["total_output_tokens"], 40);
    assert_eq!(r.results["run_info"]["warmup_requests_sent"], 3);
    assert!(r
        .requests()
        .iter()
        .all(|q| !q["request_id"].as_str().unwrap().starts_with("warmup")));
}
