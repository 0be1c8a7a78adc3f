//! Progress on stderr: configuration i of n, its phase, elapsed time and an ETA.
//!
//! Every phase change prints one plain line (kept in logs); while the server starts or stops,
//! a spinner with the phase's elapsed time is shown when stderr is a terminal. During the
//! benchmark, `run`'s own progress bar takes over.

use std::fmt;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    StartingServer,
    WarmingUp,
    Benchmarking,
    Stopping,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::StartingServer => "starting server",
            Phase::WarmingUp => "warming up",
            Phase::Benchmarking => "benchmarking",
            Phase::Stopping => "stopping server",
        })
    }
}

/// `1:02:03`, or `2:03` under an hour.
pub fn hms(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

pub struct Progress {
    total: usize,
    sweep_start: Instant,
    run_start: Instant,
    /// Durations of the finished runs (for the ETA).
    finished: Vec<Duration>,
    index: usize,
    label: String,
    spinner: Option<ProgressBar>,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        Progress {
            total,
            sweep_start: Instant::now(),
            run_start: Instant::now(),
            finished: Vec::new(),
            index: 0,
            label: String::new(),
            spinner: None,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.sweep_start.elapsed()
    }

    /// Remaining time: the mean duration of the finished runs times the runs left, minus the
    /// time already spent on the current one. `None` before any run finished.
    pub fn eta(&self) -> Option<Duration> {
        if self.finished.is_empty() {
            return None;
        }
        let mean = self.finished.iter().sum::<Duration>() / self.finished.len() as u32;
        let left = self.total.saturating_sub(self.finished.len()) as u32;
        Some(
            (mean * left).saturating_sub(if self.index > self.finished.len() {
                self.run_start.elapsed()
            } else {
                Duration::ZERO
            }),
        )
    }

    /// Starts run `index` (1-based).
    pub fn begin(&mut self, index: usize, label: &str) {
        self.index = index;
        self.label = label.to_owned();
        self.run_start = Instant::now();
    }

    pub fn phase(&mut self, phase: Phase) {
        self.clear_spinner();
        let eta = self
            .eta()
            .map_or_else(|| "ETA unknown".to_owned(), |d| format!("ETA {}", hms(d)));
        eprintln!(
            "[{}/{}] {}: {phase} (sweep elapsed {}, {eta})",
            self.index,
            self.total,
            self.label,
            hms(self.elapsed())
        );
        if phase != Phase::Benchmarking {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if !bar.is_hidden() {
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(format!("[{}/{}] {phase}", self.index, self.total));
                bar.enable_steady_tick(Duration::from_millis(250));
                self.spinner = Some(bar);
            }
        }
    }

    /// A line printed without breaking the spinner.
    pub fn note(&self, line: &str) {
        match &self.spinner {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Ends the current run.
    pub fn end(&mut self) {
        self.clear_spinner();
        self.finished.push(self.run_start.elapsed());
    }

    fn clear_spinner(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear_spinner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_eta() {
        assert_eq!(hms(Duration::from_secs(62)), "1:02");
        assert_eq!(hms(Duration::from_secs(3723)), "1:02:03");
        let mut p = Progress::new(3);
        assert_eq!(p.eta(), None);
        p.finished.push(Duration::from_secs(100));
        assert_eq!(p.eta(), Some(Duration::from_secs(200)));
    }
}
