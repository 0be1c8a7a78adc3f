//! Raw flags → owned settings, once per command (in the spirit of ripgrep's low-level args →
//! HiArgs). clap has already checked each flag on its own (ranges, value parsers, conflicts);
//! what is checked here is what depends on several flags, and every check names a flag. The
//! result holds no clap types; the secrets it carries are registered with [`crate::secrets`] so
//! no writer can leak them.

use crate::capacity::{Axis, SearchSpec, DEFAULT_SEARCH_MAX};
use crate::cli::{BenchArgs, DatasetKind, Endpoint as EndpointArg, FindMax, ImageFormat};
use crate::client::{BodyOptions, Endpoint};
use crate::runner::settings::DEFAULT_CONCURRENCY;
use crate::runner::{BenchSettings, LoadMode, SettingsError};
use crate::slo::SloTarget;
use crate::workload::arrivals::Rate;
use crate::workload::limits::{available_memory, memory_estimate, Dominant};
use crate::workload::{WorkloadSource, WorkloadSpec};

fn invalid(flag: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        flag,
        message: message.into(),
    }
}

fn workload_source(a: &BenchArgs) -> Result<WorkloadSource, SettingsError> {
    let only = |flag: &'static str, set: bool, applies: &str| {
        if set {
            Err(invalid(flag, format!("only applies to {applies}")))
        } else {
            Ok(())
        }
    };
    let is_random = a.dataset == Some(DatasetKind::Random);
    let is_sharegpt = a.dataset == Some(DatasetKind::Sharegpt);
    only(
        "--input-len",
        a.input_len.is_some() && !is_random,
        "--dataset random",
    )?;
    only(
        "--output-len",
        a.output_len.is_some() && !(is_random || is_sharegpt),
        "--dataset random or sharegpt",
    )?;
    only(
        "--range-ratio",
        a.range_ratio != 0.0 && !is_random,
        "--dataset random",
    )?;
    only(
        "--dataset-path",
        a.dataset_path.is_some() && !is_sharegpt,
        "--dataset sharegpt",
    )?;
    match (&a.prompts_file, &a.trace, a.dataset) {
        (Some(p), None, None) => Ok(WorkloadSource::PromptsFile(p.clone())),
        (None, Some(t), None) => Ok(WorkloadSource::Trace(t.clone())),
        (None, None, Some(DatasetKind::Random)) => match a.input_len {
            Some(input_len) => Ok(WorkloadSource::Random {
                input_len,
                output_len: a.output_len.unwrap_or(a.max_tokens),
                range_ratio: a.range_ratio,
            }),
            None => Err(invalid("--input-len", "required with --dataset random")),
        },
        (None, None, Some(DatasetKind::Sharegpt)) => match &a.dataset_path {
            Some(p) => Ok(WorkloadSource::ShareGpt {
                path: p.clone(),
                output_len: a.output_len,
            }),
            None => Err(invalid(
                "--dataset-path",
                "required with --dataset sharegpt (a ShareGPT JSON file)",
            )),
        },
        (None, None, None) => Err(invalid(
            "--prompts-file",
            "a workload is required: --prompts-file, --trace or --dataset",
        )),
        _ => Err(invalid(
            "--prompts-file",
            "give only one of --prompts-file, --trace and --dataset",
        )),
    }
}

