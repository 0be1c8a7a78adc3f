//! `modelbench compare`: two models' sweeps as charts, CSV files and terminal tables.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use rayon::prelude::*;

use crate::atomic::write_atomic;
use crate::cli::{CompareArgs, ImageFormat};
use crate::compare::{compare, Comparison, GroupKey, MultiConfig, XField};
use crate::export::csv::{comparison_csv, comparison_csv_multi};
use crate::export::html::{self, Chart as HtmlChart, Section};
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
    /// Charts and CSV files are written (not with `modelbench report`, which writes only the page).
    files: bool,
    /// Where the HTML report goes, if one is asked for.
    report: Option<PathBuf>,
}

/// Prints a warning and keeps it for the report.
fn warn(list: &mut Vec<String>, w: String) {
    errln!("warning: {w}");
    list.push(w);
}

fn validate(a: &CompareArgs) -> anyhow::Result<Settings> {
    for (flag, v) in [("--tp", a.sel.tp), ("--dp", a.sel.dp), ("--pp", a.sel.pp)] {
        if v == 0 {
            bail!("{flag} must be at least 1");
        }
    }
    Ok(Settings {
        x: a.sel.x.clone(),
        only: (!a.sel.all_configs).then_some(Parallelism {
            tp: a.sel.tp,
            dp: a.sel.dp,
            pp: a.sel.pp,
        }),
        png: matches!(a.format, ImageFormat::Png | ImageFormat::Both),
        svg: matches!(a.format, ImageFormat::Svg | ImageFormat::Both),
        files: a.report_only.is_none(),
        report: match &a.report_only {
            Some(p) => Some(p.clone()),
            None => a.report.then(|| a.output_dir.join("report.html")),
        },
    })
}

/// A model's runs and the warnings about them (printed here, kept for the report).
fn load(
    base: &Path,
    name: &str,
    flag: &str,
    include_partial: bool,
) -> anyhow::Result<(ModelRuns, Vec<String>)> {
    let mut runs = load_model_with_samples(base, name).with_context(|| format!("{flag} {name}"))?;
    let warnings = runs.warnings(include_partial);
    for w in &warnings {
        errln!("warning: {w}");
    }
    Ok((runs, warnings))
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
) -> anyhow::Result<(Vec<PathBuf>, HtmlChart)> {
    let (stem, svg, title) = match chart {
        Chart::Metric(m) => (
            format!("{}_{}", m.key(), c.par.file_tag()),
            multi_metric_chart_svg(c, *m, names),
            m.title(),
        ),
        Chart::Combined => (
            format!("combined_{}", c.par.file_tag()),
            multi_combined_chart_svg(c, names),
            "All metrics".to_owned(),
        ),
    };
    let files = write_chart(out, &stem, &svg, s, raster)?;
    Ok((
        files,
        HtmlChart {
            title: format!("{title} \u{2014} {}", c.par),
            svg,
        },
    ))
}

