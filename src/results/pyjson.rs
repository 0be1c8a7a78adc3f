//! Python's `json.dump` writes bare `NaN`, `Infinity` and `-Infinity` for non-finite floats;
//! strict JSON parsers (serde_json included) reject them. [`PyJsonReader`] is a streaming
//! `Read` adapter that turns each such literal outside a string into a JSON string
//! (`"NaN"`, `"Infinity"`, `"-Infinity"`), which [`lenient_f64`] then reads back as a float.
//!
//! Hand-written rather than a crate: no maintained crate offers a streaming, allocation-free
//! rewrite for serde_json, and the grammar needed here is three words and string escapes.

use std::io::{self, Read};

use serde::{Deserialize, Deserializer};

const CHUNK: usize = 64 * 1024;

/// Streaming rewrite of Python's non-finite float literals into JSON strings.
pub struct PyJsonReader<R> {
    inner: R,
    input: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    in_string: bool,
    escape: bool,
    in_token: bool,
    /// A `-` outside a string at the end of the last chunk, not yet emitted.
    pending_minus: bool,
    eof: bool,
}

impl<R: Read> PyJsonReader<R> {
    pub fn new(inner: R) -> Self {
        PyJsonReader {
            inner,
            input: vec![0; CHUNK],
            out: Vec::with_capacity(CHUNK + 64),
            pos: 0,
            in_string: false,
            escape: false,
            in_token: false,
            pending_minus: false,
            eof: false,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.pos = 0;
        let n = loop {
            match self.inner.read(&mut self.input) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.eof = true;
            if self.pending_minus {
                self.out.push(b'-');
                self.pending_minus = false;
            }
            if self.in_token {
                self.out.push(b'"');
                self.in_token = false;
            }
            return Ok(());
        }
        let input = std::mem::take(&mut self.input);
        self.transform(&input[..n]);
        self.input = input;
        Ok(())
    }

    fn transform(&mut self, mut s: &[u8]) {
        let out = &mut self.out;
        if self.pending_minus {
            self.pending_minus = false;
            if s.first() == Some(&b'I') {
                out.extend_from_slice(b"\"-");
                self.in_token = true;
            } else {
                out.push(b'-');
            }
        }
        while !s.is_empty() {
            if self.in_string {
                if self.escape {
                    out.push(s[0]);
                    s = &s[1..];
                    self.escape = false;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', s) {
                    None => {
                        out.extend_from_slice(s);
                        s = &[];
                    }
                    Some(i) => {
                        out.extend_from_slice(&s[..=i]);
                        if s[i] == b'"' {
                            self.in_string = false;
                        } else {
                            self.escape = true;
                        }
                        s = &s[i + 1..];
                    }
                }
            } else if self.in_token {
                let end = s
                    .iter()
                    .position(|b| !b.is_ascii_alphabetic())
                    .unwrap_or(s.len());
                out.extend_from_slice(&s[..end]);
                s = &s[end..];
                if !s.is_empty() {
                    out.push(b'"');
                    self.in_token = false;
                }
            } else {
                match memchr::memchr3(b'"', b'N', b'I', s) {
                    None => {
                        if s.last() == Some(&b'-') {
                            out.extend_from_slice(&s[..s.len() - 1]);
                            self.pending_minus = true;
                        } else {
                            out.extend_from_slice(s);
                        }
                        s = &[];
                    }
                    Some(i) => {
                        out.extend_from_slice(&s[..i]);
                        if s[i] == b'"' {
                            out.push(b'"');
                            self.in_string = true;
                        } else {
                            if out.last() == Some(&b'-') {
                                out.pop();
                                out.extend_from_slice(b"\"-");
                            } else {
                                out.push(b'"');
                            }
                            out.push(s[i]);
                            self.in_token = true;
                        }
                        s = &s[i + 1..];
                    }
                }
            }
        }
    }
}

impl<R: Read> Read for PyJsonReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.out.len() {
            if self.eof {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A float that may also be `null`, or one of the strings written by [`PyJsonReader`]
/// (`"NaN"`, `"Infinity"`, `"-Infinity"`). Non-numeric strings are an error.
pub fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum F {
        Num(f64),
        Text(String),
    }
    match Option::<F>::deserialize(d)? {
        None => Ok(None),
        Some(F::Num(x)) => Ok(Some(x)),
        Some(F::Text(s)) => match s.as_str() {
            "NaN" => Ok(Some(f64::NAN)),
            "Infinity" => Ok(Some(f64::INFINITY)),
            "-Infinity" => Ok(Some(f64::NEG_INFINITY)),
            other => Err(serde::de::Error::custom(format!(
                "expected a number, found the string {other:?}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(s: &str) -> String {
        let mut out = String::new();
        PyJsonReader::new(s.as_bytes())
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    /// Rewrite with the input split at every position (chunk boundaries anywhere).
    fn rewrite_split(s: &str) -> Vec<String> {
        (0..=s.len())
            .map(|k| {
                let (a, b) = s.as_bytes().split_at(k);
                let mut out = String::new();
                PyJsonReader::new(a.chain(b))
                    .read_to_string(&mut out)
                    .unwrap();
                out
            })
            .collect()
    }

    #[test]
    fn rewrites_bare_literals_only() {
        let src = r#"{"a": NaN, "b": [Infinity, -Infinity, -1.5e-3], "c": "NaN Infinity \"x\\", "d": -2}"#;
        let want = r#"{"a": "NaN", "b": ["Infinity", "-Infinity", -1.5e-3], "c": "NaN Infinity \"x\\", "d": -2}"#;
        assert_eq!(rewrite(src), want);
        for got in rewrite_split(src) {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn token_at_end_of_input_is_closed() {
        assert_eq!(rewrite("NaN"), "\"NaN\"");
        assert_eq!(rewrite("-Infinity"), "\"-Infinity\"");
        assert_eq!(rewrite("[1,-"), "[1,-");
    }

    #[test]
    fn lenient_floats() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "lenient_f64")]
            v: Option<f64>,
        }
        let p =
            |s: &str| serde_json::from_reader::<_, T>(PyJsonReader::new(s.as_bytes())).map(|t| t.v);
        assert!(p(r#"{"v": NaN}"#).unwrap().unwrap().is_nan());
        assert_eq!(p(r#"{"v": -Infinity}"#).unwrap(), Some(f64::NEG_INFINITY));
        assert_eq!(p(r#"{"v": null}"#).unwrap(), None);
        assert_eq!(p(r#"{"v": 2.5}"#).unwrap(), Some(2.5));
        assert!(p(r#"{"v": "abc"}"#).is_err());
    }
}
