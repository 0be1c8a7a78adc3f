//! Runs the plan: for each planned run, a run folder, the server, the readiness wait, a warm-up
//! request, the benchmark (`runner::run_to_folder`, exactly what `modelbench run` does), then
//! the server is stopped and the outcome recorded. A failing configuration is recorded and the
//! sweep goes on; a signal stops the current run and ends the sweep; the server group is
//! stopped on every path.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::command::ServeTemplate;
use super::logscan::{explain, file_len, read_end, tail};
use super::plan::PlannedRun;
use super::progress::{Phase, Progress};
use super::server::{wait_port_free, ReadyCheck, ReadyError, ServerError, ServerProcess};
use super::state::{
    create_run_dir, set_aside_results, PlannedRunInfo, StateError, Status, StatusRecord, SERVER_LOG,
};
use super::summary::{CapacityEntry, RunEntry, SweepState, SweepSummary};
use crate::export::table::fmt_value;
use crate::metrics::Metric;
use crate::runner::{levels, run_to_folder, BenchSettings, RunError, RunMeta, RunReport};
use crate::signals::Signals;

/// Lines of server.log kept with a failure.
const TAIL_LINES: usize = 40;
/// How long a port may stay busy after our server stopped.
const PORT_WAIT: Duration = Duration::from_secs(30);
/// How long the port may be busy before the first server (nothing of ours holds it then).
const FIRST_PORT_WAIT: Duration = Duration::from_secs(2);
/// How long a server that may be dying is watched after a benchmark with failed requests.
const EXIT_NOTICE: Duration = Duration::from_secs(2);
/// How long the server's last output may take to reach server.log (through its copier).
const LOG_FLUSH: Duration = Duration::from_secs(2);
/// How often the server is checked during the benchmark.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// Everything the driver needs besides the plan.
#[derive(Debug, Clone)]
pub struct SweepSettings {
    pub bench: BenchSettings,
    pub template: ServeTemplate,
    /// `<output-dir>/<model with / as _>`.
    pub model_dir: PathBuf,
    pub startup_timeout: Duration,
    pub stop_grace: Duration,
    /// modelbench's own command line (API key masked).
    pub command_line: String,
}

/// An error that ends the whole sweep (after the server was stopped).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The benchmark itself cannot run (settings, workload, tokenizer, disk): every other
    /// configuration would fail the same way.
    #[error("the benchmark cannot run: {0}")]
    Benchmark(String),
}

/// How one run ended.
#[derive(Debug)]
struct Ended {
    status: Status,
    phase: Phase,
    reason: Option<String>,
    server_exit: Option<String>,
    report: Option<RunReport>,
    /// The failure does not depend on the configuration (the error): end the sweep.
    fatal: Option<String>,
    /// The load level (`concurrency 16`), once it ran.
    load: Option<String>,
}

impl Ended {
    fn new(status: Status, phase: Phase, reason: Option<String>) -> Ended {
        Ended {
            status,
            phase,
            reason,
            server_exit: None,
            report: None,
            fatal: None,
            load: None,
        }
    }
}

/// Runs every planned run; the summary is rewritten after each one. Returns `Err` only for
/// errors that make going on pointless (cannot write, port held by another program, server
/// command not found), after recording them in the summary.
pub async fn run_plan(
    settings: &SweepSettings,
    plan: &[PlannedRun],
    summary: &mut SweepSummary,
    signals: &Signals,
) -> Result<(), SweepError> {
    let mut progress = Progress::new(plan.len());
    summary.write(progress.elapsed())?;
    for (i, run) in plan.iter().enumerate() {
        if signals.stopped() {
            break;
        }
        progress.begin(i + 1, &run.label());
        let outcome = run_one(settings, run, i == 0, signals, &mut progress).await;
        progress.end();
        match outcome {
            Ok(entries) => {
                for entry in &entries {
                    print_outcome(entry);
                }
                summary.runs.extend(entries);
                summary.write(progress.elapsed())?;
            }
            Err((entry, e)) => {
                summary.runs.extend(entry);
                summary.state = SweepState::Aborted;
                summary.error = Some(e.to_string());
                summary.write(progress.elapsed())?;
                return Err(e);
            }
        }
    }
    summary.state = if signals.stopped() {
        SweepState::Interrupted
    } else {
        SweepState::Finished
    };
    summary.write(progress.elapsed())?;
    Ok(())
}

