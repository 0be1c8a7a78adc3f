//! Capacity search (`--find-max`): the highest load that meets the SLO. Pure decisions, no I/O:
//! [`Search`] says which level to probe next from the verdicts so far; the runner
//! (`crate::runner::levels`) runs each probe as a normal run folder.
//!
//! The search grows geometrically (×2) from the starting level until a level fails the SLO (or
//! the search maximum is reached), then bisects between the highest level that met it and the
//! lowest that did not: concurrency to the integer, request rate until the two bounds are within
//! the precision (`hi ≤ lo · (1 + precision)`). A failure is never retried: the answer is the
//! highest level that met the SLO, so a noisy failure makes it conservative, never optimistic.
//! When the starting level already fails there is no answer.

use crate::runner::LoadMode;
use crate::workload::arrivals::Rate;

/// Factor between consecutive levels while ascending.
pub const GROWTH: f64 = 2.0;

/// Highest level tried when no `--search-max` is given (concurrency and requests/s).
pub const DEFAULT_SEARCH_MAX: f64 = 1_000_000.0;

/// What is searched over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Closed loop: requests in flight.
    Concurrency,
    /// Open loop: requests per second.
    RequestRate,
}

impl Axis {
    /// The key used in the results (`max_concurrency`/`request_rate` of `benchmark_config`).
    pub fn name(self) -> &'static str {
        match self {
            Axis::Concurrency => "concurrency",
            Axis::RequestRate => "request_rate",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Axis::Concurrency => "in flight",
            Axis::RequestRate => "requests/s",
        }
    }
}

/// A search's parameters (validated by `crate::commands::settings`).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpec {
    pub axis: Axis,
    /// First level probed (≥ 1 for concurrency, > 0 for a rate).
    pub start: f64,
    /// Highest level probed.
    pub max: f64,
    /// Request rate only: relative width at which bisection stops.
    pub precision: f64,
    /// The load of every probe apart from the searched value: burstiness and the concurrency
    /// cap of an open loop (`LoadMode::Open`), ignored for concurrency.
    pub template: LoadMode,
}

impl SearchSpec {
    /// The load of a probe at `level`.
    pub fn load_at(&self, level: f64) -> LoadMode {
        match (self.axis, &self.template) {
            (Axis::Concurrency, _) => LoadMode::Closed {
                concurrency: level as u32,
            },
            (
                Axis::RequestRate,
                LoadMode::Open {
                    burstiness,
                    max_concurrency,
                    ..
                },
            ) => LoadMode::Open {
                rate: Rate::PerSecond(level),
                burstiness: *burstiness,
                max_concurrency: *max_concurrency,
            },
            (Axis::RequestRate, _) => LoadMode::Open {
                rate: Rate::PerSecond(level),
                burstiness: 1.0,
                max_concurrency: None,
            },
        }
    }

    /// A level as the axis takes it (concurrency: a whole number).
    fn round(&self, level: f64) -> f64 {
        match self.axis {
            Axis::Concurrency => level.floor().max(1.0),
            Axis::RequestRate => level,
        }
    }
}

/// The state of one search.
#[derive(Debug, Clone)]
pub struct Search {
    spec: SearchSpec,
    /// Highest level that met the SLO.
    lo: Option<f64>,
    /// Lowest level that did not.
    hi: Option<f64>,
    next: Option<f64>,
}

impl Search {
    pub fn new(spec: SearchSpec) -> Search {
        let first = spec.round(spec.start.min(spec.max));
        Search {
            spec,
            lo: None,
            hi: None,
            next: Some(first),
        }
    }

    pub fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    /// The next level to probe; `None` when the search is over.
    pub fn next(&self) -> Option<f64> {
        self.next
    }

    /// Whether the search is still growing (no level has failed yet).
    pub fn ascending(&self) -> bool {
        self.hi.is_none()
    }

