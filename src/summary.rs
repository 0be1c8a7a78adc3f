//! One model's runs: the expected grid and which of its configurations have no result, and
//! the best configuration for each metric (repeats averaged).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::compare::Aggregate;
use crate::metrics::Metric;
use crate::results::{ConfigKey, Parallelism, RunSummary};
use crate::sweep::grid::{axis_values, parse_axis, parse_whole};

#[derive(Debug, thiserror::Error)]
#[error("--expected-grid: {0}")]
pub struct GridSpecError(String);

/// The grid a sweep was supposed to cover.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedGrid {
    pub tp: Vec<u32>,
    pub dp: Vec<u32>,
    pub pp: Vec<u32>,
    pub max_num_batched_tokens: Vec<u64>,
    /// Configurations needing more GPUs (TP·DP·PP) are not expected.
    pub max_gpus: Option<u64>,
}

impl Default for ExpectedGrid {
    /// The users' standard sweep: TP, DP ∈ {1,2,4,8} with TP·DP ≤ 8, PP = 1,
    /// max_num_batched_tokens ∈ {4096, 20480, 40960, 73728}.
    fn default() -> Self {
        ExpectedGrid {
            tp: vec![1, 2, 4, 8],
            dp: vec![1, 2, 4, 8],
            pp: vec![1],
            max_num_batched_tokens: vec![4096, 20480, 40960, 73728],
            max_gpus: Some(8),
        }
    }
}

impl ExpectedGrid {
    /// Parses `tp=1,2,4,8;dp=1,2;pp=1;mnbt=4096,20480;max_gpus=8`. Keys left out keep the
    /// default's values (`max_gpus=none` removes the GPU limit). Each value list is read by
    /// [`parse_axis`], the parser `sweep` uses for `--tp 1,2` (see docs/sweep.md, "Grid values").
    pub fn parse(spec: &str) -> Result<ExpectedGrid, GridSpecError> {
        let mut g = ExpectedGrid::default();
        for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                GridSpecError(format!(
                    "{part:?} is not KEY=VALUES (keys: tp, dp, pp, mnbt, max_gpus)"
                ))
            })?;
            let k = k.trim();
            match k {
                "tp" => g.tp = parse_axis(k, v).map_err(GridSpecError)?,
                "dp" => g.dp = parse_axis(k, v).map_err(GridSpecError)?,
                "pp" => g.pp = parse_axis(k, v).map_err(GridSpecError)?,
                "mnbt" | "max_num_batched_tokens" => {
                    g.max_num_batched_tokens = parse_axis(k, v).map_err(GridSpecError)?
                }
                "max_gpus" if v.trim() == "none" => g.max_gpus = None,
                "max_gpus" => {
                    let n = parse_whole(v).map_err(|e| GridSpecError(format!("max_gpus: {e}")))?;
                    g.max_gpus = axis_values(k, &[n]).map_err(GridSpecError)?.pop();
                }
                _ => {
                    return Err(GridSpecError(format!(
                        "unknown key {k:?} (keys: tp, dp, pp, mnbt, max_gpus)"
                    )))
                }
            }
        }
        Ok(g)
    }

    /// Every configuration of the grid, in sorted order.
    pub fn configs(&self) -> Vec<ConfigKey> {
        let mut out = BTreeSet::new();
        for &tp in &self.tp {
            for &dp in &self.dp {
                for &pp in &self.pp {
                    let par = Parallelism { tp, dp, pp };
                    if self.max_gpus.is_some_and(|m| par.gpus() > m) {
                        continue;
                    }
                    for &m in &self.max_num_batched_tokens {
                        out.insert(ConfigKey {
                            par,
                            max_num_batched_tokens: Some(m),
                            load: crate::results::Load::NONE,
                        });
                    }
                }
            }
        }
        out.into_iter().collect()
    }
}

/// Grid configurations without a readable run.
pub fn missing_configs(grid: &ExpectedGrid, runs: &[RunSummary]) -> Vec<ConfigKey> {
    // A run at any load covers its configuration.
    let have: BTreeSet<ConfigKey> = runs
        .iter()
        .map(|r| ConfigKey {
            load: crate::results::Load::NONE,
            ..r.config
        })
        .collect();
    grid.configs()
        .into_iter()
        .filter(|k| !have.contains(k))
        .collect()
}

/// The missing configurations of one parallelism configuration (TP, DP, PP).
#[derive(Debug, Clone, PartialEq)]
pub struct MissingGroup {
    pub par: Parallelism,
    /// The grid's max_num_batched_tokens values this parallelism has no run for, ascending.
    pub missing: Vec<u64>,
    /// How many max_num_batched_tokens values the grid has.
    pub of: usize,
}

