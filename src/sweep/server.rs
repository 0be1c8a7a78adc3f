//! The server process of one configuration, and its whole process group.
//!
//! - [`ServerProcess::spawn`] starts the command in a NEW process group (its pid is the group
//!   id), stdin from /dev/null, stdout and stderr appended to `server.log`. On Linux the server
//!   is also asked to get SIGTERM if modelbench itself dies (`PR_SET_PDEATHSIG`), the last
//!   line of defence when modelbench is killed with SIGKILL.
//! - [`ServerProcess::wait_ready`] polls `GET /health` (200) and `GET /v1/models` (lists the
//!   model), noticing at once when the server exits.
//! - [`ServerProcess::stop`] sends SIGTERM to the whole group, SIGKILL after the grace period,
//!   and reaps; [`wait_port_free`] then waits until the port can be bound again.
//! - Dropping a `ServerProcess` that was not stopped kills the group with SIGKILL (panics,
//!   early returns): no path leaves a server behind.
//!
//! modelbench makes itself a child subreaper ([`become_subreaper`]), so vLLM's worker processes
//! orphaned by a crashed API server are re-parented to modelbench and reaped here with
//! `waitpid(-pgid)`, instead of lingering as zombies that still count as group members.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::command::{display, HOST};

/// Time between two readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// Timeout of one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for the group to vanish after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot create {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start server command `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("port {port} on {HOST} is in use (waited {waited_s:.0} s; another server still running?); stop it or choose another --port")]
    PortBusy { port: u16, waited_s: f64 },
}

/// Why the server did not become ready.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadyError {
    /// The server process exited (its exit status, e.g. `exit code 1`).
    Exited(String),
    /// Not ready within the startup timeout (what was last seen).
    Timeout { waited_s: f64, last_seen: String },
    /// modelbench was asked to stop.
    Interrupted,
}

/// How the group ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StopReport {
    /// SIGKILL was needed (the group outlived the grace period).
    pub killed: bool,
    /// The processes still running when SIGKILL was sent (`pid command`).
    pub stubborn: Vec<String>,
    /// Processes still present after SIGKILL (should never happen; reported loudly).
    pub survivors: Vec<i32>,
}

/// The process group of the server currently running (0: none), for [`kill_active_group`].
static ACTIVE_GROUP: AtomicI32 = AtomicI32::new(0);

/// Last resort before exiting without unwinding (a third Ctrl-C): SIGKILL the running server's
/// process group.
pub fn kill_active_group() {
    let pgid = ACTIVE_GROUP.swap(0, Ordering::SeqCst);
    if pgid > 0 {
        // SAFETY: signals the server's process group, which this process created.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// Makes this process a child subreaper (Linux; elsewhere a no-op returning false).
pub fn become_subreaper() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only sets a flag on this process.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// A running (or exited but not yet cleaned up) server and its process group.
#[derive(Debug)]
pub struct ServerProcess {
    /// Leader pid, which is also the process group id.
    pid: i32,
    /// The leader's exit status, once reaped.
    exit: Option<String>,
    /// The group is gone (stopped and reaped).
    gone: bool,
    /// The copiers of the server's stdout and stderr into server.log.
    copiers: Vec<Copier>,
}

/// One server output stream being copied (masked) into server.log by a thread.
#[derive(Debug)]
struct Copier {
    /// A duplicate of the pipe's read end, to ask the kernel how many bytes wait in it.
    probe: std::os::fd::OwnedFd,
    /// Bytes taken from the pipe, and bytes handled (written, or kept as an unfinished line).
    read: Arc<AtomicU64>,
    handled: Arc<AtomicU64>,
}

impl Copier {
    /// Nothing waits in the pipe and everything read was handled.
    fn drained(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut waiting: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer; the fd is ours and open.
        let r = unsafe { libc::ioctl(self.probe.as_raw_fd(), libc::FIONREAD, &mut waiting) };
        r != 0
            || (waiting == 0
                && self.read.load(Ordering::SeqCst) == self.handled.load(Ordering::SeqCst))
    }
}

fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        match super::logscan::signal_name(signal) {
            Some(name) => format!("killed by signal {signal} ({name})"),
            None => format!("killed by signal {signal}"),
        }
    } else {
        format!("wait status {status}")
    }
}

