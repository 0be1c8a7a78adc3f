//! The HTML report: `modelbench report`, `compare --report` and `summarize --report` on runs
//! written in temporary folders (the page is opened in a real browser by scripts/e2e-report.sh).

mod common;

use std::path::Path;

use common::{add_config, capacity_file, modelbench, values, write_run};

const EVIL: &str = "org/<script>alert(1)</script>";

/// Model `org/a` and a candidate named like a script: TP=1 at two batch sizes (twice each, so
/// intervals exist), each also measured at two concurrencies for the curves, one broken run.
fn sweep(base: &Path) {
    let mut n = 0;
    for (model, thr) in [("org/a", 100.0), (EVIL, 130.0)] {
        let folder = model.replace('/', "_");
        for mnbt in [4096, 8192] {
            for conc in [1, 4] {
                for rep in 0..2 {
                    n += 1;
                    let dir = write_run(
                        base,
                        &folder,
                        &format!("run_20250101_{n:06}"),
                        model,
                        1,
                        1,
                        1,
                        mnbt,
                        values(
                            thr * f64::from(conc) + f64::from(rep),
                            10.0 * f64::from(conc),
                        ),
                    );
                    add_config(
                        &dir,
                        &format!(
                            "\"max_concurrency\": {conc}, \"max_num_seqs\": {}",
                            mnbt / 64
                        ),
                    );
                }
            }
        }
    }
    let broken = base.join("org_a").join("run_20250102_000000");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("benchmark_results.json"), "{").unwrap();
}

/// Nothing in the page can load anything: no external URL, no link or import.
fn assert_self_contained(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<script").count(), 1, "one script: the sorter");
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for needle in [
        "http:",
        "https:",
        "//cdn",
        "<link",
        "@import",
        "href=\"http",
    ] {
        assert!(!without_ns.contains(needle), "{needle}");
    }
    // The only sources are embedded images (the run timelines).
    assert_eq!(
        html.matches(" src=").count(),
        html.matches(" src=\"data:image/png;base64,").count(),
        "a src= that is not an embedded image"
    );
    for (i, _) in html.match_indices("url(") {
        assert!(html[i + 4..].starts_with('#'));
    }
}

#[test]
fn report_writes_one_self_contained_page() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    sweep(&base);
    let out = d.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let page = out.join("r.html");
    let (code, stdout, err) = modelbench(&[
        "report",
        "--model1",
        "org/a",
        "--model2",
        EVIL,
        "--base-dir",
        base.to_str().unwrap(),
        "--x",
        "max_concurrency",
        "--curves",
        "-o",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(stdout.contains("wrote "), "{stdout}");
    // Only the page: no chart or CSV files.
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("org/&lt;script&gt;alert(1)&lt;/script&gt;"));
    // Two charts' configurations (one per batch size), 7 metric charts each, plus the load
    // curves; no Pareto chart (the runs record no mean TPOT), which the page says.
    let curves = html.matches("<figcaption>Load curves").count();
    assert!(curves >= 1);
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 2 * 7 + curves);
    assert_eq!(curves, 2);
    assert!(html.contains("<h2>Load curves</h2>") && html.contains("<h2>Pareto</h2>"));
    assert!(html.contains("No run has both a mean TPOT"));
    assert!(html.contains("left off the Pareto chart"), "its warning");
    // The verdict rows: one per concurrency per configuration; +30 % throughput, significant.
    assert_eq!(html.matches("<tr><td class=\"l\" data-v=").count(), 4);
    assert!(html.contains("class=\"better\" data-v=\"29.85"), "{html}");
    assert!(html.contains("% more throughput"));
    // The runs behind the bars and the warnings compare printed.
    assert!(html.contains("run_20250101_000001") && html.contains("2025-01-01 00:00:01"));
    assert!(
        html.contains("run_20250102_000000"),
        "the broken run's warning"
    );
    assert!(err.contains("run_20250102_000000"));
    // max_num_seqs follows the batch size: the same for both models within a chart, so no
    // differing settings table.
    assert!(!html.contains("Settings that differ"));
}