    /// Records the verdict of the probe at `level` and decides the next one.
    pub fn record(&mut self, level: f64, meets: bool) {
        if meets {
            self.lo = Some(self.lo.map_or(level, |lo| lo.max(level)));
        } else {
            self.hi = Some(self.hi.map_or(level, |hi| hi.min(level)));
        }
        self.next = match (self.lo, self.hi) {
            (None, _) => None,
            (Some(lo), None) if lo >= self.spec.max => None,
            (Some(lo), None) => Some(self.spec.round((lo * GROWTH).min(self.spec.max))),
            (Some(lo), Some(hi)) => {
                let close = match self.spec.axis {
                    Axis::Concurrency => hi - lo <= 1.0,
                    Axis::RequestRate => hi <= lo * (1.0 + self.spec.precision),
                };
                (!close).then(|| self.spec.round((lo + hi) / 2.0))
            }
        };
    }

    /// Ends the search now (a signal, or a probe that could not run).
    pub fn stop(&mut self) {
        self.next = None;
    }

    /// The highest level that met the SLO.
    pub fn answer(&self) -> Option<f64> {
        self.lo
    }

    /// The lowest level that did not meet it.
    pub fn lowest_failing(&self) -> Option<f64> {
        self.hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(axis: Axis, start: f64, max: f64) -> SearchSpec {
        SearchSpec {
            axis,
            start,
            max,
            precision: 0.05,
            template: LoadMode::Closed { concurrency: 1 },
        }
    }

    /// Runs a search against a known threshold (a level meets the SLO iff ≤ `capacity`).
    fn run(spec: SearchSpec, capacity: f64) -> (Option<f64>, Vec<f64>) {
        let mut s = Search::new(spec);
        let mut probes = Vec::new();
        while let Some(level) = s.next() {
            assert!(probes.len() < 100, "runaway search: {probes:?}");
            probes.push(level);
            s.record(level, level <= capacity);
        }
        (s.answer(), probes)
    }

    #[test]
    fn concurrency_grows_then_bisects_to_the_integer() {
        let (answer, probes) = run(spec(Axis::Concurrency, 1.0, 1e6), 6.0);
        assert_eq!(answer, Some(6.0));
        assert_eq!(probes, [1.0, 2.0, 4.0, 8.0, 6.0, 7.0]);
        for cap in [1.0, 2.0, 3.0, 13.0, 64.0, 100.0] {
            assert_eq!(run(spec(Axis::Concurrency, 1.0, 1e6), cap).0, Some(cap));
            assert_eq!(
                run(spec(Axis::Concurrency, 3.0, 1e6), cap.max(3.0)).0,
                Some(cap.max(3.0))
            );
        }
    }

    #[test]
    fn search_max_and_a_failing_start() {
        let (answer, probes) = run(spec(Axis::Concurrency, 1.0, 10.0), 1e9);
        assert_eq!(answer, Some(10.0));
        assert_eq!(probes, [1.0, 2.0, 4.0, 8.0, 10.0]);
        let (answer, probes) = run(spec(Axis::Concurrency, 4.0, 100.0), 2.0);
        assert_eq!((answer, probes), (None, vec![4.0]));
    }

    #[test]
    fn rate_bisects_to_the_precision() {
        for capacity in [0.3, 1.0, 7.7, 40.0, 123.4] {
            let (answer, _) = run(spec(Axis::RequestRate, 0.25, 1e6), capacity);
            let a = answer.unwrap();
            assert!(a <= capacity && a * 1.05 >= capacity, "{capacity}: {a}");
        }
    }

    #[test]
    fn probe_loads() {
        let mut s = spec(Axis::RequestRate, 1.0, 10.0);
        s.template = LoadMode::Open {
            rate: Rate::Infinite,
            burstiness: 0.5,
            max_concurrency: Some(7),
        };
        assert_eq!(
            s.load_at(2.5),
            LoadMode::Open {
                rate: Rate::PerSecond(2.5),
                burstiness: 0.5,
                max_concurrency: Some(7)
            }
        );
        let c = spec(Axis::Concurrency, 1.0, 10.0);
        assert_eq!(c.load_at(5.0), LoadMode::Closed { concurrency: 5 });
    }
}
