//! Stage 'client' of the benchmark data flow (see lib.rs): streaming requests to an
//! OpenAI-compatible server, timed as the bytes arrive.
//!
//! - [`body`]: request bodies (shared fields serialised once);
//! - [`http1`]: HTTP/1.1 framing (request head, response head, chunked/length/close bodies);
//! - [`conn`]: TCP connections and the keep-alive pool;
//! - [`tls`]: `https://` through rustls, fed with the bytes `conn` reads (sans-I/O);
//! - [`proxy`]: the proxy variables (refused: connections always go direct);
//! - [`sse`]: server-sent-event framing;
//! - [`chunk`]: the JSON of one streamed chunk (vLLM and llama.cpp shapes), with a hand-written
//!   fast path for the common shape (`chunk_scan`);
//! - [`coalesce`]: read coalescing (the timestamp resolution of fast streams);
//! - [`exchange`]: one request from send to `data: [DONE]` → a [`crate::records::RequestRecord`].
//!
//! Why a hand-written HTTP/1.1 client rather than a general one (reqwest/hyper): every read from
//! the socket is a `recvmsg` that also returns the kernel's receive timestamp of its bytes
//! (`SO_TIMESTAMPNS`, [`conn`]), and each SSE event is timed with the timestamp of the read that
//! completed it. A general client hides the reads behind its own buffering and tasks, so a token
//! could only be timed when it reached our code, after queueing. The response head (status line
//! and headers) is parsed by `httparse`; chunked/length/close bodies and SSE are decoded in
//! place ([`http1`], [`sse`]).
//!
//! Each request is driven by one task that reads its own socket and decodes, parses and
//! timestamps in place (HTTP/1.1, over TLS for `https://`, no proxy, `TCP_NODELAY`, connections kept alive and
//! pooled up to the concurrency). All tasks run on one runtime thread, whose reads are coalesced
//! while data arrives faster than the timestamp resolution ([`coalesce`]). Nothing on the
//! per-chunk path locks or allocates in steady state.

pub mod body;
pub mod chunk;
mod chunk_scan;
pub mod coalesce;
pub mod conn;
pub mod exchange;
pub mod http1;
pub mod proxy;
pub mod sse;
pub mod tls;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::Url;

use crate::workload::TokenizerHandle;
pub use body::{BodyOptions, BodyTemplate, Endpoint};

/// The longest a TCP connect may take before the request fails as `connect_timeout`
/// (shorter when `--timeout` is shorter).
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--base-url {url:?}: {message}")]
    BaseUrl { url: String, message: String },
    #[error("--api-key: not usable in an HTTP header (control characters?)")]
    ApiKey,
    #[error(
        "--base-url {url}: {var} is set ({proxy}) but modelbench connects directly, never through a proxy (it would add its own delays to every timestamp): unset {var}, or add {host} to NO_PROXY"
    )]
    Proxy {
        url: String,
        var: String,
        proxy: String,
        host: String,
    },
}

/// Everything the client needs.
#[derive(Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub body: BodyOptions,
    pub api_key: Option<String>,
    /// Per-request deadline, send to last byte.
    pub timeout: Duration,
    /// Connections kept open (the concurrency).
    pub max_connections: usize,
    pub save_text: bool,
    pub tokenizer: Option<Arc<TokenizerHandle>>,
    /// `--ca-cert`, `--insecure` (used for `https://` URLs only).
    pub tls: tls::TlsSettings,
}

/// The TLS session of a run's first handshake, for `run_info.tls`.
#[derive(Debug, Clone)]
pub struct TlsSessionInfo {
    pub version: String,
    pub cipher_suite: String,
    pub alpn: Option<String>,
}

pub struct Client {
    target: conn::Target,
    pool: conn::Pool,
    url: Url,
    /// `Bearer <key>`.
    auth: Option<String>,
    template: BodyTemplate,
    timeout: Duration,
    connect_timeout: Duration,
    save_text: bool,
    tokenizer: Option<Arc<TokenizerHandle>>,
    /// Connections opened whose reads carry the kernel's receive time, and those whose reads are
    /// stamped when they return.
    kernel_stamped: AtomicUsize,
    read_stamped: AtomicUsize,
    /// Responses whose HTTP body did not end within `exchange::DONE_GRACE` after `data: [DONE]`.
    unended_bodies: AtomicUsize,
    /// `https://`: what every connection's TLS session starts from.
    tls: Option<tls::TlsContext>,
    tls_settings: tls::TlsSettings,
    /// TLS handshakes made, and how many of them resumed an earlier session.
    handshakes: AtomicUsize,
    resumed_handshakes: AtomicUsize,
    tls_session: OnceLock<TlsSessionInfo>,
}

