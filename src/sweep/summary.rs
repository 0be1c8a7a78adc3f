//! The sweep's own record, `<output-dir>/<model>/sweep_summary_<YYYYmmdd_HHMMSS>.json`:
//! every planned run with its status and reason, every skipped configuration, the state of the
//! sweep. Rewritten (atomically) after each run, so a sweep killed outright still leaves it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::plan::{PlannedRun, SkippedConfig};
use super::state::{write_atomic, StateError, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepState {
    Running,
    Finished,
    Interrupted,
    Aborted,
}

/// One planned run, as it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEntry {
    pub label: String,
    pub config: Value,
    pub repeat: u32,
    pub repeats: u32,
    pub status: Status,
    pub run_dir: PathBuf,
    pub reason: Option<String>,
    pub server_exit: Option<String>,
    pub duration_s: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// The load level of the run folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<String>,
    /// The capacity search against this server (`--find-max`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityEntry>,
}

/// A configuration's capacity search, for the sweep's ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityEntry {
    pub search_id: String,
    /// `concurrency` or `request_rate`.
    pub axis: &'static str,
    /// The highest load meeting the SLO (`None`: even the first probe missed it).
    pub max_meeting_slo: Option<f64>,
    /// TP·DP·PP.
    pub gpus: u64,
    /// The search did not converge (interrupted, a probe could not run).
    pub stopped: Option<String>,
    /// The answer is the search maximum: the server may take more.
    pub at_search_max: bool,
    pub file: Option<PathBuf>,
}

impl CapacityEntry {
    pub fn new(c: &crate::runner::levels::Capacity, gpus: u64) -> CapacityEntry {
        CapacityEntry {
            search_id: c.id.clone(),
            axis: c.spec.axis.name(),
            max_meeting_slo: c.max_meeting_slo,
            gpus,
            stopped: c.stopped.clone(),
            at_search_max: c.max_meeting_slo.is_some_and(|v| v >= c.spec.max),
            file: c.file.clone(),
        }
    }

    /// Capacity per GPU.
    pub fn per_gpu(&self) -> Option<f64> {
        self.max_meeting_slo.map(|v| v / self.gpus.max(1) as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedEntry {
    pub label: String,
    pub config: Value,
    pub reason: String,
}

impl From<&SkippedConfig> for SkippedEntry {
    fn from(s: &SkippedConfig) -> Self {
        SkippedEntry {
            label: s.config.to_string(),
            config: s.config.identity(),
            reason: s.reason.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepSummary {
    pub model: String,
    pub command_line: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub elapsed_s: f64,
    pub state: SweepState,
    /// Runs planned (configurations × missing repeats).
    pub planned_runs: usize,
    pub runs: Vec<RunEntry>,
    pub skipped: Vec<SkippedEntry>,
    /// The error that aborted the sweep.
    pub error: Option<String>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl SweepSummary {
    pub fn new(
        model_dir: &Path,
        model: &str,
        command_line: &str,
        planned: &[PlannedRun],
        skipped: &[SkippedConfig],
    ) -> SweepSummary {
        let now = chrono::Local::now();
        SweepSummary {
            model: model.to_owned(),
            command_line: command_line.to_owned(),
            started_at: now.to_rfc3339(),
            finished_at: None,
            elapsed_s: 0.0,
            state: SweepState::Running,
            planned_runs: planned.len(),
            runs: Vec::new(),
            skipped: skipped.iter().map(SkippedEntry::from).collect(),
            error: None,
            path: model_dir.join(format!(
                "sweep_summary_{}.json",
                now.format("%Y%m%d_%H%M%S")
            )),
        }
    }

    pub fn count(&self, status: Status) -> usize {
        self.runs.iter().filter(|r| r.status == status).count()
    }

    pub fn write(&mut self, elapsed: Duration) -> Result<(), StateError> {
        self.elapsed_s = elapsed.as_secs_f64();
        if self.state != SweepState::Running {
            self.finished_at = Some(chrono::Local::now().to_rfc3339());
        }
        let text = serde_json::to_vec_pretty(self).map_err(|e| StateError::Write {
            path: self.path.clone(),
            source: e.into(),
        })?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Write {
                path: self.path.clone(),
                source,
            })?;
        }
        write_atomic(&self.path, &text)
    }
}
