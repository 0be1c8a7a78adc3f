//! The validated settings of one benchmark (resolved from the command line once, by
//! `crate::commands::settings`; no command-line types here) and the one function that turns
//! them into `config.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::RunMeta;
use crate::capacity::SearchSpec;
use crate::client::BodyOptions;
use crate::results::write::Ordered;
use crate::slo::SloTarget;
use crate::workload::arrivals::Rate;
use crate::workload::{Workload, WorkloadSource, WorkloadSpec};

/// Closed loop concurrency when nothing is said.
pub const DEFAULT_CONCURRENCY: u32 = 8;

/// Steady warm-up: at most this many windows.
pub const STEADY_MAX_WINDOWS: usize = 6;
/// Steady warm-up: at least this many windows.
pub const STEADY_MIN_WINDOWS: usize = 2;
/// Steady warm-up: a window whose median TTFT is below the previous one's by more than this
/// fraction is still falling (not steady yet).
pub const STEADY_FALL: f64 = 0.10;

/// Requests per steady warm-up window at `concurrency` in flight: max(2 × concurrency, 8),
/// at most 512.
pub fn steady_window(concurrency: u32) -> usize {
    (2 * concurrency as usize).clamp(8, 512)
}

/// How requests are released.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadMode {
    /// `concurrency` requests in flight at all times.
    Closed { concurrency: u32 },
    /// Gamma-distributed arrivals, optionally capped.
    Open {
        rate: Rate,
        burstiness: f64,
        max_concurrency: Option<u32>,
    },
    /// The trace's own arrival times, optionally capped.
    Trace { max_concurrency: Option<u32> },
}

impl LoadMode {
    /// `(max_concurrency, request_rate, burstiness)` as `benchmark_config` records them:
    /// the concurrency (closed loop) or the cap (open loop, trace), the rate as a number or
    /// `"inf"` (open loop only), the burstiness (open loop only); `null` when not used.
    pub fn recorded(&self) -> (Value, Value, Value) {
        match self {
            LoadMode::Closed { concurrency } => {
                (Value::from(*concurrency), Value::Null, Value::Null)
            }
            LoadMode::Open {
                rate,
                burstiness,
                max_concurrency,
            } => (
                max_concurrency.map_or(Value::Null, Value::from),
                match rate {
                    Rate::PerSecond(r) => Value::from(*r),
                    Rate::Infinite => Value::from("inf"),
                },
                Value::from(*burstiness),
            ),
            LoadMode::Trace { max_concurrency } => (
                max_concurrency.map_or(Value::Null, Value::from),
                Value::Null,
                Value::Null,
            ),
        }
    }

    /// Short text of the level: `concurrency 16`, `rate 4 req/s` (`, at most 8 in flight`).
    pub fn level_label(&self) -> String {
        match self {
            LoadMode::Closed { concurrency } => format!("concurrency {concurrency}"),
            LoadMode::Open {
                rate,
                max_concurrency,
                ..
            } => format!(
                "rate {rate} req/s{}",
                max_concurrency.map_or(String::new(), |c| format!(" (at most {c} in flight)"))
            ),
            LoadMode::Trace { max_concurrency } => format!(
                "trace{}",
                max_concurrency.map_or(String::new(), |c| format!(" (at most {c} in flight)"))
            ),
        }
    }

    /// The most requests that can be in flight at once (`None` = unbounded).
    pub fn max_in_flight(&self) -> Option<u32> {
        match self {
            LoadMode::Closed { concurrency } => Some(*concurrency),
            LoadMode::Open {
                max_concurrency, ..
            }
            | LoadMode::Trace { max_concurrency } => *max_concurrency,
        }
    }
}

