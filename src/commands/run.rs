//! `modelbench run`: validate the flags, run one benchmark against one server, print the summary.
//!
//! Exit status: 0 when at least one request succeeded; 1 when none did (the results are still
//! written); 130 when interrupted (Ctrl-C / SIGTERM; results written, marked interrupted).

use std::process::ExitCode;

use anyhow::Context;

use super::settings::bench_settings;
use crate::cli::RunArgs;
use crate::results::{ConfigKey, Parallelism};
use crate::runner::{self, run_to_folder, RunError, RunMeta};
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
    let settings = bench_settings(&args.bench)?;
    crate::client::api_root(&args.base_url)?;
    let meta = RunMeta {
        base_url: args.base_url.clone(),
        config: ConfigKey {
            par: Parallelism {
                tp: args.tp,
                dp: args.dp,
                pp: args.pp,
            },
            max_num_batched_tokens: args.max_num_batched_tokens,
        },
        extra_config: Default::default(),
        command_line: crate::secrets::mask_command_line(&argv),
        run_dir: None,
    };
    let rt = runner::runtime(settings.read_coalesce).context("cannot start the async runtime")?;
    let report = rt.block_on(async {
        let signals = Signals::install(POLICY).context("cannot install the signal handlers")?;
        anyhow::Ok(run_to_folder(&settings, &meta, signals).await)
    })?;
    let report = match report {
        Ok(r) => r,
        Err(RunError::ResultsNotWritten {
            path,
            error,
            fallback,
            summary,
        }) => {
            // What was measured is shown (and kept where possible) even when the folder failed.
            println!("{summary}");
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
                crate::secrets::mask_url(&args.base_url)
            )))
        }
    };
    println!("{}", report.summary);
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
