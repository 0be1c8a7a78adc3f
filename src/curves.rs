//! Load curves, the Pareto view and capacity comparisons: what `compare --curves` draws.
//!
//! - A **curve family** is one server configuration (TP, DP, PP, max_num_batched_tokens)
//!   measured at several loads of one kind (closed-loop concurrency levels, or open-loop
//!   request rates under one concurrency cap). Each model gets one line: its runs at each load
//!   level (repeats averaged), ordered by load, as (output throughput, latency) points.
//! - The **Pareto** view puts every measured (configuration, load) point of every model on one
//!   chart: tokens/s per user (1000 / mean TPOT) against output tokens/s per GPU; a model's
//!   Pareto front is its points that no other of its points beats on both.
//! - **Capacity** pairs: the max load meeting the SLO (`capacity_*.json`) per configuration, for
//!   two models that searched the same axis under the same SLO.

use std::collections::{BTreeMap, BTreeSet};

use crate::compare::Aggregate;
use crate::metrics::Metric;
use crate::results::{Load, ModelRuns, Parallelism, RunSummary};
use crate::summary::CapacityEntry;

/// What kind of load the points of a family differ in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoadAxis {
    /// Closed loop: `max_concurrency` levels.
    Concurrency,
    /// Open loop: `request_rate` levels under one concurrency cap (`None`: no cap).
    RequestRate { cap: Option<u32> },
}

impl LoadAxis {
    fn of(load: &Load) -> Option<LoadAxis> {
        match (load.max_concurrency, load.request_rate()) {
            (Some(_), None) => Some(LoadAxis::Concurrency),
            (cap, Some(_)) => Some(LoadAxis::RequestRate { cap }),
            (None, None) => None,
        }
    }
}

/// One server configuration measured at several loads of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FamilyKey {
    pub par: Parallelism,
    pub max_num_batched_tokens: Option<u64>,
    pub axis: LoadAxis,
}

impl FamilyKey {
    /// `tp1_dp1_pp1_mnbt4096_conc`, `tp1_dp1_pp1_mnbtdefault_rate_c64` (file names).
    pub fn file_tag(&self) -> String {
        let bt = self
            .max_num_batched_tokens
            .map_or_else(|| "default".to_owned(), |v| v.to_string());
        let axis = match self.axis {
            LoadAxis::Concurrency => "conc".to_owned(),
            LoadAxis::RequestRate { cap: None } => "rate".to_owned(),
            LoadAxis::RequestRate { cap: Some(c) } => format!("rate_c{c}"),
        };
        format!("{}_mnbt{bt}_{axis}", self.par.file_tag())
    }
}

impl std::fmt::Display for FamilyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.par)?;
        match self.max_num_batched_tokens {
            Some(v) => write!(f, ", max_num_batched_tokens={v}")?,
            None => write!(f, ", max_num_batched_tokens=default")?,
        }
        match self.axis {
            LoadAxis::Concurrency => write!(f, ", concurrency levels"),
            LoadAxis::RequestRate { cap: None } => write!(f, ", request-rate levels"),
            LoadAxis::RequestRate { cap: Some(c) } => {
                write!(f, ", request-rate levels (concurrency ≤ {c})")
            }
        }
    }
}

/// One load level of one model: its runs' values averaged.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    pub load: Load,
    /// The seven metrics (throughput = output tokens/s), repeats averaged.
    pub values: [Option<Aggregate>; 7],
    /// Mean TPOT in ms (see [`RunSummary::tpot_mean_ms`]), repeats averaged.
    pub tpot_mean_ms: Option<f64>,
}

impl CurvePoint {
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.values[m.index()].map(|a| a.mean)
    }

    /// The load level as a point label: `c16`, `4 r/s`, `inf r/s`.
    pub fn label(&self) -> String {
        self.load.label()
    }
}

/// One model's points of one family, ordered by load.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub model: String,
    pub points: Vec<CurvePoint>,
}

/// Every model's line of one family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub key: FamilyKey,
    /// One per model in the order given (model 1 first); a model without runs in this family
    /// has no points.
    pub curves: Vec<Curve>,
}

fn family_of(r: &RunSummary) -> Option<FamilyKey> {
    Some(FamilyKey {
        par: r.config.par,
        max_num_batched_tokens: r.config.max_num_batched_tokens,
        axis: LoadAxis::of(&r.config.load)?,
    })
}

