//! HTTP/1.1 framing for the benchmark client: the request bytes, the response head and the
//! body decoders (chunked, content-length, close-delimited; the head through `httparse`). Pure
//! functions over byte slices; the I/O is in [`super::conn`].
//!
//! Hand-written rather than through a general HTTP client so that one read from the socket is
//! decoded and parsed in place by the task that owns the request: no per-chunk frame channel,
//! task wake-up or allocation between the socket and the SSE parser.

use std::fmt;

/// Largest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError(pub String);

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid HTTP response: {}", self.0)
    }
}

fn err<T>(m: impl Into<String>) -> Result<T, HttpError> {
    Err(HttpError(m.into()))
}

/// The request line and headers of a POST with a JSON body (the body follows).
pub fn request_head(path: &str, host: &str, auth: Option<&str>, content_length: usize) -> Vec<u8> {
    let mut h = String::with_capacity(256);
    h.push_str("POST ");
    h.push_str(path);
    h.push_str(" HTTP/1.1\r\nHost: ");
    h.push_str(host);
    h.push_str("\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nUser-Agent: modelbench/");
    h.push_str(env!("CARGO_PKG_VERSION"));
    if let Some(a) = auth {
        h.push_str("\r\nAuthorization: ");
        h.push_str(a);
    }
    h.push_str("\r\nContent-Length: ");
    h.push_str(&content_length.to_string());
    h.push_str("\r\n\r\n");
    h.into_bytes()
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Chunked,
    Length(u64),
    /// Until the server closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub body: BodyKind,
    /// The connection can carry another request after this response.
    pub keep_alive: bool,
    pub content_type: String,
}

/// Most header lines accepted in a response head.
const MAX_HEADERS: usize = 128;

/// Parses a response head from the start of `buf` (status line and headers by `httparse`):
/// `Ok(None)` while it is incomplete, else the head and its length in bytes (including the blank
/// line).
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Ok(None),
        Ok(_) => return err("response head larger than 64 KiB"),
        Err(e) => return err(format!("{e} in the response head {:?}", first_line(buf))),
    };
    let status = resp.code.unwrap_or(0);
    let mut keep_alive = resp.version == Some(1);
    // The last transfer coding, when the header is there (several headers are one list).
    let mut coding: Option<&[u8]> = None;
    let mut length: Option<u64> = None;
    let mut content_type = String::new();
    for h in resp.headers.iter() {
        let value = h.value.trim_ascii();
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            coding = value.rsplit(|&b| b == b',').next().map(<[u8]>::trim_ascii);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| {
                    HttpError(format!(
                        "content-length {:?}",
                        String::from_utf8_lossy(value)
                    ))
                })?;
            if length.is_some_and(|l| l != n) {
                return err("two different content-length headers");
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(value).to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("content-type") {
            content_type = String::from_utf8_lossy(value).into_owned();
        }
    }
    let body = if status == 204 || status == 304 || (100..200).contains(&status) {
        BodyKind::Length(0)
    } else if let Some(c) = coding {
        // RFC 9112 §6.3: a transfer coding overrides any Content-Length; a final coding other
        // than chunked is delimited by the close.
        if c.eq_ignore_ascii_case(b"chunked") {
            BodyKind::Chunked
        } else {
            keep_alive = false;
            BodyKind::Close
        }
    } else if let Some(n) = length {
        BodyKind::Length(n)
    } else {
        keep_alive = false;
        BodyKind::Close
    };
    Ok(Some((
        Head {
            status,
            body,
            keep_alive,
            content_type,
        },
        len,
    )))
}

/// The first line of a response head, shortened, for error messages.
fn first_line(buf: &[u8]) -> String {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(buf);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last (0-size) chunk: trailer lines until a blank one.
    Trailer,
    Done,
}

/// Incremental decoder of one response body.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    kind: BodyKind,
    state: State,
    /// Bytes left for a content-length body.
    left: u64,
}

impl BodyDecoder {
    pub fn new(kind: BodyKind) -> BodyDecoder {
        let left = if let BodyKind::Length(n) = kind { n } else { 0 };
        let state = if kind == BodyKind::Length(0) {
            State::Done
        } else {
            State::Size
        };
        BodyDecoder { kind, state, left }
    }

    /// The whole body was read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as possible, handing body data to `data`. Returns the bytes
    /// consumed; the rest (an incomplete chunk-size line) must be presented again with more bytes.
    pub fn decode<'a, E: From<HttpError>>(
        &mut self,
        input: &'a [u8],
        data: &mut impl FnMut(&'a [u8]) -> Result<(), E>,
    ) -> Result<usize, E> {
        match self.kind {
            BodyKind::Close => {
                if !input.is_empty() {
                    data(input)?;
                }
                Ok(input.len())
            }
            BodyKind::Length(_) => {
                let n = (self.left.min(input.len() as u64)) as usize;
                if n > 0 {
                    data(&input[..n])?;
                }
                self.left -= n as u64;
                if self.left == 0 {
                    self.state = State::Done;
                }
                Ok(n)
            }
            BodyKind::Chunked => self.decode_chunked(input, data),
        }
    }