impl std::fmt::Display for MissingGroup {
    /// `TP=2, DP=4, PP=1: max_num_batched_tokens 4096, 73728 missing`, or `…: all 4 missing`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.missing.len() == self.of && self.of > 1 {
            write!(
                f,
                "{}: all {} max_num_batched_tokens missing",
                self.par, self.of
            )
        } else {
            let list: Vec<String> = self.missing.iter().map(u64::to_string).collect();
            write!(
                f,
                "{}: max_num_batched_tokens {} missing",
                self.par,
                list.join(", ")
            )
        }
    }
}

/// [`missing_configs`] grouped per (TP, DP, PP), in sorted order: one group per parallelism
/// with at least one missing max_num_batched_tokens value.
pub fn missing_groups(grid: &ExpectedGrid, missing: &[ConfigKey]) -> Vec<MissingGroup> {
    let of = grid
        .max_num_batched_tokens
        .iter()
        .collect::<BTreeSet<_>>()
        .len();
    let mut groups: BTreeMap<Parallelism, BTreeSet<u64>> = BTreeMap::new();
    for k in missing {
        if let Some(m) = k.max_num_batched_tokens {
            groups.entry(k.par).or_default().insert(m);
        }
    }
    groups
        .into_iter()
        .map(|(par, m)| MissingGroup {
            par,
            missing: m.into_iter().collect(),
            of,
        })
        .collect()
}

/// One capacity search's answer (`capacity_<timestamp>.json` in the model folder, written by
/// `run`/`sweep --find-max`).
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityEntry {
    /// The file name, e.g. `capacity_20261130_155851.json`.
    pub file: String,
    pub par: Parallelism,
    pub max_num_batched_tokens: Option<u64>,
    /// Other recorded serve flags of `configuration` (sorted `key=value`, `, `-joined).
    pub other_config: String,
    /// `concurrency` or `request_rate`.
    pub axis: String,
    /// The highest load that met the SLO; `None` when the first probe missed it.
    pub max_meeting_slo: Option<f64>,
    /// The SLO as `ttft_ms=500, …` plus the attainment target (`≥ 99%`), or `none recorded`.
    pub slo: String,
}

impl CapacityEntry {
    pub fn gpus(&self) -> u64 {
        self.par.gpus()
    }

    /// The max load meeting the SLO divided by the GPUs it takes.
    pub fn per_gpu(&self) -> Option<f64> {
        self.max_meeting_slo.map(|v| v / self.gpus() as f64)
    }

    /// The configuration: `TP=1, DP=2, PP=1, max_num_batched_tokens=4096` (+ other flags).
    pub fn config_text(&self) -> String {
        let mut t = ConfigKey {
            par: self.par,
            max_num_batched_tokens: self.max_num_batched_tokens,
            load: crate::results::Load::NONE,
        }
        .to_string();
        if !self.other_config.is_empty() {
            t.push_str(", ");
            t.push_str(&self.other_config);
        }
        t
    }
}

