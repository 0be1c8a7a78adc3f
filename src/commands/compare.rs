//! `modelbench compare`: two models' sweeps as charts, CSV files and terminal tables.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use rayon::prelude::*;

use crate::atomic::write_atomic;
use crate::cli::{CompareArgs, ImageFormat};
use crate::compare::{compare, Comparison, MultiConfig};
use crate::export::csv::{comparison_csv, comparison_csv_multi};
use crate::export::table::comparison_table;
use crate::metrics::Metric;
use crate::plot::{multi_combined_chart_svg, multi_metric_chart_svg, ModelNames, Rasterizer};
use crate::results::discover::load_model_with_samples;
use crate::results::{ConfigKey, ModelRuns, Parallelism};
use crate::{errln, outln};

/// Validated settings of one `compare` invocation.
struct Settings {
    only: Option<Parallelism>,
    png: bool,
    svg: bool,
}

fn validate(a: &CompareArgs) -> anyhow::Result<Settings> {
    for (flag, v) in [("--tp", a.tp), ("--dp", a.dp), ("--pp", a.pp)] {
        if v == 0 {
            bail!("{flag} must be at least 1");
        }
    }
    Ok(Settings {
        only: (!a.all_configs).then_some(Parallelism {
            tp: a.tp,
            dp: a.dp,
            pp: a.pp,
        }),
        png: matches!(a.format, ImageFormat::Png | ImageFormat::Both),
        svg: matches!(a.format, ImageFormat::Svg | ImageFormat::Both),
    })
}

fn load(base: &Path, name: &str, flag: &str, include_partial: bool) -> anyhow::Result<ModelRuns> {
    let mut runs = load_model_with_samples(base, name).with_context(|| format!("{flag} {name}"))?;
    for w in runs.warnings(include_partial) {
        errln!("warning: {w}");
    }
    Ok(runs)
}

