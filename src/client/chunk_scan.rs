//! The fast paths of [`super::chunk::StreamChunk::parse`], hand-written because serde's generic
//! parsing was the largest user-space cost per token (~20 % of all samples at concurrency 4096;
//! docs/performance-client.md):
//!
//! - [`Shape`]: a chunk byte-identical to the stream's previous content chunk except for its
//!   text is read with two byte comparisons (most chunks of a vLLM stream);
//! - [`scan`]: a scanner for the common chunk shape, about 0.6× serde's time.
//!
//! The scanner accepts only a strict subset of JSON and answers `None` for everything else — any
//! backslash escape, any control character (even whitespace between tokens), a duplicate key of
//! interest, a number that is not a plain `u64`, nesting deeper than [`MAX_DEPTH`], any syntax
//! error — and then the caller parses the payload with serde, which has the final word (and the
//! error message). Where either answers `Some`, the result is the one serde would give; the tests
//! compare them on every shape the client knows and on variations.

use std::borrow::Cow;

use super::chunk::{StreamChunk, Usage};

/// Deepest nesting the scanner follows in values it skips.
const MAX_DEPTH: usize = 32;

struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

/// What a chunk's first choice carried.
#[derive(Default)]
struct Choice<'a> {
    text: Option<&'a str>,
    delta: Option<[Option<&'a str>; 3]>,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// A string without escapes (the payload holds no backslash: checked up front).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        // No escapes and no control characters anywhere (checked up front): the next quote
        // ends the string.
        let end = start + memchr::memchr(b'"', &self.b[start..])?;
        self.i = end + 1;
        // `text` is valid UTF-8 and quotes are ASCII: both ends are character boundaries.
        self.text.get(start..end)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.ws();
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// `null` → `Some(None)`, a string → `Some(Some(s))`, anything else → `None`.
    fn string_or_null(&mut self) -> Option<Option<&'a str>> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|_| None),
            b'"' => self.string().map(Some),
            _ => None,
        }
    }

    /// A JSON number, by the grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        self.ws();
        let b = self.b;
        let digits = |i: &mut usize| {
            let s = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > s
        };
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.i = i;
        Some(())
    }

    /// A plain unsigned integer that fits a `u64` (what serde accepts for one), or `null`.
    fn u64_or_null(&mut self) -> Option<Option<u64>> {
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|_| None);
        }
        let start = self.i;
        self.number()?;
        self.text.get(start..self.i)?.parse::<u64>().ok().map(Some)
    }

    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|s, _| s.skip(depth + 1)),
            b'[' => self.array(|s, _| s.skip(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// `{ "key": value, … }`, each value read by `field` (which must consume it).
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.list(b'{', b'}', |s, _| {
            let key = s.string()?;
            s.eat(b':')?;
            field(s, key)
        })
    }

    /// `[ value, … ]`, each element read by `element` with its index.
    fn array(&mut self, element: impl FnMut(&mut Self, usize) -> Option<()>) -> Option<()> {
        self.list(b'[', b']', element)
    }

    /// `open item, item, … close` (or `open close`), each item read by `item` with its index.
    fn list(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        if self.peek()? == close {
            self.i += 1;
            return Some(());
        }
        let mut n = 0;
        loop {
            item(self, n)?;
            n += 1;
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn choice(&mut self) -> Option<Choice<'a>> {
        let mut c = Choice::default();
        let (mut seen_text, mut seen_delta) = (false, false);
        self.object(|s, key| match key {
            "text" if !seen_text => {
                seen_text = true;
                c.text = s.string_or_null()?;
                Some(())
            }
            "delta" if !seen_delta => {
                seen_delta = true;
                if s.peek()? == b'n' {
                    return s.literal(b"null");
                }
                let mut d = [None; 3];
                let mut seen = [false; 3];
                s.object(|s, key| {
                    let k = match key {
                        "content" => 0,
                        "reasoning_content" => 1,
                        "reasoning" => 2,
                        _ => return s.skip(2),
                    };
                    if std::mem::replace(&mut seen[k], true) {
                        return None;
                    }
                    d[k] = s.string_or_null()?;
                    Some(())
                })?;
                c.delta = Some(d);
                Some(())
            }
            "text" | "delta" => None,
            _ => s.skip(1),
        })?;
        Some(c)
    }

    fn usage(&mut self) -> Option<Option<Usage>> {
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|_| None);
        }
        let mut u = Usage::default();
        let (mut seen_p, mut seen_c) = (false, false);
        self.object(|s, key| match key {
            "prompt_tokens" if !std::mem::replace(&mut seen_p, true) => {
                u.prompt_tokens = s.u64_or_null()?;
                Some(())
            }
            "completion_tokens" if !std::mem::replace(&mut seen_c, true) => {
                u.completion_tokens = s.u64_or_null()?;
                Some(())
            }
            "prompt_tokens" | "completion_tokens" => None,
            _ => s.skip(1),
        })?;
        Some(Some(u))
    }
}

