//! Comparing two models: grouping runs by configuration, averaging repeats, and the
//! percentage difference of model 2 against model 1 for each metric.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use crate::metrics::{diff_pct, verdict, Metric, Verdict};
use crate::results::{ChartKey, ConfigKey, ModelRuns, Parallelism, RunSummary};
use crate::significance::{config_seed, diff_cis, DiffCi};

/// Repeats of one configuration for one metric: mean with min–max range and the number of
/// runs that had a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aggregate {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Aggregate {
    /// `None` when no run has a (finite) value.
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Option<Aggregate> {
        let v: Vec<f64> = values
            .into_iter()
            .flatten()
            .filter(|x| x.is_finite())
            .collect();
        if v.is_empty() {
            return None;
        }
        Some(Aggregate {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n: v.len(),
        })
    }
}

/// One metric at one max_num_batched_tokens value: both models' aggregates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub model1: Option<Aggregate>,
    pub model2: Option<Aggregate>,
    /// 95 % interval of [`Pair::diff_pct`] (docs/statistics.md); `None` when the files hold
    /// nothing to base one on (e.g. throughput from one run per side).
    pub ci: Option<DiffCi>,
}

impl Pair {
    pub fn diff_pct(&self) -> Option<f64> {
        diff_pct(self.model1.map(|a| a.mean), self.model2.map(|a| a.mean))
    }
    pub fn verdict(&self, metric: Metric) -> Verdict {
        verdict(
            metric,
            self.model1.map(|a| a.mean),
            self.model2.map(|a| a.mean),
        )
    }
    /// `Some(false)` when the interval includes 0 (the difference is within noise),
    /// `None` without an interval.
    pub fn significant(&self) -> Option<bool> {
        self.ci.map(|c| c.significant())
    }
}

/// Everything one chart set (one parallelism configuration) shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigComparison {
    pub par: ChartKey,
    /// X axis: the max_num_batched_tokens values both models have, ascending (`None` = default).
    pub batch_tokens: Vec<Option<u64>>,
    /// `pairs[metric.index()][i]` is the pair at `batch_tokens[i]`.
    pub pairs: Vec<Vec<Pair>>,
    /// `partial[metric.index()][i]`: how many of the runs averaged into `pairs[..][i]` (model
    /// 1, model 2) are partial — only with `--include-partial`; otherwise partial runs were left
    /// out before comparing.
    pub partial: Vec<Vec<[usize; 2]>>,
}

impl ConfigComparison {
    pub fn pairs(&self, metric: Metric) -> &[Pair] {
        &self.pairs[metric.index()]
    }
    pub fn partial(&self, metric: Metric) -> &[[usize; 2]] {
        &self.partial[metric.index()]
    }
}

/// One parallelism configuration of several candidates compared with one baseline (model 1):
/// what a chart with 1 + k bars per x value shows. With one candidate it holds exactly the
/// pairs of its [`ConfigComparison`].
#[derive(Debug, Clone, PartialEq)]
pub struct MultiConfig {
    pub par: ChartKey,
    /// X axis: every max_num_batched_tokens value that model 1 shares with some candidate.
    pub batch_tokens: Vec<Option<u64>>,
    /// `groups[metric.index()][i][j]`: candidate `j` against model 1 at `batch_tokens[i]`
    /// (`model2: None`, no interval, where that candidate has no such run).
    pub groups: Vec<Vec<Vec<Pair>>>,
}

impl MultiConfig {
    pub fn groups(&self, metric: Metric) -> &[Vec<Pair>] {
        &self.groups[metric.index()]
    }

    /// The charts of a single comparison.
    pub fn single(c: &ConfigComparison) -> MultiConfig {
        MultiConfig {
            par: c.par,
            batch_tokens: c.batch_tokens.clone(),
            groups: c
                .pairs
                .iter()
                .map(|ps| ps.iter().map(|p| vec![*p]).collect())
                .collect(),
        }
    }

    /// Every parallelism configuration any candidate shares with model 1, in order; `cmps`
    /// are the candidates' comparisons with model 1.
    pub fn combine(cmps: &[&Comparison]) -> Vec<MultiConfig> {
        let pars: BTreeSet<ChartKey> = cmps
            .iter()
            .flat_map(|c| c.configs.iter().map(|cc| cc.par))
            .collect();
        pars.into_iter()
            .map(|par| {
                let per: Vec<Option<&ConfigComparison>> = cmps
                    .iter()
                    .map(|c| c.configs.iter().find(|cc| cc.par == par))
                    .collect();
                let xs: BTreeSet<Option<u64>> = per
                    .iter()
                    .flatten()
                    .flat_map(|cc| cc.batch_tokens.iter().copied())
                    .collect();
                let batch_tokens: Vec<Option<u64>> = xs.into_iter().collect();
                let at = |cc: &ConfigComparison, m: Metric, x: Option<u64>| {
                    cc.batch_tokens
                        .iter()
                        .position(|b| *b == x)
                        .map(|i| cc.pairs(m)[i])
                };
                let groups = Metric::ALL
                    .iter()
                    .map(|&m| {
                        batch_tokens
                            .iter()
                            .map(|&x| {
                                let found: Vec<Option<Pair>> = per
                                    .iter()
                                    .map(|cc| cc.and_then(|cc| at(cc, m, x)))
                                    .collect();
                                let base = found.iter().flatten().find_map(|p| p.model1);
                                found
                                    .into_iter()
                                    .map(|p| {
                                        p.unwrap_or(Pair {
                                            model1: base,
                                            model2: None,
                                            ci: None,
                                        })
                                    })
                                    .collect()
                            })
                            .collect()
                    })
                    .collect();
                MultiConfig {
                    par,
                    batch_tokens,
                    groups,
                }
            })
            .collect()
    }
}

