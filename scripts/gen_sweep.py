#!/usr/bin/env python3
"""Generate a synthetic sweep in the users' result format (for the bundled example and the
compare speed benchmark). Numbers are synthetic; the shape is the real one:
<out>/<model with / as _>/run_<YYYYmmdd_HHMMSS>/{config.json, benchmark.log, benchmark_results.json}
with benchmark_stats in ms, per-request values in seconds, percentiles numpy-linear.

usage: gen_sweep.py OUT [--requests N] [--tokens T] [--grid full|small] [--quirks] [--seed S]
  --grid full : TP,DP in {1,2,4,8} with TP*DP <= 8, PP=1, 4 batch sizes (40 runs) + 3 PP=2 runs = 43 per model
  --grid small: TP in {1,2}, DP=1, PP=1, batch sizes {4096, 20480}
  --quirks    : a repeated configuration, a NaN metric, a configuration only model 1 has,
                a run folder whose engine never started (no results file)
"""
import argparse, json, math, os, random

MODELS = [("Qwen/Qwen3-4B", 1.0), ("Qwen/Qwen3-4B-AWQ", 0.8)]


def pct(sorted_v, q):
    if not sorted_v:
        return float("nan")
    r = q / 100 * (len(sorted_v) - 1)
    lo, hi = math.floor(r), math.ceil(r)
    return sorted_v[lo] + (sorted_v[hi] - sorted_v[lo]) * (r - lo)


def group(prefix, values_s):
    v = sorted(x * 1000 for x in values_s)
    if not v:
        return {}
    g = {f"{prefix}_p{q}": pct(v, q) for q in (50, 90, 95, 99)}
    g[f"{prefix}_max"] = v[-1]
    g[f"{prefix}_avg"] = sum(v) / len(v)
    return g


def one_run(rng, model, speed, tp, dp, pp, mnbt, n_req, n_tok, t0):
    # a plausible performance model: TP speeds up each token, DP adds throughput, AWQ is faster per
    # token but slower to first token at large batch sizes
    itl = 0.012 * speed / (tp ** 0.7) * (1.0 + 0.15 * (pp - 1))
    ttft = 0.020 / (tp ** 0.5) * (1 + mnbt / 80000) * (1.3 if speed < 1 and mnbt > 30000 else 1.0)
    reqs, e2es, ttfts, gaps, delays = [], [], [], [], []
    total_in = total_out = 0
    start = t0
    for i in range(n_req):
        out_tok = max(2, int(n_tok * rng.uniform(0.8, 1.0)))
        in_tok = rng.randint(400, 700)
        delay = abs(rng.gauss(0.0005, 0.0003))
        first = ttft * rng.uniform(0.7, 1.6)
        tl = [itl * rng.uniform(0.9, 1.15) for _ in range(out_tok - 1)]
        total = first + sum(tl)
        arrival = start + i * 0.01
        reqs.append({
            "request_id": f"{i:08d}-{rng.getrandbits(32):08x}",
            "input_tokens": in_tok, "output_tokens": out_tok, "total_tokens": in_tok + out_tok,
            "arrival_time": arrival, "processing_start_time": arrival + delay, "schedule_delay": delay,
            "total_latency": total, "time_to_first_token": first,
            "avg_inter_token_latency": sum(tl) / len(tl), "tokens_per_second": out_tok / total,
            "token_latencies": tl,
        })
        total_in += in_tok; total_out += out_tok
        e2es.append(total); ttfts.append(first); gaps.extend(tl); delays.append(delay)
    wall = max(e2es) * math.ceil(n_req / (8 * dp)) + 0.01 * n_req / 8
    stats = {
        "summary": {"total_requests": n_req, "total_input_tokens": total_in, "total_output_tokens": total_out,
                    "overall_throughput_tokens_per_sec": total_out / wall},
        "latency_percentiles_ms": {
            "total_generation_latency": group("total", e2es),
            "time_to_first_token": group("first_token", ttfts),
            "inter_token_latency": group("inter_token", gaps),
            "schedule_delay": group("schedule_delay", delays),
        },
    }
    cfg = {"model_name": model, "tensor_parallel_size": tp, "pipeline_parallel_size": pp,
           "data_parallel_size": dp, "max_num_batched_tokens": mnbt}
    return {"benchmark_config": cfg, "benchmark_stats": stats, "individual_requests": reqs}


def grid(kind):
    if kind == "small":
        return [(tp, 1, 1, m) for tp in (1, 2) for m in (4096, 20480)]
    g = [(tp, dp, 1, m) for tp in (1, 2, 4, 8) for dp in (1, 2, 4, 8) if tp * dp <= 8
         for m in (4096, 20480, 40960, 73728)]
    return g + [(1, 1, 2, 8192), (2, 1, 2, 8192), (4, 1, 2, 4096)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--grid", choices=["full", "small"], default="full")
    ap.add_argument("--quirks", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    for mi, (model, speed) in enumerate(MODELS):
        folder = os.path.join(a.out, model.replace("/", "_"))
        configs = grid(a.grid)
        if a.quirks:
            configs = configs + [configs[0]]            # a repeat
            if mi == 1:
                configs = configs[:-2] + configs[-1:]   # model 2 lacks one configuration
        minute = 0
        for k, (tp, dp, pp, mnbt) in enumerate(configs):
            minute += 7
            stamp = f"20250714_{9 + minute // 60:02d}{minute % 60:02d}{(k * 13) % 60:02d}"
            run = os.path.join(folder, f"run_{stamp}")
            os.makedirs(run, exist_ok=True)
            cfg = {"prompts_file": "prompts.txt", "trace": None, "model": model, "tensor_parallel_size": tp,
                   "pipeline_parallel_size": pp, "data_parallel_size": dp, "max_num_batched_tokens": mnbt,
                   "concurrency": 8, "max_tokens": a.tokens, "temperature": 0.7, "top_p": 0.9,
                   "output_dir": a.out}
            with open(os.path.join(run, "config.json"), "w") as f:
                json.dump(cfg, f, indent=4)
            with open(os.path.join(run, "benchmark.log"), "w") as f:
                f.write(f"2025-07-14 [__main__:INFO] Benchmark run started. Results will be saved in: {run}\n")
            res = one_run(rng, model, speed, tp, dp, pp, mnbt, a.requests, a.tokens, 1752480000.0 + k * 600)
            if a.quirks and mi == 0 and k == 1:
                res["benchmark_stats"]["latency_percentiles_ms"]["time_to_first_token"]["first_token_p99"] = float("nan")
            with open(os.path.join(run, "benchmark_results.json"), "w") as f:
                json.dump(res, f, indent=4)   # Python writes a bare NaN literal, as real sweeps do
        if a.quirks and mi == 0:
            os.makedirs(os.path.join(folder, "run_20250714_235959"), exist_ok=True)  # engine failed to start
            with open(os.path.join(folder, "run_20250714_235959", "benchmark.log"), "w") as f:
                f.write("RuntimeError: Engine core initialization failed.\n")


if __name__ == "__main__":
    main()
