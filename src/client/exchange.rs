//! One request, from the moment it is handed to the HTTP client to its last byte.
//!
//! Each read from the socket is timestamped (`Instant::now()`) before it is parsed; every event
//! completed by that read gets that timestamp. A content chunk is one whose first choice has
//! non-empty text (see [`super::chunk`]). The request succeeds only when `data: [DONE]` arrives.

use std::time::Instant;

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::StatusCode;

use super::chunk::StreamChunk;
use super::sse::SseParser;
use super::Client;
use crate::records::{ErrorKind, Failure, Outcome, RequestRecord, TokenSource};
use crate::workload::{estimate_tokens, RequestSpec};

/// Characters of a response body or payload kept in an error message.
const EXCERPT_CHARS: usize = 300;
/// Bytes of an error response body read for the excerpt.
const EXCERPT_BYTES: usize = 2048;
/// Text buffered per request is capped here (only used for token counting and --save-text).
const MAX_TEXT_PREALLOC: usize = 64 * 1024;

/// Per-request streaming state.
struct StreamState {
    sent: Instant,
    last_byte: Instant,
    ttft: Option<f64>,
    last_content: Option<Instant>,
    gaps: Vec<f32>,
    content_chunks: u32,
    /// Tokens per content chunk from usage deltas; `None` once a content chunk came without usage.
    chunk_tokens: Option<Vec<u32>>,
    attributed: u64,
    usage_prompt: Option<u64>,
    usage_completion: Option<u64>,
    text: Option<String>,
    done: bool,
}

impl StreamState {
    fn on_event(&mut self, data: &[u8], t: Instant) -> Result<(), Failure> {
        if self.done {
            return Ok(());
        }
        if data == b"[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk = StreamChunk::parse(data).map_err(|e| Failure {
            kind: ErrorKind::MalformedSse,
            status: None,
            message: format!("invalid JSON in a data: payload ({e}): {}", excerpt(data)),
        })?;
        if chunk.is_error {
            return Err(Failure {
                kind: ErrorKind::ServerErrorEvent,
                status: None,
                message: excerpt(data),
            });
        }
        let completion = chunk.usage.and_then(|u| u.completion_tokens);
        if let Some(u) = chunk.usage {
            self.usage_prompt = u.prompt_tokens.or(self.usage_prompt);
            self.usage_completion = completion.or(self.usage_completion);
        }
        if chunk.content.is_empty() {
            return Ok(());
        }
        match self.last_content {
            None => self.ttft = Some((t - self.sent).as_secs_f64()),
            Some(prev) => self.gaps.push((t - prev).as_secs_f32()),
        }
        self.last_content = Some(t);
        self.content_chunks += 1;
        if let Some(text) = &mut self.text {
            text.push_str(&chunk.content);
        }
        match (completion, &mut self.chunk_tokens) {
            (Some(c), Some(v)) => {
                v.push(c.saturating_sub(self.attributed).min(u64::from(u32::MAX)) as u32);
                self.attributed = c;
            }
            _ => self.chunk_tokens = None,
        }
        Ok(())
    }
}

fn excerpt(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let squashed: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if squashed.chars().count() > EXCERPT_CHARS {
        format!(
            "{}…",
            squashed.chars().take(EXCERPT_CHARS).collect::<String>()
        )
    } else {
        squashed
    }
}

/// The error and the messages of its sources, `: `-joined.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let m = x.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = x.source();
    }
    s
}

fn send_failure(e: &reqwest::Error) -> Failure {
    let kind = if e.is_connect() {
        if e.is_timeout() {
            ErrorKind::ConnectTimeout
        } else {
            ErrorKind::ConnectError
        }
    } else if e.is_timeout() {
        ErrorKind::ReadTimeout
    } else {
        ErrorKind::Other
    };
    Failure {
        kind,
        status: None,
        message: chain(e),
    }
}

fn body_failure(e: &reqwest::Error, content_chunks: u32) -> Failure {
    if e.is_timeout() {
        Failure {
            kind: ErrorKind::ReadTimeout,
            status: None,
            message: format!("timed out after {content_chunks} content chunks"),
        }
    } else {
        Failure {
            kind: ErrorKind::StreamCut,
            status: None,
            message: format!(
                "connection broke after {content_chunks} content chunks: {}",
                chain(e)
            ),
        }
    }
}