/// Validated benchmark settings; echoed into config.json by [`BenchSettings::config_json`]
/// (the API key only as "set").
#[derive(Debug, Clone)]
pub struct BenchSettings {
    /// Served model name sent in each request (and the model folder name).
    pub model: String,
    /// `--ignore-eos` as given (`body.ignore_eos` is the effective value).
    pub ignore_eos_requested: bool,
    pub workload: WorkloadSpec,
    pub tokenizer: Option<PathBuf>,
    pub load: LoadMode,
    /// Request body options; `ignore_eos` is the effective value (forced on for traces).
    pub body: BodyOptions,
    /// Never written anywhere (registered with [`crate::secrets`]).
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub save_text: bool,
    /// Read-coalescing window (the timestamp resolution of fast streams).
    pub read_coalesce: Duration,
    /// Interval of the `/metrics` scrapes (`None`: `--no-server-metrics`).
    pub server_metrics: Option<Duration>,
    /// Which timeline files to write: (`timeline.png`, `timeline.svg`).
    pub timeline: (bool, bool),
    /// Warm-up requests reserved for the steady warm-up (`--steady-warmup on`), built before
    /// the `--warmup` ones in `workload.warmup`; 0 when off.
    pub steady_warmup: usize,
    pub labels: BTreeMap<String, String>,
    pub output_dir: PathBuf,
    /// Every load level of the command, ascending (`load` is this run's); one element unless
    /// `--concurrency`/`--request-rate` got a list.
    pub levels: Vec<LoadMode>,
    /// `--slo` and `--slo-attainment`.
    pub slo: Option<SloTarget>,
    /// `--find-max`: a capacity search instead of the levels.
    pub search: Option<SearchSpec>,
    /// A level with more failed requests than this fraction stops the ascent.
    pub max_failed_fraction: f64,
}

impl BenchSettings {
    /// `config.json`: the users' keys first (same names and order), then every other option
    /// (the API key only as "set"/absent), the run's configuration and the command line.
    /// This is the only place config.json is assembled.
    pub fn config_json(&self, meta: &RunMeta, wl: &Workload) -> Ordered {
        let mut rest = self.options();
        let mut c = Ordered::default();
        let mut take = |c: &mut Ordered, k: &str| {
            if let Some(v) = rest.remove(k) {
                c.push(k, v);
            }
        };
        take(&mut c, "prompts_file");
        take(&mut c, "trace");
        take(&mut c, "model");
        c.push("tensor_parallel_size", meta.config.par.tp);
        c.push("pipeline_parallel_size", meta.config.par.pp);
        c.push("data_parallel_size", meta.config.par.dp);
        c.push("max_num_batched_tokens", meta.config.max_num_batched_tokens);
        for k in [
            "concurrency",
            "max_tokens",
            "temperature",
            "top_p",
            "output_dir",
        ] {
            take(&mut c, k);
        }
        c.push("base_url", crate::secrets::mask_url(&meta.base_url));
        for (k, v) in rest {
            c.push(&k, v);
        }
        c.push(
            "extra_config",
            serde_json::to_value(&meta.extra_config).unwrap_or(Value::Null),
        );
        c.push("measured_requests", wl.measured.len());
        c.push("warmup_requests", wl.warmup.len());
        c.push("lengths_approximate", wl.approximate.clone());
        c.push("command_line", meta.command_line.clone());
        c.push("tool_version", env!("CARGO_PKG_VERSION"));
        c.push("slo", self.slo.map(|t| t.slo.json()));
        c.push("slo_attainment_pct", self.slo.map(|t| t.attainment_pct));
        c.push("max_failed_fraction", self.max_failed_fraction);
        c.push("capacity_search", meta.capacity_search.clone());
        c.push("steady_warmup", self.steady_warmup > 0);
        c.push(
            "timeline_format",
            match self.timeline {
                (true, true) => "both",
                (false, true) => "svg",
                _ => "png",
            },
        );
        c.push(
            "metrics_interval",
            self.server_metrics.map(|d| d.as_secs_f64()),
        );
        c
    }

    /// Turns the steady warm-up on or off: with it, `workload.warmup` also holds
    /// [`STEADY_MAX_WINDOWS`] windows of [`steady_window`] requests for the highest load level.
    pub fn with_steady_warmup(mut self, on: bool) -> BenchSettings {
        self.workload.warmup -= self.steady_warmup;
        self.steady_warmup = 0;
        if on {
            let highest = self
                .levels
                .iter()
                .chain(std::iter::once(&self.load))
                .map(|l| l.max_in_flight().unwrap_or(DEFAULT_CONCURRENCY))
                .max()
                .unwrap_or(DEFAULT_CONCURRENCY);
            self.steady_warmup = STEADY_MAX_WINDOWS * steady_window(highest);
            self.workload.warmup += self.steady_warmup;
        }
        self
    }

