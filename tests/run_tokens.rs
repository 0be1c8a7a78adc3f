//! Token counting (server usage, tokenizer, chunk count), tokens per chunk, exact prompt lengths
//! with a tokenizer, and the shape of each request (body, API key handling) — against the
//! in-test mock server (a test double).

#[path = "doubles/mock_openai.rs"]
mod mock_openai;
mod run_support;

use mock_openai::{MockConfig, MockServer};
use run_support::{modelbench, plain_prompts, prompts, run, run_prompts};

#[test]
fn usage_counts_win_and_chunk_counts_are_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let p = plain_prompts(dir.path(), 4);
    let args = [
        "--prompts-file",
        p.to_str().unwrap(),
        "--max-tokens",
        "12",
        "--ignore-eos",
    ];

    let with_usage = MockServer::start(MockConfig {
        chunk_tokens: 3,
        ..MockConfig::default()
    });
    let r = run(&with_usage.base_url(), &dir.path().join("a"), &args);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.summary()["total_output_tokens"], 48);
    assert_eq!(r.summary()["token_count_source"]["output"]["usage"], 4);
    for q in r.requests() {
        assert_eq!(
            (q["output_tokens"].as_u64(), q["content_chunks"].as_u64()),
            (Some(12), Some(4))
        );
        assert_eq!(
            q["token_latencies"].as_array().unwrap().len(),
            3,
            "gaps are between chunks"
        );
        assert!(
            q.get("chunk_tokens").is_none(),
            "unknown without per-chunk usage"
        );
        assert_eq!(q["input_token_source"], "usage");
    }

    let no_usage = MockServer::start(MockConfig {
        chunk_tokens: 3,
        usage: false,
        ..MockConfig::default()
    });
    let r = run(&no_usage.base_url(), &dir.path().join("b"), &args);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.summary()["token_count_source"]["output"]["chunks"], 4);
    assert_eq!(r.summary()["token_count_source"]["input"]["estimate"], 4);
    // one token per chunk is assumed: 4 chunks of 3 tokens count as 4 (documented)
    assert_eq!(r.summary()["total_output_tokens"], 16);
}

