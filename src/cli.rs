//! Command-line definitions (clap). clap checks every constraint it can declare: ranges,
//! conflicts, and the value parsers at the end of this file (rates, seconds, `KEY=VALUE`, JSON
//! objects). Constraints between flags that clap cannot express are checked once, in
//! `crate::commands::settings`, which turns these raw values into the library's owned settings.
//! Only `main.rs` and `crate::commands` use this module; the library never does.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Map, Value};

use crate::slo::Slo;
use crate::workload::arrivals::Rate;
use crate::workload::limits::MAX_TOKENS_PER_REQUEST;

/// Default folder that `compare`/`summarize` read and that `run`/`sweep` write to
/// (the users' existing layout).
pub const DEFAULT_BASE_DIR: &str = "benchmarks/llm/vllm/latency/sweep_configs";

#[derive(Debug, Parser)]
#[command(name = "modelbench", version, about = "Benchmark LLM serving configurations on vLLM and compare models", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare two models' sweeps: bar charts per metric with % differences, CSV and tables.
    Compare(CompareArgs),
    /// One model's runs as a table/CSV, missing grid configurations and the best configuration per metric.
    Summarize(SummarizeArgs),
    /// Load-test one OpenAI-compatible server and write a run folder.
    Run(Box<RunArgs>),
    /// Start `vllm serve` for every configuration of a grid and benchmark each.
    Sweep(Box<SweepArgs>),
    /// Turn other tools' result files into run folders (one per file) that compare and summarize read.
    Import(ImportArgs),
    /// Gather the run folders of sweep shards that wrote to separate output folders into one.
    Merge(MergeArgs),
    /// Compare models as one self-contained HTML file: verdicts on top, the charts and the runs
    /// behind them below (no network requests; opens from disk).
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub sel: Selection,
    /// The HTML file to write.
    #[arg(short = 'o', long, default_value = "report.html")]
    pub output: PathBuf,
}

