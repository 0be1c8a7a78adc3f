//! `modelbench compare`: two models' sweeps as charts, CSV files and terminal tables.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use rayon::prelude::*;

use crate::atomic::write_atomic;
use crate::cli::{CompareArgs, ImageFormat};
use crate::compare::{compare, Comparison, GroupKey, MultiConfig, XField};
use crate::export::csv::{comparison_csv, comparison_csv_multi};
use crate::export::table::comparison_table;
use crate::metrics::Metric;
use crate::plot::{multi_combined_chart_svg, multi_metric_chart_svg, ModelNames, Rasterizer};
use crate::results::discover::load_model_with_samples;
use crate::results::{ModelRuns, Parallelism};
use crate::{errln, outln};

/// Validated settings of one `compare` invocation.
struct Settings {
    only: Option<Parallelism>,
    x: XField,
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
        x: a.x.clone(),
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

fn list_keys(keys: &[GroupKey]) -> String {
    let pars: std::collections::BTreeSet<Parallelism> = keys.iter().map(|k| k.chart.par).collect();
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
    x: &XField,
) -> String {
    if let Some(why) = m1.why_empty().or_else(|| m2.why_empty()) {
        return why;
    }
    let both = |keys: &[GroupKey]| {
        if keys.is_empty() {
            "none".to_owned()
        } else {
            list_keys(keys)
        }
    };
    match only {
        Some(p) => {
            let all = compare(m1, m2, None, x);
            let shared: Vec<GroupKey> = all
                .configs
                .iter()
                .flat_map(|c| {
                    c.xs.iter().map(|v| GroupKey {
                        chart: c.par,
                        x: v.clone(),
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
    write_chart(out, &stem, &svg, s, raster)
}

/// Writes one chart as SVG and/or PNG; returns the files written.
fn write_chart(
    out: &Path,
    stem: &str,
    svg: &str,
    s: &Settings,
    raster: &Rasterizer,
) -> anyhow::Result<Vec<PathBuf>> {
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
            .svg_to_png(svg)
            .with_context(|| format!("{}", p.display()))?;
        write_atomic(&p, &png, false).with_context(|| format!("cannot write {}", p.display()))?;
        written.push(p);
    }
    Ok(written)
}

fn write_csv(p: &Path, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    write_atomic(p, bytes, false).with_context(|| format!("cannot write {}", p.display()))?;
    Ok(p.to_path_buf())
}

/// `--curves`: a curves figure (and CSV) per family measured at several loads, and the Pareto
/// chart (and CSV). Returns the files written.
fn curves_output(
    models: &[&ModelRuns],
    names: &ModelNames,
    a: &CompareArgs,
    s: &Settings,
    raster: &Rasterizer,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let fams = crate::curves::families(models, s.only);
    if fams.is_empty() {
        errln!(
            "warning: --curves: no configuration{} was measured at two or more loads (`run --concurrency 1,4,16` or `--request-rate 1,2,4` measures several)",
            s.only.map(|p| format!(" at {p}")).unwrap_or_default()
        );
    }
    let drawn: Vec<anyhow::Result<Vec<PathBuf>>> = fams
        .par_iter()
        .map(|f| {
            let stem = format!("curves_{}", f.key.file_tag());
            let svg = crate::plot::curves_chart_svg(f, names, a.per_gpu);
            let mut w = write_chart(&a.output_dir, &stem, &svg, s, raster)?;
            let p = a.output_dir.join(format!("{stem}.csv"));
            w.push(write_csv(&p, &crate::export::csv::curves_csv(f))?);
            Ok(w)
        })
        .collect();
    for d in drawn {
        files.extend(d?);
    }
    let (pts, unplaced) = crate::curves::pareto(models, s.only);
    if unplaced > 0 {
        errln!(
            "warning: --curves: {unplaced} run(s) left off the Pareto chart: no mean TPOT or inter-token latency, or no throughput"
        );
    }
    if pts.iter().any(|(_, p)| !p.is_empty()) {
        let scope = match s.only {
            Some(p) => p.to_string(),
            None => "every configuration".to_owned(),
        };
        let svg = crate::plot::pareto_chart_svg(&pts, names, &scope);
        files.extend(write_chart(&a.output_dir, "pareto", &svg, s, raster)?);
        let p = a.output_dir.join("pareto.csv");
        files.push(write_csv(&p, &crate::export::csv::pareto_csv(&pts))?);
    }
    Ok(files)
}

/// Capacity charts (and one CSV) for each candidate whose `capacity_*.json` answers share an
/// axis and SLO with model 1's. Returns the files written.
fn capacity_output(
    m1: &ModelRuns,
    cands: &[&ModelRuns],
    names: &ModelNames,
    a: &CompareArgs,
    s: &Settings,
    raster: &Rasterizer,
) -> anyhow::Result<Vec<PathBuf>> {
    let read = |m: &ModelRuns| {
        let (entries, warnings) = crate::summary::read_capacity_files(&m.dir);
        for w in warnings {
            errln!("warning: {w}");
        }
        entries
            .into_iter()
            .filter(|e| s.only.is_none_or(|p| p == e.par))
            .collect::<Vec<_>>()
    };
    let base = read(m1);
    if base.is_empty() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    let mut rows: Vec<(String, crate::curves::CapacityPair)> = Vec::new();
    for (j, c) in cands.iter().enumerate() {
        let pairs = crate::curves::capacity_pairs(&base, &read(c));
        for (i, pair) in pairs.iter().enumerate() {
            let mut stem = format!("capacity_{}_slo{}", pair.axis, i + 1);
            if cands.len() > 1 {
                stem.push_str(&format!("_model{}", j + 2));
            }
            let pair_names = ModelNames {
                model1: names.model1,
                candidates: vec![names.candidates[j]],
            };
            let svg = crate::plot::capacity_chart_svg(pair, &pair_names);
            files.extend(write_chart(&a.output_dir, &stem, &svg, s, raster)?);
            rows.push((names.candidates[j].to_owned(), pair.clone()));
        }
    }
    if !rows.is_empty() {
        let p = a.output_dir.join("capacity_comparison.csv");
        files.push(write_csv(&p, &crate::export::csv::capacity_csv(&rows))?);
    }
    Ok(files)
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
    if let XField::Setting(f) = &s.x {
        for m in std::iter::once(&m1).chain(&cands) {
            if !m
                .runs
                .iter()
                .any(|r| r.settings.iter().any(|(n, _)| n == f))
            {
                let mut known: Vec<&str> = m
                    .runs
                    .iter()
                    .flat_map(|r| r.settings.iter().map(|(n, _)| n.as_str()))
                    .collect();
                known.sort_unstable();
                known.dedup();
                bail!(
                    "--x {f}: no run of {} records benchmark_config.{f} (its other fields: {})",
                    m.display_name(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                );
            }
        }
    }
    let mut cmps: Vec<(&ModelRuns, Comparison)> = Vec::new();
    for m2 in &cands {
        let cmp = compare(&m1, m2, s.only, &s.x);
        if cmp.configs.is_empty() {
            let why = nothing_comparable(&cmp, &m1, m2, s.only, &s.x);
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
    for (cmp, (model, key, settings)) in cmps
        .iter()
        .flat_map(|(_, c)| c.mixed.iter().map(move |m| (c, m)))
    {
        let w = format!(
            "warning: {model} at {}: runs differ in other server settings ({}); they are averaged as repeats",
            cmp.key_text(key),
            settings.join(" | ")
        );
        if !warned.contains(&w) {
            errln!("{w}");
            warned.push(w);
        }
    }
    for c in cmps.iter().map(|(_, c)| c) {
        if !c.mixed_definitions.is_empty() {
            let w = format!(
                "warning: {} vs {}: runs measured with different metric definitions side by side ({}); TTFT, inter-token latency, generation latency and throughput are not defined the same way (docs/metrics.md, \"modelbench and vllm bench serve\")",
                c.model1,
                c.model2,
                c.mixed_definitions.join(" | ")
            );
            if !warned.contains(&w) {
                errln!("{w}");
                warned.push(w);
            }
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
    let model_refs: Vec<&ModelRuns> = std::iter::once(&m1)
        .chain(cmps.iter().map(|(m, _)| *m))
        .collect();
    let mut extra = capacity_output(&m1, &model_refs[1..], &names, &a, &s, &raster)?;
    if a.curves {
        extra.extend(curves_output(&model_refs, &names, &a, &s, &raster)?);
    }
    if !extra.is_empty() {
        println!("\nfiles:");
        for f in &extra {
            outln!("  {}", f.display());
        }
    }
    // Model 1's configurations that no candidate shares.
    let only_model1: Vec<GroupKey> = cmps[0]
        .1
        .only_model1
        .iter()
        .filter(|k| cmps.iter().all(|(_, c)| c.only_model1.contains(k)))
        .cloned()
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
                    outln!("  {}", cmp.key_text(k));
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
