//! `import`: result files of other benchmark tools turned into run folders in the users' format
//! (`<output>/<model folder>/run_<YYYYmmdd_HHMMSS>/{config.json, benchmark.log,
//! benchmark_results.json}`), so `compare` and `summarize` read them unchanged.
//!
//! One module per source format parses a file into an [`ImportedRun`] (records rebuilt from the
//! file's per-request arrays and the statistics computed from them by `crate::stats`, or the
//! file's own summary figures when it has no arrays); this module writes it with the same
//! functions `run` uses. What is decided here (docs/result-format.md, "Imported runs"):
//! - one run folder per file, named from the file's own date (`run_<date>`);
//! - a file already imported into the model folder (same bytes: `run_info.import.fingerprint`)
//!   is not imported again: re-running an import changes nothing;
//! - a file that cannot be imported is one warning line naming it and what is missing; the
//!   others are imported.

pub mod vllm_bench;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::records::{Clock, RequestRecord};
use crate::results::names::model_folder_name;
use crate::results::read::{open_bounded, MAX_FILE_BYTES, METRIC_DEFINITIONS, RESULTS_FILE};
use crate::results::write::{
    create_run_dir, write_json_atomic, write_results, Ordered, ResultsDoc,
};
use crate::results::ConfigKey;
use crate::runner::folder::{config_fields, push_load};
use crate::runner::log::RunLog;
use crate::runner::report::{summary_text, SummaryContext};
use crate::runner::LoadMode;
use crate::stats::RunStats;

/// Validated settings of one import (what the source file does not say).
#[derive(Debug, Clone)]
pub struct ImportSettings {
    /// The model name the runs are filed under.
    pub model: String,
    /// Parallelism and max_num_batched_tokens of the served configuration (the load comes
    /// from each file).
    pub config: ConfigKey,
    pub labels: BTreeMap<String, String>,
    pub output_dir: PathBuf,
    /// The command line (secrets masked), recorded in each run.
    pub command_line: String,
}

/// One source file, in modelbench's terms.
#[derive(Debug)]
pub struct ImportedRun {
    /// The source tool, e.g. `vllm bench serve`; also the name of the metric definitions its
    /// samples follow (`run_info.metric_definitions`).
    pub tool: &'static str,
    /// When the source run ended (its local time, no zone).
    pub date: chrono::NaiveDateTime,
    pub load: LoadMode,
    /// Measured requests, in the file's order (empty when the file has only summary figures).
    pub records: Vec<RequestRecord>,
    pub stats: RunStats,
    /// Only the file's summary figures were available (no per-request arrays): percentiles
    /// it does not report are missing.
    pub summary_only: bool,
    /// The file's scalar fields as they are (its own figures, for reference).
    pub source_fields: serde_json::Map<String, Value>,
    /// Things to know about this file (logged and recorded in `run_info.import.notes`).
    pub notes: Vec<String>,
}

/// Why a file was not imported (one line, printed after the file's name).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read: {0}")]
    Read(String),
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("not a {format} result: {what}")]
    Format { format: &'static str, what: String },
    #[error("cannot write the run folder: {0}")]
    Write(String),
}

/// What became of one file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileOutcome {
    /// Written to this run folder.
    Imported {
        dir: PathBuf,
        requests: usize,
        summary_only: bool,
    },
    /// The same file is already imported in this run folder; nothing written.
    AlreadyImported(PathBuf),
}

/// The files named on the command line: a file as given, a folder's `*.json` files (sorted, not
/// recursive). Folders that cannot be listed or hold no `.json` file give one line each.
pub fn expand_inputs(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in inputs {
        if !p.is_dir() {
            files.push(p.clone());
            continue;
        }
        let listing = match std::fs::read_dir(p) {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!("{}: cannot list the folder: {e}", p.display()));
                continue;
            }
        };
        let mut found: Vec<PathBuf> = listing
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|f| f.extension().is_some_and(|x| x == "json") && !f.is_dir())
            .collect();
        found.sort();
        if found.is_empty() {
            problems.push(format!("{}: no .json file in this folder", p.display()));
        }
        files.extend(found);
    }
    (files, problems)
}

