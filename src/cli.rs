//! Command-line definitions (raw clap arguments). No logic lives here: each command in
//! `crate::commands` validates these raw values into typed settings before doing anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImageFormat {
    Png,
    Svg,
    Both,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
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
    /// Where charts and CSV files are written (created if missing).
    #[arg(long, default_value = "benchmark_comparison_plots")]
    pub output_dir: PathBuf,
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
    /// Also write one figure with all seven metric panels per configuration.
    #[arg(long)]
    pub combined: bool,
    /// Image format of the charts.
    #[arg(long, value_enum, default_value_t = ImageFormat::Png)]
    pub format: ImageFormat,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Endpoint {
    Completions,
    Chat,
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
    #[arg(long)]
    pub input_len: Option<u32>,
    /// Output length in tokens (random dataset; overrides ShareGPT reply lengths).
    #[arg(long)]
    pub output_len: Option<u32>,
    /// Lengths drawn uniformly from [len·(1−R), len·(1+R)] (random dataset).
    #[arg(long, default_value_t = 0.0)]
    pub range_ratio: f64,
    /// tokenizer.json, or a model folder holding one, for exact token lengths.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,

    /// Requests kept in flight (closed loop); with --request-rate, an upper bound.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Open-loop arrival rate in requests/s (`inf` sends everything at once).
    #[arg(long)]
    pub request_rate: Option<String>,
    /// Gamma shape of the inter-arrival gaps (1 = Poisson).
    #[arg(long, default_value_t = 1.0)]
    pub burstiness: f64,
    /// Number of measured requests (default: every prompt / trace row, or 100 for --dataset).
    #[arg(long)]
    pub num_prompts: Option<usize>,
    /// Requests sent first and not counted.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// OpenAI API flavour.
    #[arg(long, value_enum, default_value_t = Endpoint::Completions)]
    pub endpoint: Endpoint,
    /// max_tokens of each request (dataset and trace lengths win).
    #[arg(long, default_value_t = 1024)]
    pub max_tokens: u32,
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f64,
    #[arg(long, default_value_t = 0.9)]
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
    #[arg(long, default_value_t = 600.0)]
    pub timeout: f64,
    /// JSON object merged into every request body.
    #[arg(long)]
    pub extra_body: Option<String>,
    /// Keep prompt and output text in individual_requests.
    #[arg(long)]
    pub save_text: bool,
    /// Read coalescing window in microseconds: while data arrives more often than every twice
    /// this (over all streams), the client naps this long before reading again and reads in
    /// batches (far less CPU per token). Reads keep the kernel's receive time of their bytes
    /// (Linux), so only tokens of one stream arriving within one window share a timestamp
    /// (elsewhere: a timestamp can be this late); sends due during a nap go out when it ends.
    /// 0: every event read at once.
    #[arg(long, value_name = "MICROSECONDS", default_value_t = 1000)]
    pub read_coalesce_us: u64,
    /// Free-form metadata recorded in the results (repeatable), e.g. `--label gpu=A100`.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// Root folder for run folders (`<output-dir>/<model>/run_<timestamp>/`).
    #[arg(long, default_value = DEFAULT_BASE_DIR)]
    pub output_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Server base URL, e.g. http://127.0.0.1:8000 (with or without /v1).
    #[arg(long)]
    pub base_url: String,
    #[command(flatten)]
    pub bench: BenchArgs,
    /// Recorded as metadata only: the server's tensor parallel size.
    #[arg(long, default_value_t = 1)]
    pub tp: u32,
    /// Recorded as metadata only: the server's data parallel size.
    #[arg(long, default_value_t = 1)]
    pub dp: u32,
    /// Recorded as metadata only: the server's pipeline parallel size.
    #[arg(long, default_value_t = 1)]
    pub pp: u32,
    /// Recorded as metadata only: the server's max_num_batched_tokens.
    #[arg(long)]
    pub max_num_batched_tokens: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    /// Tensor parallel sizes, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub tp: Vec<u32>,
    /// Data parallel sizes, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub dp: Vec<u32>,
    /// Pipeline parallel sizes, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub pp: Vec<u32>,
    /// max_num_batched_tokens values, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub max_num_batched_tokens: Vec<u64>,
    /// Any other `vllm serve` flag as a grid axis: `FLAG=V1,V2` (repeatable).
    #[arg(long = "serve-arg", value_name = "FLAG=V1,V2")]
    pub serve_args: Vec<String>,
    /// Grid from a TOML file instead of flags.
    #[arg(long)]
    pub grid: Option<PathBuf>,
    /// Skip configurations needing more than N GPUs (TP·DP·PP).
    #[arg(long)]
    pub gpus: Option<u32>,
    /// Benchmark each configuration R times.
    #[arg(long, default_value_t = 1)]
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
    #[arg(long, default_value_t = 1200.0)]
    pub startup_timeout: f64,
    /// Seconds between SIGTERM and SIGKILL when stopping the server.
    #[arg(long, default_value_t = 30.0)]
    pub stop_grace: f64,
    /// Fail a configuration when more than this fraction of its requests fail.
    #[arg(long, default_value_t = 0.5)]
    pub max_failed_fraction: f64,
    /// Skip configurations that already have a complete result.
    #[arg(long)]
    pub resume: bool,
    /// Print the plan (every command) and exit.
    #[arg(long)]
    pub dry_run: bool,
}