impl ServerProcess {
    /// Starts `argv` in its own process group with output appended to `log_path` (after a
    /// header line with the command).
    ///
    /// Call this from a thread that lives as long as the server (the runtime's main or worker
    /// threads, never `spawn_blocking`): Linux sends the parent-death signal when the spawning
    /// *thread* exits.
    pub fn spawn(argv: &[String], log_path: &Path) -> Result<ServerProcess, ServerError> {
        let log_err = |source| ServerError::Log {
            path: log_path.to_path_buf(),
            source,
        };
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .map_err(log_err)?;
        let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        writeln!(log, "# {now} modelbench sweep starts: {}", display(argv)).map_err(log_err)?;
        let mut cmd = Command::new(&argv[0]);
        // The server's output goes through modelbench on its way to server.log, so that the
        // secrets it prints (vLLM logs its non-default arguments, `api_key` among them) are
        // masked like everything else modelbench writes.
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        #[cfg(target_os = "linux")]
        {
            let parent = std::process::id() as libc::pid_t;
            // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    libc::prctl(
                        libc::PR_SET_PDEATHSIG,
                        libc::SIGTERM as libc::c_ulong,
                        0,
                        0,
                        0,
                    );
                    if libc::getppid() != parent {
                        libc::_exit(1); // modelbench died between fork and prctl
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().map_err(|source| ServerError::Spawn {
            program: argv[0].clone(),
            source,
        })?;
        // The `Child` handle is not used: the group is waited for with waitpid(-pgid) below.
        let pid = child.id() as i32;
        let log = Arc::new(Mutex::new(log));
        let mut child = child;
        let mut copiers = Vec::new();
        let streams: [Option<std::fs::File>; 2] = [
            child
                .stdout
                .take()
                .map(|s| std::fs::File::from(std::os::fd::OwnedFd::from(s))),
            child
                .stderr
                .take()
                .map(|s| std::fs::File::from(std::os::fd::OwnedFd::from(s))),
        ];
        for stream in streams.into_iter().flatten() {
            if let Some(c) = copy_masked(stream, Arc::clone(&log)) {
                copiers.push(c);
            }
        }
        drop(child);
        ACTIVE_GROUP.store(pid, Ordering::SeqCst);
        Ok(ServerProcess {
            pid,
            exit: None,
            gone: false,
            copiers,
        })
    }

    /// Waits (at most `limit`) until everything the server has written so far is in
    /// server.log: its output reaches the file through a copier thread.
    pub async fn flush_log(&self, limit: Duration) {
        let start = Instant::now();
        // Twice in a row, 20 ms apart: a chunk the copier has just read is counted a moment later.
        let mut calm = 0;
        while calm < 2 && start.elapsed() < limit {
            if self.copiers.iter().all(Copier::drained) {
                calm += 1;
            } else {
                calm = 0;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Reaps every exited child of the group without blocking; records the leader's status.
    fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: plain waitpid on our own children of this process group.
            let r = unsafe { libc::waitpid(-self.pid, &mut status, libc::WNOHANG) };
            if r <= 0 {
                return;
            }
            if r == self.pid {
                self.exit = Some(describe_status(status));
            }
        }
    }

    /// The leader's exit status if it has exited (e.g. `exit code 1`).
    pub fn exit_status(&mut self) -> Option<String> {
        self.reap();
        self.exit.clone()
    }

    /// Whether any live (non-zombie) process is left in the group.
    pub fn group_alive(&mut self) -> bool {
        if self.gone {
            return false;
        }
        self.reap();
        // SAFETY: signal 0 only checks for existence.
        let exists = unsafe { libc::killpg(self.pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
        let alive = exists && !live_members(self.pid).is_some_and(|m| m.is_empty());
        if !alive {
            self.reap(); // zombies that appeared since the first reap
            self.gone = true;
            let _ = ACTIVE_GROUP.compare_exchange(self.pid, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
        alive
    }

    fn signal_group(&self, sig: i32) {
        // SAFETY: signals our own process group; errors (already gone) are fine.
        unsafe {
            libc::killpg(self.pid, sig);
        }
    }

    /// Waits until `/health` answers 200 and `/v1/models` lists the model.
    pub async fn wait_ready(
        &mut self,
        check: &ReadyCheck<'_>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ReadyError> {
        let timeout = check.timeout;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(PROBE_TIMEOUT)
            .build();
        let Ok(client) = client else {
            return Err(ReadyError::Timeout {
                waited_s: 0.0,
                last_seen: "cannot build an HTTP client".into(),
            });
        };
        let start = Instant::now();
        let mut last_seen;
        loop {
            if *stop.borrow() {
                return Err(ReadyError::Interrupted);
            }
            if let Some(status) = self.exit_status() {
                return Err(ReadyError::Exited(status));
            }
            // A probe never outlasts the startup timeout (a hung /health would otherwise add
            // up to PROBE_TIMEOUT to it), and a signal ends it at once.
            let remaining = timeout.saturating_sub(start.elapsed());
            let probed = tokio::select! {
                r = tokio::time::timeout(remaining, probe(&client, check)) => r,
                _ = signalled(stop) => return Err(ReadyError::Interrupted),
            };
            match probed {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(seen)) => last_seen = seen,
                Err(_) => last_seen = "no answer on /health before the startup timeout".into(),
            }
            if let Some(status) = self.exit_status() {
                return Err(ReadyError::Exited(status));
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(ReadyError::Timeout {
                    waited_s: waited.as_secs_f64(),
                    last_seen,
                });
            }
            let nap = PROBE_INTERVAL.min(timeout - waited);
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// SIGTERM to the group; SIGKILL once `grace` has passed or `hurry` turns true; waits
    /// until no process of the group is left.
    pub async fn stop(&mut self, grace: Duration, hurry: &mut watch::Receiver<bool>) -> StopReport {
        let mut report = StopReport::default();
        if !self.group_alive() {
            return report;
        }
        self.signal_group(libc::SIGTERM);
        let start = Instant::now();
        while self.group_alive() {
            if start.elapsed() >= grace || *hurry.borrow() {
                report.killed = true;
                report.stubborn = live_members(self.pid)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|pid| format!("{pid} {}", command_of(pid)))
                    .collect();
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = hurry.changed() => {}
            }
        }
        if report.killed {
            report.survivors = self.kill_now_and_wait().await;
        }
        report
    }

    /// SIGKILL to the group, then waits up to [`KILL_WAIT`]; returns the pids still alive.
    async fn kill_now_and_wait(&mut self) -> Vec<i32> {
        self.signal_group(libc::SIGKILL);
        let start = Instant::now();
        while self.group_alive() && start.elapsed() < KILL_WAIT {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if self.group_alive() {
            live_members(self.pid).unwrap_or_else(|| vec![self.pid])
        } else {
            Vec::new()
        }
    }
}

impl Drop for ServerProcess {
    /// The safety net for paths that did not call [`ServerProcess::stop`]: SIGKILL the group
    /// and reap it (bounded wait).
    fn drop(&mut self) {
        if !self.group_alive() {
            return;
        }
        self.signal_group(libc::SIGKILL);
        let start = Instant::now();
        while self.group_alive() && start.elapsed() < KILL_WAIT {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// What "ready" means for one server.
#[derive(Debug, Clone, Copy)]
pub struct ReadyCheck<'a> {
    pub base_url: &'a str,
    /// The name `/v1/models` must list.
    pub model: &'a str,
    /// Sent as a bearer token to `/v1/models` (a server started with `--api-key` protects it).
    pub api_key: Option<&'a str>,
    pub timeout: Duration,
}

/// One readiness probe: `Ok` when ready, else what was seen.
async fn probe(client: &reqwest::Client, check: &ReadyCheck<'_>) -> Result<(), String> {
    let (base_url, model) = (check.base_url, check.model);
    let health = client
        .get(format!("{base_url}/health"))
        .send()
        .await
        .map_err(|_| "no answer on /health".to_owned())?;
    if !health.status().is_success() {
        return Err(format!("/health answered {}", health.status()));
    }
    let mut models = client.get(format!("{base_url}/v1/models"));
    if let Some(key) = check.api_key {
        models = models.bearer_auth(key);
    }
    let models = models
        .send()
        .await
        .map_err(|e| format!("/v1/models: {e}"))?;
    if !models.status().is_success() {
        return Err(format!("/v1/models answered {}", models.status()));
    }
    let bytes = models
        .bytes()
        .await
        .map_err(|e| format!("/v1/models: {e}"))?;
    let body: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("/v1/models: invalid JSON ({e})"))?;
    let ids: Vec<&str> = body
        .get("data")
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("id").and_then(serde_json::Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if ids.contains(&model) {
        Ok(())
    } else {
        Err(format!("/v1/models lists {ids:?}, not {model:?}"))
    }
}

/// Live (non-zombie) processes whose process group is `pgid`, from /proc (Linux);
/// `None` where /proc is not available.
pub fn live_members(pgid: i32) -> Option<Vec<i32>> {
    let dir = std::fs::read_dir("/proc").ok()?;
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ..." — comm may contain spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.len() > 2
            && fields[2].parse::<i32>() == Ok(pgid)
            && fields[0] != "Z"
            && fields[0] != "X"
        {
            out.push(pid);
        }
    }
    Some(out)
}

/// Copies a server output stream into server.log line by line, masking known secrets, on a
/// thread of its own (it ends when every process of the group has closed the stream).
fn copy_masked(mut stream: std::fs::File, log: Arc<Mutex<std::fs::File>>) -> Option<Copier> {
    use std::io::Read;
    let probe = match stream.try_clone() {
        Ok(f) => std::os::fd::OwnedFd::from(f),
        Err(e) => {
            eprintln!("warning: cannot watch the server's output: {e}");
            return None;
        }
    };
    let read = Arc::new(AtomicU64::new(0));
    let handled = Arc::new(AtomicU64::new(0));
    let (read_n, handled_n) = (Arc::clone(&read), Arc::clone(&handled));
    let spawned = std::thread::Builder::new()
        .name("server-log".into())
        .spawn(move || {
            let mut chunk = vec![0u8; 64 * 1024];
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let n = match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                read_n.fetch_add(n as u64, Ordering::SeqCst);
                pending.extend_from_slice(&chunk[..n]);
                // Whole lines only, so that a secret is never split between two writes.
                if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
                    let lines: Vec<u8> = pending.drain(..=end).collect();
                    write_masked(&log, &lines);
                }
                handled_n.fetch_add(n as u64, Ordering::SeqCst);
            }
            write_masked(&log, &pending);
        });
    match spawned {
        Ok(_) => Some(Copier {
            probe,
            read,
            handled,
        }),
        Err(e) => {
            eprintln!("warning: cannot copy the server's output to server.log: {e}");
            None
        }
    }
}

fn write_masked(log: &Mutex<std::fs::File>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(bytes);
    let masked = crate::secrets::redact(&text);
    let mut f = log.lock().unwrap_or_else(|e| e.into_inner());
    // A full disk must not stop the server: its output is then lost, the run is not.
    let _ = f.write_all(masked.as_bytes());
}

/// Completes when `stop` turns true; never when its sender is gone.
async fn signalled(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A process's command line, shortened (`?` when unknown).
fn command_of(pid: i32) -> String {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return "?".to_owned();
    };
    let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
    let cmd = cmd.trim();
    match cmd.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &cmd[..i]),
        None => cmd.to_owned(),
    }
}

/// Whether `port` on 127.0.0.1 can be bound now.
pub fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind((HOST, port)).is_ok()
}

/// Waits until `port` can be bound (a stopped server may release it late).
pub async fn wait_port_free(port: u16, timeout: Duration) -> Result<(), ServerError> {
    let start = Instant::now();
    while !port_is_free(port) {
        if start.elapsed() >= timeout {
            return Err(ServerError::PortBusy {
                port,
                waited_s: start.elapsed().as_secs_f64(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    fn check(base_url: &str, timeout_ms: u64) -> ReadyCheck<'_> {
        ReadyCheck {
            base_url,
            model: "m",
            api_key: None,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    fn no_stop() -> (watch::Sender<bool>, watch::Receiver<bool>) {
        watch::channel(false)
    }

    /// A server whose /health accepts connections but never answers: the wait ends at the
    /// startup timeout, not a probe timeout later.
    #[tokio::test]
    async fn a_hung_probe_does_not_overshoot_the_startup_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let _held = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((c, _)) = listener.accept().await {
                conns.push(c);
            }
        });
        let mut s = ServerProcess::spawn(&sh("sleep 30"), &dir.path().join("server.log")).unwrap();
        let (_tx, mut rx) = no_stop();
        let start = Instant::now();
        let r = s.wait_ready(&check(&url, 1000), &mut rx).await;
        let waited = start.elapsed();
        assert!(matches!(r, Err(ReadyError::Timeout { .. })), "{r:?}");
        // PROBE_TIMEOUT is 5 s: before the fix the wait took about 5 s.
        assert!(waited < Duration::from_millis(3500), "{waited:?}");
        let (_tx2, mut hurry) = no_stop();
        s.stop(Duration::from_millis(100), &mut hurry).await;
    }

    #[tokio::test]
    async fn stop_terminates_the_whole_group_and_kills_stubborn_members() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        // A leader with a child that ignores SIGTERM (like a stuck worker).
        let mut s =
            ServerProcess::spawn(&sh("echo hello; (trap '' TERM; sleep 60) & sleep 60"), &log)
                .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(live_members(s.pid()).unwrap().len() >= 2);
        let (_tx, mut rx) = no_stop();
        let r = s.stop(Duration::from_millis(500), &mut rx).await;
        assert!(r.killed, "the SIGTERM-ignoring child needs SIGKILL");
        assert!(
            r.stubborn.iter().any(|p| p.contains("sleep 60")),
            "{:?}",
            r.stubborn
        );
        assert!(r.survivors.is_empty());
        assert!(live_members(s.pid()).unwrap().is_empty());
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.starts_with("# ") && text.contains("hello"), "{text}");
    }

    #[tokio::test]
    async fn crash_is_noticed_and_orphans_are_still_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ServerProcess::spawn(
            &sh("sleep 60 & echo boom >&2; exit 3"),
            &dir.path().join("l"),
        )
        .unwrap();
        let (_tx, mut rx) = no_stop();
        let e = s
            .wait_ready(&check("http://127.0.0.1:9", 60_000), &mut rx)
            .await
            .unwrap_err();
        assert_eq!(e, ReadyError::Exited("exit code 3".into()));
        assert!(s.group_alive(), "the orphaned sleep is still in the group");
        let r = s.stop(Duration::from_secs(5), &mut rx).await;
        assert!(!r.killed);
        assert!(!s.group_alive());
    }

    #[tokio::test]
    async fn drop_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let s = ServerProcess::spawn(&sh("sleep 60 & sleep 60"), &dir.path().join("l")).unwrap();
        let pgid = s.pid();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(s);
        assert!(live_members(pgid).unwrap().is_empty());
    }

    #[tokio::test]
    async fn timeout_and_interrupt_while_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ServerProcess::spawn(&sh("sleep 60"), &dir.path().join("l")).unwrap();
        let (tx, mut rx) = no_stop();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        match s.wait_ready(&check(&url, 600), &mut rx).await {
            Err(ReadyError::Timeout { last_seen, .. }) => {
                assert_eq!(last_seen, "no answer on /health")
            }
            other => panic!("{other:?}"),
        }
        tx.send(true).unwrap();
        assert_eq!(
            s.wait_ready(&check(&url, 60_000), &mut rx).await,
            Err(ReadyError::Interrupted)
        );
        s.stop(Duration::from_secs(5), &mut rx).await;
    }

    #[test]
    fn spawn_errors_name_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let e =
            ServerProcess::spawn(&["/nonexistent/vllm".into()], &dir.path().join("l")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/vllm"), "{e}");
    }
}