fn point(load: Load, runs: &[&RunSummary]) -> CurvePoint {
    let mut values = [None; 7];
    for m in Metric::ALL {
        values[m.index()] = Aggregate::of(runs.iter().map(|r| r.values.get(m)));
    }
    CurvePoint {
        load,
        values,
        tpot_mean_ms: Aggregate::of(runs.iter().map(|r| r.tpot_mean_ms)).map(|a| a.mean),
    }
}

/// The points of one model, by family, ordered by load.
fn model_points(m: &ModelRuns) -> BTreeMap<FamilyKey, Vec<CurvePoint>> {
    let mut by: BTreeMap<FamilyKey, BTreeMap<Load, Vec<&RunSummary>>> = BTreeMap::new();
    for r in &m.runs {
        if let Some(k) = family_of(r) {
            by.entry(k)
                .or_default()
                .entry(r.config.load)
                .or_default()
                .push(r);
        }
    }
    by.into_iter()
        .map(|(k, loads)| {
            let mut pts: Vec<CurvePoint> = loads
                .into_iter()
                .map(|(load, runs)| point(load, &runs))
                .collect();
            pts.sort_by(|a, b| {
                let key = |p: &CurvePoint| {
                    (
                        p.load.request_rate().unwrap_or(0.0),
                        p.load.max_concurrency.unwrap_or(0),
                    )
                };
                let (ra, ca) = key(a);
                let (rb, cb) = key(b);
                ra.total_cmp(&rb).then(ca.cmp(&cb))
            });
            (k, pts)
        })
        .collect()
}

/// The curve families of `models` (model 1 first): every family in which at least one model
/// has two or more load levels, restricted to `only` when given.
pub fn families(models: &[&ModelRuns], only: Option<Parallelism>) -> Vec<Family> {
    let per: Vec<BTreeMap<FamilyKey, Vec<CurvePoint>>> =
        models.iter().map(|m| model_points(m)).collect();
    let keys: BTreeSet<FamilyKey> = per
        .iter()
        .flat_map(|p| p.iter().filter(|(_, v)| v.len() >= 2).map(|(k, _)| *k))
        .filter(|k| only.is_none_or(|p| p == k.par))
        .collect();
    keys.into_iter()
        .map(|key| Family {
            key,
            curves: models
                .iter()
                .zip(&per)
                .map(|(m, p)| Curve {
                    model: m.display_name().to_owned(),
                    points: p.get(&key).cloned().unwrap_or_default(),
                })
                .collect(),
        })
        .collect()
}

/// One point of the Pareto chart: a (configuration, load) of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ParetoPoint {
    /// Output tokens/s per user: 1000 / mean TPOT (ms).
    pub per_user: f64,
    /// Output tokens/s per GPU: throughput / (TP·DP·PP).
    pub per_gpu: f64,
    /// `TP2 DP1 PP1 · mnbt 8192 · c16`.
    pub label: String,
    /// On the model's Pareto front (no other point of the model is at least as good on both
    /// axes and better on one).
    pub front: bool,
}

/// Every model's Pareto points (same order as `models`), with how many runs had no TPOT or
/// throughput to place them.
pub fn pareto(
    models: &[&ModelRuns],
    only: Option<Parallelism>,
) -> (Vec<(String, Vec<ParetoPoint>)>, usize) {
    let mut unplaced = 0;
    let out = models
        .iter()
        .map(|m| {
            let mut groups: BTreeMap<(Parallelism, Option<u64>, Load), Vec<&RunSummary>> =
                BTreeMap::new();
            for r in m
                .runs
                .iter()
                .filter(|r| only.is_none_or(|p| p == r.config.par))
            {
                groups
                    .entry((r.config.par, r.config.max_num_batched_tokens, r.config.load))
                    .or_default()
                    .push(r);
            }
            let mut pts: Vec<ParetoPoint> = Vec::new();
            for ((par, bt, load), runs) in groups {
                let p = point(load, &runs);
                let (Some(tpot), Some(thr)) = (p.tpot_mean_ms, p.get(Metric::Throughput)) else {
                    unplaced += runs.len();
                    continue;
                };
                if tpot <= 0.0 {
                    unplaced += runs.len();
                    continue;
                }
                let mut label = format!("TP{} DP{} PP{}", par.tp, par.dp, par.pp);
                if let Some(b) = bt {
                    label.push_str(&format!(" · mnbt {b}"));
                }
                let l = p.label();
                if !l.is_empty() {
                    label.push_str(&format!(" · {l}"));
                }
                pts.push(ParetoPoint {
                    per_user: 1000.0 / tpot,
                    per_gpu: thr / par.gpus() as f64,
                    label,
                    front: false,
                });
            }
            mark_front(&mut pts);
            (m.display_name().to_owned(), pts)
        })
        .collect();
    (out, unplaced)
}

