//! `modelbench summarize`: one model's runs as a table and `benchmark_results_summary.csv`,
//! the configurations of the expected grid that have no result, and the best per metric.

use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::atomic::write_atomic;
use crate::cli::SummarizeArgs;
use crate::export::csv::{sort_runs, summary_csv};
use crate::export::html::{summary_html, SummaryReport};
use crate::export::table::{fmt_value, summary_table};
use crate::results::discover::load_model;
use crate::summary::{
    best_by_capacity_per_gpu, best_per_metric, capacity_table, missing_configs, missing_groups,
    read_capacity_files, CapacityEntry, ExpectedGrid,
};
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
    let mut warnings = model.warnings(a.include_partial);
    // A broken capacity file is one warning line; the rest of the summary is still printed.
    let (capacity, capacity_warnings) = read_capacity_files(&model.dir);
    warnings.extend(capacity_warnings);
    for w in &warnings {
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
    let missing_lines: Vec<String> = missing_groups(&grid, &missing)
        .iter()
        .map(ToString::to_string)
        .collect();
    if missing.is_empty() {
        println!("\nevery configuration of the expected grid has a result");
    } else {
        // One line per (TP, DP, PP), naming its missing max_num_batched_tokens values.
        println!(
            "\nmissing from the expected grid ({} of {}):",
            missing.len(),
            grid.configs().len()
        );
        for g in &missing_lines {
            println!("  {g}");
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
    print_capacity(&capacity);
    if a.report {
        let path = a
            .report_output
            .clone()
            .unwrap_or_else(|| model.dir.join("report.html"));
        let table = capacity_table(&capacity);
        let page = summary_html(&SummaryReport {
            model: model.display_name(),
            runs: &model.runs,
            missing: missing_lines,
            missing_count: missing.len(),
            missing_of: grid.configs().len(),
            best: best_per_metric(&model.runs),
            capacity_best: best_by_capacity_per_gpu(&table)
                .iter()
                .map(|b| {
                    format!(
                        "best by capacity per GPU ({}, SLO {}): {} \u{2014} {} per GPU",
                        b.axis,
                        b.slo,
                        b.config_text(),
                        fmt_value(b.per_gpu())
                    )
                })
                .collect(),
            capacity: table,
            warnings,
        });
        super::report::write_html(&path, &page)?;
        outln!("wrote {}", path.display());
    }
    csv_result?;
    Ok(ExitCode::SUCCESS)
}

/// A load as recorded: `8`, `2.5`.
fn load_text(v: f64) -> String {
    format!("{v}")
}

/// The capacity section (nothing without capacity files): per configuration the max load
/// meeting the SLO, its GPUs and the capacity per GPU, sorted by capacity per GPU; then the
/// best configuration by capacity per GPU.
fn print_capacity(entries: &[CapacityEntry]) {
    if entries.is_empty() {
        return;
    }
    let table = capacity_table(entries);
    println!(
        "\ncapacity per configuration (max load meeting the SLO, newest search each; sorted by capacity per GPU):"
    );
    for e in &table {
        let answer = match (e.max_meeting_slo, e.per_gpu()) {
            (Some(v), Some(p)) => format!(
                "{} {} meets the SLO, {} GPU(s), {} per GPU",
                e.axis,
                load_text(v),
                e.gpus(),
                fmt_value(Some(p))
            ),
            _ => format!("no {} met the SLO, {} GPU(s)", e.axis, e.gpus()),
        };
        outln!(
            "  {}: {answer} (SLO {}; {})",
            e.config_text(),
            e.slo,
            e.file
        );
    }
    let best = best_by_capacity_per_gpu(&table);
    if best.is_empty() {
        println!("best configuration by capacity per GPU: none (no search met the SLO)");
    }
    for b in best {
        outln!(
            "best configuration by capacity per GPU ({}, SLO {}): {} — {} per GPU ({} {} on {} GPU(s))",
            b.axis,
            b.slo,
            b.config_text(),
            fmt_value(b.per_gpu()),
            b.axis,
            b.max_meeting_slo.map(load_text).unwrap_or_default(),
            b.gpus()
        );
    }
}
