//! The steps of one run, in order: workload, run folder, client, warm-up, measured phase.

use std::sync::Arc;

use crate::signals::Signals;
use chrono::{DateTime, Local};

use super::load::{run_phase, PhaseOutcome, Plan};
use super::log::RunLog;
use super::progress::Progress;
use super::{
    folder, settings, write_err, BenchSettings, LoadMode, RunError, RunMeta, INTERRUPT_GRACE,
};
use crate::client::{Client, ClientConfig};
use crate::workload::{self, arrivals, RequestSpec, TokenizerHandle, Workload};

/// Loads the tokenizer and builds the workload (CPU-heavy with a tokenizer: off the runtime).
pub async fn prepare_workload(
    s: &BenchSettings,
) -> Result<(Option<Arc<TokenizerHandle>>, Workload), RunError> {
    let tokenizer = match &s.tokenizer {
        Some(p) => Some(Arc::new(TokenizerHandle::load(p)?)),
        None => None,
    };
    let spec = s.workload.clone();
    let tok = tokenizer.clone();
    let wl = tokio::task::spawn_blocking(move || workload::build(&spec, tok.as_deref()))
        .await
        .map_err(|e| RunError::Other(format!("building the workload failed: {e}")))??;
    Ok((tokenizer, wl))
}

/// Creates the run folder, starts benchmark.log and writes config.json.
pub fn open_run_folder(
    s: &BenchSettings,
    meta: &RunMeta,
    wl: &Workload,
    tokenizer: Option<&TokenizerHandle>,
    started_at: DateTime<Local>,
) -> Result<(std::path::PathBuf, RunLog), RunError> {
    let dir =
        folder::prepare_run_dir(s, meta, started_at).map_err(write_err(s.output_dir.clone()))?;
    let mut log = RunLog::open(&dir).map_err(write_err(dir.clone()))?;
    log.info(&format!(
        "Benchmark run started. Results will be saved in: {}",
        dir.display()
    ));
    if let Some(t) = tokenizer {
        log.info(&format!("Tokenizer: {}", t.path.display()));
    }
    if let Some(note) = &wl.approximate {
        log.warn(note);
    }
    if s.body.ignore_eos && !s.ignore_eos_requested {
        log.info("ignore_eos is on: a trace asks for exactly its decode tokens");
    }
    let config_path = dir.join(crate::results::read::CONFIG_FILE);
    crate::results::write::write_json_atomic(&config_path, &s.config_json(meta, wl))
        .map_err(write_err(config_path))?;
    Ok((dir, log))
}

/// Closed-loop concurrency of the warm-up: the run's bound on requests in flight, or the default.
fn warmup_concurrency(s: &BenchSettings, w: usize) -> usize {
    let c = s
        .load
        .max_in_flight()
        .unwrap_or(settings::DEFAULT_CONCURRENCY) as usize;
    c.clamp(1, w.max(1))
}

/// The HTTP client, its connection pool sized to the most requests in flight.
pub fn make_client(
    s: &BenchSettings,
    meta: &RunMeta,
    wl: &Workload,
    tokenizer: Option<Arc<TokenizerHandle>>,
    nofile: Option<u64>,
    log: &mut RunLog,
) -> Result<Arc<Client>, RunError> {
    let n = wl.measured.len();
    let max_conn = s
        .load
        .max_in_flight()
        .map_or(n, |c| c as usize)
        .max(warmup_concurrency(s, wl.warmup.len()))
        .max(1);
    if let Some(limit) = nofile {
        if limit < max_conn as u64 + 64 {
            log.warn(&format!(
                "the open-files limit is {limit}, too low for {max_conn} concurrent connections; raise `ulimit -n`"
            ));
        }
    }
    let client = Client::new(&ClientConfig {
        base_url: meta.base_url.clone(),
        body: s.body.clone(),
        api_key: s.api_key.clone(),
        timeout: s.timeout,
        max_connections: max_conn,
        save_text: s.save_text,
        tokenizer,
        tls: meta.tls.clone(),
    })?;
    log.info(&format!(
        "Sending {n} requests to {} ({})",
        client.url(),
        folder::load_description(&s.load)
    ));
    Ok(Arc::new(client))
}

