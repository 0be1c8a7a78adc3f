"""Checks one `modelbench run` result against what was asked and against vLLM's own /metrics.

usage: check_run.py RUN_DIR METRICS_BEFORE METRICS_AFTER INPUT_LEN OUTPUT_LEN NUM_PROMPTS MODEL MNBT

Prints one line per check, `PASS <check>: <detail>` or `FAIL <check>: <detail>`, and exits 0 even
when a check fails (the caller counts the lines); exit 2 only for bad usage (including lengths or a
prompt count below 1: nothing to check). A check never passes on nothing: no request, no metric.
Standard library only.

Latency agreement (see docs/e2e.md): vLLM's histograms time a request from the moment its API
server accepted it to the moment its output processor handled the first / last token, both inside
the client's span (send -> first content byte, send -> last byte). So the client's mean may exceed
the server's by the loopback HTTP/SSE overhead but must never be below it:
    E2E:  -LOWER_MS <= client_mean - server_mean <= max(UPPER_MS, UPPER_REL * server_mean_e2e)
    TTFT: -LOWER_MS <= client_mean - server_mean   (vLLM's TTFT clock starts after a wait that its
          E2E clock includes: on a busy machine the gap reached +152 ms with E2E agreeing to 6 ms)
modelbench's own scrape (`server_metrics` in the results, docs/metrics.md "The server's own view"):
its token deltas must equal the client's totals and this script's scrapes, and its printed TTFT
self-check line must be within the same lower bound, without MISMATCH.
Environment overrides: MODELBENCH_E2E_LOWER_MS (default 2), MODELBENCH_E2E_UPPER_MS (default 150),
MODELBENCH_E2E_UPPER_REL (default 0.25).
"""
import json
import os
import re
import sys

LOWER_MS = float(os.environ.get("MODELBENCH_E2E_LOWER_MS", "2"))
UPPER_MS = float(os.environ.get("MODELBENCH_E2E_UPPER_MS", "150"))
UPPER_REL = float(os.environ.get("MODELBENCH_E2E_UPPER_REL", "0.25"))
PROMPT_SLACK = 2  # tokens: re-tokenising decoded random ids, and a BOS the server may add

SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def metrics(path):
    """Prometheus text -> {name: value summed over every label set}."""
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = SAMPLE.match(line)
            if m:
                try:
                    out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
                except ValueError:
                    pass
    return out