#[test]
fn continuous_usage_gives_tokens_per_chunk() {
    let mock = MockServer::start(MockConfig {
        chunk_tokens: 3,
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(
        &mock.base_url(),
        dir.path(),
        3,
        &[
            "--max-tokens",
            "10",
            "--ignore-eos",
            "--continuous-usage-stats",
            "--endpoint",
            "chat",
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    for q in r.requests() {
        assert_eq!(q["chunk_tokens"], serde_json::json!([3, 3, 3, 1]));
        assert_eq!(q["output_tokens"], 10);
    }
    let tpc = &r.summary()["tokens_per_chunk"];
    assert_eq!(tpc["tokens_per_chunk_max"], 3.0);
    assert_eq!(tpc["tokens_per_chunk_avg"], 2.5);
    for rec in mock.stats.received() {
        assert_eq!(rec.body["stream_options"]["continuous_usage_stats"], true);
        assert_eq!(rec.body["stream_options"]["include_usage"], true);
    }
}

/// A word-level tokenizer (one token per whitespace-separated word, like the mock's counting).
fn write_word_tokenizer(dir: &std::path::Path) -> std::path::PathBuf {
    let words = [
        "tok", "alpha", "beta", "gamma", "delta", "prompt", "number", "about", "a", "topic",
    ];
    let mut vocab = serde_json::Map::new();
    vocab.insert("[UNK]".into(), 0.into());
    for (i, w) in words.iter().enumerate() {
        vocab.insert((*w).into(), (i + 1).into());
    }
    for i in 0..10 {
        vocab.insert(i.to_string(), (words.len() + 1 + i).into());
    }
    let tok = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    let p = dir.join("tokenizer.json");
    std::fs::write(&p, tok.to_string()).unwrap();
    p
}

#[test]
fn tokenizer_counts_without_usage_and_exact_random_lengths() {
    let dir = tempfile::tempdir().unwrap();
    write_word_tokenizer(dir.path());
    let no_usage = MockServer::start(MockConfig {
        usage: false,
        ..MockConfig::default()
    });
    let r = run(
        &no_usage.base_url(),
        &dir.path().join("a"),
        &[
            "--dataset",
            "random",
            "--input-len",
            "24",
            "--output-len",
            "9",
            "--num-prompts",
            "5",
            "--ignore-eos",
            "--tokenizer",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.summary()["token_count_source"]["output"]["tokenizer"], 5);
    assert_eq!(r.summary()["token_count_source"]["input"]["tokenizer"], 5);
    assert_eq!(r.summary()["total_output_tokens"], 45);
    assert_eq!(r.summary()["total_input_tokens"], 120);
    assert!(
        r.summary()["lengths_approximate"].is_null(),
        "exact with a tokenizer"
    );

    // with usage, the server's prompt count shows the prompts really have 24 tokens
    let mock = MockServer::start(MockConfig::default());
    let r = run(
        &mock.base_url(),
        &dir.path().join("b"),
        &[
            "--dataset",
            "random",
            "--input-len",
            "24",
            "--output-len",
            "3",
            "--num-prompts",
            "5",
            "--tokenizer",
            dir.path().join("tokenizer.json").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    for q in r.requests() {
        assert_eq!(
            (q["input_tokens"].as_u64(), q["input_token_source"].as_str()),
            (Some(24), Some("usage"))
        );
    }
    assert_eq!(r.summary()["prompt_length_mismatches"], 0);
    assert!(!r.stdout().contains("Warning"), "{}", r.stdout());
}

#[test]
fn a_server_counting_prompts_differently_from_the_tokenizer_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_word_tokenizer(dir.path());
    // The tokenizer splits punctuation off ("alpha," is 2 tokens); the mock counts
    // whitespace-separated words: the first two prompts disagree, by 1 and by 2 tokens.
    let p = prompts(
        dir.path(),
        &["alpha, beta", "alpha, beta, gamma", "alpha beta gamma"],
    );
    let mock = MockServer::start(MockConfig::default());
    let r = run(
        &mock.base_url(),
        &dir.path().join("out"),
        &[
            "--prompts-file",
            p.to_str().unwrap(),
            "--max-tokens",
            "2",
            "--tokenizer",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.summary()["prompt_length_mismatches"], 2);
    assert_eq!(r.summary()["prompt_length_max_diff"], 2);
    let out = r.stdout();
    assert!(
        out.contains("Warning:") && out.contains("2 requests") && out.contains("up to 2 tokens"),
        "{out}"
    );
}

#[test]
fn request_shape_and_the_api_key_never_written() {
    let mock = MockServer::start(MockConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let r = run_prompts(
        &mock.base_url(),
        dir.path(),
        2,
        &[
            "--endpoint",
            "chat",
            "--max-tokens",
            "5",
            "--ignore-eos",
            "--temperature",
            "0",
            "--top-p",
            "1",
            "--api-key",
            "sk-secret-123",
            "--save-text",
            "--label",
            "gpu=A100",
            "--extra-body",
            r#"{"seed": 7, "stream_options": {"continuous_usage_stats": false}}"#,
            "--tp",
            "2",
            "--max-num-batched-tokens",
            "4096",
            // one at a time, so the first request received is prompt 0
            "--concurrency",
            "1",
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let rec = &mock.stats.received()[0];
    assert_eq!(rec.path, "/v1/chat/completions");
    assert_eq!(rec.authorization.as_deref(), Some("Bearer sk-secret-123"));
    let b = &rec.body;
    assert_eq!(b["model"], "mock-model");
    assert_eq!(b["messages"][0]["role"], "user");
    assert_eq!(b["messages"][0]["content"], "prompt number 0 about a topic");
    assert_eq!(
        (
            b["max_tokens"].as_u64(),
            b["stream"].as_bool(),
            b["ignore_eos"].as_bool()
        ),
        (Some(5), Some(true), Some(true))
    );
    assert_eq!(
        (
            b["temperature"].as_f64(),
            b["top_p"].as_f64(),
            b["seed"].as_u64()
        ),
        (Some(0.0), Some(1.0), Some(7))
    );
    assert_eq!(
        b["stream_options"],
        serde_json::json!({"include_usage": true, "continuous_usage_stats": false})
    );

    let run_dir = r.run_dir.clone().unwrap();
    for f in std::fs::read_dir(&run_dir).unwrap().flatten() {
        // Binary files too (timeline.png): the key's bytes must not be anywhere.
        let bytes = std::fs::read(f.path()).unwrap();
        assert!(
            !bytes.windows(13).any(|w| w == b"sk-secret-123"),
            "{} holds the API key",
            f.path().display()
        );
    }
    assert!(!r.stdout().contains("sk-secret-123") && !r.stderr().contains("sk-secret-123"));
    assert!(r.results["run_info"]["command_line"]
        .as_str()
        .unwrap()
        .contains("--api-key '***'"));
    let cfg = &r.results["benchmark_config"];
    assert_eq!(
        (
            cfg["tensor_parallel_size"].as_u64(),
            cfg["max_num_batched_tokens"].as_u64()
        ),
        (Some(2), Some(4096))
    );
    assert_eq!(cfg["labels"]["gpu"], "A100");
    let q = &r.requests()[0];
    assert_eq!(q["prompt"], "prompt number 0 about a topic");
    assert_eq!(q["output"], " tok tok tok tok tok");

    // OPENAI_API_KEY works too, and is not recorded either
    let p = dir.path().join("prompts.txt");
    let out = dir.path().join("env");
    let o = modelbench()
        .args([
            "run",
            "--base-url",
            &mock.base_url(),
            "--model",
            "m",
            "--prompts-file",
            p.to_str().unwrap(),
            "--output-dir",
        ])
        .arg(&out)
        .env("OPENAI_API_KEY", "sk-from-env")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        mock.stats
            .received()
            .last()
            .unwrap()
            .authorization
            .as_deref(),
        Some("Bearer sk-from-env")
    );
    let run_dir = run_support::find_run_dir(&out).unwrap();
    for f in std::fs::read_dir(&run_dir).unwrap().flatten() {
        assert!(!String::from_utf8_lossy(&std::fs::read(f.path()).unwrap()).contains("sk-from-env"));
    }
}
