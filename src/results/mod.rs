//! The result model, independent of any file format: a run is a configuration plus metric
//! values (plus, when a command needs them, per-request samples).
//!
//! - [`read`] reads the users' `benchmark_results.json` format (Python JSON quirks included);
//! - [`discover`] finds a model's folder and its `run_*` folders;
//! - [`write`] writes the same format (used by `run` and `sweep`), atomically;
//! - [`merge`] gathers shard output folders into one (`modelbench merge`).

pub mod discover;
pub mod merge;
pub mod names;
pub mod pyjson;
pub mod read;
pub mod samples;
pub mod write;

use std::fmt;
use std::path::PathBuf;

use crate::metrics::Metric;

/// The parallelism part of a configuration: what one chart (or one set of charts) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Parallelism {
    pub tp: u32,
    pub dp: u32,
    pub pp: u32,
}

impl Parallelism {
    /// GPUs the configuration needs (TP·DP·PP).
    pub fn gpus(&self) -> u64 {
        u64::from(self.tp) * u64::from(self.dp) * u64::from(self.pp)
    }

    /// `tp2_dp1_pp1`, as used in file names.
    pub fn file_tag(&self) -> String {
        format!("tp{}_dp{}_pp{}", self.tp, self.dp, self.pp)
    }
}

impl fmt::Display for Parallelism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TP={}, DP={}, PP={}", self.tp, self.dp, self.pp)
    }
}

/// The load a run was measured at (`benchmark_config.max_concurrency` and `request_rate`;
/// both `None` for runs that do not record them, as the users' older runs). Runs at different
/// loads are different measurements: never averaged as repeats, charted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Load {
    pub max_concurrency: Option<u32>,
    /// Requests per second as the bits of a non-negative `f64` (their order is the numbers'
    /// order); `inf` is `f64::INFINITY`.
    request_rate_bits: Option<u64>,
}

impl Load {
    /// No recorded load.
    pub const NONE: Load = Load {
        max_concurrency: None,
        request_rate_bits: None,
    };

    pub fn new(max_concurrency: Option<u32>, request_rate: Option<f64>) -> Load {
        Load {
            max_concurrency,
            request_rate_bits: request_rate
                .filter(|r| *r > 0.0 && !r.is_nan())
                .map(f64::to_bits),
        }
    }

    pub fn request_rate(&self) -> Option<f64> {
        self.request_rate_bits.map(f64::from_bits)
    }

    pub fn is_none(&self) -> bool {
        *self == Load::default()
    }

    fn rate_text(r: f64) -> String {
        if r.is_infinite() {
            "inf".to_owned()
        } else {
            format!("{r}")
        }
    }

    /// A load level as a point label: `c16` (concurrency), `4 r/s`, `inf r/s` (request rate);
    /// empty without a load.
    pub fn label(&self) -> String {
        match (self.max_concurrency, self.request_rate()) {
            (_, Some(r)) => format!("{} r/s", Load::rate_text(r)),
            (Some(c), None) => format!("c{c}"),
            (None, None) => String::new(),
        }
    }

    /// `""` without a load, else `_c64`, `_rinf`, `_c64_r2.5` (appended to file names, so the
    /// users' older runs keep their file names).
    pub fn file_tag(&self) -> String {
        let mut t = String::new();
        if let Some(c) = self.max_concurrency {
            t.push_str(&format!("_c{c}"));
        }
        if let Some(r) = self.request_rate() {
            t.push_str(&format!("_r{}", Load::rate_text(r)));
        }
        t
    }
}

impl fmt::Display for Load {
    /// `concurrency 64`, `request rate 2 req/s, concurrency ≤ 64`; empty without a load.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.max_concurrency, self.request_rate()) {
            (None, None) => Ok(()),
            (Some(c), None) => write!(f, "concurrency {c}"),
            (None, Some(r)) => write!(f, "request rate {} req/s", Load::rate_text(r)),
            (Some(c), Some(r)) => write!(
                f,
                "request rate {} req/s, concurrency ≤ {c}",
                Load::rate_text(r)
            ),
        }
    }
}

/// What one chart (or set of charts) is about: a parallelism configuration at one load and,
/// when max_num_batched_tokens is not the x axis (`compare --x`), at one max_num_batched_tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChartKey {
    pub par: Parallelism,
    pub load: Load,
    /// `None` when max_num_batched_tokens is the x axis (the default); `Some(value)` (itself
    /// `None` for the server default) when it splits the charts instead.
    pub batch_tokens: Option<Option<u64>>,
}

impl ChartKey {
    /// `tp2_dp1_pp1` (the users' file names), `tp2_dp1_pp1_c64` with a load,
    /// `tp2_dp1_pp1_mnbt8192_c64` when max_num_batched_tokens splits the charts.
    pub fn file_tag(&self) -> String {
        let bt = match self.batch_tokens {
            None => String::new(),
            Some(Some(v)) => format!("_mnbt{v}"),
            Some(None) => "_mnbtdefault".to_owned(),
        };
        format!("{}{bt}{}", self.par.file_tag(), self.load.file_tag())
    }
}

