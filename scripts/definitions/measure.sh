#!/usr/bin/env bash
# Measures one scripted stream with `vllm bench serve` and with `modelbench run` and prints what
# each recorded (docs/metrics.md, "modelbench and vllm bench serve"). Needs the vLLM venv (for
# `vllm bench serve`; no vLLM server is started) and a tokenizer folder (any tiny model of
# scripts/vllm-cpu/setup.sh).
#
#   usage: scripts/definitions/measure.sh            (MODELBENCH_VLLM_VENV, MODELBENCH_MODELS_DIR,
#                                                     MODELBENCH_BIN as for scripts/e2e-vllm.sh)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../vllm-cpu/env.sh
source "$REPO/scripts/vllm-cpu/env.sh"
BIN=${MODELBENCH_BIN:-$REPO/target/debug/modelbench}
TOK="$MODELS_DIR/tiny-h128-l2"
PY="$VLLM_VENV/bin/python"
WORK=$(mktemp -d /tmp/modelbench-definitions.XXXXXX)
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

for scenario in chat completions nocontent nochoices; do
  "$PY" "$HERE/scripted_sse_server.py" "$PORT" "$scenario" >"$WORK/server_$scenario.log" 2>&1 &
  server=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null && break; sleep 0.1; done
  if [ "$scenario" = completions ] || [ "$scenario" = nochoices ]; then backend=(--backend vllm); endpoint=completions;
  else backend=(--backend openai-chat --endpoint /v1/chat/completions); endpoint=chat; fi
  "$VLLM_VENV/bin/vllm" bench serve "${backend[@]}" --base-url "http://127.0.0.1:$PORT" --model m \
    --tokenizer "$TOK" --dataset-name random --random-input-len 8 --random-output-len 4 \
    --num-prompts 1 --max-concurrency 1 --save-result --save-detailed --result-dir "$WORK" \
    --result-filename "vllm_$scenario.json" >"$WORK/vllm_$scenario.log" 2>&1 \
    || echo "vllm bench serve failed on $scenario (see $WORK/vllm_$scenario.log)"
  "$BIN" run --base-url "http://127.0.0.1:$PORT" --model m --endpoint "$endpoint" --dataset random \
    --input-len 8 --output-len 4 --tokenizer "$TOK" --num-prompts 1 --concurrency 1 --warmup 0 \
    --output-dir "$WORK/mb_$scenario" >"$WORK/mb_$scenario.log" 2>&1 \
    || echo "modelbench run exited non-zero on $scenario (see $WORK/mb_$scenario.log)"
  kill "$server"; wait "$server" 2>/dev/null || true
  "$PY" - "$WORK" "$scenario" <<'PY'
import glob, json, sys
work, sc = sys.argv[1], sys.argv[2]
ms = lambda x: "-" if x is None else f"{x * 1000:.1f}"
try:
    v = json.load(open(f"{work}/vllm_{sc}.json"))
    ok = not v["errors"][0]
    lat = v["latencies"][0]; ttft = v["ttfts"][0]; n = v["output_lens"][0]
    tpot = (lat - ttft) / (n - 1) if ok and n > 1 else None
    print(f"{sc:12s} vllm bench serve: success={ok} ttft={ms(ttft)} itl=[{', '.join(ms(g) for g in v['itls'][0])}] "
          f"latency={ms(lat)} tpot={ms(tpot)} output_tokens={n} input_tokens={v['input_lens'][0]}")
except Exception as e:  # noqa: BLE001 - a report line, not a crash
    print(f"{sc:12s} vllm bench serve: no result ({e})")
for f in glob.glob(f"{work}/mb_{sc}/*/run_*/benchmark_results.json"):
    r = json.load(open(f))
    if r["individual_requests"]:
        q = r["individual_requests"][0]
        print(f"{sc:12s} modelbench run:    success=True ttft={ms(q['time_to_first_token'])} "
              f"itl=[{', '.join(ms(g) for g in q['token_latencies'])}] total_latency={ms(q['total_latency'])} "
              f"e2e_latency={ms(q['e2e_latency'])} tpot={ms(q['time_per_output_token'])} "
              f"output_tokens={q['output_tokens']} input_tokens={q['input_tokens']}")
    for q in r.get("failed_requests", []):
        print(f"{sc:12s} modelbench run:    success=False {q['error_kind']}: {q['error']}")
PY
done
echo "work folder: $WORK"
