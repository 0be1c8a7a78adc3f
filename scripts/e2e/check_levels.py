#!/usr/bin/env python3
"""Checks a `modelbench run --concurrency 1,2,4` against real vLLM (issue 10's e2e step).

usage: check_levels.py MODEL_DIR LEVELS

MODEL_DIR holds the run folders of that one invocation; LEVELS is the comma list given. Prints
PASS/FAIL lines (a checker with nothing to check fails): one run folder per level, each recording
its level as benchmark_config.max_concurrency, every request successful, and output throughput
rising with the level.
"""
import json
import os
import sys


def main():
    model_dir, levels = sys.argv[1], [int(x) for x in sys.argv[2].split(",")]
    runs = []
    if os.path.isdir(model_dir):
        for d in sorted(os.listdir(model_dir)):
            p = os.path.join(model_dir, d, "benchmark_results.json")
            if d.startswith("run_") and os.path.isfile(p):
                with open(p) as f:
                    runs.append((d, json.load(f)))
    ok = len(runs) == len(levels)
    print(f"{'PASS' if ok else 'FAIL'} one run folder per level ({len(runs)} for {len(levels)} levels)")
    if not runs:
        return
    got = [r["benchmark_config"].get("max_concurrency") for _, r in runs]
    ok = sorted(got) == sorted(levels) and got == sorted(got)
    print(f"{'PASS' if ok else 'FAIL'} levels recorded as max_concurrency, ascending: {got}")
    failed = [r["benchmark_stats"]["summary"].get("failed_requests", 0) for _, r in runs]
    print(f"{'PASS' if all(f == 0 for f in failed) else 'FAIL'} no failed request at any level: {failed}")
    thr = [r["benchmark_stats"]["summary"]["overall_throughput_tokens_per_sec"] for _, r in runs]
    rising = all(b > a for a, b in zip(thr, thr[1:]))
    shown = ", ".join(f"c={c}: {t:.1f} tok/s" for c, t in zip(got, thr))
    print(f"{'PASS' if rising and len(thr) == len(levels) else 'FAIL'} output throughput rises with the load: {shown}")


if __name__ == "__main__":
    main()
