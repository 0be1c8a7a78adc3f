//! `modelbench run`: validate the flags, run one benchmark against one server, print the summary.
//!
//! Several `--concurrency`/`--request-rate` levels run one after the other (one run folder
//! each); `--find-max` runs a capacity search instead.
//!
//! Exit status: 0 when at least one request succeeded; 1 when none did (the results are still
//! written); 130 when interrupted (Ctrl-C / SIGTERM; results written, marked interrupted).
//! With several levels, the first level that is not a success decides, and an ascent stopped
//! by a level that failed badly exits 1. A capacity search exits 1 when no level met the SLO.

use std::process::ExitCode;

use anyhow::Context;

use super::settings::bench_settings;
use crate::cli::RunArgs;
use crate::runner::{self, levels, run_to_folder, BenchSettings, RunError, RunMeta, RunReport};
use crate::signals::{Policy, Signals};

/// What signals do during a run (see [`crate::signals`]).
const POLICY: Policy = Policy {
    on_stop: "no new requests; in-flight requests get up to 5 s, then the results are written (send it again to cancel them now)",
    on_hurry: Some("cancelling the requests in flight; writing the results"),
    on_exit: "exiting without writing results",
    before_exit: || {},
};

pub fn execute(args: RunArgs) -> anyhow::Result<ExitCode> {
    let argv: Vec<String> = std::env::args().collect();
    crate::secrets::register_url(&args.base_url);
    crate::secrets::register_args(&argv);
    let settings =
        bench_settings(&args.bench)?.with_steady_warmup(args.bench.steady_warmup.unwrap_or(false));
    let root = crate::client::api_root(&args.base_url)?;
    crate::client::check_direct(&args.base_url)?;
    let tls = crate::client::tls::TlsSettings::load(
        args.ca_cert.as_deref(),
        args.insecure,
        root.scheme() == "https",
    )?;
    if tls.insecure {
        eprintln!(
            "warning: --insecure: the server's TLS certificate is not verified (recorded in run_info.tls)"
        );
    }
    let meta = RunMeta {
        base_url: args.base_url.clone(),
        config: args.served.config_key(),
        extra_config: Default::default(),
        command_line: crate::secrets::mask_command_line(&argv),
        run_dir: None,
        capacity_search: None,
        tls,
        server_command: None,
    };
    let rt = runner::runtime(settings.read_coalesce).context("cannot start the async runtime")?;
    let outcome = rt.block_on(async {
        let signals = Signals::install(POLICY).context("cannot install the signal handlers")?;
        // Each level prints its summary as soon as it is over.
        let run = |s: BenchSettings, m: RunMeta| {
            let signals = signals.clone();
            async move {
                let r = run_to_folder(&s, &m, signals).await;
                match &r {
                    Ok(report) => println!("{}", report.summary),
                    Err(RunError::ResultsNotWritten { summary, .. }) => println!("{summary}"),
                    Err(_) => {}
                }
                r
            }
        };
        anyhow::Ok(match &settings.search {
            Some(spec) => Outcome::Capacity(levels::find_max(&settings, spec, &meta, run).await),
            None => Outcome::Levels(levels::ascend(&settings, &meta, run).await),
        })
    })?;
    match outcome {
        Outcome::Levels(ascent) => {
            if settings.levels.len() > 1 {
                print!("{}", levels::ascent_text(&ascent, &settings));
            }
            levels_exit(ascent, &settings, &args.base_url)
        }
        Outcome::Capacity(capacity) => {
            println!("{}", levels::capacity_text(&capacity, &settings));
            capacity_exit(&capacity)
        }
    }
}

enum Outcome {
    Levels(levels::Ascent),
    Capacity(levels::Capacity),
}

/// The exit status of the levels: the first level that is not a success decides (130
/// interrupted, 1 failed); with several levels, a stopped ascent is a failure too.
fn levels_exit(
    ascent: levels::Ascent,
    settings: &BenchSettings,
    base_url: &str,
) -> anyhow::Result<ExitCode> {
    let several = settings.levels.len() > 1;
    let ran = ascent.runs.len();
    for run in ascent.runs {
        let code = level_exit(run.result, settings, base_url)?;
        if code != ExitCode::SUCCESS {
            if let Some(stopped) = ascent.stopped.as_deref().filter(|_| several) {
                eprintln!("{stopped}");
            }
            return Ok(code);
        }
    }
    if let Some(stopped) = &ascent.stopped {
        if several {
            eprintln!("error: {stopped}");
            if ran < settings.levels.len() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn capacity_exit(c: &levels::Capacity) -> anyhow::Result<ExitCode> {
    let interrupted = c
        .probes
        .iter()
        .any(|p| p.report.as_ref().is_some_and(|r| r.interrupted));
    if interrupted {
        return Ok(ExitCode::from(130));
    }
    if c.stopped.is_some() || c.write_error.is_some() {
        return Ok(ExitCode::FAILURE);
    }
    if c.max_meeting_slo.is_none() {
        eprintln!("error: no probed level meets the SLO");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// What one level's result means for the exit status (its summary is already printed).
fn level_exit(
    report: Result<RunReport, RunError>,
    settings: &BenchSettings,
    base_url: &str,
) -> anyhow::Result<ExitCode> {
    let report = match report {
        Ok(r) => r,
        Err(RunError::ResultsNotWritten {
            path,
            error,
            fallback,
            ..
        }) => {
            let e = RunError::ResultsNotWritten {
                path,
                error,
                fallback,
                summary: String::new(),
            };
            eprintln!("error: {}", crate::secrets::redact(&e.to_string()));
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "benchmark of {} at {} failed",
                settings.model,
                crate::secrets::mask_url(base_url)
            )))
        }
    };
    if report.interrupted {
        eprintln!(
            "interrupted: partial results written to {}",
            report.results_file.display()
        );
        return Ok(ExitCode::from(130));
    }
    if report.internal_errors > 0 {
        eprintln!(
            "error: {} request(s) hit an internal error (a bug in modelbench; recorded as failed); results written to {}",
            report.internal_errors,
            report.results_file.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    if report.successful == 0 {
        eprintln!(
            "error: no request succeeded ({} failed); results written to {}",
            report.failed,
            report.results_file.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
