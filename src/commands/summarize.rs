//! `modelbench summarize`: one model's runs as a table and `benchmark_results_summary.csv`,
//! the configurations of the expected grid that have no result, and the best per metric.

use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::atomic::write_atomic;
use crate::cli::SummarizeArgs;
use crate::export::csv::{sort_runs, summary_csv};
use crate::export::table::{fmt_value, summary_table};
use crate::results::discover::load_model;
use crate::summary::{best_per_metric, missing_configs, ExpectedGrid};
use crate::{errln, outln};

/// Name of the CSV written into the model folder (as the users' script did).
pub const SUMMARY_CSV: &str = "benchmark_results_summary.csv";

pub fn execute(a: SummarizeArgs) -> anyhow::Result<ExitCode> {
    let grid = match &a.expected_grid {
        Some(spec) => ExpectedGrid::parse(spec)?,
        None => ExpectedGrid::default(),
    };
    let mut model =
        load_model(&a.base_dir, &a.model).with_context(|| format!("--model {}", a.model))?;
    for w in model.warnings(a.include_partial) {
        errln!("warning: {w}");
    }
    if let Some(why) = model.why_empty() {
        bail!(why);
    }
    sort_runs(&mut model.runs);
    outln!(
        "{} — {} run(s) in {}",
        model.display_name(),
        model.runs.len(),
        model.dir.display()
    );
    println!("{}", summary_table(&model.runs));

    // A CSV that cannot be written (read-only folder) does not hide the rest of the summary,
    // but still fails the command at the end.
    let csv_path = model.dir.join(SUMMARY_CSV);
    let csv_result = write_atomic(&csv_path, &summary_csv(&model.runs), false)
        .with_context(|| format!("cannot write {}", csv_path.display()));
    if csv_result.is_ok() {
        outln!("wrote {}", csv_path.display());
    }

    let missing = missing_configs(&grid, &model.runs);
    if missing.is_empty() {
        println!("\nevery configuration of the expected grid has a result");
    } else {
        println!(
            "\nmissing from the expected grid ({} of {}):",
            missing.len(),
            grid.configs().len()
        );
        for k in &missing {
            println!("  {k}");
        }
    }

    println!("\nbest configuration per metric (repeats averaged):");
    for b in best_per_metric(&model.runs) {
        let n = if b.value.n > 1 {
            format!(" (mean of {})", b.value.n)
        } else {
            String::new()
        };
        outln!(
            "  {:<34} {:>10} {:<8} at {}{}",
            b.metric.key(),
            fmt_value(Some(b.value.mean)),
            b.metric.unit(),
            b.config,
            n
        );
    }
    csv_result?;
    Ok(ExitCode::SUCCESS)
}
