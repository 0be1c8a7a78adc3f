//! Prompts from files: `--prompts-file` (one prompt per line) and `--dataset sharegpt`.
//!
//! When more requests are asked for than the file holds, prompts are reused in order. Warm-up
//! requests take the prompts that follow the measured ones, so they do not warm the server's
//! prefix cache for the measured prompts when the file is long enough.

use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Deserialize;

use super::{
    estimate_tokens, item_seed, RequestSpec, TokenizerHandle, Workload, WorkloadError,
    WorkloadSpec, DEFAULT_DATASET_PROMPTS,
};

fn read(path: &Path) -> Result<Vec<u8>, WorkloadError> {
    super::read_input(path)
}

/// (prompt, max_tokens) items → measured and warm-up requests, cycling through the items.
fn split(
    items: &[(String, u32)],
    n: usize,
    warmup: usize,
    tok: Option<&TokenizerHandle>,
) -> (Vec<RequestSpec>, Vec<RequestSpec>) {
    let spec = |i: usize| {
        let (prompt, max_tokens) = &items[i % items.len()];
        RequestSpec {
            prompt: prompt.clone(),
            prompt_tokens: tok.map(|t| t.count(prompt, true) as u32),
            max_tokens: *max_tokens,
            arrival: None,
        }
    };
    (
        (0..n).map(spec).collect(),
        (n..n + warmup).map(spec).collect(),
    )
}

/// `--prompts-file F`: one prompt per line, blank lines skipped.
pub fn prompts_file(
    path: &Path,
    spec: &WorkloadSpec,
    tok: Option<&TokenizerHandle>,
) -> Result<Workload, WorkloadError> {
    let bytes = read(path)?;
    let text = String::from_utf8(bytes).map_err(|e| WorkloadError::Invalid {
        path: path.to_path_buf(),
        message: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })?;
    let items: Vec<(String, u32)> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .map(|l| (l.to_owned(), spec.max_tokens))
        .collect();
    if items.is_empty() {
        return Err(WorkloadError::Invalid {
            path: path.to_path_buf(),
            message: "no prompts (every line is blank)".into(),
        });
    }
    let n = spec.num_prompts.unwrap_or(items.len());
    let (measured, warmup) = split(&items, n, spec.warmup, tok);
    Ok(Workload {
        measured,
        warmup,
        approximate: None,
        inexact_prompts: 0,
    })
}

