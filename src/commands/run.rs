//! `modelbench run` (not implemented yet).

use std::process::ExitCode;

pub fn execute(_args: crate::cli::RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("modelbench run is not implemented yet")
}
