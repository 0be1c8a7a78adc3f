#!/usr/bin/env python3
"""Steady-state CPU per token of a benchmark client (used by bench-client-overhead.sh).

Samples, every 50 ms, the client's CPU time (user + system, all threads: /proc/PID/stat) and the
mock server's count of output tokens written (the file mock_vllm --stats-file rewrites every 20 ms
from a thread of its own, so a saturated mock still reports), until the client exits. The steady
cost is the CPU used between the samples where 10 % and 90 % of all tokens had been written,
divided by the tokens written in between: start-up (Python imports, tokenizer loading) and the
final report are left out, whatever their jitter.

usage: bench_sample_cpu.py PARENT_PID STATS_FILE REQUESTS TOKENS_PER_REQUEST OUT.json
PARENT_PID is the /usr/bin/time process; the client is its child.
"""
import json
import os
import sys
import time

parent, stats_file, requests, per_request, out = sys.argv[1:6]
parent, requests, per_request = int(parent), int(requests), int(per_request)
hz = os.sysconf("SC_CLK_TCK")


def child_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = fh.read().split()
        return int(kids[0]) if kids else None
    except OSError:
        return None


def cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / hz
    except (OSError, IndexError, ValueError):
        return None


def tokens_sent():
    try:
        with open(stats_file) as fh:
            return json.load(fh).get("tokens")
    except (OSError, ValueError):
        return None


samples = []
client = None
while os.path.exists(f"/proc/{parent}"):
    client = client or child_of(parent)
    if client:
        n = tokens_sent()
        c = cpu_s(client)
        if c is not None and n is not None:
            samples.append((time.monotonic(), c, n))
    time.sleep(0.05)

result = {"samples": len(samples), "steady_cpu_s_per_mtok": None}
total = requests * per_request
lo = next((s for s in samples if s[2] >= 0.1 * total), None)
hi = next((s for s in reversed(samples) if s[2] <= 0.9 * total), None)
if lo and hi and hi[2] > lo[2]:
    tokens = hi[2] - lo[2]
    result.update(
        steady_cpu_s_per_mtok=(hi[1] - lo[1]) / tokens * 1e6,
        steady_window_s=hi[0] - lo[0],
        steady_tokens=tokens,
    )
with open(out, "w") as fh:
    json.dump(result, fh)