/// The API root: the base URL with `/v1` appended unless it already ends with it.
pub fn api_root(base_url: &str) -> Result<Url, ClientError> {
    let err = |message: &str| ClientError::BaseUrl {
        url: crate::secrets::mask_url(base_url),
        message: message.to_owned(),
    };
    let mut url = Url::parse(base_url.trim()).map_err(|e| err(&format!("not a URL ({e})")))?;
    match url.scheme() {
        "http" | "https" => {}
        _ => return Err(err("expected an http:// or https:// URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err("no host"));
    }
    url.set_query(None);
    url.set_fragment(None);
    // Credentials in the URL are not sent (only `--api-key` is, as a Bearer token); dropped so
    // that the URL can be shown.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let path = url.path().trim_end_matches('/').to_owned();
    let path = if path.ends_with("/v1") {
        path
    } else {
        format!("{path}/v1")
    };
    url.set_path(&path);
    Ok(url)
}

/// Refuses a URL that a proxy variable would send through a proxy ([`proxy`]).
pub fn check_direct(base_url: &str) -> Result<(), ClientError> {
    let url = api_root(base_url)?;
    match proxy::applicable(&url, |n| std::env::var(n).ok()) {
        None => Ok(()),
        Some((var, value)) => Err(ClientError::Proxy {
            url: crate::secrets::mask_url(base_url),
            var,
            proxy: crate::secrets::mask_url(&value),
            host: url.host_str().unwrap_or_default().to_owned(),
        }),
    }
}

/// The URL of the endpoint's route under the API root.
pub fn endpoint_url(base_url: &str, endpoint: Endpoint) -> Result<Url, ClientError> {
    let root = api_root(base_url)?;
    let route = match endpoint {
        Endpoint::Completions => "completions",
        Endpoint::Chat => "chat/completions",
    };
    let mut url = root;
    let path = format!("{}/{route}", url.path());
    url.set_path(&path);
    Ok(url)
}

/// Resolves the URL's host (once, at start) into the addresses to connect to.
fn target(url: &Url, base_url: &str) -> Result<conn::Target, ClientError> {
    let addrs = url
        .socket_addrs(|| Some(80))
        .map_err(|e| ClientError::BaseUrl {
            url: crate::secrets::mask_url(base_url),
            message: format!("cannot resolve the host: {e}"),
        })?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => String::new(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    Ok(conn::Target { addrs, host, path })
}

impl Client {
    pub fn new(cfg: &ClientConfig) -> Result<Client, ClientError> {
        crate::secrets::register_url(&cfg.base_url);
        let url = endpoint_url(&cfg.base_url, cfg.body.endpoint)?;
        let auth = match &cfg.api_key {
            Some(k) if k.chars().any(char::is_control) => return Err(ClientError::ApiKey),
            Some(k) => {
                // Masked wherever server-supplied text quoting it is stored or shown.
                crate::secrets::register(k);
                Some(format!("Bearer {k}"))
            }
            None => None,
        };
        check_direct(&cfg.base_url)?;
        let tls = match url.scheme() {
            "https" => Some(
                tls::TlsContext::new(&cfg.tls, url.host_str().unwrap_or_default()).map_err(
                    |message| ClientError::BaseUrl {
                        url: crate::secrets::mask_url(&cfg.base_url),
                        message,
                    },
                )?,
            ),
            _ => None,
        };
        Ok(Client {
            target: target(&url, &cfg.base_url)?,
            pool: conn::Pool::new(cfg.max_connections.max(1)),
            url,
            auth,
            template: BodyTemplate::new(&cfg.body),
            timeout: cfg.timeout,
            connect_timeout: cfg.timeout.min(MAX_CONNECT_TIMEOUT),
            save_text: cfg.save_text,
            tokenizer: cfg.tokenizer.clone(),
            kernel_stamped: AtomicUsize::new(0),
            read_stamped: AtomicUsize::new(0),
            unended_bodies: AtomicUsize::new(0),
            tls,
            tls_settings: cfg.tls.clone(),
            handshakes: AtomicUsize::new(0),
            resumed_handshakes: AtomicUsize::new(0),
            tls_session: OnceLock::new(),
        })
    }

    /// Counts a connection's completed TLS handshake (and keeps the first one's session).
    fn note_handshake(&self, c: &conn::Conn) {
        if let Some((version, cipher_suite, alpn, resumed)) = c.tls_session() {
            self.handshakes.fetch_add(1, Ordering::Relaxed);
            if resumed {
                self.resumed_handshakes.fetch_add(1, Ordering::Relaxed);
            }
            let _ = self.tls_session.set(TlsSessionInfo {
                version,
                cipher_suite,
                alpn,
            });
        }
    }

    /// `run_info.tls`: `null` for plain HTTP; else how the server was verified, the session of
    /// the first handshake and the handshake counts (warm-up included).
    pub fn tls_info(&self) -> serde_json::Value {
        if self.tls.is_none() {
            return serde_json::Value::Null;
        }
        let s = &self.tls_settings;
        let session = self.tls_session.get();
        serde_json::json!({
            "verification": s.verification(),
            "insecure": s.insecure,
            "ca_cert": s.ca_cert.as_ref().map(|p| p.display().to_string()),
            "version": session.map(|x| x.version.clone()),
            "cipher_suite": session.map(|x| x.cipher_suite.clone()),
            "alpn": session.and_then(|x| x.alpn.clone()),
            "handshakes": self.handshakes.load(Ordering::Relaxed),
            "resumed_handshakes": self.resumed_handshakes.load(Ordering::Relaxed),
        })
    }

    /// How the responses' bytes were timestamped (docs/metrics.md), for the results: the
    /// kernel's receive time, the time each read returned, or both (some connections each).
    pub fn timestamp_source(&self) -> &'static str {
        match (
            self.kernel_stamped.load(Ordering::Relaxed),
            self.read_stamped.load(Ordering::Relaxed),
        ) {
            (_, 0) => "kernel_receive_time",
            (0, _) => "read_time",
            _ => "mixed",
        }
    }

    /// Successful responses whose HTTP body did not end within [`exchange::DONE_GRACE`] after
    /// `data: [DONE]` (their connections were closed, not reused).
    pub fn unended_bodies(&self) -> usize {
        self.unended_bodies.load(Ordering::Relaxed)
    }

    /// The tokenizer counting output without usage.
    pub fn tokenizer(&self) -> Option<&TokenizerHandle> {
        self.tokenizer.as_deref()
    }

    /// The URL requests are sent to.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_base_urls() {
        let u = |s| endpoint_url(s, Endpoint::Completions).map(|u| u.to_string());
        assert_eq!(
            u("http://127.0.0.1:8000").unwrap(),
            "http://127.0.0.1:8000/v1/completions"
        );
        assert_eq!(
            u("http://127.0.0.1:8000/").unwrap(),
            "http://127.0.0.1:8000/v1/completions"
        );
        assert_eq!(
            u("http://127.0.0.1:8000/v1/").unwrap(),
            "http://127.0.0.1:8000/v1/completions"
        );
        assert_eq!(
            u("http://h/proxy/v1").unwrap(),
            "http://h/proxy/v1/completions"
        );
        assert_eq!(
            endpoint_url("http://h:1", Endpoint::Chat)
                .unwrap()
                .to_string(),
            "http://h:1/v1/chat/completions"
        );
        assert_eq!(u("https://h").unwrap(), "https://h/v1/completions");
        assert!(u("ftp://h").unwrap_err().to_string().contains("https://"));
        // Credentials never reach the URL shown, nor an error message.
        assert_eq!(
            u("http://user:pw1234@h:1/?token=tok5678").unwrap(),
            "http://h:1/v1/completions"
        );
        let e = u("ftp://user:pw1234@h/?token=tok5678")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw1234") && !e.contains("tok5678"), "{e}");
        assert!(u("localhost:8000").is_err());
        assert!(u("nonsense")
            .unwrap_err()
            .to_string()
            .contains("--base-url"));
    }
}
