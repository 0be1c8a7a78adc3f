//! `compare --curves` (load curves and the Pareto chart) and the capacity charts, on runs
//! written in temporary folders as `run --concurrency 1,4,16` and `--find-max` write them.

mod common;

use std::path::Path;

use common::{add_config, capacity_file, modelbench, values, write_run};

/// A run of `model` at TP=`tp`, concurrency `conc`, with throughput `thr`, latencies from
/// `lat` and a mean TPOT.
#[allow(clippy::too_many_arguments)]
fn level_run(
    base: &Path,
    model: &str,
    n: usize,
    tp: u32,
    conc: u32,
    thr: f64,
    lat: f64,
    tpot: f64,
) {
    let folder = model.replace('/', "_");
    let dir = write_run(
        base,
        &folder,
        &format!("run_20250101_{n:06}"),
        model,
        tp,
        1,
        1,
        4096,
        values(thr, lat),
    );
    add_config(
        &dir,
        &format!("\"max_concurrency\": {conc}, \"request_rate\": null"),
    );
    let p = dir.join("benchmark_results.json");
    let text = std::fs::read_to_string(&p).unwrap().replacen(
        "\"schedule_delay\": {",
        &format!("\"time_per_output_token\": {{\"tpot_avg\": {tpot}}}, \"schedule_delay\": {{"),
        1,
    );
    std::fs::write(&p, text).unwrap();
}

fn compare(base: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "compare",
        "--model1",
        "org/a",
        "--model2",
        "org/b",
        "--base-dir",
        base.to_str().unwrap(),
        "--output-dir",
        out.to_str().unwrap(),
        "--all-configs",
    ];
    args.extend_from_slice(extra);
    modelbench(&args)
}

