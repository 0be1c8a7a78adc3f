//! Stage 'records' of the benchmark data flow (see lib.rs): what was measured for one request.
//!
//! Every time is taken on the monotonic clock ([`Instant`]) when the bytes arrived, before any
//! parsing. Durations are kept in seconds relative to the request's actual send time; wall-clock
//! (epoch) values are only derived when writing results, through [`Clock`].
//! The definitions are written down in docs/metrics.md.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Pairs the monotonic clock with the wall clock once, at the start of a run, so that monotonic
/// instants can be reported as epoch seconds without reading the wall clock per request.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: Instant,
    pub start_epoch: f64,
}

impl Clock {
    pub fn now() -> Clock {
        let start_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Clock {
            start: Instant::now(),
            start_epoch,
        }
    }

    /// Epoch seconds of a monotonic instant.
    pub fn epoch(&self, t: Instant) -> f64 {
        if t >= self.start {
            self.start_epoch + (t - self.start).as_secs_f64()
        } else {
            self.start_epoch - (self.start - t).as_secs_f64()
        }
    }
}

/// Where a token count comes from, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenSource {
    /// The server's `usage` object.
    Usage,
    /// The model's tokenizer (`--tokenizer`), applied by the client.
    Tokenizer,
    /// Output only: the number of content chunks (one token per chunk assumed).
    Chunks,
    /// Input only: a word-count estimate (no usage, no tokenizer).
    Estimate,
    /// As another tool's result file records it (`import`; how that tool counted is in
    /// docs/metrics.md).
    Imported,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Usage => "usage",
            TokenSource::Tokenizer => "tokenizer",
            TokenSource::Chunks => "chunks",
            TokenSource::Estimate => "estimate",
            TokenSource::Imported => "imported",
        }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The server answered with a non-200 status.
    HttpStatus,
    /// The connection could not be made (refused, reset during connect, …).
    ConnectError,
    /// The connection was not made within the timeout.
    ConnectTimeout,
    /// Connected, but the response (headers or the rest of the stream) did not complete within
    /// the timeout.
    ReadTimeout,
    /// The stream ended (or the connection broke) before `data: [DONE]`.
    StreamCut,
    /// A `data:` payload that is not a JSON object, or a response that is not an SSE stream.
    MalformedSse,
    /// The server sent an error object inside the stream.
    ServerErrorEvent,
    /// Anything else reported by the HTTP stack.
    Other,
    /// `https://`: the server's certificate was not accepted.
    TlsCertificate,
    /// `https://`: the TLS handshake failed otherwise (not TLS, no common parameters, closed).
    TlsHandshake,
    /// `https://`: the server sent a fatal TLS alert.
    TlsAlert,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::HttpStatus,
        ErrorKind::ConnectError,
        ErrorKind::ConnectTimeout,
        ErrorKind::ReadTimeout,
        ErrorKind::StreamCut,
        ErrorKind::MalformedSse,
        ErrorKind::ServerErrorEvent,
        ErrorKind::Other,
        ErrorKind::TlsCertificate,
        ErrorKind::TlsHandshake,
        ErrorKind::TlsAlert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::ConnectError => "connect_error",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::ReadTimeout => "read_timeout",
            ErrorKind::StreamCut => "stream_cut",
            ErrorKind::MalformedSse => "malformed_sse",
            ErrorKind::ServerErrorEvent => "server_error_event",
            ErrorKind::Other => "other",
            ErrorKind::TlsCertificate => "tls_certificate",
            ErrorKind::TlsHandshake => "tls_handshake",
            ErrorKind::TlsAlert => "tls_alert",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request: its kind, the HTTP status when there was one, and a short message (for
/// HTTP errors, an excerpt of the response body).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub status: Option<u16>,
    pub message: String,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok,
    Failed(Failure),
    /// Still in flight when the run was interrupted and the grace period ran out.
    Cancelled,
}

/// Everything measured for one request.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Position in the phase's workload (0-based).
    pub index: usize,
    pub request_id: String,
    /// When the request was due (its arrival time in open loop, the moment a slot freed in
    /// closed loop).
    pub scheduled: Instant,
    /// Just before the request was handed to the HTTP client.
    pub sent: Instant,
    /// Seconds from `sent` to the first chunk with non-empty content.
    pub ttft: Option<f64>,
    /// Seconds from `sent` to the last chunk with non-empty content.
    pub last_content: Option<f64>,
    /// Seconds from `sent` to the last byte received up to `data: [DONE]` (bytes after it, the
    /// end of the HTTP body, do not count), or to the failure.
    pub e2e: f64,
    /// When the exchange was over: the response fully read (end of the HTTP body, or the grace
    /// after `[DONE]` ran out), or the failure.
    /// In closed loop the next request is due at this instant.
    pub done_at: Instant,
    /// Gaps between consecutive content chunks, seconds.
    pub gaps: Vec<f32>,
    /// Number of chunks with non-empty content.
    pub content_chunks: u32,
    /// Tokens carried by each content chunk, when the server sent usage in every chunk.
    pub chunk_tokens: Option<Vec<u32>>,
    pub input_tokens: Option<u64>,
    pub input_source: TokenSource,
    /// The prompt length the workload asked for (tokenizer-built completions prompts only:
    /// chat prompts get the server's template tokens on top), to check against the server's
    /// count.
    pub requested_input_tokens: Option<u64>,
    pub output_tokens: u64,
    pub output_source: TokenSource,
    pub outcome: Outcome,
    /// Prompt and generated text (only with `--save-text`).
    pub prompt: Option<String>,
    pub output: Option<String>,
    /// Output text still to be counted with the tokenizer (no usage from the server): counted
    /// by [`count_deferred_output`] once the run is over, never on the thread that reads the
    /// streams; until then `output_tokens` is the chunk count.
    pub uncounted_output: Option<String>,
    /// Seconds the TLS handshake of the request's connection took (TCP connected → handshake
    /// done), on the first request of each `https://` connection only; part of that request's
    /// TTFT and end-to-end latency, as the TCP connect is.
    pub tls_handshake: Option<f64>,
}