fn print_outcome(entry: &RunEntry) {
    match entry.status {
        Status::Complete => {
            eprintln!("  complete: {}", entry.run_dir.display());
            if let Ok(run) = crate::results::read::read_run(&entry.run_dir) {
                let v = |m| fmt_value(run.values.get(m));
                eprintln!(
                    "  {} tok/s, e2e p50 {} ms, ttft p50 {} ms, itl p50 {} ms",
                    v(Metric::Throughput),
                    v(Metric::TotalLatencyP50),
                    v(Metric::TtftP50),
                    v(Metric::InterTokenP50)
                );
            }
            for line in crate::server_metrics::recorded_self_check(&entry.run_dir) {
                eprintln!("  self-check: {line}");
            }
        }
        Status::Interrupted => eprintln!("  interrupted: {}", entry.run_dir.display()),
        _ => {
            eprintln!(
                "  FAILED: {}",
                entry.reason.as_deref().unwrap_or("unknown reason")
            );
            eprintln!("  server log: {}", entry.run_dir.join(SERVER_LOG).display());
        }
    }
}

/// The entries of one planned run (one per load level), or those written before an error that
/// ends the sweep.
type RunResult = Result<Vec<RunEntry>, (Vec<RunEntry>, SweepError)>;

/// One planned run, from creating its folder to the port being free again. `first`: the
/// sweep's first run (the port is not waited for long).
async fn run_one(
    settings: &SweepSettings,
    run: &PlannedRun,
    first: bool,
    signals: &Signals,
    progress: &mut Progress,
) -> RunResult {
    let started = Instant::now();
    let run_dir = create_run_dir(&settings.model_dir)
        .await
        .map_err(|e| (Vec::new(), e.into()))?;
    let argv = settings.template.argv(&run.config);
    let info = PlannedRunInfo {
        repeat: run.repeat,
        repeats: run.repeats,
    };
    let mut record = StatusRecord::start(&settings.bench.model, &run.config, &info, argv.clone());
    record.write(&run_dir).map_err(|e| (Vec::new(), e.into()))?;
    let log_path = run_dir.join(SERVER_LOG);

    // A failure that ends the sweep, recorded in the run folder first.
    let fatal = |mut record: StatusRecord, e: SweepError| {
        record.status = Status::Failed;
        record.reason = Some(e.to_string());
        record.finished_at = Some(chrono::Local::now().to_rfc3339());
        let _ = record.write(&run_dir);
        let entry = entry_from(&record, &run_dir, started.elapsed());
        (vec![entry], e)
    };

    progress.phase(Phase::StartingServer);
    let port_wait = if first { FIRST_PORT_WAIT } else { PORT_WAIT };
    if let Err(e) = wait_port_free(settings.template.port, port_wait).await {
        return Err(fatal(record, e.into()));
    }
    let mut server = match ServerProcess::spawn(&argv, &log_path) {
        Ok(s) => s,
        Err(e) => return Err(fatal(record, e.into())),
    };
    let Benched {
        main: mut ended,
        more,
        capacity,
    } = serve_and_bench(settings, run, &run_dir, &mut server, signals, progress).await;

    progress.phase(Phase::Stopping);
    if ended.server_exit.is_none() {
        ended.server_exit = server
            .exit_status()
            .filter(|_| ended.status == Status::Failed);
    }
    // What the server wrote before being told to stop (after that: shutdown noise).
    server.flush_log(LOG_FLUSH).await;
    let log_len_at_stop = file_len(&log_path);
    let mut hurry = signals.hurry.clone();
    let stop = server.stop(settings.stop_grace, &mut hurry).await;
    if stop.killed {
        progress.note(&format!(
            "  the server did not stop within {:.0} s of SIGTERM: killed its process group \
             (still running: {})",
            settings.stop_grace.as_secs_f64(),
            stop.stubborn.join("; ")
        ));
    }
    if !stop.survivors.is_empty() {
        progress.note(&format!(
            "  WARNING: processes {:?} survived SIGKILL (uninterruptible?)",
            stop.survivors
        ));
    }
    drop(server);

    record.status = ended.status;
    record.finished_at = Some(chrono::Local::now().to_rfc3339());
    record.duration_s = Some(started.elapsed().as_secs_f64());
    record.server_exit = ended.server_exit.clone();
    if let Some(r) = &ended.report {
        record.successful_requests = Some(r.successful);
        record.failed_requests = Some(r.failed);
    }
    if ended.status != Status::Complete {
        record.phase = Some(ended.phase.to_string());
    }
    if ended.status == Status::Failed {
        record.log_tail = tail(&read_end(&log_path, None), TAIL_LINES);
        let before_stop = read_end(&log_path, Some(log_len_at_stop));
        // The root cause in server.log first (a dead worker, an exception), then what
        // modelbench saw (HTTP 500, exit, timeout); a configuration-independent error as is.
        record.reason = Some(match ended.reason.take() {
            Some(r) if ended.fatal.is_some() => r,
            observed => explain(observed.as_deref(), &before_stop),
        });
    } else {
        record.reason = ended.reason.take();
    }
    record.results_file = settle_results(&run_dir, record.status);
    record.load = ended.load.take();
    if stop.survivors.is_empty() {
        if let Err(e) = wait_port_free(settings.template.port, PORT_WAIT).await {
            return Err(fatal(record, e.into()));
        }
    }
    record.write(&run_dir).map_err(|e| (Vec::new(), e.into()))?;
    let mut entries = vec![entry_from(&record, &run_dir, started.elapsed())];
    entries[0].capacity = capacity
        .as_ref()
        .map(|c| CapacityEntry::new(c, run.config.gpus()));
    let mut fatal_error = ended.fatal;
    // The other levels: each folder gets the configuration's record with its own verdict.
    for level in more {
        let e = level.ended;
        let mut r = record.clone();
        r.status = e.status;
        r.reason = e.reason;
        r.server_exit = e.server_exit;
        r.phase = (e.status != Status::Complete).then(|| e.phase.to_string());
        r.successful_requests = e.report.as_ref().map(|x| x.successful);
        r.failed_requests = e.report.as_ref().map(|x| x.failed);
        r.log_tail = Vec::new();
        r.load = Some(level.load);
        r.results_file = settle_results(&level.dir, r.status);
        r.write(&level.dir)
            .map_err(|err| (entries.clone(), err.into()))?;
        entries.push(entry_from(&r, &level.dir, started.elapsed()));
        fatal_error = fatal_error.or(e.fatal);
    }
    if let Some(error) = fatal_error {
        return Err((entries, SweepError::Benchmark(error)));
    }
    Ok(entries)
}