impl ReportArgs {
    /// `compare`'s flags for the same selection, writing only the report.
    pub fn into_compare(self) -> CompareArgs {
        CompareArgs {
            sel: self.sel,
            output_dir: PathBuf::new(),
            combined: false,
            format: ImageFormat::Svg,
            report: false,
            report_only: Some(self.output),
        }
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

/// The result formats `import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// Result JSON files of `vllm bench serve --save-result` (and benchmark_serving.py).
    VllmBench(ImportVllmBenchArgs),
}

#[derive(Debug, Args)]
pub struct ImportVllmBenchArgs {
    /// Result files, or folders whose `*.json` files are read (not recursively).
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Model name the runs are filed under (the model folder: `/` becomes `_`).
    #[arg(long)]
    pub model: String,
    /// The served configuration (not in vLLM's file).
    #[command(flatten)]
    pub served: ServedConfigArgs,
    /// Free-form metadata recorded in each run (repeatable), e.g. `--label network=ib`.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse::key_value)]
    pub labels: Vec<(String, String)>,
    /// Folder holding one sub-folder per model.
    #[arg(long, default_value = DEFAULT_BASE_DIR)]
    pub output_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Output folders of the shards (each holding model folders), or model folders.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where the merged results go (created if missing; what is there already is kept).
    #[arg(long)]
    pub output_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImageFormat {
    Png,
    Svg,
    Both,
}

/// Which runs `compare` and `report` put side by side (the flags they share).
#[derive(Debug, Args)]
pub struct Selection {
    /// First (baseline) model: `Org/Name`, `Org_Name`, or a unique suffix such as `Name`.
    #[arg(long)]
    pub model1: String,
    /// Second model, compared against model 1. Give it several times (or a comma list) to
    /// compare several models with model 1: one bar each per x value.
    #[arg(long, required = true, value_delimiter = ',')]
    pub model2: Vec<String>,
    /// Folder holding one sub-folder per model.
    #[arg(long, default_value = DEFAULT_BASE_DIR)]
    pub base_dir: PathBuf,
    /// Tensor parallel size of the configuration to plot.
    #[arg(long, default_value_t = 1)]
    pub tp: u32,
    /// Data parallel size of the configuration to plot.
    #[arg(long, default_value_t = 1)]
    pub dp: u32,
    /// Pipeline parallel size of the configuration to plot.
    #[arg(long, default_value_t = 1)]
    pub pp: u32,
    /// Plot every (TP, DP, PP) that has results for both models (ignores --tp/--dp/--pp).
    #[arg(long)]
    pub all_configs: bool,
    /// X axis of the bar charts (and the CSV's second column): `max_num_batched_tokens`,
    /// `max_concurrency`, `request_rate`, or any `benchmark_config` field (e.g. `max_num_seqs`).
    /// The other configuration fields split the charts.
    #[arg(long = "x", value_name = "FIELD", default_value = "max_num_batched_tokens",
          value_parser = crate::compare::XField::parse)]
    pub x: crate::compare::XField,
    /// Also draw load curves: per configuration measured at several loads, latency against
    /// output throughput (one line per model, points labelled by load level), and one Pareto
    /// chart (tokens/s per user against tokens/s per GPU) across every configuration.
    #[arg(long)]
    pub curves: bool,
    /// With --curves: divide throughput by the configuration's GPUs (TP·DP·PP).
    #[arg(long, requires = "curves")]
    pub per_gpu: bool,
    /// Keep partial runs (marked interrupted, or with requests not sent); they are left out by
    /// default, and marked `partial` in the tables and CSV files when kept.
    #[arg(long)]
    pub include_partial: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub sel: Selection,
    /// Where charts and CSV files are written (created if missing).
    #[arg(long, default_value = "benchmark_comparison_plots")]
    pub output_dir: PathBuf,
    /// Also write one figure with all seven metric panels per configuration.
    #[arg(long)]
    pub combined: bool,
    /// Image format of the charts.
    #[arg(long, value_enum, default_value_t = ImageFormat::Png)]
    pub format: ImageFormat,
    /// Also write `report.html` into --output-dir: one self-contained HTML file with the
    /// verdicts, the charts and the runs behind them (as `modelbench report`).
    #[arg(long)]
    pub report: bool,
    /// Set by `modelbench report`: write only this HTML file (no charts, CSV files or tables).
    #[arg(skip)]
    pub report_only: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// Model: `Org/Name`, `Org_Name`, or a unique suffix such as `Name`.
    #[arg(long)]
    pub model: String,
    /// Folder holding one sub-folder per model.
    #[arg(long, default_value = DEFAULT_BASE_DIR)]
    pub base_dir: PathBuf,
    /// Expected grid, e.g. `tp=1,2,4,8;dp=1,2,4,8;pp=1;mnbt=4096,20480,40960,73728;max_gpus=8`.
    #[arg(long)]
    pub expected_grid: Option<String>,
    /// Keep partial runs (marked interrupted, or with requests not sent); they are left out by
    /// default, and marked in the table and in the CSV's `partial` column when kept.
    #[arg(long)]
    pub include_partial: bool,
    /// Also write the summary as one self-contained HTML file: `report.html` in the model
    /// folder (or --report-output).
    #[arg(long)]
    pub report: bool,
    /// Where --report writes the page.
    #[arg(long, value_name = "FILE", requires = "report")]
    pub report_output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Endpoint {
    Completions,
    Chat,
}

/// What `--find-max` searches over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindMax {
    Concurrency,
    RequestRate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatasetKind {
    Random,
    Sharegpt,
}

/// Everything `run` needs to benchmark a server; `sweep` reuses it for every configuration.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Served model name sent in each request (and the model folder name, with `/` as `_`).
    #[arg(long)]
    pub model: String,

