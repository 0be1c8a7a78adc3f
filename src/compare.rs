//! Comparing two models: grouping runs by configuration, averaging repeats, and the
//! percentage difference of model 2 against model 1 for each metric.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use crate::metrics::{diff_pct, verdict, Metric, Verdict};
use crate::results::{ChartKey, ConfigKey, FieldValue, Load, ModelRuns, Parallelism, RunSummary};
use crate::significance::{config_seed, diff_cis, DiffCi};

/// The x axis of `compare`'s bar charts (`--x FIELD`): the configuration field whose values
/// stand side by side in one chart. The other key fields split the charts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum XField {
    /// `max_num_batched_tokens` (the default, the users' charts).
    #[default]
    BatchTokens,
    /// `max_concurrency`: the load levels of closed-loop runs.
    Concurrency,
    /// `request_rate`: the load levels of open-loop runs.
    RequestRate,
    /// Any other `benchmark_config` field, e.g. a sweep's `max_num_seqs`.
    Setting(String),
}

impl XField {
    /// Parses `--x`; the parallelism fields and the model name cannot be an x axis.
    pub fn parse(name: &str) -> Result<XField, String> {
        Ok(match name {
            "max_num_batched_tokens" => XField::BatchTokens,
            "max_concurrency" => XField::Concurrency,
            "request_rate" => XField::RequestRate,
            "tensor_parallel_size" | "data_parallel_size" | "pipeline_parallel_size" | "tp"
            | "dp" | "pp" => {
                return Err(format!(
                    "{name} cannot be the x axis: the parallelism splits the charts (use --all-configs)"
                ))
            }
            "model_name" => return Err("model_name cannot be the x axis: the models are the bars".into()),
            n if !n.is_empty()
                && n.len() <= 100
                && n.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) =>
            {
                XField::Setting(n.to_owned())
            }
            _ => return Err(format!("{name:?} is not a benchmark_config field name")),
        })
    }

    /// The field's name in `benchmark_config` (and the CSV's second column).
    pub fn name(&self) -> &str {
        match self {
            XField::BatchTokens => "max_num_batched_tokens",
            XField::Concurrency => "max_concurrency",
            XField::RequestRate => "request_rate",
            XField::Setting(s) => s,
        }
    }

    /// The chart a run belongs to and its x value.
    pub fn split(&self, r: &RunSummary) -> GroupKey {
        let k = &r.config;
        let bt = Some(k.max_num_batched_tokens);
        let (chart, x) = match self {
            XField::BatchTokens => (k.chart(), FieldValue::of_u64(k.max_num_batched_tokens)),
            XField::Concurrency => (
                ChartKey {
                    par: k.par,
                    load: Load::new(None, k.load.request_rate()),
                    batch_tokens: bt,
                },
                FieldValue::of_u64(k.load.max_concurrency.map(u64::from)),
            ),
            XField::RequestRate => (
                ChartKey {
                    par: k.par,
                    load: Load::new(k.load.max_concurrency, None),
                    batch_tokens: bt,
                },
                k.load
                    .request_rate()
                    .map_or(FieldValue::Missing, FieldValue::Num),
            ),
            XField::Setting(f) => (
                ChartKey {
                    par: k.par,
                    load: k.load,
                    batch_tokens: bt,
                },
                r.settings
                    .iter()
                    .find(|(n, _)| n == f)
                    .map_or(FieldValue::Missing, |(_, v)| v.clone()),
            ),
        };
        GroupKey { chart, x }
    }

    /// The run's other recorded settings, without the x field: runs of one group that differ
    /// here are not true repeats.
    fn other_settings(&self, r: &RunSummary) -> String {
        match self {
            XField::Setting(f) => r
                .settings
                .iter()
                .filter(|(n, _)| n != f)
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
            _ => r.other_config.clone(),
        }
    }
}

