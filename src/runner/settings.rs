//! Validating `BenchArgs` into [`BenchSettings`]: every check names the flag.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::SettingsError;
use crate::cli::{BenchArgs, DatasetKind, Endpoint};
use crate::client::body::RESERVED_KEYS;
use crate::client::BodyOptions;
use crate::workload::arrivals::Rate;
use crate::workload::{WorkloadSource, WorkloadSpec};

/// Closed loop concurrency when nothing is said.
pub const DEFAULT_CONCURRENCY: u32 = 8;

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

/// Validated benchmark settings (from [`BenchArgs`]); echoed into config.json.
#[derive(Debug, Clone)]
pub struct BenchSettings {
    /// The raw flags (the API key among them: never serialise this).
    pub args: BenchArgs,
    pub workload: WorkloadSpec,
    pub tokenizer: Option<PathBuf>,
    pub load: LoadMode,
    /// Request body options; `ignore_eos` is the effective value (forced on for traces).
    pub body: BodyOptions,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub save_text: bool,
    /// Read-coalescing window (the timestamp resolution of fast streams).
    pub read_coalesce: Duration,
    pub labels: BTreeMap<String, String>,
    pub output_dir: PathBuf,
}

fn invalid(flag: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        flag,
        message: message.into(),
    }
}

/// Longest accepted read-coalescing window: beyond it, batching would blur real inter-token gaps.
const MAX_READ_COALESCE_US: u64 = 5_000;

fn read_coalesce(us: u64) -> Result<Duration, SettingsError> {
    if us > MAX_READ_COALESCE_US {
        return Err(invalid(
            "--read-coalesce-us",
            format!("{us} is above the {MAX_READ_COALESCE_US} µs maximum (it is the timestamp resolution of fast streams)"),
        ));
    }
    Ok(Duration::from_micros(us))
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
    if let Some(0) = a.output_len {
        return Err(invalid("--output-len", "must be at least 1"));
    }
    match (&a.prompts_file, &a.trace, a.dataset) {
        (Some(p), None, None) => Ok(WorkloadSource::PromptsFile(p.clone())),
        (None, Some(t), None) => Ok(WorkloadSource::Trace(t.clone())),
        (None, None, Some(DatasetKind::Random)) => {
            let input_len = match a.input_len {
                Some(n) if n >= 1 => n,
                Some(_) => return Err(invalid("--input-len", "must be at least 1")),
                None => return Err(invalid("--input-len", "required with --dataset random")),
            };
            if !(0.0..1.0).contains(&a.range_ratio) {
                return Err(invalid(
                    "--range-ratio",
                    format!("must be in [0, 1), got {}", a.range_ratio),
                ));
            }
            Ok(WorkloadSource::Random {
                input_len,
                output_len: a.output_len.unwrap_or(a.max_tokens),
                range_ratio: a.range_ratio,
            })
        }
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

fn load_mode(a: &BenchArgs, source: &WorkloadSource) -> Result<LoadMode, SettingsError> {
    if let Some(0) = a.concurrency {
        return Err(invalid("--concurrency", "must be at least 1"));
    }
    if !(a.burstiness.is_finite() && a.burstiness > 0.0) {
        return Err(invalid(
            "--burstiness",
            format!("must be a number > 0, got {}", a.burstiness),
        ));
    }
    let rate = match &a.request_rate {
        Some(r) => Some(
            r.parse::<Rate>()
                .map_err(|m| invalid("--request-rate", m))?,
        ),
        None => None,
    };
    if rate.is_none() && a.burstiness != 1.0 {
        return Err(invalid("--burstiness", "only applies with --request-rate"));
    }
    match (source, rate) {
        (WorkloadSource::Trace(_), Some(_)) => Err(invalid(
            "--request-rate",
            "a trace sends each request at its own arrival time; drop --request-rate",
        )),
        (WorkloadSource::Trace(_), None) => Ok(LoadMode::Trace {
            max_concurrency: a.concurrency,
        }),
        (_, Some(rate)) => Ok(LoadMode::Open {
            rate,
            burstiness: a.burstiness,
            max_concurrency: a.concurrency,
        }),
        (_, None) => Ok(LoadMode::Closed {
            concurrency: a.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
        }),
    }
}

fn extra_body(a: &BenchArgs) -> Result<Map<String, Value>, SettingsError> {
    let Some(raw) = &a.extra_body else {
        return Ok(Map::new());
    };
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| invalid("--extra-body", format!("not valid JSON: {e}")))?;
    let Value::Object(m) = v else {
        return Err(invalid(
            "--extra-body",
            "must be a JSON object, e.g. '{\"seed\": 1}'",
        ));
    };
    for (key, why) in RESERVED_KEYS {
        if m.contains_key(key) {
            return Err(invalid(
                "--extra-body",
                format!("may not set \"{key}\" ({why})"),
            ));
        }
    }
    if let Some(so) = m.get("stream_options") {
        if !so.is_object() {
            return Err(invalid(
                "--extra-body",
                "\"stream_options\" must be an object",
            ));
        }
    }
    Ok(m)
}

fn labels(a: &BenchArgs) -> Result<BTreeMap<String, String>, SettingsError> {
    a.labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(invalid("--label", format!("expected KEY=VALUE, got {l:?}"))),
        })
        .collect()
}

