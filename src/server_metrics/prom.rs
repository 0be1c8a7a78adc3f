//! A small parser of the Prometheus text exposition format (version 0.0.4), enough for vLLM's
//! `/metrics`: `# TYPE` lines, samples `name{label="value",...} value [timestamp]`.
//!
//! Hand-written rather than a crate: the maintained-looking `prometheus-parse` (0.2/0.3) matches
//! metric names with `\w+`, so every vLLM name (`vllm:num_requests_running`, with a `:`) is
//! silently dropped as an unparsable line, and it splits label sets on `,` and `=` (a label value
//! holding either breaks); it would also bring `regex`, `itertools` and `lazy_static` to build
//! on two cores. This one is ~150 lines and tested below.

/// The type a `# TYPE` line gave a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Other,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The name as written (`vllm:e2e_request_latency_seconds_bucket`).
    pub name: String,
    /// Label pairs in their written order.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed exposition: its samples, and the families' types.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub types: Vec<(String, Kind)>,
}

impl Exposition {
    pub fn kind(&self, family: &str) -> Option<Kind> {
        self.types
            .iter()
            .find(|(n, _)| n == family)
            .map(|(_, k)| *k)
    }
}

/// Why a body is not Prometheus text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: not a Prometheus sample: {text:?}")]
    BadLine { line: usize, text: String },
    #[error("no metric in the answer")]
    Empty,
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*` at the start of `s`: its length (0 if none).
fn name_len(s: &[u8]) -> usize {
    match s.first() {
        Some(&c) if is_name_start(c) => 1 + s[1..].iter().take_while(|&&c| is_name_char(c)).count(),
        _ => 0,
    }
}

/// A sample value: a float, `NaN`, `+Inf`, `-Inf`.
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// `{k="v",...}` at the start of `s` (which starts with `{`): the pairs and the bytes used.
fn parse_labels(s: &str) -> Option<(Vec<(String, String)>, usize)> {
    let b = s.as_bytes();
    let mut i = 1;
    let mut out = Vec::new();
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        if i < b.len() && b[i] == b'}' {
            return Some((out, i + 1));
        }
        let n = name_len(&b[i..]);
        if n == 0 {
            return None;
        }
        let key = s[i..i + n].to_owned();
        i += n;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            return None;
        }
        i += 1;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if b.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
        let mut value = String::new();
        loop {
            let c = *b.get(i)?;
            match c {
                b'"' => break,
                b'\\' => {
                    match *b.get(i + 1)? {
                        b'n' => value.push('\n'),
                        b'\\' => value.push('\\'),
                        b'"' => value.push('"'),
                        other => {
                            value.push('\\');
                            value.push(other as char);
                        }
                    }
                    i += 2;
                }
                _ => {
                    // Copy one UTF-8 character whole.
                    let ch = s[i..].chars().next()?;
                    value.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        i += 1;
        out.push((key, value));
    }
}

fn sample_line(line: &str) -> Option<Sample> {
    let n = name_len(line.as_bytes());
    if n == 0 {
        return None;
    }
    let name = line[..n].to_owned();
    let mut rest = &line[n..];
    let labels = if rest.starts_with('{') {
        let (l, used) = parse_labels(rest)?;
        rest = &rest[used..];
        l
    } else {
        Vec::new()
    };
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut parts = rest.split_whitespace();
    let value = parse_value(parts.next()?)?;
    // An optional timestamp (integer milliseconds), then nothing.
    if let Some(ts) = parts.next() {
        ts.parse::<i64>().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Parses a whole body. A line that is neither blank, a comment nor a sample makes the body
/// "not Prometheus text" (an HTML page, a JSON error); so does a body without any sample.
/// With `keep`, only the samples whose family (the name without `_bucket`/`_sum`/`_count`/
/// `_total`/`_created`) it accepts are kept (the others are still checked).
pub fn parse(body: &str, keep: impl Fn(&str) -> bool) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    let mut any = false;
    for (i, raw) in body.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut w = comment.split_whitespace();
            if w.next() == Some("TYPE") {
                if let (Some(name), Some(kind)) = (w.next(), w.next()) {
                    let kind = match kind {
                        "counter" => Kind::Counter,
                        "gauge" => Kind::Gauge,
                        "histogram" => Kind::Histogram,
                        _ => Kind::Other,
                    };
                    if keep(name) {
                        out.types.push((name.to_owned(), kind));
                    }
                }
            }
            continue;
        }
        let s = sample_line(line).ok_or_else(|| ParseError::BadLine {
            line: i + 1,
            text: line.chars().take(60).collect(),
        })?;
        any = true;
        if keep(family(&s.name)) {
            out.samples.push(s);
        }
    }
    if any {
        Ok(out)
    } else {
        Err(ParseError::Empty)
    }
}

/// The family a sample name belongs to: without the suffix a counter (`_total`, `_created`) or a
/// histogram (`_bucket`, `_sum`, `_count`) adds.
pub fn family(name: &str) -> &str {
    for suffix in ["_bucket", "_sum", "_count", "_total", "_created"] {
        if let Some(f) = name.strip_suffix(suffix) {
            return f;
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    const VLLM: &str = r#"# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="tiny"} 3.0
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="tiny"} 1024.0
vllm:prompt_tokens_created{engine="0",model_name="tiny"} 1.7e+09
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.001",model_name="tiny"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="tiny"} 4.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="tiny"} 4.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="tiny"} 0.1
python_gc_objects_collected_total{generation="0"} 1.0
"#;

    #[test]
    fn parses_vllm_names_with_colons_labels_and_inf() {
        let e = parse(VLLM, |_| true).unwrap();
        assert_eq!(e.samples.len(), 8);
        assert_eq!(e.samples[0].name, "vllm:num_requests_running");
        assert_eq!(e.samples[0].label("model_name"), Some("tiny"));
        assert_eq!(e.samples[0].value, 3.0);
        assert_eq!(e.samples[4].label("le"), Some("+Inf"));
        assert_eq!(
            e.kind("vllm:time_to_first_token_seconds"),
            Some(Kind::Histogram)
        );
        assert_eq!(e.kind("vllm:num_requests_running"), Some(Kind::Gauge));
        let kept = parse(VLLM, |f| f.starts_with("vllm:")).unwrap();
        assert_eq!(kept.samples.len(), 7);
        assert_eq!(family("vllm:prompt_tokens_total"), "vllm:prompt_tokens");
    }

    #[test]
    fn label_values_keep_commas_equals_and_escapes() {
        let e = parse(
            "m{a=\"x,y=z\",b=\"q\\\"\\\\\\n\"} 1 1700000000000\n",
            |_| true,
        )
        .unwrap();
        assert_eq!(e.samples[0].label("a"), Some("x,y=z"));
        assert_eq!(e.samples[0].label("b"), Some("q\"\\\n"));
    }

    #[test]
    fn html_json_and_empty_bodies_are_not_prometheus() {
        for body in [
            "<!DOCTYPE html><html><body>Not Found</body></html>",
            r#"{"detail":"Not Found"}"#,
            "m{a=\"unterminated} 1",
            "m 1 2 3",
            "m notanumber",
        ] {
            assert!(
                matches!(parse(body, |_| true), Err(ParseError::BadLine { .. })),
                "{body}"
            );
        }
        assert_eq!(
            parse("# only a comment\n\n", |_| true).unwrap_err(),
            ParseError::Empty
        );
    }
}