#[test]
fn compare_report_goes_next_to_the_charts_and_summarize_report_into_the_model_folder() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    sweep(&base);
    // b differs from a in a setting.
    for (i, mnbt) in [4096, 8192].into_iter().enumerate() {
        let dir = write_run(
            &base,
            "org_b",
            &format!("run_20250103_00000{i}"),
            "org/b",
            1,
            1,
            1,
            mnbt,
            values(90.0, 12.0),
        );
        add_config(&dir, "\"max_concurrency\": 1, \"max_num_seqs\": 7");
    }
    capacity_file(&base, "org/a", "20250101_000001", 1, Some(4.0), 500);
    capacity_file(&base, "org/b", "20250101_000001", 1, Some(6.0), 500);
    let out = d.path().join("plots");
    let (code, stdout, err) = modelbench(&[
        "compare",
        "--model1",
        "org/a",
        "--model2",
        "org/b",
        "--base-dir",
        base.to_str().unwrap(),
        "--output-dir",
        out.to_str().unwrap(),
        "--report",
    ]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    // The charts and CSV files are still written.
    assert!(std::fs::read_dir(&out).unwrap().count() > 8);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("Settings that differ"));
    assert!(html.contains("<td class=\"l\">max_num_seqs</td>"));
    // The capacity chart of the pair.
    assert!(html.contains("<h2>Capacity</h2>"));
    assert!(html.contains("<figcaption>Capacity (concurrency): org/b against org/a"));

    let (code, stdout, err) = modelbench(&[
        "summarize",
        "--model",
        EVIL,
        "--base-dir",
        base.to_str().unwrap(),
        "--expected-grid",
        "tp=1,2;dp=1;pp=1;mnbt=4096",
        "--report",
    ]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(!err.contains("error"), "{err}");
    let page = base.join(EVIL.replace('/', "_")).join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    assert!(
        html.contains("<h1>org/&lt;script&gt;alert(1)&lt;/script&gt;</h1>"),
        "{html}"
    );
    assert!(html.contains("1 of 2 configurations of the expected grid have no result"));
    assert!(html.contains("Best configuration per metric"));
    assert_eq!(
        html.matches("run_20250101_0000").count(),
        8,
        "one row per run"
    );
}

/// Runs written since the server view (issue 12) carry the server's version, its `/metrics`
/// over the run, the host and a timeline: the report lists them per run, sums up the
/// environment per model and embeds the timelines as images (data: URIs, no file reference).
#[test]
fn server_view_environment_and_timelines_are_in_the_report() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    for (i, (model, version)) in [("org/a", "0.32.0"), ("org/b", "0.33.1")]
        .iter()
        .enumerate()
    {
        let dir = write_run(
            &base,
            &model.replace('/', "_"),
            &format!("run_2025010{i}_000001"),
            model,
            1,
            1,
            1,
            4096,
            values(100.0, 10.0),
        );
        let p = dir.join("benchmark_results.json");
        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap().replace("NaN", "null"))
                .unwrap();
        doc["benchmark_stats"]["summary"]["total_output_tokens"] = 640.into();
        doc["run_info"] = serde_json::json!({
            "server_version": version,
            "host_cpu_model": "AMD EPYC <9654>",
            "host_cpu_cores": 96,
            "gpus": [{"name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559, "driver_version": "550.54"},
                     {"name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559, "driver_version": "550.54"}]
        });
        doc["server_metrics"] = serde_json::json!({
            "complete": true, "warning": null,
            "num_requests_running": {"max": 8.0, "mean": 6.0},
            "num_requests_waiting": {"max": 2.0, "mean": 0.5},
            "kv_cache_usage_perc": {"max": 0.42, "mean": 0.3},
            "num_preemptions": 0.0,
            "generation_tokens": if i == 0 { 640.0 } else { 650.0 }
        });
        std::fs::write(&p, doc.to_string()).unwrap();
        // A real PNG (1×1), standing in for the timeline `run` draws.
        let png: &[u8] = &[
            0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52,
            0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1F, 0x15, 0xC4, 0x89, 0, 0, 0, 0x0A, 0x49,
            0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0D, 0x0A, 0x2D, 0xB4, 0, 0,
            0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
        ];
        std::fs::write(dir.join("timeline.png"), png).unwrap();
    }
    let out = d.path().join("r.html");
    let (code, stdout, err) = modelbench(&[
        "report",
        "--model1",
        "org/a",
        "--model2",
        "org/b",
        "--base-dir",
        base.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(err.contains("different vLLM versions"), "{err}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("<h2 id=\"environment\">Environment</h2>"));
    assert!(
        html.contains("org/a: vLLM 0.32.0; GPUs: 2 × NVIDIA H100 80GB HBM3 (81559 MiB, driver 550.54); host: AMD EPYC &lt;9654&gt;, 96 cores"),
        "{html}"
    );
    assert!(html.contains("vLLM 0.32.0; running ≤ 8, waiting ≤ 2, KV cache ≤ 42 %, 0 preemptions, generation tokens 640 = client"));
    assert!(html.contains("generation tokens: server 650, client 640"));
    assert_eq!(
        html.matches("src=\"data:image/png;base64,iVBORw0KGgo")
            .count(),
        2
    );
    assert!(
        !html.contains("timeline.png\""),
        "no reference to the file itself"
    );
    assert!(html.contains("different vLLM versions"));
}
