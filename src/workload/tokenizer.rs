//! The model's tokenizer (HF `tokenizer.json`, through the `tokenizers` crate): token counts and
//! prompts of an exact token length.
//!
//! Lengths count the special tokens the tokenizer adds (e.g. BOS), as the server does for a
//! completions prompt, so a `--input-len 128` prompt is reported by vLLM as 128 prompt tokens.
//! For chat requests the server adds its chat template around the prompt; those tokens are not
//! part of the requested length.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::Rng;
use rayon::prelude::*;

use super::WorkloadError;

/// Round trips (decode → encode → adjust) tried before giving up on an exact length.
const MAX_ROUNDS: usize = 24;

pub struct TokenizerHandle {
    tok: tokenizers::Tokenizer,
    pub path: PathBuf,
    /// Token ids that random prompts are drawn from (the vocabulary minus added/special tokens).
    sampleable: Vec<u32>,
    /// Tokens the tokenizer adds around any input (BOS, EOS, …).
    added_per_input: usize,
    /// "Word" tokens (a space then letters) with their text, when any concatenation of them is
    /// known to re-encode to exactly the same ids (see [`word_tokens`]); empty otherwise.
    words: Vec<String>,
}

impl std::fmt::Debug for TokenizerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenizerHandle")
            .field("path", &self.path)
            .finish()
    }
}

impl TokenizerHandle {
    /// Loads `tokenizer.json`, or `<dir>/tokenizer.json` when `path` is a folder.
    pub fn load(path: &Path) -> Result<TokenizerHandle, WorkloadError> {
        let err = |message: String| WorkloadError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        let file = if path.is_dir() {
            path.join("tokenizer.json")
        } else {
            path.to_path_buf()
        };
        if !file.is_file() {
            return Err(err(if path.is_dir() {
                "the folder has no tokenizer.json".into()
            } else {
                "no such file".into()
            }));
        }
        let tok = tokenizers::Tokenizer::from_file(&file)
            .map_err(|e| err(format!("not a usable tokenizer.json: {e}")))?;
        let added = tok.get_added_tokens_decoder();
        let vocab = tok.get_vocab_size(true) as u32;
        let candidates: Vec<u32> = (0..vocab)
            .filter(|id| !added.contains_key(id) && tok.id_to_token(*id).is_some())
            .collect();
        if candidates.is_empty() {
            return Err(err("the vocabulary is empty".into()));
        }
        // Prefer tokens that survive a round trip on their own (decoded text re-encodes to the
        // same single id): random prompts built from them need fewer adjustment rounds.
        let stable: Vec<u32> = candidates
            .par_iter()
            .copied()
            .filter(|&id| {
                tok.decode(&[id], true)
                    .ok()
                    .filter(|t| !t.trim().is_empty())
                    .and_then(|t| tok.encode_fast(t.as_str(), false).ok())
                    .is_some_and(|e| e.get_ids() == [id])
            })
            .collect();
        let sampleable = if stable.len() >= 16 {
            stable
        } else {
            candidates
        };
        let added_per_input = tok
            .encode("", true)
            .map(|e| e.len())
            .map_err(|e| err(e.to_string()))?;
        let words = word_tokens(&tok, &sampleable);
        Ok(TokenizerHandle {
            tok,
            path: file,
            sampleable,
            added_per_input,
            words,
        })
    }

    /// Whether exact-length prompts are built from word tokens without a round trip.
    pub fn has_word_fast_path(&self) -> bool {
        !self.words.is_empty()
    }

    /// Tokens of `text`; `with_special` adds what the tokenizer adds around an input (as a
    /// server does for a prompt). Tokenizer failures count as 0 (they do not happen on valid
    /// UTF-8 with the tokenizers in use).
    pub fn count(&self, text: &str, with_special: bool) -> usize {
        self.tok
            .encode_fast(text, with_special)
            .map(|e| e.len())
            .unwrap_or(0)
    }

