//! One streamed JSON chunk of `/v1/completions` or `/v1/chat/completions`, read without building
//! a JSON tree: only the first choice's text (completion `text`, chat `delta.content`,
//! `delta.reasoning_content` or `delta.reasoning`), `usage` and an `error` marker are kept;
//! strings without escapes are borrowed from the input, everything else is skipped.
//!
//! Server differences handled here: vLLM (a final chunk with empty `choices` and `usage`; with
//! `continuous_usage_stats`, `usage` in every chunk) and llama.cpp (usage inside the finish chunk,
//! `content: null` in chat's first chunk, extra `timings` objects).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

pub use super::chunk_scan::Shape;

/// A string that borrows from the input when it has no escapes.
#[derive(Debug, Default, PartialEq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Debug, Default, Deserialize, PartialEq, Clone, Copy)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Text<'a>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Text<'a>>,
    #[serde(default, borrow)]
    reasoning: Option<Text<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    text: Option<Text<'a>>,
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
}

/// The first element of `choices` (requests use n = 1); the others are skipped.
#[derive(Debug, Default)]
struct FirstChoice<'a>(Option<Choice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FirstChoice<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of choices")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FirstChoice(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FirstChoice(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_seq(V)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first: Option<Choice<'de>> = seq.next_element()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        d.deserialize_option(V)
    }
}

#[derive(Debug, Default, Deserialize)]
struct RawChunk<'a> {
    #[serde(default, borrow)]
    choices: FirstChoice<'a>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<IgnoredAny>,
    #[serde(default, borrow)]
    object: Option<Text<'a>>,
}

/// What the client needs from one chunk.
#[derive(Debug, Default, PartialEq)]
pub struct StreamChunk<'a> {
    /// The first choice's new text; empty when the chunk carries none (role-only chunks,
    /// `content: null`, finish chunks, the usage chunk).
    pub content: Cow<'a, str>,
    pub usage: Option<Usage>,
    /// The server reported an error inside the stream.
    pub is_error: bool,
}

impl<'a> StreamChunk<'a> {
    /// Parses one `data:` payload (not `[DONE]`).
    pub fn parse(data: &'a [u8]) -> Result<StreamChunk<'a>, serde_json::Error> {
        // Validating UTF-8 once up front lets the parser borrow every string without checking
        // each one again (measurably cheaper than `from_slice`).
        if let Ok(text) = std::str::from_utf8(data) {
            if let Some(chunk) = super::chunk_scan::scan(text) {
                return Ok(chunk);
            }
        }
        Self::parse_with_serde(data)
    }

    /// [`StreamChunk::parse`] for the chunks of one stream: a chunk shaped like the stream's
    /// previous content chunk is read from that shape ([`Shape`]); others are parsed and, when
    /// they carry content, become the new shape.
    pub fn parse_in(
        data: &'a [u8],
        shape: &mut Shape,
    ) -> Result<StreamChunk<'a>, serde_json::Error> {
        if let Some(chunk) = shape.matches(data) {
            return Ok(chunk);
        }
        let chunk = Self::parse(data)?;
        shape.learn(data, &chunk);
        Ok(chunk)
    }

