//! Several loads against one server: the ascending levels of `--concurrency 1,4,16` /
//! `--request-rate 1,2,inf`, and the capacity search of `--find-max` (each probe a normal run
//! folder, the answer in `capacity_<timestamp>.json`). Shared by `run` and `sweep`: the caller
//! says how one level is run (`run_to_folder`, or that plus watching the server).

use std::future::Future;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{BenchSettings, LoadMode, RunError, RunMeta, RunReport};
use crate::capacity::{Axis, Search, SearchSpec};
use crate::results::names::model_folder_name;
use crate::results::write::{write_json_atomic, Ordered};

/// Why a finished level stops the ascent: nothing succeeded, or more than `max_failed_fraction`
/// of its requests failed.
pub fn bad_level(r: &RunReport, max_failed_fraction: f64) -> Option<String> {
    let total = r.successful + r.failed;
    (r.successful == 0 || r.failed as f64 > max_failed_fraction * total as f64).then(|| {
        format!(
            "{} of {total} requests failed (more than --max-failed-fraction {max_failed_fraction})",
            r.failed
        )
    })
}

/// One level that ran (or could not).
#[derive(Debug)]
pub struct LevelRun {
    pub load: LoadMode,
    pub result: Result<RunReport, RunError>,
}

/// The levels that ran, and why the ascent stopped early (`None`: every level ran).
#[derive(Debug, Default)]
pub struct Ascent {
    pub runs: Vec<LevelRun>,
    pub stopped: Option<String>,
}

/// Runs `settings.levels` in ascending order with `run`, stopping after a level that failed
/// badly ([`bad_level`]), could not run, or was interrupted.
pub async fn ascend<F, Fut>(settings: &BenchSettings, meta: &RunMeta, mut run: F) -> Ascent
where
    F: FnMut(BenchSettings, RunMeta) -> Fut,
    Fut: Future<Output = Result<RunReport, RunError>>,
{
    let mut ascent = Ascent::default();
    let n = settings.levels.len();
    for (i, load) in settings.levels.iter().enumerate() {
        let result = run(settings.at_level(load.clone()), meta.clone()).await;
        let label = load.level_label();
        let higher = if i + 1 < n {
            format!("; {} higher level(s) not run", n - i - 1)
        } else {
            String::new()
        };
        let stop = match &result {
            Err(e) => Some(format!("stopped at {label}: {e}{higher}")),
            Ok(r) if r.interrupted => Some(format!("interrupted at {label}{higher}")),
            Ok(r) => bad_level(r, settings.max_failed_fraction)
                .map(|why| format!("stopped the ascent at {label}: {why}{higher}")),
        };
        ascent.runs.push(LevelRun {
            load: load.clone(),
            result,
        });
        if stop.is_some() {
            ascent.stopped = stop;
            break;
        }
    }
    ascent
}

/// With several levels: one line per level that ran — its folder, and with an SLO its
/// attainment and verdict.
pub fn ascent_text(ascent: &Ascent, settings: &BenchSettings) -> String {
    use std::fmt::Write;
    let mut o = String::from("Load levels:\n");
    for run in &ascent.runs {
        let what = match &run.result {
            Ok(r) => {
                let slo = match (settings.slo, r.goodput) {
                    (Some(t), Some(g)) => format!(
                        "SLO attainment {}% ({}), ",
                        if g.attainment_pct.is_finite() {
                            format!("{:.2}", g.attainment_pct)
                        } else {
                            "n/a".into()
                        },
                        if g.meets(&t) { "meets" } else { "misses" }
                    ),
                    _ => String::new(),
                };
                format!(
                    "{slo}{} ok, {} failed  {}",
                    r.successful,
                    r.failed,
                    r.run_dir.display()
                )
            }
            Err(e) => format!("did not run: {e}"),
        };
        let _ = writeln!(o, "  {:<24} {what}", run.load.level_label());
    }
    o
}

/// One probe of a capacity search.
#[derive(Debug)]
pub struct Probe {
    pub level: f64,
    pub meets: bool,
    /// Why it does not meet the SLO (or the error that ended the search).
    pub verdict: String,
    pub report: Option<RunReport>,
}

