use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = modelbench::cli::Cli::parse();
    match modelbench::commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            modelbench::errln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
