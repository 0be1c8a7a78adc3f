"""Checks the run folders of a `modelbench sweep` whose configurations were meant to fail.

usage: check_failed.py MODEL_DIR ROOT_CAUSE OBSERVED

Every run folder must be recorded as failed, keep no results, and give as its reason the root
cause found in server.log (its text contains ROOT_CAUSE, case-insensitive) before what modelbench
itself saw (OBSERVED, e.g. `server exited during startup`). Prints `PASS <check>: <detail>` /
`FAIL <check>: <detail>` lines and exits 0 (the caller counts them); 2 for bad usage. No run folder
is a failure: a check never passes on nothing. Standard library only.
"""
import glob
import json
import os
import sys


def report(ok, name, detail):
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)


def main():
    if len(sys.argv) != 4 or not sys.argv[2] or not sys.argv[3]:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    model_dir, cause, observed = sys.argv[1], sys.argv[2].lower(), sys.argv[3].lower()
    runs = sorted(glob.glob(os.path.join(model_dir, "run_*")))
    report(bool(runs), "run folders recorded", f"{len(runs)} in {model_dir}")
    for run in runs:
        name = os.path.basename(run)
        try:
            with open(os.path.join(run, "sweep_status.json"), encoding="utf-8") as fh:
                status = json.load(fh)
        except (OSError, ValueError) as e:
            report(False, f"{name}: sweep_status.json readable", str(e))
            continue
        report(status.get("status") == "failed", f"{name}: recorded as failed", f"status {status.get('status')}")
        report(not os.path.exists(os.path.join(run, "benchmark_results.json")),
               f"{name}: no benchmark_results.json (a failure must not look like a result)", run)
        reason = str(status.get("reason") or "")
        print(f"reason: {reason}")
        low = reason.lower()
        at_cause, at_observed = low.find(cause), low.find(observed)
        report(0 <= at_cause < at_observed,
               f"{name}: reason names the root cause ({sys.argv[2]!r}) before what modelbench saw ({sys.argv[3]!r})",
               reason[:400] or "no reason")


if __name__ == "__main__":
    main()
