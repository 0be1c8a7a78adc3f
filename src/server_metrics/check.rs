//! The self-check printed with every run summary: the client's numbers against the server's own
//! counters and histograms, and whether the client kept up. Every check and threshold is
//! described in docs/metrics.md ("The server's own view").

use super::{Collected, Histogram, E2E, GENERATION_TOKENS, PROMPT_TOKENS, TTFT};
use crate::stats::{Group, RunStats};

/// The client is "below" the server only by more than this (the two clocks' resolution and the
/// histograms' float sums; the bound scripts/e2e/check_run.py uses).
pub const BELOW_TOLERANCE_MS: f64 = 2.0;
/// End-to-end latency: a client mean above the server's by more than the larger of these is
/// flagged (the E2E clocks differ only by the HTTP front end and the network; same bound as
/// scripts/e2e/check_run.py).
pub const E2E_GAP_MS: f64 = 150.0;
pub const E2E_GAP_REL: f64 = 0.25;
/// Schedule delay p99 above this: the client did not send on time.
pub const SCHEDULE_DELAY_P99_MS: f64 = 10.0;
/// The runtime thread (which sends, reads and timestamps every stream) busy this fraction of
/// the measured window or more: the client may have been the bottleneck.
pub const CPU_BOUND_FRACTION: f64 = 0.9;

/// Steadiness: fewest successful requests per third of the measured window to judge.
pub const STEADY_MIN_PER_PART: usize = 10;
/// Steadiness: a change of the mean TTFT between the first and the last third smaller than this
/// (in %) is not reported, even when significant.
pub const STEADY_MIN_CHANGE_PCT: f64 = 10.0;

/// The steadiness check: the TTFT of the first third of the successful requests (by send time)
/// against the last third — Welch's 95 % interval of the % change of the mean
/// ([`crate::significance::welch_pct`]). Beyond noise when the interval excludes 0 and the change
/// is at least [`STEADY_MIN_CHANGE_PCT`].
pub fn steadiness_line(records: &[crate::records::RequestRecord]) -> String {
    let mut ok: Vec<(std::time::Instant, f64)> = records
        .iter()
        .filter(|r| r.is_ok())
        .filter_map(|r| r.ttft.map(|t| (r.sent, t * 1e3)))
        .collect();
    ok.sort_by_key(|p| p.0);
    let third = ok.len() / 3;
    if third < STEADY_MIN_PER_PART {
        return format!(
            "Steadiness: too few requests to judge ({} successful; {} per third needed)",
            ok.len(),
            STEADY_MIN_PER_PART
        );
    }
    let first: Vec<f64> = ok[..third].iter().map(|p| p.1).collect();
    let last: Vec<f64> = ok[ok.len() - third..].iter().map(|p| p.1).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (m1, m3) = (mean(&first), mean(&last));
    match crate::significance::welch_pct(&first, &last) {
        Some((lo, hi)) => {
            let d = (m3 / m1 - 1.0) * 100.0;
            let beyond = (lo > 0.0 || hi < 0.0) && d.abs() >= STEADY_MIN_CHANGE_PCT;
            let facts = format!(
                "TTFT mean first third {}, last third {} ({d:+.1} %, 95 % interval {lo:+.1} .. {hi:+.1} %)",
                ms(m1),
                ms(m3)
            );
            if beyond {
                format!(
                    "Steadiness: NOT STEADY, the TTFT {} during the run: {facts} (warm-up, or a server still filling its caches)",
                    if d > 0.0 { "rose" } else { "fell" }
                )
            } else {
                format!("Steadiness: steady, {facts}")
            }
        }
        None => format!("Steadiness: cannot judge ({} ms and {} ms)", m1, m3),
    }
}

/// The client's own CPU time over the measured phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCpu {
    /// The whole process (every thread: runtime, scraper, blocking pool).
    pub process_s: f64,
    /// The runtime thread alone.
    pub runtime_thread_s: f64,
    /// Wall time of the measured phase.
    pub wall_s: f64,
}

