//! The progress bar on stderr (done/total, output tokens/s, errors). indicatif hides it when
//! stderr is not a terminal. Only the collector touches it, once per finished request and on a
//! timer, never per chunk.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::records::{Outcome, RequestRecord};

pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    failed: u64,
    tokens: u64,
}

impl Progress {
    pub fn new(label: &str, total: usize) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {msg} [{elapsed_precise}]",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_owned());
        Progress {
            bar,
            start: Instant::now(),
            failed: 0,
            tokens: 0,
        }
    }

    pub fn record(&mut self, rec: &RequestRecord) {
        match rec.outcome {
            Outcome::Ok => self.tokens += rec.output_tokens,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Cancelled => {}
        }
        self.bar.inc(1);
    }

    pub fn tick(&mut self) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{:.0} tok/s, {} errors",
            self.tokens as f64 / secs,
            self.failed
        ));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