/// Two models' runs, matched by configuration.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub model1: String,
    pub model2: String,
    pub configs: Vec<ConfigComparison>,
    /// Full configuration keys only model 1 has (not plotted).
    pub only_model1: Vec<ConfigKey>,
    /// Full configuration keys only model 2 has (not plotted).
    pub only_model2: Vec<ConfigKey>,
    /// Compared configurations whose runs differ in other recorded server settings (e.g. a
    /// sweep's `max_num_seqs`) and are therefore averaged although they are not true repeats:
    /// (model, key, the distinct settings).
    pub mixed: Vec<(String, ConfigKey, Vec<String>)>,
}

/// One line when the runs of two models put side by side were measured on different server
/// (vLLM) versions (`run_info.server_version`); `None` when they agree or a side has none.
pub fn version_warning(m1: &ModelRuns, m2: &ModelRuns) -> Option<String> {
    let versions = |m: &ModelRuns| -> BTreeSet<String> {
        m.runs
            .iter()
            .filter_map(|r| r.server_version.clone())
            .collect()
    };
    let (a, b) = (versions(m1), versions(m2));
    if a.is_empty() || b.is_empty() || a.union(&b).count() < 2 {
        return None;
    }
    let list = |v: &BTreeSet<String>| v.iter().cloned().collect::<Vec<_>>().join(", ");
    Some(format!(
        "{} ({}) and {} ({}) were measured on different vLLM versions: a difference may come from the server, not the configuration",
        m1.display_name(),
        list(&a),
        m2.display_name(),
        list(&b)
    ))
}

