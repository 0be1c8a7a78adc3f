//! What a sweep leaves on disk, and what `--resume` reads back.
//!
//! Every configuration run gets its own `run_<YYYYmmdd_HHMMSS>/` folder, created before the
//! server starts (so `server.log` lands in it), holding `sweep_status.json`:
//! `running` while it runs, then `complete`, `failed` (with the reason and the log's tail) or
//! `interrupted`. A failed configuration never leaves a `benchmark_results.json` that `compare`
//! would take for a result: whatever the benchmark wrote is renamed to
//! `benchmark_results.failed.json`.
//!
//! `--resume` counts, per configuration, the run folders with a complete result: a readable
//! `benchmark_results.json` and either `sweep_status.json` saying `complete` for the same
//! configuration, or (folders written by `modelbench run` or older scripts, without a status
//! file) a `benchmark_config` with the same TP/DP/PP/max_num_batched_tokens — those only count
//! for configurations without extra serve flags — and no interrupted mark.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::grid::ServeConfig;
use crate::results::discover::run_dirs;
use crate::results::read::{read_run, RESULTS_FILE};

pub const STATUS_FILE: &str = "sweep_status.json";
pub const SERVER_LOG: &str = "server.log";
/// Where the results of a failed configuration are moved, out of `compare`'s way.
pub const FAILED_RESULTS_FILE: &str = "benchmark_results.failed.json";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create run folder in {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Complete,
    Failed,
    Interrupted,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Running => "running",
            Status::Complete => "complete",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
        })
    }
}

/// `sweep_status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    pub status: Status,
    pub model: String,
    /// [`ServeConfig::identity`].
    pub config: Value,
    /// `tp=1 dp=1 pp=1 mnbt=4096 …`.
    pub label: String,
    pub repeat: u32,
    pub repeats: u32,
    /// The server command (argument vector).
    pub command: Vec<String>,
    pub started_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Phase the configuration was in when it failed or was interrupted.
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// The server's exit status when it exited by itself.
    #[serde(default)]
    pub server_exit: Option<String>,
    #[serde(default)]
    pub successful_requests: Option<usize>,
    #[serde(default)]
    pub failed_requests: Option<usize>,
    /// The results file in this folder, if any.
    #[serde(default)]
    pub results_file: Option<String>,
    #[serde(default)]
    pub log_tail: Vec<String>,
    /// The load level of this folder (`concurrency 16`, `rate 4 req/s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<String>,
}