/// Scans one `data:` payload (valid UTF-8, not `[DONE]`); `None`: parse it with serde instead.
pub fn scan(text: &str) -> Option<StreamChunk<'_>> {
    let b = text.as_bytes();
    // Escapes and control characters (invalid inside strings; as whitespace between tokens
    // legal but never seen in a one-line payload) go to serde. A branch-free pass vectorises.
    if b.iter()
        .fold(false, |bad, &c| bad | (c < 0x20) | (c == b'\\'))
    {
        return None;
    }
    let mut s = Scan { text, b, i: 0 };
    let mut choice: Option<Choice> = None;
    let mut usage: Option<Usage> = None;
    let mut error = false;
    let mut object_is_error = false;
    let mut seen = [false; 4];
    let mut once = |k: usize| !std::mem::replace(&mut seen[k], true);
    s.object(|s, key| match key {
        "choices" if once(0) => {
            if s.peek()? == b'n' {
                return s.literal(b"null");
            }
            s.array(|s, n| {
                if n == 0 {
                    choice = Some(s.choice()?);
                    Some(())
                } else {
                    s.skip(1)
                }
            })
        }
        "usage" if once(1) => {
            usage = s.usage()?;
            Some(())
        }
        "error" if once(2) => {
            if s.peek()? == b'n' {
                s.literal(b"null")
            } else {
                error = true;
                s.skip(1)
            }
        }
        "object" if once(3) => {
            object_is_error = s.string_or_null()? == Some("error");
            Some(())
        }
        "choices" | "usage" | "error" | "object" => None,
        _ => s.skip(1),
    })?;
    if s.peek().is_some() {
        return None; // trailing characters
    }
    let content = match choice {
        Some(Choice { text: Some(t), .. }) if !t.is_empty() => t,
        Some(Choice { delta: Some(d), .. }) => d
            .into_iter()
            .flatten()
            .find(|t| !t.is_empty())
            .unwrap_or(""),
        _ => "",
    };
    Some(StreamChunk {
        content: Cow::Borrowed(content),
        usage,
        is_error: error || object_is_error,
    })
}

/// The shape of a stream's last fully parsed content chunk: its bytes, and where the string that
/// gave its content starts and ends.
///
/// vLLM's chunks of one stream differ only in the new text: id, object, created, model, index,
/// logprobs, finish_reason and usage are byte-identical from one chunk to the next. So a chunk
/// that begins with the same bytes up to that string's opening quote, ends with the same bytes
/// from its closing quote, and has between them a plain string body (no quote, backslash or
/// control character; valid UTF-8) is the same JSON with only that string changed: its parse
/// is the remembered one with the new text as content. Two byte comparisons and a short scan
/// instead of a parse; anything else goes to `scan` (and serde).
#[derive(Debug, Default)]
pub struct Shape {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
    usage: Option<Usage>,
    is_error: bool,
    known: bool,
}

impl Shape {
    /// Remembers `chunk`, parsed from `data`, when its content is a non-empty string borrowed
    /// from `data` (reuses the buffer: no allocation once it is large enough).
    pub fn learn(&mut self, data: &[u8], chunk: &StreamChunk<'_>) {
        self.known = false;
        let Cow::Borrowed(content) = &chunk.content else {
            return;
        };
        if content.is_empty() {
            return;
        }
        let base = data.as_ptr() as usize;
        let start = (content.as_ptr() as usize).wrapping_sub(base);
        let end = start + content.len();
        // Only a string inside `data`, between quotes.
        if end > data.len() || start == 0 || data[start - 1] != b'"' || data.get(end) != Some(&b'"')
        {
            return;
        }
        self.bytes.clear();
        self.bytes.extend_from_slice(data);
        self.start = start;
        self.end = end;
        self.usage = chunk.usage;
        self.is_error = chunk.is_error;
        self.known = true;
    }

    /// The parse of `data` when it has the remembered shape with another (non-empty) text.
    pub fn matches<'a>(&self, data: &'a [u8]) -> Option<StreamChunk<'a>> {
        if !self.known {
            return None;
        }
        let (prefix, suffix) = (&self.bytes[..self.start], &self.bytes[self.end..]);
        if data.len() <= prefix.len() + suffix.len()
            || !data.starts_with(prefix)
            || !data.ends_with(suffix)
        {
            return None;
        }
        let mid = &data[prefix.len()..data.len() - suffix.len()];
        if mid.iter().fold(false, |bad, &c| {
            bad | (c < 0x20) | (c == b'"') | (c == b'\\')
        }) {
            return None;
        }
        Some(StreamChunk {
            content: Cow::Borrowed(std::str::from_utf8(mid).ok()?),
            usage: self.usage,
            is_error: self.is_error,
        })
    }
}
