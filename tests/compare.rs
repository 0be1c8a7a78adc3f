//! `modelbench compare` and `summarize` on sweeps generated in temporary folders.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{modelbench, svg_texts, values, write_run};
use modelbench::plot::{BETTER_COLOR, NA_COLOR, WORSE_COLOR};

const A: &str = "Org/ModelA";
const B: &str = "Org/ModelA-AWQ";
const FA: &str = "Org_ModelA";
const FB: &str = "Org_ModelA-AWQ";

/// Two models; TP=1 at two batch sizes (model A run twice at 4096), TP=2 at one, TP=4 only
/// for model A; plus three broken runs of model A.
fn sweep(base: &Path) {
    write_run(
        base,
        FA,
        "run_20250101_000001",
        A,
        1,
        1,
        1,
        4096,
        values(100.0, 50.0),
    );
    write_run(
        base,
        FA,
        "run_20250101_000002",
        A,
        1,
        1,
        1,
        4096,
        values(200.0, 70.0),
    );
    write_run(
        base,
        FB,
        "run_20250101_000001",
        B,
        1,
        1,
        1,
        4096,
        values(180.0, 66.0),
    );
    write_run(
        base,
        FA,
        "run_20250101_000003",
        A,
        1,
        1,
        1,
        8192,
        values(100.0, 40.0),
    );
    let mut v = values(90.0, 30.0);
    v[6] = Some(f64::NAN); // itl p99 NaN for model B
    write_run(base, FB, "run_20250101_000003", B, 1, 1, 1, 8192, v);
    let mut v = values(10.0, 10.0);
    v[3] = Some(0.0); // ttft p50 = 0 for model A: no percentage
    write_run(base, FA, "run_20250101_000004", A, 2, 1, 1, 4096, v);
    write_run(
        base,
        FB,
        "run_20250101_000004",
        B,
        2,
        1,
        1,
        4096,
        values(20.0, 10.0),
    );
    write_run(
        base,
        FA,
        "run_20250101_000005",
        A,
        4,
        1,
        1,
        4096,
        values(20.0, 10.0),
    );

    // broken runs of model A
    let t = write_run(
        base,
        FA,
        "run_20250101_000006",
        A,
        8,
        1,
        1,
        4096,
        values(1.0, 1.0),
    );
    let full = std::fs::read_to_string(t.join("benchmark_results.json")).unwrap();
    std::fs::write(t.join("benchmark_results.json"), &full[..full.len() / 2]).unwrap();
    std::fs::create_dir_all(base.join(FA).join("run_20250101_000007")).unwrap();
    let n = base.join(FA).join("run_20250101_000008");
    std::fs::create_dir_all(&n).unwrap();
    std::fs::write(
        n.join("benchmark_results.json"),
        r#"{"benchmark_config": {"model_name": "Org/ModelA"}}"#,
    )
    .unwrap();
}