/// Writes one chart as SVG and/or PNG (nothing when only the report is written); returns the
/// files written.
fn write_chart(
    out: &Path,
    stem: &str,
    svg: &str,
    s: &Settings,
    raster: &Rasterizer,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if !s.files {
        return Ok(written);
    }
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

fn write_csv(p: &Path, bytes: &[u8], s: &Settings) -> anyhow::Result<Option<PathBuf>> {
    if !s.files {
        return Ok(None);
    }
    write_atomic(p, bytes, false).with_context(|| format!("cannot write {}", p.display()))?;
    Ok(Some(p.to_path_buf()))
}

/// Files written and the charts drawn (for the report).
type Drawn = (Vec<PathBuf>, Vec<HtmlChart>);

/// `--curves`: a curves figure (and CSV) per family measured at several loads, and the Pareto
/// chart (and CSV). Returns the files written and the charts.
fn curves_output(
    models: &[&ModelRuns],
    names: &ModelNames,
    a: &CompareArgs,
    s: &Settings,
    raster: &Rasterizer,
    warned: &mut Vec<String>,
) -> anyhow::Result<Drawn> {
    let (mut files, mut charts) = (Vec::new(), Vec::new());
    let fams = crate::curves::families(models, s.only);
    if fams.is_empty() {
        warn(warned, format!(
            "--curves: no configuration{} was measured at two or more loads (`run --concurrency 1,4,16` or `--request-rate 1,2,4` measures several)",
            s.only.map(|p| format!(" at {p}")).unwrap_or_default()
        ));
    }
    let drawn: Vec<anyhow::Result<(Vec<PathBuf>, HtmlChart)>> = fams
        .par_iter()
        .map(|f| {
            let stem = format!("curves_{}", f.key.file_tag());
            let svg = crate::plot::curves_chart_svg(f, names, a.sel.per_gpu);
            let mut w = write_chart(&a.output_dir, &stem, &svg, s, raster)?;
            let p = a.output_dir.join(format!("{stem}.csv"));
            w.extend(write_csv(&p, &crate::export::csv::curves_csv(f), s)?);
            let title = format!("Load curves \u{2014} {}", f.key);
            Ok((w, HtmlChart { title, svg }))
        })
        .collect();
    for d in drawn {
        let (f, c) = d?;
        files.extend(f);
        charts.push(c);
    }
    let (pts, unplaced) = crate::curves::pareto(models, s.only);
    if unplaced > 0 {
        warn(warned, format!(
            "--curves: {unplaced} run(s) left off the Pareto chart: no mean TPOT or inter-token latency, or no throughput"
        ));
    }
    if pts.iter().any(|(_, p)| !p.is_empty()) {
        let scope = match s.only {
            Some(p) => p.to_string(),
            None => "every configuration".to_owned(),
        };
        let svg = crate::plot::pareto_chart_svg(&pts, names, &scope);
        files.extend(write_chart(&a.output_dir, "pareto", &svg, s, raster)?);
        let p = a.output_dir.join("pareto.csv");
        files.extend(write_csv(&p, &crate::export::csv::pareto_csv(&pts), s)?);
        charts.push(HtmlChart {
            title: format!("Pareto: tokens/s per user against tokens/s per GPU \u{2014} {scope}"),
            svg,
        });
    }
    Ok((files, charts))
}

/// Capacity charts (and one CSV) for each candidate whose `capacity_*.json` answers share an
/// axis and SLO with model 1's. Returns the files written and the charts.
fn capacity_output(
    m1: &ModelRuns,
    cands: &[&ModelRuns],
    names: &ModelNames,
    a: &CompareArgs,
    s: &Settings,
    raster: &Rasterizer,
    warned: &mut Vec<String>,
) -> anyhow::Result<Drawn> {
    let mut read = |m: &ModelRuns| {
        let (entries, warnings) = crate::summary::read_capacity_files(&m.dir);
        for w in warnings {
            warn(warned, w);
        }
        entries
            .into_iter()
            .filter(|e| s.only.is_none_or(|p| p == e.par))
            .collect::<Vec<_>>()
    };
    let base = read(m1);
    if base.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let (mut files, mut charts) = (Vec::new(), Vec::new());
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
            charts.push(HtmlChart {
                title: format!(
                    "Capacity ({}): {} against {}",
                    pair.axis, names.candidates[j], names.model1
                ),
                svg,
            });
            rows.push((names.candidates[j].to_owned(), pair.clone()));
        }
    }
    if !rows.is_empty() {
        let p = a.output_dir.join("capacity_comparison.csv");
        files.extend(write_csv(&p, &crate::export::csv::capacity_csv(&rows), s)?);
    }
    Ok((files, charts))
}