/// FNV-1a (64 bits) of the file's bytes: identifies a source file across imports.
fn fingerprint(bytes: &[u8]) -> String {
    let h = crate::hash::fnv1a64(bytes);
    format!("fnv1a64:{h:016x} ({} bytes)", bytes.len())
}

/// Reads a source file (regular files only, at most [`MAX_FILE_BYTES`]; Python's `NaN` and
/// `Infinity` literals accepted) as JSON, with its fingerprint.
fn read_source(path: &Path) -> Result<(Value, String), ImportError> {
    let (file, len) = open_bounded(path, "the file", MAX_FILE_BYTES)
        .map_err(|e| ImportError::Read(e.to_string()))?
        .ok_or_else(|| ImportError::Read("no such file".into()))?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| ImportError::Read(e.to_string()))?;
    let mut text = Vec::with_capacity(bytes.len() + 64);
    crate::results::pyjson::PyJsonReader::new(bytes.as_slice())
        .read_to_end(&mut text)
        .map_err(|e| ImportError::Read(e.to_string()))?;
    let v = serde_json::from_slice(&text).map_err(|e| ImportError::Json(e.to_string()))?;
    Ok((v, fingerprint(&bytes)))
}

/// The source file's date as a local time of this machine (the folder name keeps the date's
/// digits); a date that does not exist locally (a DST gap) is read as UTC.
fn local_time(date: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Local> {
    use chrono::TimeZone;
    chrono::Local
        .from_local_datetime(&date)
        .earliest()
        .unwrap_or_else(|| chrono::Local.from_utc_datetime(&date))
}

/// A run folder of `model_dir` named after `stem` (`run_<date>` or `run_<date>_N`) whose
/// results record the import of a file with this fingerprint.
fn already_imported(model_dir: &Path, stem: &str, fingerprint: &str) -> Option<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        run_info: Option<serde_json::Map<String, Value>>,
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(model_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name == stem
                || name
                    .strip_prefix(stem)
                    .and_then(|r| r.strip_prefix('_'))
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.into_iter().find(|d| {
        let Ok(Some((f, _))) = open_bounded(&d.join(RESULTS_FILE), RESULTS_FILE, MAX_FILE_BYTES)
        else {
            return false;
        };
        let head: Result<Head, _> =
            serde_json::from_reader(std::io::BufReader::with_capacity(256 * 1024, f));
        head.ok()
            .and_then(|h| h.run_info)
            .and_then(|i| i.get("import").cloned())
            .and_then(|i| {
                i.get("fingerprint")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .is_some_and(|f| f == fingerprint)
    })
}

/// Imports one file of the given format.
pub fn import_file(
    s: &ImportSettings,
    path: &Path,
    format: &'static str,
    parse: fn(&Value) -> Result<ImportedRun, String>,
) -> Result<FileOutcome, ImportError> {
    let (value, fp) = read_source(path)?;
    let run = parse(&value).map_err(|what| ImportError::Format { format, what })?;
    let folder = model_folder_name(&s.model).map_err(|e| ImportError::Write(e.to_string()))?;
    let model_dir = s.output_dir.join(folder);
    let local = local_time(run.date);
    let stem = format!("run_{}", local.format("%Y%m%d_%H%M%S"));
    if let Some(dir) = already_imported(&model_dir, &stem, &fp) {
        return Ok(FileOutcome::AlreadyImported(dir));
    }
    let dir = create_run_dir(&model_dir, local)
        .map_err(|e| ImportError::Write(format!("{}: {e}", model_dir.display())))?;
    match write_run(s, path, &fp, &run, &dir, local) {
        Ok(()) => Ok(FileOutcome::Imported {
            dir,
            requests: run.records.len(),
            summary_only: run.summary_only,
        }),
        Err(e) => {
            // Leave no half-written run folder behind (it would read as a failed run).
            let _ = std::fs::remove_dir_all(&dir);
            Err(ImportError::Write(format!("{}: {e}", dir.display())))
        }
    }
}

fn write_run(
    s: &ImportSettings,
    source: &Path,
    fp: &str,
    run: &ImportedRun,
    dir: &Path,
    ended: chrono::DateTime<chrono::Local>,
) -> std::io::Result<()> {
    let no_extra = BTreeMap::new();
    let mut bc = config_fields(&s.model, &s.config, &no_extra, &s.labels);
    push_load(&mut bc, &run.load);

    let started = ended
        - chrono::Duration::milliseconds((run.stats.duration_s.max(0.0) * 1000.0).round() as i64);
    let mut import = Ordered::default();
    import.push("source_file", source.display().to_string());
    import.push("source_format", run.tool);
    import.push("fingerprint", fp);
    import.push("summary_only", run.summary_only);
    import.push("notes", run.notes.clone());
    import.push("source_fields", Value::Object(run.source_fields.clone()));

    let mut info = Ordered::default();
    info.push("tool", "modelbench");
    info.push("tool_version", env!("CARGO_PKG_VERSION"));
    info.push("start_time", started.to_rfc3339());
    info.push("end_time", ended.to_rfc3339());
    info.push("command_line", s.command_line.clone());
    info.push("interrupted", false);
    info.push("load", crate::runner::folder::load_description(&run.load));
    info.push("measured_requests", run.records.len());
    info.push("imported_summary_only", run.summary_only);
    info.push_object("import", import);
    info.push(METRIC_DEFINITIONS, run.tool);

    let mut extra = Ordered::default();
    extra.push("imported_summary_only", run.summary_only);

    let mut config = Ordered::default();
    config.push("model", s.model.clone());
    config.push("tensor_parallel_size", s.config.par.tp);
    config.push("pipeline_parallel_size", s.config.par.pp);
    config.push("data_parallel_size", s.config.par.dp);
    config.push("max_num_batched_tokens", s.config.max_num_batched_tokens);
    config.push("imported_from", source.display().to_string());
    config.push("source_format", run.tool);
    config.push(
        "labels",
        serde_json::to_value(&s.labels).unwrap_or(Value::Null),
    );
    config.push("command_line", s.command_line.clone());
    config.push("tool_version", env!("CARGO_PKG_VERSION"));

    let mut log = RunLog::open(dir)?;
    log.info(&format!(
        "imported {} ({}, {}{})",
        source.display(),
        run.tool,
        crate::runner::folder::load_description(&run.load),
        if run.summary_only {
            ", summary figures only"
        } else {
            ""
        }
    ));
    for n in &run.notes {
        log.info(&format!("note: {n}"));
    }
    log.info(&summary_text(
        &run.stats,
        &SummaryContext {
            model: &s.model,
            run_dir: dir,
            interrupted: false,
            not_sent: 0,
            approximate: None,
            goodput: None,
            self_check: None,
        },
    ));
    write_json_atomic(&dir.join("config.json"), &config)?;
    write_results(
        dir,
        &ResultsDoc {
            benchmark_config: bc,
            stats: &run.stats,
            extra_summary: extra,
            run_info: info,
            records: &run.records,
            clock: Clock {
                start: Instant::now(),
                start_epoch: started.timestamp_millis() as f64 / 1000.0,
            },
            send_times: false,
            server_metrics: None,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_expand_to_their_json_files_sorted() {
        let d = tempfile::tempdir().unwrap();
        for n in ["b.json", "a.json", "c.txt"] {
            std::fs::write(d.path().join(n), "{}").unwrap();
        }
        let empty = d.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let (files, problems) = expand_inputs(&[d.path().to_path_buf(), empty.clone()]);
        assert_eq!(
            files,
            vec![d.path().join("a.json"), d.path().join("b.json")]
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("no .json file"));
    }

    #[test]
    fn fingerprints_differ_by_content() {
        assert_ne!(fingerprint(b"{}"), fingerprint(b"{ }"));
        assert_eq!(fingerprint(b"abc"), fingerprint(b"abc"));
    }
}
