//! The HTML report (`modelbench report`, `compare --report`, `summarize --report`): one
//! self-contained file — inline CSS, the charts as inline SVG, a few lines of inline JavaScript
//! that only sort tables — that opens from disk, offline, and requests nothing from any network.
//!
//! Everything a user or a result file provides (model names, labels, folder names, warnings) is
//! written through [`esc`]; the SVG charts (plotters escapes their text) are checked by
//! [`embed_svg`] before they go in: an SVG with a script, an event handler, a link or an
//! external reference is replaced by a note, and ids are prefixed per chart so two charts can
//! never clash.

use std::fmt::Write as _;

use crate::compare::{MultiConfig, Pair};
use crate::export::table::fmt_value;
use crate::metrics::{Metric, Verdict};
use crate::results::RunSummary;
use crate::summary::{Best, CapacityEntry};

/// `s` as HTML text or attribute value: `&`, `<`, `>`, `"` and `'` escaped; control characters
/// (other than tab and newline) shown as `\u{..}` so nothing invisible reaches the page.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// One chart: its title (the figure's caption) and its SVG document.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub svg: String,
}

/// A titled group of charts (load curves, Pareto, capacity).
#[derive(Debug, Clone)]
pub struct Section {
    pub heading: String,
    /// Shown under the heading (e.g. why a chart is missing).
    pub note: Option<String>,
    pub charts: Vec<Chart>,
}

/// One run folder behind a bar.
#[derive(Debug, Clone, Default)]
pub struct RunRow {
    pub model: String,
    /// The x value the run is averaged into.
    pub x: String,
    pub folder: String,
    /// Requests measured (completed), when the run folder records it.
    pub notes: Vec<String>,
    /// The server's version (`run_info.server_version`), empty when not recorded.
    pub server_version: String,
    /// GPUs and host, empty when not recorded.
    pub environment: String,
    /// The server's own metrics over the run, in one line; empty when not scraped.
    pub server_metrics: String,
    /// The run's `timeline.png`, when it has one.
    pub timeline: Option<std::path::PathBuf>,
}

impl RunRow {
    /// A run as the report lists it: its folder name, and partial / invalid-value notes.
    pub fn of(model: &str, x: String, r: &RunSummary) -> RunRow {
        let mut notes = Vec::new();
        if let Some(p) = &r.partial {
            notes.push(format!("partial: {p}"));
        }
        if !r.invalid_values.is_empty() {
            notes.push(format!(
                "invalid values left out: {}",
                r.invalid_values.join(", ")
            ));
        }
        if let Some(d) = &r.definitions {
            notes.push(format!("imported ({d} definitions)"));
        }
        let view = r.server_view.as_deref();
        RunRow {
            model: model.to_owned(),
            x,
            server_version: r.server_version.clone().unwrap_or_default(),
            environment: view.and_then(|v| v.environment.clone()).unwrap_or_default(),
            server_metrics: view.and_then(|v| v.metrics.clone()).unwrap_or_default(),
            timeline: view
                .filter(|v| v.timeline)
                .map(|_| r.dir.join("timeline.png")),
            folder: r
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| r.dir.display().to_string()),
            notes,
        }
    }

    /// The date in a `run_YYYYMMDD_HHMMSS` folder name, as `YYYY-MM-DD HH:MM:SS`.
    pub fn date(&self) -> Option<String> {
        let rest = self.folder.strip_prefix("run_")?;
        let b = rest.as_bytes();
        let digits = |r: std::ops::Range<usize>| {
            b.get(r.clone())
                .filter(|s| s.iter().all(u8::is_ascii_digit))
                .map(|_| &rest[r])
        };
        if b.get(8) != Some(&b'_') {
            return None;
        }
        Some(format!(
            "{}-{}-{} {}:{}:{}",
            digits(0..4)?,
            digits(4..6)?,
            digits(6..8)?,
            digits(9..11)?,
            digits(11..13)?,
            digits(13..15)?
        ))
    }
}

/// One compared configuration: its verdicts, charts, runs and differing settings.
#[derive(Debug, Clone)]
pub struct ConfigReport<'a> {
    pub cfg: &'a MultiConfig,
    pub charts: Vec<Chart>,
    pub runs: Vec<RunRow>,
    /// Settings whose recorded values differ between the models' runs:
    /// (setting, [(model, its values)]).
    pub differing: Vec<(String, Vec<(String, String)>)>,
}

/// Everything `compare`'s report shows.
#[derive(Debug, Clone)]
pub struct CompareReport<'a> {
    pub model1: &'a str,
    pub candidates: Vec<&'a str>,
    pub configs: Vec<ConfigReport<'a>>,
    /// Load curves, Pareto and capacity charts (only sections that have charts or a note).
    pub extra: Vec<Section>,
    /// Configurations only one side has (not compared), one line each.
    pub not_compared: Vec<String>,
    /// Every warning `compare` printed, in order.
    pub warnings: Vec<String>,
}