def report(ok, name, detail):
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def main():
    if len(sys.argv) != 9:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    run_dir, before_path, after_path = sys.argv[1:4]
    try:
        input_len, output_len, num_prompts = (int(x) for x in sys.argv[4:7])
        model, mnbt = sys.argv[7], int(sys.argv[8])
    except ValueError as e:
        sys.exit(print(f"bad arguments: {e}\n{__doc__}", file=sys.stderr) or 2)
    if min(input_len, output_len, num_prompts) < 1:
        sys.exit(print("nothing to check: INPUT_LEN, OUTPUT_LEN and NUM_PROMPTS must be >= 1", file=sys.stderr) or 2)

    missing = [f for f in ("config.json", "benchmark.log", "benchmark_results.json")
               if not os.path.isfile(os.path.join(run_dir, f))]
    report(not missing, "run folder complete", f"{run_dir}" + (f", missing {missing}" if missing else ""))

    results_path = os.path.join(run_dir, "benchmark_results.json")
    try:
        with open(results_path, encoding="utf-8") as fh:
            res = json.load(fh)
        reqs = res["individual_requests"]
        summary = res["benchmark_stats"]["summary"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        report(False, "results readable", f"{results_path}: {e}")
        return
    report(True, "results readable", results_path)
    cfg = res.get("benchmark_config") or {}
    want = {"model_name": model, "tensor_parallel_size": 1, "data_parallel_size": 1,
            "pipeline_parallel_size": 1, "max_num_batched_tokens": mnbt}
    got = {k: cfg.get(k) for k in want}
    report(got == want, "benchmark_config", json.dumps(got))

    ok_reqs = [r for r in reqs if not r.get("error") and r.get("success", True) is not False]
    failed = summary.get("failed_requests", len(reqs) - len(ok_reqs))
    report(len(ok_reqs) == num_prompts and not failed and summary.get("total_requests") == num_prompts,
           "every request succeeded",
           f"{len(ok_reqs)} of {num_prompts} ok, summary total_requests={summary.get('total_requests')}, failed={failed}")
    if not ok_reqs:
        return

    bad_out = [(r.get("request_id"), r.get("output_tokens")) for r in ok_reqs if r.get("output_tokens") != output_len]
    report(not bad_out, f"output tokens == {output_len}",
           f"all {len(ok_reqs)} requests" if not bad_out else f"{len(bad_out)} differ, e.g. {bad_out[:3]}")
    ins = [r.get("input_tokens") for r in ok_reqs]
    bad_in = [x for x in ins if not isinstance(x, int) or abs(x - input_len) > PROMPT_SLACK]
    report(not bad_in, f"prompt tokens within {input_len}±{PROMPT_SLACK}",
           f"min {min(ins, key=lambda x: x or 0)}, max {max(ins, key=lambda x: x or 0)}"
           + (f"; {len(bad_in)} outside, e.g. {bad_in[:5]}" if bad_in else ""))

    try:
        before, after = metrics(before_path), metrics(after_path)
    except OSError as e:
        report(False, "server /metrics readable", str(e))
        return

    def delta(name):
        return after.get(name, 0.0) - before.get(name, 0.0)

    # Token counters: the client's counts come from the server's usage, so they must match exactly.
    for counter, field in (("vllm:prompt_tokens_total", "input_tokens"), ("vllm:generation_tokens_total", "output_tokens")):
        client = sum(r.get(field) or 0 for r in ok_reqs)
        server = delta(counter)
        report(counter in after and client > 0 and abs(client - server) < 0.5,
               f"{field} total == server {counter}",
               f"client {client}, server {server:.0f}" + ("" if counter in after else " (not in the scrape)"))

    e2e_count = delta("vllm:e2e_request_latency_seconds_count")
    server_e2e_ms = 1000 * delta("vllm:e2e_request_latency_seconds_sum") / e2e_count if e2e_count else float("nan")
    for hist, field, label in (
        ("vllm:time_to_first_token_seconds", "time_to_first_token", "TTFT"),
        ("vllm:e2e_request_latency_seconds", "total_latency", "E2E"),
    ):
        count = delta(hist + "_count")
        if count != len(ok_reqs):
            report(False, f"mean {label} vs server {hist}",
                   f"server counted {count:.0f} requests during the run, client {len(ok_reqs)}")
            continue
        server_ms = 1000 * delta(hist + "_sum") / count
        client_ms = 1000 * mean([float(r[field]) for r in ok_reqs])
        diff = client_ms - server_ms
        if label == "TTFT":
            # vLLM's TTFT histogram starts later than its E2E histogram: time a request waits
            # before the engine's clock starts (front-end parsing, tokenizing, queueing; seconds
            # on a busy 2-core machine) is in the client's TTFT and in the server's E2E, not in
            # the server's TTFT. So TTFT only has the lower bound; the E2E check below bounds
            # the total from above, and the TTFT gap is reported as time before the engine.
            ok = -LOWER_MS <= diff
            report(ok, f"mean {label} vs server {hist}",
                   f"client {client_ms:.1f} ms, server {server_ms:.1f} ms, client-server {diff:+.1f} ms "
                   f"(allowed >= {-LOWER_MS:+.0f} ms; the excess is time before the engine's TTFT clock)")
            continue
        upper = max(UPPER_MS, UPPER_REL * server_e2e_ms)
        ok = -LOWER_MS <= diff <= upper
        report(ok, f"mean {label} vs server {hist}",
               f"client {client_ms:.1f} ms, server {server_ms:.1f} ms, client-server {diff:+.1f} ms "
               f"(allowed {-LOWER_MS:+.0f} .. {upper:+.0f} ms)")

    check_self_check(run_dir, res, summary, delta)


def check_self_check(run_dir, res, summary, delta):
    """modelbench's own scrape of /metrics (the `server_metrics` block) and the self-check it
    printed: token deltas equal to the client's totals and to this script's scrapes, and the
    TTFT line within the documented bound (client - server mean >= -LOWER_MS, no MISMATCH)."""
    sm = res.get("server_metrics")
    report(isinstance(sm, dict) and sm.get("complete") is True, "server_metrics block complete",
           json.dumps({k: (sm or {}).get(k) for k in ("scrapes", "complete", "warning")}))
    if not isinstance(sm, dict):
        return
    for key, field, counter in (("prompt_tokens", "total_input_tokens", "vllm:prompt_tokens_total"),
                                ("generation_tokens", "total_output_tokens", "vllm:generation_tokens_total")):
        mine, client = sm.get(key), summary.get(field)
        report(mine is not None and client and mine == client and abs(mine - delta(counter)) < 0.5,
               f"server_metrics.{key} == client {field} == scraped delta",
               f"modelbench's scrape {mine}, client {client}, this script's scrape {delta(counter):.0f}")
    lines = sm.get("self_check") or []
    ttft = [ln for ln in lines if ln.startswith("TTFT mean:")]
    m = re.search(r"difference ([+-][0-9.]+) ms", ttft[0]) if ttft else None
    diff = float(m.group(1)) if m else float("nan")
    report(m is not None and diff >= -LOWER_MS and not any("MISMATCH" in ln for ln in lines),
           "self-check TTFT client - server mean",
           (ttft[0] if ttft else "no TTFT mean line in " + json.dumps(lines)) + f" (allowed >= {-LOWER_MS:+.0f} ms)")
    try:
        with open(os.path.join(run_dir, "benchmark.log"), encoding="utf-8") as fh:
            log = fh.read()
    except OSError as e:
        log = str(e)
    printed = [ln for ln in lines if ln.split(":")[0] in ("Prompt tokens", "Generation tokens", "TTFT mean")]
    report(len(printed) == 3 and all(ln in log for ln in printed), "self-check printed with the summary",
           "; ".join(printed))


if __name__ == "__main__":
    main()
