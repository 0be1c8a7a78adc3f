//! `benchmark.log` in the run folder, in the users' line format:
//! `2025-07-14 09:07:28 [modelbench:INFO] message`. Warnings are echoed to stderr.
//! Logging must never stop a benchmark: write errors are reported once on stderr and ignored.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

pub const LOG_FILE: &str = "benchmark.log";

pub struct RunLog {
    file: Option<File>,
    reported: bool,
}

impl RunLog {
    pub fn open(dir: &Path) -> std::io::Result<RunLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(LOG_FILE))?;
        Ok(RunLog {
            file: Some(file),
            reported: false,
        })
    }

    fn line(&mut self, level: &str, msg: &str) {
        let ts = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        let Some(f) = &mut self.file else { return };
        let mut text = String::new();
        let msg = crate::secrets::redact(msg);
        for l in msg.lines() {
            text.push_str(&format!("{ts} [modelbench:{level}] {l}\n"));
        }
        if let Err(e) = f.write_all(text.as_bytes()) {
            if !self.reported {
                eprintln!("warning: cannot write {LOG_FILE}: {e}");
                self.reported = true;
            }
        }
    }

    pub fn info(&mut self, msg: &str) {
        self.line("INFO", msg);
    }

    /// Logged and printed on stderr.
    pub fn warn(&mut self, msg: &str) {
        eprintln!("warning: {}", crate::secrets::redact(msg));
        self.line("WARNING", msg);
    }
}