/// Counts the output of the records that are waiting for the tokenizer (the server sent no
/// usage), after the run: on the runtime's one thread during the run, a count would delay the
/// reads (and the timestamps) of every other stream.
pub fn count_deferred_output(
    records: &mut [RequestRecord],
    tokenizer: &crate::workload::TokenizerHandle,
) {
    for r in records {
        if let Some(text) = r.uncounted_output.take() {
            r.output_tokens = tokenizer.count(&text, false) as u64;
            r.output_source = TokenSource::Tokenizer;
        }
    }
}

impl RequestRecord {
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok)
    }

    /// Seconds between the scheduled and the actual send time (client-side queueing).
    pub fn schedule_delay(&self) -> f64 {
        self.sent
            .saturating_duration_since(self.scheduled)
            .as_secs_f64()
    }

    /// The users' `total_latency`: send → last content chunk (TTFT + the sum of the gaps); the
    /// end-to-end time when no content arrived.
    pub fn total_latency(&self) -> f64 {
        self.last_content.unwrap_or(self.e2e)
    }

    /// When the last byte arrived (or the request failed).
    pub fn end(&self) -> Instant {
        self.sent + Duration::from_secs_f64(self.e2e.max(0.0))
    }

    /// (last content chunk − first content chunk) / (output_tokens − 1), as vLLM's benchmark
    /// computes it: a usage chunk or `[DONE]` arriving after the last token does not count.
    /// `None` with fewer than two output tokens or no content.
    pub fn tpot(&self) -> Option<f64> {
        let (first, last) = (self.ttft?, self.last_content?);
        (self.output_tokens >= 2).then(|| (last - first) / (self.output_tokens - 1) as f64)
    }

    /// Mean of the gaps (the users' `avg_inter_token_latency`); `None` without gaps.
    pub fn avg_gap(&self) -> Option<f64> {
        if self.gaps.is_empty() {
            None
        } else {
            Some(self.gaps.iter().map(|&g| f64::from(g)).sum::<f64>() / self.gaps.len() as f64)
        }
    }

    /// output_tokens / total_latency (the users' per-request `tokens_per_second`).
    pub fn tokens_per_second(&self) -> Option<f64> {
        let t = self.total_latency();
        (t > 0.0).then(|| self.output_tokens as f64 / t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RequestRecord {
        let t = Instant::now();
        RequestRecord {
            index: 0,
            request_id: "r".into(),
            scheduled: t,
            sent: t + Duration::from_millis(2),
            ttft: Some(0.1),
            last_content: Some(0.4),
            e2e: 0.41,
            done_at: t,
            gaps: vec![0.1, 0.1, 0.1],
            content_chunks: 4,
            chunk_tokens: None,
            input_tokens: Some(10),
            input_source: TokenSource::Usage,
            requested_input_tokens: None,
            output_tokens: 4,
            output_source: TokenSource::Usage,
            outcome: Outcome::Ok,
            prompt: None,
            output: None,
            uncounted_output: None,
            tls_handshake: None,
        }
    }

    #[test]
    fn derived_values() {
        let r = record();
        assert!((r.schedule_delay() - 0.002).abs() < 1e-9);
        assert_eq!(r.total_latency(), 0.4);
        // Ends at the last content chunk (0.4), not at the last byte (0.41).
        assert!((r.tpot().unwrap() - (0.4 - 0.1) / 3.0).abs() < 1e-12);
        assert!((r.avg_gap().unwrap() - 0.1).abs() < 1e-6);
        assert!((r.tokens_per_second().unwrap() - 10.0).abs() < 1e-9);
        let one = RequestRecord {
            output_tokens: 1,
            gaps: vec![],
            ..record()
        };
        assert_eq!(one.tpot(), None);
        assert_eq!(one.avg_gap(), None);
    }

    #[test]
    fn clock_maps_instants_to_epoch() {
        let c = Clock::now();
        let later = c.start + Duration::from_millis(1500);
        assert!((c.epoch(later) - c.start_epoch - 1.5).abs() < 1e-6);
    }
}
