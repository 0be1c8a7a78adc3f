//! TEST DOUBLE — `mock_vllm`, a standalone loopback mock of vLLM's OpenAI-compatible API (NOT a
//! real server: it streams the token " tok" on a scripted schedule). Used by the client-overhead
//! benchmark and by scripts; the integration tests use the same code in-process
//! (tests/doubles/mock_openai.rs).
//!
//! ```text
//! mock_vllm [serve] [MODEL] [--host 127.0.0.1] [--port 8000] [--model NAME]
//!           [--tokens N] [--ttft-ms MS] [--token-delay-ms MS] [--chunk-tokens K] [--no-usage]
//!           [--flavor vllm|llamacpp] [--fault KIND] [--fault-every N] [--coalesce]
//!           [--workers W] [--quiet-unknown] [--stats-file PATH] [--slots N]
//!           [--tls-self-signed PEM_OUT] [--metrics vllm|none|html|stall]
//! ```
//! `--tls-self-signed PEM_OUT`: serve HTTPS with a certificate for `localhost` and `127.0.0.1`
//! made at start, written (PEM) to PEM_OUT for the client's `--ca-cert`.
//! `--metrics vllm|none|html|stall`: what `GET /metrics` answers (default vllm-named metrics).
//! `--slots N`: a capacity limit — at most N requests generate at once, the rest queue (the
//! wait counts in their TTFT).
//! `--token-delay-ms` is the gap between content chunks; with `--chunk-tokens K` each chunk
//! carries K tokens. Requests with `ignore_eos` get exactly `max_tokens` tokens, others
//! `min(max_tokens, --tokens)`. Faults: http500, cut, nodone, malformed, stall, error_event,
//! done_hang, stray, huge_usage, huge_event, echo_auth (see mock_openai.rs)
//! (applied to every `--fault-every`-th request; default every request).
//! `--coalesce` writes a zero-delay response in one write instead of one write per event.
//! `--workers` sets the tokio worker threads (default 1). Flags of `vllm serve` it does not know
//! (`--tensor-parallel-size 2`, …) are accepted and ignored, so it can stand in for `vllm serve`.
//! `--stats-file PATH` rewrites PATH (atomically) every 20 ms with the `/mock/stats` JSON, from a
//! thread of its own: a sampler can read the counters while the runtime is saturated and answers
//! HTTP only slowly. Prints `mock_vllm listening on http://HOST:PORT` once it accepts connections.

#[path = "mock_openai.rs"]
mod mock_openai;

use std::sync::Arc;
use std::time::Duration;

use mock_openai::{Fault, Flavor, MockConfig, MockStats};

fn usage_exit(msg: &str) -> ! {
    eprintln!("mock_vllm: {msg}");
    eprintln!("usage: mock_vllm [serve] [MODEL] [--host H] [--port P] [--tokens N] [--ttft-ms MS] [--token-delay-ms MS] [--chunk-tokens K] [--no-usage] [--flavor vllm|llamacpp] [--fault KIND] [--fault-every N] [--coalesce] [--workers W] [--slots N] [--metrics vllm|none|html|stall]");
    std::process::exit(2)
}

fn parse<T: std::str::FromStr>(flag: &str, v: Option<String>) -> T {
    let v = v.unwrap_or_else(|| usage_exit(&format!("{flag} needs a value")));
    v.parse()
        .unwrap_or_else(|_| usage_exit(&format!("{flag}: invalid value {v:?}")))
}

