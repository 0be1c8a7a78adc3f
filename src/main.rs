use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

/// Exit status of a command line that clap refused (as clap itself uses).
const USAGE_ERROR: u8 = 2;

/// clap's error as one line: its message lines joined, without the usage block and the hint.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let mut line = lines.join(" ");
    line.push_str(" (see --help)");
    line
}

/// An error and its causes on one line, each said once: a cause whose text its parent's
/// message already holds (a `{source}` in a typed error's message) is not repeated.
fn chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn main() -> ExitCode {
    let cli = match modelbench::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            let line = one_line(&e);
            eprintln!("{}", modelbench::secrets::redact(&line));
            return ExitCode::from(USAGE_ERROR);
        }
    };
    match modelbench::commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            // Every error line passes the one masking function (a URL or key in a message)
            // and the one escaping of control characters.
            modelbench::errln!("error: {}", modelbench::secrets::redact(&chain(&e)));
            ExitCode::FAILURE
        }
    }
}