    /// A random prompt of exactly `len` tokens (special tokens included), or the closest one
    /// reached and `false` when the round trip did not converge.
    pub fn exact_prompt(&self, len: usize, rng: &mut StdRng) -> (String, usize, bool) {
        let target = len.saturating_sub(self.added_per_input).max(1);
        if !self.words.is_empty() {
            let mut text = String::with_capacity(target * 8);
            for _ in 0..target {
                text.push_str(&self.words[rng.random_range(0..self.words.len())]);
            }
            return (text, target + self.added_per_input, true);
        }
        let mut ids: Vec<u32> = (0..target).map(|_| self.random_id(rng)).collect();
        let mut best: Option<(String, usize)> = None;
        for _ in 0..MAX_ROUNDS {
            let text = self.tok.decode(&ids, true).unwrap_or_default();
            let n = self.count(&text, false);
            if n == target && !text.trim().is_empty() {
                return (text, n + self.added_per_input, true);
            }
            if best
                .as_ref()
                .is_none_or(|(_, b)| n.abs_diff(target) < b.abs_diff(target))
            {
                best = Some((text, n));
            }
            if n > target {
                let drop = (n - target).min(ids.len().saturating_sub(1)).max(1);
                ids.truncate(ids.len().saturating_sub(drop));
                if ids.is_empty() {
                    ids.push(self.random_id(rng));
                }
            } else {
                for _ in 0..(target - n).max(1) {
                    ids.push(self.random_id(rng));
                }
            }
        }
        let (text, n) = best.unwrap_or_default();
        (text, n + self.added_per_input, false)
    }

    fn random_id(&self, rng: &mut StdRng) -> u32 {
        self.sampleable[rng.random_range(0..self.sampleable.len())]
    }
}

/// Word tokens checked at load: at least this many, or no fast path.
const MIN_WORDS: usize = 64;
/// Word tokens concatenated in the load-time check.
const WORD_CHECK_TOKENS: usize = 2048;

