//! One benchmark from start to finish: validated settings → workload → client → records →
//! stats → a run folder. Shared by `modelbench run` and `modelbench sweep`.
//!
//! CONTRACT (the signatures below are used by `sweep`; keep them):

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::cli::BenchArgs;
use crate::results::ConfigKey;

/// Errors in settings given on the command line (each names the flag).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{flag}: {message}")]
    Invalid { flag: &'static str, message: String },
}

/// Errors that stop a benchmark before it could produce results.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Settings(#[from] SettingsError),
    #[error("cannot write results to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

/// Validated benchmark settings (from [`BenchArgs`]); echoed into config.json.
#[derive(Debug, Clone)]
pub struct BenchSettings {
    pub args: BenchArgs,
}

impl BenchSettings {
    pub fn from_args(args: &BenchArgs) -> Result<BenchSettings, SettingsError> {
        Ok(BenchSettings { args: args.clone() })
    }
}

/// What the run is about, beyond the benchmark settings.
#[derive(Debug, Clone)]
pub struct RunMeta {
    /// Server base URL (with or without `/v1`).
    pub base_url: String,
    /// Recorded in `benchmark_config` so `compare` can group the run.
    pub config: ConfigKey,
    /// Other recorded configuration (e.g. a sweep's extra `vllm serve` flags), written into
    /// `benchmark_config` beside the four parallelism fields.
    pub extra_config: BTreeMap<String, serde_json::Value>,
    /// The full command line (API key masked), recorded in the results.
    pub command_line: String,
    /// Use this folder instead of creating `<output-dir>/<model>/run_<timestamp>/`.
    pub run_dir: Option<PathBuf>,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_dir: PathBuf,
    pub successful: usize,
    pub failed: usize,
    pub interrupted: bool,
}

/// Runs one benchmark and writes its run folder. When `stop` turns true: stop sending, give
/// in-flight requests a few seconds, write what was measured marked interrupted.
pub async fn run_to_folder(
    _settings: &BenchSettings,
    _meta: &RunMeta,
    _stop: tokio::sync::watch::Receiver<bool>,
) -> Result<RunReport, RunError> {
    Err(RunError::Other("run_to_folder is not implemented yet".into()))
}
