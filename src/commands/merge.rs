//! `modelbench merge DIR... --output-dir D`: gathers shard output folders into one.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::MergeArgs;
use crate::results::merge::merge;

pub fn execute(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let report = merge(&args.dirs, &args.output_dir)
        .with_context(|| format!("merge into {}", args.output_dir.display()))?;
    for (src, same) in &report.duplicates {
        eprintln!(
            "duplicate, not copied: {} (same content as {})",
            src.display(),
            same.display()
        );
    }
    println!(
        "merged {} run folder(s) and record(s) into {}; {} duplicate(s) not copied; {} kept under a new name (same name, other content)",
        report.copied.len(),
        args.output_dir.display(),
        report.duplicates.len(),
        report.renamed
    );
    Ok(ExitCode::SUCCESS)
}