/// The outcome of a capacity search.
#[derive(Debug)]
pub struct Capacity {
    pub id: String,
    pub spec: SearchSpec,
    /// The highest level that met the SLO.
    pub max_meeting_slo: Option<f64>,
    pub lowest_failing: Option<f64>,
    pub probes: Vec<Probe>,
    /// Why the search ended before converging (interrupted, a probe that could not run).
    pub stopped: Option<String>,
    /// `capacity_<timestamp>.json` (`None` when it could not be written).
    pub file: Option<PathBuf>,
    /// The error writing it.
    pub write_error: Option<String>,
}

/// A fresh `capacity_<YYYYmmdd_HHMMSS>[_N]` id in the model folder, claimed so that no other
/// search — another shard of a sweep starting in the same second, on another host of a shared
/// folder — gets it too: the id is taken when `<id>.json` does not exist and the hidden
/// `.<id>.claim` is created exclusively (kept, so the claim holds after the search).
fn search_id(model_dir: &Path) -> String {
    let stem = format!("capacity_{}", chrono::Local::now().format("%Y%m%d_%H%M%S"));
    claim_id(model_dir, &stem)
}

fn claim_id(model_dir: &Path, stem: &str) -> String {
    let claimed = std::fs::create_dir_all(model_dir).and_then(|()| {
        crate::results::write::create_numbered(model_dir, stem, "", |p| {
            let id = p.file_name().unwrap_or_default().to_string_lossy();
            if model_dir.join(format!("{id}.json")).exists() {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(model_dir.join(format!(".{id}.claim")))
                .map(drop)
        })
    });
    match claimed {
        Ok(p) => p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        // Not writable: the search cannot write its file either, and says so at the end.
        Err(_) => stem.to_owned(),
    }
}

/// The verdict of one probe: meets the SLO, or why not.
fn judge_probe(settings: &BenchSettings, r: &RunReport) -> Result<(), String> {
    if let Some(why) = bad_level(r, settings.max_failed_fraction) {
        return Err(why);
    }
    let (Some(target), Some(g)) = (settings.slo, r.goodput) else {
        return Err("no SLO".into());
    };
    if g.meets(&target) {
        Ok(())
    } else {
        Err(format!(
            "SLO attainment {:.2}% < {}%",
            g.attainment_pct, target.attainment_pct
        ))
    }
}

/// Runs the capacity search of `settings.search` with `run` (one probe = one run folder marked
/// with the search id), then writes `capacity_<timestamp>.json` into the model folder.
pub async fn find_max<F, Fut>(
    settings: &BenchSettings,
    spec: &SearchSpec,
    meta: &RunMeta,
    mut run: F,
) -> Capacity
where
    F: FnMut(BenchSettings, RunMeta) -> Fut,
    Fut: Future<Output = Result<RunReport, RunError>>,
{
    let started_at = chrono::Local::now();
    // The settings were resolved with a valid model name; the fallback cannot happen.
    let folder = model_folder_name(&settings.model).unwrap_or_else(|_| settings.model.clone());
    let model_dir = settings.output_dir.join(folder);
    let id = search_id(&model_dir);
    let spec = spec.clone();
    let mut search = Search::new(spec.clone());
    let mut probes = Vec::new();
    let mut stopped = None;
    let probe_meta = RunMeta {
        capacity_search: Some(id.clone()),
        ..meta.clone()
    };
    while let Some(level) = search.next() {
        let load = spec.load_at(level);
        eprintln!(
            "capacity search {id}: probing {} ({})",
            load.level_label(),
            if search.ascending() {
                "growing"
            } else {
                "bisecting"
            }
        );
        match run(settings.at_level(load.clone()), probe_meta.clone()).await {
            Err(e) => {
                stopped = Some(format!(
                    "the probe at {} could not run: {e}",
                    load.level_label()
                ));
                search.stop();
            }
            Ok(r) if r.interrupted => {
                stopped = Some(format!("interrupted at {}", load.level_label()));
                probes.push(Probe {
                    level,
                    meets: false,
                    verdict: "interrupted (not counted)".into(),
                    report: Some(r),
                });
                search.stop();
            }
            Ok(r) => {
                let verdict = judge_probe(settings, &r);
                let meets = verdict.is_ok();
                eprintln!(
                    "capacity search {id}: {} {}",
                    load.level_label(),
                    match &verdict {
                        Ok(()) => "meets the SLO".to_owned(),
                        Err(why) => format!("fails: {why}"),
                    }
                );
                search.record(level, meets);
                probes.push(Probe {
                    level,
                    meets,
                    verdict: verdict.err().unwrap_or_else(|| "meets the SLO".into()),
                    report: Some(r),
                });
            }
        }
    }
    let mut capacity = Capacity {
        id,
        spec,
        max_meeting_slo: search.answer(),
        lowest_failing: search.lowest_failing(),
        probes,
        stopped,
        file: None,
        write_error: None,
    };
    let doc = capacity_doc(settings, meta, &capacity, started_at);
    let file = model_dir.join(format!("{}.json", capacity.id));
    match std::fs::create_dir_all(&model_dir).and_then(|()| write_json_atomic(&file, &doc)) {
        Ok(()) => capacity.file = Some(file),
        Err(e) => capacity.write_error = Some(format!("cannot write {}: {e}", file.display())),
    }
    capacity
}

/// A level as written: concurrency as a whole number.
fn level_value(axis: Axis, level: f64) -> Value {
    match axis {
        Axis::Concurrency => Value::from(level as u64),
        Axis::RequestRate => Value::from(level),
    }
}

/// The content of `capacity_<timestamp>.json` (docs/result-format.md).
fn capacity_doc(
    settings: &BenchSettings,
    meta: &RunMeta,
    c: &Capacity,
    started_at: chrono::DateTime<chrono::Local>,
) -> Ordered {
    let axis = c.spec.axis;
    let mut d = Ordered::default();
    d.push("search_id", c.id.clone());
    d.push("tool", "modelbench");
    d.push("tool_version", env!("CARGO_PKG_VERSION"));
    d.push("start_time", started_at.to_rfc3339());
    d.push("end_time", chrono::Local::now().to_rfc3339());
    d.push("command_line", meta.command_line.clone());
    d.push_object(
        "configuration",
        super::folder::server_config(settings, meta),
    );
    d.push("slo", settings.slo.map(|t| t.slo.json()));
    d.push(
        "slo_attainment_target_pct",
        settings.slo.map(|t| t.attainment_pct),
    );
    d.push("axis", axis.name());
    let mut s = Ordered::default();
    s.push("start", level_value(axis, c.spec.start));
    s.push("max", level_value(axis, c.spec.max));
    s.push("growth", crate::capacity::GROWTH);
    s.push(
        "precision",
        match axis {
            Axis::Concurrency => Value::Null,
            Axis::RequestRate => Value::from(c.spec.precision),
        },
    );
    let (cap, _, burstiness) = c.spec.load_at(c.spec.start).recorded();
    if axis == Axis::RequestRate {
        s.push("max_concurrency", cap);
        s.push("burstiness", burstiness);
    }
    s.push("max_failed_fraction", settings.max_failed_fraction);
    d.push_object("search", s);
    d.push(
        "max_meeting_slo",
        c.max_meeting_slo
            .map_or(Value::Null, |v| level_value(axis, v)),
    );
    d.push(
        "lowest_failing",
        c.lowest_failing
            .map_or(Value::Null, |v| level_value(axis, v)),
    );
    d.push("stopped", c.stopped.clone());
    let probes: Vec<Value> = c
        .probes
        .iter()
        .map(|p| {
            let r = p.report.as_ref();
            let g = r.and_then(|r| r.goodput);
            let folder = r
                .and_then(|r| r.run_dir.file_name())
                .map(|f| f.to_string_lossy().into_owned());
            serde_json::json!({
                "level": level_value(axis, p.level),
                "slo_attainment_pct": g.map(|g| g.attainment_pct).filter(|v| v.is_finite()),
                "meets_slo": p.meets,
                "verdict": p.verdict,
                "goodput_requests_per_sec": g.map(|g| g.requests_per_sec).filter(|v| v.is_finite()),
                "successful_requests": r.map(|r| r.successful),
                "failed_requests": r.map(|r| r.failed),
                "folder": folder,
            })
        })
        .collect();
    d.push("probes", probes);
    d
}

/// What `run` and `sweep` print after a search.
pub fn capacity_text(c: &Capacity, settings: &BenchSettings) -> String {
    use std::fmt::Write;
    let axis = c.spec.axis;
    let show = |v: f64| match axis {
        Axis::Concurrency => format!("{}", v as u64),
        Axis::RequestRate => format!("{v:.3}"),
    };
    let slo = settings
        .slo
        .map(|t| format!("{} at ≥ {}% attainment", t.slo, t.attainment_pct))
        .unwrap_or_default();
    let mut o = String::new();
    let _ = writeln!(o, "Capacity search {} ({}; {slo}):", c.id, axis.name());
    let _ = writeln!(
        o,
        "  {:>12}  {:>12}  {:>9}  folder",
        axis.name(),
        "attainment %",
        "meets SLO"
    );
    for p in &c.probes {
        let r = p.report.as_ref();
        let att = r
            .and_then(|r| r.goodput)
            .map(|g| g.attainment_pct)
            .filter(|v| v.is_finite())
            .map_or("n/a".to_owned(), |v| format!("{v:.2}"));
        let folder = r.map_or(String::new(), |r| r.run_dir.display().to_string());
        let _ = writeln!(
            o,
            "  {:>12}  {att:>12}  {:>9}  {folder}",
            show(p.level),
            if p.meets { "yes" } else { "no" }
        );
    }
    let answer = match c.max_meeting_slo {
        Some(v) => format!("{} {}", show(v), axis.unit()),
        None if c.stopped.is_some() => "none found before the search stopped".to_owned(),
        None => format!(
            "none: the starting level {} already misses the SLO (start lower)",
            show(c.spec.start)
        ),
    };
    let _ = writeln!(o, "Highest {} meeting the SLO: {answer}", axis.name());
    if c.max_meeting_slo.is_some_and(|v| v >= c.spec.max) {
        let _ = writeln!(
            o,
            "  (the search maximum {}: the server may take more; raise --search-max)",
            show(c.spec.max)
        );
    }
    if let Some(s) = &c.stopped {
        let _ = writeln!(o, "Search incomplete: {s}");
    }
    match (&c.file, &c.write_error) {
        (Some(f), _) => {
            let _ = write!(o, "Written to {}", f.display());
        }
        (None, Some(e)) => {
            let _ = write!(o, "error: {e}");
        }
        (None, None) => {}
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(successful: usize, failed: usize) -> RunReport {
        crate::runner::test_report(successful, failed, false)
    }

    #[test]
    fn search_ids_are_never_shared() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("model");
        let ids: Vec<String> = (0..3).map(|_| claim_id(&m, "capacity_1")).collect();
        assert_eq!(ids, ["capacity_1", "capacity_1_2", "capacity_1_3"]);
        assert!(m.join(".capacity_1_2.claim").exists());
        // A written answer holds its id too (older versions left no claim).
        std::fs::write(m.join("capacity_1_4.json"), "{}").unwrap();
        assert_eq!(claim_id(&m, "capacity_1"), "capacity_1_5");
        assert!(search_id(&m).starts_with("capacity_2"));
    }

    #[test]
    fn bad_levels() {
        assert_eq!(bad_level(&report(10, 0), 0.5), None);
        assert_eq!(bad_level(&report(5, 5), 0.5), None);
        assert_eq!(
            bad_level(&report(4, 5), 0.5).as_deref(),
            Some("5 of 9 requests failed (more than --max-failed-fraction 0.5)")
        );
        assert!(bad_level(&report(0, 0), 1.0).is_some(), "nothing succeeded");
    }
}
