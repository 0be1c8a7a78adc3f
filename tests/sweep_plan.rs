//! `modelbench sweep --dry-run`: the plan (every server command), `--gpus` skipping,
//! `--serve-arg` axes, TOML grids, `--repeats`, `--resume`, and flag errors. No server starts.

mod sweep_support;

use sweep_support::{text, Sandbox, MODEL, MODEL_FOLDER};

fn dry_run(sb: &Sandbox, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["--dry-run"];
    args.extend_from_slice(extra);
    let out = sb.run(&args);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn commands(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(str::trim)
        .collect()
}

#[test]
fn flags_grid_with_gpus_limit_and_serve_arg_axes() {
    let sb = Sandbox::new();
    let (ok, out, err) = dry_run(
        &sb,
        &[
            "--tp",
            "1,2,4",
            "--dp",
            "1,2",
            "--max-num-batched-tokens",
            "4096,8192",
            "--serve-arg",
            "max-num-seqs=64,256",
            "--gpus",
            "4",
            "--serve-cmd",
            "'/opt/my venv/bin/vllm' serve",
            "--serve-extra",
            "--dtype bfloat16",
        ],
    );
    assert!(ok, "{err}");
    // (tp, dp) with tp·dp <= 4: (1,1) (1,2) (2,1) (2,2) (4,1) — 5 × 2 mnbt × 2 max-num-seqs.
    let cmds = commands(&out);
    assert_eq!(cmds.len(), 20, "{out}");
    let port = sb.port;
    assert_eq!(
        cmds[0],
        format!(
            "'/opt/my venv/bin/vllm' serve {MODEL} --tensor-parallel-size 1 --data-parallel-size 1 \
             --pipeline-parallel-size 1 --max-num-batched-tokens 4096 --host 127.0.0.1 --port {port} \
             --max-num-seqs 64 --dtype bfloat16"
        )
    );
    assert!(
        cmds[1].contains("--max-num-batched-tokens 4096") && cmds[1].contains("--max-num-seqs 256")
    );
    assert!(cmds[19].contains("--tensor-parallel-size 4 --data-parallel-size 1"));
    let skipped: Vec<&str> = out.lines().filter(|l| l.starts_with("skipped: ")).collect();
    assert_eq!(skipped.len(), 4, "{out}");
    assert!(
        skipped
            .iter()
            .all(|l| l.contains("tp=4 dp=2") && l.contains("needs 8 GPUs")),
        "{skipped:?}"
    );
    assert!(out.starts_with(&format!(
        "Sweep plan for {MODEL}: 20 run(s), 4 configuration(s) skipped"
    )));
    assert!(!sb.out().exists(), "a dry run writes nothing");
}

#[test]
fn toml_grid_documented_example_and_explicit_configs() {
    let sb = Sandbox::new();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sweep.toml");
    let (ok, out, err) = dry_run(&sb, &["--grid", example, "--gpus", "8"]);
    assert!(ok, "{err}");
    let cmds = commands(&out);
    // 4 tp × 2 dp × 2 mnbt × 2 max-num-seqs = 32, minus tp=8·dp=2 (4), plus the explicit config.
    assert_eq!(cmds.len(), 29, "{out}");
    assert!(cmds[..28]
        .iter()
        .all(|c| c.contains("--enable-prefix-caching")));
    assert!(
        !cmds[28].contains("--enable-prefix-caching"),
        "the explicit config has only its own flags"
    );
    assert!(
        cmds[0].ends_with(&format!(
            "--port {} --enable-prefix-caching --max-num-seqs 64",
            sb.port
        )),
        "{}",
        cmds[0]
    );
    assert!(
        cmds[28].contains("--pipeline-parallel-size 2 --max-num-batched-tokens 73728"),
        "{}",
        cmds[28]
    );
    assert!(
        cmds[28].contains("--gpu-memory-utilization 0.95 --max-num-seqs 512"),
        "{}",
        cmds[28]
    );

    let grid = sb.dir.path().join("g.toml");
    std::fs::write(
        &grid,
        "[[config]]\ntp = 2\n[[config]]\ndp = 2\nserve_args = { enforce-eager = true }\n",
    )
    .unwrap();
    let (ok, out, err) = dry_run(&sb, &["--grid", grid.to_str().unwrap(), "--repeats", "2"]);
    assert!(ok, "{err}");
    let labels: Vec<&str> = out.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(
        labels,
        [
            "[1/4] tp=2 dp=1 pp=1 mnbt=default (repeat 1/2)",
            "[2/4] tp=2 dp=1 pp=1 mnbt=default (repeat 2/2)",
            "[3/4] tp=1 dp=2 pp=1 mnbt=default enforce-eager=true (repeat 1/2)",
            "[4/4] tp=1 dp=2 pp=1 mnbt=default enforce-eager=true (repeat 2/2)"
        ]
    );
    assert!(commands(&out)[2].ends_with("--enforce-eager"), "{out}");
    assert!(
        !commands(&out)[0].contains("--max-num-batched-tokens"),
        "server default when not given"
    );
}

#[test]
fn resume_skips_configurations_with_a_complete_result() {
    let sb = Sandbox::new();
    // A complete result written by `modelbench run` (no sweep_status.json) for TP=1.
    let run = sb.out().join(MODEL_FOLDER).join("run_20250101_000000");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(
        run.join("benchmark_results.json"),
        r#"{"benchmark_config": {"model_name": "fake-org/fake-model", "tensor_parallel_size": 1,
            "data_parallel_size": 1, "pipeline_parallel_size": 1, "max_num_batched_tokens": 64},
            "benchmark_stats": {"summary": {"overall_throughput_tokens_per_sec": 10.0}}}"#,
    )
    .unwrap();
    let args = ["--tp", "1,2", "--max-num-batched-tokens", "64"];
    let (_, without, _) = dry_run(&sb, &args);
    assert_eq!(commands(&without).len(), 2);
    let mut with_resume = args.to_vec();
    with_resume.push("--resume");
    let (ok, out, err) = dry_run(&sb, &with_resume);
    assert!(ok, "{err}");
    assert_eq!(commands(&out).len(), 1, "{out}");
    assert!(
        out.contains("skipped: tp=1 dp=1 pp=1 mnbt=64: already has a complete result"),
        "{out}"
    );
}

