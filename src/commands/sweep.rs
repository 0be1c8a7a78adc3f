//! `modelbench sweep` (not implemented yet).

use std::process::ExitCode;

pub fn execute(_args: crate::cli::SweepArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("modelbench sweep is not implemented yet")
}