impl ClientCpu {
    /// CPU seconds of the calling thread and of the process (`getrusage`).
    pub fn now() -> (f64, f64) {
        (rusage(RUSAGE_THREAD), rusage(libc::RUSAGE_SELF))
    }
}

#[cfg(target_os = "linux")]
const RUSAGE_THREAD: libc::c_int = libc::RUSAGE_THREAD;
#[cfg(not(target_os = "linux"))]
const RUSAGE_THREAD: libc::c_int = libc::RUSAGE_SELF;

fn rusage(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given and reads nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut u) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}

fn tokens_line(what: &str, client: u64, server: Option<f64>) -> String {
    match server {
        None => format!("{what} tokens: client {client}, server counter absent"),
        Some(s) => {
            let s = s.round() as i64;
            let d = s - client as i64;
            if d == 0 {
                format!("{what} tokens: client {client} = server {s} (exact)")
            } else {
                format!(
                    "{what} tokens: client {client}, server {s}: the server counted {d:+} ({:+.2} %) — \
                     other traffic on the server, or failed/cancelled requests",
                    100.0 * d as f64 / (client.max(1) as f64)
                )
            }
        }
    }
}

/// Median and mean of one latency, client against the server's histogram.
fn latency_lines(
    what: &str,
    client: Option<&crate::stats::Distribution>,
    h: Option<Histogram>,
) -> Vec<String> {
    let (Some(c), Some(h)) = (client, h.filter(|h| h.count > 0.0)) else {
        return vec![format!("{what}: no server histogram to compare with")];
    };
    let mut out = Vec::new();
    if let Some((lo, hi)) = h.bucket_of(0.5) {
        let (lo, hi) = (lo * 1e3, hi * 1e3);
        let p50 = h
            .quantile(0.5)
            .map_or(String::new(), |q| format!(", interpolated {}", ms(q * 1e3)));
        let verdict = if c.p50 < lo - BELOW_TOLERANCE_MS {
            format!(
                "MISMATCH: the client's median is below the server's by {}",
                ms(lo - c.p50)
            )
        } else if c.p50 > hi {
            format!(
                "NOT in the bucket, {} above it: time spent before the engine (front-end queueing, network)",
                ms(c.p50 - hi)
            )
        } else {
            "in the bucket: agrees".to_owned()
        };
        out.push(format!(
            "{what} median: client {}, server's median bucket ({lo:.0}, {hi:.0}] ms{p50}: {verdict}",
            ms(c.p50)
        ));
    }
    if let Some(m) = h.mean() {
        let m = m * 1e3;
        let d = c.avg - m;
        let bound = E2E_GAP_MS.max(E2E_GAP_REL * m);
        let verdict = if d < -BELOW_TOLERANCE_MS {
            "MISMATCH: the client is below the server".to_owned()
        } else if what.starts_with("E2E") && d > bound {
            format!(
                "LARGE GAP (over {bound:.0} ms): time spent before the engine (front-end queueing) or a slow client"
            )
        } else {
            format!("{} before the engine (front-end queueing, network)", ms(d))
        };
        let tail = h.quantile(0.99).map_or(String::new(), |q| {
            format!("; p99 client {}, server {}", ms(c.p99), ms(q * 1e3))
        });
        out.push(format!(
            "{what} mean: client {}, server {}, difference {:+.1} ms: {verdict}{tail}",
            ms(c.avg),
            ms(m),
            d
        ));
    }
    out
}

