//! One benchmark from start to finish: validated settings → workload → client → records →
//! stats → a run folder. Shared by `modelbench run` and `modelbench sweep`.
//!
//! CONTRACT (used by `sweep`; keep them): [`runtime`], [`BenchSettings`] (resolved by `commands::settings`), [`RunMeta`],
//! [`RunReport`], [`run_to_folder`].
//!
//! - [`settings`]: flag validation; [`bench`]: the steps of a run; [`load`]: closed/open loop
//!   release of requests and the interruption; [`progress`]: the stderr progress bar; [`report`]: the final summary;
//!   [`log`]: benchmark.log; [`folder`]: what goes into the run folder.

pub mod bench;
pub mod folder;
pub mod levels;
pub mod load;
pub mod log;
pub mod progress;
pub mod report;
pub mod settings;
pub mod timeline;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use settings::{BenchSettings, LoadMode};

use crate::client::ClientError;
use crate::records::Clock;
use crate::results::ConfigKey;
use crate::server_metrics::check::ClientCpu;
use crate::server_metrics::scrape::Scraper;
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
    /// The run finished but its results could not be written into the run folder (disk full,
    /// folder made read-only): they were written to `fallback` instead when possible.
    #[error("cannot write the results to {path}: {error}; {}", match fallback {
        Some(f) => format!("they were saved to {} instead", f.display()),
        None => "no fallback location could be written either: the results are lost".to_owned(),
    })]
    ResultsNotWritten {
        path: PathBuf,
        error: std::io::Error,
        fallback: Option<PathBuf>,
        /// The run's summary, so that it can still be printed.
        summary: String,
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
    /// The id of the capacity search this run is a probe of (`capacity_<timestamp>`).
    pub capacity_search: Option<String>,
    /// `--ca-cert`, `--insecure` for an `https://` base URL.
    pub tls: crate::client::tls::TlsSettings,
    /// The command that started the server (`sweep`), secrets masked; recorded in `run_info`.
    pub server_command: Option<String>,
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
    /// Requests (or the dispatcher) that hit a panic: a bug; the run must not count as good.
    pub internal_errors: usize,
    /// `<run_dir>/benchmark_results.json`.
    pub results_file: PathBuf,
    /// The summary as printed by `modelbench run` (also in benchmark.log).
    pub summary: String,
    pub stats: RunStats,
    /// With an SLO: goodput and attainment.
    pub goodput: Option<crate::slo::Goodput>,
}

