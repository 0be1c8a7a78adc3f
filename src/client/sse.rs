//! Server-sent events: splits a byte stream into events and hands each event's `data` to a
//! callback. Only what OpenAI-compatible streams use is interpreted: `data:` lines (several are
//! joined with `\n`), blank lines ending an event, `:` comments; other fields are ignored.
//!
//! The buffers are reused for the whole stream, so a steady stream does not allocate. A line or
//! an event's data longer than [`MAX_EVENT`] is an error ([`TooLarge`]): memory stays bounded
//! whatever the server sends.

/// Longest SSE line, and longest data of one event, accepted (16 MiB).
pub const MAX_EVENT: usize = 16 << 20;

/// A line or an event larger than [`MAX_EVENT`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an SSE line or event larger than 16 MiB")]
pub struct TooLarge;

/// Incremental SSE parser for one response.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// Data of the event being read.
    data: Vec<u8>,
    has_data: bool,
    /// Number of events dispatched so far.
    pub events: u64,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser {
            partial: Vec::with_capacity(512),
            data: Vec::with_capacity(512),
            has_data: false,
            events: 0,
        }
    }

    /// Feeds the next bytes of the stream; `on_event` gets the data of every event completed by
    /// them. Stops at the first error returned by `on_event`.
    pub fn feed<E: From<TooLarge>>(
        &mut self,
        mut bytes: &[u8],
        on_event: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Some(nl) = memchr::memchr(b'\n', bytes) {
            let (head, rest) = (&bytes[..nl], &bytes[nl + 1..]);
            bytes = rest;
            // The usual case, a whole one-line event (`data: X` and a blank line) with nothing
            // pending: X is handed over without being copied. Same result as the general path.
            if self.partial.is_empty() && !self.has_data {
                if let Some(value) = whole_data_event(head, rest) {
                    bytes = &rest[usize::from(rest[0] == b'\r') + 1..];
                    self.events += 1;
                    on_event(value)?;
                    continue;
                }
            }
            if self.partial.is_empty() {
                line(
                    head,
                    &mut self.data,
                    &mut self.has_data,
                    &mut self.events,
                    on_event,
                )?;
            } else {
                grow(&mut self.partial, head)?;
                let r = line(
                    &self.partial,
                    &mut self.data,
                    &mut self.has_data,
                    &mut self.events,
                    on_event,
                );
                self.partial.clear();
                r?;
            }
        }
        grow(&mut self.partial, bytes)?;
        Ok(())
    }

    /// The stream ended: an event not closed by a blank line is still dispatched (lenient).
    pub fn finish<E: From<TooLarge>>(
        &mut self,
        on_event: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.partial.is_empty() {
            let partial = std::mem::take(&mut self.partial);
            line(
                &partial,
                &mut self.data,
                &mut self.has_data,
                &mut self.events,
                on_event,
            )?;
        }
        line(
            b"",
            &mut self.data,
            &mut self.has_data,
            &mut self.events,
            on_event,
        )
    }
}

/// The value of `line` when it is a `data` field and `next` starts with the blank line that ends
/// the event.
fn whole_data_event<'a>(line: &'a [u8], next: &[u8]) -> Option<&'a [u8]> {
    if !(next.starts_with(b"\n") || next.starts_with(b"\r\n")) {
        return None;
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let value = line.strip_prefix(b"data:")?;
    Some(value.strip_prefix(b" ").unwrap_or(value))
}

/// Appends `bytes` to `buf` unless that makes it larger than [`MAX_EVENT`].
fn grow(buf: &mut Vec<u8>, bytes: &[u8]) -> Result<(), TooLarge> {
    if buf.len() + bytes.len() > MAX_EVENT {
        return Err(TooLarge);
    }
    buf.extend_from_slice(bytes);
    Ok(())
}

