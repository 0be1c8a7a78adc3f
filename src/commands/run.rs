//! `modelbench run`: validate the flags, run one benchmark against one server, print the summary.
//!
//! Exit status: 0 when at least one request succeeded; 1 when none did (the results are still
//! written); 130 when interrupted (Ctrl-C / SIGTERM; results written, marked interrupted).

use std::process::ExitCode;

use anyhow::Context;
use tokio::sync::watch;

use crate::cli::RunArgs;
use crate::results::{ConfigKey, Parallelism};
use crate::runner::{
    self, masked_command_line, run_to_folder, BenchSettings, RunMeta, INTERRUPT_GRACE,
};

/// Turns Ctrl-C / SIGTERM into the stop signal; a second Ctrl-C exits at once.
async fn watch_signals(tx: watch::Sender<bool>) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        #[cfg(unix)]
        let term_fut = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term_fut = std::future::pending::<()>();
        tokio::select! {
            r = tokio::signal::ctrl_c() => if r.is_err() { return },
            _ = term_fut => {}
        }
        if *tx.borrow() {
            eprintln!("\nsecond interrupt: exiting without writing results");
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupted: no new requests; waiting up to {} s for those in flight, then writing the results (Ctrl-C again to quit now)",
            INTERRUPT_GRACE.as_secs()
        );
        let _ = tx.send(true);
    }
}

pub fn execute(args: RunArgs) -> anyhow::Result<ExitCode> {
    crate::results::names::model_folder_name(&args.bench.model).context("--model")?;
    let settings = BenchSettings::from_args(&args.bench)?;
    crate::client::api_root(&args.base_url)?;
    for (flag, v) in [("--tp", args.tp), ("--dp", args.dp), ("--pp", args.pp)] {
        anyhow::ensure!(v >= 1, "{flag}: must be at least 1");
    }
    let argv: Vec<String> = std::env::args().collect();
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
        command_line: masked_command_line(&argv),
        run_dir: None,
    };
    let rt = runner::runtime(settings.read_coalesce).context("cannot start the async runtime")?;
    let report = rt.block_on(async {
        let (tx, rx) = watch::channel(false);
        let signals = tokio::spawn(watch_signals(tx));
        let r = run_to_folder(&settings, &meta, rx).await;
        signals.abort();
        r
    });
    let report = report.with_context(|| {
        format!(
            "benchmark of {} at {} failed",
            settings.args.model, args.base_url
        )
    })?;
    println!("{}", report.summary);
    if report.interrupted {
        eprintln!(
            "interrupted: partial results written to {}",
            report.results_file.display()
        );
        return Ok(ExitCode::from(130));
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
