//! The sweep's own record, `<output-dir>/<model>/sweep_summary_<YYYYmmdd_HHMMSS>.json`:
//! every planned run with its status and reason, every skipped configuration, the state of the
//! sweep. Rewritten (atomically) after each run, so a sweep killed outright still leaves it.
//! Each sweep process has a file of its own (created exclusively; a shard's name carries the
//! shard), so sweeps sharing an output folder never overwrite each other's record.

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
    /// The shard this process ran (`--shard`, `--shard-from-env`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardEntry>,
    #[serde(skip)]
    pub path: PathBuf,
    /// Whether `path` was created by this sweep (see [`SweepSummary::write`]).
    #[serde(skip)]
    claimed: bool,
}

/// Which part of the grid a sharded sweep ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardEntry {
    pub index: u32,
    pub count: u32,
    /// `--only-gpus`.
    pub gpus: Option<u32>,
    /// The shard's configurations (before `--gpus` and `--resume`).
    pub configurations: usize,
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
            shard: None,
            path: model_dir.join(format!(
                "sweep_summary_{}.json",
                now.format("%Y%m%d_%H%M%S")
            )),
            claimed: false,
        }
    }

    /// Records the shard, and names the file after it
    /// (`sweep_summary_<ts>_gpus2_shard1of4.json`), so shards sharing an output folder never
    /// write the same file.
    pub fn set_shard(&mut self, shard: ShardEntry) {
        let mut tag = String::new();
        if let Some(g) = shard.gpus {
            tag.push_str(&format!("_gpus{g}"));
        }
        tag.push_str(&format!("_shard{}of{}", shard.index, shard.count));
        let name = self
            .path
            .file_stem()
            .map(|s| format!("{}{tag}.json", s.to_string_lossy()))
            .unwrap_or_default();
        self.path.set_file_name(name);
        self.shard = Some(shard);
    }

    /// Creates the record's file, new: if another sweep started the same second with the
    /// same name, `_2`, `_3`, … is appended (mkdir-like exclusive creation, safe between
    /// processes and on NFS).
    fn claim(&mut self) -> std::io::Result<()> {
        if self.claimed {
            return Ok(());
        }
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        self.path = crate::results::write::create_numbered(&dir, &stem, ".json", |p| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .map(drop)
        })?;
        self.claimed = true;
        Ok(())
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
        self.claim().map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })?;
        write_atomic(&self.path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_and_same_second_sweeps_get_files_of_their_own() {
        let d = tempfile::tempdir().unwrap();
        let mut a = SweepSummary::new(d.path(), "m", "", &[], &[]);
        let mut b = a.clone();
        let mut c = a.clone();
        c.set_shard(ShardEntry {
            index: 1,
            count: 4,
            gpus: Some(2),
            configurations: 3,
        });
        for s in [&mut a, &mut b, &mut c] {
            s.write(Duration::ZERO).unwrap();
            s.write(Duration::ZERO).unwrap(); // rewrites keep their file
        }
        let stem = a.path.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            b.path.file_name().unwrap().to_string_lossy(),
            format!("{stem}_2.json")
        );
        assert_eq!(
            c.path.file_name().unwrap().to_string_lossy(),
            format!("{stem}_gpus2_shard1of4.json")
        );
        let text = std::fs::read_to_string(&c.path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["shard"]["index"], 1);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 3);
    }
}
