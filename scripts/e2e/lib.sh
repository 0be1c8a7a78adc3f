# shellcheck shell=bash
# Helpers of scripts/e2e-vllm.sh (sourced): check counting, vLLM server lifecycle, leak detection.
# Needs REPO, WORK, VLLM_VENV, MODELS_DIR set by the caller.

PASSED=0 FAILED=0 SKIPPED=0 INTERRUPTED=0
E2E_START=$SECONDS
SERVER_PGIDS=() # process groups of the servers started here (stopped on every exit path)
CHILD_PID=""    # the modelbench process running now, if any
TIMINGS=()
STARTED_ANY=0
# Every process started here for vLLM (servers, and sweeps, whose servers inherit it) carries this
# variable; on exit, any process still carrying it is a leak.
E2E_TAG="modelbench-e2e-$$-$RANDOM"

pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP $*"; }
# check DESCRIPTION COMMAND...: PASS when the command succeeds.
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
banner() { printf '%s\n' "==================================================================" "$@" \
  "=================================================================="; }
now() { date +%s.%N; }
# timing LABEL START: records and prints the wall time since START.
timing() {
  local line
  line=$(awk -v a="$2" -v b="$(now)" -v l="$1" 'BEGIN { printf "%8.1f s  %s", b - a, l }')
  TIMINGS+=("$line")
  echo "time: $line"
}

# count_checks PREFIX COMMAND...: the command prints `PASS x`/`FAIL x` lines; each is counted. A
# command that reports no check at all is a failure (a checker that checks nothing cannot pass).
count_checks() {
  local prefix=$1 line n=0
  shift
  while IFS= read -r line; do
    case $line in
      PASS\ *) n=$((n + 1)); pass "$prefix: ${line#PASS }" ;;
      FAIL\ *) n=$((n + 1)); fail "$prefix: ${line#FAIL }" ;;
      __rc=0) ;;
      __rc=*) fail "$prefix: checker $1 exited ${line#__rc=}" ;;
      *) echo "  $line" ;;
    esac
  done < <("$@" 2>&1; echo "__rc=$?")
  [ "$n" -gt 0 ] || fail "$prefix: checker $* reported no check"
}

# The scheme of the server being tested, and curl's flags to trust its certificate (https: the
# server run over TLS in scripts/e2e-vllm.sh).
SCHEME=http
CURL_TLS=()
e2e_curl() { curl "${CURL_TLS[@]}" "$@"; }