/// The distinct `other_config` values of a group, when there is more than one.
fn mixed_settings(runs: &[&RunSummary]) -> Option<Vec<String>> {
    let distinct: BTreeSet<&str> = runs.iter().map(|r| r.other_config.as_str()).collect();
    (distinct.len() > 1).then(|| {
        distinct
            .into_iter()
            .map(|s| {
                if s.is_empty() {
                    "(none)".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    })
}

fn group(runs: &[RunSummary]) -> BTreeMap<ConfigKey, Vec<&RunSummary>> {
    let mut g: BTreeMap<ConfigKey, Vec<&RunSummary>> = BTreeMap::new();
    for r in runs {
        g.entry(r.config).or_default().push(r);
    }
    g
}

/// Partial runs among those [`aggregate`] averages for `m`.
fn partial_count(runs: &[&RunSummary], m: Metric) -> usize {
    runs.iter()
        .filter(|r| r.partial.is_some() && r.values.get(m).is_some())
        .count()
}

fn aggregate(runs: &[&RunSummary], m: Metric) -> Option<Aggregate> {
    Aggregate::of(runs.iter().map(|r| r.values.get(m)))
}

/// Matches the two models' runs. `only` restricts to one parallelism configuration.
pub fn compare(m1: &ModelRuns, m2: &ModelRuns, only: Option<Parallelism>) -> Comparison {
    let keep = |k: &ConfigKey| only.is_none_or(|p| p == k.par);
    let g1 = group(&m1.runs);
    let g2 = group(&m2.runs);
    let k1: BTreeSet<ConfigKey> = g1.keys().copied().filter(keep).collect();
    let k2: BTreeSet<ConfigKey> = g2.keys().copied().filter(keep).collect();

    let mut by_par: BTreeMap<ChartKey, Vec<ConfigKey>> = BTreeMap::new();
    for k in k1.intersection(&k2) {
        by_par.entry(k.chart()).or_default().push(*k);
    }
    // The intervals, one independent job per configuration (seeded by the configuration).
    let shared: Vec<ConfigKey> = k1.intersection(&k2).copied().collect();
    let cis: BTreeMap<ConfigKey, [Option<DiffCi>; 7]> = shared
        .par_iter()
        .map(|k| (*k, diff_cis(&g1[k], &g2[k], config_seed(k, 0))))
        .collect();
    let configs = by_par
        .into_iter()
        .map(|(par, keys)| ConfigComparison {
            par,
            batch_tokens: keys.iter().map(|k| k.max_num_batched_tokens).collect(),
            pairs: Metric::ALL
                .iter()
                .map(|&m| {
                    keys.iter()
                        .map(|k| Pair {
                            model1: aggregate(&g1[k], m),
                            model2: aggregate(&g2[k], m),
                            ci: cis[k][m.index()],
                        })
                        .collect()
                })
                .collect(),
            partial: Metric::ALL
                .iter()
                .map(|&m| {
                    keys.iter()
                        .map(|k| [partial_count(&g1[k], m), partial_count(&g2[k], m)])
                        .collect()
                })
                .collect(),
        })
        .collect();
    let mut mixed = Vec::new();
    for k in k1.intersection(&k2) {
        for (m, g) in [(m1, &g1), (m2, &g2)] {
            if let Some(v) = mixed_settings(&g[k]) {
                mixed.push((m.display_name().to_owned(), *k, v));
            }
        }
    }
    Comparison {
        model1: m1.display_name().to_owned(),
        model2: m2.display_name().to_owned(),
        configs,
        only_model1: k1.difference(&k2).copied().collect(),
        only_model2: k2.difference(&k1).copied().collect(),
        mixed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::MetricValues;
    use std::path::PathBuf;

    fn run(tp: u32, mnbt: u64, thr: Option<f64>) -> RunSummary {
        let mut values = MetricValues::default();
        values.set(Metric::Throughput, thr);
        RunSummary {
            dir: PathBuf::from("x"),
            model_name: None,
            config: ConfigKey {
                par: Parallelism { tp, dp: 1, pp: 1 },
                max_num_batched_tokens: Some(mnbt),
                load: crate::results::Load::NONE,
            },
            other_config: String::new(),
            values,
            goodput: Default::default(),
            partial: None,
            invalid_values: Vec::new(),
            server_version: None,
            samples: None,
        }
    }

    #[test]
    fn runs_on_different_server_versions_are_named_once() {
        let models = |a: &[Option<&str>], b: &[Option<&str>]| {
            let m = |name: &str, v: &[Option<&str>]| ModelRuns {
                folder_name: name.into(),
                runs: v
                    .iter()
                    .map(|v| RunSummary {
                        server_version: v.map(str::to_owned),
                        ..run(1, 256, Some(1.0))
                    })
                    .collect(),
                ..ModelRuns::default()
            };
            version_warning(&m("a", a), &m("b", b))
        };
        assert_eq!(models(&[Some("0.32.0")], &[Some("0.32.0"), None]), None);
        assert_eq!(models(&[None], &[Some("0.31.0")]), None);
        let w = models(&[Some("0.32.0")], &[Some("0.31.0")]).unwrap();
        assert!(
            w.starts_with("a (0.32.0) and b (0.31.0) were measured on different vLLM versions"),
            "{w}"
        );
    }

    #[test]
    fn runs_differing_in_other_settings_are_flagged() {
        let mut a = run(1, 4096, Some(1.0));
        let mut b = run(1, 4096, Some(2.0));
        a.other_config = "max_num_seqs=4".into();
        b.other_config = "max_num_seqs=8".into();
        let m1 = ModelRuns {
            folder_name: "a".into(),
            runs: vec![a, b],
            ..Default::default()
        };
        let m2 = ModelRuns {
            folder_name: "b".into(),
            runs: vec![run(1, 4096, Some(1.0))],
            ..Default::default()
        };
        let c = compare(&m1, &m2, None);
        assert_eq!(c.mixed.len(), 1);
        assert_eq!(c.mixed[0].0, "a");
        assert_eq!(
            c.mixed[0].2,
            vec!["max_num_seqs=4".to_owned(), "max_num_seqs=8".to_owned()]
        );
    }

    #[test]
    fn repeats_are_averaged_and_one_sided_configs_listed() {
        let m1 = ModelRuns {
            folder_name: "a".into(),
            runs: vec![
                run(1, 4096, Some(100.0)),
                run(1, 4096, Some(200.0)),
                run(1, 8192, None),
                run(2, 4096, Some(1.0)),
            ],
            ..Default::default()
        };
        let m2 = ModelRuns {
            folder_name: "b".into(),
            runs: vec![
                run(1, 4096, Some(180.0)),
                run(1, 8192, Some(5.0)),
                run(4, 4096, Some(1.0)),
            ],
            ..Default::default()
        };
        let c = compare(&m1, &m2, None);
        assert_eq!(c.configs.len(), 1);
        let cc = &c.configs[0];
        assert_eq!(cc.batch_tokens, vec![Some(4096), Some(8192)]);
        let p = cc.pairs(Metric::Throughput);
        assert_eq!(
            p[0].model1,
            Some(Aggregate {
                mean: 150.0,
                min: 100.0,
                max: 200.0,
                n: 2
            })
        );
        assert_eq!(p[0].diff_pct(), Some(20.0));
        assert_eq!(p[0].verdict(Metric::Throughput), Verdict::Better);
        assert_eq!(p[1].model1, None);
        assert_eq!(p[1].verdict(Metric::Throughput), Verdict::NotAvailable);
        assert_eq!(c.only_model1.len(), 1);
        assert_eq!(c.only_model1[0].par.tp, 2);
        assert_eq!(c.only_model2[0].par.tp, 4);
        assert!(compare(
            &m1,
            &m2,
            Some(Parallelism {
                tp: 2,
                dp: 1,
                pp: 1
            })
        )
        .configs
        .is_empty());
    }
}