impl fmt::Display for ChartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.par)?;
        match self.batch_tokens {
            None => {}
            Some(Some(v)) => write!(f, ", max_num_batched_tokens={v}")?,
            Some(None) => write!(f, ", max_num_batched_tokens=default")?,
        }
        if !self.load.is_none() {
            write!(f, ", {}", self.load)?;
        }
        Ok(())
    }
}

/// The value of one configuration field (an x value of `compare`'s charts): a number, a text,
/// or missing (not recorded: the server's default). Ordered missing first, then numbers, then
/// texts.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Missing,
    Num(f64),
    Text(String),
}

impl FieldValue {
    pub fn of_json(v: &serde_json::Value) -> FieldValue {
        use serde_json::Value;
        match v {
            Value::Null => FieldValue::Missing,
            Value::Number(n) => n.as_f64().map_or(FieldValue::Missing, FieldValue::Num),
            Value::String(s) if s.trim().eq_ignore_ascii_case("inf") => {
                FieldValue::Num(f64::INFINITY)
            }
            Value::String(s) => FieldValue::Text(s.clone()),
            v => FieldValue::Text(v.to_string()),
        }
    }

    pub fn of_u64(v: Option<u64>) -> FieldValue {
        v.map_or(FieldValue::Missing, |v| FieldValue::Num(v as f64))
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Num(v) => Some(*v),
            _ => None,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            FieldValue::Missing => 0,
            FieldValue::Num(_) => 1,
            FieldValue::Text(_) => 2,
        }
    }

    /// The cell of a CSV file: empty when missing.
    pub fn csv_cell(&self) -> String {
        match self {
            FieldValue::Missing => String::new(),
            v => v.to_string(),
        }
    }
}

impl Eq for FieldValue {}

impl PartialOrd for FieldValue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FieldValue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (FieldValue::Num(a), FieldValue::Num(b)) => a.total_cmp(b),
            (FieldValue::Text(a), FieldValue::Text(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl fmt::Display for FieldValue {
    /// `default` when missing, `inf`, whole numbers without a decimal point.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Missing => write!(f, "default"),
            FieldValue::Num(v) if v.is_infinite() => write!(f, "inf"),
            FieldValue::Num(v) => write!(f, "{v}"),
            FieldValue::Text(s) => write!(f, "{s}"),
        }
    }
}

/// A run's configuration key: parallelism plus max_num_batched_tokens (`None` when the run did
/// not record it, i.e. the server default), plus the load it was measured at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigKey {
    pub par: Parallelism,
    pub max_num_batched_tokens: Option<u64>,
    pub load: Load,
}

impl ConfigKey {
    /// The chart of the default x axis (max_num_batched_tokens).
    pub fn chart(&self) -> ChartKey {
        ChartKey {
            par: self.par,
            load: self.load,
            batch_tokens: None,
        }
    }
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.max_num_batched_tokens {
            Some(m) => write!(f, "{}, max_num_batched_tokens={}", self.par, m)?,
            None => write!(f, "{}, max_num_batched_tokens=default", self.par)?,
        }
        if !self.load.is_none() {
            write!(f, ", {}", self.load)?;
        }
        Ok(())
    }
}

/// The seven headline values of a run, indexed by [`Metric::index`]. `None` = missing
/// (absent, `null`, NaN or infinite in the file) — never treated as 0.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MetricValues(pub [Option<f64>; 7]);

impl MetricValues {
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.0[m.index()]
    }
    pub fn set(&mut self, m: Metric, v: Option<f64>) {
        self.0[m.index()] = v.filter(|x| x.is_finite());
    }
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }
}

/// What a run measured with `--slo` (`benchmark_stats.summary`): all `None` for runs without
/// an SLO, as the users' older runs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GoodputValues {
    pub requests_per_sec: Option<f64>,
    pub tokens_per_sec: Option<f64>,
    pub attainment_pct: Option<f64>,
}

impl GoodputValues {
    pub fn is_empty(&self) -> bool {
        *self == GoodputValues::default()
    }
}

