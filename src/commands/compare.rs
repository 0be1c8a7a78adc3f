//! `modelbench compare`.

use std::process::ExitCode;

pub fn execute(_args: crate::cli::CompareArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("modelbench compare is not implemented yet")
}
