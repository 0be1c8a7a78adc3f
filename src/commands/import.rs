//! `modelbench import vllm-bench FILE_OR_DIR…`: one run folder per result file.
//!
//! Prints one line per file (imported, already imported, or a warning naming the file and what
//! is missing). Exit status: success when at least one file was imported or was already
//! imported; failure when none could be.

use std::process::ExitCode;

use crate::cli::{ImportArgs, ImportSource, ImportVllmBenchArgs};
use crate::import::{expand_inputs, import_file, vllm_bench, FileOutcome, ImportSettings};
use crate::results::names::model_folder_name;
use crate::{errln, outln};

fn settings(a: &ImportVllmBenchArgs) -> anyhow::Result<ImportSettings> {
    model_folder_name(&a.model).map_err(|e| anyhow::anyhow!("--model: {e}"))?;
    let argv: Vec<String> = std::env::args().collect();
    Ok(ImportSettings {
        model: a.model.trim().to_owned(),
        config: a.served.config_key(),
        labels: a.labels.iter().cloned().collect(),
        output_dir: a.output_dir.clone(),
        command_line: crate::secrets::mask_command_line(&argv),
    })
}

pub fn execute(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let ImportSource::VllmBench(a) = args.source;
    let s = settings(&a)?;
    let (files, problems) = expand_inputs(&a.inputs);
    for p in &problems {
        errln!("warning: {p}");
    }
    let (mut usable, mut skipped) = (0usize, 0usize);
    for f in &files {
        match import_file(&s, f, vllm_bench::FORMAT, vllm_bench::parse) {
            Ok(FileOutcome::Imported {
                dir,
                requests,
                summary_only,
            }) => {
                usable += 1;
                let what = if summary_only {
                    "summary figures only".to_owned()
                } else {
                    format!("{requests} requests")
                };
                outln!("imported {} -> {} ({what})", f.display(), dir.display());
            }
            Ok(FileOutcome::AlreadyImported(dir)) => {
                usable += 1;
                outln!(
                    "{}: already imported as {}; nothing written",
                    f.display(),
                    dir.display()
                );
            }
            Err(e) => {
                skipped += 1;
                errln!("warning: skipping {}: {e}", f.display());
            }
        }
    }
    if usable == 0 {
        errln!(
            "error: nothing imported ({} file(s) skipped{})",
            skipped,
            if problems.is_empty() {
                ""
            } else {
                ", see the warnings"
            }
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