    fn decode_chunked<'a, E: From<HttpError>>(
        &mut self,
        input: &'a [u8],
        data: &mut impl FnMut(&'a [u8]) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done => return Ok(pos),
                State::Size | State::Trailer => {
                    let Some(nl) = memchr::memchr(b'\n', rest) else {
                        if rest.len() > 4096 {
                            return Err(HttpError("chunk-size line too long".into()).into());
                        }
                        return Ok(pos);
                    };
                    let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
                    pos += nl + 1;
                    if self.state == State::Trailer {
                        if line.is_empty() {
                            self.state = State::Done;
                        }
                        continue;
                    }
                    let size = chunk_size(line).ok_or_else(|| {
                        HttpError(format!("chunk size {:?}", String::from_utf8_lossy(line)))
                    })?;
                    self.state = if size == 0 {
                        State::Trailer
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if rest.is_empty() {
                        return Ok(pos);
                    }
                    let n = (left.min(rest.len() as u64)) as usize;
                    data(&rest[..n])?;
                    pos += n;
                    self.state = if n as u64 == left {
                        State::DataEnd
                    } else {
                        State::Data(left - n as u64)
                    };
                }
                State::DataEnd => match rest {
                    [] | [b'\r'] => return Ok(pos),
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        self.state = State::Size;
                    }
                    [b'\n', ..] => {
                        pos += 1;
                        self.state = State::Size;
                    }
                    _ => return Err(HttpError("missing CRLF after chunk data".into()).into()),
                },
            }
        }
    }
}

/// The size in a chunk-size line: hex digits, optionally surrounded by blanks and followed by
/// `;extensions`. `None` when there are no digits, anything else is there, or it overflows.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let end = memchr::memchr(b';', line).unwrap_or(line.len());
    let hex = line[..end].trim_ascii();
    let zeros = hex.iter().take_while(|&&b| b == b'0').count();
    if hex.is_empty() || hex.len() - zeros > 16 {
        return None;
    }
    let mut size = 0u64;
    for &b in hex {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        size = (size << 4) | u64::from(d);
    }
    Some(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"1A;name=value"), Some(26));
        assert_eq!(chunk_size(b" ff \t"), Some(255));
        assert_eq!(chunk_size(b" ff \t;x"), Some(255));
        assert_eq!(chunk_size(b" ff "), Some(255));
        assert_eq!(chunk_size(b"0"), Some(0));
        assert_eq!(chunk_size(b"ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(chunk_size(b"10000000000000000"), None);
        assert_eq!(chunk_size(b"000000000000000001f"), Some(31));
        for bad in [&b""[..], b";x", b"+5", b"-1", b"0x10", b"1 2", b"g"] {
            assert_eq!(chunk_size(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    fn head(s: &str) -> Head {
        parse_head(s.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn parses_heads() {
        let h = head("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(
            (h.status, h.body, h.keep_alive),
            (200, BodyKind::Chunked, true)
        );
        assert!(h.content_type.starts_with("text/event-stream"));
        let h = head(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 12\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(
            (h.status, h.body, h.keep_alive),
            (500, BodyKind::Length(12), false)
        );
        let h = head("HTTP/1.0 200 OK\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyKind::Close, false));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nA: b\r\n").unwrap(), None);
        let (_, n) = parse_head(b"HTTP/1.1 204 No Content\r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!(n, 27);
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 abc\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n").is_err());
        // Hostile heads: conflicting lengths, a bad length, a coding other than chunked, a
        // 1 MiB header line.
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n")
                .is_err()
        );
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n").is_err());
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").body,
            BodyKind::Length(3)
        );
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyKind::Close, false));
        let h = head(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        );
        assert_eq!(h.body, BodyKind::Chunked);
        let mut big = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        big.resize(1 << 20, b'y');
        assert!(parse_head(&big).is_err());
        big.extend_from_slice(b"\r\n\r\n");
        assert!(parse_head(&big).is_err());
    }

    fn decode_all(kind: BodyKind, pieces: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut d = BodyDecoder::new(kind);
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for p in pieces {
            pending.extend_from_slice(p);
            let buf = pending.clone();
            let used = d
                .decode::<HttpError>(&buf, &mut |b: &[u8]| {
                    out.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            pending.drain(..used);
        }
        (out, d.is_done())
    }

    #[test]
    fn decodes_chunked_bodies_across_any_split() {
        let body = b"6\r\ndata: \r\n9;ext=1\r\n{\"a\":1}\n\n\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let want = b"data: {\"a\":1}\n\n".to_vec();
        assert_eq!(decode_all(BodyKind::Chunked, &[body]), (want.clone(), true));
        for cut in 0..body.len() {
            assert_eq!(
                decode_all(BodyKind::Chunked, &[&body[..cut], &body[cut..]]),
                (want.clone(), true),
                "cut {cut}"
            );
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(decode_all(BodyKind::Chunked, &bytes), (want, true));
        assert_eq!(
            decode_all(BodyKind::Chunked, &[b"5\r\nhel"]),
            (b"hel".to_vec(), false)
        );
    }

    #[test]
    fn length_and_close_bodies() {
        assert_eq!(
            decode_all(BodyKind::Length(5), &[b"hel", b"lo extra"]),
            (b"hello".to_vec(), true)
        );
        assert_eq!(
            decode_all(BodyKind::Close, &[b"ab", b"c"]),
            (b"abc".to_vec(), false)
        );
        assert!(BodyDecoder::new(BodyKind::Length(0)).is_done());
    }

    #[test]
    fn bad_chunk_framing_is_an_error() {
        let mut d = BodyDecoder::new(BodyKind::Chunked);
        let r = d.decode::<HttpError>(b"zz\r\n", &mut |_| Ok(()));
        assert!(r.is_err());
        let mut d = BodyDecoder::new(BodyKind::Chunked);
        let r = d.decode::<HttpError>(b"2\r\nabXX", &mut |_| Ok(()));
        assert!(r.is_err());
    }

    #[test]
    fn request_head_has_the_headers() {
        let h = String::from_utf8(request_head(
            "/v1/completions",
            "127.0.0.1:8000",
            Some("Bearer k"),
            42,
        ))
        .unwrap();
        assert!(h.starts_with("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"));
        assert!(h.contains("\r\nAuthorization: Bearer k\r\n"));
        assert!(h.ends_with("Content-Length: 42\r\n\r\n"));
    }
}
