//! One grid syntax: `summarize --expected-grid "tp=1,2;…"` and `sweep --tp 1,2 …` read a list of
//! values with the same parser — same numbers, same spaces, same duplicates, same errors.

mod common;

use common::{modelbench, sweep_dry_run, values, write_run};

/// `sweep --dry-run` with `axis_flags`; (exit code, stdout, stderr).
fn sweep_plan(axis_flags: &[&str]) -> (i32, String, String) {
    let d = tempfile::tempdir().unwrap();
    sweep_dry_run("org/m", &d.path().join("out"), axis_flags)
}

/// `summarize --expected-grid SPEC` over one run (TP=1, 4096); (exit code, stdout, stderr).
fn summarize_grid(spec: &str) -> (i32, String, String) {
    let d = tempfile::tempdir().unwrap();
    write_run(
        d.path(),
        "org_m",
        "run_1",
        "org/m",
        1,
        1,
        1,
        4096,
        values(1.0, 1.0),
    );
    modelbench(&[
        "summarize",
        "--model",
        "org/m",
        "--base-dir",
        d.path().to_str().unwrap(),
        "--expected-grid",
        spec,
    ])
}

#[test]
fn spaces_and_repeated_values_are_read_the_same_by_sweep_and_summarize() {
    let (code, out, err) = sweep_plan(&["--tp", "1, 2,2", "--max-num-batched-tokens", " 4096"]);
    assert_eq!(code, 0, "{err}");
    let planned: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("tp=") && l.contains("mnbt="))
        .collect();
    assert_eq!(planned.len(), 2, "{out}");
    assert!(
        planned[0].contains("tp=1") && planned[1].contains("tp=2"),
        "{out}"
    );

    let (code, out, err) = summarize_grid("tp=1, 2,2; dp=1; pp=1; mnbt= 4096; max_gpus=8");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(1 of 2)"), "{out}");
}

#[test]
fn bad_values_give_the_same_error_in_sweep_and_summarize() {
    for (value, want) in [
        ("x", "\"x\" is not a whole number"),
        ("1.5", "\"1.5\" is not a whole number"),
        ("+1", "\"+1\" is not a whole number"),
        ("0", "values must be at least 1"),
        ("1,,2", "empty value"),
        ("99999999999", "is too large"),
    ] {
        let (code, _, err) = sweep_plan(&[&format!("--tp={value}")]);
        assert_ne!(code, 0, "sweep --tp {value}");
        assert!(err.contains(want), "sweep --tp {value}: {err}");
        let (code, _, err) = summarize_grid(&format!("tp={value}"));
        assert_ne!(code, 0, "summarize tp={value}");
        assert!(
            err.contains(want) && err.contains("--expected-grid: tp"),
            "summarize tp={value}: {err}"
        );
    }
    // max_num_batched_tokens = 0 is no batch size, in either command
    let (code, _, err) = sweep_plan(&["--max-num-batched-tokens", "0"]);
    assert_ne!(code, 0);
    assert!(err.contains("values must be at least 1"), "{err}");
    let (code, _, err) = summarize_grid("mnbt=0");
    assert_ne!(code, 0, "summarize accepted mnbt=0");
    assert!(err.contains("values must be at least 1"), "{err}");
}
