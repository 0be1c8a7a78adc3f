//! One file per sub-command: validate raw flags into settings, run the library, print.
//! Errors here carry context (anyhow); the library's errors are typed (thiserror).

pub mod compare;
pub mod import;
pub mod merge;
pub mod report;
pub mod run;
pub mod settings;
pub mod summarize;
pub mod sweep;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Compare(a) => compare::execute(a),
        Command::Summarize(a) => summarize::execute(a),
        Command::Run(a) => run::execute(*a),
        Command::Sweep(a) => sweep::execute(*a),
        Command::Import(a) => import::execute(a),
        Command::Merge(a) => merge::execute(a),
        Command::Report(a) => compare::execute(a.into_compare()),
    }
}
