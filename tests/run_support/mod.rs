//! Helpers shared by the `run_*` integration tests: run the real binary against an in-test mock
//! server and load what it wrote.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn modelbench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_modelbench"));
    c.env_remove("OPENAI_API_KEY");
    c
}

/// Writes a prompts file (one prompt per line) into `dir`.
pub fn prompts(dir: &Path, lines: &[&str]) -> PathBuf {
    let p = dir.join("prompts.txt");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

/// `n` ordinary prompts.
pub fn plain_prompts(dir: &Path, n: usize) -> PathBuf {
    let lines: Vec<String> = (0..n)
        .map(|i| format!("prompt number {i} about a topic"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    prompts(dir, &refs)
}

pub struct RunOutput {
    pub output: Output,
    pub run_dir: Option<PathBuf>,
    pub results: Value,
}

impl RunOutput {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }
    pub fn summary(&self) -> &Value {
        &self.results["benchmark_stats"]["summary"]
    }
    /// A latency group value in ms, e.g. `lat("time_to_first_token", "first_token_p50")`.
    pub fn lat(&self, group: &str, key: &str) -> f64 {
        self.results["benchmark_stats"]["latency_percentiles_ms"][group][key]
            .as_f64()
            .unwrap_or_else(|| {
                panic!(
                    "{group}.{key} missing in {}",
                    self.results["benchmark_stats"]
                )
            })
    }
    pub fn requests(&self) -> &Vec<Value> {
        self.results["individual_requests"]
            .as_array()
            .expect("individual_requests")
    }
}

/// The single `run_*` folder under `out/<model folder>/`.
pub fn find_run_dir(out: &Path) -> Option<PathBuf> {
    let mut found = Vec::new();
    for model in std::fs::read_dir(out).ok()?.flatten() {
        for run in std::fs::read_dir(model.path()).ok()?.flatten() {
            if run.file_name().to_string_lossy().starts_with("run_") {
                found.push(run.path());
            }
        }
    }
    assert!(found.len() <= 1, "several run folders: {found:?}");
    found.pop()
}

/// Runs `modelbench run --base-url URL [--model mock-model] --output-dir OUT ARGS…`.
pub fn run(base_url: &str, out: &Path, args: &[&str]) -> RunOutput {
    let mut cmd = modelbench();
    cmd.args(["run", "--base-url", base_url]);
    if !args.contains(&"--model") {
        cmd.args(["--model", "mock-model"]);
    }
    let output = cmd
        .arg("--output-dir")
        .arg(out)
        .args(args)
        .output()
        .expect("run modelbench");
    let run_dir = find_run_dir(out);
    let results = run_dir
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join("benchmark_results.json")).ok())
        .map(|t| serde_json::from_str(&t).expect("benchmark_results.json is valid JSON"))
        .unwrap_or(Value::Null);
    RunOutput {
        output,
        run_dir,
        results,
    }
}

/// Writes `n` plain prompts into `dir` and runs them with `args` (output in `dir/out`).
pub fn run_prompts(base_url: &str, dir: &Path, n: usize, args: &[&str]) -> RunOutput {
    let p = plain_prompts(dir, n);
    let mut all = vec!["--prompts-file", p.to_str().unwrap()];
    all.extend_from_slice(args);
    run(base_url, &dir.join("out"), &all)
}

/// Starts `modelbench run --base-url URL --model m --output-dir OUT ARGS…` in the background
/// (stdout and stderr captured).
pub fn spawn_run(base_url: &str, out: &Path, args: &[&str]) -> std::process::Child {
    modelbench()
        .args([
            "run",
            "--base-url",
            base_url,
            "--model",
            "m",
            "--output-dir",
        ])
        .arg(out)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn modelbench")
}

/// Polls `cond` every 20 ms for up to 30 s.
pub fn wait_until(mut cond: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !cond() && t0.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The parsed `benchmark_results.json` of a run folder.
pub fn load_results(run_dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("benchmark_results.json")).unwrap())
        .unwrap()
}

/// Asserts `lo <= v <= hi` with a readable message.
#[track_caller]
pub fn within(what: &str, v: f64, lo: f64, hi: f64) {
    assert!(
        v >= lo && v <= hi,
        "{what} = {v:.3}, expected within [{lo}, {hi}]"
    );
}
