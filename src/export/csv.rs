//! CSV files: `comparison_tp{T}_dp{D}_pp{P}.csv` (compare) and `benchmark_results_summary.csv`
//! (summarize). Numbers at full precision (shortest text that reads back to the same f64);
//! a missing value is an empty cell.

use crate::compare::{ConfigComparison, MultiConfig, Pair};
use crate::metrics::Metric;
use crate::results::{FieldValue, RunSummary};

/// The users' seven columns, then (appended) the 95 % interval of the difference and whether
/// it excludes 0, then how many of the averaged runs were partial.
pub const COMPARISON_HEADER: [&str; 12] = [
    "metric",
    "max_num_batched_tokens",
    "model1",
    "model2",
    "diff_pct",
    "n1",
    "n2",
    "diff_ci_low",
    "diff_ci_high",
    "significant",
    "partial1",
    "partial2",
];

/// The users' eleven columns, then (appended) `partial`: why the run is partial, empty when
/// it is complete.
pub const SUMMARY_HEADER: [&str; 12] = [
    "TP",
    "DP",
    "PP",
    "max_num_batched_tokens",
    "overall_throughput_tokens_per_sec",
    "total_latency_p50_ms",
    "total_latency_p99_ms",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "inter_token_p50_ms",
    "inter_token_p99_ms",
    "partial",
];

/// Appended after [`SUMMARY_HEADER`] (the users' prefix stays byte-identical): the load the run
/// was measured at and, for runs measured with `--slo`, goodput and SLO attainment. Empty cells
/// for runs that do not record them.
pub const SUMMARY_APPENDED: [&str; 5] = [
    "max_concurrency",
    "request_rate",
    "goodput_requests_per_sec",
    "goodput_tokens_per_sec",
    "slo_attainment_pct",
];

fn num(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| x.to_string())
        .unwrap_or_default()
}

fn opt_int(v: Option<u64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn finish(w: csv::Writer<Vec<u8>>) -> Vec<u8> {
    // Writing into a Vec cannot fail.
    w.into_inner().unwrap_or_default()
}

fn pair_record(m: Metric, x: &FieldValue, p: &Pair) -> Vec<String> {
    vec![
        m.key().to_owned(),
        x.csv_cell(),
        num(p.model1.map(|a| a.mean)),
        num(p.model2.map(|a| a.mean)),
        num(p.diff_pct()),
        p.model1.map_or(0, |a| a.n).to_string(),
        p.model2.map_or(0, |a| a.n).to_string(),
        num(p.ci.map(|c| c.low)),
        num(p.ci.map(|c| c.high)),
        p.significant().map(|s| s.to_string()).unwrap_or_default(),
    ]
}

/// [`COMPARISON_HEADER`] with the x axis' field name as the second column.
fn comparison_header(x_name: &str) -> Vec<&str> {
    let mut h = COMPARISON_HEADER.to_vec();
    h[1] = x_name;
    h
}

/// The comparison CSV of one parallelism configuration: one row per metric and x value.
pub fn comparison_csv(cmp: &ConfigComparison) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(comparison_header(&cmp.x_name));
    for m in Metric::ALL {
        for ((bt, p), partial) in cmp.xs.iter().zip(cmp.pairs(m)).zip(cmp.partial(m)) {
            let mut r = pair_record(m, bt, p);
            r.push(partial[0].to_string());
            r.push(partial[1].to_string());
            let _ = w.write_record(r);
        }
    }
    finish(w)
}

/// The comparison CSV with several candidates: the columns of [`comparison_csv`] (`model2`
/// = the candidate's value) plus a last column `candidate`; one row per metric, batch size
/// and candidate.
pub fn comparison_csv_multi(cmp: &MultiConfig, candidates: &[&str]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = comparison_header(&cmp.x_name);
    header.push("candidate");
    let _ = w.write_record(header);
    for m in Metric::ALL {
        for (bt, group) in cmp.xs.iter().zip(cmp.groups(m)) {
            for (p, name) in group.iter().zip(candidates) {
                let mut r = pair_record(m, bt, p);
                // Partial-run counts are per pair of models: not kept for several candidates.
                r.extend([String::new(), String::new(), (*name).to_owned()]);
                let _ = w.write_record(r);
            }
        }
    }
    finish(w)
}

/// Runs sorted as the summary lists them: by TP, DP, PP, max_num_batched_tokens, then folder.
pub fn sort_runs(runs: &mut [RunSummary]) {
    runs.sort_by(|a, b| a.config.cmp(&b.config).then_with(|| a.dir.cmp(&b.dir)));
}

