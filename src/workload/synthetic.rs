//! Synthetic prompts of a given token length: `--dataset random`, and the prompts of a trace.
//!
//! With a tokenizer, each prompt is decoded from random token ids and adjusted until it
//! re-encodes to exactly the requested length. Without one, a prompt of N "tokens" is N common
//! English words (most are one token in BPE vocabularies), and the results say so.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::{
    item_seed, RequestSpec, TokenizerHandle, Workload, WorkloadError, WorkloadSpec,
    DEFAULT_DATASET_PROMPTS,
};

/// Seed streams, so warm-up and measured prompts never repeat each other.
const STREAM_MEASURED: u64 = 1;
const STREAM_WARMUP: u64 = 2;
const STREAM_LENGTHS: u64 = 3;

const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "for", "that", "with", "on", "as", "by", "at", "from",
    "this", "are", "be", "it", "an", "or", "was", "which", "not", "have", "has", "but", "all",
    "can", "more", "one", "new", "time", "also", "other", "about", "their", "there", "when",
    "been", "into", "some", "than", "first", "only", "year", "most", "over", "such", "after",
    "data", "work", "system", "model", "city", "water", "light", "music", "house", "world",
    "number", "part", "group", "small", "large", "early", "later", "north", "south", "river",
    "table", "paper", "value", "order", "point", "field", "market", "energy", "school", "family",
    "story", "level", "power", "money", "night", "green", "black", "white", "red", "blue", "round",
    "open", "short", "long", "high", "low", "fast", "slow", "hard", "soft",
];

/// The text and measured length of one synthetic prompt of `len` tokens.
pub(crate) struct Prompt {
    pub text: String,
    pub tokens: Option<u32>,
    pub exact: bool,
}

pub(crate) fn prompt_of_len(len: u32, seed: u64, tok: Option<&TokenizerHandle>) -> Prompt {
    let mut rng = StdRng::seed_from_u64(seed);
    match tok {
        Some(t) => {
            let (text, n, exact) = t.exact_prompt(len as usize, &mut rng);
            Prompt {
                text,
                tokens: Some(n as u32),
                exact,
            }
        }
        None => {
            let mut text = String::with_capacity(len as usize * 6);
            for i in 0..len.max(1) {
                if i > 0 {
                    text.push(' ');
                }
                text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
            }
            Prompt {
                text,
                tokens: None,
                exact: true,
            }
        }
    }
}

/// Builds prompts for (length, max_tokens, arrival) shapes in parallel, deterministically.
pub(crate) fn prompts_for(
    shapes: &[(u32, u32, Option<f64>)],
    seed: u64,
    stream: u64,
    tok: Option<&TokenizerHandle>,
) -> (Vec<RequestSpec>, usize) {
    let built: Vec<(RequestSpec, bool)> = shapes
        .par_iter()
        .enumerate()
        .map(|(i, &(len, max_tokens, arrival))| {
            let p = prompt_of_len(len, item_seed(seed, stream, i), tok);
            (
                RequestSpec {
                    prompt: p.text,
                    prompt_tokens: p.tokens,
                    max_tokens,
                    arrival,
                },
                p.exact,
            )
        })
        .collect();
    let inexact = built.iter().filter(|(_, exact)| !exact).count();
    (built.into_iter().map(|(s, _)| s).collect(), inexact)
}

/// A length drawn uniformly from [len·(1−r), len·(1+r)], at least 1.
fn draw_len(len: u32, r: f64, rng: &mut StdRng) -> u32 {
    if r <= 0.0 {
        return len.max(1);
    }
    let lo = (f64::from(len) * (1.0 - r)).floor().max(1.0) as u32;
    let hi = (f64::from(len) * (1.0 + r)).ceil().max(f64::from(lo)) as u32;
    rng.random_range(lo..=hi)
}

/// `--dataset random`.
pub fn random(
    input_len: u32,
    output_len: u32,
    range_ratio: f64,
    spec: &WorkloadSpec,
    tok: Option<&TokenizerHandle>,
) -> Result<Workload, WorkloadError> {
    let n = spec.num_prompts.unwrap_or(DEFAULT_DATASET_PROMPTS);
    let mut rng = StdRng::seed_from_u64(item_seed(spec.seed, STREAM_LENGTHS, 0));
    let mut shapes = |count: usize| -> Vec<(u32, u32, Option<f64>)> {
        (0..count)
            .map(|_| {
                (
                    draw_len(input_len, range_ratio, &mut rng),
                    draw_len(output_len, range_ratio, &mut rng),
                    None,
                )
            })
            .collect()
    };
    let measured_shapes = shapes(n);
    let warmup_shapes = shapes(spec.warmup);
    let (measured, inexact) = prompts_for(&measured_shapes, spec.seed, STREAM_MEASURED, tok);
    let (warmup, _) = prompts_for(&warmup_shapes, spec.seed, STREAM_WARMUP, tok);
    Ok(Workload {
        measured,
        warmup,
        approximate: no_tokenizer_note(tok),
        inexact_prompts: inexact,
    })
}

pub(crate) fn no_tokenizer_note(tok: Option<&TokenizerHandle>) -> Option<String> {
    tok.is_none().then(|| {
        "prompt lengths are approximate (no --tokenizer): a prompt of N tokens is N common English words".to_owned()
    })
}

/// Seed streams used by traces (shared constants so trace prompts differ from random ones).
pub(crate) const TRACE_STREAMS: (u64, u64) = (11, 12);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadSource;

    fn spec(n: usize, warmup: usize) -> WorkloadSpec {
        WorkloadSpec {
            source: WorkloadSource::Random {
                input_len: 32,
                output_len: 8,
                range_ratio: 0.0,
            },
            num_prompts: Some(n),
            warmup,
            seed: 5,
            max_tokens: 1024,
        }
    }

    #[test]
    fn random_without_tokenizer_is_approximate_and_deterministic() {
        let a = random(32, 8, 0.0, &spec(10, 2), None).unwrap();
        let b = random(32, 8, 0.0, &spec(10, 2), None).unwrap();
        assert_eq!(a.measured, b.measured);
        assert_eq!((a.measured.len(), a.warmup.len()), (10, 2));
        assert!(a.approximate.is_some());
        for r in &a.measured {
            assert_eq!(r.prompt.split_whitespace().count(), 32);
            assert_eq!(r.max_tokens, 8);
            assert_eq!(r.prompt_tokens, None);
        }
        assert_ne!(a.measured[0].prompt, a.measured[1].prompt);
        assert!(!a.measured.contains(&a.warmup[0]));
    }

    #[test]
    fn random_with_tokenizer_is_exact() {
        let d = tempfile::tempdir().unwrap();
        crate::workload::tokenizer::tests::write_test_tokenizer(d.path());
        let t = TokenizerHandle::load(d.path()).unwrap();
        let w = random(40, 8, 0.5, &spec(12, 0), Some(&t)).unwrap();
        assert!(w.approximate.is_none());
        let mut lens = std::collections::BTreeSet::new();
        for r in &w.measured {
            let n = t.count(&r.prompt, true) as u32;
            assert_eq!(Some(n), r.prompt_tokens);
            assert!((20..=60).contains(&n), "{n}");
            assert!((4..=12).contains(&r.max_tokens));
            lens.insert(n);
        }
        assert!(lens.len() > 1, "range ratio varies the lengths");
    }
}
