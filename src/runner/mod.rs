//! One benchmark from start to finish: validated settings → workload → client → records →
//! stats → a run folder. Shared by `modelbench run` and `modelbench sweep`.
//!
//! CONTRACT (used by `sweep`; keep them): [`runtime`], [`BenchSettings::from_args`], [`RunMeta`],
//! [`RunReport`], [`run_to_folder`].
//!
//! - [`settings`]: flag validation; [`bench`]: the steps of a run; [`load`]: closed/open loop
//!   release of requests and the interruption; [`progress`]: the stderr progress bar; [`report`]: the final summary;
//!   [`log`]: benchmark.log; [`folder`]: what goes into the run folder.

pub mod bench;
pub mod folder;
pub mod load;
pub mod log;
pub mod progress;
pub mod report;
pub mod settings;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use settings::{BenchSettings, LoadMode};

use crate::client::ClientError;
use crate::records::Clock;
use crate::results::ConfigKey;
use crate::stats::RunStats;
use crate::workload::WorkloadError;
use load::PhaseOutcome;

/// The async runtime a benchmark runs on: one thread for every stream, with read coalescing
/// (see [`crate::client::coalesce`]) for the given window.
///
/// One thread, because coalescing works by that thread not waiting in `epoll_wait` for a
/// moment: with a second worker, the kernel would wake that one for every segment instead.
/// One core reads a few hundred thousand tokens per second (docs/performance-client.md), far
/// beyond what a server streams; CPU-heavy steps (building the workload) run on the blocking
/// pool, off this thread.
pub fn runtime(read_coalesce: Duration) -> std::io::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_current_thread();
    b.enable_all();
    crate::client::coalesce::install(&mut b, read_coalesce);
    b.build()
}

/// Seconds in-flight requests get to finish after an interruption.
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

/// Errors in settings given on the command line (each names the flag).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{flag}: {message}")]
    Invalid { flag: &'static str, message: String },
}

/// Errors that stop a benchmark before it could produce results.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    // Transparent: the inner error's text once (`{0}` with `#[from]` made it the source too,
    // and `{:#}` printed it twice).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    // The I/O error is in the text, so it is not also a `source` (printed twice by `{:#}`).
    #[error("cannot write results to {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Other(String),
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
    /// In flight at the interruption and cancelled after the grace period.
    pub cancelled: usize,
    /// Never sent because of the interruption.
    pub not_sent: usize,
    /// `<run_dir>/benchmark_results.json`.
    pub results_file: PathBuf,
    /// The summary as printed by `modelbench run` (also in benchmark.log).
    pub summary: String,
    pub stats: RunStats,
}

/// Raises the soft limit on open files to the hard limit (thousands of concurrent streams need
/// thousands of sockets). Returns the resulting soft limit.
pub fn raise_open_files_limit() -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return None;
        }
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                r = want;
            }
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every platform
    Some(r.rlim_cur as u64)
}

/// The command line with the value of `--api-key` replaced by `***`, quoted like a shell would.
pub fn masked_command_line<S: AsRef<str>>(args: &[S]) -> String {
    let mut out: Vec<String> = Vec::with_capacity(args.len());
    let mut mask_next = false;
    for a in args {
        let a = a.as_ref();
        if mask_next {
            out.push("***".into());
            mask_next = false;
        } else if a == "--api-key" {
            out.push(a.into());
            mask_next = true;
        } else if a.starts_with("--api-key=") {
            out.push("--api-key=***".into());
        } else {
            out.push(a.into());
        }
    }
    shlex::try_join(out.iter().map(String::as_str)).unwrap_or_else(|_| out.join(" "))
}

pub(crate) fn write_err(path: PathBuf) -> impl FnOnce(std::io::Error) -> RunError {
    move |error| RunError::Write { path, error }
}

/// Runs one benchmark and writes its run folder. When `stop` turns true: stop sending, give
/// in-flight requests a few seconds, write what was measured marked interrupted.
pub async fn run_to_folder(
    settings: &BenchSettings,
    meta: &RunMeta,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<RunReport, RunError> {
    let clock = Clock::now();
    let started_at = chrono::Local::now();
    let nofile = raise_open_files_limit();
    crate::client::endpoint_url(&meta.base_url, settings.body.endpoint)?;
    // Everything that can fail on the user's input is checked before the run folder exists.
    let (tokenizer, wl) = bench::prepare_workload(settings).await?;
    let (dir, mut log) =
        bench::open_run_folder(settings, meta, &wl, tokenizer.as_deref(), started_at)?;
    let client = bench::make_client(settings, meta, &wl, tokenizer, nofile, &mut log)?;

    let warmup = bench::warm_up(&client, settings, &wl, &stop, &mut log).await;
    let n = wl.measured.len();
    let mut measured = if warmup.interrupted {
        PhaseOutcome {
            records: Vec::new(),
            not_sent: n,
            interrupted: true,
        }
    } else {
        let plan = bench::measured_plan(settings, &wl.measured);
        bench::phase(
            "benchmark",
            &client,
            wl.measured.clone(),
            plan,
            "",
            settings,
            &stop,
        )
        .await
    };
    measured.records.sort_by_key(|r| r.index);
    if let Some(t) = client.tokenizer() {
        // Every stream is over: counting now delays no timestamp.
        crate::records::count_deferred_output(&mut measured.records, t);
    }
    let (records, not_sent, interrupted) =
        (measured.records, measured.not_sent, measured.interrupted);

    let stats = RunStats::from_records(&records);
    let ctx = report::SummaryContext {
        model: &settings.args.model,
        run_dir: &dir,
        interrupted,
        not_sent,
        approximate: wl.approximate.as_deref(),
    };
    let summary = report::summary_text(&stats, &ctx);
    let doc = folder::results_doc(
        settings,
        meta,
        &wl,
        (&stats, &records, &warmup.records),
        (clock, started_at),
        (interrupted, not_sent),
        client.timestamp_source(),
    );
    let results_file =
        crate::results::write::write_results(&dir, &doc).map_err(write_err(dir.clone()))?;
    log.info(&summary);
    let unended = client.unended_bodies();
    if unended > 0 {
        log.warn(&format!(
            "{unended} responses did not end their HTTP body within {} ms after data: [DONE]: \
             counted (timed to [DONE]), their connections closed instead of reused",
            crate::client::exchange::DONE_GRACE.as_millis()
        ));
    }
    if interrupted {
        log.warn("the run was interrupted: results are marked interrupted");
    }
    Ok(RunReport {
        run_dir: dir,
        successful: stats.successful,
        failed: stats.failed,
        interrupted,
        cancelled: stats.cancelled,
        not_sent,
        results_file,
        summary,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_api_key() {
        let line = masked_command_line(&[
            "modelbench",
            "run",
            "--api-key",
            "sk-1",
            "--model",
            "a b",
            "--api-key=sk-2",
        ]);
        assert_eq!(
            line,
            "modelbench run --api-key '***' --model 'a b' '--api-key=***'"
        );
        assert!(!line.contains("sk-"));
    }

    #[test]
    fn open_files_limit_is_raised_to_the_hard_limit() {
        let soft = raise_open_files_limit().unwrap();
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: reads into a local struct.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
        #[allow(clippy::unnecessary_cast)]
        let cur = r.rlim_cur as u64;
        assert_eq!(soft, cur);
        assert_eq!(r.rlim_cur, r.rlim_max);
    }
}