#[derive(Deserialize)]
struct Turn {
    #[serde(default)]
    from: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct Conversation {
    #[serde(default)]
    conversations: Vec<Turn>,
}

/// The first human turn and the reply that follows it.
fn first_exchange(c: Conversation) -> Option<(String, String)> {
    let mut turns = c.conversations.into_iter();
    let human = turns.by_ref().find(|t| t.from == "human")?;
    let reply = turns.next().filter(|t| t.from != "human")?;
    (!human.value.trim().is_empty() && !reply.value.trim().is_empty())
        .then_some((human.value, reply.value))
}

/// `--dataset sharegpt --dataset-path F`: the first human turn of each conversation is the
/// prompt; the reply's length is the output length unless `--output-len` is given.
/// Conversations are shuffled with the seed before the first `--num-prompts` are taken.
pub fn sharegpt(
    path: &Path,
    output_len: Option<u32>,
    spec: &WorkloadSpec,
    tok: Option<&TokenizerHandle>,
) -> Result<Workload, WorkloadError> {
    let bytes = read(path)?;
    let convs: Vec<Conversation> =
        serde_json::from_slice(&bytes).map_err(|e| WorkloadError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "not a ShareGPT JSON list of {{\"conversations\": [...]}} objects: {e}"
            ),
        })?;
    drop(bytes);
    let mut pairs: Vec<(String, String)> = convs.into_iter().filter_map(first_exchange).collect();
    if pairs.is_empty() {
        return Err(WorkloadError::Invalid {
            path: path.to_path_buf(),
            message: "no conversation with a human turn followed by a reply".into(),
        });
    }
    pairs.shuffle(&mut StdRng::seed_from_u64(item_seed(spec.seed, 21, 0)));
    let n = spec
        .num_prompts
        .unwrap_or(DEFAULT_DATASET_PROMPTS.min(pairs.len()));
    pairs.truncate(n + spec.warmup);
    let items: Vec<(String, u32)> = pairs
        .into_iter()
        .map(|(prompt, reply)| {
            let len = output_len.unwrap_or_else(|| match tok {
                Some(t) => t.count(&reply, false) as u32,
                None => estimate_tokens(&reply) as u32,
            });
            (prompt, len.max(1))
        })
        .collect();
    let (measured, warmup) = split(&items, n, spec.warmup, tok);
    let approximate = match (tok, output_len) {
        (Some(_), _) => None,
        (None, Some(_)) => Some("prompt token counts are estimates (no --tokenizer) until the server's usage arrives".into()),
        (None, None) => Some("output lengths are estimated from the reply text (about four characters per token; no --tokenizer)".into()),
    };
    Ok(Workload {
        measured,
        warmup,
        approximate,
        inexact_prompts: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadSource;

    fn spec(source: WorkloadSource, n: Option<usize>, warmup: usize) -> WorkloadSpec {
        WorkloadSpec {
            source,
            num_prompts: n,
            warmup,
            seed: 1,
            max_tokens: 33,
        }
    }

    #[test]
    fn prompts_file_skips_blank_lines_and_cycles() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.txt");
        std::fs::write(&p, "first\n\n  \nsecond\r\nthird\n").unwrap();
        let w = prompts_file(
            &p,
            &spec(WorkloadSource::PromptsFile(p.clone()), None, 1),
            None,
        )
        .unwrap();
        let prompts: Vec<_> = w.measured.iter().map(|r| r.prompt.as_str()).collect();
        assert_eq!(prompts, ["first", "second", "third"]);
        assert_eq!(w.warmup[0].prompt, "first");
        assert!(w
            .measured
            .iter()
            .all(|r| r.max_tokens == 33 && r.arrival.is_none()));
        let w = prompts_file(
            &p,
            &spec(WorkloadSource::PromptsFile(p.clone()), Some(5), 0),
            None,
        )
        .unwrap();
        assert_eq!(w.measured[4].prompt, "second");
        std::fs::write(&p, "\n \n").unwrap();
        assert!(prompts_file(
            &p,
            &spec(WorkloadSource::PromptsFile(p.clone()), None, 0),
            None
        )
        .is_err());
        let e = prompts_file(
            &d.path().join("nope.txt"),
            &spec(WorkloadSource::PromptsFile(p.clone()), None, 0),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("nope.txt"));
    }

    #[test]
    fn sharegpt_takes_first_exchange_and_reply_length() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json");
        std::fs::write(
            &p,
            r#"[{"id":"a","conversations":[{"from":"human","value":"hello there"},{"from":"gpt","value":"one two three four five six seven eight"}]},
                {"id":"b","conversations":[{"from":"gpt","value":"orphan"}]},
                {"id":"c","conversations":[{"from":"system","value":"sys"},{"from":"human","value":"q2"},{"from":"gpt","value":"abcdefgh"}]}]"#,
        )
        .unwrap();
        let s = spec(
            WorkloadSource::ShareGpt {
                path: p.clone(),
                output_len: None,
            },
            None,
            0,
        );
        let w = sharegpt(&p, None, &s, None).unwrap();
        assert_eq!(w.measured.len(), 2);
        let mut got: Vec<_> = w
            .measured
            .iter()
            .map(|r| (r.prompt.as_str(), r.max_tokens))
            .collect();
        got.sort();
        assert_eq!(got, [("hello there", 10), ("q2", 2)]);
        assert!(w.approximate.is_some());
        let w = sharegpt(&p, Some(7), &s, None).unwrap();
        assert!(w.measured.iter().all(|r| r.max_tokens == 7));
        std::fs::write(&p, "{\"not\": \"a list\"}").unwrap();
        assert!(sharegpt(&p, None, &s, None)
            .unwrap_err()
            .to_string()
            .contains("ShareGPT"));
    }
}