/// Parses one capacity file's content.
pub fn parse_capacity(file: &str, bytes: &[u8]) -> Result<CapacityEntry, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON ({e})"))?;
    let doc = doc.as_object().ok_or("not a JSON object")?;
    let cfg = doc
        .get("configuration")
        .and_then(serde_json::Value::as_object)
        .ok_or("no \"configuration\" object")?;
    let size = |k: &str| -> Result<u32, String> {
        match cfg.get(k) {
            None | Some(serde_json::Value::Null) => Ok(1),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("invalid configuration.{k}: {v}")),
        }
    };
    let par = Parallelism {
        tp: size("tensor_parallel_size")?,
        dp: size("data_parallel_size")?,
        pp: size("pipeline_parallel_size")?,
    };
    let max_num_batched_tokens = match cfg.get("max_num_batched_tokens") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("invalid configuration.max_num_batched_tokens: {v}"))?,
        ),
    };
    let other_config = cfg
        .iter()
        .filter(|(k, _)| {
            ![
                "model_name",
                "tensor_parallel_size",
                "data_parallel_size",
                "pipeline_parallel_size",
                "max_num_batched_tokens",
                "labels",
            ]
            .contains(&k.as_str())
        })
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let axis = match doc.get("axis").and_then(serde_json::Value::as_str) {
        Some(a @ ("concurrency" | "request_rate")) => a.to_owned(),
        other => return Err(format!("invalid \"axis\": {other:?}")),
    };
    let max_meeting_slo = match doc.get("max_meeting_slo") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| format!("invalid \"max_meeting_slo\": {v}"))?,
        ),
    };
    let mut slo = match doc.get("slo").and_then(serde_json::Value::as_object) {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| match v.as_f64() {
                Some(x) => format!("{k}≤{x}"), // 500.0 as 500
                None => format!("{k}≤{v}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none recorded".to_owned(),
    };
    if let Some(t) = doc
        .get("slo_attainment_target_pct")
        .and_then(serde_json::Value::as_f64)
    {
        slo.push_str(&format!(" (≥ {t}% of requests)"));
    }
    Ok(CapacityEntry {
        file: file.to_owned(),
        par,
        max_num_batched_tokens,
        other_config,
        axis,
        max_meeting_slo,
        slo,
    })
}

/// Reads every `capacity_*.json` of a model folder (bounded reads, in file-name order, i.e.
/// oldest first). Returns the answers and one warning line per file that cannot be used.
pub fn read_capacity_files(model_dir: &Path) -> (Vec<CapacityEntry>, Vec<String>) {
    let mut names: Vec<String> = match std::fs::read_dir(model_dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with("capacity_") && n.ends_with(".json"))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for name in names {
        let path = model_dir.join(&name);
        let parsed = match crate::results::read::read_bounded(&path, "capacity file") {
            Ok(Some(bytes)) => parse_capacity(&name, &bytes),
            Ok(None) => continue, // gone since listed
            Err(e) => Err(e.to_string()),
        };
        match parsed {
            Ok(c) => out.push(c),
            Err(why) => warnings.push(format!(
                "skipping {}: {}",
                crate::results::names::escape_control(&path.display().to_string()),
                why
            )),
        }
    }
    (out, warnings)
}

/// The capacity per configuration: for each (configuration, axis, SLO) the newest answer,
/// sorted by capacity per GPU (highest first; searches without an answer last).
pub fn capacity_table(entries: &[CapacityEntry]) -> Vec<CapacityEntry> {
    let mut newest: BTreeMap<(String, String, String), CapacityEntry> = BTreeMap::new();
    for e in entries {
        // entries are in file-name (time) order: a later search replaces an earlier one
        newest.insert((e.config_text(), e.axis.clone(), e.slo.clone()), e.clone());
    }
    let mut v: Vec<CapacityEntry> = newest.into_values().collect();
    v.sort_by(|a, b| {
        (a.axis.as_str(), a.slo.as_str())
            .cmp(&(b.axis.as_str(), b.slo.as_str()))
            .then_with(|| match (a.per_gpu(), b.per_gpu()) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.gpus().cmp(&b.gpus()))
    });
    v
}

/// The best configuration by capacity per GPU, one per (axis, SLO) (answers for different
/// loads or SLOs are not comparable); ties go to the configuration with fewer GPUs.
pub fn best_by_capacity_per_gpu(table: &[CapacityEntry]) -> Vec<&CapacityEntry> {
    let mut best: Vec<&CapacityEntry> = Vec::new();
    for e in table.iter().filter(|e| e.per_gpu().is_some()) {
        // the table is sorted: the first of each (axis, SLO) is its best
        if !best.iter().any(|b| b.axis == e.axis && b.slo == e.slo) {
            best.push(e);
        }
    }
    best
}

/// The best configuration for one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Best {
    pub metric: Metric,
    pub config: ConfigKey,
    pub value: Aggregate,
}

