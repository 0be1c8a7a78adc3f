//! One request, from the moment it is handed to the connection to its last byte.
//!
//! Each read from the socket is timestamped before it is decoded or parsed — with when its bytes
//! arrived ([`Conn::arrived`]: the kernel's receive time of the last segment read, on Linux) —
//! and every event completed by that read gets that timestamp. A content chunk is one whose first
//! choice has non-empty text (see [`super::chunk`]). The request succeeds only when
//! `data: [DONE]` arrives, and its timing ends there: the end of the HTTP body after it is waited
//! for at most [`DONE_GRACE`] (to reuse the connection), then the connection is closed. One
//! deadline (`--timeout`) covers the whole exchange; the phase it expired in decides between
//! `connect_timeout` and `read_timeout`.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::chunk::{Shape, StreamChunk};
use super::conn::{Conn, ConnectError};
use super::http1::{self, BodyDecoder, Head, HttpError};
use super::sse::SseParser;
use super::tls::{TlsFailKind, TlsFailure};
use super::Client;
use crate::records::{ErrorKind, Failure, Outcome, RequestRecord, TokenSource};
use crate::workload::{estimate_tokens, RequestSpec};

/// Characters of a response body or payload kept in an error message.
const EXCERPT_CHARS: usize = 300;
/// Bytes of an error response body read for the excerpt.
const EXCERPT_BYTES: usize = 2048;
/// How long the end of the HTTP body may lag `data: [DONE]` before the connection is closed
/// instead of kept (the request still counts, timed to `[DONE]`). Servers end the body in the
/// same write or right after (µs); a busy server's event loop may take some ms.
pub const DONE_GRACE: Duration = Duration::from_millis(250);
/// How long the body of an error response (status other than 200) is read for its excerpt.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(1);
/// Largest token count accepted in `usage` (2^40): above it, or when the counts do not add up
/// in a u64, the response is malformed (a wrapped or garbage counter, not a real count).
pub const MAX_USAGE_TOKENS: u64 = 1 << 40;
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
    /// The shape of the last content chunk (most chunks are read from it, not parsed).
    shape: Shape,
    /// The TLS handshake of the connection, when this request opened it.
    tls_handshake: Option<f64>,
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
        let chunk = StreamChunk::parse_in(data, &mut self.shape).map_err(|e| Failure {
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
            check_usage(u.prompt_tokens, completion).map_err(|message| Failure {
                kind: ErrorKind::MalformedSse,
                status: None,
                message,
            })?;
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
        self.content_chunks = self.content_chunks.saturating_add(1);
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

/// Token counts from `usage` that are real counts: each at most [`MAX_USAGE_TOKENS`] (so sums
/// over any run fit in a u64).
fn check_usage(prompt: Option<u64>, completion: Option<u64>) -> Result<(), String> {
    for (name, n) in [("prompt_tokens", prompt), ("completion_tokens", completion)] {
        if let Some(n) = n.filter(|&n| n > MAX_USAGE_TOKENS) {
            return Err(format!(
                "usage.{name} = {n} is not a token count (more than 2^40)"
            ));
        }
    }
    Ok(())
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

const CONNECTING: u8 = 0;
const WAITING: u8 = 1;
const STREAMING: u8 = 2;

impl From<super::sse::TooLarge> for Failure {
    fn from(e: super::sse::TooLarge) -> Failure {
        Failure {
            kind: ErrorKind::MalformedSse,
            status: None,
            message: e.to_string(),
        }
    }
}

impl From<HttpError> for Failure {
    fn from(e: HttpError) -> Failure {
        Failure {
            kind: ErrorKind::Other,
            status: None,
            message: e.to_string(),
        }
    }
}

fn tls_kind(k: TlsFailKind) -> ErrorKind {
    match k {
        TlsFailKind::Certificate => ErrorKind::TlsCertificate,
        TlsFailKind::Handshake => ErrorKind::TlsHandshake,
        TlsFailKind::Alert => ErrorKind::TlsAlert,
    }
}

/// The failure of a read error that is a TLS failure (an alert, a bad record), with its kind.
fn tls_failure(e: &std::io::Error) -> Option<Failure> {
    TlsFailure::in_io(e).map(|f| Failure {
        kind: tls_kind(f.kind),
        status: None,
        message: f.message.clone(),
    })
}

fn connect_failure(e: ConnectError) -> Failure {
    match e {
        ConnectError::Tls(kind, message) => Failure {
            kind: tls_kind(kind),
            status: None,
            message,
        },
        ConnectError::Failed(message) => Failure {
            kind: ErrorKind::ConnectError,
            status: None,
            message,
        },
        ConnectError::TimedOut(message) => Failure {
            kind: ErrorKind::ConnectTimeout,
            status: None,
            message,
        },
    }
}

fn timeout_failure(phase: u8, st: &StreamState, timeout: std::time::Duration) -> Failure {
    let secs = timeout.as_secs_f64();
    let (kind, message) = match phase {
        CONNECTING => (ErrorKind::ConnectTimeout, format!("not connected within the {secs} s timeout")),
        WAITING => (ErrorKind::ReadTimeout, format!("no response within the {secs} s timeout")),
        _ => (ErrorKind::ReadTimeout, format!("the stream did not finish within the {secs} s timeout ({} content chunks received)", st.content_chunks)),
    };
    Failure {
        kind,
        status: None,
        message,
    }
}

fn cut(message: String) -> Failure {
    Failure {
        kind: ErrorKind::StreamCut,
        status: None,
        message,
    }
}

/// Why sending a request on a connection failed before any byte of the response arrived.
enum RequestError {
    /// Nothing received: on a reused connection the server may have closed it while idle.
    NoResponse(String),
    /// Bytes that are not a response head: on a reused connection, possibly stray bytes left
    /// by the previous response.
    BadHead(Failure),
    Other(Failure),
}

/// Writes the request and reads the response head (skipping 1xx responses). Returns the head and
/// when the read that completed it returned.
async fn request(conn: &mut Conn, req: &[u8]) -> Result<(Head, Instant), RequestError> {
    conn.write_all(req)
        .await
        .map_err(|e| RequestError::NoResponse(format!("cannot send the request: {e}")))?;
    let mut received = false;
    let mut t = Instant::now();
    loop {
        if let Some((head, n)) =
            http1::parse_head(conn.buffered()).map_err(|e| RequestError::BadHead(e.into()))?
        {
            conn.consume(n);
            if (100..200).contains(&head.status) {
                continue;
            }
            return Ok((head, t));
        }
        let n = match conn.fill().await {
            Ok(n) => n,
            Err(e) if TlsFailure::in_io(&e).is_some() => {
                return Err(RequestError::Other(
                    tls_failure(&e).unwrap_or_else(|| cut(e.to_string())),
                ))
            }
            Err(e) if !received => {
                return Err(RequestError::NoResponse(format!(
                    "connection broke before the response: {e}"
                )))
            }
            Err(e) => {
                return Err(RequestError::Other(cut(format!(
                    "connection broke inside the response head: {e}"
                ))))
            }
        };
        t = conn.arrived();
        if n == 0 {
            let m = "the server closed the connection before answering".to_owned();
            return Err(if received {
                RequestError::Other(cut(m))
            } else {
                RequestError::NoResponse(m)
            });
        }
        received = true;
    }
}

/// Reads up to [`EXCERPT_BYTES`] of an error response's body.
/// Reads until `deadline` at most: a server may send the head of an error and never finish its
/// body, and the request then still fails with its HTTP status.
async fn body_excerpt(conn: &mut Conn, dec: &mut BodyDecoder, deadline: Instant) -> String {
    let mut buf = Vec::new();
    loop {
        let used = {
            let data = conn.buffered();
            dec.decode::<HttpError>(data, &mut |d: &[u8]| {
                buf.extend_from_slice(d);
                Ok(())
            })
        };
        match used {
            Ok(n) => conn.consume(n),
            Err(_) => break,
        }
        if dec.is_done()
            || buf.len() >= EXCERPT_BYTES
            || !matches!(tokio::time::timeout_at(deadline.into(), conn.fill()).await, Ok(Ok(n)) if n > 0)
        {
            break;
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
        let mut req = http1::request_head(
            &self.target.path,
            &self.target.host,
            self.auth.as_deref(),
            body.len(),
        );
        req.extend_from_slice(&body);
        drop(body);
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
            shape: Shape::default(),
            tls_handshake: None,
        };
        let phase = AtomicU8::new(CONNECTING);
        let outcome = tokio::time::timeout_at(
            (sent + self.timeout).into(),
            self.exchange(&req, &mut st, &phase),
        )
        .await;
        let result = match outcome {
            Ok(r) => r,
            Err(_) if st.done => Ok(()),
            Err(_) => Err(timeout_failure(
                phase.load(Ordering::Relaxed),
                &st,
                self.timeout,
            )),
        };
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
        // Without usage, the tokenizer counts the text after the run (count_deferred_output);
        // until then the chunk count stands in.
        let (output_tokens, output_source) = match st.usage_completion {
            Some(n) => (n, TokenSource::Usage),
            None => (u64::from(st.content_chunks), TokenSource::Chunks),
        };
        let needs_count = st.usage_completion.is_none() && self.tokenizer.is_some();
        let (output, uncounted_output) = match (self.save_text, needs_count) {
            (true, true) => (st.text.clone(), st.text),
            (true, false) => (st.text, None),
            (false, true) => (None, st.text),
            (false, false) => (None, None),
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
            requested_input_tokens: spec
                .prompt_tokens
                .filter(|_| self.template.is_completions())
                .map(u64::from),
            output_tokens,
            output_source,
            outcome: match result {
                Ok(()) => Outcome::Ok,
                // Messages quote server-supplied text (error bodies, payloads, heads), which
                // may echo the API key.
                Err(f) => Outcome::Failed(Failure {
                    message: crate::secrets::redact(&f.message).into_owned(),
                    ..f
                }),
            },
            prompt: self.save_text.then(|| spec.prompt.clone()),
            output,
            uncounted_output,
            tls_handshake: st.tls_handshake,
        }
    }
}

impl Client {
    /// Connection, request, response head, then the body decoded and parsed read by read.
    async fn exchange(
        &self,
        req: &[u8],
        st: &mut StreamState,
        phase: &AtomicU8,
    ) -> Result<(), Failure> {
        let mut retried = false;
        let (mut conn, head, head_t) = loop {
            phase.store(CONNECTING, Ordering::Relaxed);
            let pooled = if retried { None } else { self.pool.take() };
            let mut conn = match pooled {
                Some(c) => c,
                None => {
                    let mut c =
                        Conn::connect(&self.target, self.connect_timeout, self.tls.as_ref())
                            .await
                            .map_err(connect_failure)?;
                    if let Some(h) = c.handshake.take() {
                        st.tls_handshake = Some(h.as_secs_f64());
                        self.note_handshake(&c);
                    }
                    let opened = if c.kernel_rx_time() {
                        &self.kernel_stamped
                    } else {
                        &self.read_stamped
                    };
                    opened.fetch_add(1, Ordering::Relaxed);
                    c
                }
            };
            phase.store(WAITING, Ordering::Relaxed);
            match request(&mut conn, req).await {
                Ok((head, t)) => break (conn, head, t),
                // A kept-alive connection the server closed while idle, or that carried stray
                // bytes after its previous response: once more on a new one.
                Err(RequestError::NoResponse(_) | RequestError::BadHead(_))
                    if conn.reused && !retried =>
                {
                    retried = true
                }
                Err(RequestError::NoResponse(m)) => return Err(cut(m)),
                Err(RequestError::BadHead(f) | RequestError::Other(f)) => return Err(f),
            }
        };
        let mut dec = BodyDecoder::new(head.body);
        if head.status != 200 {
            let deadline = (Instant::now() + ERROR_BODY_WAIT).min(st.sent + self.timeout);
            let body = body_excerpt(&mut conn, &mut dec, deadline).await;
            if dec.is_done() && head.keep_alive {
                self.pool.put(conn);
            }
            let message = if body.is_empty() {
                format!("HTTP {}", head.status)
            } else {
                format!("HTTP {}: {body}", head.status)
            };
            return Err(Failure {
                kind: ErrorKind::HttpStatus,
                status: Some(head.status),
                message,
            });
        }
        phase.store(STREAMING, Ordering::Relaxed);
        st.last_byte = head_t;
        let mut parser = SseParser::new();
        let mut t = head_t;
        // Set when `[DONE]` arrived before the end of the body: the end is waited for until then.
        let mut grace_until: Option<Instant> = None;
        loop {
            let used = {
                let data = conn.buffered();
                dec.decode(data, &mut |d: &[u8]| {
                    if st.done {
                        return Ok(());
                    }
                    parser.feed(d, &mut |ev: &[u8]| st.on_event(ev, t))
                })
            };
            let used = match used {
                Ok(n) => n,
                // Broken framing after [DONE]: the request is complete, the connection unusable.
                Err(_) if st.done => {
                    self.unended_bodies.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(f) => return Err(f),
            };
            conn.consume(used);
            if dec.is_done() {
                break;
            }
            if st.done && grace_until.is_none() {
                grace_until = Some(Instant::now() + DONE_GRACE);
            }
            let read = match grace_until {
                None => conn.fill().await,
                Some(until) => match tokio::time::timeout_at(until.into(), conn.fill()).await {
                    Ok(r) => r,
                    Err(_) => {
                        // The body did not end after [DONE]: the request counts, the connection
                        // is closed (dropped here), and the run reports how often.
                        self.unended_bodies.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                },
            };
            match read {
                Ok(0) => break,
                Ok(_) => {
                    t = conn.arrived();
                    // Timing ends at [DONE]: bytes after it (the end of the body) move nothing.
                    if !st.done {
                        st.last_byte = t;
                    }
                }
                Err(_) if st.done => return Ok(()),
                Err(e) => {
                    return Err(cut(format!(
                        "connection broke after {} content chunks: {e}",
                        st.content_chunks
                    )))
                }
            }
        }
        // An unterminated last event only counts when the body itself ended properly.
        let complete = dec.is_done() || head.body == http1::BodyKind::Close;
        if !st.done && complete {
            parser.finish(&mut |ev: &[u8]| st.on_event(ev, t))?;
        }
        if dec.is_done() && head.keep_alive {
            self.pool.put(conn);
        }
        if st.done {
            Ok(())
        } else if !complete {
            Err(cut(format!(
                "the connection closed after {} content chunks, before data: [DONE]",
                st.content_chunks
            )))
        } else if parser.events == 0 {
            Err(Failure {
                kind: ErrorKind::MalformedSse,
                status: None,
                message: format!(
                    "the response holds no SSE event (content-type: {})",
                    head.content_type
                ),
            })
        } else {
            Err(cut(format!(
                "the stream ended before data: [DONE] after {} content chunks",
                st.content_chunks
            )))
        }
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
            shape: Shape::default(),
            tls_handshake: None,
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
    fn absurd_usage_counts_are_malformed() {
        let mut s = state();
        s.on_event(
            br#"{"choices":[],"usage":{"prompt_tokens":1099511627776,"completion_tokens":3}}"#,
            s.sent,
        )
        .unwrap();
        for bad in [
            &br#"{"choices":[],"usage":{"prompt_tokens":1099511627777,"completion_tokens":3}}"#[..],
            br#"{"choices":[{"text":"x"}],"usage":{"completion_tokens":18446744073709551615}}"#,
        ] {
            let f = state().on_event(bad, s.sent).unwrap_err();
            assert_eq!(f.kind, ErrorKind::MalformedSse);
            assert!(f.message.contains("2^40"), "{}", f.message);
        }
    }

    #[test]
    fn excerpts_are_short_and_single_line() {
        assert_eq!(excerpt(b"a\n  b\tc"), "a b c");
        let long = "y".repeat(1000);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), EXCERPT_CHARS + 1);
    }
}
