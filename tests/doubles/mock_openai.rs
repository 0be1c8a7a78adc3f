//! TEST DOUBLE — a loopback mock of an OpenAI-compatible LLM server (vLLM-like, or llama.cpp-like
//! with `Flavor::LlamaCpp`). It is NOT a real server: it generates the token " tok" on a scripted
//! schedule. Used in-process by the integration tests
//! (`#[path = "doubles/mock_openai.rs"] mod mock_openai;`) and by the standalone `mock_vllm`
//! example (client-overhead benchmark, end-to-end scripts).
//!
//! Raw HTTP/1.1 over tokio TCP (keep-alive, chunked streaming), or over TLS with
//! `MockConfig::tls` (rustls through tokio-rustls; [`self_signed`] makes a certificate for
//! `localhost` and `127.0.0.1` at test time): the same routes, scripts and faults, every write
//! one TLS record. Routes: `GET /health`, `GET /version`, `GET /v1/models`, `GET /metrics` (see
//! [`MetricsMode`]), `GET /mock/stats` (JSON counters), `POST /v1/completions`,
//! `POST /v1/chat/completions`.
//!
//! Script (per [`MockConfig`]): TTFT delay before the first content chunk, a fixed gap between
//! content chunks, `chunk_tokens` tokens per chunk, usage on/off (`stream_options.include_usage`
//! and vLLM's `continuous_usage_stats` are honoured), and faults. A request generates
//! `max_tokens` tokens with `ignore_eos`, else `min(max_tokens, tokens)` (emulated EOS).
//! A fault applies to every `fault_every`-th request, or to any request whose prompt contains
//! `mock-fault:<kind>` (kinds: http500, cut, nodone, malformed, stall, error_event, done_hang,
//! stray, huge_usage, huge_event, echo_auth — see [`Fault`]).
#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// A connection's byte stream: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Sock = Box<dyn Io>;

/// A self-signed certificate for `localhost` and `127.0.0.1`, made now: its PEM (to trust it
/// with `--ca-cert`) and a server configuration (HTTP/1.1 by ALPN) serving it.
pub fn self_signed() -> (String, Arc<rustls::ServerConfig>) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("self-signed certificate");
    let pem = ck.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .expect("server certificate");
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    (pem, Arc::new(cfg))
}

/// Which server's SSE shape to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Final chunk with empty `choices` and `usage`; chat's first chunk has `content: ""`.
    Vllm,
    /// Usage inside the finish chunk (always), chat's first chunk has `content: null`,
    /// `timings` objects.
    LlamaCpp,
}