/// Everything `summarize`'s report shows.
#[derive(Debug, Clone)]
pub struct SummaryReport<'a> {
    pub model: &'a str,
    pub runs: &'a [RunSummary],
    /// The expected grid's missing configurations, one line per (TP, DP, PP); empty when none
    /// is missing.
    pub missing: Vec<String>,
    /// How many configurations are missing, of how many expected.
    pub missing_count: usize,
    pub missing_of: usize,
    pub best: Vec<Best>,
    /// Capacity table rows (sorted as `summarize` prints them).
    pub capacity: Vec<CapacityEntry>,
    /// Best configuration by capacity per GPU, one line each.
    pub capacity_best: Vec<String>,
    pub warnings: Vec<String>,
}

const CSS: &str = "
:root{--better:#1A9641;--worse:#D7191C;--noise:#6E6E6E;--na:#808080;--same:#333333}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0 auto;max-width:1280px;padding:1rem 1.5rem;color:#222;line-height:1.4}
h1{font-size:1.6rem;margin:.2rem 0 .4rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:1px solid #ccc}h3{font-size:1.1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right;vertical-align:top}
th{background:#f2f2f2}td.l,th.l{text-align:left}
table.sortable th{cursor:pointer}
.better{color:var(--better);font-weight:600}.worse{color:var(--worse);font-weight:600}
.noise{color:var(--noise)}.na{color:var(--na)}.same{color:var(--same)}
.ci{color:#555;font-size:.8em;font-weight:400}
.wrap{overflow-x:auto}
figure{margin:1rem 0;break-inside:avoid;page-break-inside:avoid}
figcaption{font-size:.9rem;color:#444}
svg.chart{display:block;width:100%;height:auto;border:1px solid #eee}
img.timeline{display:block;width:100%;height:auto;border:1px solid #eee}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:0 1rem}
ul.summary li{margin:.2rem 0}
.warn li{color:#8a5300}
.muted{color:#666}
@media print{body{max-width:none;padding:0;font-size:10pt}h2{break-before:auto;break-after:avoid}
 table,figure,svg.chart{break-inside:avoid;page-break-inside:avoid}
 .wrap{overflow:visible}.charts{display:block}}
";

/// Sorts a `table.sortable` by the clicked column: numbers by `data-v` (missing last), texts
/// alphabetically; a second click reverses. The content is all there without it.
const JS: &str = "
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){
  th.title='click to sort';
  th.addEventListener('click',function(){
   var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows),d=th.dataset.d==='a'?'d':'a';
   t.querySelectorAll('th').forEach(function(h){delete h.dataset.d});th.dataset.d=d;
   var key=function(r){var c=r.cells[i];if(!c)return null;var v=c.dataset.v;
    if(v!==undefined)return v===''?null:parseFloat(v);return c.textContent.trim();};
   rows.sort(function(x,y){var a=key(x),c=key(y);if(a===null&&c===null)return 0;
    if(a===null)return 1;if(c===null)return -1;var r=(typeof a==='number'&&typeof c==='number')?a-c:String(a).localeCompare(String(c));
    return d==='a'?r:-r;});
   rows.forEach(function(r){b.appendChild(r)});
  });
 });
});
";

/// A signed percentage as the charts write it: `+12.3%`, `−4.5%` (U+2212).
fn pct_text(v: f64) -> String {
    format!("{v:+.1}%").replace('-', "\u{2212}")
}

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(title)
    );
}

fn tail(out: &mut String) {
    let _ = writeln!(out, "<script>{JS}</script>\n</body>\n</html>");
}

/// Why an SVG cannot be embedded as it is, if it cannot. Only the markup (the tags) is looked
/// at: text between tags cannot hold a `<`, so a model named `href` or `onload=` is harmless.
fn unsafe_svg(svg: &str) -> Option<&'static str> {
    let lower = svg.trim().to_ascii_lowercase();
    let body = match lower.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or("", |(_, b)| b.trim_start()),
        None => &lower,
    };
    if !body.starts_with("<svg") {
        return Some("not an SVG document");
    }
    // Exactly one closing tag, at the end: nothing can follow the drawing.
    if body.matches("</svg").count() != 1 || !body.ends_with("</svg>") {
        return Some("content after the drawing");
    }
    for tag in body.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or_default();
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_ascii_whitespace() || c == '/')
            .next()
            .unwrap_or_default();
        match name {
            "script" => return Some("a script"),
            "foreignobject" | "iframe" | "object" | "embed" => return Some("foreign content"),
            "image" | "use" | "a" | "feimage" => return Some("a link"),
            "style" => return Some("a style sheet"),
            n if n.starts_with('!') || n.starts_with('?') => return Some("a markup declaration"),
            _ => {}
        }
        if tag.contains("href") {
            return Some("a link");
        }
        // url(...) only to the document's own ids.
        if tag.match_indices("url(").any(|(i, _)| {
            !tag[i + 4..]
                .trim_start_matches(['"', '\'', ' '])
                .starts_with('#')
        }) {
            return Some("an external reference");
        }
        // Event handler attributes (`onload=`, `onclick=` …).
        if tag
            .split_ascii_whitespace()
            .skip(1)
            .any(|a| a.starts_with("on") && a.contains('='))
        {
            return Some("an event handler");
        }
    }
    None
}

