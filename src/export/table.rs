//! Terminal tables (comfy-table). Colour is used only when stdout is a terminal and
//! NO_COLOR is not set.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Color, Table};

use crate::compare::{Aggregate, ConfigComparison, Pair};
use crate::metrics::{Metric, Verdict};
use crate::results::names::escape_control;
use crate::results::RunSummary;

fn new_table(header: Vec<&str>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    if std::env::var_os("NO_COLOR").is_some() {
        t.force_no_tty();
    }
    t
}

/// A value for display: two decimals (or none for large values), `–` when missing.
pub fn fmt_value(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() && x.abs() >= 10_000.0 => format!("{x:.0}"),
        Some(x) if x.is_finite() => format!("{x:.2}"),
        _ => "–".to_owned(),
    }
}

/// A signed percentage: `+12.3%`, `-4.5%`, `n/a`.
pub fn fmt_pct(v: Option<f64>) -> String {
    match v {
        Some(x) => format!("{x:+.1}%"),
        None => "n/a".to_owned(),
    }
}

/// The % difference with its 95 % interval: `-21.1% [-24.0, -18.3]`; `≈ +0.5% [-1.2, +2.3]`
/// when the interval includes 0; just the difference without an interval.
pub fn fmt_pct_ci(p: &Pair) -> String {
    match (p.diff_pct(), p.ci) {
        (Some(d), Some(c)) => format!(
            "{}{} [{:+.1}, {:+.1}]",
            if c.significant() { "" } else { "\u{2248} " },
            fmt_pct(Some(d)),
            c.low,
            c.high
        ),
        (d, _) => fmt_pct(d),
    }
}

/// An aggregate for display; `partial` of its runs are partial (marked after the value).
fn fmt_agg(a: Option<Aggregate>, partial: usize) -> String {
    let mark = match (a, partial) {
        (Some(a), p) if p > 0 && a.n > 1 => format!(" [{p} partial]"),
        (Some(_), p) if p > 0 => " [partial]".to_owned(),
        _ => String::new(),
    };
    let value = match a {
        Some(a) if a.n > 1 => format!(
            "{} (n={}, {}–{})",
            fmt_value(Some(a.mean)),
            a.n,
            fmt_value(Some(a.min)),
            fmt_value(Some(a.max))
        ),
        Some(a) => fmt_value(Some(a.mean)),
        None => "–".to_owned(),
    };
    value + &mark
}

fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

/// metric | x field (max_num_batched_tokens) | model 1 | model 2 | Δ% — one row per metric
/// and x value.
pub fn comparison_table(cmp: &ConfigComparison, model1: &str, model2: &str) -> Table {
    let mut t = new_table(vec![
        "metric",
        &escape_control(&cmp.x_name),
        &escape_control(model1),
        &escape_control(model2),
        "Δ% [95% CI]",
    ]);
    for m in Metric::ALL {
        for ((bt, p), partial) in cmp.xs.iter().zip(cmp.pairs(m)).zip(cmp.partial(m)) {
            let color = match (p.verdict(m), p.significant()) {
                (_, Some(false)) => Color::Grey,
                (Verdict::Better, _) => Color::Green,
                (Verdict::Worse, _) => Color::Red,
                (Verdict::Same | Verdict::NotAvailable, _) => Color::Grey,
            };
            t.add_row(vec![
                Cell::new(format!("{} ({})", m.key(), m.unit())),
                right(escape_control(&bt.to_string()).into_owned()),
                right(fmt_agg(p.model1, partial[0])),
                right(fmt_agg(p.model2, partial[1])),
                right(fmt_pct_ci(p)).fg(color),
            ]);
        }
    }
    t
}

/// The summarize table: one row per run. A `load` column only when some run records its load,
/// and goodput / SLO attainment columns only when some run has them (so the table of older
/// runs is unchanged).
pub fn summary_table(runs: &[RunSummary]) -> Table {
    let show_load = runs.iter().any(|r| !r.config.load.is_none());
    let show_goodput = runs.iter().any(|r| !r.goodput.is_empty());
    let mut header = vec!["TP", "DP", "PP", "max_num_batched_tokens"];
    header.extend(Metric::ALL.map(Metric::short_header));
    header.push("partial");
    if show_load {
        header.push("load");
    }
    if show_goodput {
        header.extend(["goodput req/s", "goodput tok/s", "SLO attainment %"]);
    }
    let mut t = new_table(header);
    for r in runs {
        let mut row = vec![
            right(r.config.par.tp.to_string()),
            right(r.config.par.dp.to_string()),
            right(r.config.par.pp.to_string()),
            right(
                r.config
                    .max_num_batched_tokens
                    .map_or("default".to_owned(), |b| b.to_string()),
            ),
        ];
        row.extend(
            Metric::ALL
                .iter()
                .map(|&m| right(fmt_value(r.values.get(m)))),
        );
        row.push(Cell::new(escape_control(
            r.partial.as_deref().unwrap_or_default(),
        )));
        if show_load {
            row.push(Cell::new(if r.config.load.is_none() {
                "–".to_owned()
            } else {
                r.config.load.to_string()
            }));
        }
        if show_goodput {
            row.extend([
                right(fmt_value(r.goodput.requests_per_sec)),
                right(fmt_value(r.goodput.tokens_per_sec)),
                right(fmt_value(r.goodput.attainment_pct)),
            ]);
        }
        t.add_row(row);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_value(Some(2450.0)), "2450.00");
        assert_eq!(fmt_value(Some(123456.7)), "123457");
        assert_eq!(fmt_value(None), "–");
        assert_eq!(fmt_value(Some(f64::NAN)), "–");
        assert_eq!(fmt_pct(Some(12.345)), "+12.3%");
        assert_eq!(fmt_pct(Some(-4.54)), "-4.5%");
        assert_eq!(fmt_pct(None), "n/a");
    }
}
