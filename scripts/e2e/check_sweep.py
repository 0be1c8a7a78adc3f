"""Checks the run folders one `modelbench sweep` wrote for one model.

usage: check_sweep.py MODEL_DIR OUTPUT_LEN NUM_PROMPTS CONFIGS

CONFIGS: the expected configurations as MNBT:MAX_NUM_SEQS pairs, comma separated
(e.g. 2048:8 or 1024:4,2048:8). Prints `PASS <check>: <detail>` / `FAIL <check>: <detail>`
lines and exits 0 (the caller counts them); 2 for bad usage (no configuration, no prompt).
Every check fails when there is nothing to check: no run folder passes nothing.
Standard library only.
"""
import glob
import json
import os
import sys


def report(ok, name, detail):
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)  # ok: any truthy value


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        model_dir, output_len, num_prompts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        expected = sorted((tuple(int(x) for x in pair.split(":")) for pair in sys.argv[4].split(",")), key=repr)
    except ValueError as e:
        sys.exit(print(f"bad arguments: {e}\n{__doc__}", file=sys.stderr) or 2)
    if num_prompts < 1 or not expected:
        sys.exit(print(f"nothing to check: NUM_PROMPTS {num_prompts}, CONFIGS {expected}", file=sys.stderr) or 2)

    runs = sorted(glob.glob(os.path.join(model_dir, "run_*")))
    seen, bad_status, bad_files, bad_requests, checked = [], [], [], [], []
    for run in runs:
        name = os.path.basename(run)
        try:
            with open(os.path.join(run, "sweep_status.json"), encoding="utf-8") as fh:
                status = json.load(fh).get("status")
        except (OSError, ValueError) as e:
            status = f"unreadable ({e})"
        if status != "complete":
            bad_status.append(f"{name}: {status}")
        missing = [f for f in ("benchmark_results.json", "config.json", "benchmark.log", "server.log")
                   if not os.path.isfile(os.path.join(run, f))]
        if missing:
            bad_files.append(f"{name}: {missing}")
            continue
        try:
            with open(os.path.join(run, "benchmark_results.json"), encoding="utf-8") as fh:
                res = json.load(fh)
            cfg = res["benchmark_config"]
            seen.append((cfg.get("max_num_batched_tokens"), cfg.get("max_num_seqs")))
            reqs = res["individual_requests"]
            summary = res["benchmark_stats"]["summary"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            bad_files.append(f"{name}: benchmark_results.json: {e}")
            continue
        wrong = [r.get("output_tokens") for r in reqs if r.get("output_tokens") != output_len]
        if (len(reqs) != num_prompts or summary.get("total_requests") != num_prompts
                or summary.get("failed_requests", 0) or wrong):
            bad_requests.append(f"{name}: {len(reqs)} request records, summary {summary.get('total_requests')} ok, "
                                f"{summary.get('failed_requests')} failed, output tokens off: {wrong[:3]}")
        checked.append(name)

    # Each check needs something to check: no run folder (or none readable) is a failure.
    report(runs and not bad_status and len(runs) == len(expected), "every configuration completed",
           f"{len(runs)} run folders, expected {len(expected)}" + (f"; {bad_status}" if bad_status else ""))
    report(runs and not bad_files, "run folders hold results, config, benchmark.log and server.log",
           f"all {len(runs)}" if runs and not bad_files else "; ".join(bad_files) or f"no run folder in {model_dir}")
    got = sorted(seen, key=repr)
    report(got == expected, "benchmark_config (max_num_batched_tokens, max_num_seqs) covers the grid",
           f"got {got}, expected {expected}")
    report(checked and not bad_requests, f"every request succeeded with {output_len} output tokens",
           f"all {len(checked)} runs" if checked and not bad_requests
           else "; ".join(bad_requests) or "no readable run to check")


if __name__ == "__main__":
    main()