/// The texts of the "word" tokens — a space followed by letters only — when concatenations of
/// them are verified to re-encode to the same ids; empty when the check fails.
///
/// Why this holds: the pre-tokenizers of byte-level BPE models (GPT-2, Llama 3, Qwen, …) split
/// text into pieces before the vocabulary is applied, and a space followed by letters is one
/// piece, cut at the next space. A word token that re-encodes to itself alone (the `sampleable`
/// filter) therefore re-encodes to itself inside any sequence of such tokens, so a prompt of N
/// of them is exactly N tokens without encoding it. Tokenizers that do not split that way
/// (e.g. SentencePiece with a prefix space) fail the check below — a long random concatenation
/// must come back id for id — and keep the decode-encode-adjust loop. Every request's prompt
/// length is also compared with the server's own count after the run (`prompt_length_mismatches`).
fn word_tokens(tok: &tokenizers::Tokenizer, sampleable: &[u32]) -> Vec<String> {
    let words: Vec<(u32, String)> = sampleable
        .iter()
        .filter_map(|&id| {
            let text = tok.decode(&[id], false).ok()?;
            let rest = text.strip_prefix(' ')?;
            (!rest.is_empty() && rest.chars().all(char::is_alphabetic)).then_some((id, text))
        })
        .collect();
    if words.len() < MIN_WORDS {
        return Vec::new();
    }
    // A deterministic pseudo-random sequence covering every word several times.
    let mut rng = <StdRng as rand::SeedableRng>::seed_from_u64(0x5eed);
    let seq: Vec<usize> = (0..WORD_CHECK_TOKENS.max(2 * words.len()))
        .map(|_| rng.random_range(0..words.len()))
        .collect();
    let text: String = seq.iter().map(|&i| words[i].1.as_str()).collect();
    let ok = tok.encode_fast(text.as_str(), false).is_ok_and(|e| {
        e.get_ids().len() == seq.len()
            && e.get_ids().iter().zip(&seq).all(|(a, &i)| *a == words[i].0)
    });
    if ok {
        words.into_iter().map(|(_, t)| t).collect()
    } else {
        Vec::new()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::SeedableRng;
    use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
    use tokenizers::{
        AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
        TokenizerImpl,
    };

    /// Trains a small byte-level BPE tokenizer (with a BOS token added to every input) and
    /// writes it as tokenizer.json into `dir`.
    pub(crate) fn write_test_tokenizer(dir: &Path) -> PathBuf {
        let text = "The quick brown fox jumps over the lazy dog. Benchmarks measure latency and throughput; \
                    servers stream tokens, one chunk at a time. Ünïcödé wörds and numbers 12345 appear too.\n"
            .repeat(50);
        train_tokenizer(dir, &text, 400)
    }

    /// A tokenizer with hundreds of whole-word tokens (syllable words, each frequent), so the
    /// word-token fast path applies.
    pub(crate) fn write_wordy_tokenizer(dir: &Path) -> PathBuf {
        let syllables = [
            "ka", "lo", "mi", "ten", "sar", "vo", "pel", "dun", "ri", "bas",
        ];
        let mut text = String::new();
        for _ in 0..30 {
            for a in syllables {
                for b in syllables {
                    text.push_str(&format!(" {a}{b}"));
                }
                text.push_str(", and 42.\n");
            }
        }
        train_tokenizer(dir, &text, 600)
    }

    /// Trains a byte-level BPE tokenizer (BOS added to every input) on `text`; writes
    /// tokenizer.json into `dir`.
    fn train_tokenizer(dir: &Path, text: &str, vocab: usize) -> PathBuf {
        use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDec;
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        use tokenizers::processors::template::TemplateProcessing;
        let corpus = dir.join("corpus.txt");
        std::fs::write(&corpus, text).unwrap();
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab)
            .min_frequency(1)
            .special_tokens(vec![AddedToken::from("<s>", true)])
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut tok: TokenizerImpl<
            BPE,
            NormalizerWrapper,
            PreTokenizerWrapper,
            PostProcessorWrapper,
            DecoderWrapper,
        > = TokenizerImpl::new(BPE::default());
        tok.with_pre_tokenizer(Some(PreTokenizerWrapper::ByteLevel(ByteLevel::default())));
        tok.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevelDec::default())));
        tok.train_from_files(&mut trainer, vec![corpus.to_string_lossy().into_owned()])
            .unwrap();
        let bos = tok.token_to_id("<s>").unwrap();
        let post = TemplateProcessing::builder()
            .try_single("<s> $A")
            .unwrap()
            .special_tokens(vec![("<s>", bos)])
            .build()
            .unwrap();
        tok.with_post_processor(Some(PostProcessorWrapper::Template(post)));
        let path = dir.join("tokenizer.json");
        tok.save(&path, false).unwrap();
        path
    }

    #[test]
    fn exact_lengths_with_a_byte_level_bpe() {
        let d = tempfile::tempdir().unwrap();
        write_test_tokenizer(d.path());
        let t = TokenizerHandle::load(d.path()).unwrap();
        assert_eq!(t.added_per_input, 1);
        assert_eq!(t.count("", true), 1);
        let mut rng = StdRng::seed_from_u64(7);
        for len in [2, 5, 17, 64, 300] {
            let (text, n, exact) = t.exact_prompt(len, &mut rng);
            assert!(exact, "len {len}");
            assert_eq!(n, len);
            assert_eq!(t.count(&text, true), len, "{text:?}");
        }
    }

    #[test]
    fn exact_lengths_from_word_tokens() {
        let d = tempfile::tempdir().unwrap();
        write_wordy_tokenizer(d.path());
        let t = TokenizerHandle::load(d.path()).unwrap();
        assert!(t.has_word_fast_path(), "{} word tokens", t.words.len());
        assert!(t.words.iter().all(|w| w.starts_with(' ') && w.len() > 1));
        let mut rng = StdRng::seed_from_u64(3);
        for len in [2, 3, 17, 64, 500] {
            for _ in 0..20 {
                let (text, n, exact) = t.exact_prompt(len, &mut rng);
                assert!(exact);
                assert_eq!(n, len);
                assert_eq!(t.count(&text, true), len, "{text:?}");
            }
        }
        // The small tokenizer has too few whole words: the round trip is used there.
        let d = tempfile::tempdir().unwrap();
        write_test_tokenizer(d.path());
        assert!(!TokenizerHandle::load(d.path())
            .unwrap()
            .has_word_fast_path());
    }

    #[test]
    fn load_errors_name_the_problem() {
        let d = tempfile::tempdir().unwrap();
        let e = TokenizerHandle::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("no tokenizer.json"), "{e}");
        std::fs::write(d.path().join("tokenizer.json"), "{}").unwrap();
        let e = TokenizerHandle::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("not a usable tokenizer.json"), "{e}");
    }
}
