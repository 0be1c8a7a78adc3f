//! Stage 'client' of the benchmark data flow (see lib.rs): streaming requests to an
//! OpenAI-compatible server, timed as the bytes arrive.
//!
//! - [`body`]: request bodies (shared fields serialised once);
//! - [`sse`]: server-sent-event framing;
//! - [`chunk`]: the JSON of one streamed chunk (vLLM and llama.cpp shapes);
//! - [`exchange`]: one request from send to last byte → a [`crate::records::RequestRecord`].
//!
//! One `reqwest` client (HTTP/1.1, no proxy, pool sized to the concurrency) is shared by every
//! request; nothing on the per-chunk path takes a lock.

pub mod body;
pub mod chunk;
pub mod exchange;
pub mod sse;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::Url;

use crate::cli::Endpoint;
use crate::workload::TokenizerHandle;
pub use body::{BodyOptions, BodyTemplate};

/// The longest a TCP connect may take before the request fails as `connect_timeout`
/// (shorter when `--timeout` is shorter).
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--base-url {url:?}: {message}")]
    BaseUrl { url: String, message: String },
    #[error("--api-key: not usable in an HTTP header (control characters?)")]
    ApiKey,
    #[error("cannot create the HTTP client: {0}")]
    Build(String),
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
}

pub struct Client {
    http: reqwest::Client,
    url: Url,
    auth: Option<HeaderValue>,
    template: BodyTemplate,
    timeout: Duration,
    save_text: bool,
    tokenizer: Option<Arc<TokenizerHandle>>,
}

/// The API root: the base URL with `/v1` appended unless it already ends with it.
pub fn api_root(base_url: &str) -> Result<Url, ClientError> {
    let err = |message: &str| ClientError::BaseUrl {
        url: base_url.to_owned(),
        message: message.to_owned(),
    };
    let mut url = Url::parse(base_url.trim()).map_err(|e| err(&format!("not a URL ({e})")))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(err(
                "https is not supported (modelbench is built without TLS); use http://",
            ))
        }
        _ => return Err(err("expected an http:// URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err("no host"));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_owned();
    let path = if path.ends_with("/v1") {
        path
    } else {
        format!("{path}/v1")
    };
    url.set_path(&path);
    Ok(url)
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

impl Client {
    pub fn new(cfg: &ClientConfig) -> Result<Client, ClientError> {
        let url = endpoint_url(&cfg.base_url, cfg.body.endpoint)?;
        let auth = match &cfg.api_key {
            Some(k) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {k}"))
                    .map_err(|_| ClientError::ApiKey)?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .http1_only()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(cfg.max_connections.max(1))
            .connect_timeout(cfg.timeout.min(MAX_CONNECT_TIMEOUT))
            .user_agent(concat!("modelbench/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        Ok(Client {
            http,
            url,
            auth,
            template: BodyTemplate::new(&cfg.body),
            timeout: cfg.timeout,
            save_text: cfg.save_text,
            tokenizer: cfg.tokenizer.clone(),
        })
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
        assert!(u("https://h").unwrap_err().to_string().contains("TLS"));
        assert!(u("localhost:8000").is_err());
        assert!(u("nonsense")
            .unwrap_err()
            .to_string()
            .contains("--base-url"));
    }
}
