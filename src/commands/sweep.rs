//! `modelbench sweep`: validate the flags, build the grid and plan, print it (`--dry-run`) or
//! run it, then print the results table and what failed or was skipped.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cli::SweepArgs;
use crate::results::names::model_folder_name;
use crate::runner::{self, masked_command_line, BenchSettings};
use crate::sweep::command::ServeTemplate;
use crate::sweep::driver::{run_plan, SweepSettings};
use crate::sweep::grid::GridSpec;
use crate::sweep::plan::{make_plan, render};
use crate::sweep::report::{closing, runs_table};
use crate::sweep::server::become_subreaper;
use crate::sweep::signals::Signals;
use crate::sweep::state::{complete_results, count_complete, Status};
use crate::sweep::summary::{SweepState, SweepSummary};

fn seconds(flag: &str, v: f64, allow_zero: bool) -> anyhow::Result<Duration> {
    if !v.is_finite() || v < 0.0 || (!allow_zero && v == 0.0) || v > 1e7 {
        bail!("{flag}: {v} is not a valid number of seconds");
    }
    Ok(Duration::from_secs_f64(v))
}

fn grid(args: &SweepArgs) -> anyhow::Result<GridSpec> {
    match &args.grid {
        Some(path) => {
            if !(args.tp.is_empty()
                && args.dp.is_empty()
                && args.pp.is_empty()
                && args.max_num_batched_tokens.is_empty()
                && args.serve_args.is_empty())
            {
                bail!("--grid: cannot be combined with --tp/--dp/--pp/--max-num-batched-tokens/--serve-arg (put every axis in the file)");
            }
            Ok(GridSpec::from_toml_file(path)?)
        }
        None => Ok(GridSpec::from_flags(
            &args.tp,
            &args.dp,
            &args.pp,
            &args.max_num_batched_tokens,
            &args.serve_args,
        )?),
    }
}

pub fn execute(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let configs = grid(&args)?.expand();
    if args.repeats == 0 {
        bail!("--repeats: must be at least 1");
    }
    if args.gpus == Some(0) {
        bail!("--gpus: must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.max_failed_fraction) {
        bail!(
            "--max-failed-fraction: {} is not between 0 and 1",
            args.max_failed_fraction
        );
    }
    let startup_timeout = seconds("--startup-timeout", args.startup_timeout, false)?;
    let stop_grace = seconds("--stop-grace", args.stop_grace, true)?;
    let model = &args.bench.model;
    let model_folder = model_folder_name(model).context("--model")?;
    let template = ServeTemplate::new(
        &args.serve_cmd,
        model,
        args.serve_model.as_deref(),
        args.serve_extra.as_deref(),
        args.port,
    )?;
    let bench = BenchSettings::from_args(&args.bench)?;
    let model_dir = args.bench.output_dir.join(model_folder);
    let complete = if args.resume {
        complete_results(&model_dir)
    } else {
        Vec::new()
    };
    let plan = make_plan(&configs, args.gpus, args.repeats, |c| {
        count_complete(&complete, c)
    });

    if args.dry_run {
        print!("{}", render(&plan, &template, model));
        return Ok(ExitCode::SUCCESS);
    }
    let argv: Vec<String> = std::env::args().collect();
    let command_line = masked_command_line(&argv);
    let mut summary =
        SweepSummary::new(&model_dir, model, &command_line, &plan.runs, &plan.skipped);
    if plan.runs.is_empty() {
        summary.state = SweepState::Finished;
        summary.write(Duration::ZERO)?;
        println!("Nothing to run.");
        print!("{}", closing(&summary));
        return Ok(ExitCode::SUCCESS);
    }
    let settings = SweepSettings {
        bench,
        template,
        model_dir: model_dir.clone(),
        startup_timeout,
        stop_grace,
        max_failed_fraction: args.max_failed_fraction,
        command_line,
    };

    let runtime =
        runner::runtime(settings.bench.read_coalesce).context("cannot start the async runtime")?;
    if !become_subreaper() {
        eprintln!(
            "note: cannot become a child subreaper; orphaned server workers are reaped by init"
        );
    }
    let (result, first_signal) = runtime.block_on(async {
        let signals = Signals::install().context("cannot install the SIGINT/SIGTERM handlers")?;
        let r = run_plan(&settings, &plan.runs, &mut summary, &signals).await;
        anyhow::Ok((r, signals.first_signal()))
    })?;
    drop(runtime);

    println!();
    print!("{}", runs_table(&model_dir));
    print!("{}", closing(&summary));
    result?;
    if let Some(sig) = first_signal {
        return Ok(ExitCode::from(u8::try_from(128 + sig).unwrap_or(1)));
    }
    if summary.count(Status::Failed) > 0 || summary.count(Status::Interrupted) > 0 {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
