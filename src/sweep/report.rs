//! What the sweep prints at the end: the model's runs as a table, the failed and skipped
//! configurations with their reasons, and the total time.

use std::fmt::Write;
use std::path::Path;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use super::progress::hms;
use super::state::{Status, SERVER_LOG};
use super::summary::{SweepState, SweepSummary};
use crate::metrics::Metric;
use crate::results::discover::load_model_dir;

/// The model's runs (every readable run folder, not only this sweep's), one row each.
///
/// TODO: print `modelbench summarize`'s table instead once it exists
/// (src/commands/summarize.rs + src/export/); this compact table stands in for it.
pub fn runs_table(model_dir: &Path) -> String {
    let runs = match load_model_dir(model_dir) {
        Ok(r) => r,
        Err(e) => return format!("(no results table: {e})\n"),
    };
    if runs.runs.is_empty() {
        return format!("(no readable results in {})\n", model_dir.display());
    }
    let mut rows = runs.runs.clone();
    rows.sort_by(|a, b| a.config.cmp(&b.config).then_with(|| a.dir.cmp(&b.dir)));
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec![
        Cell::new("run"),
        Cell::new("TP"),
        Cell::new("DP"),
        Cell::new("PP"),
        Cell::new("max_num_batched_tokens"),
    ];
    header.extend(
        Metric::ALL
            .iter()
            .map(|m| Cell::new(format!("{} ({})", m.key(), m.unit()))),
    );
    table.set_header(header);
    for r in &rows {
        let name = r
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let p = r.config.par;
        let mut row = vec![
            Cell::new(name),
            Cell::new(p.tp).set_alignment(CellAlignment::Right),
            Cell::new(p.dp).set_alignment(CellAlignment::Right),
            Cell::new(p.pp).set_alignment(CellAlignment::Right),
            Cell::new(
                r.config
                    .max_num_batched_tokens
                    .map_or_else(|| "default".to_owned(), |m| m.to_string()),
            )
            .set_alignment(CellAlignment::Right),
        ];
        row.extend(Metric::ALL.iter().map(|&m| {
            Cell::new(
                r.values
                    .get(m)
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
            )
            .set_alignment(CellAlignment::Right)
        }));
        table.add_row(row);
    }
    let mut out = format!(
        "Runs of {} ({}):\n{table}\n",
        runs.folder_name,
        model_dir.display()
    );
    for s in &runs.skipped {
        let _ = writeln!(out, "  not in the table: {s}");
    }
    out
}

/// The closing report: failed and skipped configurations with reasons, totals.
pub fn closing(summary: &SweepSummary) -> String {
    let mut out = String::new();
    let failed: Vec<_> = summary
        .runs
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "Failed configurations:");
        for r in failed {
            let _ = writeln!(
                out,
                "  {}: {}",
                r.label,
                r.reason.as_deref().unwrap_or("unknown reason")
            );
            let _ = writeln!(out, "    log: {}", r.run_dir.join(SERVER_LOG).display());
        }
    }
    for r in summary
        .runs
        .iter()
        .filter(|r| r.status == Status::Interrupted)
    {
        let _ = writeln!(out, "Interrupted: {}: {}", r.label, r.run_dir.display());
    }
    if !summary.skipped.is_empty() {
        let _ = writeln!(out, "Skipped configurations:");
        for s in &summary.skipped {
            let _ = writeln!(out, "  {}: {}", s.label, s.reason);
        }
    }
    let not_run = summary.planned_runs.saturating_sub(summary.runs.len());
    let state = match summary.state {
        SweepState::Finished => "finished",
        SweepState::Interrupted => "interrupted",
        SweepState::Aborted => "aborted",
        SweepState::Running => "running",
    };
    let _ = write!(
        out,
        "Sweep of {} {state} in {}: {} complete, {} failed, {} interrupted, {} skipped",
        summary.model,
        hms(std::time::Duration::from_secs_f64(summary.elapsed_s)),
        summary.count(Status::Complete),
        summary.count(Status::Failed),
        summary.count(Status::Interrupted),
        summary.skipped.len(),
    );
    if not_run > 0 {
        let _ = write!(out, ", {not_run} not started");
    }
    let _ = writeln!(out, "\nSweep record: {}", summary.path.display());
    out
}
