//! The summary printed at the end of a run (and written to benchmark.log): totals, throughput
//! and each latency group's avg/p50/p90/p95/p99/max in milliseconds.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::slo::{Goodput, SloTarget};
use crate::stats::{Distribution, Group, RunStats};

/// What the summary says beside the statistics.
pub struct SummaryContext<'a> {
    pub model: &'a str,
    pub run_dir: &'a Path,
    pub interrupted: bool,
    pub not_sent: usize,
    pub approximate: Option<&'a str>,
    /// The SLO and the goodput measured against it.
    pub goodput: Option<(&'a SloTarget, &'a Goodput)>,
    /// The self-check against the server (printed under the latency table).
    pub self_check: Option<&'a str>,
}

fn kinds(m: &BTreeMap<&'static str, usize>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn num(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "n/a".into()
    }
}

fn row(out: &mut String, title: &str, d: Option<&Distribution>) {
    let _ = match d {
        Some(d) => writeln!(
            out,
            "{title:<36}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
            num(d.avg, 2),
            num(d.p50, 2),
            num(d.p90, 2),
            num(d.p95, 2),
            num(d.p99, 2),
            num(d.max, 2)
        ),
        None => writeln!(out, "{title:<36}{:>10}", "n/a"),
    };
}

pub fn summary_text(s: &RunStats, c: &SummaryContext<'_>) -> String {
    let rule = "=".repeat(96);
    let mut o = String::new();
    let _ = writeln!(o, "{rule}");
    let _ = writeln!(
        o,
        "Benchmark summary: {}{}",
        c.model,
        if c.interrupted { "  (INTERRUPTED)" } else { "" }
    );
    let _ = writeln!(o, "{rule}");
    let _ = writeln!(o, "{:<32}{}", "Results:", c.run_dir.display());
    let _ = writeln!(o, "{:<32}{}", "Successful requests:", s.successful);
    let failed = if s.failed > 0 {
        format!("{} ({})", s.failed, kinds(&s.errors_by_kind))
    } else {
        "0".into()
    };
    let _ = writeln!(o, "{:<32}{}", "Failed requests:", failed);
    if s.cancelled > 0 || c.not_sent > 0 {
        let _ = writeln!(
            o,
            "{:<32}{} cancelled, {} not sent",
            "Interrupted:", s.cancelled, c.not_sent
        );
    }
    let _ = writeln!(
        o,
        "{:<32}{}",
        "Benchmark duration (s):",
        num(s.duration_s, 2)
    );
    let _ = writeln!(o, "{:<32}{}", "Total input tokens:", s.total_input_tokens);
    let _ = writeln!(o, "{:<32}{}", "Total output tokens:", s.total_output_tokens);
    let _ = writeln!(
        o,
        "{:<32}{}",
        "Output throughput (tok/s):",
        num(s.output_throughput, 2)
    );
    let _ = writeln!(
        o,
        "{:<32}{}",
        "Total throughput (tok/s):",
        num(s.total_token_throughput, 2)
    );
    let _ = writeln!(
        o,
        "{:<32}{}",
        "Request throughput (req/s):",
        num(s.request_throughput, 3)
    );
    if let Some((t, g)) = c.goodput {
        let _ = writeln!(o, "{:<32}{}", "SLO:", t.slo);
        let _ = writeln!(
            o,
            "{:<32}{} ({} of {} requests good; {} when ≥ {}%)",
            "SLO attainment (%):",
            num(g.attainment_pct, 2),
            g.good,
            g.ended,
            if g.meets(t) {
                "meets the SLO"
            } else {
                "MISSES the SLO"
            },
            t.attainment_pct
        );
        let _ = writeln!(
            o,
            "{:<32}{}",
            "Goodput (req/s):",
            num(g.requests_per_sec, 3)
        );
        let _ = writeln!(o, "{:<32}{}", "Goodput (tok/s):", num(g.tokens_per_sec, 2));
    }
    let _ = writeln!(
        o,
        "{:<32}output: {}; input: {}",
        "Token counts from:",
        kinds(&s.output_sources),
        kinds(&s.input_sources)
    );
    if let Some(d) = &s.tokens_per_chunk {
        let _ = writeln!(
            o,
            "{:<32}avg {} max {}",
            "Tokens per chunk:",
            num(d.avg, 2),
            num(d.max, 0)
        );
    }
    if s.prompt_length_mismatches > 0 {
        let _ = writeln!(
            o,
            "{:<32}{} requests: the server counted a prompt length other than the one built (by up to {} tokens)",
            "Warning:",
            s.prompt_length_mismatches,
            s.prompt_length_max_diff
        );
    }
    if let Some(a) = c.approximate {
        let _ = writeln!(o, "{:<32}{a}", "Note:");
    }
    let _ = writeln!(o, "{}", "-".repeat(96));
    let _ = writeln!(
        o,
        "{:<36}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "Latency (ms)", "avg", "p50", "p90", "p95", "p99", "max"
    );
    for g in Group::ALL {
        row(&mut o, g.title(), s.groups.get(&g));
    }
    if let Some(check) = c.self_check {
        let _ = writeln!(o, "{}", "-".repeat(96));
        let _ = writeln!(o, "{check}");
    }
    let _ = write!(o, "{rule}");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_every_group_and_failures() {
        let mut s = RunStats {
            successful: 3,
            failed: 1,
            ..RunStats::default()
        };
        s.errors_by_kind.insert("stream_cut", 1);
        s.groups.insert(
            Group::TimeToFirstToken,
            Distribution::of(&[1.0, 2.0]).unwrap(),
        );
        let c = SummaryContext {
            model: "m",
            run_dir: Path::new("/x"),
            interrupted: true,
            not_sent: 2,
            approximate: Some("approx"),
            goodput: None,
            self_check: Some("Self-check: here"),
        };
        let t = summary_text(&s, &c);
        for needle in [
            "INTERRUPTED",
            "stream_cut: 1",
            "2 not sent",
            "Time to first token",
            "Schedule delay",
            "approx",
            "Self-check: here",
        ] {
            assert!(t.contains(needle), "{needle} in\n{t}");
        }
        let itl = t
            .lines()
            .find(|l| l.starts_with("Inter-token latency"))
            .unwrap();
        assert!(itl.trim_end().ends_with("n/a"), "{itl}");
    }
}