/// Scripted failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with a JSON error body.
    Http500,
    /// The connection is closed in the middle of the stream (no chunked terminator).
    Cut,
    /// The stream ends cleanly but without `data: [DONE]`.
    NoDone,
    /// A `data:` payload that is not JSON.
    Malformed,
    /// One chunk, then nothing (until the client gives up).
    Stall,
    /// An error object inside the stream.
    ErrorEvent,
    /// `data: [DONE]`, then the chunked body is never ended (no `0` chunk) and the connection
    /// stays open until the client closes it.
    DoneHang,
    /// A complete response, then stray bytes on the kept-alive connection (a few ms later, so
    /// they arrive after the client has read the response).
    Stray,
    /// `usage` counts near 2^64 (their sum wraps a u64).
    HugeUsage,
    /// One content event of 17 MiB.
    HugeEvent,
    /// HTTP 401 whose body echoes the request's Authorization header and the key alone.
    EchoAuth,
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Fault, String> {
        Ok(match s {
            "http500" => Fault::Http500,
            "cut" => Fault::Cut,
            "nodone" => Fault::NoDone,
            "malformed" => Fault::Malformed,
            "stall" => Fault::Stall,
            "error_event" => Fault::ErrorEvent,
            "done_hang" => Fault::DoneHang,
            "stray" => Fault::Stray,
            "huge_usage" => Fault::HugeUsage,
            "huge_event" => Fault::HugeEvent,
            "echo_auth" => Fault::EchoAuth,
            _ => {
                return Err(format!(
                    "unknown fault {s:?} (http500, cut, nodone, malformed, stall, error_event, \
                     done_hang, stray, huge_usage, huge_event, echo_auth)"
                ))
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub model: String,
    /// Tokens generated when the request does not set ignore_eos (capped by max_tokens).
    pub tokens: u32,
    /// Delay before the first content chunk.
    pub ttft: Duration,
    /// Gap between consecutive content chunks.
    pub chunk_delay: Duration,
    /// Tokens carried by each content chunk.
    pub chunk_tokens: u32,
    /// Send usage when the request asks for it.
    pub usage: bool,
    pub flavor: Flavor,
    pub fault: Option<Fault>,
    /// The fault applies to requests number k·fault_every (1-based); 1 = every request.
    pub fault_every: u64,
    /// Write a zero-delay response in one write instead of one write per event.
    pub coalesce: bool,
    /// Keep every request (time, path, body, Authorization) in `MockStats::received`.
    pub record_requests: bool,
    /// Pause between the last content chunk and the usage chunk (vLLM's usage chunk follows
    /// the last token closely; a slow server's may not).
    pub usage_delay: Duration,
    /// A capacity limit: at most this many requests are generated at once; the others wait
    /// in a FIFO queue (before the first byte, so the wait counts in their TTFT) — a server
    /// with N batch slots. The service time of one request is `ttft + (chunks − 1) · chunk_delay`.
    pub slots: Option<usize>,
    /// Serve TLS with this configuration (see [`self_signed`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// What `GET /metrics` answers.
    pub metrics: MetricsMode,
}

/// What `GET /metrics` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsMode {
    /// vLLM-named Prometheus text: gauges `vllm:num_requests_running` (streams generating),
    /// `vllm:num_requests_waiting` (queued for a slot), `vllm:kv_cache_usage_perc` (slots in use
    /// / slots; 0 without `slots`); counters of prompt and generation tokens, successes,
    /// preemptions (always 0), prefix-cache queries (prompt tokens) and hits (0); histograms of
    /// TTFT, e2e latency, queue time (from the request's arrival) and inter-token latency.
    Vllm,
    /// 404, as a server without metrics.
    Missing,
    /// 200 with an HTML page.
    Html,
    /// Never answers (until the client closes the connection).
    Stall,
}

impl std::str::FromStr for MetricsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<MetricsMode, String> {
        Ok(match s {
            "vllm" => MetricsMode::Vllm,
            "none" => MetricsMode::Missing,
            "html" => MetricsMode::Html,
            "stall" => MetricsMode::Stall,
            _ => {
                return Err(format!(
                    "unknown metrics mode {s:?} (vllm, none, html, stall)"
                ))
            }
        })
    }
}

/// vLLM's bucket bounds (seconds) for the latency histograms.
const BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A Prometheus histogram (cumulative on output).
#[derive(Debug, Default, Clone)]
pub struct Hist {
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

impl Hist {
    fn observe(&mut self, v: f64) {
        let i = BUCKETS
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += v;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cum = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cum += c;
            let le = BUCKETS
                .get(i)
                .map_or("+Inf".to_owned(), |b| format!("{b:?}"));
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cum}.0");
        }
        let _ = writeln!(out, "{name}_count{{{labels}}} {cum}.0");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
    }
}

/// The histograms behind `MetricsMode::Vllm`.
#[derive(Debug, Default)]
pub struct Histograms {
    ttft: Hist,
    e2e: Hist,
    queue: Hist,
    itl: Hist,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            model: "mock-model".into(),
            tokens: 16,
            ttft: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunk_tokens: 1,
            usage: true,
            flavor: Flavor::Vllm,
            fault: None,
            fault_every: 1,
            coalesce: false,
            record_requests: true,
            usage_delay: Duration::ZERO,
            slots: None,
            tls: None,
            metrics: MetricsMode::Vllm,
        }
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    pub body: Value,
    pub authorization: Option<String>,
}