/// Writes `bytes` to `path` atomically (and durably), with every known secret masked.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let text = String::from_utf8_lossy(bytes);
    let text = crate::secrets::redact(&text);
    crate::atomic::write_atomic(path, text.as_bytes(), true).map_err(|source| StateError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Which repeat of its configuration a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedRunInfo {
    pub repeat: u32,
    pub repeats: u32,
}

impl StatusRecord {
    /// The record of a run that is starting (status `running`).
    pub fn start(
        model: &str,
        config: &ServeConfig,
        info: &PlannedRunInfo,
        command: Vec<String>,
    ) -> StatusRecord {
        StatusRecord {
            status: Status::Running,
            model: model.to_owned(),
            config: config.identity(),
            label: config.to_string(),
            repeat: info.repeat,
            repeats: info.repeats,
            command: crate::secrets::mask_args(&command),
            started_at: chrono::Local::now().to_rfc3339(),
            finished_at: None,
            duration_s: None,
            phase: None,
            reason: None,
            server_exit: None,
            successful_requests: None,
            failed_requests: None,
            results_file: None,
            log_tail: Vec::new(),
            load: None,
        }
    }

    pub fn write(&self, run_dir: &Path) -> Result<(), StateError> {
        let path = run_dir.join(STATUS_FILE);
        let text = serde_json::to_vec_pretty(self).map_err(|e| StateError::Write {
            path: path.clone(),
            source: e.into(),
        })?;
        write_atomic(&path, &text)
    }

    pub fn read(run_dir: &Path) -> Option<StatusRecord> {
        // Bounded, regular files only: a FIFO or device here must not hang `--resume`.
        let text = crate::results::read::read_bounded(&run_dir.join(STATUS_FILE), STATUS_FILE)
            .ok()
            .flatten()?;
        serde_json::from_slice(&text).ok()
    }
}

/// Creates a new `run_<YYYYmmdd_HHMMSS>` folder in `model_dir` (created if missing), with
/// [`crate::results::write::create_run_dir`]'s rules.
pub async fn create_run_dir(model_dir: &Path) -> Result<PathBuf, StateError> {
    crate::results::write::create_run_dir(model_dir, chrono::Local::now()).map_err(|source| {
        StateError::CreateDir {
            dir: model_dir.to_path_buf(),
            source,
        }
    })
}

/// Moves a failed configuration's `benchmark_results.json` out of `compare`'s way; returns
/// the new file name when there was one.
pub fn set_aside_results(run_dir: &Path) -> Option<String> {
    let from = run_dir.join(RESULTS_FILE);
    if !from.exists() {
        return None;
    }
    std::fs::rename(&from, run_dir.join(FAILED_RESULTS_FILE))
        .ok()
        .map(|()| FAILED_RESULTS_FILE.to_owned())
}

/// Identities of the complete results in a model folder (one entry per complete run).
pub fn complete_results(model_dir: &Path) -> Vec<Value> {
    let Ok(dirs) = run_dirs(model_dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(run) = read_run(&dir) else { continue };
        match StatusRecord::read(&dir) {
            Some(rec) => {
                if rec.status == Status::Complete {
                    out.push(rec.config);
                }
            }
            None if dir.join(STATUS_FILE).exists() => {} // unreadable status: not trusted
            None => {
                if run.partial.is_none() {
                    let c = run.config;
                    out.push(serde_json::json!({
                        "tensor_parallel_size": c.par.tp,
                        "data_parallel_size": c.par.dp,
                        "pipeline_parallel_size": c.par.pp,
                        "max_num_batched_tokens": c.max_num_batched_tokens,
                        "serve_args": {},
                    }));
                }
            }
        }
    }
    out
}

/// With `--resume`: run folders still saying `running` for one of `owned` (the configurations
/// this sweep process owns: its shard's, or the whole grid) were left by a sweep that died
/// (a node lost, SIGKILL): nothing else runs them. They are marked `interrupted`, with
/// `reason`, so no one mistakes them for running; their configurations run again. Returns the
/// folders marked.
pub fn mark_abandoned(
    model_dir: &Path,
    owned: &[ServeConfig],
    reason: &str,
) -> Result<Vec<PathBuf>, StateError> {
    let Ok(dirs) = run_dirs(model_dir) else {
        return Ok(Vec::new());
    };
    let ids: Vec<Value> = owned.iter().map(ServeConfig::identity).collect();
    let mut marked = Vec::new();
    for dir in dirs {
        let Some(mut rec) = StatusRecord::read(&dir) else {
            continue;
        };
        if rec.status != Status::Running || !ids.contains(&rec.config) {
            continue;
        }
        rec.status = Status::Interrupted;
        rec.reason = Some(reason.to_owned());
        // A level that finished before the sweep died keeps its results (a measurement).
        rec.results_file = dir
            .join(RESULTS_FILE)
            .exists()
            .then(|| RESULTS_FILE.to_owned());
        rec.write(&dir)?;
        marked.push(dir);
    }
    Ok(marked)
}

/// How many complete results `config` has among `complete`.
pub fn count_complete(complete: &[Value], config: &ServeConfig) -> usize {
    let id = config.identity();
    complete.iter().filter(|c| **c == id).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::grid::GridSpec;
    use crate::sweep::state::PlannedRunInfo;

    const RESULTS: &str = r#"{"benchmark_config": {"model_name": "m", "tensor_parallel_size": 2,
        "data_parallel_size": 1, "pipeline_parallel_size": 1, "max_num_batched_tokens": 4096},
        "benchmark_stats": {"summary": {"overall_throughput_tokens_per_sec": 5.0}}}"#;

    fn record(config: &ServeConfig, status: Status) -> StatusRecord {
        let mut r = StatusRecord::start(
            "m",
            config,
            &PlannedRunInfo {
                repeat: 1,
                repeats: 1,
            },
            vec!["vllm".into()],
        );
        r.status = status;
        r
    }

    #[tokio::test]
    async fn run_dirs_are_unique_within_a_second() {
        let d = tempfile::tempdir().unwrap();
        let a = create_run_dir(&d.path().join("m")).await.unwrap();
        let b = create_run_dir(&d.path().join("m")).await.unwrap();
        assert_ne!(a, b);
        for p in [&a, &b] {
            let name = p.file_name().unwrap().to_str().unwrap();
            assert!(name.starts_with("run_"), "{name}");
        }
    }

    #[test]
    fn resume_counts_only_complete_matching_results() {
        let d = tempfile::tempdir().unwrap();
        let grid =
            GridSpec::from_flags(&[2], &[], &[], &[4096], &["max-num-seqs=8".into()]).unwrap();
        let with_extra = &grid.expand()[0];
        let plain = ServeConfig {
            extra: Default::default(),
            ..with_extra.clone()
        };
        let mk = |name: &str, results: bool, status: Option<StatusRecord>| {
            let dir = d.path().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            if results {
                std::fs::write(dir.join(RESULTS_FILE), RESULTS).unwrap();
            }
            if let Some(s) = status {
                s.write(&dir).unwrap();
            }
        };
        mk("run_1", true, Some(record(with_extra, Status::Complete)));
        mk("run_2", true, Some(record(with_extra, Status::Interrupted)));
        mk("run_3", false, Some(record(with_extra, Status::Complete))); // results missing
        mk("run_4", true, None); // written by `modelbench run`: counts for the plain config
        mk("run_5", true, Some(record(with_extra, Status::Failed)));
        mk("notarun", true, Some(record(with_extra, Status::Complete)));
        let done = complete_results(d.path());
        assert_eq!(count_complete(&done, with_extra), 1);
        assert_eq!(count_complete(&done, &plain), 1);
        std::fs::write(
            d.path().join("run_4").join(RESULTS_FILE),
            RESULTS.replace("\"model_name\"", "\"interrupted\": true, \"model_name\""),
        )
        .unwrap();
        assert_eq!(count_complete(&complete_results(d.path()), &plain), 0);
    }

    #[test]
    fn abandoned_running_folders_of_owned_configurations_are_marked() {
        let d = tempfile::tempdir().unwrap();
        let configs = GridSpec::from_flags(&[1, 2], &[], &[], &[], &[])
            .unwrap()
            .expand();
        for (name, c, status) in [
            ("run_1", &configs[0], Status::Running),
            ("run_2", &configs[1], Status::Running),
            ("run_3", &configs[0], Status::Complete),
        ] {
            let dir = d.path().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            record(c, status).write(&dir).unwrap();
        }
        let marked = mark_abandoned(d.path(), &configs[..1], "lost").unwrap();
        assert_eq!(marked, [d.path().join("run_1")]);
        let rec = StatusRecord::read(&marked[0]).unwrap();
        assert_eq!(
            (rec.status, rec.reason.as_deref()),
            (Status::Interrupted, Some("lost"))
        );
        let other = StatusRecord::read(&d.path().join("run_2")).unwrap();
        assert_eq!(
            other.status,
            Status::Running,
            "not this sweep's configuration"
        );
    }

    #[test]
    fn failed_results_are_set_aside_and_status_round_trips() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(set_aside_results(d.path()), None);
        std::fs::write(d.path().join(RESULTS_FILE), RESULTS).unwrap();
        assert_eq!(
            set_aside_results(d.path()).as_deref(),
            Some(FAILED_RESULTS_FILE)
        );
        assert!(!d.path().join(RESULTS_FILE).exists());
        let cfg = &GridSpec::from_flags(&[], &[], &[], &[], &[])
            .unwrap()
            .expand()[0];
        let mut r = record(cfg, Status::Failed);
        r.reason = Some("CUDA out of memory".into());
        r.write(d.path()).unwrap();
        assert_eq!(StatusRecord::read(d.path()), Some(r));
        let leftovers: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