    /// Prompts file: one prompt per line, blank lines skipped.
    #[arg(long, group = "workload")]
    pub prompts_file: Option<PathBuf>,
    /// Trace CSV: request_arrived_at, request_num_prefill_tokens, request_num_decode_tokens.
    #[arg(long, group = "workload")]
    pub trace: Option<PathBuf>,
    /// Synthetic dataset.
    #[arg(long, value_enum, group = "workload")]
    pub dataset: Option<DatasetKind>,
    /// ShareGPT JSON file (with --dataset sharegpt).
    #[arg(long)]
    pub dataset_path: Option<PathBuf>,
    /// Prompt length in tokens (random dataset).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_TOKENS_PER_REQUEST as i64))]
    pub input_len: Option<u32>,
    /// Output length in tokens (random dataset; overrides ShareGPT reply lengths).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_TOKENS_PER_REQUEST as i64))]
    pub output_len: Option<u32>,
    /// Lengths drawn uniformly from [len·(1−R), len·(1+R)] (random dataset), 0 ≤ R < 1.
    #[arg(long, default_value_t = 0.0, value_parser = parse::unit_ratio)]
    pub range_ratio: f64,
    /// tokenizer.json, or a model folder holding one, for exact token lengths.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,

    /// Requests kept in flight (closed loop); with --request-rate, an upper bound. A list
    /// (`1,4,16,64`) runs one level after the other, ascending, one run folder each.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub concurrency: Vec<u32>,
    /// Open-loop arrival rate in requests/s (`inf` sends everything at once). A list
    /// (`1,2,4,inf`) runs one level after the other, ascending, one run folder each.
    #[arg(long, value_delimiter = ',', value_parser = parse::rate)]
    pub request_rate: Vec<Rate>,
    /// Gamma shape of the inter-arrival gaps (1 = Poisson).
    #[arg(long, default_value_t = 1.0, value_parser = parse::positive)]
    pub burstiness: f64,
    /// Number of measured requests (default: every prompt / trace row, or 100 for --dataset).
    #[arg(long, value_parser = parse::request_count::<1>)]
    pub num_prompts: Option<usize>,
    /// Requests sent first and not counted.
    #[arg(long, default_value_t = 0, value_parser = parse::request_count::<0>)]
    pub warmup: usize,
    /// Warm up at the measured load until the server is steady: windows of max(2 × concurrency,
    /// 8) requests until a window's median TTFT is no longer 10 % below the previous one's (at
    /// least 2, at most 6 windows); before the --warmup requests' count. `on` or `off`; default
    /// on for sweep, off for run.
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub steady_warmup: Option<bool>,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// OpenAI API flavour.
    #[arg(long, value_enum, default_value_t = Endpoint::Completions)]
    pub endpoint: Endpoint,
    /// max_tokens of each request (dataset and trace lengths win).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=MAX_TOKENS_PER_REQUEST as i64))]
    pub max_tokens: u32,
    #[arg(long, default_value_t = 0.7, value_parser = parse::non_negative)]
    pub temperature: f64,
    /// Nucleus sampling, 0 < P ≤ 1.
    #[arg(long, default_value_t = 0.9, value_parser = parse::top_p)]
    pub top_p: f64,
    /// Ask the server to ignore EOS so every request produces exactly its output length.
    #[arg(long)]
    pub ignore_eos: bool,
    /// Ask for usage in every chunk (vLLM's stream_options.continuous_usage_stats) to know how
    /// many tokens each chunk carries; off by default (not every server accepts it).
    #[arg(long)]
    pub continuous_usage_stats: bool,
    /// Bearer token (never written to any file or log).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value = "600", value_parser = parse::seconds::<false>, value_name = "SECONDS")]
    pub timeout: Duration,
    /// JSON object merged into every request body.
    #[arg(long, value_parser = parse::extra_body, value_name = "JSON")]
    pub extra_body: Option<Map<String, Value>>,
    /// Keep prompt and output text in individual_requests.
    #[arg(long)]
    pub save_text: bool,
    /// Read coalescing window in microseconds: while data arrives more often than every twice
    /// this (over all streams), the client naps this long before reading again and reads in
    /// batches (far less CPU per token). Reads keep the kernel's receive time of their bytes
    /// (Linux), so only tokens of one stream arriving within one window share a timestamp
    /// (elsewhere: a timestamp can be this late); sends due during a nap go out when it ends.
    /// 0: every event read at once.
    #[arg(long, value_name = "MICROSECONDS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=5000))]
    pub read_coalesce_us: u64,
    /// Seconds between two scrapes of the server's own `<base-url>/metrics` (Prometheus text;
    /// vLLM's counters and histograms), from before the first measured request to after the last;
    /// kept in server_metrics.csv and checked against the client's numbers.
    #[arg(long, default_value = "1", value_parser = parse::seconds::<false>, value_name = "SECONDS")]
    pub metrics_interval: Duration,
    /// Do not scrape the server's /metrics.
    #[arg(long)]
    pub no_server_metrics: bool,
    /// Image format of the run's timeline chart (timeline.png / timeline.svg in the run folder).
    #[arg(long, value_enum, default_value_t = ImageFormat::Png)]
    pub format: ImageFormat,
    /// Service-level objective in milliseconds, any subset of
    /// `ttft_ms=500,tpot_ms=50,itl_ms=200,e2e_ms=10000`: a request is good when it succeeded
    /// and meets every threshold; the run reports goodput and SLO attainment.
    #[arg(long, value_parser = parse::slo, value_name = "KEY=MS,...")]
    pub slo: Option<Slo>,
    /// A load level meets the SLO when at least this percentage of its requests is good.
    #[arg(long, default_value_t = crate::slo::DEFAULT_ATTAINMENT_PCT, value_parser = parse::percent, value_name = "PERCENT", requires = "slo")]
    pub slo_attainment: f64,
    /// Find the highest load that meets --slo: grow geometrically from the lowest
    /// --concurrency / --request-rate (default 1) until a level fails, then bisect.
    #[arg(long, value_enum, requires = "slo")]
    pub find_max: Option<FindMax>,
    /// Highest load --find-max tries (concurrency or requests/s).
    #[arg(long, value_parser = parse::positive, requires = "find_max")]
    pub search_max: Option<f64>,
    /// --find-max request-rate stops bisecting when the bounds are within this fraction.
    #[arg(long, default_value_t = 0.05, value_parser = parse::search_precision, requires = "find_max")]
    pub search_precision: f64,
    /// A load level with more than this fraction of failed requests (0 to 1) stops the ascent
    /// (and fails the configuration in a sweep).
    #[arg(long, default_value_t = 0.5, value_parser = parse::fraction)]
    pub max_failed_fraction: f64,
    /// Free-form metadata recorded in the results (repeatable), e.g. `--label gpu=A100`.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse::key_value)]
    pub labels: Vec<(String, String)>,