/// The SVG document as an inline element: prolog dropped, `class="chart"` and an accessible
/// label added, ids (and `url(#…)` references to them) prefixed with `prefix`. An SVG that
/// could reach outside the page or run anything is replaced by a note saying so.
pub fn embed_svg(svg: &str, title: &str, prefix: &str) -> String {
    if let Some(why) = unsafe_svg(svg) {
        return format!(
            "<p class=\"warn\">chart left out: its SVG holds {}</p>",
            esc(why)
        );
    }
    let mut s = svg.trim();
    if s.starts_with("<?xml") {
        s = s.find("?>").map_or(s, |i| s[i + 2..].trim_start());
    }
    let body = s.strip_prefix("<svg").unwrap_or(s);
    let mut out = String::with_capacity(svg.len() + 64);
    let _ = write!(
        out,
        "<svg class=\"chart\" role=\"img\" aria-label=\"{}\"",
        esc(title)
    );
    if body.contains(" id=\"") {
        out.push_str(
            &body
                .replace(" id=\"", &format!(" id=\"{prefix}-"))
                .replace("url(#", &format!("url(#{prefix}-")),
        );
    } else {
        out.push_str(body);
    }
    out
}

fn figure(out: &mut String, c: &Chart, prefix: &str) {
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>{}</figcaption></figure>",
        embed_svg(&c.svg, &c.title, prefix),
        esc(&c.title)
    );
}

/// CSS class of a % cell: as the charts colour their % labels.
fn class_of(p: &Pair, m: Metric) -> &'static str {
    match (p.verdict(m), p.significant()) {
        (Verdict::NotAvailable, _) => "na",
        (_, Some(false)) => "noise",
        (Verdict::Same, _) => "same",
        (Verdict::Better, _) => "better",
        (Verdict::Worse, _) => "worse",
    }
}

/// A % cell: the difference (with "≈" when within noise) and its 95 % interval.
fn pct_cell(p: &Pair, m: Metric) -> String {
    let class = class_of(p, m);
    let v = p.diff_pct().map(|d| format!("{d}")).unwrap_or_default();
    let text = match p.diff_pct() {
        None => "n/a".to_owned(),
        Some(d) => {
            let mark = if p.significant() == Some(false) {
                "\u{2248} "
            } else {
                ""
            };
            format!("{mark}{}", pct_text(d))
        }
    };
    let ci =
        p.ci.map(|c| {
            format!(
                "<br><span class=\"ci\">[{}, {}]</span>",
                pct_text(c.low),
                pct_text(c.high)
            )
        })
        .unwrap_or_default();
    format!(
        "<td class=\"{class}\" data-v=\"{v}\">{}{ci}</td>",
        esc(&text)
    )
}

/// The metric as a summary line names it.
fn phrase_name(m: Metric) -> &'static str {
    match m {
        Metric::Throughput => "throughput",
        Metric::TotalLatencyP50 => "p50 generation latency",
        Metric::TotalLatencyP99 => "p99 generation latency",
        Metric::TtftP50 => "p50 TTFT",
        Metric::TtftP99 => "p99 TTFT",
        Metric::InterTokenP50 => "p50 inter-token latency",
        Metric::InterTokenP99 => "p99 inter-token latency",
    }
}

/// One candidate's one-line summary over a configuration's x values: per metric, the change
/// where every x value agrees ("20 % more throughput", "18 % lower p50 TTFT", a range over
/// several x values), "within noise" where no difference is significant, "mixed" otherwise.
pub fn summary_line(cfg: &MultiConfig, j: usize) -> String {
    let mut parts = Vec::new();
    for m in Metric::ALL {
        let pairs: Vec<&Pair> = cfg
            .groups(m)
            .iter()
            .filter_map(|g| g.get(j))
            .filter(|p| p.diff_pct().is_some())
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let (mut better, mut worse, mut noise) = (0, 0, 0);
        for p in &pairs {
            match (p.verdict(m), p.significant()) {
                (_, Some(false)) | (Verdict::Same, _) => noise += 1,
                (Verdict::Better, _) => better += 1,
                (Verdict::Worse, _) => worse += 1,
                (Verdict::NotAvailable, _) => {}
            }
        }
        let name = phrase_name(m);
        let n = pairs.len();
        let diffs: Vec<f64> = pairs.iter().filter_map(|p| p.diff_pct()).collect();
        let lo = diffs.iter().map(|d| d.abs()).fold(f64::INFINITY, f64::min);
        let hi = diffs.iter().map(|d| d.abs()).fold(0.0, f64::max);
        let (lo, hi) = (format!("{lo:.1}"), format!("{hi:.1}"));
        // One number when the x values agree to the decimal shown.
        let amount = if lo == hi {
            format!("{hi} %")
        } else {
            format!("{lo}\u{2013}{hi} %")
        };
        let untested = pairs.iter().all(|p| p.ci.is_none());
        let note = if untested { " (no interval)" } else { "" };
        let part = if noise == n {
            format!("{name} within noise")
        } else if better == n || worse == n {
            let up = diffs.iter().all(|d| *d > 0.0);
            let word = match (m.higher_is_better(), up) {
                (true, true) => "more",
                (true, false) => "less",
                (false, true) => "higher",
                (false, false) => "lower",
            };
            format!("{amount} {word} {name}{note}")
        } else {
            let counts: Vec<String> = [
                ("better", better),
                ("worse", worse),
                ("within noise", noise),
            ]
            .iter()
            .filter(|(_, k)| *k > 0)
            .map(|(w, k)| format!("{w} at {k}"))
            .collect();
            format!(
                "{name} mixed ({} of {n} {} values)",
                counts.join(", "),
                cfg.x_name
            )
        };
        parts.push(part);
    }
    if parts.is_empty() {
        "no metric has values on both sides".to_owned()
    } else {
        parts.join(", ")
    }
}