/// `modelbench compare --model1 M1 --model2 M2 --base-dir B --output-dir O`.
fn compare_models(m1: &str, m2: &str, base: &str, out: &str) -> (i32, String, String) {
    modelbench(&[
        "compare",
        "--model1",
        m1,
        "--model2",
        m2,
        "--base-dir",
        base,
        "--output-dir",
        out,
    ])
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// The % labels of a chart: texts ending in `%` or equal to `n/a`, with their fill.
fn pct_labels(svg_path: &Path) -> Vec<(String, String)> {
    let svg = std::fs::read_to_string(svg_path).unwrap();
    svg_texts(&svg)
        .into_iter()
        .filter(|(t, _)| t.ends_with('%') || t == "n/a")
        .collect()
}

fn same_color(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[test]
fn compare_all_configs_writes_every_chart_csv_and_warns_about_broken_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("sweeps");
    sweep(&base);
    let out = tmp.path().join("plots");
    let (code, stdout, stderr) = modelbench(&[
        "compare",
        "--model1",
        "ModelA",
        "--model2",
        "Org/ModelA-AWQ",
        "--base-dir",
        base.to_str().unwrap(),
        "--output-dir",
        out.to_str().unwrap(),
        "--all-configs",
        "--combined",
        "--format",
        "both",
    ]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");

    // exactly one warning per broken run, naming the folder and the reason
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 3, "{stderr}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("run_20250101_000006") && w.contains("truncated")),
        "{stderr}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("run_20250101_000007") && w.contains("no benchmark_results.json")),
        "{stderr}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("run_20250101_000008") && w.contains("none of the metric fields")),
        "{stderr}"
    );

    // file names
    let files: BTreeSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut want = BTreeSet::new();
    for tag in ["tp1_dp1_pp1", "tp2_dp1_pp1"] {
        for m in modelbench::metrics::Metric::ALL {
            for ext in ["png", "svg"] {
                want.insert(format!("{}_{tag}.{ext}", m.key()));
            }
        }
        want.insert(format!("combined_{tag}.png"));
        want.insert(format!("combined_{tag}.svg"));
        want.insert(format!("comparison_{tag}.csv"));
    }
    assert_eq!(files, want);

    // PNGs are real images
    let png = std::fs::read(out.join("ttft_p99_ms_tp1_dp1_pp1.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // CSV: means over repeats, full precision, n, empty cells for missing
    let rows = csv_rows(&out.join("comparison_tp1_dp1_pp1.csv"));
    assert_eq!(
        rows[0].join(","),
        "metric,max_num_batched_tokens,model1,model2,diff_pct,n1,n2,diff_ci_low,diff_ci_high,significant,partial1,partial2",
        "the users' columns, then the appended interval and partial-run counts"
    );
    let row = |metric: &str, bt: &str| {
        rows.iter()
            .find(|r| r[0] == metric && r[1] == bt)
            .unwrap()
            .clone()
    };
    assert_eq!(
        row("overall_throughput_tokens_per_sec", "4096"),
        [
            "overall_throughput_tokens_per_sec",
            "4096",
            "150",
            "180",
            "20",
            "2",
            "1",
            "",
            "",
            "",
            "0",
            "0"
        ]
    );
    assert_eq!(
        row("total_latency_p50_ms", "4096")[2..],
        ["60", "66", "10", "2", "1", "", "", "", "0", "0"]
    );
    assert_eq!(
        row("overall_throughput_tokens_per_sec", "8192")[2..],
        ["100", "90", "-10", "1", "1", "", "", "", "0", "0"]
    );
    assert_eq!(
        row("inter_token_p99_ms", "8192")[2..],
        ["0.8", "", "", "1", "0", "", "", "", "0", "0"]
    );
    let r = row("ttft_p50_ms", "4096");
    assert_eq!(r[2], "6");
    assert!((r[4].parse::<f64>().unwrap() - 10.0).abs() < 1e-9);
    let rows2 = csv_rows(&out.join("comparison_tp2_dp1_pp1.csv"));
    let t = rows2.iter().find(|r| r[0] == "ttft_p50_ms").unwrap();
    assert_eq!(t[2..], ["0", "1", "", "1", "1", "", "", "", "0", "0"]);

    // label colours, in x order (4096, 8192)
    let thr = pct_labels(&out.join("overall_throughput_tokens_per_sec_tp1_dp1_pp1.svg"));
    assert_eq!(thr.len(), 2, "{thr:?}");
    assert!(
        thr[0].0.contains("20.0")
            && thr[0].0.starts_with('+')
            && same_color(&thr[0].1, BETTER_COLOR),
        "{thr:?}"
    );
    assert!(
        thr[1].0.contains("10.0")
            && !thr[1].0.starts_with('+')
            && same_color(&thr[1].1, WORSE_COLOR),
        "{thr:?}"
    );
    let lat = pct_labels(&out.join("total_latency_p50_ms_tp1_dp1_pp1.svg"));
    assert!(
        same_color(&lat[0].1, WORSE_COLOR),
        "higher latency is worse: {lat:?}"
    );
    assert!(
        same_color(&lat[1].1, BETTER_COLOR),
        "lower latency is better: {lat:?}"
    );
    let itl = pct_labels(&out.join("inter_token_p99_ms_tp1_dp1_pp1.svg"));
    assert_eq!(itl[1].0, "n/a");
    assert!(same_color(&itl[1].1, NA_COLOR), "{itl:?}");
    let ttft = pct_labels(&out.join("ttft_p50_ms_tp2_dp1_pp1.svg"));
    assert_eq!(
        (ttft[0].0.as_str(), same_color(&ttft[0].1, NA_COLOR)),
        ("n/a", true),
        "model 1 = 0: {ttft:?}"
    );
    // the combined figure has one label per metric and batch size
    assert_eq!(pct_labels(&out.join("combined_tp1_dp1_pp1.svg")).len(), 14);

    // terminal: tables, files, and the configuration only model A has
    assert!(stdout.contains("TP=1, DP=1, PP=1"), "{stdout}");
    assert!(stdout.contains("+20.0%"), "{stdout}");
    assert!(
        stdout.contains("only Org/ModelA has (not plotted)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("TP=4, DP=1, PP=1, max_num_batched_tokens=4096"),
        "{stdout}"
    );
    assert!(stdout.contains("comparison_tp1_dp1_pp1.csv"), "{stdout}");
}

#[test]
fn compare_default_config_and_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("s");
    sweep(&base);
    let out = tmp.path().join("o");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "compare",
            "--model1",
            "ModelA",
            "--model2",
            "ModelA-AWQ",
            "--base-dir",
            base.to_str().unwrap(),
            "--output-dir",
            out.to_str().unwrap(),
        ];
        v.extend_from_slice(extra);
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        modelbench(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // default: TP=1, DP=1, PP=1 only, PNG only
    let (code, _, stderr) = run(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.join("ttft_p50_ms_tp1_dp1_pp1.png").exists());
    assert!(!out.join("ttft_p50_ms_tp1_dp1_pp1.svg").exists());
    assert!(!out.join("ttft_p50_ms_tp2_dp1_pp1.png").exists());
    assert!(!out.join("combined_tp1_dp1_pp1.png").exists());

    // a configuration neither model has both of: non-zero, says why and what exists
    let (code, _, stderr) = run(&["--tp", "4"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("no results for both models at TP=4, DP=1, PP=1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("(TP=1, DP=1, PP=1), (TP=2, DP=1, PP=1)"),
        "{stderr}"
    );

    let (code, _, stderr) = run(&["--dp", "0"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--dp must be at least 1"), "{stderr}");
}

#[test]
fn compare_model_names_and_missing_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("s");
    sweep(&base);
    write_run(
        &base,
        "Other_ModelA",
        "run_1",
        "Other/ModelA",
        1,
        1,
        1,
        4096,
        values(1.0, 1.0),
    );
    let b = base.to_str().unwrap();
    let o = tmp.path().join("o");
    let o = o.to_str().unwrap();

    let (code, _, stderr) = compare_models("Nope", "ModelA-AWQ", b, o);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("--model1 Nope")
            && stderr.contains("Org_ModelA, Org_ModelA-AWQ, Other_ModelA"),
        "{stderr}"
    );

    let (code, _, stderr) = compare_models("ModelA", "ModelA-AWQ", b, o);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("matches several model folders")
            && stderr.contains("Org_ModelA, Other_ModelA"),
        "{stderr}"
    );

    let missing = tmp.path().join("does-not-exist");
    let (code, _, stderr) = modelbench(&[
        "compare",
        "--model1",
        "A",
        "--model2",
        "B",
        "--base-dir",
        missing.to_str().unwrap(),
        "--output-dir",
        o,
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("does-not-exist") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
}

#[test]
fn compare_fails_when_one_model_has_nothing_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("s");
    write_run(&base, FA, "run_1", A, 1, 1, 1, 4096, values(1.0, 1.0));
    let t = write_run(&base, FB, "run_1", B, 1, 1, 1, 4096, values(1.0, 1.0));
    std::fs::write(
        t.join("benchmark_results.json"),
        "{\"benchmark_stats\": {\"summary\": {\"overall_thr",
    )
    .unwrap();
    let (code, _, stderr) = modelbench(&[
        "compare",
        "--model1",
        A,
        "--model2",
        B,
        "--base-dir",
        base.to_str().unwrap(),
        "--output-dir",
        tmp.path().join("o").to_str().unwrap(),
        "--all-configs",
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("warning: skipping") && stderr.contains("truncated"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Org_ModelA-AWQ has no readable run"),
        "{stderr}"
    );
}

#[test]
fn summarize_rows_missing_grid_and_best() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("s");
    sweep(&base);
    let (code, stdout, stderr) = modelbench(&[
        "summarize",
        "--model",
        "Org/ModelA",
        "--base-dir",
        base.to_str().unwrap(),
        "--expected-grid",
        "tp=1,2,4,8;dp=1;mnbt=4096,8192",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("warning:")).count(),
        3,
        "{stderr}"
    );
    let rows = csv_rows(&base.join(FA).join("benchmark_results_summary.csv"));
    assert_eq!(
        rows[0].join(","),
        "TP,DP,PP,max_num_batched_tokens,overall_throughput_tokens_per_sec,total_latency_p50_ms,total_latency_p99_ms,ttft_p50_ms,ttft_p99_ms,inter_token_p50_ms,inter_token_p99_ms,partial,max_concurrency,request_rate,goodput_requests_per_sec,goodput_tokens_per_sec,slo_attainment_pct",
        "the users' columns, then the appended `partial`, load and goodput columns"
    );
    let keys: Vec<String> = rows[1..]
        .iter()
        .map(|r| format!("{}/{}/{}/{}", r[0], r[1], r[2], r[3]))
        .collect();
    assert_eq!(
        keys,
        [
            "1/1/1/4096",
            "1/1/1/4096",
            "1/1/1/8192",
            "2/1/1/4096",
            "4/1/1/4096"
        ]
    );
    assert_eq!(rows[1][4..6], ["100", "50"]);
    assert_eq!(rows[4][7], "0");

    // missing: tp1..8 × {4096, 8192} minus what exists (tp8 4096 is the truncated run);
    // one line per (TP, DP, PP)
    let missing: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("missing from the expected grid"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(missing.len(), 3, "{stdout}");
    assert!(
        stdout.contains("missing from the expected grid (4 of 8)"),
        "{stdout}"
    );
    assert!(
        missing
            .iter()
            .any(|l| l.contains("TP=8, DP=1, PP=1: all 2 max_num_batched_tokens missing")),
        "{stdout}"
    );
    // best throughput: TP=1 4096 averaged (150) beats 100, 10 and 20
    let best = stdout
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("overall_throughput_tokens_per_sec")
        })
        .unwrap();
    assert!(
        best.contains("150.00")
            && best.contains("TP=1, DP=1, PP=1, max_num_batched_tokens=4096")
            && best.contains("mean of 2"),
        "{best}"
    );

    let (code, _, stderr) = modelbench(&[
        "summarize",
        "--model",
        "Org/ModelA",
        "--base-dir",
        base.to_str().unwrap(),
        "--expected-grid",
        "tp=x",
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--expected-grid"), "{stderr}");
}

/// Runs of one configuration at different loads (`benchmark_config.max_concurrency` /
/// `request_rate`, as `run --concurrency 1,4` writes them) are different measurements: never
/// averaged as repeats; each load gets its own charts and CSV (the file tag says the load), and
/// runs without a recorded load keep the users' file names.
#[test]
fn runs_at_different_loads_are_never_averaged_as_repeats() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    for (model, folder, thr) in [("org/a", "org_a", 100.0), ("org/b", "org_b", 200.0)] {
        for (run, conc, scale) in [
            ("run_20250101_000001", 1, 1.0),
            ("run_20250101_000002", 4, 3.0),
        ] {
            let dir = write_run(
                &base,
                folder,
                run,
                model,
                1,
                1,
                1,
                4096,
                values(thr * scale, 50.0 * scale),
            );
            let p = dir.join("benchmark_results.json");
            let text = std::fs::read_to_string(&p).unwrap().replacen(
                "\"max_num_batched_tokens\": 4096}",
                &format!("\"max_num_batched_tokens\": 4096, \"max_concurrency\": {conc}, \"request_rate\": null}}"),
                1,
            );
            std::fs::write(&p, text).unwrap();
        }
    }
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
    ]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(!err.contains("averaged as repeats"), "{err}");
    for (tag, thr1, thr2) in [
        ("tp1_dp1_pp1_c1", "100", "200"),
        ("tp1_dp1_pp1_c4", "300", "600"),
    ] {
        let csv = std::fs::read_to_string(out.join(format!("comparison_{tag}.csv"))).unwrap();
        let row = csv
            .lines()
            .find(|l| l.starts_with("overall_throughput_tokens_per_sec,"))
            .unwrap();
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells[2..7], [thr1, thr2, "100", "1", "1"], "{tag}: {row}");
        assert!(out.join(format!("ttft_p50_ms_{tag}.png")).exists(), "{tag}");
    }
    assert!(stdout.contains("concurrency 4"), "{stdout}");
}

/// `--x FIELD`: the chosen field is the x axis and the CSV's second column; the other key
/// fields (max_num_batched_tokens here) split the charts; runs at different values of the
/// field are never averaged.
#[test]
fn x_picks_the_axis_and_names_the_csv_column() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    let mut n = 0;
    for (model, folder, thr) in [("org/a", "org_a", 100.0), ("org/b", "org_b", 150.0)] {
        for mnbt in [4096, 8192] {
            for (conc, seqs) in [(1, 64), (4, 128), (16, 256)] {
                n += 1;
                let dir = write_run(
                    &base,
                    folder,
                    &format!("run_20250101_{n:06}"),
                    model,
                    1,
                    1,
                    1,
                    mnbt,
                    values(thr * f64::from(conc) + mnbt as f64 / 1024.0, 50.0),
                );
                common::add_config(
                    &dir,
                    &format!("\"max_num_seqs\": {seqs}, \"max_concurrency\": {conc}, \"request_rate\": null"),
                );
            }
        }
    }
    let out = d.path().join("plots");
    let args = |x: &'static str, out: &Path| -> Vec<String> {
        [
            "compare",
            "--model1",
            "org/a",
            "--model2",
            "org/b",
            "--base-dir",
            base.to_str().unwrap(),
            "--output-dir",
            out.to_str().unwrap(),
            "--format",
            "svg",
            "--x",
            x,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |x: &'static str, out: &Path| {
        let a = args(x, out);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        modelbench(&a)
    };
    let (code, stdout, err) = run("max_concurrency", &out);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(!err.contains("averaged"), "{err}");
    for mnbt in [4096u32, 8192] {
        let csv =
            std::fs::read_to_string(out.join(format!("comparison_tp1_dp1_pp1_mnbt{mnbt}.csv")))
                .unwrap();
        let mut lines = csv.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("metric,max_concurrency,model1,model2,"));
        let thr: Vec<Vec<&str>> = csv
            .lines()
            .filter(|l| l.starts_with("overall_throughput_tokens_per_sec,"))
            .map(|l| l.split(',').collect())
            .collect();
        let extra = f64::from(mnbt) / 1024.0;
        assert_eq!(thr.len(), 3, "{csv}");
        for (row, conc) in thr.iter().zip([1.0, 4.0, 16.0]) {
            assert_eq!(row[1], format!("{conc}"), "{csv}");
            assert_eq!(row[2], format!("{}", 100.0 * conc + extra));
            assert_eq!(row[3], format!("{}", 150.0 * conc + extra));
        }
        let svg = std::fs::read_to_string(out.join(format!(
            "overall_throughput_tokens_per_sec_tp1_dp1_pp1_mnbt{mnbt}.svg"
        )))
        .unwrap();
        let texts: Vec<String> = svg_texts(&svg).into_iter().map(|(t, _)| t).collect();
        assert!(texts.iter().any(|t| t == "max_concurrency"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "16"), "{texts:?}");
    }
    // Any benchmark_config field: a sweep's max_num_seqs (it moves with the concurrency here,
    // so the load splits the charts and each chart has one x value).
    let out2 = d.path().join("plots2");
    let (code, stdout, err) = run("max_num_seqs", &out2);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let csv = std::fs::read_to_string(out2.join("comparison_tp1_dp1_pp1_mnbt4096_c4.csv")).unwrap();
    assert!(csv.starts_with("metric,max_num_seqs,"), "{csv}");
    assert!(
        csv.contains("overall_throughput_tokens_per_sec,128,404,604,"),
        "{csv}"
    );
    // The parallelism cannot be the x axis; a field no run records is an error naming it.
    let (code, _, err) = run("tensor_parallel_size", &d.path().join("p3"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--x") && err.lines().count() == 1, "{err}");
    let (code, _, err) = run("max_num_sqes", &d.path().join("p4"));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--x max_num_sqes")
            && err.contains("max_num_seqs")
            && err.lines().count() == 1,
        "{err}"
    );
}
