//! One model's runs: the expected grid and which of its configurations have no result, and
//! the best configuration for each metric (repeats averaged).

use std::collections::{BTreeMap, BTreeSet};

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
            config: ConfigKey {
                par: Parallelism { tp, dp, pp: 1 },
                max_num_batched_tokens: Some(mnbt),
                load: crate::results::Load::NONE,
            },
            other_config: String::new(),
            values,
            partial: None,
            invalid_values: Vec::new(),
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
}