/// Marks the points no other point dominates (higher is better on both axes).
pub fn mark_front(pts: &mut [ParetoPoint]) {
    let coords: Vec<(f64, f64)> = pts.iter().map(|p| (p.per_user, p.per_gpu)).collect();
    for (i, p) in pts.iter_mut().enumerate() {
        let (x, y) = coords[i];
        p.front = !coords
            .iter()
            .enumerate()
            .any(|(j, &(a, b))| j != i && a >= x && b >= y && (a > x || b > y));
    }
}

/// Two models' capacities under one (axis, SLO): one entry per configuration either has.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityPair {
    /// `concurrency` or `request_rate`.
    pub axis: String,
    /// The SLO text both searches recorded.
    pub slo: String,
    /// One row per configuration either model searched.
    pub configs: Vec<CapacityRow>,
}

/// One configuration of a [`CapacityPair`].
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityRow {
    /// `TP=2, DP=1, PP=1, max_num_batched_tokens=4096` (+ other serve flags).
    pub config: String,
    /// `TP2 DP1 PP1 mnbt 4096` (+ other serve flags): the chart's x label.
    pub label: String,
    /// Each model's answer; `None`: no search, or the search's first probe already missed the
    /// SLO.
    pub model1: Option<f64>,
    pub model2: Option<f64>,
}

fn short_label(e: &CapacityEntry) -> String {
    let mut t = format!("TP{} DP{} PP{}", e.par.tp, e.par.dp, e.par.pp);
    match e.max_num_batched_tokens {
        Some(b) => t.push_str(&format!(" mnbt {b}")),
        None => t.push_str(" mnbt default"),
    }
    if !e.other_config.is_empty() {
        t.push_str(&format!(" {}", e.other_config));
    }
    t
}