fn list_keys(keys: &[ConfigKey]) -> String {
    let pars: std::collections::BTreeSet<Parallelism> = keys.iter().map(|k| k.par).collect();
    pars.iter()
        .map(|p| format!("({p})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why nothing is comparable, in one sentence.
fn nothing_comparable(
    cmp: &Comparison,
    m1: &ModelRuns,
    m2: &ModelRuns,
    only: Option<Parallelism>,
) -> String {
    if let Some(why) = m1.why_empty().or_else(|| m2.why_empty()) {
        return why;
    }
    let both = |keys: &[ConfigKey]| {
        if keys.is_empty() {
            "none".to_owned()
        } else {
            list_keys(keys)
        }
    };
    match only {
        Some(p) => {
            let all = compare(m1, m2, None);
            let shared: Vec<ConfigKey> = all
                .configs
                .iter()
                .flat_map(|c| {
                    c.batch_tokens.iter().map(|&b| ConfigKey {
                        par: c.par.par,
                        max_num_batched_tokens: b,
                        load: c.par.load,
                    })
                })
                .collect();
            format!(
                "no results for both models at {p}; configurations both have: {} (use --tp/--dp/--pp or --all-configs)",
                both(&shared)
            )
        }
        None => format!(
            "no configuration has results for both models; only {} has: {}; only {} has: {}",
            cmp.model1,
            both(&cmp.only_model1),
            cmp.model2,
            both(&cmp.only_model2)
        ),
    }
}

/// One file to produce.
enum Chart {
    Metric(Metric),
    Combined,
}

fn render(
    c: &MultiConfig,
    chart: &Chart,
    names: &ModelNames,
    out: &Path,
    s: &Settings,
    raster: &Rasterizer,
) -> anyhow::Result<Vec<PathBuf>> {
    let (stem, svg) = match chart {
        Chart::Metric(m) => (
            format!("{}_{}", m.key(), c.par.file_tag()),
            multi_metric_chart_svg(c, *m, names),
        ),
        Chart::Combined => (
            format!("combined_{}", c.par.file_tag()),
            multi_combined_chart_svg(c, names),
        ),
    };
    let mut written = Vec::new();
    if s.svg {
        let p = out.join(format!("{stem}.svg"));
        write_atomic(&p, svg.as_bytes(), false)
            .with_context(|| format!("cannot write {}", p.display()))?;
        written.push(p);
    }
    if s.png {
        let p = out.join(format!("{stem}.png"));
        let png = raster
            .svg_to_png(&svg)
            .with_context(|| format!("{}", p.display()))?;
        write_atomic(&p, &png, false).with_context(|| format!("cannot write {}", p.display()))?;
        written.push(p);
    }
    Ok(written)
}

pub fn execute(a: CompareArgs) -> anyhow::Result<ExitCode> {
    let s = validate(&a)?;
    let (m1, cands) = rayon::join(
        || load(&a.base_dir, &a.model1, "--model1", a.include_partial),
        || {
            a.model2
                .par_iter()
                .map(|name| load(&a.base_dir, name, "--model2", a.include_partial))
                .collect::<Vec<_>>()
        },
    );
    let m1 = m1?;
    let cands: Vec<ModelRuns> = cands.into_iter().collect::<anyhow::Result<_>>()?;
    let mut cmps: Vec<(&ModelRuns, Comparison)> = Vec::new();
    for m2 in &cands {
        let cmp = compare(&m1, m2, s.only);
        if cmp.configs.is_empty() {
            let why = nothing_comparable(&cmp, &m1, m2, s.only);
            if cands.len() == 1 {
                bail!("nothing to compare: {why}");
            }
            eprintln!(
                "warning: {} left out, nothing to compare: {why}",
                cmp.model2
            );
            continue;
        }
        cmps.push((m2, cmp));
    }
    if cmps.is_empty() {
        bail!("nothing to compare: no --model2 shares a configuration with --model1");
    }

    let mut warned: Vec<String> = Vec::new();
    for (model, key, settings) in cmps.iter().flat_map(|(_, c)| &c.mixed) {
        let w = format!(
            "warning: {model} at {key}: runs differ in other server settings ({}); they are averaged as repeats",
            settings.join(" | ")
        );
        if !warned.contains(&w) {
            errln!("{w}");
            warned.push(w);
        }
    }
    for (m2, _) in &cmps {
        if let Some(w) = crate::compare::version_warning(&m1, m2) {
            errln!("warning: {w}");
        }
    }

    std::fs::create_dir_all(&a.output_dir)
        .with_context(|| format!("cannot create --output-dir {}", a.output_dir.display()))?;
    let names = ModelNames {
        model1: &cmps[0].1.model1,
        candidates: cmps.iter().map(|(_, c)| c.model2.as_str()).collect(),
    };
    let configs = MultiConfig::combine(&cmps.iter().map(|(_, c)| c).collect::<Vec<_>>());
    let raster = Rasterizer::new();
    let mut charts: Vec<Chart> = Metric::ALL.into_iter().map(Chart::Metric).collect();
    if a.combined {
        charts.push(Chart::Combined);
    }
    let jobs: Vec<(usize, &Chart)> = (0..configs.len())
        .flat_map(|i| charts.iter().map(move |c| (i, c)))
        .collect();
    let rendered: Vec<anyhow::Result<Vec<PathBuf>>> = jobs
        .par_iter()
        .map(|(i, chart)| render(&configs[*i], chart, &names, &a.output_dir, &s, &raster))
        .collect();
    let mut files: Vec<Vec<PathBuf>> = vec![Vec::new(); configs.len()];
    for ((i, _), r) in jobs.iter().zip(rendered) {
        files[*i].extend(r?);
    }

    for (c, files) in configs.iter().zip(&mut files) {
        let p = a
            .output_dir
            .join(format!("comparison_{}.csv", c.par.file_tag()));
        let csv = match &cmps[..] {
            [(_, one)] => one
                .configs
                .iter()
                .find(|cc| cc.par == c.par)
                .map(comparison_csv)
                .unwrap_or_default(),
            _ => comparison_csv_multi(c, &names.candidates),
        };
        write_atomic(&p, &csv, false).with_context(|| format!("cannot write {}", p.display()))?;
        files.push(p);
        for (_, cmp) in &cmps {
            if let Some(cc) = cmp.configs.iter().find(|cc| cc.par == c.par) {
                outln!("\n{} vs {} — {}", cmp.model1, cmp.model2, c.par);
                println!("{}", comparison_table(cc, &cmp.model1, &cmp.model2));
            }
        }
        println!("files:");
        for f in files.iter() {
            outln!("  {}", f.display());
        }
    }
    // Model 1's configurations that no candidate shares.
    let only_model1: Vec<ConfigKey> = cmps[0]
        .1
        .only_model1
        .iter()
        .filter(|k| cmps.iter().all(|(_, c)| c.only_model1.contains(k)))
        .copied()
        .collect();
    for (k, (_, cmp)) in cmps.iter().enumerate() {
        let mut lists = vec![(&cmp.model2, &cmp.only_model2)];
        if k == 0 {
            lists.insert(0, (&cmp.model1, &only_model1));
        }
        for (name, keys) in lists {
            if !keys.is_empty() {
                outln!("\nonly {name} has (not plotted):");
                for k in keys {
                    outln!("  {k}");
                }
            }
        }
    }
    let skipped = m1.skipped.len() + cands.iter().map(|m| m.skipped.len()).sum::<usize>();
    let others = cmps
        .iter()
        .map(|(m, c)| format!("{} ({} runs)", c.model2, m.runs.len()))
        .collect::<Vec<_>>()
        .join(", ");
    outln!(
        "\ncompared {} configuration(s) of {} ({} runs) and {}{}; output in {}",
        configs.len(),
        names.model1,
        m1.runs.len(),
        others,
        if skipped > 0 {
            format!(", {skipped} run folder(s) skipped (see warnings)")
        } else {
            String::new()
        },
        a.output_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
