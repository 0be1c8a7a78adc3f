//! Releasing requests: closed loop (N workers, each sends its next request the moment its
//! previous one ends) or open loop (a dispatcher releases each request at its due time, waiting
//! for a free slot when capped). Records flow back over a channel to one collector, which also
//! drives the progress bar and the interruption: on stop, nothing new is sent, in-flight
//! requests get a grace period, then are cancelled.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Semaphore};

use super::progress::Progress;
use crate::client::Client;
use crate::records::{ErrorKind, Failure, Outcome, RequestRecord, TokenSource};
use crate::workload::{item_seed, RequestSpec};

/// How a phase releases its requests.
#[derive(Debug, Clone)]
pub enum Plan {
    Closed {
        concurrency: usize,
    },
    /// Due times in seconds from the phase start, one per request.
    Open {
        offsets: Vec<f64>,
        cap: Option<usize>,
    },
}

/// What a phase produced.
#[derive(Debug, Default)]
pub struct PhaseOutcome {
    /// In completion order.
    pub records: Vec<RequestRecord>,
    /// Requests never sent because the run was interrupted.
    pub not_sent: usize,
    pub interrupted: bool,
    /// Requests whose task panicked (a bug in modelbench), each recorded as a failed request;
    /// plus 1 when the dispatcher itself panicked (its remaining requests are not sent).
    pub panicked: usize,
}

/// Shared by every request task of a phase.
struct Ctx {
    client: Arc<Client>,
    specs: Arc<Vec<RequestSpec>>,
    id_prefix: &'static str,
    seed: u64,
    tx: mpsc::UnboundedSender<RequestRecord>,
    stopping: watch::Receiver<bool>,
    abort: watch::Receiver<bool>,
    started: Arc<AtomicUsize>,
    panicked: Arc<AtomicUsize>,
}

/// Held while a task measures request `index` (or, with `None`, while the dispatcher runs): if
/// the task panics, its drop during unwinding records the request as failed and counts the
/// panic, so nothing is silently lost and the run ends with an error.
struct PanicGuard<'a> {
    ctx: &'a Ctx,
    request: Option<(usize, Instant)>,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        self.ctx.panicked.fetch_add(1, Ordering::Relaxed);
        if let Some((i, scheduled)) = self.request {
            let mut rec = cancelled(i, self.ctx.request_id(i), scheduled);
            rec.outcome = Outcome::Failed(Failure {
                kind: ErrorKind::Other,
                status: None,
                message: "internal error: modelbench panicked while measuring this request"
                    .to_owned(),
            });
            let _ = self.ctx.tx.send(rec);
        }
    }
}

impl Ctx {
    fn request_id(&self, i: usize) -> String {
        format!(
            "{}{i:08}-{:08x}",
            self.id_prefix,
            item_seed(self.seed, 41, i) as u32
        )
    }

    /// Sends request `i`, unless the abort signal comes first.
    async fn run_one(&self, i: usize, scheduled: Instant) -> RequestRecord {
        let guard = PanicGuard {
            ctx: self,
            request: Some((i, scheduled)),
        };
        let spec = &self.specs[i];
        let id = self.request_id(i);
        let mut abort = self.abort.clone();
        let rec = tokio::select! {
            biased;
            r = self.client.send(i, id.clone(), spec, scheduled) => r,
            _ = abort.wait_for(|a| *a) => cancelled(i, id, scheduled),
        };
        drop(guard);
        rec
    }

    fn stopping(&self) -> bool {
        *self.stopping.borrow()
    }
}

fn cancelled(index: usize, request_id: String, scheduled: Instant) -> RequestRecord {
    RequestRecord {
        index,
        request_id,
        scheduled,
        sent: scheduled,
        ttft: None,
        last_content: None,
        e2e: scheduled.elapsed().as_secs_f64(),
        done_at: Instant::now(),
        gaps: Vec::new(),
        content_chunks: 0,
        chunk_tokens: None,
        input_tokens: None,
        input_source: TokenSource::Estimate,
        requested_input_tokens: None,
        output_tokens: 0,
        output_source: TokenSource::Chunks,
        outcome: Outcome::Cancelled,
        prompt: None,
        output: None,
        uncounted_output: None,
        tls_handshake: None,
    }
}