fn main() {
    let mut cfg = MockConfig {
        record_requests: false,
        ..MockConfig::default()
    };
    let (mut host, mut port, mut workers) = ("127.0.0.1".to_owned(), 8000u16, 1usize);
    let mut quiet = false;
    // `--slots-per-gpu N`: N slots per GPU of the `vllm serve` parallelism flags, so a sweep
    // over TP/DP sees capacities it can find (N × TP·DP·PP).
    let (mut gpus, mut slots_per_gpu) = (1usize, None::<usize>);
    let mut stats_file: Option<std::path::PathBuf> = None;
    let mut tls_pem: Option<std::path::PathBuf> = None;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if a.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next());
        match flag.as_str() {
            "--host" => host = parse(&flag, value()),
            "--port" => port = parse(&flag, value()),
            "--model" | "--served-model-name" => cfg.model = parse(&flag, value()),
            "--tokens" => cfg.tokens = parse(&flag, value()),
            "--ttft-ms" => {
                cfg.ttft = Duration::from_secs_f64(parse::<f64>(&flag, value()) / 1000.0)
            }
            "--token-delay-ms" => {
                cfg.chunk_delay = Duration::from_secs_f64(parse::<f64>(&flag, value()) / 1000.0)
            }
            "--chunk-tokens" => cfg.chunk_tokens = parse(&flag, value()),
            "--slots" => cfg.slots = Some(parse(&flag, value())),
            "--slots-per-gpu" => slots_per_gpu = Some(parse(&flag, value())),
            "--tensor-parallel-size" | "--data-parallel-size" | "--pipeline-parallel-size" => {
                gpus = gpus.saturating_mul(parse::<usize>(&flag, value()).max(1))
            }
            "--metrics" => cfg.metrics = parse(&flag, value()),
            "--no-usage" => cfg.usage = false,
            "--coalesce" => cfg.coalesce = true,
            "--quiet-unknown" => quiet = true,
            "--stats-file" => stats_file = Some(parse::<String>(&flag, value()).into()),
            "--tls-self-signed" => tls_pem = Some(parse::<String>(&flag, value()).into()),
            "--flavor" => {
                cfg.flavor = match parse::<String>(&flag, value()).as_str() {
                    "vllm" => Flavor::Vllm,
                    "llamacpp" | "llama-cpp" => Flavor::LlamaCpp,
                    other => usage_exit(&format!("--flavor: unknown {other:?}")),
                }
            }
            "--fault" => {
                cfg.fault = Some(
                    parse::<String>(&flag, value())
                        .parse::<Fault>()
                        .unwrap_or_else(|e| usage_exit(&e)),
                )
            }
            "--fault-every" => cfg.fault_every = parse(&flag, value()),
            "--workers" => workers = parse(&flag, value()),
            "-h" | "--help" => usage_exit("a loopback mock of vLLM's OpenAI API (test double)"),
            f if f.starts_with("--") => {
                // An unknown (vllm serve) flag: skip its value when it has one.
                if inline.is_none() && args.peek().is_some_and(|n| !n.starts_with("--")) {
                    args.next();
                }
                if !quiet {
                    eprintln!("mock_vllm: ignoring {f}");
                }
            }
            _ => positional.push(a),
        }
    }
    if let Some(n) = slots_per_gpu {
        cfg.slots = Some(n.saturating_mul(gpus));
    }
    // `mock_vllm serve MODEL …` like `vllm serve MODEL …`.
    let mut pos = positional.into_iter();
    let mut first = pos.next();
    if first.as_deref() == Some("serve") {
        first = pos.next();
    }
    if let Some(m) = first {
        cfg.model = m;
    }
    if let Some(extra) = pos.next() {
        usage_exit(&format!("unexpected argument {extra:?}"));
    }
    if let Some(path) = &tls_pem {
        let (pem, server) = mock_openai::self_signed();
        std::fs::write(path, pem)
            .unwrap_or_else(|e| usage_exit(&format!("--tls-self-signed {}: {e}", path.display())));
        cfg.tls = Some(server);
    }
    let scheme = if tls_pem.is_some() { "https" } else { "http" };
    let addr: std::net::SocketAddr = format!("{host}:{port}")
        .parse()
        .unwrap_or_else(|_| usage_exit(&format!("bad --host/--port {host}:{port}")));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .unwrap_or_else(|e| usage_exit(&format!("cannot start the runtime: {e}")));
    rt.block_on(async move {
        raise_nofile();
        let listener = mock_openai::bind(addr).unwrap_or_else(|e| usage_exit(&format!("cannot listen on {addr}: {e}")));
        println!("mock_vllm listening on {scheme}://{}", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
        let stats = Arc::new(MockStats::default());
        if let Some(path) = stats_file {
            let stats = Arc::clone(&stats);
            std::thread::spawn(move || write_stats_every_20ms(&path, &stats));
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let shutdown = async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = shutdown => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
        };
        mock_openai::serve(listener, Arc::new(cfg), stats, shutdown).await;
    });
}

/// The `--stats-file` thread (it ends with the process).
fn write_stats_every_20ms(path: &std::path::Path, stats: &MockStats) {
    let tmp = path.with_extension("tmp");
    loop {
        let body = stats.json().to_string();
        if std::fs::write(&tmp, body).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Thousands of concurrent streams need thousands of sockets.
fn raise_nofile() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
}