/// What runs are grouped by: a chart and an x value on it. Runs of one group are repeats.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub chart: ChartKey,
    pub x: FieldValue,
}

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
    /// The x axis' field name (`max_num_batched_tokens` unless `--x`).
    pub x_name: String,
    /// X axis: the values of that field both models have, ascending (missing = default).
    pub xs: Vec<FieldValue>,
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
    /// The x axis' field name.
    pub x_name: String,
    /// X axis: every x value that model 1 shares with some candidate.
    pub xs: Vec<FieldValue>,
    /// `groups[metric.index()][i][j]`: candidate `j` against model 1 at `xs[i]`
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
            x_name: c.x_name.clone(),
            xs: c.xs.clone(),
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
                let xs: BTreeSet<&FieldValue> =
                    per.iter().flatten().flat_map(|cc| cc.xs.iter()).collect();
                let xs: Vec<FieldValue> = xs.into_iter().cloned().collect();
                let x_name = per
                    .iter()
                    .flatten()
                    .map(|cc| cc.x_name.clone())
                    .next()
                    .unwrap_or_default();
                let at = |cc: &ConfigComparison, m: Metric, x: &FieldValue| {
                    cc.xs.iter().position(|b| b == x).map(|i| cc.pairs(m)[i])
                };
                let groups = Metric::ALL
                    .iter()
                    .map(|&m| {
                        xs.iter()
                            .map(|x| {
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
                    x_name,
                    xs,
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
    /// The x axis the runs were grouped by.
    pub x: XField,
    /// Full configuration keys only model 1 has (not plotted).
    pub only_model1: Vec<GroupKey>,
    /// Full configuration keys only model 2 has (not plotted).
    pub only_model2: Vec<GroupKey>,
    /// Compared configurations whose runs differ in other recorded server settings (e.g. a
    /// sweep's `max_num_seqs`) and are therefore averaged although they are not true repeats:
    /// (model, key, the distinct settings).
    pub mixed: Vec<(String, GroupKey, Vec<String>)>,
    /// Whose metric definitions the compared runs follow ([`RunSummary::definitions`],
    /// `modelbench` for native runs), when they are not all the same: the values side by side
    /// are then not measured the same way (docs/metrics.md, "modelbench and vllm bench serve").
    pub mixed_definitions: Vec<String>,
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

/// The name of the definitions a run's samples follow.
pub fn definitions_of(r: &RunSummary) -> &str {
    r.definitions.as_deref().unwrap_or("modelbench")
}

impl Comparison {
    /// A group key as the users read it: `TP=1, DP=1, PP=1, max_num_batched_tokens=4096`
    /// (then the load, or `FIELD=value` with `--x`).
    pub fn key_text(&self, k: &GroupKey) -> String {
        match &self.x {
            XField::BatchTokens => ConfigKey {
                par: k.chart.par,
                max_num_batched_tokens: k.x.as_f64().map(|v| v as u64),
                load: k.chart.load,
            }
            .to_string(),
            x => format!("{}, {}={}", k.chart, x.name(), k.x),
        }
    }
}

/// The distinct other settings of a group, when there is more than one.
fn mixed_settings(runs: &[&RunSummary], x: &XField) -> Option<Vec<String>> {
    let distinct: BTreeSet<String> = runs.iter().map(|r| x.other_settings(r)).collect();
    (distinct.len() > 1).then(|| {
        distinct
            .into_iter()
            .map(|s| if s.is_empty() { "(none)".to_owned() } else { s })
            .collect()
    })
}

fn group<'a>(runs: &'a [RunSummary], x: &XField) -> BTreeMap<GroupKey, Vec<&'a RunSummary>> {
    let mut g: BTreeMap<GroupKey, Vec<&RunSummary>> = BTreeMap::new();
    for r in runs {
        g.entry(x.split(r)).or_default().push(r);
    }
    g
}

/// The seed of a group's intervals: the configuration's seed (so the default x axis keeps
/// the intervals it always had), mixed with the x value when a setting is the x axis.
fn group_seed(k: &GroupKey, runs: &[&RunSummary], x: &XField) -> u64 {
    let stream = match x {
        XField::Setting(_) => crate::hash::fnv1a64(k.x.to_string().as_bytes()),
        _ => 0,
    };
    runs.first().map_or(0, |r| config_seed(&r.config, stream))
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

/// Matches the two models' runs; `x` is the chart's x axis (the other key fields split the
/// charts). `only` restricts to one parallelism configuration.
pub fn compare(
    m1: &ModelRuns,
    m2: &ModelRuns,
    only: Option<Parallelism>,
    x: &XField,
) -> Comparison {
    let keep = |k: &GroupKey| only.is_none_or(|p| p == k.chart.par);
    let g1 = group(&m1.runs, x);
    let g2 = group(&m2.runs, x);
    let k1: BTreeSet<GroupKey> = g1.keys().filter(|k| keep(k)).cloned().collect();
    let k2: BTreeSet<GroupKey> = g2.keys().filter(|k| keep(k)).cloned().collect();

    let mut by_par: BTreeMap<ChartKey, Vec<&GroupKey>> = BTreeMap::new();
    for k in k1.intersection(&k2) {
        by_par.entry(k.chart).or_default().push(k);
    }
    // The intervals, one independent job per configuration (seeded by the configuration).
    let shared: Vec<&GroupKey> = k1.intersection(&k2).collect();
    let cis: BTreeMap<&GroupKey, [Option<DiffCi>; 7]> = shared
        .par_iter()
        .map(|k| (*k, diff_cis(&g1[*k], &g2[*k], group_seed(k, &g1[*k], x))))
        .collect();
    let configs = by_par
        .into_iter()
        .map(|(par, keys)| ConfigComparison {
            par,
            x_name: x.name().to_owned(),
            xs: keys.iter().map(|k| k.x.clone()).collect(),
            pairs: Metric::ALL
                .iter()
                .map(|&m| {
                    keys.iter()
                        .map(|k| Pair {
                            model1: aggregate(&g1[*k], m),
                            model2: aggregate(&g2[*k], m),
                            ci: cis[*k][m.index()],
                        })
                        .collect()
                })
                .collect(),
            partial: Metric::ALL
                .iter()
                .map(|&m| {
                    keys.iter()
                        .map(|k| [partial_count(&g1[*k], m), partial_count(&g2[*k], m)])
                        .collect()
                })
                .collect(),
        })
        .collect();
    let mut mixed = Vec::new();
    for k in k1.intersection(&k2) {
        for (m, g) in [(m1, &g1), (m2, &g2)] {
            if let Some(v) = mixed_settings(&g[k], x) {
                mixed.push((m.display_name().to_owned(), k.clone(), v));
            }
        }
    }
    let definitions: BTreeSet<&str> = k1
        .intersection(&k2)
        .flat_map(|k| g1[k].iter().chain(&g2[k]))
        .map(|r| definitions_of(r))
        .collect();
    let mixed_definitions = if definitions.len() > 1 {
        definitions.into_iter().map(str::to_owned).collect()
    } else {
        Vec::new()
    };
    Comparison {
        mixed_definitions,
        model1: m1.display_name().to_owned(),
        model2: m2.display_name().to_owned(),
        configs,
        x: x.clone(),
        only_model1: k1.difference(&k2).cloned().collect(),
        only_model2: k2.difference(&k1).cloned().collect(),
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
            definitions: None,
            config: ConfigKey {
                par: Parallelism { tp, dp: 1, pp: 1 },
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
        let c = compare(&m1, &m2, None, &XField::BatchTokens);
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
        let c = compare(&m1, &m2, None, &XField::BatchTokens);
        assert_eq!(c.configs.len(), 1);
        let cc = &c.configs[0];
        assert_eq!(
            cc.xs,
            vec![FieldValue::Num(4096.0), FieldValue::Num(8192.0)]
        );
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
        assert_eq!(c.only_model1[0].chart.par.tp, 2);
        assert_eq!(c.only_model2[0].chart.par.tp, 4);
        assert!(compare(
            &m1,
            &m2,
            Some(Parallelism {
                tp: 2,
                dp: 1,
                pp: 1
            }),
            &XField::BatchTokens
        )
        .configs
        .is_empty());
    }
}