    /// The general path (also the reference the fast path is tested against).
    fn parse_with_serde(data: &'a [u8]) -> Result<StreamChunk<'a>, serde_json::Error> {
        let raw: RawChunk<'a> = match std::str::from_utf8(data) {
            Ok(text) => serde_json::from_str(text)?,
            Err(_) => serde_json::from_slice(data)?,
        };
        let is_error = raw.error.is_some() || raw.object.as_ref().is_some_and(|o| o.0 == "error");
        let content = match raw.choices.0 {
            Some(Choice {
                text: Some(Text(t)),
                ..
            }) if !t.is_empty() => t,
            Some(Choice { delta: Some(d), .. }) => [d.content, d.reasoning_content, d.reasoning]
                .into_iter()
                .flatten()
                .map(|t| t.0)
                .find(|t| !t.is_empty())
                .unwrap_or_default(),
            _ => Cow::Borrowed(""),
        };
        Ok(StreamChunk {
            content,
            usage: raw.usage,
            is_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> StreamChunk<'_> {
        StreamChunk::parse(s.as_bytes()).unwrap()
    }

    /// Every payload the client knows, plus variations: the fast scanner must either decline
    /// (`None`) or agree exactly with serde, and the public parser must agree with serde.
    const SHAPES: &[&str] = &[
        r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" hello","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}"#,
        r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"total_tokens":12,"completion_tokens":7}}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[]}]}}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
        r#"{"choices":[{"delta":{"reasoning_content":"hmm","content":null}}]}"#,
        r#"{"choices":[{"delta":{"reasoning":"r"}}]}"#,
        r#"{"choices":[{"delta":null,"text":null}]}"#,
        r#"{"choices":null,"usage":null,"error":null,"object":null}"#,
        r#"{"choices":[{"text":"a"},{"text":"b"},3,null]}"#,
        r#"{"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"created":1,"model":"tiny","object":"text_completion","usage":{"completion_tokens":16,"prompt_tokens":4,"total_tokens":20},"timings":{"prompt_n":4,"predicted_ms":12.5,"x":[1e5,-0.0,2E-3,true,false]}}"#,
        r#"{"error":{"object":"error","message":"boom","code":500}}"#,
        r#"{"object":"error","message":"boom"}"#,
        r#"{"error":0}"#,
        r#"{"error":[]}"#,
        " \n{ \"choices\" : [ { \"text\" : \"x y\" } ] , \"usage\" : { \"prompt_tokens\" : 0 } } \r\n",
        r#"{"choices":[{"text":"a\nb"}]}"#,
        r#"{"choices":[{"text":"\u00e9"}],"usage":null}"#,
        r#"{"choices":[{"text":"ünïcödé 字"}]}"#,
        r#"{}"#,
        // Declined by the scanner, decided by serde (an error or a value).
        r#"{"choices":[{"text":"a","text":"b"}]}"#,
        r#"{"usage":{"prompt_tokens":1,"prompt_tokens":2}}"#,
        r#"{"usage":{"prompt_tokens":-1}}"#,
        r#"{"usage":{"prompt_tokens":1.5}}"#,
        r#"{"usage":{"completion_tokens":1e3}}"#,
        r#"{"usage":{"completion_tokens":18446744073709551616}}"#,
        r#"{"usage":{"completion_tokens":"7"}}"#,
        r#"{"choices":[{"text":7}]}"#,
        r#"{"choices":[null]}"#,
        r#"{"choices":[["positional"]]}"#,
        r#"{"choices":{"text":"x"}}"#,
        r#"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#,
        r#"{"object":5}"#,
        r#"{"choices":[{"text":"x"}]} trailing"#,
        r#"{"choices":[{"text":"x"}],}"#,
        r#"{"a":01}"#,
        r#"{"a":1.}"#,
        r#"{"a":-}"#,
        r#"{"a":tru}"#,
        r#"{"a":[1,]}"#,
        r#"{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
        "{\"choices\":[{\"text\":\"tab\there\"}]}",
        r#"{"choices": [{"text": "x""#,
        "",
        "42",
        "not json",
        "[]",
    ];

    #[test]
    fn the_fast_scanner_agrees_with_serde_or_declines() {
        let mut scanned = 0;
        for shape in SHAPES {
            let reference = StreamChunk::parse_with_serde(shape.as_bytes());
            let public = StreamChunk::parse(shape.as_bytes());
            match (&reference, &public) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{shape}"),
                (Err(_), Err(_)) => {}
                _ => panic!("parse and serde disagree on {shape}: {reference:?} vs {public:?}"),
            }
            if let Some(fast) = super::super::chunk_scan::scan(shape) {
                scanned += 1;
                assert_eq!(Some(&fast), reference.as_ref().ok(), "{shape}");
            }
        }
        // The common shapes really take the fast path.
        assert!(scanned >= 14, "only {scanned} shapes scanned");
        for common in &SHAPES[..5] {
            assert!(super::super::chunk_scan::scan(common).is_some(), "{common}");
        }
    }

    /// A stream's shape: every chunk that differs from a learned one only in its text is read
    /// from the shape, and agrees with serde; anything else is parsed (and agrees too).
    #[test]
    fn shaped_chunks_agree_with_serde() {
        let texts = [
            "x",
            " next",
            "ünï 字",
            "",
            "a\"b",
            "a\\nb",
            "tab\there",
            "\"",
            "}]}",
            "\\",
        ];
        let mut from_shape = 0;
        for shape_src in SHAPES {
            let Ok(learned) = StreamChunk::parse(shape_src.as_bytes()) else {
                continue;
            };
            let Cow::Borrowed(content) = learned.content else {
                continue;
            };
            if content.is_empty() {
                continue;
            }
            let start = content.as_ptr() as usize - shape_src.as_ptr() as usize;
            let end = start + content.len();
            for t in texts {
                let mut shape = Shape::default();
                StreamChunk::parse_in(shape_src.as_bytes(), &mut shape).unwrap();
                let variant = format!("{}{t}{}", &shape_src[..start], &shape_src[end..]);
                let fast = shape.matches(variant.as_bytes());
                let got = StreamChunk::parse_in(variant.as_bytes(), &mut shape);
                let want = StreamChunk::parse_with_serde(variant.as_bytes());
                match (&got, &want) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{variant}"),
                    (Err(_), Err(_)) => {}
                    _ => panic!("{variant}: {got:?} vs serde {want:?}"),
                }
                if let Some(f) = fast {
                    from_shape += 1;
                    assert_eq!(Some(&f), want.as_ref().ok(), "{variant}");
                    assert_eq!(f.content, t);
                }
            }
        }
        assert!(
            from_shape >= 10,
            "only {from_shape} chunks read from a shape"
        );
        // A different chunk (another finish_reason, usage) is parsed, not matched.
        let mut shape = Shape::default();
        StreamChunk::parse_in(SHAPES[0].as_bytes(), &mut shape).unwrap();
        let last = SHAPES[0].replace(r#""finish_reason":null"#, r#""finish_reason":"length""#);
        assert!(shape.matches(last.as_bytes()).is_none());
        assert!(shape.matches(SHAPES[1].as_bytes()).is_none());
    }

    #[test]
    fn vllm_completion_and_usage_chunks() {
        let c = parse(
            r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" hello","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}"#,
        );
        assert_eq!(c.content, " hello");
        assert!(matches!(c.content, Cow::Borrowed(_)));
        assert_eq!((c.usage, c.is_error), (None, false));
        let u = parse(
            r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"total_tokens":12,"completion_tokens":7}}"#,
        );
        assert_eq!(u.content, "");
        assert_eq!(
            u.usage,
            Some(Usage {
                prompt_tokens: Some(5),
                completion_tokens: Some(7)
            })
        );
        let esc = parse(r#"{"choices":[{"text":"a\nb"}]}"#);
        assert_eq!(esc.content, "a\nb");
    }

    #[test]
    fn chat_deltas_and_reasoning() {
        assert_eq!(
            parse(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#).content,
            ""
        );
        // llama.cpp: first chat chunk has content null
        assert_eq!(parse(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}],"created":1,"id":"chatcmpl-x"}"#).content, "");
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"content":"Hi"}}]}"#).content,
            "Hi"
        );
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"reasoning_content":"hmm","content":null}}]}"#).content,
            "hmm"
        );
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"reasoning":"r"}}]}"#).content,
            "r"
        );
    }

    #[test]
    fn llama_cpp_finish_chunk_with_usage_and_timings() {
        let c = parse(
            r#"{"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"created":1,"model":"tiny","object":"text_completion","usage":{"completion_tokens":16,"prompt_tokens":4,"total_tokens":20},"timings":{"prompt_n":4,"predicted_ms":12.5}}"#,
        );
        assert_eq!(c.content, "");
        assert_eq!(c.usage.unwrap().completion_tokens, Some(16));
    }

    #[test]
    fn errors_and_malformed_payloads() {
        assert!(parse(r#"{"error":{"object":"error","message":"boom","code":500}}"#).is_error);
        assert!(parse(r#"{"object":"error","message":"boom"}"#).is_error);
        assert!(!parse(r#"{"error":null,"choices":null}"#).is_error);
        assert!(StreamChunk::parse(b"{\"choices\": [{\"text\": \"x\"").is_err());
        assert!(StreamChunk::parse(b"42").is_err());
        assert!(StreamChunk::parse(b"not json").is_err());
    }
}