/// Matches two models' capacity tables (newest answer per configuration, axis and SLO) by
/// axis and SLO; only (axis, SLO) pairs both models searched, and within them every
/// configuration either has, sorted by GPUs then configuration.
pub fn capacity_pairs(m1: &[CapacityEntry], m2: &[CapacityEntry]) -> Vec<CapacityPair> {
    let t1 = crate::summary::capacity_table(m1);
    let t2 = crate::summary::capacity_table(m2);
    let kinds: BTreeSet<(String, String)> = t1
        .iter()
        .map(|e| (e.axis.clone(), e.slo.clone()))
        .filter(|k| t2.iter().any(|e| (&e.axis, &e.slo) == (&k.0, &k.1)))
        .collect();
    kinds
        .into_iter()
        .map(|(axis, slo)| {
            let mut rows: BTreeMap<(u64, String), CapacityRow> = BTreeMap::new();
            for (side, t) in [(0, &t1), (1, &t2)] {
                for e in t.iter().filter(|e| e.axis == axis && e.slo == slo) {
                    let row =
                        rows.entry((e.gpus(), e.config_text()))
                            .or_insert_with(|| CapacityRow {
                                config: e.config_text(),
                                label: short_label(e),
                                model1: None,
                                model2: None,
                            });
                    if side == 0 {
                        row.model1 = e.max_meeting_slo;
                    } else {
                        row.model2 = e.max_meeting_slo;
                    }
                }
            }
            CapacityPair {
                axis,
                slo,
                configs: rows.into_values().collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{ConfigKey, MetricValues};

    fn run(tp: u32, conc: u32, thr: f64, ttft: f64, tpot: Option<f64>) -> RunSummary {
        let mut values = MetricValues::default();
        values.set(Metric::Throughput, Some(thr));
        values.set(Metric::TtftP50, Some(ttft));
        RunSummary {
            dir: "r".into(),
            model_name: None,
            config: ConfigKey {
                par: Parallelism { tp, dp: 1, pp: 1 },
                max_num_batched_tokens: Some(4096),
                load: Load::new(Some(conc), None),
            },
            other_config: String::new(),
            settings: Vec::new(),
            values,
            goodput: Default::default(),
            tpot_mean_ms: tpot,
            definitions: None,
            server_version: None,
            server_view: None,
            partial: None,
            invalid_values: Vec::new(),
            samples: None,
        }
    }

    fn model(name: &str, runs: Vec<RunSummary>) -> ModelRuns {
        ModelRuns {
            folder_name: name.into(),
            runs,
            ..Default::default()
        }
    }

    #[test]
    fn curves_order_levels_and_average_repeats() {
        let a = model(
            "a",
            vec![
                run(1, 16, 900.0, 80.0, Some(20.0)),
                run(1, 1, 100.0, 10.0, Some(10.0)),
                run(1, 4, 300.0, 20.0, Some(12.0)),
                run(1, 4, 500.0, 40.0, Some(14.0)),
                // one level only: no family of its own
                run(2, 4, 700.0, 15.0, Some(9.0)),
            ],
        );
        let b = model("b", vec![run(1, 1, 120.0, 9.0, None)]);
        let f = families(&[&a, &b], None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].key.par.tp, 1);
        let pts = &f[0].curves[0].points;
        let labels: Vec<String> = pts.iter().map(CurvePoint::label).collect();
        assert_eq!(labels, ["c1", "c4", "c16"]);
        assert_eq!(pts[1].get(Metric::Throughput), Some(400.0));
        assert_eq!(pts[1].get(Metric::TtftP50), Some(30.0));
        assert_eq!(pts[1].tpot_mean_ms, Some(13.0));
        assert_eq!(f[0].curves[1].points.len(), 1);
        assert_eq!(f[0].key.file_tag(), "tp1_dp1_pp1_mnbt4096_conc");
    }

    #[test]
    fn pareto_fronts_per_model_and_per_gpu() {
        let a = model(
            "a",
            vec![
                run(1, 1, 100.0, 10.0, Some(10.0)), // 100 tok/s/user, 100 /GPU: front
                run(1, 4, 300.0, 20.0, Some(20.0)), // 50, 300: front
                run(2, 4, 400.0, 20.0, Some(25.0)), // 40, 200: dominated by the TP1 c4 point
                run(1, 8, 500.0, 20.0, None),       // no TPOT: not placed
            ],
        );
        let (p, unplaced) = pareto(&[&a], None);
        assert_eq!(unplaced, 1);
        let pts = &p[0].1;
        assert_eq!(pts.len(), 3);
        let front: Vec<(&str, bool)> = pts.iter().map(|p| (p.label.as_str(), p.front)).collect();
        assert_eq!(
            front,
            [
                ("TP1 DP1 PP1 · mnbt 4096 · c1", true),
                ("TP1 DP1 PP1 · mnbt 4096 · c4", true),
                ("TP2 DP1 PP1 · mnbt 4096 · c4", false),
            ]
        );
        assert_eq!(pts[2].per_gpu, 200.0);
        assert_eq!(pts[2].per_user, 40.0);
    }

    #[test]
    fn capacity_pairs_match_axis_and_slo() {
        let e = |tp: u32, v: Option<f64>, slo: &str| CapacityEntry {
            file: "capacity_1.json".into(),
            par: Parallelism { tp, dp: 1, pp: 1 },
            max_num_batched_tokens: None,
            other_config: String::new(),
            axis: "concurrency".into(),
            max_meeting_slo: v,
            slo: slo.into(),
        };
        let a = vec![
            e(1, Some(4.0), "ttft_ms≤500"),
            e(2, Some(10.0), "ttft_ms≤500"),
        ];
        let b = vec![
            e(1, Some(6.0), "ttft_ms≤500"),
            e(4, None, "ttft_ms≤500"),
            e(1, Some(1.0), "ttft_ms≤100"),
        ];
        let p = capacity_pairs(&a, &b);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].slo, "ttft_ms≤500");
        let c: Vec<(Option<f64>, Option<f64>)> =
            p[0].configs.iter().map(|c| (c.model1, c.model2)).collect();
        assert_eq!(
            c,
            [(Some(4.0), Some(6.0)), (Some(10.0), None), (None, None)]
        );
    }
}