#[derive(Debug, Default)]
pub struct MockStats {
    /// Generation requests received.
    pub requests: AtomicU64,
    /// Generation requests being answered right now, and the most at any time.
    pub in_flight: AtomicI64,
    pub max_in_flight: AtomicI64,
    /// Streams that ended with `data: [DONE]`.
    pub completed: AtomicU64,
    /// Output tokens written so far (content chunks), for the client-overhead benchmark.
    pub tokens: AtomicU64,
    /// Connections that carried a generation request (a `/metrics` scraper's is not counted).
    pub connections: AtomicU64,
    pub received: Mutex<Vec<Received>>,
    /// The slots of `MockConfig::slots` (created by the first request).
    slots: std::sync::OnceLock<tokio::sync::Semaphore>,
    /// Requests waiting for a slot right now, and the most at any time.
    pub queued: AtomicI64,
    pub max_queued: AtomicI64,
    /// Streams holding a slot (generating) right now.
    pub running: AtomicI64,
    /// Prompt tokens of the requests that started generating.
    pub prompt_tokens: AtomicU64,
    pub histograms: Mutex<Histograms>,
}

impl MockStats {
    pub fn max_in_flight(&self) -> i64 {
        self.max_in_flight.load(Ordering::SeqCst)
    }
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|v| v.clone()).unwrap_or_default()
    }
    pub fn json(&self) -> Value {
        json!({
            "requests": self.requests.load(Ordering::SeqCst),
            "in_flight": self.in_flight.load(Ordering::SeqCst),
            "max_in_flight": self.max_in_flight.load(Ordering::SeqCst),
            "completed": self.completed.load(Ordering::SeqCst),
            "tokens": self.tokens.load(Ordering::SeqCst),
            "connections": self.connections.load(Ordering::SeqCst),
            "max_queued": self.max_queued.load(Ordering::SeqCst),
        })
    }
}

/// Binds a listener with a deep accept backlog (thousands of simultaneous connects).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(8192)
}