/// The verdict table of one configuration: a row per (x value, candidate), a column per metric.
fn verdict_table(out: &mut String, cfg: &MultiConfig, candidates: &[&str]) {
    let _ = write!(
        out,
        "<div class=\"wrap\"><table class=\"sortable verdicts\"><thead><tr><th class=\"l\">{}</th><th class=\"l\">candidate</th>",
        esc(&cfg.x_name)
    );
    for m in Metric::ALL {
        let _ = write!(
            out,
            "<th>{}<br><span class=\"ci\">{}</span></th>",
            esc(m.short_header()),
            if m.higher_is_better() {
                "higher is better"
            } else {
                "lower is better"
            }
        );
    }
    out.push_str("</tr></thead><tbody>\n");
    for (i, x) in cfg.xs.iter().enumerate() {
        for (j, c) in candidates.iter().enumerate() {
            let xv = x.as_f64().map(|v| v.to_string()).unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td class=\"l\" data-v=\"{}\">{}</td><td class=\"l\">{}</td>",
                esc(&xv),
                esc(&x.to_string()),
                esc(c)
            );
            for m in Metric::ALL {
                match cfg.groups(m).get(i).and_then(|g| g.get(j)) {
                    Some(p) => out.push_str(&pct_cell(p, m)),
                    None => out.push_str("<td class=\"na\" data-v=\"\">n/a</td>"),
                }
            }
            out.push_str("</tr>\n");
        }
    }
    out.push_str("</tbody></table></div>\n");
}

fn list(out: &mut String, class: &str, items: &[String]) {
    let _ = write!(out, "<ul class=\"{class}\">");
    for i in items {
        let _ = write!(out, "<li>{}</li>", esc(i));
    }
    out.push_str("</ul>\n");
}

fn anchor(i: usize) -> String {
    format!("cfg{i}")
}