    /// Root folder for run folders (`<output-dir>/<model>/run_<timestamp>/`).
    #[arg(long, default_value = DEFAULT_BASE_DIR)]
    pub output_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Server base URL, e.g. http://127.0.0.1:8000 or https://host (with or without /v1).
    #[arg(long)]
    pub base_url: String,
    /// https: PEM file of CA certificates trusted in addition to the bundled Mozilla roots
    /// (a private CA, a self-signed server certificate).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// https: do not verify the server's certificate (recorded in run_info.tls; a warning is
    /// printed).
    #[arg(long)]
    pub insecure: bool,
    #[command(flatten)]
    pub bench: BenchArgs,
    #[command(flatten)]
    pub served: ServedConfigArgs,
}

/// The served configuration a run is filed under (`run`, `import`): recorded as metadata only.
#[derive(Debug, Args)]
pub struct ServedConfigArgs {
    /// Recorded as metadata only: the server's tensor parallel size.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub tp: u32,
    /// Recorded as metadata only: the server's data parallel size.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub dp: u32,
    /// Recorded as metadata only: the server's pipeline parallel size.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub pp: u32,
    /// Recorded as metadata only: the server's max_num_batched_tokens.
    #[arg(long)]
    pub max_num_batched_tokens: Option<u64>,
}