/// Accepts connections until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    cfg: Arc<MockConfig>,
    stats: Arc<MockStats>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            acc = listener.accept() => match acc {
                Ok((sock, _)) => {
                    tokio::spawn(connection(sock, cfg.clone(), stats.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
        }
    }
}

/// An in-process mock on its own thread and runtime; stopped when dropped.
pub struct MockServer {
    pub addr: SocketAddr,
    pub stats: Arc<MockStats>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockServer {
    pub fn start(cfg: MockConfig) -> MockServer {
        let stats = Arc::new(MockStats::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let st = stats.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("mock runtime");
            rt.block_on(async move {
                let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("mock bind");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                serve(listener, Arc::new(cfg), st, async {
                    let _ = rx.await;
                })
                .await;
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        let addr = addr_rx.recv().expect("mock server failed to start");
        MockServer {
            addr,
            stats,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of a mock started with `MockConfig::tls`.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// Reads one request; `None` when the peer closed the connection.
async fn read_request(sock: &mut Sock, buf: &mut Vec<u8>) -> std::io::Result<Option<Request>> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return Err(std::io::Error::other("request head too large"));
        }
        let mut tmp = [0u8; 8192];
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let mut content_length = 0usize;
    let mut authorization = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                content_length = v.trim().parse().unwrap_or(0);
            } else if k == "authorization" {
                authorization = Some(v.trim().to_owned());
            }
        }
    }
    let body_start = head_end + 4;
    while buf.len() < body_start + content_length {
        let mut tmp = vec![0u8; (body_start + content_length - buf.len()).min(64 * 1024)];
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = buf[body_start..body_start + content_length].to_vec();
    buf.drain(..body_start + content_length);
    Ok(Some(Request {
        method,
        path,
        authorization,
        body,
    }))
}

async fn connection(sock: TcpStream, cfg: Arc<MockConfig>, stats: Arc<MockStats>) {
    let _ = sock.set_nodelay(true);
    let mut sock: Sock = match &cfg.tls {
        None => Box::new(sock),
        Some(tls) => match tokio_rustls::TlsAcceptor::from(tls.clone())
            .accept(sock)
            .await
        {
            Ok(s) => Box::new(s),
            // A client that refused the certificate, or did not speak TLS.
            Err(_) => return,
        },
    };
    let mut buf = Vec::with_capacity(8192);
    let mut counted = false;
    while let Ok(Some(req)) = read_request(&mut sock, &mut buf).await {
        if !counted && req.method == "POST" {
            counted = true;
            stats.connections.fetch_add(1, Ordering::Relaxed);
        }
        if handle(&mut sock, req, &cfg, &stats).await.is_err() {
            return;
        }
    }
}

async fn respond(sock: &mut Sock, status: &str, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n", body.len());
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    sock.write_all(&out).await?;
    sock.flush().await
}

async fn handle(
    sock: &mut Sock,
    req: Request,
    cfg: &MockConfig,
    stats: &MockStats,
) -> std::io::Result<()> {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/health") => respond(sock, "200 OK", "text/plain", b"").await,
        ("GET", "/version") => {
            respond(
                sock,
                "200 OK",
                "application/json",
                br#"{"version":"0.0.0+mock"}"#,
            )
            .await
        }
        ("GET", "/v1/models") => {
            let body = json!({"object": "list", "data": [{"id": cfg.model, "object": "model", "owned_by": "mock"}]});
            respond(
                sock,
                "200 OK",
                "application/json",
                body.to_string().as_bytes(),
            )
            .await
        }
        ("GET", "/metrics") => match cfg.metrics {
            MetricsMode::Vllm => {
                let m = metrics_text(cfg, stats);
                respond(sock, "200 OK", "text/plain; version=0.0.4", m.as_bytes()).await
            }
            MetricsMode::Missing => {
                respond(
                    sock,
                    "404 Not Found",
                    "application/json",
                    br#"{"detail":"Not Found"}"#,
                )
                .await
            }
            MetricsMode::Html => {
                let page = b"<!DOCTYPE html>\n<html><head><title>Dashboard</title></head><body>hello</body></html>\n";
                respond(sock, "200 OK", "text/html", page).await
            }
            MetricsMode::Stall => {
                until_closed(sock).await;
                Err(std::io::Error::other("scripted /metrics stall"))
            }
        },
        ("GET", "/mock/stats") => {
            respond(
                sock,
                "200 OK",
                "application/json",
                stats.json().to_string().as_bytes(),
            )
            .await
        }
        ("POST", "/v1/completions") => generate(sock, req, cfg, stats, false).await,
        ("POST", "/v1/chat/completions") => generate(sock, req, cfg, stats, true).await,
        _ => {
            respond(
                sock,
                "404 Not Found",
                "application/json",
                br#"{"error":"not found"}"#,
            )
            .await
        }
    }
}

/// `/metrics` in vLLM's names (see [`MetricsMode::Vllm`]).
fn metrics_text(cfg: &MockConfig, stats: &MockStats) -> String {
    let l = format!("engine=\"0\",model_name=\"{}\"", cfg.model);
    let running = stats.running.load(Ordering::SeqCst);
    let kv = cfg.slots.map_or(0.0, |n| running as f64 / n.max(1) as f64);
    let mut o = String::new();
    let gauges = [
        ("vllm:num_requests_running", running as f64),
        (
            "vllm:num_requests_waiting",
            stats.queued.load(Ordering::SeqCst) as f64,
        ),
        ("vllm:kv_cache_usage_perc", kv),
    ];
    for (name, v) in gauges {
        let _ = writeln!(
            o,
            "# HELP {name} mock\n# TYPE {name} gauge\n{name}{{{l}}} {v:?}"
        );
    }
    let prompt = stats.prompt_tokens.load(Ordering::SeqCst);
    let counters = [
        ("vllm:prompt_tokens", prompt),
        (
            "vllm:generation_tokens",
            stats.tokens.load(Ordering::SeqCst),
        ),
        ("vllm:num_preemptions", 0),
        ("vllm:prefix_cache_queries", prompt),
        ("vllm:prefix_cache_hits", 0),
    ];
    for (name, v) in counters {
        let _ = writeln!(
            o,
            "# TYPE {name} counter\n{name}_total{{{l}}} {v}.0\n{name}_created{{{l}}} 1.7e+09"
        );
    }
    let _ = writeln!(
        o,
        "# TYPE vllm:request_success counter\nvllm:request_success_total{{{l},finished_reason=\"length\"}} {}.0",
        stats.completed.load(Ordering::SeqCst)
    );
    if let Ok(h) = stats.histograms.lock() {
        h.ttft.write(&mut o, "vllm:time_to_first_token_seconds", &l);
        h.e2e.write(&mut o, "vllm:e2e_request_latency_seconds", &l);
        h.queue.write(&mut o, "vllm:request_queue_time_seconds", &l);
        h.itl.write(&mut o, "vllm:inter_token_latency_seconds", &l);
    }
    o
}

fn observe(stats: &MockStats, f: impl FnOnce(&mut Histograms)) {
    if let Ok(mut h) = stats.histograms.lock() {
        f(&mut h);
    }
}

/// Counts a stream as running while it holds its slot.
struct Running<'a>(&'a MockStats);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Decrements the in-flight count however the request ends.
struct InFlight<'a>(&'a MockStats);

impl<'a> InFlight<'a> {
    fn enter(stats: &'a MockStats) -> InFlight<'a> {
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(stats)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What one generation request asks for.
struct Ask {
    chat: bool,
    id: String,
    prompt_tokens: u64,
    tokens: u32,
    include_usage: bool,
    continuous: bool,
    stream: bool,
    fault: Option<Fault>,
    /// `mock-ttft-ms:N` in the prompt: this request's TTFT instead of the configured one.
    ttft: Option<Duration>,
}

fn ask(body: &Value, cfg: &MockConfig, nth: u64, chat: bool) -> Ask {
    let prompt: String = if chat {
        body["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|x| x["content"].as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    } else {
        body["prompt"].as_str().unwrap_or_default().to_owned()
    };
    let fault = prompt
        .split_whitespace()
        .find_map(|w| w.strip_prefix("mock-fault:").and_then(|k| k.parse().ok()))
        .or_else(|| cfg.fault.filter(|_| nth % cfg.fault_every.max(1) == 0));
    let max_tokens = body["max_tokens"].as_u64().unwrap_or(16).clamp(1, 1 << 20) as u32;
    let ignore_eos = body["ignore_eos"].as_bool().unwrap_or(false);
    Ask {
        chat,
        id: format!("{}-{nth}", if chat { "chatcmpl" } else { "cmpl" }),
        prompt_tokens: prompt.split_whitespace().count() as u64,
        tokens: if ignore_eos {
            max_tokens
        } else {
            max_tokens.min(cfg.tokens.max(1))
        },
        include_usage: cfg.usage
            && body["stream_options"]["include_usage"]
                .as_bool()
                .unwrap_or(false),
        continuous: cfg.usage
            && body["stream_options"]["continuous_usage_stats"]
                .as_bool()
                .unwrap_or(false),
        stream: body["stream"].as_bool().unwrap_or(false),
        fault,
        ttft: prompt.split_whitespace().find_map(|w| {
            w.strip_prefix("mock-ttft-ms:")
                .and_then(|ms| ms.parse().ok())
                .map(Duration::from_millis)
        }),
    }
}

/// Appends one SSE event as one HTTP chunk.
fn event(out: &mut Vec<u8>, payload: &str) {
    let len = payload.len() + 8; // "data: " + "\n\n"
    let _ = write!(ChunkWriter(out), "{len:x}\r\ndata: {payload}\n\n\r\n");
}

struct ChunkWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ChunkWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn usage_json(a: &Ask, completion: u64) -> String {
    format!(
        r#"{{"prompt_tokens":{0},"total_tokens":{1},"completion_tokens":{2}}}"#,
        a.prompt_tokens,
        a.prompt_tokens + completion,
        completion
    )
}

fn content_payload(
    a: &Ask,
    cfg: &MockConfig,
    text: &str,
    finish: Option<&str>,
    usage: Option<String>,
) -> String {
    let fin = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
    let usage = usage.map_or(String::new(), |u| format!(r#","usage":{u}"#));
    let m = &cfg.model;
    let id = &a.id;
    if a.chat {
        format!(
            r#"{{"id":"{id}","object":"chat.completion.chunk","created":0,"model":"{m}","choices":[{{"index":0,"delta":{{"content":"{text}"}},"logprobs":null,"finish_reason":{fin}}}]{usage}}}"#
        )
    } else {
        format!(
            r#"{{"id":"{id}","object":"text_completion","created":0,"model":"{m}","choices":[{{"index":0,"text":"{text}","logprobs":null,"finish_reason":{fin},"stop_reason":null}}]{usage}}}"#
        )
    }
}

async fn flush(sock: &mut Sock, out: &mut Vec<u8>) -> std::io::Result<()> {
    if !out.is_empty() {
        sock.write_all(out).await?;
        // TLS: the record leaves now, not with the next write.
        sock.flush().await?;
        out.clear();
    }
    Ok(())
}

/// Waits until the client closes the connection (used by the stall fault).
async fn until_closed(sock: &mut Sock) {
    let mut tmp = [0u8; 1024];
    loop {
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn generate(
    sock: &mut Sock,
    req: Request,
    cfg: &MockConfig,
    stats: &MockStats,
    chat: bool,
) -> std::io::Result<()> {
    let arrived = Instant::now();
    let nth = stats.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = InFlight::enter(stats);
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    if cfg.record_requests {
        if let Ok(mut v) = stats.received.lock() {
            v.push(Received {
                at: Instant::now(),
                path: req.path.clone(),
                body: body.clone(),
                authorization: req.authorization.clone(),
            });
        }
    }
    let a = ask(&body, cfg, nth, chat);
    if a.fault == Some(Fault::EchoAuth) {
        let header = req.authorization.clone().unwrap_or_default();
        let key = header.strip_prefix("Bearer ").unwrap_or(&header);
        let err = format!(
            r#"{{"object":"error","message":"mock: invalid API key {key} (Authorization: {header})","code":401}}"#
        );
        return respond(sock, "401 Unauthorized", "application/json", err.as_bytes()).await;
    }
    if a.fault == Some(Fault::Http500) {
        let err = r#"{"object":"error","message":"mock: internal server error (scripted)","type":"InternalServerError","param":null,"code":500}"#;
        return respond(
            sock,
            "500 Internal Server Error",
            "application/json",
            err.as_bytes(),
        )
        .await;
    }
    if !a.stream {
        let text = " tok".repeat(a.tokens as usize);
        let b = json!({"id": a.id, "object": "text_completion", "model": cfg.model,
            "choices": [{"index": 0, "text": text, "finish_reason": "length"}],
            "usage": {"prompt_tokens": a.prompt_tokens, "completion_tokens": a.tokens, "total_tokens": a.prompt_tokens + u64::from(a.tokens)}});
        return respond(sock, "200 OK", "application/json", b.to_string().as_bytes()).await;
    }
    // A request waits for a slot before anything is sent: the wait is part of its TTFT.
    let _slot = match cfg.slots {
        Some(n) => {
            let sem = stats
                .slots
                .get_or_init(|| tokio::sync::Semaphore::new(n.max(1)));
            let now = stats.queued.fetch_add(1, Ordering::SeqCst) + 1;
            stats.max_queued.fetch_max(now, Ordering::SeqCst);
            let permit = sem.acquire().await;
            stats.queued.fetch_sub(1, Ordering::SeqCst);
            Some(permit.map_err(std::io::Error::other)?)
        }
        None => None,
    };
    stats.running.fetch_add(1, Ordering::SeqCst);
    let _running = Running(stats);
    stats
        .prompt_tokens
        .fetch_add(a.prompt_tokens, Ordering::SeqCst);
    observe(stats, |h| h.queue.observe(arrived.elapsed().as_secs_f64()));
    let mut last_token = arrived;
    let ttft = a.ttft.unwrap_or(cfg.ttft);
    let start = Instant::now();
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n");
    let llama = cfg.flavor == Flavor::LlamaCpp;
    if a.chat {
        let content = if llama { "null" } else { "\"\"" };
        let usage = if a.continuous {
            format!(r#","usage":{}"#, usage_json(&a, 0))
        } else {
            String::new()
        };
        let p = format!(
            r#"{{"id":"{}","object":"chat.completion.chunk","created":0,"model":"{}","choices":[{{"index":0,"delta":{{"role":"assistant","content":{content}}},"logprobs":null,"finish_reason":null}}]{usage}}}"#,
            a.id, cfg.model
        );
        event(&mut out, &p);
    }
    let paced = !ttft.is_zero() || !cfg.chunk_delay.is_zero();
    let per_event_writes = paced || !cfg.coalesce;
    flush(sock, &mut out).await?;
    let k = cfg.chunk_tokens.max(1);
    let chunks = a.tokens.div_ceil(k);
    let mut produced: u64 = 0;
    let piece = " tok".repeat(k as usize);
    for i in 0..chunks {
        if paced {
            // Relative pauses: every gap is at least the scripted one (timers are late, never early).
            let pause = if i == 0 {
                ttft.saturating_sub(start.elapsed())
            } else {
                cfg.chunk_delay
            };
            tokio::time::sleep(pause).await;
        }
        let n = k.min(a.tokens - i * k);
        produced += u64::from(n);
        let last = i + 1 == chunks;
        if a.fault == Some(Fault::Cut) && i >= chunks / 2 {
            out.extend_from_slice(b"40\r\ndata: {\"choices\":[{\"text\":");
            flush(sock, &mut out).await?;
            let _ = sock.shutdown().await;
            return Err(std::io::Error::other("scripted cut"));
        }
        if a.fault == Some(Fault::Malformed) && i == 1.min(chunks - 1) {
            event(&mut out, r#"{"choices": [{"text": "broken"#);
        }
        if a.fault == Some(Fault::ErrorEvent) && i == 1.min(chunks - 1) {
            event(
                &mut out,
                r#"{"error":{"object":"error","message":"mock: engine died (scripted)","type":"InternalServerError","code":500}}"#,
            );
            break;
        }
        if a.fault == Some(Fault::HugeEvent) && i == 0 {
            let big = "x".repeat(17 << 20);
            event(&mut out, &content_payload(&a, cfg, &big, None, None));
            flush(sock, &mut out).await?;
        }
        let now = Instant::now();
        let gap = now.duration_since(last_token).as_secs_f64();
        observe(stats, |h| {
            if i == 0 {
                h.ttft.observe(gap)
            } else {
                h.itl.observe(gap)
            }
        });
        last_token = now;
        let text = &piece[..n as usize * 4];
        let finish = (last && !llama).then_some("length");
        let usage = a.continuous.then(|| usage_json(&a, produced));
        event(&mut out, &content_payload(&a, cfg, text, finish, usage));
        if per_event_writes {
            flush(sock, &mut out).await?;
        }
        stats.tokens.fetch_add(u64::from(n), Ordering::Relaxed);
        if a.fault == Some(Fault::Stall) {
            flush(sock, &mut out).await?;
            until_closed(sock).await;
            return Err(std::io::Error::other("scripted stall"));
        }
    }
    if !cfg.usage_delay.is_zero() {
        flush(sock, &mut out).await?;
        tokio::time::sleep(cfg.usage_delay).await;
    }
    if llama {
        // llama.cpp: a finish chunk with empty content, usage and timings, always.
        let u = usage_json(&a, produced);
        let p = if a.chat {
            format!(
                r#"{{"choices":[{{"finish_reason":"length","index":0,"delta":{{}}}}],"created":0,"id":"{}","model":"{}","object":"chat.completion.chunk","usage":{u},"timings":{{"predicted_n":{produced}}}}}"#,
                a.id, cfg.model
            )
        } else {
            format!(
                r#"{{"choices":[{{"text":"","index":0,"logprobs":null,"finish_reason":"length"}}],"created":0,"id":"{}","model":"{}","object":"text_completion","usage":{u},"timings":{{"predicted_n":{produced}}}}}"#,
                a.id, cfg.model
            )
        };
        event(&mut out, &p);
    } else if a.include_usage {
        let p = format!(
            r#"{{"id":"{}","object":"{}","created":0,"model":"{}","choices":[],"usage":{}}}"#,
            a.id,
            if a.chat {
                "chat.completion.chunk"
            } else {
                "text_completion"
            },
            cfg.model,
            if a.fault == Some(Fault::HugeUsage) {
                // prompt + completion = 2^64 + 9: wraps to 9 in a u64 sum.
                r#"{"prompt_tokens":18446744073709551610,"total_tokens":9,"completion_tokens":15}"#
                    .to_owned()
            } else {
                usage_json(&a, produced)
            }
        );
        event(&mut out, &p);
    }
    if a.fault != Some(Fault::NoDone) {
        observe(stats, |h| h.e2e.observe(arrived.elapsed().as_secs_f64()));
        event(&mut out, "[DONE]");
        stats.completed.fetch_add(1, Ordering::Relaxed);
    }
    if a.fault == Some(Fault::DoneHang) {
        flush(sock, &mut out).await?;
        until_closed(sock).await;
        return Err(std::io::Error::other("scripted hang after [DONE]"));
    }
    out.extend_from_slice(b"0\r\n\r\n");
    flush(sock, &mut out).await?;
    if a.fault == Some(Fault::Stray) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        sock.write_all(b"\r\nstray bytes after the response\r\n")
            .await?;
        sock.flush().await?;
    }
    Ok(())
}