/// The comparison report as one HTML document.
pub fn compare_html(r: &CompareReport) -> String {
    let mut out = String::with_capacity(
        64 * 1024
            + r.configs
                .iter()
                .flat_map(|c| c.charts.iter().map(|c| c.svg.len()))
                .sum::<usize>()
            + r.extra
                .iter()
                .flat_map(|s| s.charts.iter().map(|c| c.svg.len()))
                .sum::<usize>(),
    );
    let title = format!("{} vs {}", r.model1, r.candidates.join(", "));
    head(&mut out, &format!("modelbench: {title}"));
    let _ = write!(
        out,
        "<h1>{}</h1>\n<p class=\"muted\">Baseline (model 1): <b>{}</b>; candidates: {}. \
         Each % is the candidate against the baseline; green better, red worse, grey \u{201c}\u{2248}\u{201d} \
         where the 95 % interval (in brackets) includes 0, i.e. within noise; without an interval the colour \
         shows only the direction. Click a column header to sort.</p>\n",
        esc(&title),
        esc(r.model1),
        r.candidates
            .iter()
            .map(|c| format!("<b>{}</b>", esc(c)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !r.warnings.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"warn\"><a href=\"#warnings\">{} warning(s)</a> below.</p>",
            r.warnings.len()
        );
    }
    out.push_str("<h2 id=\"verdicts\">Verdicts per configuration</h2>\n");
    for (i, c) in r.configs.iter().enumerate() {
        let _ = write!(
            out,
            "<section><h3><a href=\"#{}\">{}</a></h3>\n<ul class=\"summary\">",
            anchor(i),
            esc(&c.cfg.par.to_string())
        );
        for (j, cand) in r.candidates.iter().enumerate() {
            let _ = write!(
                out,
                "<li><b>{}</b>: {}</li>",
                esc(cand),
                esc(&summary_line(c.cfg, j))
            );
        }
        out.push_str("</ul>\n");
        verdict_table(&mut out, c.cfg, &r.candidates);
        out.push_str("</section>\n");
    }
    if !r.not_compared.is_empty() {
        out.push_str("<h3>Not compared (one side only)</h3>\n");
        list(&mut out, "", &r.not_compared);
    }
    let mut embedded = 0;
    for (i, c) in r.configs.iter().enumerate() {
        let _ = writeln!(
            out,
            "<h2 id=\"{}\">{}</h2>",
            anchor(i),
            esc(&c.cfg.par.to_string())
        );
        out.push_str("<div class=\"charts\">\n");
        for (k, ch) in c.charts.iter().enumerate() {
            figure(&mut out, ch, &format!("c{i}-{k}"));
        }
        out.push_str("</div>\n");
        if !c.differing.is_empty() {
            out.push_str("<h3>Settings that differ between the models\u{2019} runs</h3>\n<div class=\"wrap\"><table><thead><tr><th class=\"l\">setting</th>");
            for (m, _) in &c.differing[0].1 {
                let _ = write!(out, "<th class=\"l\">{}</th>", esc(m));
            }
            out.push_str("</tr></thead><tbody>");
            for (name, vals) in &c.differing {
                let _ = write!(out, "<tr><td class=\"l\">{}</td>", esc(name));
                for (_, v) in vals {
                    let _ = write!(out, "<td class=\"l\">{}</td>", esc(v));
                }
                out.push_str("</tr>");
            }
            out.push_str("</tbody></table></div>\n");
        }
        runs_table(&mut out, &c.runs, &c.cfg.x_name);
        embedded += timelines(&mut out, &c.runs, MAX_TIMELINES - embedded);
    }
    for (k, s) in r.extra.iter().enumerate() {
        let _ = writeln!(out, "<h2>{}</h2>", esc(&s.heading));
        if let Some(n) = &s.note {
            let _ = writeln!(out, "<p class=\"muted\">{}</p>", esc(n));
        }
        out.push_str("<div class=\"charts\">\n");
        for (i, ch) in s.charts.iter().enumerate() {
            figure(&mut out, ch, &format!("x{k}-{i}"));
        }
        out.push_str("</div>\n");
    }
    environment_section(
        &mut out,
        &r.configs
            .iter()
            .flat_map(|c| c.runs.iter())
            .collect::<Vec<_>>(),
    );
    warnings(&mut out, &r.warnings);
    tail(&mut out);
    out
}

fn warnings(out: &mut String, w: &[String]) {
    out.push_str("<h2 id=\"warnings\">Warnings</h2>\n");
    if w.is_empty() {
        out.push_str("<p class=\"muted\">none</p>\n");
    } else {
        list(out, "warn", w);
    }
}

/// How many run timelines one report embeds at most (each ~50–100 KB); the rest stay in their
/// run folders, and the report says how many.
pub const MAX_TIMELINES: usize = 24;

fn runs_table(out: &mut String, runs: &[RunRow], x_name: &str) {
    if runs.is_empty() {
        return;
    }
    let server = runs
        .iter()
        .any(|r| !r.server_version.is_empty() || !r.server_metrics.is_empty());
    let env = runs.iter().any(|r| !r.environment.is_empty());
    let _ = write!(
        out,
        "<h3>Runs behind the bars ({} run folders)</h3>\n<div class=\"wrap\"><table class=\"sortable\"><thead><tr>\
         <th class=\"l\">model</th><th class=\"l\">{}</th><th class=\"l\">folder</th><th class=\"l\">date</th><th class=\"l\">notes</th>",
        runs.len(),
        esc(x_name)
    );
    if server {
        out.push_str("<th class=\"l\">server (version; its own /metrics over the run)</th>");
    }
    if env {
        out.push_str("<th class=\"l\">environment</th>");
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in runs {
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>",
            esc(&r.model),
            esc(&r.x),
            esc(&r.folder),
            esc(&r.date().unwrap_or_default()),
            esc(&r.notes.join("; "))
        );
        if server {
            let v = match (r.server_version.as_str(), r.server_metrics.as_str()) {
                ("", m) => m.to_owned(),
                (v, "") => format!("vLLM {v}"),
                (v, m) => format!("vLLM {v}; {m}"),
            };
            let _ = write!(out, "<td class=\"l\">{}</td>", esc(&v));
        }
        if env {
            let _ = write!(out, "<td class=\"l\">{}</td>", esc(&r.environment));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
}

/// The runs' timelines (`timeline.png`, issue 12) as embedded images, up to `budget` of them;
/// returns how many were embedded. A file that cannot be read is named instead.
fn timelines(out: &mut String, runs: &[RunRow], budget: usize) -> usize {
    use base64::Engine as _;
    let with: Vec<&RunRow> = runs.iter().filter(|r| r.timeline.is_some()).collect();
    if with.is_empty() || budget == 0 {
        return 0;
    }
    out.push_str("<h3>Timelines (requests in flight, the server's running and waiting, KV cache, tokens/s)</h3>\n<div class=\"charts\">\n");
    let mut n = 0;
    for r in with.iter().take(budget) {
        let Some(path) = &r.timeline else { continue };
        let caption = format!("{} \u{2014} {} \u{2014} {}", r.model, r.x, r.folder);
        match crate::results::read::read_bounded(path, "timeline") {
            Ok(Some(png)) if png.starts_with(b"\x89PNG\r\n\x1a\n") => {
                let _ = writeln!(
                    out,
                    "<figure><img class=\"timeline\" alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{}</figcaption></figure>",
                    esc(&caption),
                    base64::engine::general_purpose::STANDARD.encode(&png),
                    esc(&caption)
                );
                n += 1;
            }
            _ => {
                let _ = writeln!(
                    out,
                    "<p class=\"muted\">{}: timeline.png could not be read</p>",
                    esc(&caption)
                );
            }
        }
    }
    out.push_str("</div>\n");
    if with.len() > n {
        let _ = writeln!(
            out,
            "<p class=\"muted\">{} more timeline(s) in their run folders (a report embeds at most {MAX_TIMELINES}).</p>",
            with.len() - n
        );
    }
    n
}

/// One line per model: the vLLM versions and environments its runs in this report recorded.
fn environment_section(out: &mut String, runs: &[&RunRow]) {
    let mut models: Vec<&str> = Vec::new();
    for r in runs {
        if !models.contains(&r.model.as_str()) {
            models.push(&r.model);
        }
    }
    let mut lines = Vec::new();
    for m in models {
        let distinct = |f: &dyn Fn(&RunRow) -> &str| {
            let mut v: Vec<&str> = runs
                .iter()
                .filter(|r| r.model == m)
                .map(|r| f(r))
                .filter(|s| !s.is_empty())
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let versions = distinct(&|r| r.server_version.as_str());
        let envs = distinct(&|r| r.environment.as_str());
        if versions.is_empty() && envs.is_empty() {
            lines.push(format!(
                "{m}: not recorded (runs written before the environment was recorded)"
            ));
        } else {
            lines.push(format!(
                "{m}: vLLM {}; {}",
                if versions.is_empty() {
                    "not recorded".to_owned()
                } else {
                    versions.join(", ")
                },
                if envs.is_empty() {
                    "environment not recorded".to_owned()
                } else {
                    envs.join(" | ")
                }
            ));
        }
    }
    out.push_str("<h2 id=\"environment\">Environment</h2>\n");
    list(out, "", &lines);
}

/// `summarize`'s report as one HTML document.
pub fn summary_html(r: &SummaryReport) -> String {
    let mut out = String::with_capacity(64 * 1024 + r.runs.len() * 512);
    head(&mut out, &format!("modelbench: {}", r.model));
    let _ = write!(
        out,
        "<h1>{}</h1>\n<p class=\"muted\">{} run(s). Click a column header to sort. \
         No charts: the bar charts compare models (<code>modelbench report --model1 A --model2 B</code>); \
         every value is in the table below.</p>\n",
        esc(r.model),
        r.runs.len()
    );
    out.push_str("<h2>Best configuration per metric</h2>\n<table><thead><tr><th class=\"l\">metric</th><th>value</th><th class=\"l\">unit</th><th class=\"l\">configuration</th><th>runs averaged</th></tr></thead><tbody>\n");
    for b in &r.best {
        let _ = writeln!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
            esc(&b.metric.title()),
            esc(&fmt_value(Some(b.value.mean))),
            esc(b.metric.unit()),
            esc(&b.config.to_string()),
            b.value.n
        );
    }
    out.push_str("</tbody></table>\n<h2>Missing configurations</h2>\n");
    if r.missing.is_empty() {
        out.push_str("<p>Every configuration of the expected grid has a result.</p>\n");
    } else {
        let _ = writeln!(
            out,
            "<p>{} of {} configurations of the expected grid have no result:</p>",
            r.missing_count, r.missing_of
        );
        list(&mut out, "", &r.missing);
    }
    if !r.capacity.is_empty() {
        out.push_str("<h2>Capacity (max load meeting the SLO)</h2>\n<div class=\"wrap\"><table class=\"sortable\"><thead><tr><th class=\"l\">configuration</th><th class=\"l\">axis</th><th>max meeting SLO</th><th>GPUs</th><th>per GPU</th><th class=\"l\">SLO</th><th class=\"l\">file</th></tr></thead><tbody>\n");
        for e in &r.capacity {
            let num = |v: Option<f64>| {
                format!(
                    "<td data-v=\"{}\">{}</td>",
                    v.map(|v| v.to_string()).unwrap_or_default(),
                    esc(&v.map_or("none met".to_owned(), |v| fmt_value(Some(v))))
                )
            };
            let _ = writeln!(
                out,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td>{}<td data-v=\"{g}\">{g}</td>{}<td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
                esc(&e.config_text()),
                esc(&e.axis),
                num(e.max_meeting_slo),
                num(e.per_gpu()),
                esc(&e.slo),
                esc(&e.file),
                g = e.gpus()
            );
        }
        out.push_str("</tbody></table></div>\n");
        list(&mut out, "", &r.capacity_best);
    }
    out.push_str("<h2>Runs</h2>\n<div class=\"wrap\"><table class=\"sortable\"><thead><tr><th>TP</th><th>DP</th><th>PP</th><th>max_num_batched_tokens</th><th class=\"l\">load</th>");
    for m in Metric::ALL {
        let _ = write!(out, "<th>{}</th>", esc(m.short_header()));
    }
    out.push_str("<th class=\"l\">folder</th><th class=\"l\">notes</th></tr></thead><tbody>\n");
    for run in r.runs {
        let k = &run.config;
        let bt = k.max_num_batched_tokens;
        let _ = write!(
            out,
            "<tr><td data-v=\"{tp}\">{tp}</td><td data-v=\"{dp}\">{dp}</td><td data-v=\"{pp}\">{pp}</td><td data-v=\"{}\">{}</td><td class=\"l\">{}</td>",
            bt.map(|b| b.to_string()).unwrap_or_default(),
            bt.map_or("default".to_owned(), |b| b.to_string()),
            if k.load.is_none() { "\u{2013}".to_owned() } else { esc(&k.load.to_string()) },
            tp = k.par.tp,
            dp = k.par.dp,
            pp = k.par.pp,
        );
        for m in Metric::ALL {
            let v = run.values.get(m);
            let _ = write!(
                out,
                "<td data-v=\"{}\">{}</td>",
                v.map(|v| v.to_string()).unwrap_or_default(),
                esc(&fmt_value(v))
            );
        }
        let row = RunRow::of(r.model, String::new(), run);
        let _ = writeln!(
            out,
            "<td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            esc(&row.folder),
            esc(&row.notes.join("; "))
        );
    }
    out.push_str("</tbody></table></div>\n");
    warnings(&mut out, &r.warnings);
    tail(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Aggregate, XField};
    use crate::results::{ChartKey, FieldValue, Load, Parallelism};
    use crate::significance::{CiMethod, DiffCi};

    const EVIL: &str = "<script>alert(1)</script>";

    fn agg(v: f64) -> Option<Aggregate> {
        Some(Aggregate {
            mean: v,
            min: v,
            max: v,
            n: 1,
        })
    }

    fn cfg(ci: Option<DiffCi>) -> MultiConfig {
        let pair = |a: f64, b: f64| Pair {
            model1: agg(a),
            model2: agg(b),
            ci,
        };
        MultiConfig {
            par: ChartKey {
                par: Parallelism {
                    tp: 1,
                    dp: 1,
                    pp: 1,
                },
                load: Load::NONE,
                batch_tokens: None,
            },
            x_name: XField::BatchTokens.name().to_owned(),
            xs: vec![FieldValue::Num(4096.0)],
            groups: Metric::ALL
                .iter()
                .map(|m| {
                    if m.higher_is_better() {
                        vec![vec![pair(100.0, 120.0)]]
                    } else {
                        vec![vec![pair(100.0, 82.0)]]
                    }
                })
                .collect(),
        }
    }

    fn report<'a>(c: &'a MultiConfig, svg: String) -> CompareReport<'a> {
        CompareReport {
            model1: EVIL,
            candidates: vec!["cand-7b", "a&b\"'"],
            configs: vec![ConfigReport {
                cfg: c,
                charts: vec![Chart {
                    title: format!("{EVIL} chart"),
                    svg,
                }],
                runs: vec![RunRow {
                    model: EVIL.into(),
                    x: "4096".into(),
                    folder: "run_20250714_090700<b>".into(),
                    notes: vec![EVIL.into()],
                    server_version: EVIL.into(),
                    environment: EVIL.into(),
                    server_metrics: EVIL.into(),
                    timeline: None,
                }],
                differing: vec![(EVIL.into(), vec![(EVIL.into(), EVIL.into())])],
            }],
            extra: vec![Section {
                heading: EVIL.into(),
                note: Some(EVIL.into()),
                charts: vec![],
            }],
            not_compared: vec![EVIL.into()],
            warnings: vec![format!("warning: {EVIL}")],
        }
    }

    /// The only `<script` in the page is the report's own sorting script at the end.
    fn assert_one_script(html: &str) {
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        let at = html.find("<script>").unwrap_or(0);
        assert!(html[at..].starts_with("<script>\ndocument.querySelectorAll"));
    }

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            esc("<a href='x'>&\"</a>\u{7}"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;\\u{7}"
        );
    }

    #[test]
    fn user_strings_render_as_text_in_the_comparison_report() {
        let c = cfg(None);
        let svg = crate::plot::multi_metric_chart_svg(
            &c,
            Metric::Throughput,
            &crate::plot::ModelNames {
                model1: EVIL,
                candidates: vec!["</svg><script>alert(2)</script>"],
            },
        );
        let html = compare_html(&report(&c, svg));
        assert_one_script(&html);
        assert!(!html.contains("alert(2)</script>"));
        assert!(html.contains("a&amp;b&quot;&#39;"));
        assert!(html.contains("run_20250714_090700&lt;b&gt;"));
        // The chart went in (plotters escaped the names).
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 1);
    }

    #[test]
    fn user_strings_render_as_text_in_the_summary_report() {
        let html = summary_html(&SummaryReport {
            model: EVIL,
            runs: &[],
            missing: vec![EVIL.into()],
            missing_count: 1,
            missing_of: 2,
            best: vec![],
            capacity: vec![],
            capacity_best: vec![EVIL.into()],
            warnings: vec![EVIL.into()],
        });
        assert_one_script(&html);
    }

    #[test]
    fn unsafe_svgs_are_left_out_and_ids_prefixed() {
        for bad in [
            "<svg><script>x</script></svg>",
            "<svg><a href=\"https://x\">x</a></svg>",
            "<svg><rect fill=\"url(https://x/f.svg#a)\"/></svg>",
            "<svg onload=\"x()\"></svg>",
            "<svg><rect onclick=\"x()\"/></svg>",
            "<svg><style>@import url(x.css)</style></svg>",
            "<svg></svg><script>x</script>",
            "<p>not svg</p>",
        ] {
            let e = embed_svg(bad, "t", "p");
            assert!(
                e.starts_with("<p class=\"warn\">chart left out"),
                "{bad}: {e}"
            );
        }
        let e = embed_svg(
            "<?xml version=\"1.0\"?>\n<svg width=\"1\"><clipPath id=\"a\"/><rect clip-path=\"url(#a)\" font-family=\"DejaVu Sans\"/></svg>",
            "t<",
            "c1",
        );
        assert_eq!(
            e,
            "<svg class=\"chart\" role=\"img\" aria-label=\"t&lt;\" width=\"1\"><clipPath id=\"c1-a\"/><rect clip-path=\"url(#c1-a)\" font-family=\"DejaVu Sans\"/></svg>"
        );
    }

    #[test]
    fn verdict_cells_are_coloured_as_the_charts() {
        let html = compare_html(&report(&cfg(None), String::new()));
        // Without intervals: the direction (throughput +20 % better, latency −18 % better).
        assert!(
            html.contains("<td class=\"better\" data-v=\"20\">+20.0%</td>"),
            "{html}"
        );
        let sig = cfg(Some(DiffCi {
            low: 10.0,
            high: 30.0,
            method: CiMethod::Welch,
        }));
        let noisy = cfg(Some(DiffCi {
            low: -5.0,
            high: 30.0,
            method: CiMethod::Welch,
        }));
        let h = compare_html(&report(&sig, String::new()));
        assert!(h.contains(
            "class=\"better\" data-v=\"20\">+20.0%<br><span class=\"ci\">[+10.0%, +30.0%]"
        ));
        let h = compare_html(&report(&noisy, String::new()));
        assert!(h.contains("class=\"noise\" data-v=\"20\">\u{2248} +20.0%"));
        assert!(!h.contains("class=\"better\""));
    }

    #[test]
    fn summary_lines_say_how_much_or_within_noise() {
        let c = cfg(None);
        let line = summary_line(&c, 0);
        assert!(line.starts_with("20.0 % more throughput (no interval), 18.0 % lower p50 generation latency (no interval)"), "{line}");
        // Two x values whose changes differ by less than the decimal shown: one number.
        let mut two = cfg(None);
        two.xs.push(FieldValue::Num(8192.0));
        for (k, g) in two.groups.iter_mut().enumerate() {
            let mut p = g[0][0];
            p.model2 = agg(if k == 0 { 120.04 } else { 82.0 });
            g.push(vec![p]);
        }
        let line = summary_line(&two, 0);
        assert!(
            line.starts_with("20.0 % more throughput (no interval)"),
            "{line}"
        );
        two.groups[0][1][0].model2 = agg(125.0);
        let line = summary_line(&two, 0);
        assert!(
            line.starts_with("20.0\u{2013}25.0 % more throughput"),
            "{line}"
        );
        let c = cfg(Some(DiffCi {
            low: -1.0,
            high: 30.0,
            method: CiMethod::Welch,
        }));
        assert!(summary_line(&c, 0)
            .starts_with("throughput within noise, p50 generation latency within noise"));
    }

    #[test]
    fn run_dates_come_from_the_folder_name() {
        let r = |f: &str| RunRow {
            model: String::new(),
            x: String::new(),
            folder: f.into(),
            ..RunRow::default()
        };
        assert_eq!(
            r("run_20250714_090700").date().as_deref(),
            Some("2025-07-14 09:07:00")
        );
        assert_eq!(r("run_2025").date(), None);
        assert_eq!(r("imported_x").date(), None);
    }
}