/// The client-bound check: schedule delay p99 and the runtime thread's CPU.
pub fn client_line(stats: &RunStats, cpu: &ClientCpu) -> String {
    let delay = stats.groups.get(&Group::ScheduleDelay).map(|d| d.p99);
    let busy = if cpu.wall_s > 0.0 {
        cpu.runtime_thread_s / cpu.wall_s
    } else {
        f64::NAN
    };
    let mut why = Vec::new();
    if let Some(d) = delay.filter(|d| *d > SCHEDULE_DELAY_P99_MS) {
        why.push(format!(
            "schedule delay p99 {} > {SCHEDULE_DELAY_P99_MS} ms",
            ms(d)
        ));
    }
    if busy >= CPU_BOUND_FRACTION {
        why.push(format!(
            "its thread was busy {:.0} % of the time (≥ {:.0} %)",
            100.0 * busy,
            100.0 * CPU_BOUND_FRACTION
        ));
    }
    let facts = format!(
        "schedule delay p99 {}, client CPU {:.2} s over {:.1} s ({:.0} % of a core on the sending thread)",
        delay.map_or("n/a".to_owned(), ms),
        cpu.process_s,
        cpu.wall_s,
        100.0 * busy
    );
    if why.is_empty() {
        format!("Client: {facts}: kept up")
    } else {
        format!(
            "Client: WARNING, the client may be the bottleneck ({}); {facts}",
            why.join(", ")
        )
    }
}

/// Every self-check line (without indentation).
pub fn lines(
    c: Option<&Collected>,
    stats: &RunStats,
    cpu: &ClientCpu,
    records: &[crate::records::RequestRecord],
) -> Vec<String> {
    let mut out = Vec::new();
    match c {
        None => out.push("Server metrics: not scraped (--no-server-metrics)".to_owned()),
        Some(c) if !c.complete() => out.push(format!(
            "Server metrics: not available ({}): no server-side check",
            c.warning
                .as_deref()
                .unwrap_or("the last scrape did not finish")
        )),
        Some(c) => {
            out.push(format!(
                "Server metrics: {} scrapes of {} every {} s",
                c.scrapes(),
                crate::secrets::mask_url(&c.url),
                c.interval.as_secs_f64()
            ));
            out.push(tokens_line(
                "Prompt",
                stats.total_input_tokens,
                c.counter_delta(PROMPT_TOKENS),
            ));
            out.push(tokens_line(
                "Generation",
                stats.total_output_tokens,
                c.counter_delta(GENERATION_TOKENS),
            ));
            let not_usage: usize = stats
                .output_sources
                .iter()
                .filter(|(k, _)| **k != "usage")
                .map(|(_, v)| v)
                .sum();
            if not_usage > 0 {
                out.push(format!(
                    "  ({not_usage} requests were counted without the server's usage: their tokens are estimates)"
                ));
            }
            out.extend(latency_lines(
                "TTFT",
                stats.groups.get(&Group::TimeToFirstToken),
                c.histogram(TTFT),
            ));
            // vLLM's e2e histogram ends with the last token, as the client's generation latency.
            out.extend(latency_lines(
                "E2E latency (to last token)",
                stats.groups.get(&Group::TotalGeneration),
                c.histogram(E2E),
            ));
        }
    }
    out.push(steadiness_line(records));
    out.push(client_line(stats, cpu));
    out
}