#[test]
fn curves_and_pareto_are_drawn_with_the_values_of_the_runs() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    let mut n = 0;
    for (model, speed) in [("org/a", 1.0), ("org/b", 1.5)] {
        for tp in [1, 2] {
            for conc in [1u32, 4, 16] {
                n += 1;
                let c = f64::from(conc);
                let thr = speed * 100.0 * c.sqrt() * f64::from(tp);
                level_run(&base, model, n, tp, conc, thr, 10.0 * c, 5.0 + c / speed);
            }
        }
        // a repeat of TP=1 at concurrency 4: averaged into one point
        n += 1;
        level_run(
            &base,
            model,
            n,
            1,
            4,
            speed * 100.0 * 2.0 + 10.0,
            40.0,
            9.0 + 4.0 / speed,
        );
    }
    let out = d.path().join("plots");
    let (code, stdout, err) = compare(&base, &out, &["--curves", "--format", "both"]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(!err.contains("averaged"), "{err}");
    for tp in [1, 2] {
        let stem = format!("curves_tp{tp}_dp1_pp1_mnbt4096_conc");
        assert!(out.join(format!("{stem}.png")).exists(), "{stdout}");
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        let texts: Vec<String> = common::svg_texts(&svg).into_iter().map(|t| t.0).collect();
        for label in [
            "c1",
            "c4",
            "c16",
            "output tokens/s",
            "Time to first token p99",
        ] {
            assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
        }
        let csv = std::fs::read_to_string(out.join(format!("{stem}.csv"))).unwrap();
        let rows: Vec<Vec<&str>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert_eq!(rows.len(), 6, "{csv}");
        assert_eq!(rows[0][..3], ["org/a", "1", ""]);
        assert_eq!(rows[2][1], "16");
        let thr_b_16: f64 = rows[5][3].parse().unwrap();
        assert!(
            (thr_b_16 - 1.5 * 400.0 * f64::from(tp)).abs() < 1e-9,
            "{csv}"
        );
        if tp == 1 {
            // the repeat: mean of 200 and 210, n = 2
            assert_eq!(rows[1][3], "205", "{csv}");
            assert_eq!(rows[1][11], "2", "{csv}");
        }
    }
    // Pareto: 12 points; per GPU divides by TP; per user is 1000 / mean TPOT.
    let csv = std::fs::read_to_string(out.join("pareto.csv")).unwrap();
    assert!(csv.starts_with("model,point,tokens_per_sec_per_user,tokens_per_sec_per_gpu,on_front"));
    let row = csv
        .lines()
        .find(|l| l.starts_with("org/b,TP2 DP1 PP1 · mnbt 4096 · c16,"))
        .unwrap();
    let cells: Vec<&str> = row.split(',').collect();
    let per_user: f64 = cells[2].parse().unwrap();
    let per_gpu: f64 = cells[3].parse().unwrap();
    assert!(
        (per_user - 1000.0 / (5.0 + 16.0 / 1.5)).abs() < 1e-9,
        "{row}"
    );
    assert!((per_gpu - 1.5 * 400.0).abs() < 1e-9, "{row}");
    // b's TP1 c1 has b's highest per-user speed: on the front (which points are dominated is
    // checked in curves::tests).
    assert!(
        csv.contains("org/b,TP1 DP1 PP1 · mnbt 4096 · c1,176.47058823529412,150,true"),
        "{csv}"
    );
    assert!(out.join("pareto.png").exists());

    // --per-gpu needs --curves; throughput per GPU on the curves' x axis.
    let (code, _, err) = compare(&base, &d.path().join("p2"), &["--per-gpu"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = compare(
        &base,
        &d.path().join("p3"),
        &["--curves", "--per-gpu", "--format", "svg"],
    );
    assert_eq!(code, 0, "{err}");
    let svg =
        std::fs::read_to_string(d.path().join("p3/curves_tp2_dp1_pp1_mnbt4096_conc.svg")).unwrap();
    assert!(svg.contains("output tokens/s per GPU"));
}

#[test]
fn curves_without_load_levels_say_so() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    for (i, m) in ["org/a", "org/b"].iter().enumerate() {
        write_run(
            &base,
            &m.replace('/', "_"),
            &format!("run_2025010{i}_000001"),
            m,
            1,
            1,
            1,
            4096,
            values(100.0, 10.0),
        );
    }
    let (code, stdout, err) = compare(&base, &d.path().join("plots"), &["--curves"]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(
        err.contains("--curves: no configuration was measured at two or more loads"),
        "{err}"
    );
    // older runs without TPOT or mean inter-token latency cannot be placed on the Pareto chart
    assert!(!d.path().join("plots/pareto.csv").exists());
    assert!(err.contains("2 run(s) left off the Pareto chart"), "{err}");
}

#[test]
fn capacity_files_give_a_chart_per_model_pair_with_differences() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("results");
    for m in ["org/a", "org/b"] {
        write_run(
            &base,
            &m.replace('/', "_"),
            "run_20250101_000001",
            m,
            1,
            1,
            1,
            4096,
            values(100.0, 10.0),
        );
    }
    capacity_file(&base, "org/a", "20250101_000001", 1, Some(4.0), 500);
    capacity_file(&base, "org/a", "20250101_000002", 2, Some(10.0), 500);
    // an older answer replaced by a newer one
    capacity_file(&base, "org/b", "20250101_000001", 1, Some(2.0), 500);
    capacity_file(&base, "org/b", "20250101_000003", 1, Some(6.0), 500);
    capacity_file(&base, "org/b", "20250101_000004", 2, Some(7.0), 500);
    // another SLO only b searched: no chart
    capacity_file(&base, "org/b", "20250101_000005", 2, Some(1.0), 100);
    let out = d.path().join("plots");
    let (code, stdout, err) = compare(&base, &out, &["--format", "svg"]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let csv = std::fs::read_to_string(out.join("capacity_comparison.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "axis,slo,configuration,model1,model2,diff_pct,candidate"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].ends_with(",4,6,50,org/b"), "{csv}");
    assert!(lines[2].ends_with(",10,7,-30,org/b"), "{csv}");
    let svg = std::fs::read_to_string(out.join("capacity_concurrency_slo1.svg")).unwrap();
    let texts = common::svg_texts(&svg);
    let pct: Vec<(String, String)> = texts
        .iter()
        .filter(|(t, _)| t.trim().ends_with('%'))
        .cloned()
        .collect();
    assert_eq!(
        pct,
        [
            (
                "+50.0%".to_owned(),
                modelbench::plot::BETTER_COLOR.to_owned()
            ),
            (
                "\u{2212}30.0%".to_owned(),
                modelbench::plot::WORSE_COLOR.to_owned()
            )
        ],
        "{texts:?}"
    );
    assert!(!out.join("capacity_concurrency_slo2.svg").exists());
}