/// A failed run's results are set aside (out of `compare`'s way); returns the results file
/// the folder holds.
fn settle_results(dir: &Path, status: Status) -> Option<String> {
    if status == Status::Failed {
        return set_aside_results(dir);
    }
    let name = crate::results::read::RESULTS_FILE;
    dir.join(name).exists().then(|| name.to_owned())
}

fn entry_from(record: &StatusRecord, run_dir: &Path, elapsed: Duration) -> RunEntry {
    RunEntry {
        label: record.label.clone(),
        config: record.config.clone(),
        repeat: record.repeat,
        repeats: record.repeats,
        status: record.status,
        run_dir: run_dir.to_path_buf(),
        reason: record.reason.clone(),
        server_exit: record.server_exit.clone(),
        duration_s: elapsed.as_secs_f64(),
        log_tail: record.log_tail.clone(),
        load: record.load.clone(),
        capacity: None,
    }
}

/// Readiness, warm-up and benchmark of a started server.
async fn serve_and_bench(
    settings: &SweepSettings,
    run: &PlannedRun,
    run_dir: &Path,
    server: &mut ServerProcess,
    signals: &Signals,
    progress: &mut Progress,
) -> Benched {
    let base_url = settings.template.base_url();
    let check = ReadyCheck {
        base_url: &base_url,
        model: &settings.bench.model,
        api_key: settings.bench.api_key.as_deref(),
        timeout: settings.startup_timeout,
    };
    let mut stop = signals.stop.clone();
    match server.wait_ready(&check, &mut stop).await {
        Ok(()) => {}
        Err(ReadyError::Interrupted) => {
            return Ended::new(
                Status::Interrupted,
                Phase::StartingServer,
                Some("stopped by a signal".into()),
            )
            .into()
        }
        Err(ReadyError::Exited(status)) => {
            let mut e = Ended::new(
                Status::Failed,
                Phase::StartingServer,
                Some(format!("server exited during startup ({status})")),
            );
            e.server_exit = Some(status);
            return e.into();
        }
        Err(ReadyError::Timeout {
            waited_s,
            last_seen,
        }) => {
            let reason = format!("server not ready after {waited_s:.0} s ({last_seen})");
            return Ended::new(Status::Failed, Phase::StartingServer, Some(reason)).into();
        }
    }

    progress.phase(Phase::WarmingUp);
    let warm = tokio::select! {
        r = crate::runner::bench::ready_request(&settings.bench, &base_url) => r,
        _ = wait_true(&mut stop) => return Ended::new(Status::Interrupted, Phase::WarmingUp, Some("stopped by a signal".into())).into(),
    };
    if let Err(reason) = warm {
        let mut e = Ended::new(Status::Failed, Phase::WarmingUp, Some(reason));
        e.server_exit = server.exit_status();
        return e.into();
    }

    progress.phase(Phase::Benchmarking);
    let meta = RunMeta {
        base_url: base_url.clone(),
        config: run.config.key,
        extra_config: run.config.extra_config(),
        command_line: settings.command_line.clone(),
        run_dir: None,
        capacity_search: None,
        tls: Default::default(),
        server_command: Some(crate::sweep::command::display(
            &settings.template.argv(&run.config),
        )),
    };
    // Every level (or probe) against this one server: the first in the planned run folder,
    // the others in new folders of their own. Each level's verdict is kept in `done`.
    let server = RefCell::new(server);
    let done: RefCell<Vec<LevelDone>> = RefCell::new(Vec::new());
    let mut first = Some(run_dir.to_path_buf());
    let level = |s: BenchSettings, mut m: RunMeta| {
        let dir = first.take();
        let (server, done) = (&server, &done);
        async move {
            let dir = match dir {
                Some(d) => d,
                None => create_run_dir(&settings.model_dir)
                    .await
                    .map_err(|e| RunError::Other(e.to_string()))?,
            };
            m.run_dir = Some(dir.clone());
            let probe = m.capacity_search.is_some();
            let (result, died) = bench_watched(&s, &m, server, signals).await;
            let mut ended = judge(s.max_failed_fraction, result, died, signals.stopped());
            if probe && ended.status == Status::Failed && ended.server_exit.is_none() {
                // An overloaded probe is an answer of the search, not a failure of the
                // configuration (its verdict is in the capacity file).
                if let Some(r) = &ended.report {
                    ended.status = Status::Complete;
                    ended.reason = Some(format!(
                        "capacity probe: {} of {} requests failed",
                        r.failed,
                        r.successful + r.failed
                    ));
                }
            }
            let outcome = match (&ended.report, ended.server_exit.as_ref(), &ended.fatal) {
                (_, Some(exit), _) => Err(RunError::Other(format!(
                    "server exited during the benchmark ({exit})"
                ))),
                (_, _, Some(fatal)) => Err(RunError::Other(fatal.clone())),
                (Some(r), None, None) => Ok(r.clone()),
                (None, None, None) => Err(RunError::Other(
                    ended
                        .reason
                        .clone()
                        .unwrap_or_else(|| "benchmark failed".into()),
                )),
            };
            done.borrow_mut().push(LevelDone {
                dir,
                load: s.load.level_label(),
                ended,
            });
            outcome
        }
    };
    let capacity = match &settings.bench.search {
        Some(spec) => {
            let c = levels::find_max(&settings.bench, spec, &meta, level).await;
            for line in levels::capacity_text(&c, &settings.bench).lines() {
                progress.note(&format!("  {line}"));
            }
            Some(c)
        }
        None => {
            let ascent = levels::ascend(&settings.bench, &meta, level).await;
            if let Some(stopped) = ascent.stopped.filter(|_| settings.bench.levels.len() > 1) {
                progress.note(&format!("  {stopped}"));
            }
            None
        }
    };
    let mut done = done.into_inner().into_iter();
    let Some(main) = done.next() else {
        return Benched::from(Ended::new(
            Status::Failed,
            Phase::Benchmarking,
            Some("no benchmark ran".into()),
        ));
    };
    let mut main_ended = main.ended;
    main_ended.load = Some(main.load);
    Benched {
        main: main_ended,
        more: done.collect(),
        capacity,
    }
}