/// For each metric, the configuration with the best mean over its repeats (highest throughput,
/// lowest latency). Metrics no run has are left out. Ties go to the smaller configuration.
pub fn best_per_metric(runs: &[RunSummary]) -> Vec<Best> {
    let mut groups: BTreeMap<ConfigKey, Vec<&RunSummary>> = BTreeMap::new();
    for r in runs {
        groups.entry(r.config).or_default().push(r);
    }
    Metric::ALL
        .iter()
        .filter_map(|&metric| {
            let mut best: Option<Best> = None;
            for (k, rs) in &groups {
                let Some(agg) = Aggregate::of(rs.iter().map(|r| r.values.get(metric))) else {
                    continue;
                };
                let better = match &best {
                    None => true,
                    Some(b) if metric.higher_is_better() => agg.mean > b.value.mean,
                    Some(b) => agg.mean < b.value.mean,
                };
                if better {
                    best = Some(Best {
                        metric,
                        config: *k,
                        value: agg,
                    });
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::MetricValues;

    fn run(tp: u32, dp: u32, mnbt: u64, thr: f64, ttft: Option<f64>) -> RunSummary {
        let mut values = MetricValues::default();
        values.set(Metric::Throughput, Some(thr));
        values.set(Metric::TtftP50, ttft);
        RunSummary {
            dir: "r".into(),
            model_name: None,
            definitions: None,
            config: ConfigKey {
                par: Parallelism { tp, dp, pp: 1 },
                max_num_batched_tokens: Some(mnbt),
                load: crate::results::Load::NONE,
            },
            other_config: String::new(),
            settings: Vec::new(),
            values,
            goodput: Default::default(),
            tpot_mean_ms: None,
            partial: None,
            invalid_values: Vec::new(),
            server_version: None,
            server_view: None,
            samples: None,
        }
    }

    #[test]
    fn default_grid_has_40_configs() {
        let g = ExpectedGrid::default();
        // (tp,dp) with tp·dp ≤ 8: 10 pairs × 4 batch sizes
        assert_eq!(g.configs().len(), 40);
        let g = ExpectedGrid::parse("tp=1,2; dp=1; mnbt=4096; max_gpus=none").unwrap();
        assert_eq!(g.configs().len(), 2);
        assert!(ExpectedGrid::parse("tp=one")
            .unwrap_err()
            .to_string()
            .contains("--expected-grid: tp"));
        assert!(ExpectedGrid::parse("gpu=1").is_err());
        assert!(ExpectedGrid::parse("tp=0").is_err());
    }

    #[test]
    fn missing_and_best() {
        let runs = vec![
            run(1, 1, 4096, 100.0, Some(5.0)),
            run(1, 1, 4096, 300.0, None),
            run(2, 1, 4096, 150.0, Some(9.0)),
        ];
        let g = ExpectedGrid::parse("tp=1,2,4;dp=1;mnbt=4096").unwrap();
        let missing = missing_configs(&g, &runs);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].par.tp, 4);
        let best = best_per_metric(&runs);
        assert_eq!(best.len(), 2);
        assert_eq!(
            (best[0].metric, best[0].config.par.tp, best[0].value.mean),
            (Metric::Throughput, 1, 200.0)
        );
        assert_eq!(
            (best[1].metric, best[1].config.par.tp, best[1].value.mean),
            (Metric::TtftP50, 1, 5.0)
        );
    }

    #[test]
    fn missing_grouped_per_parallelism() {
        let runs = vec![run(1, 1, 4096, 1.0, None), run(2, 1, 8192, 1.0, None)];
        let g = ExpectedGrid::parse("tp=1,2,4;dp=1;mnbt=4096,8192,16384").unwrap();
        let groups = missing_groups(&g, &missing_configs(&g, &runs));
        let text: Vec<String> = groups.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "TP=1, DP=1, PP=1: max_num_batched_tokens 8192, 16384 missing",
                "TP=2, DP=1, PP=1: max_num_batched_tokens 4096, 16384 missing",
                "TP=4, DP=1, PP=1: all 3 max_num_batched_tokens missing",
            ]
        );
    }

    #[test]
    fn capacity_files_parsed_ranked_per_gpu() {
        let doc = |tp: u32, max: &str| {
            format!(
                r#"{{"configuration": {{"tensor_parallel_size": {tp}, "max_num_batched_tokens": null, "max_num_seqs": 64}},
                "slo": {{"ttft_ms": 500.0}}, "slo_attainment_target_pct": 99.0, "axis": "request_rate",
                "max_meeting_slo": {max}}}"#
            )
        };
        let a = parse_capacity("a", doc(1, "3.5").as_bytes()).unwrap();
        let b = parse_capacity("b", doc(2, "10").as_bytes()).unwrap();
        let c = parse_capacity("c", doc(4, "null").as_bytes()).unwrap();
        assert_eq!(
            a.config_text(),
            "TP=1, DP=1, PP=1, max_num_batched_tokens=default, max_num_seqs=64"
        );
        assert_eq!(a.slo, "ttft_ms≤500 (≥ 99% of requests)");
        assert_eq!((b.gpus(), b.per_gpu()), (2, Some(5.0)));
        let table = capacity_table(&[a, b, c]);
        let files: Vec<&str> = table.iter().map(|e| e.file.as_str()).collect();
        assert_eq!(files, ["b", "a", "c"]);
        let best = best_by_capacity_per_gpu(&table);
        assert_eq!(best.len(), 1);
        assert_eq!(best[0].file, "b");
        assert!(parse_capacity("x", b"{").is_err());
        assert!(parse_capacity("x", doc(0, "1").as_bytes()).is_err());
        assert!(parse_capacity("x", doc(1, "-1").as_bytes()).is_err());
    }
}