impl ServedConfigArgs {
    /// The configuration key (without a load: that is the run's own).
    pub fn config_key(&self) -> crate::results::ConfigKey {
        crate::results::ConfigKey {
            par: crate::results::Parallelism {
                tp: self.tp,
                dp: self.dp,
                pp: self.pp,
            },
            max_num_batched_tokens: self.max_num_batched_tokens,
            load: crate::results::Load::NONE,
        }
    }
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    /// Tensor parallel sizes, comma separated.
    #[arg(long, value_delimiter = ',', value_parser = crate::sweep::grid::parse_whole_u32)]
    pub tp: Vec<u32>,
    /// Data parallel sizes, comma separated.
    #[arg(long, value_delimiter = ',', value_parser = crate::sweep::grid::parse_whole_u32)]
    pub dp: Vec<u32>,
    /// Pipeline parallel sizes, comma separated.
    #[arg(long, value_delimiter = ',', value_parser = crate::sweep::grid::parse_whole_u32)]
    pub pp: Vec<u32>,
    /// max_num_batched_tokens values, comma separated.
    #[arg(long, value_delimiter = ',', value_parser = crate::sweep::grid::parse_whole)]
    pub max_num_batched_tokens: Vec<u64>,
    /// Any other `vllm serve` flag as a grid axis: `FLAG=V1,V2` (repeatable).
    #[arg(long = "serve-arg", value_name = "FLAG=V1,V2")]
    pub serve_args: Vec<String>,
    /// Grid from a TOML file instead of flags.
    #[arg(long, conflicts_with_all = ["tp", "dp", "pp", "max_num_batched_tokens", "serve_args"])]
    pub grid: Option<PathBuf>,
    /// Skip configurations needing more than N GPUs (TP·DP·PP).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub gpus: Option<u32>,
    /// Benchmark each configuration R times.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeats: u32,
    /// Server command line, split like a shell would.
    #[arg(long, default_value = "vllm serve")]
    pub serve_cmd: String,
    /// Model path or id given to the server (default: --model); the server is then also given
    /// `--served-model-name <--model>`, so requests and result folders use --model.
    #[arg(long)]
    pub serve_model: Option<String>,
    /// Extra arguments appended to every server command line (split like a shell would).
    #[arg(long, allow_hyphen_values = true)]
    pub serve_extra: Option<String>,
    /// Port the server listens on.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Seconds to wait for /health and /v1/models.
    #[arg(long, default_value = "1200", value_parser = parse::seconds::<false>, value_name = "SECONDS")]
    pub startup_timeout: Duration,
    /// Seconds between SIGTERM and SIGKILL when stopping the server.
    #[arg(long, default_value = "30", value_parser = parse::seconds::<true>, value_name = "SECONDS")]
    pub stop_grace: Duration,
    /// Skip configurations that already have a complete result.
    #[arg(long)]
    pub resume: bool,
    /// Print the plan (every command) and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Run only shard K of N (0 <= K < N): the configurations at grid positions i with
    /// i mod N = K, each with all its repeats and load levels.
    #[arg(long, value_name = "K/N", conflicts_with = "shard_from_env")]
    pub shard: Option<String>,
    /// Read the shard from SLURM_ARRAY_TASK_ID (Slurm) or JOB_COMPLETION_INDEX (Kubernetes);
    /// N from MODELBENCH_SHARD_COUNT or SLURM_ARRAY_TASK_COUNT (see docs/cluster.md).
    #[arg(long)]
    pub shard_from_env: bool,
    /// Only the configurations needing exactly N GPUs (TP·DP·PP); sharding then deals these.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub only_gpus: Option<u32>,
    /// Print a Slurm batch script or Kubernetes Indexed Jobs running this sweep, one array
    /// task / pod per configuration and one array / Job per GPU count, and exit.
    #[arg(long, value_enum, value_name = "ENGINE")]
    pub emit: Option<EmitKind>,
    /// With --emit: at most P configurations at once per array / Job.
    #[arg(long, value_name = "P", requires = "emit", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallel: Option<u32>,
    /// With --emit: a shell command run before modelbench in every task (activate vLLM's
    /// environment, load modules).
    #[arg(long, value_name = "CMD", requires = "emit")]
    pub setup: Option<String>,
    /// With --emit: each task's (pod's) time limit, Slurm syntax: MINUTES, H:MM:SS or
    /// D-HH:MM:SS.
    #[arg(long, value_name = "TIME", requires = "emit", default_value = "4:00:00", value_parser = parse::slurm_time)]
    pub time_limit: Duration,
    /// With --emit slurm: `gpu` requests `--gres=gpu:K`, `gpu:TYPE` requests
    /// `--gres=gpu:TYPE:K`, `none` requests no GPU (CPU-only clusters, tests).
    #[arg(
        long,
        value_name = "gpu|gpu:TYPE|none",
        requires = "emit",
        default_value = "gpu"
    )]
    pub gres: String,
    /// With --emit slurm: an extra `#SBATCH` line (repeatable), e.g. `--sbatch-arg=--partition=gpu`.
    #[arg(
        long,
        value_name = "ARG",
        requires = "emit",
        allow_hyphen_values = true
    )]
    pub sbatch_arg: Vec<String>,
    /// With --emit: the name of the job (array) / Job; the GPU count is appended.
    #[arg(
        long,
        value_name = "NAME",
        requires = "emit",
        default_value = "modelbench-sweep"
    )]
    pub job_name: String,
    /// With --emit k8s: the container image running vLLM (and modelbench, unless
    /// --modelbench-image is given).
    #[arg(long, value_name = "IMAGE", requires = "emit")]
    pub image: Option<String>,
    /// With --emit k8s: an image holding /usr/local/bin/modelbench, copied into the pod by an
    /// init container.
    #[arg(long, value_name = "IMAGE", requires = "emit")]
    pub modelbench_image: Option<String>,
    /// With --emit k8s: the PersistentVolumeClaim holding the results (mounted at /results,
    /// the sweep's --output-dir in the pod).
    #[arg(long, value_name = "NAME", requires = "emit")]
    pub pvc: Option<String>,
}