async fn body_excerpt(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < EXCERPT_BYTES {
        match resp.chunk().await {
            Ok(Some(b)) => buf.extend_from_slice(&b),
            _ => break,
        }
    }
    buf.truncate(EXCERPT_BYTES);
    excerpt(&buf)
}

impl Client {
    /// Sends one request and measures it. Never fails: a failed request is a record with
    /// [`Outcome::Failed`].
    pub async fn send(
        &self,
        index: usize,
        request_id: String,
        spec: &RequestSpec,
        scheduled: Instant,
    ) -> RequestRecord {
        let body = self.template.render(&spec.prompt, spec.max_tokens);
        let mut req = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .timeout(self.timeout)
            .body(body);
        if let Some(a) = &self.auth {
            req = req.header(reqwest::header::AUTHORIZATION, a.clone());
        }
        let keep_text = self.save_text || self.tokenizer.is_some();
        let sent = Instant::now();
        let mut st = StreamState {
            sent,
            last_byte: sent,
            ttft: None,
            last_content: None,
            gaps: Vec::with_capacity((spec.max_tokens as usize).min(16 * 1024)),
            content_chunks: 0,
            chunk_tokens: Some(Vec::new()),
            attributed: 0,
            usage_prompt: None,
            usage_completion: None,
            text: keep_text.then(|| {
                String::with_capacity((spec.max_tokens as usize * 4).min(MAX_TEXT_PREALLOC))
            }),
            done: false,
        };
        let result = stream(req, &mut st).await;
        let done_at = Instant::now();
        let end = if result.is_ok() {
            st.last_byte
        } else {
            done_at
        };
        self.record(
            index,
            request_id,
            spec,
            scheduled,
            st,
            (end, done_at),
            result,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        index: usize,
        request_id: String,
        spec: &RequestSpec,
        scheduled: Instant,
        st: StreamState,
        (end, done_at): (Instant, Instant),
        result: Result<(), Failure>,
    ) -> RequestRecord {
        let (output_tokens, output_source) = match (st.usage_completion, &self.tokenizer, &st.text)
        {
            (Some(n), _, _) => (n, TokenSource::Usage),
            (None, Some(t), Some(text)) => (t.count(text, false) as u64, TokenSource::Tokenizer),
            _ => (u64::from(st.content_chunks), TokenSource::Chunks),
        };
        let (input_tokens, input_source) = match (st.usage_prompt, spec.prompt_tokens) {
            (Some(n), _) => (n, TokenSource::Usage),
            (None, Some(n)) => (u64::from(n), TokenSource::Tokenizer),
            (None, None) => (estimate_tokens(&spec.prompt), TokenSource::Estimate),
        };
        let chunk_tokens = st
            .chunk_tokens
            .filter(|v| !v.is_empty() && v.len() == st.content_chunks as usize);
        RequestRecord {
            index,
            request_id,
            scheduled,
            sent: st.sent,
            ttft: st.ttft,
            last_content: st.last_content.map(|t| (t - st.sent).as_secs_f64()),
            e2e: (end - st.sent).as_secs_f64(),
            done_at,
            gaps: st.gaps,
            content_chunks: st.content_chunks,
            chunk_tokens,
            input_tokens: Some(input_tokens),
            input_source,
            output_tokens,
            output_source,
            outcome: match result {
                Ok(()) => Outcome::Ok,
                Err(f) => Outcome::Failed(f),
            },
            prompt: self.save_text.then(|| spec.prompt.clone()),
            output: if self.save_text { st.text } else { None },
        }
    }
}

async fn stream(req: reqwest::RequestBuilder, st: &mut StreamState) -> Result<(), Failure> {
    let resp = req.send().await.map_err(|e| send_failure(&e))?;
    let status = resp.status();
    if status != StatusCode::OK {
        let body = body_excerpt(resp).await;
        let message = if body.is_empty() {
            status.to_string()
        } else {
            format!("{status}: {body}")
        };
        return Err(Failure {
            kind: ErrorKind::HttpStatus,
            status: Some(status.as_u16()),
            message,
        });
    }
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    let mut resp = resp;
    let mut parser = SseParser::new();
    loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => {
                let t = Instant::now();
                if bytes.is_empty() {
                    continue;
                }
                st.last_byte = t;
                if !st.done {
                    parser.feed(&bytes, &mut |d: &[u8]| st.on_event(d, t))?;
                }
            }
            Ok(None) => break,
            Err(_) if st.done => break,
            Err(e) => return Err(body_failure(&e, st.content_chunks)),
        }
    }
    if !st.done {
        let t = st.last_byte;
        parser.finish(&mut |d: &[u8]| st.on_event(d, t))?;
    }
    if st.done {
        Ok(())
    } else if parser.events == 0 {
        Err(Failure {
            kind: ErrorKind::MalformedSse,
            status: None,
            message: format!("the response holds no SSE event (content-type: {content_type})"),
        })
    } else {
        Err(Failure {
            kind: ErrorKind::StreamCut,
            status: None,
            message: format!(
                "the stream ended before data: [DONE] after {} content chunks",
                st.content_chunks
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn state() -> StreamState {
        let t = Instant::now();
        StreamState {
            sent: t,
            last_byte: t,
            ttft: None,
            last_content: None,
            gaps: vec![],
            content_chunks: 0,
            chunk_tokens: Some(vec![]),
            attributed: 0,
            usage_prompt: None,
            usage_completion: None,
            text: Some(String::new()),
            done: false,
        }
    }

    #[test]
    fn content_chunks_give_ttft_gaps_and_tokens_per_chunk() {
        let mut s = state();
        let t0 = s.sent;
        let at = |ms| t0 + Duration::from_millis(ms);
        let u = |c| {
            format!(
                r#"{{"choices":[{{"text":"{}"}}],"usage":{{"prompt_tokens":3,"completion_tokens":{c}}}}}"#,
                "x".repeat(c)
            )
        };
        s.on_event(br#"{"choices":[{"delta":{"role":"assistant","content":""}}],"usage":{"prompt_tokens":3,"completion_tokens":0}}"#, at(5)).unwrap();
        s.on_event(u(1).as_bytes(), at(100)).unwrap();
        s.on_event(u(3).as_bytes(), at(130)).unwrap();
        s.on_event(u(4).as_bytes(), at(130)).unwrap();
        s.on_event(
            br#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
            at(131),
        )
        .unwrap();
        s.on_event(b"[DONE]", at(131)).unwrap();
        s.on_event(b"garbage after done is ignored", at(132))
            .unwrap();
        assert!(s.done);
        assert!((s.ttft.unwrap() - 0.1).abs() < 1e-9);
        assert_eq!(s.gaps.len(), 2);
        assert!((f64::from(s.gaps[0]) - 0.03).abs() < 1e-6 && s.gaps[1] == 0.0);
        assert_eq!(s.chunk_tokens, Some(vec![1, 2, 1]));
        assert_eq!(
            (s.usage_prompt, s.usage_completion, s.content_chunks),
            (Some(3), Some(4), 3)
        );
        assert_eq!(s.text.as_deref(), Some("xxxxxxxx"));
    }

    #[test]
    fn chunks_without_usage_make_per_chunk_tokens_unknown() {
        let mut s = state();
        s.on_event(br#"{"choices":[{"text":"a"}]}"#, s.sent)
            .unwrap();
        assert_eq!(s.chunk_tokens, None);
    }

    #[test]
    fn malformed_and_error_events_fail() {
        let mut s = state();
        let f = s.on_event(b"{\"choices\": [", s.sent).unwrap_err();
        assert_eq!(f.kind, ErrorKind::MalformedSse);
        let f = s
            .on_event(br#"{"error": {"message": "boom"}}"#, s.sent)
            .unwrap_err();
        assert_eq!(f.kind, ErrorKind::ServerErrorEvent);
        assert!(f.message.contains("boom"));
    }

    #[test]
    fn excerpts_are_short_and_single_line() {
        assert_eq!(excerpt(b"a\n  b\tc"), "a b c");
        let long = "y".repeat(1000);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), EXCERPT_CHARS + 1);
    }
}