/// One level (or probe) that ran against the server, in its own folder.
#[derive(Debug)]
struct LevelDone {
    dir: PathBuf,
    load: String,
    ended: Ended,
}

/// Everything that ran against one server: the planned run folder's verdict, the other
/// levels, and the capacity search.
#[derive(Debug)]
struct Benched {
    main: Ended,
    more: Vec<LevelDone>,
    capacity: Option<levels::Capacity>,
}

impl From<Ended> for Benched {
    fn from(main: Ended) -> Benched {
        Benched {
            main,
            more: Vec::new(),
            capacity: None,
        }
    }
}

/// One benchmark while the server is watched: a server that exits stops it. Returns the
/// result and the server's exit status if it exited.
async fn bench_watched(
    settings: &BenchSettings,
    meta: &RunMeta,
    server: &RefCell<&mut ServerProcess>,
    signals: &Signals,
) -> (Result<RunReport, RunError>, Option<String>) {
    let mut stop = signals.stop.clone();
    let (bench_stop, bench_rx) = watch::channel(false);
    let bench = run_to_folder(
        settings,
        meta,
        Signals::from_channels(bench_rx, signals.hurry.clone()),
    );
    tokio::pin!(bench);
    let mut died: Option<String> = None;
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    if signals.stopped() {
        bench_stop.send_replace(true);
    }
    let result = loop {
        tokio::select! {
            r = &mut bench => break r,
            _ = wait_true(&mut stop), if !*bench_stop.borrow() => { bench_stop.send_replace(true); }
            _ = tick.tick(), if died.is_none() => {
                let status = server.borrow_mut().exit_status();
                if let Some(status) = status {
                    died = Some(status);
                    bench_stop.send_replace(true);
                }
            }
        }
    };
    // Requests fail fast once the server is gone, so the benchmark may end before the watch
    // above saw the exit: when requests failed, give a dying server a moment to be noticed.
    if died.is_none() {
        let failed = result.as_ref().map_or(true, |r| r.failed > 0);
        let deadline = Instant::now() + if failed { EXIT_NOTICE } else { Duration::ZERO };
        loop {
            died = server.borrow_mut().exit_status();
            if died.is_some() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    (result, died)
}

/// Benchmark errors that would repeat for every configuration.
fn is_fatal(e: &RunError) -> bool {
    matches!(
        e,
        RunError::Settings(_)
            | RunError::Write { .. }
            | RunError::Workload(_)
            | RunError::Client(_)
    )
}

/// The outcome of a finished benchmark.
fn judge(
    max_failed_fraction: f64,
    result: Result<RunReport, RunError>,
    died: Option<String>,
    signalled: bool,
) -> Ended {
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let mut ended = Ended::new(
                Status::Failed,
                Phase::Benchmarking,
                Some(format!("benchmark failed: {e}")),
            );
            ended.fatal = is_fatal(&e).then(|| e.to_string());
            ended.server_exit = died;
            return ended;
        }
    };
    let mut ended = Ended::new(Status::Complete, Phase::Benchmarking, None);
    if let Some(status) = died {
        ended.status = Status::Failed;
        ended.reason = Some(format!("server exited during the benchmark ({status})"));
        ended.server_exit = Some(status);
    } else if report.internal_errors > 0 {
        ended.status = Status::Failed;
        ended.reason = Some(format!(
            "{} request(s) hit an internal error in modelbench",
            report.internal_errors
        ));
    } else if signalled && report.interrupted {
        ended.status = Status::Interrupted;
        ended.reason = Some("stopped by a signal; results saved, marked interrupted".into());
    } else if let Some(why) = crate::runner::levels::bad_level(&report, max_failed_fraction) {
        ended.status = Status::Failed;
        ended.reason = Some(why);
    } else if report.interrupted {
        ended.status = Status::Interrupted;
        ended.reason = Some("the benchmark stopped early (interrupted)".into());
    }
    ended.report = Some(report);
    ended
}

