//! `modelbench sweep`: start `vllm serve` for every configuration of a grid, benchmark each
//! with exactly what `modelbench run` does, stop the server, go on.
//!
//! - [`grid`]: the configurations, from flags or a TOML file;
//! - [`plan`]: `--gpus` filtering, `--repeats`, `--resume` skipping, the `--dry-run` text;
//! - [`command`]: the server command line of a configuration;
//! - [`server`]: the server's process group (spawn, readiness, stop, reaping, port);
//! - [`logscan`]: the telling line and the tail of `server.log`;
//! - [`shard`]: `--shard K/N`, `--shard-from-env`; [`emit`]: `--emit slurm|k8s`;
//! - [`state`]: run folders, `sweep_status.json`, what `--resume` counts as complete;
//! - [`warmup`], [`signals`], [`progress`]: one request before measuring, Ctrl-C/SIGTERM, progress lines;
//! - [`driver`]: the loop over the plan; [`summary`] and [`report`]: what is recorded and printed.

pub mod command;
pub mod driver;
pub mod emit;
pub mod grid;
pub mod logscan;
pub mod plan;
pub mod progress;
pub mod report;
pub mod server;
pub mod shard;
pub mod state;
pub mod summary;