/// One readable run of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The `run_*` folder.
    pub dir: PathBuf,
    /// `benchmark_config.model_name` (or config.json's `model`), when recorded.
    pub model_name: Option<String>,
    pub config: ConfigKey,
    /// Other server settings recorded in `benchmark_config` (e.g. a sweep's `max_num_seqs`),
    /// as sorted `key=value` pairs joined by `, `; empty when there are none. Runs that share a
    /// [`ConfigKey`] but differ here are not true repeats (`compare` warns about them).
    pub other_config: String,
    /// The same settings as values, by field name (what `compare --x FIELD` reads).
    pub settings: Vec<(String, FieldValue)>,
    pub values: MetricValues,
    /// Goodput and SLO attainment, when the run was measured with `--slo`.
    pub goodput: GoodputValues,
    /// Mean time per output token in ms (`time_per_output_token.tpot_avg`; for older runs
    /// without that group, the mean inter-token gap `inter_token_latency.inter_token_avg`):
    /// the Pareto chart's tokens/s per user is 1000 / this.
    pub tpot_mean_ms: Option<f64>,
    /// Why the run is not a complete measurement (`interrupted`, `16 requests not sent`), or
    /// `None` for a complete run. Partial runs are left out unless `--include-partial`.
    pub partial: Option<String>,
    /// Metric values the file holds but that cannot be measurements (negative, absurdly large),
    /// as `key = value`; they are missing in `values`.
    pub invalid_values: Vec<String>,
    /// Per-request samples, read only when a command needs them (`compare`'s intervals).
    pub samples: Option<std::sync::Arc<crate::significance::RunSamples>>,
    /// Whose metric definitions the run's samples follow (`run_info.metric_definitions`):
    /// `None` for modelbench's own, e.g. `vllm bench serve` for an imported run
    /// (docs/metrics.md, "modelbench and vllm bench serve").
    pub definitions: Option<String>,
    /// The server's version (`run_info.server_version`, vLLM's `/version`), when recorded.
    pub server_version: Option<String>,
    /// What the run recorded of its host and of the server's own metrics (runs written since
    /// the `/metrics` scrape; `None` for older runs): shown by the HTML report.
    pub server_view: Option<Box<ServerView>>,
}

/// A run's environment and the server's own view of it, as one line each (docs/metrics.md,
/// "The server's own view"). Built from `run_info` and the `server_metrics` block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerView {
    /// `GPUs: 2 × NVIDIA A100-SXM4-80GB (81920 MiB, driver 535.104.05); host: AMD EPYC, 2 cores`.
    pub environment: Option<String>,
    /// `running ≤ 3, waiting ≤ 3, KV cache ≤ 100 %, 0 preemptions, prefix-cache hits 0 %;
    /// tokens: prompt 717 = client, generation 1440 = client` — or why the scrape has nothing.
    pub metrics: Option<String>,
    /// The run folder has `timeline.png`.
    pub timeline: bool,
}

/// A run folder that could not be used, and why (printed as one warning line).
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedRun {
    pub dir: PathBuf,
    pub reason: String,
}

impl fmt::Display for SkippedRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skipping {}: {}", self.dir.display(), self.reason)
    }
}

/// Everything found in one model folder.
#[derive(Debug, Clone, Default)]
pub struct ModelRuns {
    /// Folder name, e.g. `Qwen_Qwen3-4B`.
    pub folder_name: String,
    pub dir: PathBuf,
    pub runs: Vec<RunSummary>,
    pub skipped: Vec<SkippedRun>,
    /// Partial runs taken out by [`ModelRuns::drop_partial`].
    pub partial_left_out: usize,
}

impl ModelRuns {
    /// The model's name for display: the `model_name` its runs record, else the folder name.
    pub fn display_name(&self) -> &str {
        self.runs
            .iter()
            .find_map(|r| r.model_name.as_deref())
            .unwrap_or(&self.folder_name)
    }

    /// Why the model has no run to use, when it has none (the error of `compare` and
    /// `summarize`).
    pub fn why_empty(&self) -> Option<String> {
        if !self.runs.is_empty() {
            return None;
        }
        let partial = match self.partial_left_out {
            0 => String::new(),
            n => format!(", {n} partial run(s) left out (--include-partial keeps them)"),
        };
        Some(format!(
            "{} has no readable run in {} ({} run folder(s) skipped{partial})",
            self.folder_name,
            self.dir.display(),
            self.skipped.len()
        ))
    }

    /// The warning lines of a loaded model, in the order `compare` and `summarize` print them:
    /// one per skipped run folder, one per run with impossible values, and (unless
    /// `include_partial`, which keeps partial runs) one naming the partial runs left out.
    pub fn warnings(&mut self, include_partial: bool) -> Vec<String> {
        let mut out: Vec<String> = self.skipped.iter().map(ToString::to_string).collect();
        for r in &self.runs {
            if !r.invalid_values.is_empty() {
                out.push(format!(
                    "{}: {} not a valid measurement (negative or above {:e}); treated as missing",
                    r.dir.display(),
                    r.invalid_values.join(", "),
                    read::MAX_METRIC_VALUE
                ));
            }
        }
        out.extend(self.drop_partial(include_partial));
        out
    }

    /// Applies the partial-run rule: unless `include`, takes the partial runs out and returns
    /// the one warning line that names them.
    pub fn drop_partial(&mut self, include: bool) -> Option<String> {
        if include {
            return None;
        }
        let (partial, complete): (Vec<RunSummary>, Vec<RunSummary>) =
            std::mem::take(&mut self.runs)
                .into_iter()
                .partition(|r| r.partial.is_some());
        self.runs = complete;
        self.partial_left_out += partial.len();
        if partial.is_empty() {
            return None;
        }
        let list = partial
            .iter()
            .map(|r| {
                let name = r.dir.file_name().unwrap_or(r.dir.as_os_str());
                format!(
                    "{} ({})",
                    name.to_string_lossy(),
                    r.partial.as_deref().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        Some(format!(
            "{}: {} partial run(s) left out (--include-partial keeps them): {list}",
            self.dir.display(),
            partial.len()
        ))
    }
}
