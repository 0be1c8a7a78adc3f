//! modelbench: benchmark LLM serving configurations on vLLM and compare models.
//!
//! Data flow, one module per stage:
//! `workload` (what to send) → `client` (streaming HTTP, timestamps) → `records` (one record
//! per request) → `stats` (percentiles) → `results` (the on-disk format, read and write) →
//! `compare` (two models matched by configuration) → `plot` / `export` (charts, CSV, tables).
//! `sweep` drives `vllm serve` over a grid; `import` turns other tools' result files into run folders. `cli` holds the raw flags and `commands` the
//! validated settings and the glue of each sub-command.

pub mod atomic;
pub mod capacity;
pub mod cli;
pub mod client;
pub mod commands;
pub mod compare;
pub mod curves;
pub mod environment;
pub mod export;
pub mod hash;
pub mod import;
pub mod metrics;
pub mod plot;
pub mod records;
pub mod results;
pub mod runner;
pub mod secrets;
pub mod server_metrics;
pub mod signals;
pub mod significance;
pub mod slo;
pub mod stats;
pub mod summary;
pub mod sweep;
pub mod workload;
