//! Stage 'workload' of the benchmark data flow (see lib.rs): what to send — prompts, their
//! lengths, the output length asked for and, for traces, when.
//!
//! Sources: a prompts file ([`files`]), a trace CSV ([`trace`]), a random dataset
//! ([`synthetic`]) and ShareGPT ([`files`]). Exact token lengths need the model's tokenizer
//! ([`tokenizer`]); without it lengths are approximate and [`Workload::approximate`] says which.
//! Open-loop arrival times are drawn in [`arrivals`].

pub mod arrivals;
pub mod files;
pub mod limits;
pub mod synthetic;
pub mod tokenizer;
pub mod trace;

use std::path::PathBuf;

pub use tokenizer::TokenizerHandle;

/// One request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    pub prompt: String,
    /// The prompt's length in tokens as the tokenizer counts it (special tokens included), when a
    /// tokenizer was given.
    pub prompt_tokens: Option<u32>,
    /// `max_tokens` of the request.
    pub max_tokens: u32,
    /// Seconds from the start of the measured phase (trace workloads only).
    pub arrival: Option<f64>,
}

/// Where the prompts come from (validated settings).
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadSource {
    PromptsFile(PathBuf),
    Trace(PathBuf),
    Random {
        input_len: u32,
        output_len: u32,
        range_ratio: f64,
    },
    ShareGpt {
        path: PathBuf,
        output_len: Option<u32>,
    },
}

impl WorkloadSource {
    pub fn name(&self) -> &'static str {
        match self {
            WorkloadSource::PromptsFile(_) => "prompts-file",
            WorkloadSource::Trace(_) => "trace",
            WorkloadSource::Random { .. } => "random",
            WorkloadSource::ShareGpt { .. } => "sharegpt",
        }
    }
}

/// Everything needed to build a workload.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    pub source: WorkloadSource,
    /// Measured requests; `None` = the source's default (every prompt or trace row; 100 for
    /// datasets).
    pub num_prompts: Option<usize>,
    pub warmup: usize,
    pub seed: u64,
    /// `max_tokens` where the source does not say (prompts files).
    pub max_tokens: u32,
}

/// Default number of requests for `--dataset`.
pub const DEFAULT_DATASET_PROMPTS: usize = 100;

/// The requests of one run.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    pub measured: Vec<RequestSpec>,
    /// Sent first, not counted.
    pub warmup: Vec<RequestSpec>,
    /// Which lengths are approximate, and why; `None` when every length is exact.
    pub approximate: Option<String>,
    /// Prompts whose exact length could not be reached (tokenizer round trip did not converge).
    pub inexact_prompts: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("--tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
}

/// Largest workload file read (`--prompts-file`, `--trace`, ShareGPT): 4 GiB.
pub const MAX_INPUT_FILE: u64 = 4 << 30;

/// Reads a workload file whole with the project's one rule for input files
/// ([`crate::results::read::open_bounded`]): only a regular file (after following links; a
/// FIFO would block and `/dev/zero` never ends) of at most [`MAX_INPUT_FILE`] bytes.
pub(crate) fn read_input(path: &std::path::Path) -> Result<Vec<u8>, WorkloadError> {
    use std::io::Read;
    let invalid = |message: String| WorkloadError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let io = |source| WorkloadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let opened = crate::results::read::open_bounded(path, "the file", MAX_INPUT_FILE)
        .map_err(|e| invalid(e.to_string()))?;
    let Some((file, len)) = opened else {
        return Err(io(std::io::Error::from_raw_os_error(libc::ENOENT)));
    };
    let mut buf = Vec::with_capacity(len as usize);
    file.take(MAX_INPUT_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > MAX_INPUT_FILE {
        return Err(invalid(format!(
            "the file is larger than the {} GiB limit",
            MAX_INPUT_FILE >> 30
        )));
    }
    Ok(buf)
}

/// Builds the workload: the measured requests, then the warm-up requests.
pub fn build(
    spec: &WorkloadSpec,
    tok: Option<&TokenizerHandle>,
) -> Result<Workload, WorkloadError> {
    let mut w = match &spec.source {
        WorkloadSource::PromptsFile(path) => files::prompts_file(path, spec, tok)?,
        WorkloadSource::ShareGpt { path, output_len } => {
            files::sharegpt(path, *output_len, spec, tok)?
        }
        WorkloadSource::Trace(path) => trace::trace(path, spec, tok)?,
        WorkloadSource::Random {
            input_len,
            output_len,
            range_ratio,
        } => synthetic::random(*input_len, *output_len, *range_ratio, spec, tok)?,
    };
    if w.inexact_prompts > 0 {
        let note = format!(
            "{} prompt(s) could not be made exactly the requested length (tokenizer round trip); their lengths are off by a few tokens",
            w.inexact_prompts
        );
        w.approximate = Some(match w.approximate.take() {
            Some(a) => format!("{a}; {note}"),
            None => note,
        });
    }
    Ok(w)
}

/// A seed for item `index` derived from the run seed (independent streams per item, so
/// parallel generation is deterministic).
pub(crate) fn item_seed(seed: u64, stream: u64, index: usize) -> u64 {
    // SplitMix64 finaliser over (seed, stream, index).
    let mut z = seed
        ^ stream.wrapping_mul(0xA24B_AED4_963E_E407)
        ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Rough token count of a text when no tokenizer is available: about four characters per
/// token, at least one per word. Only used where results say lengths are approximate.
pub fn estimate_tokens(text: &str) -> u64 {
    let words = text.split_whitespace().count() as u64;
    let chars = text.chars().count() as u64;
    words
        .max(chars.div_ceil(4))
        .max(u64::from(!text.is_empty()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn item_seeds_differ_and_repeat() {
        assert_eq!(item_seed(1, 2, 3), item_seed(1, 2, 3));
        assert_ne!(item_seed(1, 2, 3), item_seed(1, 2, 4));
        assert_ne!(item_seed(1, 2, 3), item_seed(1, 3, 3));
        assert_ne!(item_seed(0, 0, 0), item_seed(1, 0, 0));
    }

    #[test]
    fn only_regular_files_are_read() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for (p, want) in [
            (fifo.as_path(), "not a regular file (a FIFO)"),
            (Path::new("/dev/zero"), "not a regular file (a device)"),
            (d.path(), "not a regular file (a directory)"),
        ] {
            let e = read_input(p).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let f = d.path().join("p.txt");
        std::fs::write(&f, "a\nb\n").unwrap();
        assert_eq!(read_input(&f).unwrap(), b"a\nb\n");
    }

    #[test]
    fn estimates() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a b c"), 3);
        assert_eq!(estimate_tokens("abcdefghijkl"), 3);
    }
}