/// Raises the soft limit on open files to the hard limit (thousands of concurrent streams need
/// thousands of sockets). Returns the resulting soft limit.
pub fn raise_open_files_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// Writes the results of a run whose folder could not take them to the temporary folder, else
/// the current folder; returns where.
fn write_fallback(
    dir: &std::path::Path,
    doc: &crate::results::write::ResultsDoc<'_>,
) -> Option<PathBuf> {
    let name = dir
        .iter()
        .rev()
        .take(2)
        .map(|c| c.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("-");
    let file = format!("modelbench-{name}-{}", crate::results::read::RESULTS_FILE);
    [std::env::temp_dir(), PathBuf::from(".")]
        .into_iter()
        .map(|d| d.join(&file))
        .find(|p| crate::results::write::write_json_atomic(p, doc).is_ok())
}

pub(crate) fn write_err(path: PathBuf) -> impl FnOnce(std::io::Error) -> RunError {
    move |error| RunError::Write { path, error }
}

/// Runs one benchmark and writes its run folder. When `stop` turns true: stop sending, give
/// in-flight requests a few seconds, write what was measured marked interrupted.
pub async fn run_to_folder(
    settings: &BenchSettings,
    meta: &RunMeta,
    stop: crate::signals::Signals,
) -> Result<RunReport, RunError> {
    let clock = Clock::now();
    let started_at = chrono::Local::now();
    let nofile = raise_open_files_limit();
    crate::client::endpoint_url(&meta.base_url, settings.body.endpoint)?;
    // Everything that can fail on the user's input is checked before the run folder exists.
    let (tokenizer, wl) = {
        let mut stopped = stop.stop.clone();
        tokio::select! {
            r = bench::prepare_workload(settings) => r?,
            Ok(_) = stopped.wait_for(|s| *s) => {
                return Err(RunError::Other(
                    "interrupted while the workload was being built: nothing was sent or written"
                        .to_owned(),
                ))
            }
        }
    };
    let (dir, mut log) =
        bench::open_run_folder(settings, meta, &wl, tokenizer.as_deref(), started_at)?;
    // Before any request: nothing is in flight while the server and host are asked.
    let (server_info, host_info) = tokio::join!(
        crate::environment::ServerInfo::fetch(&meta.base_url, &settings.model, &meta.tls),
        crate::environment::HostInfo::read()
    );
    let client = bench::make_client(settings, meta, &wl, tokenizer, nofile, &mut log)?;

    let (warmup, steady_warmup) = bench::warm_up(&client, settings, &wl, &stop, &mut log).await;
    let n = wl.measured.len();
    let scraper = match settings.server_metrics {
        Some(interval) if !warmup.interrupted => {
            match crate::server_metrics::scrape::metrics_url(&meta.base_url) {
                Some(url) => Some(Scraper::start(url, interval, clock.start, &meta.tls).await),
                None => None,
            }
        }
        _ => None,
    };
    let (thread0, process0) = ClientCpu::now();
    let wall0 = std::time::Instant::now();
    let mut measured = if warmup.interrupted {
        PhaseOutcome {
            records: Vec::new(),
            not_sent: n,
            interrupted: true,
            panicked: 0,
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
    let (thread1, process1) = ClientCpu::now();
    let cpu = ClientCpu {
        process_s: process1 - process0,
        runtime_thread_s: thread1 - thread0,
        wall_s: wall0.elapsed().as_secs_f64(),
    };
    let collected = match scraper {
        Some(s) => {
            let ok = measured.records.iter().filter(|r| r.is_ok()).count() as u64;
            Some(s.finish(ok).await)
        }
        None => None,
    };
    if let Some(w) = collected
        .as_ref()
        .and_then(|c| c.warning.as_ref().map(|w| (c, w)))
    {
        let (c, w) = w;
        log.warn(&format!(
            "server metrics: {} {w}; {}",
            crate::secrets::mask_url(&c.url),
            if c.scrapes() == 0 {
                "the run goes on without them".to_owned()
            } else {
                format!("scraping stopped after {} scrapes", c.scrapes())
            }
        ));
    }
    measured.records.sort_by_key(|r| r.index);
    if let Some(t) = client.tokenizer() {
        // Every stream is over: counting now delays no timestamp.
        crate::records::count_deferred_output(&mut measured.records, t);
    }
    let internal_errors = warmup.panicked + measured.panicked;
    let (records, not_sent, interrupted) =
        (measured.records, measured.not_sent, measured.interrupted);

    let stats = RunStats::from_records(&records);
    let goodput = folder::goodput(settings, &records, &stats);
    let check_lines =
        crate::server_metrics::check::lines(collected.as_ref(), &stats, &cpu, &records);
    let check_text = crate::server_metrics::check::text(&check_lines);
    if let Some(c) = collected.as_ref().filter(|c| c.scrapes() > 0) {
        if let Err(e) = crate::server_metrics::write_csv(&dir, c) {
            log.warn(&format!(
                "cannot write {}: {e}",
                dir.join(crate::server_metrics::CSV_FILE).display()
            ));
        }
    }
    let title = format!(
        "{} — {} — {}",
        settings.model,
        dir.file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        folder::load_description(&settings.load)
    );
    if let Err(e) = timeline::write(
        &dir,
        &title,
        &records,
        &clock,
        collected.as_ref(),
        settings.timeline,
    ) {
        log.warn(&format!(
            "cannot write the timeline chart in {}: {e}",
            dir.display()
        ));
    }
    let ctx = report::SummaryContext {
        model: &settings.model,
        run_dir: &dir,
        interrupted,
        not_sent,
        approximate: wl.approximate.as_deref(),
        goodput: settings.slo.as_ref().zip(goodput.as_ref()),
        self_check: Some(&check_text),
    };
    let summary = report::summary_text(&stats, &ctx);
    let mut doc = folder::results_doc(
        settings,
        meta,
        &wl,
        (&stats, &records, &warmup.records),
        (clock, started_at),
        (interrupted, not_sent, internal_errors),
        (client.timestamp_source(), client.tls_info()),
    );
    doc.run_info.push("steady_warmup", steady_warmup.is_some());
    doc.run_info.push(
        "steady_warmup_ttft_p50_ms",
        steady_warmup
            .as_ref()
            .map(|d| serde_json::Value::from(d.windows.clone())),
    );
    doc.run_info.push(
        "steady_warmup_reached",
        steady_warmup.as_ref().map(|d| d.reached),
    );
    doc.run_info.push("client_cpu_seconds", cpu.process_s);
    doc.run_info
        .push("client_runtime_thread_cpu_seconds", cpu.runtime_thread_s);
    crate::environment::record(
        &mut doc.run_info,
        &server_info,
        &host_info,
        meta.server_command.as_deref(),
    );
    doc.server_metrics = collected
        .as_ref()
        .map(|c| crate::server_metrics::block(c, &check_lines));
    log.info(&summary);
    let unended = client.unended_bodies();
    if unended > 0 {
        log.warn(&format!(
            "{unended} responses did not end their HTTP body within {} ms after data: [DONE]: \
             counted (timed to [DONE]), their connections closed instead of reused",
            crate::client::exchange::DONE_GRACE.as_millis()
        ));
    }
    let results_file = match crate::results::write::write_results(&dir, &doc) {
        Ok(f) => f,
        Err(error) => {
            let path = dir.join(crate::results::read::RESULTS_FILE);
            let fallback = write_fallback(&dir, &doc);
            let e = RunError::ResultsNotWritten {
                path,
                error,
                fallback,
                summary,
            };
            log.warn(&e.to_string());
            return Err(e);
        }
    };
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
        internal_errors,
        results_file,
        summary,
        stats,
        goodput,
    })
}

/// A finished run's report with these counts (tests of the verdicts on reports).
#[cfg(test)]
pub(crate) fn test_report(successful: usize, failed: usize, interrupted: bool) -> RunReport {
    RunReport {
        run_dir: PathBuf::from("r"),
        successful,
        failed,
        interrupted,
        cancelled: 0,
        not_sent: 0,
        internal_errors: 0,
        results_file: PathBuf::from("r/benchmark_results.json"),
        summary: String::new(),
        stats: Default::default(),
        goodput: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_files_limit_is_raised_to_the_hard_limit() {
        let soft = raise_open_files_limit().unwrap();
        let (cur, max) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert_eq!(soft, cur);
        assert_eq!(cur, max);
    }
}