impl BenchSettings {
    pub fn from_args(args: &BenchArgs) -> Result<BenchSettings, SettingsError> {
        let a = args;
        if a.model.trim().is_empty() {
            return Err(invalid("--model", "must not be empty"));
        }
        let source = workload_source(a)?;
        let load = load_mode(a, &source)?;
        if let Some(0) = a.num_prompts {
            return Err(invalid("--num-prompts", "must be at least 1"));
        }
        if a.max_tokens == 0 {
            return Err(invalid("--max-tokens", "must be at least 1"));
        }
        if !(a.temperature.is_finite() && a.temperature >= 0.0) {
            return Err(invalid(
                "--temperature",
                format!("must be a number ≥ 0, got {}", a.temperature),
            ));
        }
        if !(a.top_p > 0.0 && a.top_p <= 1.0) {
            return Err(invalid(
                "--top-p",
                format!("must be in (0, 1], got {}", a.top_p),
            ));
        }
        if !(a.timeout.is_finite() && a.timeout > 0.0 && a.timeout < 1e9) {
            return Err(invalid(
                "--timeout",
                format!("must be a number of seconds > 0, got {}", a.timeout),
            ));
        }
        let is_trace = matches!(source, WorkloadSource::Trace(_));
        let body = BodyOptions {
            endpoint: a.endpoint,
            model: a.model.clone(),
            temperature: a.temperature,
            top_p: a.top_p,
            ignore_eos: a.ignore_eos || is_trace,
            continuous_usage_stats: a.continuous_usage_stats,
            extra: extra_body(a)?,
        };
        Ok(BenchSettings {
            args: a.clone(),
            workload: WorkloadSpec {
                source,
                num_prompts: a.num_prompts,
                warmup: a.warmup,
                seed: a.seed,
                max_tokens: a.max_tokens,
            },
            tokenizer: a.tokenizer.clone(),
            load,
            body,
            api_key: a.api_key.clone().filter(|k| !k.is_empty()),
            timeout: Duration::from_secs_f64(a.timeout),
            save_text: a.save_text,
            read_coalesce: read_coalesce(a.read_coalesce_us)?,
            labels: labels(a)?,
            output_dir: a.output_dir.clone(),
        })
    }

