//! Finding a model's folder under the base dir, and reading all of its `run_*` folders.
//!
//! Layout: `<base-dir>/<model name with / as _>/run_<YYYYmmdd_HHMMSS>/`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::names::{model_folder_name, ModelNameError};
use super::read::{read_model_name, read_run, read_run_with_samples};
use super::{ModelRuns, SkippedRun};

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("base dir {0} does not exist or is not a folder")]
    NoBaseDir(PathBuf),
    #[error("cannot list {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    BadName(#[from] ModelNameError),
    #[error("no model folder in {base} matches {name:?}; models there: {}", list_or_none(.available))]
    NoMatch {
        base: PathBuf,
        name: String,
        available: Vec<String>,
    },
    #[error("{name:?} matches several model folders in {base}: {}; name one of them exactly", .matches.join(", "))]
    Ambiguous {
        base: PathBuf,
        name: String,
        matches: Vec<String>,
    },
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".to_owned()
    } else {
        v.join(", ")
    }
}

/// The entries of `dir` with UTF-8 names, sorted: (folders, other entries — files, broken
/// symlinks, symlink loops). Symlinks to folders count as folders.
fn entries(dir: &Path) -> Result<(Vec<String>, Vec<String>), DiscoverError> {
    let io = |source| DiscoverError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let (mut dirs, mut others) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if let Some(name) = entry.file_name().to_str() {
            if entry.path().is_dir() {
                dirs.push(name.to_owned());
            } else {
                others.push(name.to_owned());
            }
        }
    }
    dirs.sort();
    others.sort();
    Ok((dirs, others))
}

fn subdirs(dir: &Path) -> Result<Vec<String>, DiscoverError> {
    Ok(entries(dir)?.0)
}

/// The `run_*` folders of a model folder, sorted by name (= by time).
pub fn run_dirs(model_dir: &Path) -> Result<Vec<PathBuf>, DiscoverError> {
    Ok(subdirs(model_dir)?
        .into_iter()
        .filter(|n| n.starts_with("run_"))
        .map(|n| model_dir.join(n))
        .collect())
}

/// `run_*` entries of a model folder that are not folders (a file, a broken symlink, a
/// symlink loop): reported as skipped rather than ignored.
fn run_non_dirs(model_dir: &Path) -> Result<Vec<SkippedRun>, DiscoverError> {
    Ok(entries(model_dir)?
        .1
        .into_iter()
        .filter(|n| n.starts_with("run_"))
        .map(|n| {
            let dir = model_dir.join(n);
            let reason = match std::fs::metadata(&dir) {
                Ok(_) => "not a folder".to_owned(),
                Err(e) => format!("not a folder ({e})"),
            };
            SkippedRun { dir, reason }
        })
        .collect())
}

/// Finds the one folder under `base` for `name`: the exact folder name (`Org_Name` or
/// `Org/Name`), else every folder ending in `_Name`, plus every folder whose runs record
/// `model_name == name`. Zero or several matches are errors that list the candidates.
pub fn resolve_model_dir(base: &Path, name: &str) -> Result<PathBuf, DiscoverError> {
    let wanted = model_folder_name(name)?;
    if !base.is_dir() {
        return Err(DiscoverError::NoBaseDir(base.to_path_buf()));
    }
    let folders = subdirs(base)?;
    if folders.contains(&wanted) {
        return Ok(base.join(wanted));
    }
    let suffix = format!("_{wanted}");
    let matches: Vec<String> = folders
        .iter()
        .filter(|f| {
            f.ends_with(&suffix)
                || run_dirs(&base.join(f))
                    .unwrap_or_default()
                    .iter()
                    .find_map(|r| read_model_name(r))
                    .is_some_and(|m| m.trim() == name.trim())
        })
        .cloned()
        .collect();
    match matches.len() {
        1 => Ok(base.join(&matches[0])),
        0 => Err(DiscoverError::NoMatch {
            base: base.to_path_buf(),
            name: name.to_owned(),
            available: folders,
        }),
        _ => Err(DiscoverError::Ambiguous {
            base: base.to_path_buf(),
            name: name.to_owned(),
            matches,
        }),
    }
}

/// Reads every run of a model folder, in parallel. Unreadable runs are kept as
/// [`SkippedRun`]s with their reason, never fatal.
pub fn load_model_dir(dir: &Path) -> Result<ModelRuns, DiscoverError> {
    load_model_dir_with(dir, false)
}

/// [`load_model_dir`], also reading each run's per-request samples when `samples`.
pub fn load_model_dir_with(dir: &Path, samples: bool) -> Result<ModelRuns, DiscoverError> {
    let dirs = run_dirs(dir)?;
    let read = if samples {
        read_run_with_samples
    } else {
        read_run
    };
    let results: Vec<_> = dirs.par_iter().map(|d| (d, read(d))).collect();
    let mut out = ModelRuns {
        folder_name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        dir: dir.to_path_buf(),
        ..Default::default()
    };
    out.skipped = run_non_dirs(dir)?;
    for (d, r) in results {
        match r {
            Ok(run) => out.runs.push(run),
            Err(e) => out.skipped.push(SkippedRun {
                dir: d.clone(),
                reason: e.to_string(),
            }),
        }
    }
    Ok(out)
}

/// [`resolve_model_dir`] then [`load_model_dir`].
pub fn load_model(base: &Path, name: &str) -> Result<ModelRuns, DiscoverError> {
    load_model_dir(&resolve_model_dir(base, name)?)
}

/// [`load_model`] with per-request samples (for `compare`'s intervals).
pub fn load_model_with_samples(base: &Path, name: &str) -> Result<ModelRuns, DiscoverError> {
    load_model_dir_with(&resolve_model_dir(base, name)?, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_with(folders: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in folders {
            std::fs::create_dir_all(d.path().join(f)).unwrap();
        }
        d
    }

    #[test]
    fn resolves_exact_slash_and_suffix_names() {
        let b = base_with(&["Qwen_Qwen3-4B", "Qwen_Qwen3-4B-AWQ"]);
        let p = |n: &str| {
            resolve_model_dir(b.path(), n)
                .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        };
        assert_eq!(p("Qwen3-4B").unwrap(), "Qwen_Qwen3-4B");
        assert_eq!(p("Qwen/Qwen3-4B").unwrap(), "Qwen_Qwen3-4B");
        assert_eq!(p("Qwen_Qwen3-4B").unwrap(), "Qwen_Qwen3-4B");
        assert_eq!(p("Qwen3-4B-AWQ").unwrap(), "Qwen_Qwen3-4B-AWQ");
        let e = p("Llama").unwrap_err().to_string();
        assert!(e.contains("Qwen_Qwen3-4B, Qwen_Qwen3-4B-AWQ"), "{e}");
    }

    #[test]
    fn ambiguous_and_model_name_matches() {
        let b = base_with(&["a_M", "b_M", "custom/run_1"]);
        std::fs::write(
            b.path().join("custom/run_1/config.json"),
            r#"{"model": "x/y"}"#,
        )
        .unwrap();
        let e = resolve_model_dir(b.path(), "M").unwrap_err().to_string();
        assert!(e.contains("a_M, b_M"), "{e}");
        assert!(resolve_model_dir(b.path(), "x/y")
            .unwrap()
            .ends_with("custom"));
        assert!(matches!(
            resolve_model_dir(&b.path().join("nope"), "M"),
            Err(DiscoverError::NoBaseDir(_))
        ));
    }
}