/// What `sweep --emit` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmitKind {
    /// An sbatch script (one array per GPU count).
    Slurm,
    /// Kubernetes Indexed Jobs (one per GPU count).
    K8s,
}

/// Value parsers: each turns one flag's text into a typed value or says what is wrong (clap
/// prefixes the flag's name).
mod parse {
    use std::time::Duration;

    use serde_json::{Map, Value};

    use crate::client::body::RESERVED_KEYS;
    use crate::workload::arrivals::{Rate, MIN_RATE};
    use crate::workload::limits::MAX_REQUESTS;

    /// Longest accepted number of seconds for a timeout or grace period (about 11.6 days).
    const MAX_SECONDS: f64 = 1e6;

    fn number(s: &str) -> Result<f64, String> {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("expected a number, got {s:?}"))
    }

    pub fn positive(s: &str) -> Result<f64, String> {
        let v = number(s)?;
        if v > 0.0 {
            Ok(v)
        } else {
            Err(format!("must be > 0, got {v}"))
        }
    }

    pub fn non_negative(s: &str) -> Result<f64, String> {
        let v = number(s)?;
        if v >= 0.0 {
            Ok(v)
        } else {
            Err(format!("must be ≥ 0, got {v}"))
        }
    }

    pub fn unit_ratio(s: &str) -> Result<f64, String> {
        let v = number(s)?;
        if (0.0..1.0).contains(&v) {
            Ok(v)
        } else {
            Err(format!("must be in [0, 1), got {v}"))
        }
    }

    pub fn fraction(s: &str) -> Result<f64, String> {
        let v = number(s)?;
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(format!("must be between 0 and 1, got {v}"))
        }
    }

    pub fn top_p(s: &str) -> Result<f64, String> {
        let v = number(s)?;
        if v > 0.0 && v <= 1.0 {
            Ok(v)
        } else {
            Err(format!("must be in (0, 1], got {v}"))
        }
    }

    /// A number of seconds, at most [`MAX_SECONDS`] (0 allowed with `ZERO`).
    pub fn seconds<const ZERO: bool>(s: &str) -> Result<Duration, String> {
        let v = number(s)?;
        let low_ok = if ZERO { v >= 0.0 } else { v > 0.0 };
        if !low_ok || v > MAX_SECONDS {
            let low = if ZERO { "0" } else { "more than 0" };
            return Err(format!(
                "{v} is not a number of seconds from {low} to {MAX_SECONDS:e}"
            ));
        }
        Duration::try_from_secs_f64(v).map_err(|e| e.to_string())
    }

    /// A Slurm time limit (`MINUTES`, `H:MM:SS`, `D-HH:MM:SS`, …).
    pub fn slurm_time(s: &str) -> Result<Duration, String> {
        crate::sweep::emit::parse_time_limit(s)
    }

    /// A request count from `MIN` to [`MAX_REQUESTS`].
    pub fn request_count<const MIN: usize>(s: &str) -> Result<usize, String> {
        let v: u64 = s
            .trim()
            .parse()
            .map_err(|_| format!("expected a whole number, got {s:?}"))?;
        match usize::try_from(v) {
            Ok(n) if (MIN..=MAX_REQUESTS).contains(&n) => Ok(n),
            _ => Err(format!("{v} is not in {MIN}..={MAX_REQUESTS}")),
        }
    }

    pub fn rate(s: &str) -> Result<Rate, String> {
        let r: Rate = s.parse()?;
        match r {
            Rate::PerSecond(v) if v < MIN_RATE => Err(format!(
                "{v} requests/s is below the {MIN_RATE:e} minimum (one request every {:.0} s)",
                1.0 / MIN_RATE
            )),
            r => Ok(r),
        }
    }

    pub fn percent(s: &str) -> Result<f64, String> {
        let v = number(s)?;
        if v > 0.0 && v <= 100.0 {
            Ok(v)
        } else {
            Err(format!("must be a percentage in (0, 100], got {v}"))
        }
    }

    pub fn search_precision(s: &str) -> Result<f64, String> {
        let v = number(s)?;
        if v > 0.0 && v < 1.0 {
            Ok(v)
        } else {
            Err(format!("must be a fraction in (0, 1), e.g. 0.05, got {v}"))
        }
    }

    pub fn slo(s: &str) -> Result<crate::slo::Slo, String> {
        s.parse()
    }

    pub fn key_value(s: &str) -> Result<(String, String), String> {
        match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(format!("expected KEY=VALUE, got {s:?}")),
        }
    }

    /// A JSON object that sets none of the keys modelbench controls.
    pub fn extra_body(s: &str) -> Result<Map<String, Value>, String> {
        let v: Value = serde_json::from_str(s).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Object(m) = v else {
            return Err("must be a JSON object, e.g. '{\"seed\": 1}'".into());
        };
        for (key, why) in RESERVED_KEYS {
            if m.contains_key(key) {
                return Err(format!("may not set \"{key}\" ({why})"));
            }
        }
        if m.get("stream_options").is_some_and(|so| !so.is_object()) {
            return Err("\"stream_options\" must be an object".into());
        }
        Ok(m)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parsers() {
            assert!(rate("1e-300").unwrap_err().contains("minimum"));
            assert_eq!(rate("inf"), Ok(Rate::Infinite));
            assert!(request_count::<1>("18446744073709551615").is_err());
            assert!(request_count::<1>("0").is_err());
            assert_eq!(request_count::<0>("0"), Ok(0));
            assert!(seconds::<false>("0").is_err());
            assert!(seconds::<false>("1e300").is_err());
            assert_eq!(seconds::<true>("0"), Ok(Duration::ZERO));
            assert!(extra_body("{\"stream\": false}")
                .unwrap_err()
                .contains("\"stream\""));
            assert!(extra_body("[1]").is_err());
            assert!(key_value("novalue").is_err());
            assert!(top_p("0").is_err());
            assert!(unit_ratio("1.5").is_err());
            assert!(slo("ttft=5").unwrap_err().contains("unknown objective"));
            assert!(percent("0").is_err() && percent("101").is_err());
            assert!(search_precision("1").is_err());
        }
    }
}
