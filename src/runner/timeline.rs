//! The run's timeline chart (`timeline.png`, `timeline.svg`): what the client and the server
//! did over the measured phase, on the clock of `server_metrics.csv` (seconds since the run's
//! start). Drawing: [`crate::plot::timeline`].

use std::path::Path;

use crate::plot::timeline::{self, Panel, Series};
use crate::records::{Clock, RequestRecord};
use crate::server_metrics::{self as sm, Collected};

pub const PNG_FILE: &str = "timeline.png";
pub const SVG_FILE: &str = "timeline.svg";

/// Seconds since the run's start of an instant.
fn secs(clock: &Clock, t: std::time::Instant) -> f64 {
    t.saturating_duration_since(clock.start).as_secs_f64()
}

/// Requests in flight (client): +1 at each send, −1 at each end, as steps.
fn in_flight(records: &[RequestRecord], clock: &Clock) -> Vec<(f64, f64)> {
    let mut events: Vec<(f64, i64)> = Vec::with_capacity(records.len() * 2);
    for r in records {
        let sent = secs(clock, r.sent);
        let e2e = if r.e2e.is_finite() {
            r.e2e.max(0.0)
        } else {
            0.0
        };
        events.push((sent, 1));
        events.push((sent + e2e, -1));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut n = 0i64;
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(events.len());
    for (t, d) in events {
        n += d;
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = n as f64,
            _ => out.push((t, n as f64)),
        }
    }
    out
}

/// Output tokens per second received by the client, in bins of `bin` seconds: each content
/// chunk counts its tokens (`chunk_tokens` when the server said, else the request's average).
fn client_tokens_per_s(
    records: &[RequestRecord],
    clock: &Clock,
    t0: f64,
    t_end: f64,
    bin: f64,
) -> Vec<(f64, f64)> {
    let bins = (((t_end - t0) / bin).ceil() as usize).clamp(1, 100_000);
    let mut count = vec![0.0f64; bins];
    for r in records.iter().filter(|r| r.is_ok()) {
        let Some(ttft) = r.ttft else { continue };
        let chunks = r.content_chunks.max(1) as f64;
        let avg = r.output_tokens as f64 / chunks;
        let mut t = secs(clock, r.sent) + ttft;
        for i in 0..(r.gaps.len() + 1) {
            if i > 0 {
                t += f64::from(r.gaps[i - 1]);
            }
            let tokens = r
                .chunk_tokens
                .as_ref()
                .and_then(|c| c.get(i))
                .map_or(avg, |&k| f64::from(k));
            let b = ((t - t0) / bin).floor();
            if b >= 0.0 && (b as usize) < bins {
                count[b as usize] += tokens;
            }
        }
    }
    count
        .iter()
        .enumerate()
        .map(|(i, c)| (t0 + i as f64 * bin, c / bin))
        .collect()
}

/// The server's generation rate between scrapes (`vllm:generation_tokens_total`).
fn server_tokens_per_s(c: &Collected) -> Vec<(f64, f64)> {
    let totals: Vec<(f64, f64)> = c
        .rows
        .iter()
        .filter_map(|(t, row)| c.family_sum(row, sm::GENERATION_TOKENS).map(|v| (*t, v)))
        .collect();
    totals
        .windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| (w[0].0, (w[1].1 - w[0].1).max(0.0) / (w[1].0 - w[0].0)))
        .collect()
}

/// The panels of a run's timeline, and its x range.
pub fn panels(
    records: &[RequestRecord],
    clock: &Clock,
    collected: Option<&Collected>,
) -> (Vec<Panel>, f64, f64) {
    let flight = in_flight(records, clock);
    let rows = collected.map_or(&[][..], |c| &c.rows[..]);
    let starts = flight
        .first()
        .map(|p| p.0)
        .into_iter()
        .chain(rows.first().map(|r| r.0));
    let ends = flight
        .last()
        .map(|p| p.0)
        .into_iter()
        .chain(rows.last().map(|r| r.0));
    let t0 = starts.fold(f64::INFINITY, f64::min);
    let t0 = if t0.is_finite() { t0.floor() } else { 0.0 };
    let t_end = ends.fold(t0 + 1.0, f64::max);
    let bin = ((t_end - t0) / 100.0).max(0.5);
    let gauge = |f: &str| collected.map(|c| c.gauge_series(f)).unwrap_or_default();
    let kv = collected.map_or(sm::KV_USAGE, |c| {
        if c.gauge(sm::KV_USAGE).is_some() {
            sm::KV_USAGE
        } else {
            sm::KV_USAGE_OLD
        }
    });
    let mut tokens = vec![Series {
        name: format!("client (per {bin:.1} s)"),
        color: timeline::TOKENS,
        points: client_tokens_per_s(records, clock, t0, t_end, bin),
    }];
    if let Some(c) = collected {
        tokens.push(Series {
            name: "server (vllm:generation_tokens, per scrape)".into(),
            color: timeline::RUNNING,
            points: server_tokens_per_s(c),
        });
    }
    let panels = vec![
        Panel {
            title: "Requests".into(),
            unit: "requests".into(),
            series: vec![
                Series {
                    name: "in flight (client)".into(),
                    color: timeline::CLIENT,
                    points: flight,
                },
                Series {
                    name: "running (server)".into(),
                    color: timeline::RUNNING,
                    points: gauge(sm::RUNNING),
                },
                Series {
                    name: "waiting (server)".into(),
                    color: timeline::WAITING,
                    points: gauge(sm::WAITING),
                },
            ],
            ymax: None,
        },
        Panel {
            title: "KV-cache usage".into(),
            unit: "fraction used".into(),
            series: vec![Series {
                name: "vllm:kv_cache_usage_perc".into(),
                color: timeline::KV,
                points: gauge(kv),
            }],
            ymax: Some(1.0),
        },
        Panel {
            title: "Output tokens/s".into(),
            unit: "tokens/s".into(),
            series: tokens,
            ymax: None,
        },
    ];
    (panels, t0, t_end)
}

/// Writes `timeline.png` and/or `timeline.svg` into `dir` (atomically).
pub fn write(
    dir: &Path,
    title: &str,
    records: &[RequestRecord],
    clock: &Clock,
    collected: Option<&Collected>,
    (png, svg): (bool, bool),
) -> std::io::Result<()> {
    let (panels, t0, t_end) = panels(records, clock, collected);
    let doc = timeline::timeline_svg(title, &panels, t0, t_end);
    if svg {
        crate::atomic::write_atomic(&dir.join(SVG_FILE), doc.as_bytes(), false)?;
    }
    if png {
        let bytes = crate::plot::Rasterizer::new()
            .svg_to_png(&doc)
            .map_err(std::io::Error::other)?;
        crate::atomic::write_atomic(&dir.join(PNG_FILE), &bytes, false)?;
    }
    Ok(())
}