/// Every load level, ascending (duplicates dropped): the `--concurrency` list in closed loop,
/// the `--request-rate` list in open loop (a single `--concurrency` is then every level's cap).
fn load_levels(a: &BenchArgs, source: &WorkloadSource) -> Result<Vec<LoadMode>, SettingsError> {
    if a.request_rate.is_empty() && a.burstiness != 1.0 {
        return Err(invalid("--burstiness", "only applies with --request-rate"));
    }
    let mut concurrency = a.concurrency.clone();
    concurrency.sort_unstable();
    concurrency.dedup();
    let mut rates = a.request_rate.clone();
    rates.sort_by(|x, y| rate_value(*x).total_cmp(&rate_value(*y)));
    rates.dedup();
    if let WorkloadSource::Trace(_) = source {
        if !rates.is_empty() {
            return Err(invalid(
                "--request-rate",
                "a trace sends each request at its own arrival time; drop --request-rate",
            ));
        }
        if concurrency.len() > 1 {
            return Err(invalid(
                "--concurrency",
                "a trace takes one cap on the requests in flight, not a list",
            ));
        }
        return Ok(vec![LoadMode::Trace {
            max_concurrency: concurrency.first().copied(),
        }]);
    }
    if rates.is_empty() {
        if concurrency.is_empty() {
            concurrency.push(DEFAULT_CONCURRENCY);
        }
        return Ok(concurrency
            .into_iter()
            .map(|concurrency| LoadMode::Closed { concurrency })
            .collect());
    }
    if concurrency.len() > 1 {
        return Err(invalid(
            "--concurrency",
            "with --request-rate it is a cap on the requests in flight: give one value, \
             not a list (the levels are the --request-rate list)",
        ));
    }
    Ok(rates
        .into_iter()
        .map(|rate| LoadMode::Open {
            rate,
            burstiness: a.burstiness,
            max_concurrency: concurrency.first().copied(),
        })
        .collect())
}

/// A rate as a number for ordering (`inf` last).
fn rate_value(r: Rate) -> f64 {
    match r {
        Rate::PerSecond(v) => v,
        Rate::Infinite => f64::INFINITY,
    }
}

/// `--find-max`: where the search starts, how far it goes, and the load of its probes.
fn search_spec(a: &BenchArgs, levels: &[LoadMode]) -> Result<Option<SearchSpec>, SettingsError> {
    let Some(find) = a.find_max else {
        return Ok(None);
    };
    let max = a.search_max.unwrap_or(DEFAULT_SEARCH_MAX);
    let (axis, start, template) = match find {
        FindMax::Concurrency => {
            if !a.request_rate.is_empty() {
                return Err(invalid(
                    "--request-rate",
                    "--find-max concurrency searches a closed loop; drop --request-rate \
                     (or use --find-max request-rate)",
                ));
            }
            if levels.iter().any(|l| matches!(l, LoadMode::Trace { .. })) {
                return Err(invalid("--find-max", "does not apply to a trace"));
            }
            let start = a.concurrency.iter().min().copied().unwrap_or(1);
            if max < 1.0 {
                return Err(invalid(
                    "--search-max",
                    "must be at least 1 for concurrency",
                ));
            }
            (Axis::Concurrency, f64::from(start), levels[0].clone())
        }
        FindMax::RequestRate => {
            if levels.iter().any(|l| matches!(l, LoadMode::Trace { .. })) {
                return Err(invalid("--find-max", "does not apply to a trace"));
            }
            if a.request_rate.contains(&Rate::Infinite) {
                return Err(invalid(
                    "--request-rate",
                    "--find-max request-rate starts from a finite rate; drop `inf`",
                ));
            }
            if a.concurrency.len() > 1 {
                return Err(invalid(
                    "--concurrency",
                    "with --find-max request-rate it is a cap: give one value",
                ));
            }
            let start = a
                .request_rate
                .iter()
                .map(|r| rate_value(*r))
                .fold(f64::INFINITY, f64::min);
            let start = if start.is_finite() { start } else { 1.0 };
            let template = LoadMode::Open {
                rate: Rate::PerSecond(start),
                burstiness: a.burstiness,
                max_concurrency: a.concurrency.first().copied(),
            };
            (Axis::RequestRate, start, template)
        }
    };
    if max < start {
        return Err(invalid(
            "--search-max",
            format!("{max} is below the starting level {start}"),
        ));
    }
    Ok(Some(SearchSpec {
        axis,
        start,
        max,
        precision: a.search_precision,
        template,
    }))
}

