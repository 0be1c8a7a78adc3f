//! Sharded sweeps (`--shard K/N`) against the fake `vllm serve` (tests/doubles/fake_vllm.py, a
//! TEST DOUBLE): shards run as separate processes at the same time, into one output folder,
//! and together leave exactly the run folders of the unsharded sweep; a shard killed outright
//! and resumed completes the grid.

mod sweep_support;

use std::collections::BTreeMap;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use sweep_support::{assert_no_survivors, finish, free_port, read_json, text, wait_until, Sandbox};

const GRID: [&str; 8] = [
    "--tp",
    "1,2",
    "--dp",
    "1,2",
    "--max-num-batched-tokens",
    "64",
    "--concurrency",
    "1,2",
];

/// (configuration label, load level, status) → number of run folders.
fn folders(sb: &Sandbox) -> BTreeMap<(String, String, String), usize> {
    let mut m = BTreeMap::new();
    for d in sb.run_dirs() {
        // A folder whose sweep was killed before it wrote a status has none.
        let s = std::fs::read_to_string(d.join("sweep_status.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .unwrap_or_else(|| status_from_results(&d));
        let key = (
            s["label"].as_str().unwrap_or("?").to_owned(),
            s["load"].as_str().unwrap_or("?").to_owned(),
            s["status"].as_str().unwrap_or("?").to_owned(),
        );
        *m.entry(key).or_insert(0) += 1;
    }
    m
}

/// A level folder whose sweep was killed after its benchmark wrote the results but before the
/// sweep wrote its status: a complete result, as `--resume` and `summarize` read it.
fn status_from_results(dir: &std::path::Path) -> Value {
    let Ok(text) = std::fs::read_to_string(dir.join("benchmark_results.json")) else {
        return Value::Null;
    };
    let v: Value = serde_json::from_str(&text).unwrap();
    let c = &v["benchmark_config"];
    assert!(c.get("interrupted").is_none(), "{}", dir.display());
    serde_json::json!({
        "label": format!(
            "tp={} dp={} pp=1 mnbt=64",
            c["tensor_parallel_size"], c["data_parallel_size"]
        ),
        "load": format!("concurrency {}", c["max_concurrency"]),
        "status": "complete",
    })
}

fn spawn_shard(sb: &Sandbox, shard: &str, extra: &[&str]) -> Child {
    let mut args: Vec<&str> = GRID.to_vec();
    args.extend(["--shard", shard]);
    args.extend(extra);
    sb.command_on(free_port(), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn no_temp_files(sb: &Sandbox) {
    let mut dirs = sb.run_dirs();
    dirs.push(sb.model_dir());
    for d in dirs {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(!name.contains(".tmp"), "left over: {}", e.path().display());
        }
    }
}

/// `summarize` over `base` finds all 8 run folders and nothing missing from the grid.
fn assert_summarize_sees_the_grid(base: &std::path::Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_modelbench"))
        .args(["summarize", "--model", sweep_support::MODEL, "--base-dir"])
        .arg(base)
        .args(["--expected-grid", "tp=1,2;dp=1,2;pp=1;mnbt=64"])
        .output()
        .unwrap();
    assert_ok(&out);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("8 run(s)"), "{stdout}");
    assert!(
        stdout.contains("every configuration of the expected grid has a result"),
        "{stdout}"
    );
}

#[test]
fn concurrent_shards_leave_the_unsharded_sweeps_folders() {
    let whole = Sandbox::new();
    let out = whole.run(&GRID);
    assert_ok(&out);
    let want = folders(&whole);
    assert_eq!(want.values().sum::<usize>(), 8, "{want:?}");

    let sb = Sandbox::new();
    let shards: Vec<Child> = (0..3)
        .map(|k| spawn_shard(&sb, &format!("{k}/3"), &[]))
        .collect();
    for child in shards {
        assert_ok(&finish(child, Duration::from_secs(120)));
    }
    assert_eq!(folders(&sb), want);
    for s in sb.statuses() {
        assert_eq!(s["status"], "complete", "{s:#}");
    }
    // One record per shard, each naming its shard and its configurations.
    let records = sb.model_files("sweep_summary_");
    assert_eq!(records.len(), 3, "{records:?}");
    let mut shards: Vec<(u64, u64, usize)> = records
        .iter()
        .map(|p| {
            let v = read_json(p);
            assert_eq!(v["state"], "finished", "{v:#}");
            (
                v["shard"]["index"].as_u64().unwrap(),
                v["shard"]["configurations"].as_u64().unwrap(),
                v["runs"].as_array().unwrap().len(),
            )
        })
        .collect();
    shards.sort();
    assert_eq!(shards, [(0, 2, 4), (1, 1, 2), (2, 1, 2)]);
    no_temp_files(&sb);
    assert_no_survivors(&sb, 8);

    // `summarize` reads the union without a merge step.
    assert_summarize_sees_the_grid(&sb.out());
}

#[test]
fn a_killed_shard_resumes_and_completes_the_grid() {
    let sb = Sandbox::new();
    // Shard 1 is slow enough to be killed (SIGKILL: a node dying) between its folders.
    let mut slow = sb.command_on(free_port(), &{
        let mut a = GRID.to_vec();
        a.extend(["--shard", "1/2"]);
        a
    });
    slow.env("FAKE_VLLM_TOKEN_DELAY", "0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut victim = slow.spawn().unwrap();
    let one_done = wait_until(Duration::from_secs(60), || {
        sb.run_dirs().iter().any(|d| {
            std::fs::read_to_string(d.join("sweep_status.json"))
                .is_ok_and(|t| t.contains("\"complete\""))
        })
    });
    victim.kill().unwrap();
    let killed = victim.wait_with_output().unwrap();
    assert!(one_done, "{}", text(&killed.stderr));
    // The server it left is stopped by the parent-death signal.
    assert!(wait_until(Duration::from_secs(10), || sb
        .fake_pids()
        .iter()
        .all(|(_, p)| !sweep_support::alive(*p))));

    // Shard 0 and the resumed shard 1 at the same time.
    let a = spawn_shard(&sb, "0/2", &[]);
    let b = spawn_shard(&sb, "1/2", &["--resume"]);
    assert_ok(&finish(a, Duration::from_secs(120)));
    let resumed = finish(b, Duration::from_secs(120));
    assert_ok(&resumed);
    // The folder the killed shard left `running` (if it had one) was marked when it resumed.
    let stderr = text(&resumed.stderr);
    let marked = stderr
        .matches("found still running when shard 1/2 resumed")
        .count();
    assert!(marked <= 1, "{stderr}");

    let mut complete: BTreeMap<(String, String), usize> = BTreeMap::new();
    for ((label, load, status), n) in folders(&sb) {
        match status.as_str() {
            "complete" => *complete.entry((label, load)).or_insert(0) += n,
            // What the killed shard was doing: marked when it resumed, never counted.
            "interrupted" | "?" => assert!(n <= 1),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(complete.len(), 8, "{complete:?}");
    // A level whose results the killed shard wrote just before dying, while its configuration
    // was not finished, is measured again by the resumed shard (a repeat): at most one.
    assert!(
        complete.values().sum::<usize>() <= 9 && complete.values().all(|&n| n >= 1),
        "{complete:?}"
    );
    // The resumed shard skipped the configuration the killed one had completed (if it had).
    let summary: Vec<Value> = sb
        .model_files("sweep_summary_")
        .iter()
        .map(|p| read_json(p))
        .collect();
    assert!(summary.iter().all(|s| s["shard"]["count"] == 2));
    assert_no_survivors(&sb, 4);
}

#[test]
fn merge_gathers_shards_from_separate_folders() {
    let (a, b) = (Sandbox::new(), Sandbox::new());
    let shards = [spawn_shard(&a, "0/2", &[]), spawn_shard(&b, "1/2", &[])];
    for child in shards {
        assert_ok(&finish(child, Duration::from_secs(120)));
    }
    let merged = tempfile::tempdir().unwrap();
    let merge = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_modelbench"))
            .arg("merge")
            .arg(a.out())
            .arg(b.out())
            .arg("--output-dir")
            .arg(merged.path())
            .output()
            .unwrap()
    };
    let out = merge();
    assert_ok(&out);
    assert!(
        text(&out.stdout).starts_with("merged 10 run folder(s) and record(s)"),
        "{}",
        text(&out.stdout)
    );
    assert_summarize_sees_the_grid(merged.path());
    // Merging the same shards again copies nothing: all true duplicates.
    let again = merge();
    assert_ok(&again);
    assert!(
        text(&again.stdout).starts_with("merged 0 run folder(s) and record(s)")
            && text(&again.stdout).contains("10 duplicate(s) not copied"),
        "{}",
        text(&again.stdout)
    );
}