async fn closed_worker(ctx: Arc<Ctx>, start: Instant) {
    let mut scheduled = start;
    loop {
        if ctx.stopping() {
            return;
        }
        let i = ctx.started.fetch_add(1, Ordering::Relaxed);
        if i >= ctx.specs.len() {
            ctx.started.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let rec = ctx.run_one(i, scheduled).await;
        // The slot is free from the moment the previous exchange was over.
        scheduled = rec.done_at.max(scheduled);
        let stop = matches!(rec.outcome, Outcome::Cancelled);
        if ctx.tx.send(rec).is_err() || stop {
            return;
        }
    }
}

async fn dispatcher(ctx: Arc<Ctx>, start: Instant, offsets: Vec<f64>, cap: Option<usize>) {
    let _guard = PanicGuard {
        ctx: &ctx,
        request: None,
    };
    let sem = cap.map(|c| Arc::new(Semaphore::new(c.max(1))));
    let mut stopping = ctx.stopping.clone();
    for (i, off) in offsets.into_iter().enumerate().take(ctx.specs.len()) {
        // Settings bound rates and trace times, so a due time always fits; if one did not,
        // the remaining requests are reported as not sent rather than panicking.
        let Some(due) = Duration::try_from_secs_f64(off.max(0.0))
            .ok()
            .and_then(|d| start.checked_add(d))
        else {
            ctx.panicked.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if due > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
        if ctx.stopping() {
            return;
        }
        let permit = match &sem {
            Some(sem) => tokio::select! {
                p = sem.clone().acquire_owned() => match p { Ok(p) => Some(p), Err(_) => return },
                _ = stopping.wait_for(|s| *s) => return,
            },
            None => None,
        };
        ctx.started.fetch_add(1, Ordering::Relaxed);
        let task_ctx = ctx.clone();
        tokio::spawn(async move {
            let rec = task_ctx.run_one(i, due).await;
            drop(permit);
            let _ = task_ctx.tx.send(rec);
        });
    }
}

/// Runs one phase to completion (or interruption).
pub async fn run_phase(
    client: Arc<Client>,
    specs: Arc<Vec<RequestSpec>>,
    plan: Plan,
    (id_prefix, seed): (&'static str, u64),
    signals: crate::signals::Signals,
    grace: Duration,
    progress: &mut Progress,
) -> PhaseOutcome {
    let mut stop = signals.stop;
    let mut hurry = signals.hurry;
    let mut hurry_open = true;
    let total = specs.len();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let (abort_tx, abort_rx) = watch::channel(false);
    let started = Arc::new(AtomicUsize::new(0));
    let panicked = Arc::new(AtomicUsize::new(0));
    let ctx = Arc::new(Ctx {
        client,
        specs,
        id_prefix,
        seed,
        tx,
        stopping: stopping_rx,
        abort: abort_rx,
        started: started.clone(),
        panicked: panicked.clone(),
    });
    let mut out = PhaseOutcome {
        records: Vec::with_capacity(total),
        ..PhaseOutcome::default()
    };
    let interrupt = |out: &mut PhaseOutcome| {
        out.interrupted = true;
        let _ = stopping_tx.send(true);
        Some(tokio::time::Instant::now() + grace)
    };
    let mut grace_end = if *stop.borrow() {
        interrupt(&mut out)
    } else {
        None
    };

    let start = Instant::now();
    match plan {
        Plan::Closed { concurrency } => {
            // Spawned from a runtime thread, the workers go to its local run queue and start
            // in order, instead of waiting in the global queue behind I/O wake-ups.
            let ctx = ctx.clone();
            tokio::spawn(async move {
                for _ in 0..concurrency.clamp(1, total.max(1)) {
                    tokio::spawn(closed_worker(ctx.clone(), start));
                }
            });
        }
        Plan::Open { offsets, cap } => {
            tokio::spawn(dispatcher(ctx.clone(), start, offsets, cap));
        }
    }
    drop(ctx); // the channel closes once every task holding a sender is done

    let mut stop_open = true;
    let mut aborted = false;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            rec = rx.recv() => match rec {
                Some(rec) => {
                    progress.record(&rec);
                    out.records.push(rec);
                }
                None => break,
            },
            changed = stop.changed(), if stop_open && grace_end.is_none() => match changed {
                Ok(()) if *stop.borrow() => grace_end = interrupt(&mut out),
                Ok(()) => {}
                Err(_) => stop_open = false,
            },
            _ = tokio::time::sleep_until(grace_end.unwrap_or_else(tokio::time::Instant::now)), if grace_end.is_some() && !aborted => {
                aborted = true;
                let _ = abort_tx.send(true);
            },
            changed = hurry.changed(), if hurry_open && !aborted => match changed {
                // Asked to hurry: in-flight requests are cancelled now, and the results written.
                Ok(()) if *hurry.borrow() => {
                    out.interrupted = true;
                    let _ = stopping_tx.send(true);
                    grace_end = Some(tokio::time::Instant::now());
                }
                Ok(()) => {}
                Err(_) => hurry_open = false,
            },
            _ = tick.tick() => progress.tick(),
        }
    }
    out.not_sent = total.saturating_sub(started.load(Ordering::Relaxed));
    out.panicked = panicked.load(Ordering::Relaxed);
    progress.tick();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task that panics while it holds the guard leaves a failed record and a count: the
    /// request is not lost and the run can end with an error.
    #[tokio::test]
    async fn a_panicking_request_task_is_recorded_as_failed() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (_s, stopping) = watch::channel(false);
        let (_a, abort) = watch::channel(false);
        let client = Client::new(&crate::client::ClientConfig {
            base_url: "http://127.0.0.1:9".into(),
            body: crate::client::BodyOptions {
                endpoint: crate::client::Endpoint::Completions,
                model: "m".into(),
                temperature: 0.0,
                top_p: 1.0,
                ignore_eos: false,
                continuous_usage_stats: false,
                extra: Default::default(),
            },
            api_key: None,
            timeout: Duration::from_secs(1),
            max_connections: 1,
            save_text: false,
            tokenizer: None,
            tls: Default::default(),
        })
        .unwrap();
        let ctx = Arc::new(Ctx {
            client: Arc::new(client),
            specs: Arc::new(Vec::new()),
            id_prefix: "",
            seed: 0,
            tx,
            stopping,
            abort,
            started: Arc::new(AtomicUsize::new(0)),
            panicked: Arc::new(AtomicUsize::new(0)),
        });
        let task_ctx = ctx.clone();
        let joined = tokio::spawn(async move {
            let _guard = PanicGuard {
                ctx: &task_ctx,
                request: Some((7, Instant::now())),
            };
            panic!("a bug");
        })
        .await;
        assert!(joined.is_err());
        assert_eq!(ctx.panicked.load(Ordering::Relaxed), 1);
        let rec = rx.recv().await.unwrap();
        assert_eq!(rec.index, 7);
        assert!(
            matches!(rec.outcome, Outcome::Failed(ref f) if f.message.contains("internal error"))
        );
    }
}
