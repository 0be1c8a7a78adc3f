//! `modelbench sweep`: validate the flags, build the grid and plan, print it (`--dry-run`) or
//! run it, then print the results table and what failed or was skipped.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::settings::bench_settings;
use crate::cli::{EmitKind, SweepArgs};
use crate::results::names::model_folder_name;
use crate::runner;
use crate::signals::{Policy, Signals};
use crate::sweep::command::ServeTemplate;
use crate::sweep::driver::{run_plan, SweepSettings};
use crate::sweep::emit::{EmitSettings, Gres, Group};
use crate::sweep::grid::GridSpec;
use crate::sweep::plan::{make_plan, render};
use crate::sweep::report::{closing, runs_table};
use crate::sweep::server::become_subreaper;
use crate::sweep::shard::{with_gpus, Shard};
use crate::sweep::state::{complete_results, count_complete, mark_abandoned, Status};
use crate::sweep::summary::{ShardEntry, SweepState, SweepSummary};

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
    let mut configs = grid(&args)?.expand();
    if let Some(g) = args.only_gpus {
        configs = with_gpus(&configs, u64::from(g));
    }
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
    if let Some(kind) = args.emit {
        print!("{}", emit(&args, &argv, kind, &configs, &bench)?);
        return Ok(ExitCode::SUCCESS);
    }
    let shard = if let Some(text) = &args.shard {
        Some(Shard::parse(text)?)
    } else if args.shard_from_env {
        Some(Shard::from_env(|k| std::env::var(k).ok())?)
    } else {
        None
    };
    let grid_size = configs.len();
    if let Some(s) = shard {
        configs = s.select(&configs);
    }
    let model_dir = args.bench.output_dir.join(model_folder);
    if args.resume && bench.search.is_some() {
        anyhow::bail!("--resume: not supported with --find-max (a search is run whole)");
    }
    if args.resume && !args.dry_run {
        let who = shard.map_or_else(|| "this sweep".to_owned(), |s| format!("shard {s}"));
        let reason = format!(
            "found still running when {who} resumed: the sweep running it died (node lost or killed)"
        );
        for dir in mark_abandoned(&model_dir, &configs, &reason)? {
            eprintln!("note: {}: {reason}; marked interrupted", dir.display());
        }
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
        if let Some(s) = shard {
            println!(
                "Shard {s}: {} of the grid's {grid_size} configuration(s){} (configuration i goes to shard i mod {}).",
                configs.len(),
                args.only_gpus
                    .map_or(String::new(), |g| format!(" needing {g} GPU(s)")),
                s.count
            );
        }
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
    if let Some(s) = shard {
        summary.set_shard(ShardEntry {
            index: s.index,
            count: s.count,
            gpus: args.only_gpus,
            configurations: configs.len(),
        });
    }
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

/// `--emit slurm|k8s`: one array / Job per GPU count of the configurations `--gpus` allows.
fn emit(
    args: &SweepArgs,
    argv: &[String],
    kind: EmitKind,
    configs: &[crate::sweep::grid::ServeConfig],
    bench: &runner::BenchSettings,
) -> anyhow::Result<String> {
    if args.shard.is_some() || args.shard_from_env {
        anyhow::bail!("--emit: not with --shard/--shard-from-env (every task gets its own shard)");
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut skipped = 0;
    for c in configs {
        if args.gpus.is_some_and(|max| c.gpus() > u64::from(max)) {
            skipped += 1;
            continue;
        }
        match groups.iter_mut().find(|g| g.gpus == c.gpus()) {
            Some(g) => g.configs += 1,
            None => groups.push(Group {
                gpus: c.gpus(),
                configs: 1,
            }),
        }
    }
    groups.sort_by_key(|g| g.gpus);
    if skipped > 0 {
        eprintln!("note: {skipped} configuration(s) need more than --gpus GPUs: not emitted");
    }
    let grid_file = match (&args.grid, kind) {
        (Some(path), EmitKind::K8s) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("--grid {}: cannot read", path.display()))?,
        ),
        _ => None,
    };
    let settings = EmitSettings {
        model: args.bench.model.clone(),
        job_name: args.job_name.clone(),
        max_parallel: args.max_parallel,
        setup: args.setup.clone(),
        time_limit: args.time_limit,
        gres: Gres::parse(&args.gres)?,
        sbatch_args: args.sbatch_arg.clone(),
        image: args.image.clone(),
        modelbench_image: args.modelbench_image.clone(),
        pvc: args.pvc.clone(),
        api_key: bench.api_key.is_some(),
        grid_file,
        resumable: bench.search.is_none(),
    };
    // The arguments after the word `sweep`.
    let sweep_args = argv.get(2..).unwrap_or_default();
    Ok(match kind {
        EmitKind::Slurm => crate::sweep::emit::slurm(&settings, sweep_args, &groups)?,
        EmitKind::K8s => crate::sweep::emit::k8s(&settings, sweep_args, &groups)?,
    })
}
