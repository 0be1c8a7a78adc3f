//! `modelbench summarize`.

use std::process::ExitCode;

pub fn execute(_args: crate::cli::SummarizeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("modelbench summarize is not implemented yet")
}
