//! `modelbench merge DIR... --output-dir D`: gathers the results of shards that wrote to
//! folders of their own (no shared file system) into one output folder, so that `summarize`
//! and `compare` read them as one sweep.
//!
//! Each DIR is an output folder (holding one folder per model) or a model folder itself
//! (holding `run_*`). Per model, every `run_*` folder and every `sweep_summary_*.json` /
//! `capacity_*.json` record is copied into `D/<model>/`:
//!
//! - a **true duplicate** — the same content (every file, byte for byte) as something already
//!   in D or copied before — is not copied again (the same shard folder given twice, a merge
//!   run twice);
//! - a **repeat** — same name, other content (two shards whose run folders got the same
//!   timestamp, a configuration run twice) — is kept, under the next free name (`run_X_2`).
//!
//! A run folder is copied into a hidden temporary folder, then renamed into place, so D never
//! holds a half-copied run. Symbolic links inside run folders are not followed (skipped).

use std::collections::HashMap;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

use super::write::create_numbered;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}: not a folder")]
    NotAFolder(PathBuf),
    #[error("{0}: holds no model folder with run_* folders")]
    Empty(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> MergeError + '_ {
    move |source| MergeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a merge did.
#[derive(Debug, Default)]
pub struct MergeReport {
    /// (source, destination) of every folder or record copied.
    pub copied: Vec<(PathBuf, PathBuf)>,
    /// (source, the folder or record in D with the same content).
    pub duplicates: Vec<(PathBuf, PathBuf)>,
    /// Copies that took another name than their source's (a repeat).
    pub renamed: usize,
}

/// Whether a model folder's entry is something merge gathers.
fn gathered(name: &str, is_dir: bool) -> bool {
    if is_dir {
        name.starts_with("run_")
    } else {
        (name.starts_with("sweep_summary_") || name.starts_with("capacity_"))
            && name.ends_with(".json")
    }
}

/// The model folders of a DIR argument: (model folder name, path).
fn model_folders(dir: &Path) -> Result<Vec<(String, PathBuf)>, MergeError> {
    if !dir.is_dir() {
        return Err(MergeError::NotAFolder(dir.to_path_buf()));
    }
    let holds_runs = |d: &Path| -> Result<bool, MergeError> {
        Ok(sorted_entries(d)?
            .iter()
            .any(|(n, is_dir)| gathered(n, *is_dir)))
    };
    if holds_runs(dir)? {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .ok_or_else(|| MergeError::NotAFolder(dir.to_path_buf()))?;
        return Ok(vec![(name, dir.to_path_buf())]);
    }
    let mut out = Vec::new();
    for (name, is_dir) in sorted_entries(dir)? {
        let p = dir.join(&name);
        if is_dir && holds_runs(&p)? {
            out.push((name, p));
        }
    }
    if out.is_empty() {
        return Err(MergeError::Empty(dir.to_path_buf()));
    }
    Ok(out)
}

/// (name, is a real folder) of a folder's entries, sorted; symlinks count as files.
fn sorted_entries(dir: &Path) -> Result<Vec<(String, bool)>, MergeError> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let t = e.file_type().map_err(io_err(&e.path()))?;
        if t.is_symlink() {
            continue;
        }
        v.push((e.file_name().to_string_lossy().into_owned(), t.is_dir()));
    }
    v.sort();
    Ok(v)
}

