//! Shared helpers of the `sweep_*` integration tests: a sweep against the fake `vllm serve`
//! (tests/doubles/fake_vllm.py, a TEST DOUBLE) in a temporary output dir, and checks that no
//! process it started survives.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const MODEL: &str = "fake-org/fake-model";
pub const MODEL_FOLDER: &str = "fake-org_fake-model";

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `--serve-cmd` value running the fake server.
pub fn fake_serve_cmd() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/doubles/fake_vllm.py");
    format!("python3 {} serve", shlex_quote(script.to_str().unwrap()))
}

fn shlex_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One sweep's sandbox: output dir, port, fake-server bookkeeping files.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
        }
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("results")
    }

    pub fn model_dir(&self) -> PathBuf {
        self.out().join(MODEL_FOLDER)
    }

    pub fn pid_file(&self) -> PathBuf {
        self.dir.path().join("fake_pids.txt")
    }

    pub fn request_log(&self) -> PathBuf {
        self.dir.path().join("fake_requests.txt")
    }

    /// `modelbench sweep` with the sandbox's model, output dir, port, fake server and a tiny
    /// benchmark; `extra` adds grid and behaviour flags (and may replace `--serve-cmd`).
    pub fn command(&self, extra: &[&str]) -> Command {
        self.command_on(self.port, extra)
    }

    /// [`Sandbox::command`] with the server on `port` (several sweeps sharing the output dir).
    pub fn command_on(&self, port: u16, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelbench"));
        cmd.args(["sweep", "--model", MODEL, "--output-dir"])
            .arg(self.out())
            .args(["--port", &port.to_string()]);
        let serve_cmd = fake_serve_cmd();
        let defaults: [(&str, &str); 9] = [
            ("--serve-cmd", &serve_cmd),
            ("--dataset", "random"),
            ("--input-len", "8"),
            ("--output-len", "4"),
            ("--num-prompts", "4"),
            ("--concurrency", "2"),
            ("--stop-grace", "5"),
            ("--startup-timeout", "60"),
            ("--max-tokens", "4"),
        ];
        for (flag, value) in defaults {
            if !extra.contains(&flag) {
                cmd.args([flag, value]);
            }
        }
        cmd.args(extra)
            .env("FAKE_VLLM_PID_FILE", self.pid_file())
            .env("FAKE_VLLM_REQUEST_LOG", self.request_log())
            .env("FAKE_VLLM_STARTUP_DELAY", "0.2")
            .env("NO_PROXY", "127.0.0.1")
            .env_remove("OPENAI_API_KEY")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, extra: &[&str]) -> Output {
        self.command(extra).output().unwrap()
    }

    pub fn spawn(&self, extra: &[&str]) -> Child {
        self.command(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// PIDs the fake servers and workers wrote.
    pub fn fake_pids(&self) -> Vec<(String, i32)> {
        let text = std::fs::read_to_string(self.pid_file()).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let (role, pid) = l.split_once(' ')?;
                Some((role.to_owned(), pid.trim().parse().ok()?))
            })
            .collect()
    }

    pub fn requests_seen(&self) -> usize {
        std::fs::read_to_string(self.request_log())
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// `run_*` folders of the model, sorted.
    pub fn run_dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.model_dir())
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// `sweep_status.json` of every run folder, in folder order.
    pub fn statuses(&self) -> Vec<Value> {
        self.run_dirs()
            .iter()
            .map(|d| read_json(&d.join("sweep_status.json")))
            .collect()
    }

    /// The files of the model folder whose name starts with `prefix`, sorted.
    pub fn model_files(&self, prefix: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.model_dir())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .collect();
        v.sort();
        v
    }

    /// The newest `sweep_summary_*.json`.
    pub fn summary(&self) -> Value {
        read_json(
            self.model_files("sweep_summary_")
                .last()
                .expect("a sweep summary"),
        )
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `pid` is a live process (zombies count as dead: they hold nothing).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_owned));
            !matches!(state.as_deref(), Some("Z") | Some("X") | None)
        }
    }
}

/// Asserts that the fake wrote at least `min` pids and that none of them is alive.
pub fn assert_no_survivors(sandbox: &Sandbox, min: usize) {
    let pids = sandbox.fake_pids();
    assert!(
        pids.len() >= min,
        "expected at least {min} fake pids, got {pids:?}"
    );
    let alive: Vec<_> = pids.iter().filter(|(_, p)| alive(*p)).collect();
    if !alive.is_empty() {
        // Do not leave them behind even when the test fails.
        for (_, p) in &alive {
            unsafe {
                libc::kill(*p, libc::SIGKILL);
            }
        }
    }
    assert!(
        alive.is_empty(),
        "processes of the fake server survived: {alive:?}"
    );
}

/// Polls `cond` every 50 ms for up to `timeout`.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Sends `sig` to a child process.
pub fn send_signal(child: &Child, sig: i32) {
    // SAFETY: signals a process this test started.
    let r = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(r, 0, "kill({}, {sig})", child.id());
}

/// Waits for a child to exit (killing it after `timeout`); returns its output.
pub fn finish(mut child: Child, timeout: Duration) -> Output {
    let exited = wait_until(timeout, || child.try_wait().unwrap().is_some());
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        exited,
        "modelbench did not exit within {timeout:?}\n{}",
        text(&out.stderr)
    );
    out
}