/// The users' summary CSV: one row per run, in the order given; the users' columns, `partial`,
/// then [`SUMMARY_APPENDED`].
pub fn summary_csv(runs: &[RunSummary]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(SUMMARY_HEADER.iter().chain(&SUMMARY_APPENDED));
    for r in runs {
        let mut row = vec![
            r.config.par.tp.to_string(),
            r.config.par.dp.to_string(),
            r.config.par.pp.to_string(),
            opt_int(r.config.max_num_batched_tokens),
        ];
        row.extend(Metric::ALL.iter().map(|&m| num(r.values.get(m))));
        row.push(r.partial.clone().unwrap_or_default());
        row.push(opt_int(r.config.load.max_concurrency.map(u64::from)));
        row.push(match r.config.load.request_rate() {
            Some(x) if x.is_infinite() => "inf".to_owned(),
            x => num(x),
        });
        row.push(num(r.goodput.requests_per_sec));
        row.push(num(r.goodput.tokens_per_sec));
        row.push(num(r.goodput.attainment_pct));
        let _ = w.write_record(&row);
    }
    finish(w)
}

/// `curves_<family>.csv`: one row per model and load level: the load, then the seven metrics
/// (repeats averaged) and the mean TPOT.
pub fn curves_csv(f: &crate::curves::Family) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["model", "max_concurrency", "request_rate"];
    header.extend(Metric::ALL.iter().map(|m| m.key()));
    header.extend(["tpot_mean_ms", "n"]);
    let _ = w.write_record(&header);
    for c in &f.curves {
        for p in &c.points {
            let mut r = vec![
                c.model.clone(),
                opt_int(p.load.max_concurrency.map(u64::from)),
                p.load
                    .request_rate()
                    .map(|r| {
                        if r.is_infinite() {
                            "inf".to_owned()
                        } else {
                            r.to_string()
                        }
                    })
                    .unwrap_or_default(),
            ];
            r.extend(Metric::ALL.iter().map(|m| num(p.get(*m))));
            r.push(num(p.tpot_mean_ms));
            r.push(
                p.values
                    .iter()
                    .flatten()
                    .map(|a| a.n)
                    .max()
                    .unwrap_or(0)
                    .to_string(),
            );
            let _ = w.write_record(r);
        }
    }
    finish(w)
}

/// `pareto.csv`: every point of the Pareto chart.
pub fn pareto_csv(models: &[(String, Vec<crate::curves::ParetoPoint>)]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "model",
        "point",
        "tokens_per_sec_per_user",
        "tokens_per_sec_per_gpu",
        "on_front",
    ]);
    for (m, pts) in models {
        for p in pts {
            let _ = w.write_record([
                m.clone(),
                p.label.clone(),
                p.per_user.to_string(),
                p.per_gpu.to_string(),
                p.front.to_string(),
            ]);
        }
    }
    finish(w)
}

/// `capacity_comparison.csv`: per candidate, axis, SLO and configuration both capacities and
/// the % difference.
pub fn capacity_csv(rows: &[(String, crate::curves::CapacityPair)]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "axis",
        "slo",
        "configuration",
        "model1",
        "model2",
        "diff_pct",
        "candidate",
    ]);
    for (cand, pair) in rows {
        for r in &pair.configs {
            let _ = w.write_record([
                pair.axis.clone(),
                pair.slo.clone(),
                r.config.clone(),
                num(r.model1),
                num(r.model2),
                num(crate::metrics::diff_pct(r.model1, r.model2)),
                cand.clone(),
            ]);
        }
    }
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Aggregate, Pair};
    use crate::results::Parallelism;

    #[test]
    fn comparison_rows_full_precision_and_empty_missing() {
        let a = |mean: f64, n| {
            Some(Aggregate {
                mean,
                min: mean,
                max: mean,
                n,
            })
        };
        let mut pairs = vec![
            vec![Pair {
                model1: None,
                model2: None,
                ci: None,
            }];
            7
        ];
        pairs[0][0] = Pair {
            model1: a(0.1 + 0.2, 2),
            model2: a(3.0, 1),
            ci: None,
        };
        let cmp = ConfigComparison {
            par: crate::results::ChartKey {
                par: Parallelism {
                    tp: 1,
                    dp: 1,
                    pp: 1,
                },
                load: crate::results::Load::NONE,
                batch_tokens: None,
            },
            x_name: "max_num_batched_tokens".into(),
            xs: vec![FieldValue::Num(4096.0)],
            pairs,
            partial: vec![vec![[1, 0]]; 7],
        };
        let text = String::from_utf8(comparison_csv(&cmp)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "metric,max_num_batched_tokens,model1,model2,diff_pct,n1,n2,diff_ci_low,diff_ci_high,significant,partial1,partial2"
        );
        assert_eq!(
            lines[1],
            format!(
                "overall_throughput_tokens_per_sec,4096,0.30000000000000004,3,{},2,1,,,,1,0",
                (3.0 - 0.30000000000000004) / 0.30000000000000004 * 100.0
            )
        );
        assert_eq!(lines[2], "total_latency_p50_ms,4096,,,,0,0,,,,1,0");
        assert_eq!(lines.len(), 8);
    }
}