    /// The same settings at another load level.
    pub fn at_level(&self, load: LoadMode) -> BenchSettings {
        BenchSettings {
            load,
            ..self.clone()
        }
    }

    /// Every option by its config.json key (sorted by key).
    pub fn options(&self) -> Map<String, Value> {
        let path = |p: Option<&PathBuf>| p.map(|p| p.display().to_string());
        let (prompts_file, trace, dataset_path) = match &self.workload.source {
            WorkloadSource::PromptsFile(p) => (Some(p), None, None),
            WorkloadSource::Trace(p) => (None, Some(p), None),
            WorkloadSource::ShareGpt { path, .. } => (None, None, Some(path)),
            WorkloadSource::Random { .. } => (None, None, None),
        };
        let (mode, concurrency, rate, burstiness) = match &self.load {
            LoadMode::Closed { concurrency } => ("closed", Some(*concurrency), None, None),
            LoadMode::Open {
                rate,
                burstiness,
                max_concurrency,
            } => (
                "open",
                *max_concurrency,
                Some(rate.to_string()),
                Some(*burstiness),
            ),
            LoadMode::Trace { max_concurrency } => ("trace", *max_concurrency, None, None),
        };
        let (input_len, output_len, range_ratio) = match &self.workload.source {
            WorkloadSource::Random {
                input_len,
                output_len,
                range_ratio,
            } => (Some(*input_len), Some(*output_len), Some(*range_ratio)),
            WorkloadSource::ShareGpt { output_len, .. } => (None, *output_len, None),
            _ => (None, None, None),
        };
        let v = json!({
            "model": self.model,
            "prompts_file": path(prompts_file),
            "trace": path(trace),
            "dataset": self.workload.source.name(),
            "dataset_path": path(dataset_path),
            "input_len": input_len,
            "output_len": output_len,
            "range_ratio": range_ratio,
            "tokenizer": path(self.tokenizer.as_ref()),
            "load_mode": mode,
            "concurrency": concurrency,
            "request_rate": rate,
            "burstiness": burstiness,
            "num_prompts": self.workload.num_prompts,
            "warmup": self.workload.warmup - self.steady_warmup,
            "seed": self.workload.seed,
            "endpoint": self.body.endpoint.name(),
            "max_tokens": self.workload.max_tokens,
            "temperature": self.body.temperature,
            "top_p": self.body.top_p,
            "ignore_eos": self.body.ignore_eos,
            "continuous_usage_stats": self.body.continuous_usage_stats,
            "api_key": if self.api_key.is_some() { Value::from("(set, not recorded)") } else { Value::Null },
            "timeout": self.timeout.as_secs_f64(),
            "extra_body": Value::Object(self.body.extra.clone()),
            "save_text": self.save_text,
            "read_coalesce_us": self.read_coalesce.as_micros() as u64,
            "labels": self.labels,
            "output_dir": self.output_dir.display().to_string(),
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_load() {
        let v = |m: LoadMode| {
            let (c, r, b) = m.recorded();
            serde_json::json!([c, r, b])
        };
        assert_eq!(
            v(LoadMode::Closed { concurrency: 4 }),
            serde_json::json!([4, null, null])
        );
        assert_eq!(
            v(LoadMode::Open {
                rate: Rate::Infinite,
                burstiness: 1.0,
                max_concurrency: None
            }),
            serde_json::json!([null, "inf", 1.0])
        );
        assert_eq!(
            v(LoadMode::Open {
                rate: Rate::PerSecond(2.5),
                burstiness: 0.5,
                max_concurrency: Some(8)
            }),
            serde_json::json!([8, 2.5, 0.5])
        );
        assert_eq!(
            v(LoadMode::Trace {
                max_concurrency: None
            }),
            serde_json::json!([null, null, null])
        );
    }

    #[test]
    fn config_json_never_holds_the_key() {
        let s = crate::commands::settings::tests::settings(&[
            "--prompts-file",
            "p",
            "--api-key",
            "sk-secret",
        ]);
        assert_eq!(s.api_key.as_deref(), Some("sk-secret"));
        let text = serde_json::to_string(&s.options()).unwrap();
        assert!(!text.contains("sk-secret"));
        assert!(text.contains("\"concurrency\":8"));
    }
}
