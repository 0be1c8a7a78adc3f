//! Load levels and capacity searches in a sweep, against the fake `vllm serve`
//! (tests/doubles/fake_vllm.py, a TEST DOUBLE): every level runs against the same server, so
//! the server starts once per configuration.

mod sweep_support;

use serde_json::Value;
use sweep_support::{assert_no_survivors, read_json, text, Sandbox};

/// Server starts recorded by the fake server.
fn server_starts(sb: &Sandbox) -> usize {
    sb.fake_pids()
        .iter()
        .filter(|(role, _)| role == "server")
        .count()
}

#[test]
fn two_levels_per_configuration_start_each_server_once() {
    let sb = Sandbox::new();
    // Without the steady warm-up: the request counts below are the levels'.
    let out = sb.run(&[
        "--tp",
        "1,2",
        "--concurrency",
        "2,1",
        "--steady-warmup",
        "off",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        server_starts(&sb),
        2,
        "one server per configuration\n{stderr}"
    );

    let dirs = sb.run_dirs();
    assert_eq!(dirs.len(), 4, "two run folders per configuration: {dirs:?}");
    let seen: Vec<(Value, Value)> = dirs
        .iter()
        .map(|d| {
            let bc = &read_json(&d.join("benchmark_results.json"))["benchmark_config"];
            (
                bc["tensor_parallel_size"].clone(),
                bc["max_concurrency"].clone(),
            )
        })
        .collect();
    let want: Vec<(Value, Value)> = [(1, 1), (1, 2), (2, 1), (2, 2)]
        .iter()
        .map(|&(tp, c)| (Value::from(tp), Value::from(c)))
        .collect();
    assert_eq!(seen, want, "levels ascending within each configuration");
    for s in sb.statuses() {
        assert_eq!(s["status"], "complete", "{s:#}");
    }
    assert_eq!(
        sb.requests_seen(),
        4 * 4 + 2,
        "4 requests per level + 1 warm-up per server"
    );
    let runs = sb.summary()["runs"].as_array().unwrap().clone();
    let loads: Vec<&str> = runs.iter().map(|r| r["load"].as_str().unwrap()).collect();
    assert_eq!(
        loads,
        [
            "concurrency 1",
            "concurrency 2",
            "concurrency 1",
            "concurrency 2"
        ]
    );
    assert!(stdout.contains("[concurrency 2]"), "{stdout}");
    assert_no_survivors(&sb, 2);
}

#[test]
fn one_capacity_search_per_configuration_ranked_per_gpu() {
    let sb = Sandbox::new();
    let out = sb.run(&[
        "--tp",
        "1,2",
        "--slo",
        "e2e_ms=60000",
        "--find-max",
        "concurrency",
        "--search-max",
        "4",
        "--concurrency",
        "1",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        server_starts(&sb),
        2,
        "one server per configuration\n{stderr}"
    );
    let files = sb.model_files("capacity_");
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let c = read_json(f);
        assert_eq!(c["max_meeting_slo"], 4, "{c:#}");
        let probes: Vec<u64> = c["probes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["level"].as_u64().unwrap())
            .collect();
        assert_eq!(probes, [1, 2, 4]);
    }
    assert_eq!(sb.run_dirs().len(), 6, "three probes per configuration");
    let tp2_per_gpu = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Capacity per GPU"))
        .find(|l| l.contains("tp=2"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        tp2_per_gpu.contains("2.00") && tp2_per_gpu.contains("0.50×"),
        "{stdout}"
    );
    assert_no_survivors(&sb, 2);
}

#[test]
fn a_server_dying_at_a_higher_level_fails_that_level_and_ends_the_ascent() {
    let sb = Sandbox::new();
    // The warm-up and the 4 requests of concurrency 1 are served; the server dies on the
    // second request of concurrency 2.
    let out = sb.run(&[
        "--concurrency",
        "1,2,4",
        "--serve-arg",
        "fake-mode=crash_after:6",
        "--steady-warmup",
        "off",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(server_starts(&sb), 1);
    let statuses = sb.statuses();
    assert_eq!(statuses.len(), 2, "concurrency 4 never ran: {statuses:#?}");
    assert_eq!(statuses[0]["status"], "complete");
    assert_eq!(statuses[1]["status"], "failed");
    assert_eq!(statuses[1]["load"], "concurrency 2");
    assert_eq!(statuses[1]["server_exit"], "exit code 1");
    assert!(
        stderr.contains("stopped at concurrency 2: server exited during the benchmark"),
        "{stderr}"
    );
    assert!(
        sb.run_dirs()[1]
            .join("benchmark_results.failed.json")
            .exists(),
        "a failed level's results are set aside"
    );
    assert_no_survivors(&sb, 1);
}