fn line<E: From<TooLarge>>(
    mut l: &[u8],
    data: &mut Vec<u8>,
    has_data: &mut bool,
    events: &mut u64,
    on_event: &mut impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    if let [rest @ .., b'\r'] = l {
        l = rest;
    }
    if l.is_empty() {
        if *has_data {
            *has_data = false;
            *events += 1;
            let r = on_event(data);
            data.clear();
            return r;
        }
        return Ok(());
    }
    if l[0] == b':' {
        return Ok(()); // comment / keep-alive
    }
    let (field, value) = match memchr::memchr(b':', l) {
        Some(i) => {
            let v = &l[i + 1..];
            (&l[..i], v.strip_prefix(b" ").unwrap_or(v))
        }
        None => (l, &b""[..]),
    };
    if field == b"data" {
        if *has_data {
            grow(data, b"\n")?;
        }
        grow(data, value)?;
        *has_data = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    impl From<TooLarge> for () {
        fn from(_: TooLarge) {}
    }

    fn events_of(pieces: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut cb = |d: &[u8]| -> Result<(), ()> {
            out.push(String::from_utf8(d.to_vec()).unwrap());
            Ok(())
        };
        for piece in pieces {
            p.feed(piece, &mut cb).unwrap();
        }
        p.finish(&mut cb).unwrap();
        out
    }

    #[test]
    fn splits_events_across_arbitrary_chunk_boundaries() {
        let stream =
            b"data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":2}\r\n\r\ndata:\n\ndata:  x\n\nevent: x\ndata:[DONE]\n\n";
        let want = vec!["{\"a\":1}", "{\"b\":2}", "", " x", "[DONE]"];
        assert_eq!(events_of(&[stream]), want);
        for cut in 0..stream.len() {
            assert_eq!(
                events_of(&[&stream[..cut], &stream[cut..]]),
                want,
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(events_of(&bytes), want);
    }

    #[test]
    fn joins_multiline_data_and_flushes_unterminated_event() {
        assert_eq!(
            events_of(&[b"data: a\ndata: b\n\ndata: c"]),
            vec!["a\nb", "c"]
        );
        assert_eq!(events_of(&[b"id: 1\nretry: 5\n\n"]), Vec::<String>::new());
    }

    #[test]
    fn callback_error_stops_feeding() {
        let mut p = SseParser::new();
        let mut n = 0;
        let r = p.feed(b"data: 1\n\ndata: 2\n\n", &mut |_d: &[u8]| {
            n += 1;
            Err(TooLarge)
        });
        assert_eq!((r, n), (Err(TooLarge), 1));
    }

    #[test]
    fn lines_and_events_over_16_mib_are_errors() {
        let mut cb = |_d: &[u8]| -> Result<(), TooLarge> { Ok(()) };
        // One line without its end, fed in pieces.
        let mut p = SseParser::new();
        let piece = vec![b'x'; 1 << 20];
        let mut r = p.feed(b"data: ", &mut cb);
        for _ in 0..17 {
            if r.is_err() {
                break;
            }
            r = p.feed(&piece, &mut cb);
        }
        assert_eq!(r, Err(TooLarge));
        assert!(p.partial.capacity() <= MAX_EVENT + (1 << 20));
        // Many data lines of one event.
        let mut p = SseParser::new();
        let mut lines = Vec::new();
        for _ in 0..5 {
            lines.extend_from_slice(b"data: ");
            lines.extend_from_slice(&[b'y'; 4 << 20]);
            lines.push(b'\n');
        }
        assert_eq!(p.feed(&lines, &mut cb), Err(TooLarge));
        // Up to the limit is fine (a line of 16 MiB with its `data: `).
        let mut p = SseParser::new();
        let mut ok = b"data: ".to_vec();
        ok.extend_from_slice(&vec![b'z'; MAX_EVENT - 6]);
        ok.extend_from_slice(b"\n\n");
        let mut n = 0;
        p.feed(&ok[..10], &mut cb).unwrap();
        p.feed(&ok[10..], &mut |d: &[u8]| -> Result<(), TooLarge> {
            n = d.len();
            Ok(())
        })
        .unwrap();
        assert_eq!(n, MAX_EVENT - 6);
    }
}
