//! What the HTML report shows beyond `compare`'s charts, gathered from the loaded runs: the run
//! folders behind each bar and the settings that differ between the models' runs. The page
//! itself is written by `crate::export::html`; `modelbench report` and `compare --report` run
//! `compare` (src/commands/compare.rs), `summarize --report` runs `summarize`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;

use crate::atomic::write_atomic;
use crate::compare::{GroupKey, MultiConfig, XField};
use crate::export::html::RunRow;
use crate::results::{ModelRuns, RunSummary};

/// The runs of `m` averaged into `cfg`'s bars, with the x value each belongs to.
fn runs_in<'a>(
    cfg: &'a MultiConfig,
    m: &'a ModelRuns,
    x: &'a XField,
) -> impl Iterator<Item = (&'a RunSummary, String)> + 'a {
    m.runs.iter().filter_map(move |r| {
        let k: GroupKey = x.split(r);
        (k.chart == cfg.par && cfg.xs.contains(&k.x)).then(|| (r, k.x.to_string()))
    })
}

/// Every run folder behind `cfg`'s bars, model by model (model 1 first), in x order.
pub fn runs_behind(cfg: &MultiConfig, models: &[&ModelRuns], x: &XField) -> Vec<RunRow> {
    let mut rows = Vec::new();
    for m in models {
        let mut runs: Vec<(usize, RunRow)> = runs_in(cfg, m, x)
            .map(|(r, xv)| {
                let at = cfg.xs.iter().position(|v| v.to_string() == xv).unwrap_or(0);
                (at, RunRow::of(m.display_name(), xv, r))
            })
            .collect();
        runs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.folder.cmp(&b.1.folder)));
        rows.extend(runs.into_iter().map(|(_, r)| r));
    }
    rows
}

/// The recorded server settings (besides the x field) whose values differ between the models'
/// runs in `cfg`: (setting, [(model, its values, `|`-joined)]); `not recorded` where a model's
/// runs lack it.
pub fn differing_settings(
    cfg: &MultiConfig,
    models: &[&ModelRuns],
    x: &XField,
) -> Vec<(String, Vec<(String, String)>)> {
    let per_model: Vec<BTreeMap<&str, BTreeSet<String>>> = models
        .iter()
        .map(|m| {
            let mut vals: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
            for (r, _) in runs_in(cfg, m, x) {
                for (n, v) in &r.settings {
                    if n != x.name() {
                        vals.entry(n.as_str()).or_default().insert(v.to_string());
                    }
                }
            }
            vals
        })
        .collect();
    let names: BTreeSet<&str> = per_model.iter().flat_map(|v| v.keys().copied()).collect();
    let text = |v: Option<&BTreeSet<String>>| {
        v.map_or("not recorded".to_owned(), |s| {
            s.iter().cloned().collect::<Vec<_>>().join(" | ")
        })
    };
    names
        .into_iter()
        .filter_map(|n| {
            let values: Vec<String> = per_model.iter().map(|v| text(v.get(n))).collect();
            (values.iter().collect::<BTreeSet<_>>().len() > 1).then(|| {
                (
                    n.to_owned(),
                    models
                        .iter()
                        .map(|m| m.display_name().to_owned())
                        .zip(values)
                        .collect(),
                )
            })
        })
        .collect()
}

/// Writes the HTML page atomically; the path is created's parent must exist.
pub fn write_html(path: &Path, html: &str) -> anyhow::Result<()> {
    write_atomic(path, html.as_bytes(), false)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::compare;
    use crate::metrics::Metric;
    use crate::results::{ConfigKey, FieldValue, Load, MetricValues, Parallelism};
    use std::path::PathBuf;

    fn run(dir: &str, mnbt: u64, seqs: i64) -> RunSummary {
        let mut values = MetricValues::default();
        values.set(Metric::Throughput, Some(1.0));
        RunSummary {
            dir: PathBuf::from("m").join(dir),
            model_name: None,
            definitions: None,
            server_version: None,
            server_view: None,
            config: ConfigKey {
                par: Parallelism {
                    tp: 1,
                    dp: 1,
                    pp: 1,
                },
                max_num_batched_tokens: Some(mnbt),
                load: Load::NONE,
            },
            other_config: format!("max_num_seqs={seqs}"),
            settings: vec![("max_num_seqs".into(), FieldValue::Num(seqs as f64))],
            values,
            goodput: Default::default(),
            tpot_mean_ms: None,
            partial: None,
            invalid_values: Vec::new(),
            samples: None,
        }
    }

    #[test]
    fn runs_and_differing_settings_of_a_configuration() {
        let a = ModelRuns {
            folder_name: "A".into(),
            runs: vec![
                run("run_20250101_000002", 8192, 64),
                run("run_20250101_000001", 4096, 64),
            ],
            ..Default::default()
        };
        let b = ModelRuns {
            folder_name: "B".into(),
            runs: vec![run("run_20250102_000000", 4096, 128)],
            ..Default::default()
        };
        let x = XField::BatchTokens;
        let cmp = compare(&a, &b, None, &x);
        let cfgs = MultiConfig::combine(&[&cmp]);
        let rows = runs_behind(&cfgs[0], &[&a, &b], &x);
        let got: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| (r.model.as_str(), r.x.as_str(), r.folder.as_str()))
            .collect();
        // Only the shared x value (4096) is plotted.
        assert_eq!(
            got,
            vec![
                ("A", "4096", "run_20250101_000001"),
                ("B", "4096", "run_20250102_000000")
            ]
        );
        let d = differing_settings(&cfgs[0], &[&a, &b], &x);
        assert_eq!(
            d,
            vec![(
                "max_num_seqs".to_owned(),
                vec![("A".into(), "64".into()), ("B".into(), "128".into())]
            )]
        );
        // The x field itself is not a difference.
        let by_seqs = XField::Setting("max_num_seqs".into());
        let cmp = compare(&a, &b, None, &by_seqs);
        for c in MultiConfig::combine(&[&cmp]) {
            assert!(differing_settings(&c, &[&a, &b], &by_seqs).is_empty());
        }
    }
}