free_port() {
  "$VLLM_VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

modelbench_bin() {
  if [ -n "${MODELBENCH_BIN:-}" ]; then
    echo "$MODELBENCH_BIN"
    return
  fi
  (cd "$REPO" && cargo build --quiet --bin modelbench) >&2 || return 1
  echo "${CARGO_TARGET_DIR:-$REPO/target}/debug/modelbench"
}

# start_server NAME PORT LOG [FLAGS...]: `vllm serve NAME` (a folder of MODELS_DIR, so the served
# name is NAME) in a new session and process group; sets SERVER_PGID (not run in a subshell, so
# the group is remembered for the exit trap).
start_server() {
  local name=$1 port=$2 log=$3 pidfile="$WORK/$1.pid" i
  shift 3
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner bash
  (cd "$MODELS_DIR" && exec env MODELBENCH_E2E_TAG="$E2E_TAG" setsid bash -c 'echo $$ >"$0"; exec "$@"' \
    "$pidfile" "$VLLM_VENV/bin/vllm" serve "$name" --host 127.0.0.1 --port "$port" "$@") \
    >"$log" 2>&1 </dev/null &
  STARTED_ANY=1
  for i in $(seq 1 50); do
    [ -s "$pidfile" ] && break
    sleep 0.1
  done
  [ -s "$pidfile" ] || return 1
  SERVER_PGID=$(cat "$pidfile")
  SERVER_PGIDS+=("$SERVER_PGID")
}

group_alive() { pgrep -g "$1" >/dev/null 2>&1; }
# group_empty PGID: the group of a server started here has no process left (false for no PGID).
group_empty() { [[ $1 =~ ^[1-9][0-9]*$ ]] && ! group_alive "$1"; }

# wait_healthy PORT NAME PGID TIMEOUT: /health answers 200 and /v1/models lists NAME; fails at
# once when the server's process group is gone.
wait_healthy() {
  local port=$1 name=$2 pg=$3 deadline=$((SECONDS + $4))
  while [ $SECONDS -lt $deadline ]; do
    group_alive "$pg" || { echo "  server exited during startup"; return 1; }
    if e2e_curl -sf -m 2 "$SCHEME://127.0.0.1:$port/health" >/dev/null &&
      e2e_curl -sf -m 5 "$SCHEME://127.0.0.1:$port/v1/models" | grep -q "\"id\":\"$name\""; then
      return 0
    fi
    sleep 1
  done
  return 1
}

# stop_group PGID: SIGTERM to the whole group, SIGKILL after 30 s.
stop_group() {
  local pg=$1 i
  group_alive "$pg" || return 0
  kill -TERM -- "-$pg" 2>/dev/null
  for i in $(seq 1 60); do
    group_alive "$pg" || return 0
    sleep 0.5
  done
  echo "  process group $pg ignored SIGTERM for 30 s: SIGKILL"
  kill -KILL -- "-$pg" 2>/dev/null
  for i in $(seq 1 20); do # a few GB of memory take a moment to tear down
    group_alive "$pg" || return 0
    sleep 0.5
  done
}

# Two short requests before the measured run (not counted: /metrics is scraped after them), so
# one-time lazy initialisation does not land in the comparison.
warm_up() {
  local i
  for i in 1 2; do
    e2e_curl -sf -m 120 "$SCHEME://127.0.0.1:$1/v1/completions" -H 'Content-Type: application/json' \
      -d "{\"model\":\"$2\",\"prompt\":\"warm up\",\"max_tokens\":8,\"ignore_eos\":true}" >/dev/null ||
      echo "  warm-up request $i failed"
  done
}

metric_sum() { awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $NF } END { print s + 0 }' "$1"; }

# scrape_after PORT OUT EXPECTED BEFORE: /metrics once the server has counted EXPECTED more finished
# requests than in BEFORE (at most 20 s), so the histograms hold the whole run.
scrape_after() {
  local port=$1 out=$2 want=$3 before=$4 base i got
  base=$(metric_sum "$before" vllm:e2e_request_latency_seconds_count)
  for i in $(seq 1 40); do
    e2e_curl -sf -m 10 "$SCHEME://127.0.0.1:$port/metrics" >"$out" || true
    got=$(metric_sum "$out" vllm:e2e_request_latency_seconds_count)
    awk -v g="$got" -v b="$base" -v w="$want" 'BEGIN { exit !(g - b >= w) }' && return 0
    sleep 0.5
  done
}

# run_bg LOG COMMAND...: runs a command in the background (so signals reach this script at once),
# its output streamed indented and kept in LOG; returns its exit status.
run_bg() {
  local log=$1 rc
  shift
  echo "+ $*"
  "$@" >"$log" 2>&1 </dev/null &
  CHILD_PID=$!
  tail -n +1 -f --pid="$CHILD_PID" "$log" 2>/dev/null | sed -u 's/^/  | /' &
  local tail_pid=$!
  wait "$CHILD_PID"
  rc=$?
  CHILD_PID=""
  wait "$tail_pid" 2>/dev/null
  return $rc
}

# check_charts LABEL DIR: at least one chart, each a real PNG or SVG, and a combined figure
# (`combined_tp1_dp1_pp1.png`, from --combined).
check_charts() {
  local label=$1 dir=$2 f n=0 bad=0 combined=0
  while IFS= read -r -d '' f; do
    n=$((n + 1))
    case ${f##*/} in combined_*) combined=$((combined + 1)) ;; esac
    case $f in
      *.png) [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || bad=$((bad + 1)) ;;
      *.svg) grep -q '<svg' "$f" || bad=$((bad + 1)) ;;
    esac
  done < <(find "$dir" -type f \( -name '*.png' -o -name '*.svg' \) -print0 2>/dev/null)
  check "$label: charts produced in $dir ($n files, $bad invalid)" test "$n" -gt 0 -a "$bad" -eq 0
  check "$label: combined figure produced ($combined combined_* files)" test "$combined" -gt 0
}

# PIDs of live processes carrying this run's tag (fails without a tag: nothing could be found).
tagged_pids() {
  local p
  [ -n "$E2E_TAG" ] || return 1
  for p in /proc/[0-9]*; do
    grep -qsz "^MODELBENCH_E2E_TAG=$E2E_TAG\$" "$p/environ" 2>/dev/null && echo "${p#/proc/}"
  done
  return 0
}
# no_tagged_left: no live process carries the tag (false when the tag is missing: nothing checked).
no_tagged_left() {
  local left
  left=$(tagged_pids) || return 1
  [ -z "$left" ]
}

on_exit() {
  trap - EXIT INT TERM
  local pg leaks
  if [ -n "$CHILD_PID" ]; then
    kill -TERM "$CHILD_PID" 2>/dev/null
    for _ in $(seq 1 60); do kill -0 "$CHILD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$CHILD_PID" 2>/dev/null
  fi
  for pg in "${SERVER_PGIDS[@]}"; do stop_group "$pg"; done
  if [ "$STARTED_ANY" = 1 ]; then
    leaks=$(tagged_pids | tr '\n' ' ')
    if ! tagged_pids >/dev/null; then
      fail "no vLLM process left: no tag to look for (nothing checked)"
    elif [ -n "$leaks" ]; then
      fail "no vLLM process left: still running: $leaks(killed now)"
      ps -o pid,pgid,rss,args -p "${leaks// /,}" 2>/dev/null | cut -c1-160 | sed 's/^/    /'
      for pg in $leaks; do kill -KILL "$pg" 2>/dev/null; done
    else
      pass "no vLLM process left"
    fi
  fi
  if [ ${#TIMINGS[@]} -gt 0 ]; then
    echo "wall times:"
    printf '  %s\n' "${TIMINGS[@]}"
    printf '  %8d s  e2e in total (load average now: %s)\n' $((SECONDS - E2E_START)) "$(cut -d' ' -f1-3 /proc/loadavg)"
  fi
  if [ "$FAILED" -eq 0 ] && [ "$INTERRUPTED" = 0 ] && [ -z "${MODELBENCH_E2E_WORK:-}" ]; then
    rm -rf "$WORK"
  else
    echo "work folder kept: $WORK"
  fi
  echo "e2e: $PASSED passed, $FAILED failed, $SKIPPED skipped"
  [ "$INTERRUPTED" = 1 ] && exit 130
  [ "$FAILED" -eq 0 ] && exit 0
  exit 1
}
