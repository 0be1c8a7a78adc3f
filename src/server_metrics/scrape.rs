//! The scraper: `GET <root>/metrics` every interval, on a thread of its own with its own runtime
//! and connection (never on the runtime thread that reads and timestamps the streams).
//!
//! The first scrape is taken before the first measured request is sent (the run waits for it,
//! at most [`SCRAPE_TIMEOUT`]); the last one after the last request ended. The first failure
//! (no endpoint, an HTTP error, an answer that is not Prometheus text, no answer within
//! [`SCRAPE_TIMEOUT`]) ends scraping for the run, with one warning; the run itself goes on.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Collected;

/// Longest wait for one answer of `/metrics`: the longest a broken endpoint can delay the
/// start of the measured phase (the first scrape) or the end of the run (the last one).
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);
/// After the last request, the last scrape is repeated (every 50 ms, for at most this long) until
/// `vllm:request_success_total` has counted every request the client saw succeed: vLLM updates
/// its counters a moment after the stream ends.
pub const SETTLE: Duration = Duration::from_secs(1);

/// The `/metrics` URL of a base URL (`http://h:p/v1` → `http://h:p/metrics`).
pub fn metrics_url(base_url: &str) -> Option<reqwest::Url> {
    let mut url = crate::client::api_root(base_url).ok()?;
    let path = url.path().trim_end_matches('/');
    let root = path.strip_suffix("/v1").unwrap_or(path).to_owned();
    url.set_path(&format!("{root}/metrics"));
    Some(url)
}

/// A running scraper.
pub struct Scraper {
    shared: Arc<Mutex<Collected>>,
    stop: mpsc::Sender<u64>,
    done: mpsc::Receiver<()>,
}

struct Worker {
    url: reqwest::Url,
    client: reqwest::Client,
    origin: Instant,
    shared: Arc<Mutex<Collected>>,
}

impl Worker {
    /// One scrape; an error is the warning's reason.
    async fn scrape(&self) -> Result<(), String> {
        let t = self.origin.elapsed().as_secs_f64();
        let resp = self
            .client
            .get(self.url.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("answered HTTP {}", status.as_u16()));
        }
        let body = resp.text().await.map_err(|e| describe(&e))?;
        let (series, hist) = super::parse_kept(&body)
            .map_err(|e| format!("did not answer Prometheus text ({e})"))?;
        let mut c = self
            .shared
            .lock()
            .map_err(|_| "internal error".to_owned())?;
        c.push(t, &series, hist);
        Ok(())
    }

    fn fail(&self, reason: String) {
        if let Ok(mut c) = self.shared.lock() {
            if c.warning.is_none() {
                c.warning = Some(reason);
            }
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("gave no answer within {} s", SCRAPE_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not be reached".to_owned()
    } else {
        // The text and its causes (the URL is already free of credentials: api_root drops them).
        let mut text = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            text.push_str(&format!(": {s}"));
            src = s.source();
        }
        crate::secrets::redact(&text).into_owned()
    }
}

impl Scraper {
    /// Starts scraping `url` every `interval`, seconds counted from `origin`. Returns once the
    /// first scrape is done (or failed, or [`SCRAPE_TIMEOUT`] passed).
    pub async fn start(
        url: reqwest::Url,
        interval: Duration,
        origin: Instant,
        tls: &crate::client::tls::TlsSettings,
    ) -> Scraper {
        let builder = crate::client::tls::side_client(tls);
        let shared = Arc::new(Mutex::new(Collected::new(url.as_str(), interval)));
        let (stop, stop_rx) = mpsc::channel::<u64>();
        let (done_tx, done) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let sh = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("modelbench-metrics".into())
            .spawn(move || {
                let w = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()
                    .zip(
                        builder
                            .timeout(SCRAPE_TIMEOUT)
                            .pool_max_idle_per_host(1)
                            .build()
                            .ok(),
                    );
                let Some((rt, client)) = w else {
                    if let Ok(mut c) = sh.lock() {
                        c.warning = Some("cannot start an HTTP client".into());
                    }
                    let _ = ready_tx.send(());
                    let _ = done_tx.send(());
                    return;
                };
                let w = Worker {
                    url,
                    client,
                    origin,
                    shared: sh,
                };
                run(&rt, &w, interval, &stop_rx, &ready_tx);
                let _ = done_tx.send(());
            });
        if spawned.is_err() {
            if let Ok(mut c) = shared.lock() {
                c.warning = Some("cannot start the scraping thread".into());
            }
        } else {
            let _ = tokio::task::spawn_blocking(move || {
                ready_rx.recv_timeout(SCRAPE_TIMEOUT + Duration::from_millis(500))
            })
            .await;
        }
        Scraper { shared, stop, done }
    }

    /// Takes the last scrape (after the last request: `succeeded` is the number of requests
    /// the client saw succeed) and returns everything collected. Waits at most
    /// [`SCRAPE_TIMEOUT`] + [`SETTLE`].
    pub async fn finish(self, succeeded: u64) -> Collected {
        let Scraper { shared, stop, done } = self;
        if stop.send(succeeded).is_ok() {
            let _ = tokio::task::spawn_blocking(move || {
                done.recv_timeout(SCRAPE_TIMEOUT + SETTLE + Duration::from_millis(500))
            })
            .await;
        }
        let mut c = shared.lock().map(|c| c.clone()).unwrap_or_default();
        c.finished = true;
        c
    }
}

fn run(
    rt: &tokio::runtime::Runtime,
    w: &Worker,
    interval: Duration,
    stop: &mpsc::Receiver<u64>,
    ready: &mpsc::Sender<()>,
) {
    let first = rt.block_on(w.scrape());
    let _ = ready.send(());
    if let Err(reason) = first {
        w.fail(reason);
        return;
    }
    let mut next = Instant::now() + interval;
    loop {
        match stop.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                next += interval;
                if Instant::now() > next {
                    // A slow answer: skip the ticks it overran.
                    next = Instant::now() + interval;
                }
                if let Err(reason) = rt.block_on(w.scrape()) {
                    w.fail(reason);
                    return;
                }
            }
            Ok(succeeded) => {
                let until = Instant::now() + SETTLE;
                loop {
                    if let Err(reason) = rt.block_on(w.scrape()) {
                        w.fail(reason);
                        return;
                    }
                    let settled = w
                        .shared
                        .lock()
                        .map(|c| c.successes_counted().is_none_or(|n| n >= succeeded))
                        .unwrap_or(true);
                    if settled || Instant::now() >= until {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    // The settling scrapes replace the last row instead of adding rows.
                    if let Ok(mut c) = w.shared.lock() {
                        c.drop_last_row();
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_url_is_at_the_server_root() {
        let u = |b: &str| metrics_url(b).map(|u| u.to_string());
        assert_eq!(u("http://h:8000").as_deref(), Some("http://h:8000/metrics"));
        assert_eq!(
            u("http://h:8000/v1/").as_deref(),
            Some("http://h:8000/metrics")
        );
        assert_eq!(
            u("http://user:pw@h/proxy/v1").as_deref(),
            Some("http://h/proxy/metrics")
        );
        assert_eq!(u("ftp://h"), None);
    }
}
