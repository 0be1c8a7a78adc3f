//! `compare`'s 95 % intervals on generated sweeps where the truth is known: at some batch sizes
//! model 2 is drawn from the same distributions as model 1 (null), at others it is shifted.

mod common;

use std::path::Path;

use common::{modelbench, svg_texts, write_run_requests, Req};
use modelbench::plot::{BETTER_COLOR, NOISE_COLOR, WORSE_COLOR};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal};

const A: &str = "Org/Base";
const B: &str = "Org/Cand";
const C: &str = "Org/Third";

/// Batch sizes where model 2 equals model 1 in distribution.
const NULL_X: [u64; 3] = [1024, 2048, 3072];
/// Batch sizes with a real shift of model 2's latencies: (x, factor).
const SHIFTED: [(u64, f64); 2] = [(4096, 0.75), (8192, 1.3)];

/// 200 requests: TTFT lognormal around 50 ms, 32 gaps around 12 ms sharing a request factor.
fn requests(seed: u64, scale: f64) -> Vec<Req> {
    let mut rng = StdRng::seed_from_u64(seed);
    let ttft = LogNormal::new((0.05f64).ln(), 0.3).unwrap();
    let factor = LogNormal::new(0.0, 0.2).unwrap();
    let gap = LogNormal::new((0.012f64).ln(), 0.3).unwrap();
    (0..200)
        .map(|_| {
            let f = factor.sample(&mut rng);
            Req {
                ttft: ttft.sample(&mut rng) * scale,
                gaps: (0..32).map(|_| gap.sample(&mut rng) * f * scale).collect(),
            }
        })
        .collect()
}

/// Model 1 and model 2 (and, with `third`, a third model equal to model 1 in distribution),
/// one run per configuration, TP=1.
fn sweep(base: &Path, third: bool) {
    let xs = NULL_X.iter().map(|&x| (x, 1.0)).chain(SHIFTED).enumerate();
    for (i, (x, factor)) in xs {
        let run = format!("run_20250101_00000{i}");
        let seed = x * 10;
        write_run_requests(
            base,
            "Org_Base",
            &run,
            A,
            1,
            x,
            1000.0,
            &requests(seed, 1.0),
        );
        write_run_requests(
            base,
            "Org_Cand",
            &run,
            B,
            1,
            x,
            1000.0 / factor,
            &requests(seed + 1, factor),
        );
        if third {
            write_run_requests(
                base,
                "Org_Third",
                &run,
                C,
                1,
                x,
                1000.0,
                &requests(seed + 2, 1.0),
            );
        }
    }
}