#[test]
fn bad_flags_fail_with_one_clear_line() {
    let sb = Sandbox::new();
    let grid = sb.dir.path().join("bad.toml");
    std::fs::write(&grid, "tp = [1]\nbogus = 3\n").unwrap();
    let missing = sb.dir.path().join("missing.toml");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--grid", "x.toml", "--tp", "1"],
            "'--grid <GRID>' cannot be used with '--tp <TP>'",
        ),
        (
            vec!["--serve-arg", "max-num-seqs"],
            "--serve-arg: \"max-num-seqs\" is not FLAG=V1,V2",
        ),
        (vec!["--serve-arg", "port=1"], "--port is set by the sweep"),
        (
            vec!["--repeats", "0"],
            "'--repeats <REPEATS>': 0 is not in 1..=1000",
        ),
        (vec!["--tp", "0"], "--tp: values must be at least 1"),
        (
            vec!["--serve-cmd", "'unbalanced"],
            "--serve-cmd: cannot split",
        ),
        (
            vec!["--grid", grid.to_str().unwrap()],
            "unknown field `bogus`",
        ),
        (
            vec!["--grid", missing.to_str().unwrap()],
            "cannot read grid file",
        ),
        (vec!["--max-failed-fraction", "2"], "--max-failed-fraction"),
    ];
    for (args, want) in cases {
        let (ok, _, err) = dry_run(&sb, &args);
        assert!(!ok, "{args:?} should fail");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
    }
}
