//! The warm-up request: one short generation once the server says it is ready, so a server
//! that is "healthy" but cannot generate fails here with a clear reason, and first-request
//! initialisation is not part of the measured benchmark.

use std::time::Duration;

use serde_json::{json, Value};

use crate::cli::{BenchArgs, Endpoint};

/// Sends one short non-streaming request on the configured endpoint; `Err` says why it failed.
pub async fn warm_up(base_url: &str, args: &BenchArgs) -> Result<(), String> {
    let timeout = Duration::from_secs_f64(args.timeout.clamp(1.0, 3600.0));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let (path, mut body) = match args.endpoint {
        Endpoint::Completions => (
            "/v1/completions",
            json!({"model": args.model, "prompt": "Hello", "max_tokens": 4}),
        ),
        Endpoint::Chat => (
            "/v1/chat/completions",
            json!({"model": args.model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}),
        ),
    };
    if let Some(Ok(Value::Object(extra))) = args
        .extra_body
        .as_deref()
        .map(serde_json::from_str::<Value>)
    {
        if let Some(obj) = body.as_object_mut() {
            for (k, v) in extra {
                if !matches!(
                    k.as_str(),
                    "stream" | "stream_options" | "max_tokens" | "model"
                ) {
                    obj.insert(k, v);
                }
            }
        }
    }
    let mut req = client
        .post(format!("{base_url}{path}"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(key) = &args.api_key {
        req = req.bearer_auth(key);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("warm-up request to {path} failed: {e}"))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    let excerpt: String = text.chars().take(200).collect();
    Err(format!(
        "warm-up request to {path} answered HTTP {}: {}",
        status.as_u16(),
        excerpt.trim()
    ))
}