/// Resolves once the watched flag is true (never, if its sender is gone while false).
async fn wait_true(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::SettingsError;

    fn report(successful: usize, failed: usize, interrupted: bool) -> Result<RunReport, RunError> {
        Ok(crate::runner::test_report(successful, failed, interrupted))
    }

    #[test]
    fn judges_benchmark_outcomes() {
        let e = judge(0.5, report(10, 0, false), None, false);
        assert_eq!((e.status, e.reason), (Status::Complete, None));
        let e = judge(0.5, report(4, 5, false), None, false);
        assert_eq!(e.status, Status::Failed);
        assert_eq!(
            e.reason.unwrap(),
            "5 of 9 requests failed (more than --max-failed-fraction 0.5)"
        );
        assert_eq!(
            judge(0.5, report(5, 5, false), None, false).status,
            Status::Complete
        );
        assert_eq!(
            judge(1.0, report(0, 0, false), None, false).status,
            Status::Failed,
            "nothing succeeded"
        );
        let e = judge(0.5, report(3, 1, true), Some("exit code 1".into()), false);
        assert_eq!(e.status, Status::Failed);
        assert_eq!(
            e.reason.unwrap(),
            "server exited during the benchmark (exit code 1)"
        );
        assert_eq!(e.server_exit.as_deref(), Some("exit code 1"));
        assert_eq!(
            judge(0.5, report(3, 0, true), None, true).status,
            Status::Interrupted
        );
        assert_eq!(
            judge(0.5, report(0, 0, true), None, true).status,
            Status::Interrupted
        );
    }

    #[test]
    fn configuration_independent_errors_are_fatal() {
        let settings = RunError::Settings(SettingsError::Invalid {
            flag: "--x",
            message: "bad".into(),
        });
        let e = judge(0.5, Err(settings), None, false);
        assert_eq!(e.status, Status::Failed);
        assert_eq!(e.fatal.as_deref(), Some("--x: bad"));
        let e = judge(
            0.5,
            Err(RunError::Other("connection refused".into())),
            None,
            false,
        );
        assert_eq!((e.status, e.fatal), (Status::Failed, None));
    }
}
