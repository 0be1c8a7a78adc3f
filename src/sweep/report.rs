//! What the sweep prints at the end: the model's runs as a table, the failed and skipped
//! configurations with their reasons, and the total time.

use std::fmt::Write;
use std::path::Path;

use super::progress::hms;
use super::state::{Status, SERVER_LOG};
use super::summary::{CapacityEntry, SweepState, SweepSummary};
use crate::export::csv::sort_runs;
use crate::export::table::{fmt_value, summary_table};
use crate::results::discover::load_model_dir;
use crate::summary::best_per_metric;

/// `modelbench summarize`'s table of the model's runs (every readable run folder, not only this
/// sweep's), and the best configuration per metric.
pub fn runs_table(model_dir: &Path) -> String {
    let mut model = match load_model_dir(model_dir) {
        Ok(r) => r,
        Err(e) => return format!("(no results table: {e})\n"),
    };
    if model.runs.is_empty() {
        return format!("(no readable results in {})\n", model_dir.display());
    }
    sort_runs(&mut model.runs);
    let mut out = format!(
        "{} — {} run(s) in {}\n{}\n",
        model.display_name(),
        model.runs.len(),
        model.dir.display(),
        summary_table(&model.runs)
    );
    let _ = writeln!(out, "best configuration per metric (repeats averaged):");
    for b in best_per_metric(&model.runs) {
        let _ = writeln!(
            out,
            "  {:<34} {:>10} {:<8} at {}",
            b.metric.key(),
            fmt_value(Some(b.value.mean)),
            b.metric.unit(),
            b.config
        );
    }
    for s in &model.skipped {
        let _ = writeln!(out, "  not in the table: {s}");
    }
    out
}

/// The closing report: failed and skipped configurations with reasons, totals.
pub fn closing(summary: &SweepSummary) -> String {
    let mut out = String::new();
    if !summary.runs.is_empty() {
        let _ = writeln!(out, "This sweep's runs:");
        for r in &summary.runs {
            let status = r.status.to_string();
            let load = r.load.as_ref().map_or(String::new(), |l| format!(" [{l}]"));
            let _ = writeln!(
                out,
                "  {status:<11} {}{load}  {}",
                r.label,
                r.run_dir.display()
            );
        }
    }
    out.push_str(&capacity_ranking(summary));
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
    // Several load levels of one planned run each have an entry: count the planned runs.
    let started: std::collections::BTreeSet<(&str, u32)> = summary
        .runs
        .iter()
        .map(|r| (r.label.as_str(), r.repeat))
        .collect();
    let not_run = summary.planned_runs.saturating_sub(started.len());
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

/// The configurations ranked by the capacity their search found, then by capacity per GPU
/// (TP·DP·PP); ratios are against the sweep's first configuration with a capacity.
pub fn capacity_ranking(summary: &SweepSummary) -> String {
    let found: Vec<(&str, &CapacityEntry)> = summary
        .runs
        .iter()
        .filter_map(|r| r.capacity.as_ref().map(|c| (r.label.as_str(), c)))
        .collect();
    let Some(&(base_label, base)) = found.iter().find(|(_, c)| c.max_meeting_slo.is_some()) else {
        if found.is_empty() {
            return String::new();
        }
        return "Capacity: no configuration met the SLO at its first probe\n".to_owned();
    };
    let axis = base.axis;
    let mut out = String::new();
    let by = |key: &dyn Fn(&CapacityEntry) -> Option<f64>, title: &str, out: &mut String| {
        let mut rows: Vec<&(&str, &CapacityEntry)> = found.iter().collect();
        rows.sort_by(|a, b| {
            let (x, y) = (key(a.1).unwrap_or(-1.0), key(b.1).unwrap_or(-1.0));
            y.total_cmp(&x)
        });
        let _ = writeln!(out, "{title}");
        let _ = writeln!(
            out,
            "  {:>4}  {:<34} {:>12} {:>5} {:>10}  vs {base_label}",
            "rank", "configuration", axis, "GPUs", "per GPU"
        );
        for (i, (label, c)) in rows.iter().enumerate() {
            let show = |v: Option<f64>| v.map_or("none".to_owned(), |v| format!("{v:.2}"));
            let capacity = match (c.max_meeting_slo, c.axis) {
                (Some(v), "concurrency") => format!("{v:.0}"),
                (v, _) => show(v),
            };
            let ratio = match (key(c), key(base)) {
                (Some(v), Some(b)) if b > 0.0 => format!("{:.2}×", v / b),
                _ => "-".to_owned(),
            };
            let note = match (&c.stopped, c.at_search_max) {
                (Some(_), _) => " (search incomplete)",
                (None, true) => " (= --search-max: may take more)",
                _ => "",
            };
            let _ = writeln!(
                out,
                "  {:>4}  {:<34} {:>12} {:>5} {:>10}  {ratio}{note}",
                i + 1,
                label,
                capacity,
                c.gpus,
                show(c.per_gpu())
            );
        }
    };
    by(
        &|c| c.max_meeting_slo,
        &format!("Capacity (highest {axis} meeting the SLO), by capacity:"),
        &mut out,
    );
    by(&|c| c.per_gpu(), "Capacity per GPU (TP·DP·PP):", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::sweep::summary::RunEntry;

    fn entry(label: &str, capacity: Option<f64>, gpus: u64) -> RunEntry {
        RunEntry {
            label: label.into(),
            config: serde_json::Value::Null,
            repeat: 1,
            repeats: 1,
            status: Status::Complete,
            run_dir: PathBuf::from("r"),
            reason: None,
            server_exit: None,
            duration_s: 1.0,
            log_tail: Vec::new(),
            load: Some("concurrency 1".into()),
            capacity: Some(CapacityEntry {
                search_id: "capacity_x".into(),
                axis: "concurrency",
                max_meeting_slo: capacity,
                gpus,
                stopped: None,
                at_search_max: false,
                file: None,
            }),
        }
    }

    #[test]
    fn ranks_by_capacity_and_per_gpu_against_the_first() {
        let mut s = SweepSummary::new(Path::new("m"), "m", "", &[], &[]);
        s.runs = vec![
            entry("tp=1", Some(10.0), 1),
            entry("tp=2", Some(18.0), 2),
            entry("tp=4", None, 4),
        ];
        let text = capacity_ranking(&s);
        let (by_capacity, per_gpu) = text.split_once("Capacity per GPU").unwrap();
        let rows = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| l.trim_start().starts_with(char::is_numeric))
                .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
                .collect()
        };
        assert_eq!(rows(by_capacity), ["1 tp=2", "2 tp=1", "3 tp=4"]);
        assert_eq!(rows(per_gpu), ["1 tp=1", "2 tp=2", "3 tp=4"]);
        assert!(by_capacity.contains("1.80×"), "{text}");
        assert!(per_gpu.contains("0.90×"), "{text}");
        assert!(text.contains("none"), "{text}");
        s.runs.truncate(0);
        assert_eq!(capacity_ranking(&s), "");
    }
}
