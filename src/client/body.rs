//! Request bodies. Everything except the prompt and `max_tokens` is the same for every request,
//! so it is serialised once; each request then only escapes its prompt into a fresh buffer.

use serde_json::{Map, Value};

/// Which OpenAI API a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/completions`: the prompt is sent as is.
    Completions,
    /// `/v1/chat/completions`: the prompt is one user message.
    Chat,
}

impl Endpoint {
    /// The name recorded in config.json and the results.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Completions => "completions",
            Endpoint::Chat => "chat",
        }
    }
}

/// Keys `--extra-body` may not set, with the flag to use instead.
pub const RESERVED_KEYS: [(&str, &str); 6] = [
    ("stream", "streaming is always on"),
    ("model", "use --model"),
    ("prompt", "prompts come from the workload"),
    ("messages", "prompts come from the workload"),
    (
        "max_tokens",
        "use --max-tokens or the workload's output lengths",
    ),
    ("n", "one completion per request is measured"),
];

/// The sampling and streaming options shared by every request.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyOptions {
    pub endpoint: Endpoint,
    pub model: String,
    pub temperature: f64,
    pub top_p: f64,
    pub ignore_eos: bool,
    /// vLLM's `stream_options.continuous_usage_stats`: usage in every chunk.
    pub continuous_usage_stats: bool,
    /// `--extra-body`, merged last (a `stream_options` object is merged key by key).
    pub extra: Map<String, Value>,
}

/// The constant part of every body, pre-serialised.
#[derive(Debug, Clone)]
pub struct BodyTemplate {
    endpoint: Endpoint,
    /// The serialised shared fields without the opening brace: `"model":…}`.
    tail: Vec<u8>,
}

impl BodyTemplate {
    /// Requests go to `/v1/completions` (the prompt is sent as is, no chat template).
    pub fn is_completions(&self) -> bool {
        self.endpoint == Endpoint::Completions
    }

    pub fn new(o: &BodyOptions) -> BodyTemplate {
        BodyTemplate {
            endpoint: o.endpoint,
            tail: shared_fields(o),
        }
    }

    /// The JSON body of one request.
    pub fn render(&self, prompt: &str, max_tokens: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(prompt.len() + self.tail.len() + 64);
        match self.endpoint {
            Endpoint::Completions => {
                out.extend_from_slice(b"{\"prompt\":");
                write_json_str(&mut out, prompt);
            }
            Endpoint::Chat => {
                out.extend_from_slice(b"{\"messages\":[{\"role\":\"user\",\"content\":");
                write_json_str(&mut out, prompt);
                out.extend_from_slice(b"}]");
            }
        }
        out.extend_from_slice(b",\"max_tokens\":");
        out.extend_from_slice(max_tokens.to_string().as_bytes());
        out.push(b',');
        out.extend_from_slice(&self.tail);
        out
    }
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn shared_fields(o: &BodyOptions) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("model".into(), Value::from(o.model.clone()));
    m.insert("temperature".into(), Value::from(o.temperature));
    m.insert("top_p".into(), Value::from(o.top_p));
    if o.ignore_eos {
        m.insert("ignore_eos".into(), Value::Bool(true));
    }
    let mut so = Map::new();
    if o.continuous_usage_stats {
        so.insert("continuous_usage_stats".into(), Value::Bool(true));
    }
    for (k, v) in &o.extra {
        match (k.as_str(), v) {
            ("stream_options", Value::Object(extra_so)) => so.extend(extra_so.clone()),
            _ => {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    so.insert("include_usage".into(), Value::Bool(true));
    m.insert("stream_options".into(), Value::Object(so));
    m.insert("stream".into(), Value::Bool(true));
    let full = Value::Object(m).to_string();
    full.as_bytes()[1..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(endpoint: Endpoint, extra: &str) -> BodyOptions {
        BodyOptions {
            endpoint,
            model: "Org/m".into(),
            temperature: 0.7,
            top_p: 0.9,
            ignore_eos: true,
            continuous_usage_stats: false,
            extra: serde_json::from_str(extra).unwrap(),
        }
    }

    #[test]
    fn completions_body_has_every_field() {
        let t = BodyTemplate::new(&opts(Endpoint::Completions, "{}"));
        let v: Value = serde_json::from_slice(&t.render("say \"hi\"\n", 17)).unwrap();
        assert_eq!(v["prompt"], "say \"hi\"\n");
        assert_eq!(v["max_tokens"], 17);
        assert_eq!(v["model"], "Org/m");
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["ignore_eos"], true);
        assert_eq!(v["temperature"], 0.7);
        assert_eq!(v["top_p"], 0.9);
    }

    #[test]
    fn chat_body_and_extra_body_merge() {
        let mut o = opts(
            Endpoint::Chat,
            r#"{"top_p": 1.0, "seed": 3, "stream_options": {"continuous_usage_stats": true, "include_usage": false}}"#,
        );
        o.ignore_eos = false;
        let v: Value = serde_json::from_slice(&BodyTemplate::new(&o).render("q", 5)).unwrap();
        assert_eq!(
            v["messages"],
            serde_json::json!([{"role": "user", "content": "q"}])
        );
        assert_eq!(v["top_p"], 1.0);
        assert_eq!(v["seed"], 3);
        assert_eq!(v["stream_options"]["continuous_usage_stats"], true);
        assert_eq!(
            v["stream_options"]["include_usage"], true,
            "include_usage is always on"
        );
        assert!(v.get("ignore_eos").is_none());
    }
}