/// `compare --model1 A --model2 B` (SVG only) plus `extra`; returns stdout.
fn compare(base: &Path, out: &Path, extra: &[&str]) -> String {
    let fixed = format!("compare --model1 {A} --model2 {B} --format svg");
    let mut args: Vec<&str> = fixed.split(' ').collect();
    for (flag, dir) in [("--base-dir", base), ("--output-dir", out)] {
        args.push(flag);
        args.push(dir.to_str().unwrap());
    }
    args.extend(extra);
    let (code, stdout, stderr) = modelbench(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    stdout
}

/// Every record of a CSV file, header first.
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap();
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn null_differences_are_grey_and_real_shifts_coloured_with_the_right_sign() {
    let base = tempfile::tempdir().unwrap();
    sweep(base.path(), false);
    let out = tempfile::tempdir().unwrap();
    let stdout = compare(base.path(), out.path(), &[]);
    assert!(stdout.contains("Δ% [95% CI]"), "{stdout}");

    let rows = csv_rows(&out.path().join("comparison_tp1_dp1_pp1.csv"));
    assert_eq!(
        rows[0].join(","),
        "metric,max_num_batched_tokens,model1,model2,diff_pct,n1,n2,diff_ci_low,diff_ci_high,significant,partial1,partial2"
    );
    let num = |s: &str| s.parse::<f64>().unwrap();
    let (mut null_rows, mut null_significant) = (0, 0);
    for r in &rows[1..] {
        assert_eq!(r.len(), 12, "{r:?}");
        let x: u64 = r[1].parse().unwrap();
        if r[0] == "overall_throughput_tokens_per_sec" {
            // One run per side: no honest interval.
            assert_eq!(&r[7..10], ["", "", ""], "{r:?}");
            continue;
        }
        let (d, lo, hi) = (num(&r[4]), num(&r[7]), num(&r[8]));
        assert!(
            lo <= d && d <= hi,
            "point estimate outside its interval: {r:?}"
        );
        assert_eq!(r[9], (lo > 0.0 || hi < 0.0).to_string(), "{r:?}");
        if NULL_X.contains(&x) {
            null_rows += 1;
            null_significant += usize::from(r[9] == "true");
        } else if r[0].contains("p50") || r[0] == "inter_token_p99_ms" {
            let factor = SHIFTED.iter().find(|s| s.0 == x).unwrap().1;
            assert_eq!(r[9], "true", "a real shift must be found: {r:?}");
            assert_eq!(d > 0.0, factor > 1.0, "{r:?}");
        }
    }
    assert_eq!(null_rows, 18);
    assert!(
        null_significant <= 2,
        "{null_significant} of 18 null differences called significant"
    );

    // The charts: null differences grey "≈ …", shifted ones green (faster) or red (slower).
    let svg = std::fs::read_to_string(out.path().join("ttft_p50_ms_tp1_dp1_pp1.svg")).unwrap();
    let labels: Vec<(String, String)> = svg_texts(&svg)
        .into_iter()
        .filter(|(t, _)| t.ends_with('%'))
        .collect();
    assert_eq!(labels.len(), 5, "{labels:?}");
    for (t, fill) in &labels[..3] {
        if fill == NOISE_COLOR {
            assert!(t.starts_with("\u{2248} "), "{t}");
        }
    }
    assert!(
        labels[..3].iter().filter(|(_, f)| f == NOISE_COLOR).count() >= 2,
        "{labels:?}"
    );
    assert_eq!(labels[3].1, BETTER_COLOR, "{labels:?}");
    assert_eq!(labels[4].1, WORSE_COLOR, "{labels:?}");
    assert!(svg_texts(&svg)
        .iter()
        .any(|(t, _)| t == "\u{2248} within noise (95 % CI includes 0)"));
}

#[test]
fn intervals_are_deterministic() {
    let base = tempfile::tempdir().unwrap();
    sweep(base.path(), false);
    let (o1, o2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s1 = compare(base.path(), o1.path(), &["--combined"]);
    let s2 = compare(base.path(), o2.path(), &["--combined"]);
    assert_eq!(
        s1.replace(o1.path().to_str().unwrap(), "OUT"),
        s2.replace(o2.path().to_str().unwrap(), "OUT")
    );
    for f in ["comparison_tp1_dp1_pp1.csv", "combined_tp1_dp1_pp1.svg"] {
        let a = std::fs::read(o1.path().join(f)).unwrap();
        let b = std::fs::read(o2.path().join(f)).unwrap();
        assert!(a == b, "{f} differs between two runs");
    }
}

#[test]
fn three_models_on_one_chart() {
    let base = tempfile::tempdir().unwrap();
    sweep(base.path(), true);
    let out = tempfile::tempdir().unwrap();
    let stdout = compare(base.path(), out.path(), &["--model2", C, "--combined"]);
    assert!(stdout.contains("Org/Base vs Org/Cand"), "{stdout}");
    assert!(stdout.contains("Org/Base vs Org/Third"), "{stdout}");

    let rows = csv_rows(&out.path().join("comparison_tp1_dp1_pp1.csv"));
    assert_eq!(
        rows[0].join(","),
        "metric,max_num_batched_tokens,model1,model2,diff_pct,n1,n2,diff_ci_low,diff_ci_high,significant,partial1,partial2,candidate"
    );
    assert_eq!(rows.len(), 1 + 7 * 5 * 2);
    let third: Vec<&Vec<String>> = rows[1..].iter().filter(|r| r[12] == C).collect();
    assert_eq!(third.len(), 35);
    assert!(rows[1..].iter().all(|r| r[12] == B || r[12] == C));
    // The third model equals model 1 in distribution everywhere: mostly within noise.
    let significant = third.iter().filter(|r| r[9] == "true").count();
    assert!(
        significant <= 3,
        "{significant} of 30 null differences significant"
    );

    let svg = std::fs::read_to_string(out.path().join("ttft_p50_ms_tp1_dp1_pp1.svg")).unwrap();
    let fills = |hex: &str| svg.matches(&format!("fill=\"{hex}\"")).count();
    // Five bars per model plus its legend swatch.
    assert_eq!(fills("#4C72B0"), 6);
    assert_eq!(fills("#DD8452"), 6);
    assert_eq!(fills("#009E73"), 6);
    let texts = svg_texts(&svg);
    let pct: Vec<&(String, String)> = texts.iter().filter(|(t, _)| t.ends_with('%')).collect();
    assert_eq!(pct.len(), 10, "{pct:?}");
    assert!(pct
        .iter()
        .any(|(t, f)| f == NOISE_COLOR && t.starts_with('\u{2248}')));
    assert!(texts.iter().any(|(t, _)| t == "Org/Third (model 3)"));
    assert!(texts
        .iter()
        .any(|(t, _)| t == "% above each bar: that model vs model 1"));
    assert!(out.path().join("combined_tp1_dp1_pp1.svg").exists());
}