    /// Every option as written to config.json (the API key only as "set"/absent). Keys the
    /// users' config.json had keep their names.
    pub fn to_config_json(&self) -> Map<String, Value> {
        let a = &self.args;
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
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
            "model": a.model,
            "prompts_file": path(&a.prompts_file),
            "trace": path(&a.trace),
            "dataset": self.workload.source.name(),
            "dataset_path": path(&a.dataset_path),
            "input_len": input_len,
            "output_len": output_len,
            "range_ratio": range_ratio,
            "tokenizer": path(&self.tokenizer),
            "load_mode": mode,
            "concurrency": concurrency,
            "request_rate": rate,
            "burstiness": burstiness,
            "num_prompts": self.workload.num_prompts,
            "warmup": self.workload.warmup,
            "seed": self.workload.seed,
            "endpoint": match self.body.endpoint { Endpoint::Completions => "completions", Endpoint::Chat => "chat" },
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
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(extra: &[&str]) -> BenchArgs {
        let mut argv = vec![
            "modelbench",
            "run",
            "--base-url",
            "http://127.0.0.1:1",
            "--model",
            "m",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(r) => r.bench,
            _ => unreachable!(),
        }
    }

    fn err(extra: &[&str]) -> String {
        BenchSettings::from_args(&args(extra))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_and_modes() {
        let s = BenchSettings::from_args(&args(&["--prompts-file", "p.txt"])).unwrap();
        assert_eq!(s.load, LoadMode::Closed { concurrency: 8 });
        assert!(s.body.extra.is_empty());
        assert_eq!(s.read_coalesce, Duration::from_micros(1000));
        assert_eq!(s.to_config_json()["read_coalesce_us"], 1000);
        let s =
            BenchSettings::from_args(&args(&["--prompts-file", "p", "--read-coalesce-us", "0"]))
                .unwrap();
        assert!(s.read_coalesce.is_zero());
        let s = BenchSettings::from_args(&args(&[
            "--dataset",
            "random",
            "--input-len",
            "5",
            "--request-rate",
            "inf",
        ]))
        .unwrap();
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
        let s =
            BenchSettings::from_args(&args(&["--trace", "t.csv", "--concurrency", "4"])).unwrap();
        assert_eq!(
            s.load,
            LoadMode::Trace {
                max_concurrency: Some(4)
            }
        );
        assert!(s.body.ignore_eos, "traces ask for exact output lengths");
        let s = BenchSettings::from_args(&args(&[
            "--prompts-file",
            "p",
            "--label",
            "gpu=A100",
            "--extra-body",
            "{\"seed\":1}",
        ]))
        .unwrap();
        assert_eq!(s.labels.get("gpu").map(String::as_str), Some("A100"));
        assert_eq!(s.body.extra.get("seed"), Some(&Value::from(1)));
    }

    #[test]
    fn errors_name_the_flag() {
        assert!(err(&[]).contains("a workload is required"));
        assert!(err(&["--dataset", "random"]).starts_with("--input-len"));
        assert!(err(&["--dataset", "sharegpt"]).starts_with("--dataset-path"));
        assert!(err(&["--prompts-file", "p", "--input-len", "3"]).starts_with("--input-len"));
        assert!(err(&["--prompts-file", "p", "--concurrency", "0"]).starts_with("--concurrency"));
        assert!(err(&["--prompts-file", "p", "--request-rate", "x"]).starts_with("--request-rate"));
        assert!(err(&["--prompts-file", "p", "--burstiness", "2"]).starts_with("--burstiness"));
        assert!(err(&["--trace", "t", "--request-rate", "2"]).starts_with("--request-rate"));
        assert!(err(&["--prompts-file", "p", "--top-p", "0"]).starts_with("--top-p"));
        assert!(err(&["--prompts-file", "p", "--timeout", "0"]).starts_with("--timeout"));
        assert!(err(&["--prompts-file", "p", "--read-coalesce-us", "5001"])
            .starts_with("--read-coalesce-us"));
        assert!(err(&["--prompts-file", "p", "--extra-body", "[1]"]).starts_with("--extra-body"));
        assert!(
            err(&["--prompts-file", "p", "--extra-body", "{\"stream\": false}"])
                .contains("\"stream\"")
        );
        assert!(err(&["--prompts-file", "p", "--extra-body", "{nope"]).contains("not valid JSON"));
        assert!(err(&["--prompts-file", "p", "--label", "novalue"]).starts_with("--label"));
        assert!(err(&["--prompts-file", "p", "--num-prompts", "0"]).starts_with("--num-prompts"));
        assert!(err(&[
            "--dataset",
            "random",
            "--input-len",
            "4",
            "--range-ratio",
            "1.5"
        ])
        .starts_with("--range-ratio"));
    }

    #[test]
    fn config_json_never_holds_the_key() {
        let s = BenchSettings::from_args(&args(&["--prompts-file", "p", "--api-key", "sk-secret"]))
            .unwrap();
        assert_eq!(s.api_key.as_deref(), Some("sk-secret"));
        let text = serde_json::to_string(&s.to_config_json()).unwrap();
        assert!(!text.contains("sk-secret"));
        assert!(text.contains("\"concurrency\":8"));
    }
}