/// The regular files under `path` (itself, if it is one), relative, sorted.
fn files(path: &Path) -> Result<Vec<PathBuf>, MergeError> {
    let mut out = Vec::new();
    if path.is_file() {
        out.push(PathBuf::new());
        return Ok(out);
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for (name, is_dir) in sorted_entries(&path.join(&rel))? {
            let r = rel.join(name);
            if is_dir {
                stack.push(r);
            } else if path.join(&r).is_file() {
                out.push(r);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `path/rel`, or `path` itself for the empty `rel` of a file.
fn at(path: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        path.to_path_buf()
    } else {
        path.join(rel)
    }
}

/// A fingerprint of a folder's (or file's) content: relative names and bytes.
fn fingerprint(path: &Path) -> Result<u64, MergeError> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for rel in files(path)? {
        let p = at(path, &rel);
        rel.hash(&mut h);
        fs::read(&p).map_err(io_err(&p))?.hash(&mut h);
    }
    Ok(h.finish())
}

/// Whether two folders (or files) hold the same files with the same bytes.
fn same_content(a: &Path, b: &Path) -> Result<bool, MergeError> {
    let (fa, fb) = (files(a)?, files(b)?);
    if fa != fb {
        return Ok(false);
    }
    for rel in fa {
        let (pa, pb) = (at(a, &rel), at(b, &rel));
        if fs::read(&pa).map_err(io_err(&pa))? != fs::read(&pb).map_err(io_err(&pb))? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), MergeError> {
    fs::create_dir_all(to).map_err(io_err(to))?;
    for rel in files(from)? {
        let (src, dst) = (from.join(&rel), to.join(&rel));
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        fs::copy(&src, &dst).map_err(io_err(&src))?;
    }
    Ok(())
}

/// The content already in a model folder of D: fingerprint → paths.
type Known = HashMap<u64, Vec<PathBuf>>;

fn known_in(model_out: &Path) -> Result<Known, MergeError> {
    let mut known = Known::new();
    if !model_out.is_dir() {
        return Ok(known);
    }
    for (name, is_dir) in sorted_entries(model_out)? {
        if gathered(&name, is_dir) {
            let p = model_out.join(&name);
            known.entry(fingerprint(&p)?).or_default().push(p);
        }
    }
    Ok(known)
}

/// Merges every DIR into `out` (see the module's documentation).
pub fn merge(sources: &[PathBuf], out: &Path) -> Result<MergeReport, MergeError> {
    let mut report = MergeReport::default();
    let mut known_by_model: HashMap<String, Known> = HashMap::new();
    // Check every argument before copying anything.
    let mut all = Vec::new();
    for dir in sources {
        all.extend(model_folders(dir)?);
    }
    for (model, src_model) in all {
        let model_out = out.join(&model);
        if !known_by_model.contains_key(&model) {
            known_by_model.insert(model.clone(), known_in(&model_out)?);
        }
        let known = known_by_model.entry(model.clone()).or_default();
        fs::create_dir_all(&model_out).map_err(io_err(&model_out))?;
        for (name, is_dir) in sorted_entries(&src_model)? {
            if !gathered(&name, is_dir) {
                continue;
            }
            let src = src_model.join(&name);
            let fp = fingerprint(&src)?;
            let mut same = None;
            for k in known.get(&fp).into_iter().flatten() {
                if same_content(&src, k)? {
                    same = Some(k.clone());
                    break;
                }
            }
            if let Some(k) = same {
                report.duplicates.push((src, k));
                continue;
            }
            let dst = place(&src, &model_out, &name, is_dir)?;
            if dst.file_name() != src.file_name() {
                report.renamed += 1;
            }
            known.entry(fp).or_default().push(dst.clone());
            report.copied.push((src, dst));
        }
    }
    Ok(report)
}

/// Copies one run folder or record into `model_out` under its name or the next free one.
fn place(src: &Path, model_out: &Path, name: &str, is_dir: bool) -> Result<PathBuf, MergeError> {
    if is_dir {
        // Copy aside, claim a name (mkdir: never two at once), rename over the empty claim.
        let tmp = model_out.join(format!(".merge-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        copy_tree(src, &tmp)?;
        let dst = create_numbered(model_out, name, "", |p| fs::create_dir(p))
            .map_err(io_err(model_out))?;
        fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
        Ok(dst)
    } else {
        let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
        let ext = if ext.is_empty() {
            String::new()
        } else {
            format!(".{ext}")
        };
        let dst = create_numbered(model_out, stem, &ext, |p| {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .map(drop)
        })
        .map_err(io_err(model_out))?;
        let bytes = fs::read(src).map_err(io_err(src))?;
        crate::atomic::write_atomic(&dst, &bytes, true).map_err(io_err(&dst))?;
        Ok(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, name: &str, body: &str) {
        let d = dir.join(name);
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(d.join("benchmark_results.json"), body).unwrap();
        fs::write(d.join("sub/x.txt"), "x").unwrap();
    }

    #[test]
    fn gathers_shards_keeps_repeats_and_refuses_true_duplicates() {
        let t = tempfile::tempdir().unwrap();
        let (a, b, out) = (t.path().join("a"), t.path().join("b"), t.path().join("out"));
        run(&a.join("M"), "run_1", "{\"v\": 1}");
        run(&a.join("M"), "run_2", "{\"v\": 2}");
        fs::write(a.join("M/sweep_summary_1_shard0of2.json"), "{\"s\": 0}").unwrap();
        fs::write(a.join("M/benchmark_results_summary.csv"), "x").unwrap();
        run(&b.join("M"), "run_1", "{\"v\": 3}"); // same name, other content: a repeat
        run(&b.join("M"), "run_3", "{\"v\": 2}"); // same content as a/run_2: a duplicate
        fs::write(b.join("M/sweep_summary_1_shard1of2.json"), "{\"s\": 1}").unwrap();

        let r = merge(&[a.clone(), b.join("M")], &out).unwrap();
        let mut names: Vec<String> = fs::read_dir(out.join("M"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "run_1",
                "run_1_2",
                "run_2",
                "sweep_summary_1_shard0of2.json",
                "sweep_summary_1_shard1of2.json"
            ]
        );
        assert_eq!(r.copied.len(), 5);
        assert_eq!(r.renamed, 1);
        assert_eq!(r.duplicates.len(), 1, "{:?}", r.duplicates);
        assert_eq!(r.duplicates[0].0, b.join("M/run_3"));
        assert_eq!(
            fs::read_to_string(out.join("M/run_1_2/benchmark_results.json")).unwrap(),
            "{\"v\": 3}"
        );
        assert_eq!(
            fs::read_to_string(out.join("M/run_1/sub/x.txt")).unwrap(),
            "x"
        );

        // Merging again copies nothing.
        let again = merge(&[a, b], &out).unwrap();
        assert!(again.copied.is_empty());
        assert_eq!(again.duplicates.len(), 6);
        assert!(matches!(
            merge(&[t.path().join("missing")], &out),
            Err(MergeError::NotAFolder(_))
        ));
    }
}