/// Refuses a workload that cannot fit in memory, naming the flag that makes it too large.
fn check_memory(spec: &WorkloadSpec, available: Option<u64>) -> Result<(), SettingsError> {
    let Some(available) = available else {
        return Ok(());
    };
    let (need, dominant) = memory_estimate(spec);
    // Leave room for the rest of the system and for the results file's serialisation.
    if need <= available / 10 * 8 {
        return Ok(());
    }
    let flag = match dominant {
        Dominant::Requests => "--num-prompts",
        Dominant::Warmup => "--warmup",
        Dominant::PromptLength => "--input-len",
        Dominant::OutputLength => match spec.source {
            WorkloadSource::Random { .. } | WorkloadSource::ShareGpt { .. } => "--output-len",
            _ => "--max-tokens",
        },
    };
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    Err(invalid(
        flag,
        format!(
            "this workload needs about {:.1} GiB of memory (every request and token gap is kept \
             for the results), but {:.1} GiB is available; make it smaller",
            gib(need),
            gib(available)
        ),
    ))
}

/// Resolves the benchmark flags into settings (once), registering every secret they carry.
pub fn bench_settings(a: &BenchArgs) -> Result<BenchSettings, SettingsError> {
    let model = a.model.clone();
    // The model names the results folder: refuse names that are not one (`..`, empty, …).
    crate::results::names::model_folder_name(&model)
        .map_err(|e| invalid("--model", e.to_string()))?;
    let source = workload_source(a)?;
    let levels = load_levels(a, &source)?;
    let search = search_spec(a, &levels)?;
    let load = match &search {
        Some(spec) => spec.load_at(spec.start),
        None => levels[0].clone(),
    };
    let workload = WorkloadSpec {
        source,
        num_prompts: a.num_prompts,
        warmup: a.warmup,
        seed: a.seed,
        max_tokens: a.max_tokens,
    };
    check_memory(&workload, available_memory())?;
    let api_key = a.api_key.clone().filter(|k| !k.is_empty());
    if let Some(k) = &api_key {
        crate::secrets::register(k);
    }
    let is_trace = matches!(workload.source, WorkloadSource::Trace(_));
    let body = BodyOptions {
        endpoint: match a.endpoint {
            EndpointArg::Completions => Endpoint::Completions,
            EndpointArg::Chat => Endpoint::Chat,
        },
        model: model.clone(),
        temperature: a.temperature,
        top_p: a.top_p,
        ignore_eos: a.ignore_eos || is_trace,
        continuous_usage_stats: a.continuous_usage_stats,
        extra: a.extra_body.clone().unwrap_or_default(),
    };
    Ok(BenchSettings {
        model,
        ignore_eos_requested: a.ignore_eos,
        workload,
        tokenizer: a.tokenizer.clone(),
        load,
        body,
        api_key,
        timeout: a.timeout,
        save_text: a.save_text,
        read_coalesce: std::time::Duration::from_micros(a.read_coalesce_us),
        server_metrics: (!a.no_server_metrics).then_some(a.metrics_interval),
        steady_warmup: 0,
        timeline: (
            matches!(a.format, ImageFormat::Png | ImageFormat::Both),
            matches!(a.format, ImageFormat::Svg | ImageFormat::Both),
        ),
        labels: a.labels.iter().cloned().collect(),
        output_dir: a.output_dir.clone(),
        levels,
        slo: a.slo.map(|slo| SloTarget {
            slo,
            attainment_pct: a.slo_attainment,
        }),
        search,
        max_failed_fraction: a.max_failed_fraction,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::workload::arrivals::Rate;
    use clap::Parser;

    fn args(extra: &[&str]) -> Result<BenchArgs, String> {
        let mut argv = vec![
            "modelbench",
            "run",
            "--base-url",
            "http://127.0.0.1:1",
            "--model",
            "m",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Run(r) => Ok(r.bench),
            _ => Err("not run".into()),
        }
    }

    /// Settings from `modelbench run` flags (panics on invalid ones: tests only).
    pub(crate) fn settings(extra: &[&str]) -> BenchSettings {
        bench_settings(&args(extra).unwrap()).unwrap()
    }

    /// The error, from clap or from the resolution.
    fn err(extra: &[&str]) -> String {
        match args(extra) {
            Err(e) => e,
            Ok(a) => bench_settings(&a).unwrap_err().to_string(),
        }
    }

    #[test]
    fn defaults_and_modes() {
        let s = settings(&["--prompts-file", "p.txt"]);
        assert_eq!(s.load, LoadMode::Closed { concurrency: 8 });
        assert!(s.body.extra.is_empty());
        assert_eq!(s.read_coalesce, Duration::from_micros(1000));
        assert_eq!(s.options()["read_coalesce_us"], 1000);
        let s = settings(&["--prompts-file", "p", "--read-coalesce-us", "0"]);
        assert!(s.read_coalesce.is_zero());
        let s = settings(&[
            "--dataset",
            "random",
            "--input-len",
            "5",
            "--request-rate",
            "inf",
        ]);
        assert_eq!(
            s.load,
            LoadMode::Open {
                rate: Rate::Infinite,
                burstiness: 1.0,
                max_concurrency: None
            }
        );
        assert_eq!(
            s.workload.source,
            WorkloadSource::Random {
                input_len: 5,
                output_len: 1024,
                range_ratio: 0.0
            }
        );
        let s = settings(&["--trace", "t.csv", "--concurrency", "4"]);
        assert_eq!(
            s.load,
            LoadMode::Trace {
                max_concurrency: Some(4)
            }
        );
        assert!(s.body.ignore_eos, "traces ask for exact output lengths");
        let s = settings(&[
            "--prompts-file",
            "p",
            "--label",
            "gpu=A100",
            "--extra-body",
            "{\"seed\":1}",
        ]);
        assert_eq!(s.labels.get("gpu").map(String::as_str), Some("A100"));
        assert_eq!(s.body.extra.get("seed"), Some(&Value::from(1)));
    }

    #[test]
    fn load_levels_ascend_and_searches_start_low() {
        let s = settings(&["--prompts-file", "p", "--concurrency", "16,1,4,4"]);
        let c: Vec<Option<u32>> = s.levels.iter().map(LoadMode::max_in_flight).collect();
        assert_eq!(c, [Some(1), Some(4), Some(16)]);
        assert_eq!(s.load, LoadMode::Closed { concurrency: 1 });
        let s = settings(&["--prompts-file", "p", "--request-rate", "inf,2,0.5"]);
        let r: Vec<String> = s
            .levels
            .iter()
            .map(|l| match l {
                LoadMode::Open { rate, .. } => rate.to_string(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(r, ["0.5", "2", "inf"]);
        let s = settings(&[
            "--prompts-file",
            "p",
            "--slo",
            "ttft_ms=500",
            "--find-max",
            "request-rate",
            "--concurrency",
            "64",
        ]);
        let spec = s.search.unwrap();
        assert_eq!((spec.start, spec.max), (1.0, DEFAULT_SEARCH_MAX));
        assert_eq!(spec.load_at(3.0).max_in_flight(), Some(64));
        assert_eq!(s.slo.unwrap().attainment_pct, 99.0);
        let s = settings(&[
            "--prompts-file",
            "p",
            "--slo",
            "ttft_ms=500",
            "--find-max",
            "concurrency",
            "--concurrency",
            "8,2",
            "--search-max",
            "40",
        ]);
        let spec = s.search.unwrap();
        assert_eq!(
            (spec.axis, spec.start, spec.max),
            (Axis::Concurrency, 2.0, 40.0)
        );
        assert_eq!(s.load, LoadMode::Closed { concurrency: 2 });
    }

    #[test]
    fn errors_name_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "a workload is required"),
            (&["--dataset", "random"], "--input-len"),
            (&["--dataset", "sharegpt"], "--dataset-path"),
            (&["--prompts-file", "p", "--input-len", "3"], "--input-len"),
            (
                &["--prompts-file", "p", "--concurrency", "0"],
                "--concurrency",
            ),
            (
                &["--prompts-file", "p", "--request-rate", "x"],
                "--request-rate",
            ),
            (
                &["--prompts-file", "p", "--request-rate", "1e-300"],
                "--request-rate",
            ),
            (
                &["--prompts-file", "p", "--burstiness", "2"],
                "--burstiness",
            ),
            (&["--trace", "t", "--request-rate", "2"], "--request-rate"),
            (&["--trace", "t", "--concurrency", "1,2"], "--concurrency"),
            (
                &[
                    "--prompts-file",
                    "p",
                    "--slo",
                    "ttft_ms=1",
                    "--search-max",
                    "9",
                ],
                "--find-max",
            ),
            (
                &[
                    "--prompts-file",
                    "p",
                    "--slo",
                    "ttft_ms=1",
                    "--find-max",
                    "concurrency",
                    "--concurrency",
                    "8",
                    "--search-max",
                    "4",
                ],
                "--search-max",
            ),
            (&["--prompts-file", "p", "--slo", "p99=1"], "--slo"),
            (&["--prompts-file", "p", "--top-p", "0"], "--top-p"),
            (&["--prompts-file", "p", "--timeout", "0"], "--timeout"),
            (
                &["--prompts-file", "p", "--read-coalesce-us", "5001"],
                "--read-coalesce-us",
            ),
            (
                &["--prompts-file", "p", "--extra-body", "[1]"],
                "--extra-body",
            ),
            (
                &["--prompts-file", "p", "--extra-body", "{\"stream\": false}"],
                "\"stream\"",
            ),
            (
                &["--prompts-file", "p", "--extra-body", "{nope"],
                "not valid JSON",
            ),
            (&["--prompts-file", "p", "--label", "novalue"], "--label"),
            (
                &["--prompts-file", "p", "--num-prompts", "0"],
                "--num-prompts",
            ),
            (
                &[
                    "--prompts-file",
                    "p",
                    "--num-prompts",
                    "18446744073709551615",
                ],
                "--num-prompts",
            ),
            (
                &[
                    "--dataset",
                    "random",
                    "--input-len",
                    "4",
                    "--range-ratio",
                    "1.5",
                ],
                "--range-ratio",
            ),
            (
                &["--dataset", "random", "--input-len", "4294967295"],
                "--input-len",
            ),
        ];
        for (flags, want) in cases {
            let e = err(flags);
            assert!(e.contains(want), "{flags:?}: {e}");
        }
    }

    #[test]
    fn workloads_that_cannot_fit_are_refused_naming_the_flag() {
        let a = args(&["--prompts-file", "p", "--num-prompts", "100000000"]).unwrap();
        let spec = bench_settings(&a).map(|s| s.workload);
        // Whatever this machine has, 100 M requests of 1024-token prompts do not fit in 1 GiB.
        let spec = spec.unwrap_or_else(|_| WorkloadSpec {
            source: WorkloadSource::PromptsFile("p".into()),
            num_prompts: Some(100_000_000),
            warmup: 0,
            seed: 0,
            max_tokens: 1024,
        });
        let e = check_memory(&spec, Some(1 << 30)).unwrap_err().to_string();
        assert!(e.starts_with("--num-prompts: "), "{e}");
        let mut w = spec.clone();
        w.num_prompts = Some(10);
        w.warmup = 100_000_000;
        let e = check_memory(&w, Some(1 << 30)).unwrap_err().to_string();
        assert!(e.starts_with("--warmup: "), "{e}");
        w.warmup = 0;
        assert!(check_memory(&w, Some(1 << 30)).is_ok());
        assert!(check_memory(&spec, None).is_ok());
    }
}