/// One phase with its progress bar.
pub async fn phase(
    label: &str,
    client: &Arc<Client>,
    specs: Vec<RequestSpec>,
    plan: Plan,
    id_prefix: &'static str,
    s: &BenchSettings,
    stop: &Signals,
) -> PhaseOutcome {
    let mut progress = Progress::new(label, specs.len());
    let ids = (id_prefix, s.workload.seed);
    let out = run_phase(
        client.clone(),
        Arc::new(specs),
        plan,
        ids,
        stop.clone(),
        INTERRUPT_GRACE,
        &mut progress,
    )
    .await;
    progress.finish();
    out
}

/// What the steady warm-up did (recorded in `run_info`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SteadyWarmup {
    /// Median TTFT (ms) of each window sent (`None`: no successful request in it).
    pub windows: Vec<Option<f64>>,
    /// The TTFT stopped falling before the window cap.
    pub reached: bool,
}

/// Whether the last window is steady: its median TTFT is not below the previous window's by
/// more than [`settings::STEADY_FALL`] (a window without a value is not steady).
pub fn steady(windows: &[Option<f64>]) -> bool {
    match windows {
        [.., Some(prev), Some(last)] if windows.len() >= settings::STEADY_MIN_WINDOWS => {
            *last >= prev * (1.0 - settings::STEADY_FALL)
        }
        _ => false,
    }
}

/// The steady warm-up: windows of the run's own concurrency until [`steady`] (or the cap).
async fn steady_warm_up(
    client: &Arc<Client>,
    s: &BenchSettings,
    wl: &Workload,
    stop: &Signals,
) -> (PhaseOutcome, SteadyWarmup) {
    let c = warmup_concurrency(s, s.steady_warmup);
    let size = settings::steady_window(c as u32).min(s.steady_warmup.max(1));
    let mut all = PhaseOutcome::default();
    let mut done = SteadyWarmup::default();
    for window in wl.warmup[..s.steady_warmup.min(wl.warmup.len())].chunks(size) {
        let out = phase(
            &format!("warm-up {}", done.windows.len() + 1),
            client,
            window.to_vec(),
            Plan::Closed { concurrency: c },
            "warmup-",
            s,
            stop,
        )
        .await;
        let ttfts: Vec<f64> = out
            .records
            .iter()
            .filter(|r| r.is_ok())
            .filter_map(|r| r.ttft.map(|t| t * 1e3))
            .collect();
        done.windows
            .push(crate::stats::Distribution::of(&ttfts).map(|d| d.p50));
        all.records.extend(out.records);
        all.panicked += out.panicked;
        if out.interrupted {
            all.interrupted = true;
            break;
        }
        if steady(&done.windows) {
            done.reached = true;
            break;
        }
    }
    (all, done)
}

/// Sends the warm-up requests (closed loop): first the steady warm-up's windows (when on), then
/// the `--warmup` requests; their records are kept only for counting.
pub async fn warm_up(
    client: &Arc<Client>,
    s: &BenchSettings,
    wl: &Workload,
    stop: &Signals,
    log: &mut RunLog,
) -> (PhaseOutcome, Option<SteadyWarmup>) {
    let mut steady_done = None;
    let mut pre = PhaseOutcome::default();
    if s.steady_warmup > 0 {
        let (o, d) = steady_warm_up(client, s, wl, stop).await;
        let fmt = |v: &Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1}"));
        log.info(&format!(
            "Steady warm-up: {} windows, median TTFT (ms) {}: {}",
            d.windows.len(),
            d.windows.iter().map(fmt).collect::<Vec<_>>().join(" → "),
            if d.reached {
                "stopped falling"
            } else {
                "still falling at the cap"
            }
        ));
        steady_done = Some(d);
        pre = o;
        if pre.interrupted {
            return (pre, steady_done);
        }
    }
    let rest = &wl.warmup[s.steady_warmup.min(wl.warmup.len())..];
    let w = rest.len();
    if w == 0 {
        return (pre, steady_done);
    }
    let plan = Plan::Closed {
        concurrency: warmup_concurrency(s, w),
    };
    let mut out = phase("warm-up", client, rest.to_vec(), plan, "warmup-", s, stop).await;
    let failed = out.records.iter().filter(|r| !r.is_ok()).count();
    log.info(&format!(
        "Warm-up: {} requests sent, {failed} failed (not counted)",
        out.records.len()
    ));
    pre.records.append(&mut out.records);
    out.records = pre.records;
    out.panicked += pre.panicked;
    (out, steady_done)
}

