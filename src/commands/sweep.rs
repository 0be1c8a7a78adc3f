//! `modelbench sweep`: validate the flags, build the grid and plan, print it (`--dry-run`) or
//! run it, then print the results table and what failed or was skipped.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::settings::bench_settings;
use crate::cli::SweepArgs;
use crate::results::names::model_folder_name;
use crate::runner;
use crate::signals::{Policy, Signals};
use crate::sweep::command::ServeTemplate;
use crate::sweep::driver::{run_plan, SweepSettings};
use crate::sweep::grid::GridSpec;
use crate::sweep::plan::{make_plan, render};
use crate::sweep::report::{closing, runs_table};
use crate::sweep::server::become_subreaper;
use crate::sweep::state::{complete_results, count_complete, Status};
use crate::sweep::summary::{SweepState, SweepSummary};

/// What signals do during a sweep (see [`crate::signals`]).
const POLICY: Policy = Policy {
    on_stop: "stopping the benchmark and the server (send it again to kill the server at once)",
    on_hurry: Some("killing the server group now"),
    on_exit: "killing the server group and exiting",
    before_exit: crate::sweep::server::kill_active_group,
};

fn grid(args: &SweepArgs) -> anyhow::Result<GridSpec> {
    match &args.grid {
        // clap refuses --grid together with the axis flags.
        Some(path) => Ok(GridSpec::from_toml_file(path)?),
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
    let argv: Vec<String> = std::env::args().collect();
    crate::secrets::register_args(&argv);
    let configs = grid(&args)?.expand();
    let (startup_timeout, stop_grace) = (args.startup_timeout, args.stop_grace);
    let model = &args.bench.model;
    let model_folder = model_folder_name(model).context("--model")?;
    let template = ServeTemplate::new(
        &args.serve_cmd,
        model,
        args.serve_model.as_deref(),
        args.serve_extra.as_deref(),
        args.port,
    )?;
    // Each configuration starts a fresh server: warm it up until steady unless told not to.
    let bench =
        bench_settings(&args.bench)?.with_steady_warmup(args.bench.steady_warmup.unwrap_or(true));
    let model_dir = args.bench.output_dir.join(model_folder);
    if args.resume && bench.search.is_some() {
        anyhow::bail!("--resume: not supported with --find-max (a search is run whole)");
    }
    let complete = if args.resume {
        complete_results(&model_dir)
    } else {
        Vec::new()
    };
    // Every load level leaves a complete folder: a repeat is done when all its levels are.
    let levels = bench.levels.len().max(1);
    let plan = make_plan(&configs, args.gpus, args.repeats, |c| {
        count_complete(&complete, c) / levels
    });

    if args.dry_run {
        print!("{}", render(&plan, &template, model));
        match &bench.search {
            Some(spec) => println!(
                "Against each server: a capacity search over {} from {}.",
                spec.axis.name(),
                spec.start
            ),
            None if bench.levels.len() > 1 => println!(
                "Against each server, one run folder per level: {}.",
                bench
                    .levels
                    .iter()
                    .map(|l| l.level_label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => {}
        }
        return Ok(ExitCode::SUCCESS);
    }
    let command_line = crate::secrets::mask_command_line(&argv);
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
        let signals = Signals::install(POLICY).context("cannot install the signal handlers")?;
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