/// The self-check as printed under the summary.
pub fn text(lines: &[String]) -> String {
    let mut o = String::from("Self-check (client against the server's /metrics):");
    for l in lines {
        o.push_str("\n  ");
        o.push_str(l);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Distribution;

    fn hist_samples(
        name: &str,
        buckets: &[(&str, f64)],
        sum: f64,
    ) -> Vec<super::super::prom::Sample> {
        let body: String = buckets
            .iter()
            .map(|(le, c)| format!("{name}_bucket{{le=\"{le}\"}} {c}\n"))
            .chain([
                format!("{name}_count {}\n", buckets.last().map_or(0.0, |b| b.1)),
                format!("{name}_sum {sum}\n"),
            ])
            .collect();
        super::super::prom::parse(&body, |_| true).unwrap().samples
    }

    #[test]
    fn median_in_bucket_agrees_and_a_larger_mean_is_time_before_the_engine() {
        // The real-vLLM case: client p50 29.6 ms, server's median in (20, 40];
        // client mean 55.7 ms against the server's 23.3 ms.
        let mut c = Collected::new("http://h/metrics", super::super::DEFAULT_INTERVAL);
        c.push(0.0, &[], vec![]);
        c.push(
            1.0,
            &[],
            hist_samples(
                TTFT,
                &[("0.02", 10.0), ("0.04", 90.0), ("+Inf", 100.0)],
                2.33,
            ),
        );
        c.finished = true;
        let d = Distribution {
            count: 100,
            avg: 55.7,
            p50: 29.6,
            p90: 100.0,
            p95: 200.0,
            p99: 270.0,
            min: 10.0,
            max: 273.0,
        };
        let l = latency_lines("TTFT", Some(&d), c.histogram(TTFT));
        assert!(
            l[0].contains("(20, 40] ms") && l[0].ends_with("agrees"),
            "{l:?}"
        );
        assert!(
            l[1].contains("+32.4 ms") && l[1].contains("before the engine"),
            "{l:?}"
        );
        let below = Distribution {
            p50: 12.0,
            avg: 20.0,
            ..d
        };
        let l = latency_lines("TTFT", Some(&below), c.histogram(TTFT));
        assert!(
            l[0].contains("MISMATCH") && l[1].contains("MISMATCH"),
            "{l:?}"
        );
    }

    fn sent_at(i: usize, ttft_s: f64) -> crate::records::RequestRecord {
        use crate::records::{Outcome, RequestRecord, TokenSource};
        let t = std::time::Instant::now() + std::time::Duration::from_millis(i as u64);
        RequestRecord {
            index: i,
            request_id: format!("r{i}"),
            scheduled: t,
            sent: t,
            ttft: Some(ttft_s),
            last_content: Some(ttft_s),
            e2e: ttft_s,
            done_at: t,
            content_chunks: 1,
            output_tokens: 1,
            gaps: Vec::new(),
            chunk_tokens: None,
            input_tokens: Some(1),
            input_source: TokenSource::Usage,
            requested_input_tokens: None,
            output_source: TokenSource::Usage,
            outcome: Outcome::Ok,
            prompt: None,
            output: None,
            uncounted_output: None,
            tls_handshake: None,
        }
    }

    #[test]
    fn steadiness_flags_a_trend_beyond_noise_only() {
        // Alternating 20/22 ms: no trend.
        let flat: Vec<_> = (0..60)
            .map(|i| sent_at(i, 0.020 + 0.002 * (i % 2) as f64))
            .collect();
        let l = steadiness_line(&flat);
        assert!(l.starts_with("Steadiness: steady"), "{l}");
        // A cold start: the first 15 requests take 250 ms, the rest 20 ms.
        let cold: Vec<_> = (0..60)
            .map(|i| {
                sent_at(
                    i,
                    if i < 15 {
                        0.250
                    } else {
                        0.020 + 0.001 * (i % 3) as f64
                    },
                )
            })
            .collect();
        let l = steadiness_line(&cold);
        assert!(l.contains("NOT STEADY, the TTFT fell"), "{l}");
        assert!(steadiness_line(&cold[..20]).contains("too few requests"));
    }

    #[test]
    fn tokens_and_client_bound() {
        assert!(tokens_line("Prompt", 100, Some(100.0)).ends_with("(exact)"));
        assert!(tokens_line("Prompt", 100, Some(104.0)).contains("+4 (+4.00 %)"));
        let mut s = RunStats::default();
        s.groups.insert(
            Group::ScheduleDelay,
            Distribution::of(&[0.1, 30.0]).unwrap(),
        );
        let cpu = ClientCpu {
            process_s: 1.0,
            runtime_thread_s: 0.95,
            wall_s: 1.0,
        };
        let l = client_line(&s, &cpu);
        assert!(
            l.contains("WARNING") && l.contains("schedule delay p99") && l.contains("busy 95 %"),
            "{l}"
        );
        let ok = client_line(
            &RunStats::default(),
            &ClientCpu {
                process_s: 0.1,
                runtime_thread_s: 0.1,
                wall_s: 10.0,
            },
        );
        assert!(ok.ends_with("kept up"), "{ok}");
        let (t, p) = ClientCpu::now();
        assert!(t >= 0.0 && p >= t, "{t} {p}");
    }
}
