//! No secret reaches a file or the terminal: an API key given by flag or environment, URL
//! credentials and a `?token=` parameter (`run`, against the in-test mock server, a TEST
//! DOUBLE), and vLLM's own `--api-key`/`--hf-token` passed through `--serve-extra` or as a
//! `--serve-arg` grid axis (`sweep`, against the fake `vllm serve`, a TEST DOUBLE). Every file
//! of the output folder and the whole terminal output are searched.

#[path = "doubles/mock_openai.rs"]
mod mock_openai;
mod run_support;
mod sweep_support;

use std::path::Path;

use mock_openai::{MockConfig, MockServer};
use run_support::{modelbench, prompts};
use sweep_support::{text, Sandbox};

/// Every file below `dir` whose content contains one of `secrets`, with the secret.
fn leaks(dir: &Path, secrets: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&p).unwrap();
            let content = String::from_utf8_lossy(&bytes);
            for s in secrets {
                if content.contains(s) {
                    found.push(format!("{s} in {}", p.display()));
                }
            }
        }
    }
    assert!(files > 0, "nothing was written below {}", dir.display());
    found
}

fn terminal_leaks(out: &std::process::Output, secrets: &[&str]) -> Vec<String> {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    secrets
        .iter()
        .filter(|s| all.contains(**s))
        .map(|s| format!("{s} on the terminal"))
        .collect()
}

#[test]
fn run_writes_no_secret_anywhere() {
    let mock = MockServer::start(MockConfig {
        tokens: 4,
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let p = prompts(dir.path(), &["hello", "world"]);
    let out = dir.path().join("out");
    let port = mock.base_url().rsplit(':').next().unwrap().to_owned();
    let url = format!("http://someuser:pw-secret-1@127.0.0.1:{port}/v1?token=tok-secret-2");
    let secrets = [
        "pw-secret-1",
        "tok-secret-2",
        "sk-secret-3",
        "sk-env-secret-4",
    ];
    for key_by_env in [false, true] {
        let mut cmd = modelbench();
        cmd.args(["run", "--base-url", &url, "--model", "mock-model"])
            .arg("--output-dir")
            .arg(&out)
            .args(["--prompts-file", p.to_str().unwrap(), "--max-tokens", "4"]);
        if key_by_env {
            cmd.env("OPENAI_API_KEY", "sk-env-secret-4");
        } else {
            cmd.args(["--api-key", "sk-secret-3"]);
        }
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert_eq!(terminal_leaks(&o, &secrets), Vec::<String>::new());
        // A second run in the same second would share its folder name: let the clock move.
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_eq!(leaks(&out, &secrets), Vec::<String>::new());
    // The key was sent: the mock saw the requests with their Authorization header.
    assert!(mock.stats.requests() >= 4);

    // A refused command line names the flag, not the secret in it.
    let o = modelbench()
        .args([
            "run",
            "--base-url",
            &url,
            "--model",
            "m",
            "--api-key",
            "sk-secret-3",
        ])
        .args(["--prompts-file", p.to_str().unwrap(), "--concurrency", "0"])
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(terminal_leaks(&o, &secrets), Vec::<String>::new());
    let o = modelbench()
        .args([
            "run",
            "--base-url",
            // Refused (not http or https): the message shows the URL, masked.
            "ftp://u:pw-secret-1@127.0.0.1:9",
            "--model",
            "m",
        ])
        .args(["--prompts-file", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains("--base-url"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(terminal_leaks(&o, &secrets), Vec::<String>::new());
}

#[test]
fn sweep_writes_no_server_secret_anywhere() {
    let sb = Sandbox::new();
    let secrets = [
        "sk-serve-secret-5",
        "hf-secret-6",
        "sk-grid-secret-7",
        "sk-client-8",
    ];
    let o = sb.run(&[
        "--serve-extra",
        "--api-key sk-serve-secret-5 --hf-token=hf-secret-6",
        "--serve-arg",
        "api-key=sk-grid-secret-7",
        "--api-key",
        "sk-client-8",
    ]);
    assert_eq!(terminal_leaks(&o, &secrets), Vec::<String>::new());
    assert_eq!(leaks(&sb.out(), &secrets), Vec::<String>::new());
    let o = sb.run(&[
        "--serve-extra",
        "--api-key sk-serve-secret-5 --hf-token=hf-secret-6",
        "--serve-arg",
        "api-key=sk-grid-secret-7",
        "--dry-run",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("--api-key '***'"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(terminal_leaks(&o, &secrets), Vec::<String>::new());
}