pub fn execute(a: CompareArgs) -> anyhow::Result<ExitCode> {
    let s = validate(&a)?;
    let (m1, cands) = rayon::join(
        || {
            load(
                &a.sel.base_dir,
                &a.sel.model1,
                "--model1",
                a.sel.include_partial,
            )
        },
        || {
            a.sel
                .model2
                .par_iter()
                .map(|name| load(&a.sel.base_dir, name, "--model2", a.sel.include_partial))
                .collect::<Vec<_>>()
        },
    );
    let (m1, mut warned) = m1?;
    let mut cand_runs: Vec<ModelRuns> = Vec::new();
    for c in cands {
        let (c, w) = c?;
        warned.extend(w);
        cand_runs.push(c);
    }
    let cands = cand_runs;
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
            warn(
                &mut warned,
                format!("{} left out, nothing to compare: {why}", cmp.model2),
            );
            continue;
        }
        cmps.push((m2, cmp));
    }
    if cmps.is_empty() {
        bail!("nothing to compare: no --model2 shares a configuration with --model1");
    }

    for (cmp, (model, key, settings)) in cmps
        .iter()
        .flat_map(|(_, c)| c.mixed.iter().map(move |m| (c, m)))
    {
        let w = format!(
            "{model} at {}: runs differ in other server settings ({}); they are averaged as repeats",
            cmp.key_text(key),
            settings.join(" | ")
        );
        if !warned.contains(&w) {
            warn(&mut warned, w);
        }
    }
    for c in cmps.iter().map(|(_, c)| c) {
        if !c.mixed_definitions.is_empty() {
            let w = format!(
                "{} vs {}: runs measured with different metric definitions side by side ({}); TTFT, inter-token latency, generation latency and throughput are not defined the same way (docs/metrics.md, \"modelbench and vllm bench serve\")",
                c.model1,
                c.model2,
                c.mixed_definitions.join(" | ")
            );
            if !warned.contains(&w) {
                warn(&mut warned, w);
            }
        }
    }
    for (m2, _) in &cmps {
        if let Some(w) = crate::compare::version_warning(&m1, m2) {
            warn(&mut warned, w);
        }
    }

    if s.files {
        std::fs::create_dir_all(&a.output_dir)
            .with_context(|| format!("cannot create --output-dir {}", a.output_dir.display()))?;
    }
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
    let rendered: Vec<anyhow::Result<(Vec<PathBuf>, HtmlChart)>> = jobs
        .par_iter()
        .map(|(i, chart)| render(&configs[*i], chart, &names, &a.output_dir, &s, &raster))
        .collect();
    let mut files: Vec<Vec<PathBuf>> = vec![Vec::new(); configs.len()];
    let mut svgs: Vec<Vec<HtmlChart>> = vec![Vec::new(); configs.len()];
    for ((i, _), r) in jobs.iter().zip(rendered) {
        let (f, chart) = r?;
        files[*i].extend(f);
        svgs[*i].push(chart);
    }

    for (c, files) in configs.iter().zip(&mut files) {
        if !s.files {
            break;
        }
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
    let (mut extra, capacity_charts) =
        capacity_output(&m1, &model_refs[1..], &names, &a, &s, &raster, &mut warned)?;
    let mut curve_charts = Vec::new();
    if a.sel.curves {
        let (f, c) = curves_output(&model_refs, &names, &a, &s, &raster, &mut warned)?;
        extra.extend(f);
        curve_charts = c;
    }
    if !extra.is_empty() {
        println!("\nfiles:");
        for f in &extra {
            outln!("  {}", f.display());
        }
    }
    // Model 1's configurations that no candidate shares.
    let mut not_compared = Vec::new();
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
                    not_compared.push(format!("only {name} has: {}", cmp.key_text(k)));
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
    if let Some(path) = &s.report {
        let (pareto, curves): (Vec<HtmlChart>, Vec<HtmlChart>) = curve_charts
            .into_iter()
            .partition(|c| c.title.starts_with("Pareto"));
        let mut sections = Vec::new();
        if a.sel.curves {
            sections.push(Section {
                heading: "Load curves".into(),
                note: curves
                    .is_empty()
                    .then(|| "No configuration was measured at two or more loads.".to_owned()),
                charts: curves,
            });
            sections.push(Section {
                heading: "Pareto".into(),
                note: pareto.is_empty().then(|| {
                    "No run has both a mean TPOT (or inter-token latency) and a throughput."
                        .to_owned()
                }),
                charts: pareto,
            });
        }
        if !capacity_charts.is_empty() {
            sections.push(Section {
                heading: "Capacity".into(),
                note: None,
                charts: capacity_charts,
            });
        }
        let page = html::compare_html(&html::CompareReport {
            model1: names.model1,
            candidates: names.candidates.clone(),
            configs: configs
                .iter()
                .zip(svgs)
                .map(|(cfg, charts)| html::ConfigReport {
                    cfg,
                    charts,
                    runs: super::report::runs_behind(cfg, &model_refs, &s.x),
                    differing: super::report::differing_settings(cfg, &model_refs, &s.x),
                })
                .collect(),
            extra: sections,
            not_compared,
            warnings: warned,
        });
        super::report::write_html(path, &page)?;
        outln!("wrote {} ({} KB)", path.display(), page.len() / 1024);
        if !s.files {
            return Ok(ExitCode::SUCCESS);
        }
    }
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
