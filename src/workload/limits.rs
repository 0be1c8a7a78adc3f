//! Sizes a run may have. Every request, its prompt and its per-token record live in memory for
//! the whole run (the results file holds every token gap), so sizes that cannot fit are refused
//! before anything is built or sent, instead of growing until the allocator aborts.

use super::{WorkloadSource, WorkloadSpec, DEFAULT_DATASET_PROMPTS};

/// Most measured (or warm-up) requests of one run.
pub const MAX_REQUESTS: usize = 100_000_000;
/// Most tokens of one prompt or one output (no model has a context near this).
pub const MAX_TOKENS_PER_REQUEST: u32 = 10_000_000;

/// Bytes a request costs besides its prompt and output: its spec, record and results entry.
const PER_REQUEST: u64 = 1024;
/// Bytes one prompt token costs while the prompt is built and held (text plus the tokenizer's
/// transient encoding of it).
const PER_PROMPT_TOKEN: u64 = 16;
/// Bytes one output token costs: its gap in the record and in the results file's buffer.
const PER_OUTPUT_TOKEN: u64 = 24;
/// Prompt tokens assumed for file workloads, whose lengths are known only once read.
const FILE_PROMPT_TOKENS: u64 = 1024;

/// What dominates a workload's memory, to name the flag to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dominant {
    Requests,
    Warmup,
    PromptLength,
    OutputLength,
}

/// A rough upper estimate of the memory (bytes) the run of `spec` needs, and what dominates it.
pub fn memory_estimate(spec: &WorkloadSpec) -> (u64, Dominant) {
    let (prompt, output) = match &spec.source {
        WorkloadSource::Random {
            input_len,
            output_len,
            range_ratio,
        } => (
            (f64::from(*input_len) * (1.0 + range_ratio)).ceil() as u64,
            (f64::from(*output_len) * (1.0 + range_ratio)).ceil() as u64,
        ),
        WorkloadSource::ShareGpt { output_len, .. } => (
            FILE_PROMPT_TOKENS,
            u64::from(output_len.unwrap_or(spec.max_tokens)),
        ),
        WorkloadSource::PromptsFile(_) | WorkloadSource::Trace(_) => {
            (FILE_PROMPT_TOKENS, u64::from(spec.max_tokens))
        }
    };
    let n = spec.num_prompts.unwrap_or(DEFAULT_DATASET_PROMPTS) as u64;
    let w = spec.warmup as u64;
    let prompt_bytes = prompt.saturating_mul(PER_PROMPT_TOKEN);
    let output_bytes = output.saturating_mul(PER_OUTPUT_TOKEN);
    let per_request = PER_REQUEST
        .saturating_add(prompt_bytes)
        .saturating_add(output_bytes);
    let total = n.saturating_add(w).saturating_mul(per_request);
    let dominant = if prompt_bytes.max(output_bytes) > PER_REQUEST * 64 {
        if prompt_bytes >= output_bytes {
            Dominant::PromptLength
        } else {
            Dominant::OutputLength
        }
    } else if w > n {
        Dominant::Warmup
    } else {
        Dominant::Requests
    };
    (total, dominant)
}

/// Memory the system can give this process now (`MemAvailable`), when known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(n: usize, warmup: usize, input_len: u32) -> WorkloadSpec {
        WorkloadSpec {
            source: WorkloadSource::Random {
                input_len,
                output_len: 256,
                range_ratio: 0.0,
            },
            num_prompts: Some(n),
            warmup,
            seed: 0,
            max_tokens: 256,
        }
    }

    #[test]
    fn estimates_grow_with_the_right_flag() {
        let (small, _) = memory_estimate(&spec(100, 0, 1024));
        assert!(small < 10 << 20, "{small}");
        let (big, d) = memory_estimate(&spec(1_000_000_000, 0, 16));
        assert!(big > 1 << 40);
        assert_eq!(d, Dominant::Requests);
        assert_eq!(
            memory_estimate(&spec(10, 100_000_000, 16)).1,
            Dominant::Warmup
        );
        assert_eq!(
            memory_estimate(&spec(100, 0, MAX_TOKENS_PER_REQUEST)).1,
            Dominant::PromptLength
        );
        assert!(available_memory().is_some_and(|m| m > 0));
    }
}
