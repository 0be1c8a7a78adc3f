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

/// Sends the warm-up requests (closed loop); their records are kept only for counting.
pub async fn warm_up(
    client: &Arc<Client>,
    s: &BenchSettings,
    wl: &Workload,
    stop: &Signals,
    log: &mut RunLog,
) -> PhaseOutcome {
    let w = wl.warmup.len();
    if w == 0 {
        return PhaseOutcome::default();
    }
    let plan = Plan::Closed {
        concurrency: warmup_concurrency(s, w),
    };
    let out = phase(
        "warm-up",
        client,
        wl.warmup.clone(),
        plan,
        "warmup-",
        s,
        stop,
    )
    .await;
    let failed = out.records.iter().filter(|r| !r.is_ok()).count();
    log.info(&format!(
        "Warm-up: {} requests sent, {failed} failed (not counted)",
        out.records.len()
    ));
    out
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
