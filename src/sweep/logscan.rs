//! Why did the server fail? The telling line of `server.log`, and its tail.
//!
//! vLLM's logs put the root cause first and wrappers after it (`RuntimeError: Engine core
//! initialization failed. See root cause above.`), and a server stopped with SIGTERM adds
//! shutdown noise (`EngineDeadError`), so the reason is, in order of preference:
//! 1. the first line naming a well-known cause (CUDA out of memory, no memory for the KV cache,
//!    address already in use, …);
//! 2. the first exception line (`SomethingError: message`) that is not a known wrapper or
//!    shutdown noise;
//! 3. the last line mentioning an error;
//!
//! and only lines written before modelbench began stopping the server are scanned.
//! [`last_line`] is the fallback when nothing else explains a failure.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// At most this much of the end of the log is scanned.
const SCAN_BYTES: u64 = 512 * 1024;

/// Substrings (lower case) that identify a well-known cause.
const TELLING: [&str; 7] = [
    "out of memory",
    "outofmemoryerror",
    "no available memory for the cache blocks",
    "address already in use",
    "cannot allocate memory",
    "is larger than the maximum number of tokens that can be stored in kv cache",
    "no cuda gpus are available",
];

/// Exception lines that wrap or follow the real cause.
const NOISE: [&str; 8] = [
    "enginedeaderror",
    "engine core initialization failed",
    "keyboardinterrupt",
    "cancellederror",
    "systemexit",
    "brokenpipeerror",
    "see root cause above",
    "engine core proc",
];

/// Drops vLLM's prefixes: `(EngineCore_0 pid=12) ` and `ERROR 01-02 03:04:05 [file.py:12] `.
fn strip_prefixes(line: &str) -> &str {
    split_level(line).1
}

/// The log level of a vLLM line (`ERROR`, `WARNING`, …, if it has one) and the text after
/// the prefixes.
fn split_level(line: &str) -> (Option<&'static str>, &str) {
    let mut s = line.trim();
    if s.starts_with('(') {
        if let Some(end) = s.find(") ") {
            if s[..end].contains("pid=") {
                s = s[end + 2..].trim_start();
            }
        }
    }
    for level in ["ERROR", "WARNING", "INFO", "CRITICAL", "DEBUG"] {
        if let Some(rest) = s.strip_prefix(level).and_then(|r| r.strip_prefix(' ')) {
            if let Some(end) = rest.find("] ") {
                return (Some(level), rest[end + 2..].trim_start());
            }
            break;
        }
    }
    (None, s)
}

/// `torch.OutOfMemoryError: CUDA out of memory` → true; `  File "x.py"` → false.
fn is_exception_line(s: &str) -> bool {
    let Some((head, _)) = s.split_once(':') else {
        return false;
    };
    !head.is_empty()
        && !head.contains(char::is_whitespace)
        && (head.ends_with("Error") || head.ends_with("Exception") || head.ends_with("Interrupt"))
}

fn shorten(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The telling line of a log's text (see the module docs); `None` for an empty log.
pub fn failure_reason(text: &str) -> Option<String> {
    let (levels, lines): (Vec<Option<&str>>, Vec<&str>) = text
        .lines()
        .map(split_level)
        .filter(|(_, l)| !l.is_empty())
        .unzip();
    let lower: Vec<String> = lines.iter().map(|l| l.to_lowercase()).collect();
    let pick = |i: usize| Some(shorten(lines[i]));
    if let Some(i) = lower
        .iter()
        .position(|l| TELLING.iter().any(|t| l.contains(t)))
    {
        return pick(i);
    }
    let noisy = |l: &str| NOISE.iter().any(|n| l.contains(n));
    if let Some(i) = (0..lines.len()).find(|&i| is_exception_line(lines[i]) && !noisy(&lower[i])) {
        return pick(i);
    }
    // Informational lines may mention errors ("failed to increase the ulimit with error …").
    let informational = |i: usize| matches!(levels[i], Some("INFO" | "WARNING" | "DEBUG"));
    (0..lines.len())
        .rev()
        .find(|&i| {
            !informational(i) && (lower[i].contains("error") || lower[i].starts_with("traceback"))
        })
        .and_then(pick)
}

/// The last non-empty line of a text (without vLLM's prefixes).
pub fn last_line(text: &str) -> Option<String> {
    text.lines()
        .map(strip_prefixes)
        .rfind(|l| !l.is_empty())
        .map(shorten)
}

/// The current size of a file (0 when missing).
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The text (lossy UTF-8) of a file's bytes before `end` (the whole file with `None`), at
/// most the last [`SCAN_BYTES`] of them.
pub fn read_end(path: &Path, end: Option<u64>) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let end = end.unwrap_or(len).min(len);
    let start = end.saturating_sub(SCAN_BYTES);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    if f.take(end - start).read_to_end(&mut buf).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last `n` lines of a text.
pub fn tail(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| shorten(l))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_wins_over_later_wrappers() {
        let log = "INFO 01-02 03:04:05 [api_server.py:1] starting\n\
            (EngineCore_0 pid=77) ERROR 01-02 03:04:09 [core.py:700] EngineCore failed to start.\n\
            (EngineCore_0 pid=77) ERROR 01-02 03:04:09 [core.py:700] Traceback (most recent call last):\n\
            (EngineCore_0 pid=77) ERROR 01-02 03:04:09 [core.py:700]   File \"x.py\", line 1, in f\n\
            (EngineCore_0 pid=77) ERROR 01-02 03:04:09 [core.py:700] torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n\
            Traceback (most recent call last):\n  File \"y.py\", line 2\n\
            RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}\n";
        assert_eq!(
            failure_reason(log).unwrap(),
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
        );
    }

    #[test]
    fn first_real_exception_then_error_lines_then_last_line() {
        let log = "Traceback (most recent call last):\n  File \"a.py\"\nValueError: max_model_len 9999 is too large\n\
                   RuntimeError: Engine core initialization failed. See root cause above.\n";
        assert_eq!(
            failure_reason(log).unwrap(),
            "ValueError: max_model_len 9999 is too large"
        );
        let log =
            "starting\nsomething went wrong: error 5\n(APIServer pid=1) WARNING 11-27 19:09:46 \
                   [system_utils.py:255] Found ulimit of 20000 and failed with error x\nbye\n";
        assert_eq!(
            failure_reason(log).unwrap(),
            "something went wrong: error 5"
        );
        assert_eq!(failure_reason("a\n\nlast words\n\n"), None);
        assert_eq!(
            last_line("a\n\nINFO 01-02 03:04:05 [x.py:1] last words\n\n").unwrap(),
            "last words"
        );
        assert_eq!(last_line("\n \n"), None);
        let shutdown = "INFO ready\nvllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue.\n";
        assert!(
            failure_reason(shutdown)
                .unwrap()
                .contains("EngineDeadError"),
            "noise is still better than nothing"
        );
    }

    #[test]
    fn reads_only_before_the_given_offset() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("server.log");
        std::fs::write(&p, "ValueError: real\nEngineDeadError: noise\n").unwrap();
        let before_stop = "ValueError: real\n".len() as u64;
        assert_eq!(read_end(&p, Some(before_stop)), "ValueError: real\n");
        assert_eq!(read_end(&p, None).lines().count(), 2);
        assert_eq!(file_len(&p), 40);
        assert_eq!(read_end(&d.path().join("missing"), None), "");
    }

    #[test]
    fn tail_and_long_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), ["b", "c"]);
        assert_eq!(tail("a", 5), ["a"]);
        let long = "é".repeat(400);
        assert!(last_line(&long).unwrap().ends_with('…'));
    }
}