/// How the measured requests are released.
pub fn measured_plan(s: &BenchSettings, specs: &[RequestSpec]) -> Plan {
    let cap = |c: &Option<u32>| c.map(|c| c as usize);
    match &s.load {
        LoadMode::Closed { concurrency } => Plan::Closed {
            concurrency: *concurrency as usize,
        },
        LoadMode::Open {
            rate,
            burstiness,
            max_concurrency,
        } => Plan::Open {
            offsets: arrivals::offsets(specs.len(), *rate, *burstiness, s.workload.seed),
            cap: cap(max_concurrency),
        },
        LoadMode::Trace { max_concurrency } => Plan::Open {
            offsets: specs.iter().map(|r| r.arrival.unwrap_or(0.0)).collect(),
            cap: cap(max_concurrency),
        },
    }
}

/// One short request (4 tokens, "Hello") through the run's own client and settings, once a
/// started server says it is ready: a server that is "healthy" but cannot generate fails here
/// with the request's failure, and first-request initialisation stays out of the measurement.
/// (`sweep` sends it before each benchmark; the measured warm-up is [`warm_up`].)
pub async fn ready_request(s: &BenchSettings, base_url: &str) -> Result<(), String> {
    let client = Client::new(&ClientConfig {
        base_url: base_url.to_owned(),
        body: s.body.clone(),
        api_key: s.api_key.clone(),
        timeout: s.timeout.min(std::time::Duration::from_secs(3600)),
        max_connections: 1,
        save_text: false,
        tokenizer: None,
        // A sweep starts its servers itself, on plain HTTP.
        tls: Default::default(),
    })
    .map_err(|e| e.to_string())?;
    let spec = RequestSpec {
        prompt: "Hello".to_owned(),
        prompt_tokens: None,
        max_tokens: 4,
        arrival: None,
    };
    let rec = client
        .send(0, "ready-0".to_owned(), &spec, std::time::Instant::now())
        .await;
    match rec.outcome {
        crate::records::Outcome::Ok => Ok(()),
        crate::records::Outcome::Failed(f) => {
            // An HTTP failure's message starts with "HTTP <status>".
            let what = if f.status.is_some() {
                "answered"
            } else {
                "failed:"
            };
            Err(format!(
                "warm-up request to {} {what} {}",
                client.url().path(),
                crate::secrets::redact(f.message.trim())
            ))
        }
        crate::records::Outcome::Cancelled => Err("warm-up request cancelled".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_once_the_median_ttft_stops_falling() {
        assert!(!steady(&[Some(250.0)]), "at least two windows");
        assert!(!steady(&[Some(250.0), Some(30.0)]), "still falling");
        assert!(
            steady(&[Some(250.0), Some(30.0), Some(28.0)]),
            "within 10 %"
        );
        assert!(steady(&[Some(20.0), Some(25.0)]), "rising is not falling");
        assert!(!steady(&[Some(20.0), None]), "a window without a value");
        assert_eq!(settings::steady_window(2), 8);
        assert_eq!(settings::steady_window(16), 32);
    }
}
