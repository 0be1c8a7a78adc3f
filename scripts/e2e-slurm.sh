#!/usr/bin/env bash
# End to end on a real Slurm: a single-node cluster (slurmctld + slurmd + munge from Debian's
# packages, CPUs only, no gres) runs the script `modelbench sweep --emit slurm --gres none`
# prints, with the fake `vllm serve` (tests/doubles/fake_vllm.py, a TEST DOUBLE) as the server.
# Checks that the arrays (one per GPU count) produced the full grid and that `summarize` sees it.
#
# Needs root (it installs the packages if missing and runs the daemons); everything else lives in
# a temporary folder removed at the end. Prints its wall time. See docs/cluster.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T0=$SECONDS

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "e2e-slurm: FAILED: Slurm is not installed and we are not root to install it" >&2
    exit 1
  fi
  echo "e2e-slurm: installing slurmctld, slurmd, slurm-client and munge (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  # As the vLLM e2e does: a registry that cannot be reached is a loud SKIPPED, not a failure.
  rc=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge; } \
    >/tmp/modelbench-slurm-install.log 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    tail -n 5 /tmp/modelbench-slurm-install.log >&2
    echo "== e2e-slurm: SKIPPED: cannot install Slurm from Debian's packages (apt-get exit $rc)" >&2
    exit 0
  fi
fi

cargo build --locked --quiet --bin modelbench
BIN_DIR=$ROOT/target/debug

W=$(mktemp -d /tmp/modelbench-slurm.XXXXXX)
chmod 755 "$W"
PIDS=()
cleanup() {
  local rc=$?
  for f in "$W"/slurmd.pid "$W"/slurmctld.pid "$W"/munged.pid; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 1
  for f in "$W"/slurmd.pid "$W"/slurmctld.pid "$W"/munged.pid; do
    [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
  done
  if [ $rc -ne 0 ]; then
    echo "e2e-slurm: FAILED; logs:" >&2
    tail -n 30 "$W"/*.log "$W"/job/*.out 2>/dev/null >&2 || true
  fi
  rm -rf "$W"
  echo "== e2e-slurm: $((SECONDS - T0)) s"
  exit $rc
}
trap cleanup EXIT

# munge: a fresh key, the daemon on a socket of its own.
mkdir -p "$W/munge"
dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$W/munge/munge.key"
munged --force --key-file="$W/munge/munge.key" --socket="$W/munge/munge.socket" \
  --pid-file="$W/munged.pid" --log-file="$W/munged.log" --seed-file="$W/munge/seed"
export MUNGE_SOCKET="$W/munge/munge.socket"

HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2))
mkdir -p "$W/state" "$W/spool" "$W/job"
cat >"$W/slurm.conf" <<EOF
ClusterName=modelbench-e2e
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$W/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$W/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 60); do
  if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then break; fi
  sleep 0.5
done
sinfo -h -o '%t' | grep -qE '^(idle|mix|alloc)' || { echo "e2e-slurm: the node did not come up: $(sinfo 2>&1)" >&2; exit 1; }
echo "e2e-slurm: cluster up ($HOST, $CPUS CPUs) after $((SECONDS - T0)) s"

# The sweep: 4 configurations needing 1, 2 and 4 "GPUs" (three arrays), two load levels each.
OUT=$W/results
SERVE_CMD="python3 $ROOT/tests/doubles/fake_vllm.py serve"
"$BIN_DIR/modelbench" sweep --model fake-org/fake-model --output-dir "$OUT" \
  --tp 1,2 --dp 1,2 --max-num-batched-tokens 64 --concurrency 1,2 \
  --serve-cmd "$SERVE_CMD" --dataset random --input-len 8 --output-len 4 --num-prompts 4 \
  --max-tokens 4 --stop-grace 5 --startup-timeout 60 \
  --emit slurm --gres none --max-parallel 2 --time-limit 10 \
  --setup "export PATH=$BIN_DIR:\$PATH FAKE_VLLM_STARTUP_DELAY=0.2" >"$W/job/submit.sh"
echo "e2e-slurm: emitted script:"
sed 's/^/  | /' "$W/job/submit.sh"

cd "$W/job"
T_SUBMIT=$SECONDS
bash submit.sh | tee "$W/job/submitted.txt"
JOBS=$(awk '/Submitted batch job/ {print $4}' "$W/job/submitted.txt" | tr '\n' ' ')
[ "$(echo $JOBS | wc -w)" = 3 ] || { echo "e2e-slurm: expected 3 arrays, got: $JOBS" >&2; exit 1; }
echo "e2e-slurm: submitted arrays $JOBS"
for _ in $(seq 1 240); do
  left=$(squeue -h -j "${JOBS// /,}" 2>/dev/null | wc -l)
  [ "$left" = 0 ] && break
  sleep 1
done
[ "$left" = 0 ] || { echo "e2e-slurm: still queued or running after 240 s:" >&2; squeue >&2; exit 1; }
echo "e2e-slurm: every array task ended after $((SECONDS - T_SUBMIT)) s"
cd "$ROOT"

# Every array task completed with exit code 0.
for j in $JOBS; do
  scontrol -o show job "$j" | awk '{
    line = ""
    for (i = 1; i <= NF; i++) if ($i ~ /^(JobId|ArrayJobId|ArrayTaskId|JobName|JobState|ExitCode|RunTime)=/) line = line " " $i
    print " " line
  }'
done | tee "$W/states.txt"
TASKS=$(wc -l <"$W/states.txt")
OK=$(grep -c 'JobState=COMPLETED .*ExitCode=0:0' "$W/states.txt" || true)
[ "$TASKS" = 4 ] && [ "$OK" = 4 ] || { echo "e2e-slurm: expected 4 completed tasks, got $OK of $TASKS" >&2; exit 1; }

# The full grid: 4 configurations x 2 levels, complete, with one sweep record per task.
python3 - "$OUT/fake-org_fake-model" <<'EOF'
import json, os, sys
d = sys.argv[1]
runs = sorted(x for x in os.listdir(d) if x.startswith("run_"))
got = []
for r in runs:
    s = json.load(open(os.path.join(d, r, "sweep_status.json")))
    assert s["status"] == "complete", (r, s["status"], s.get("reason"))
    assert os.path.exists(os.path.join(d, r, "benchmark_results.json")), r
    got.append((s["label"], s["load"]))
want = sorted((f"tp={tp} dp={dp} pp=1 mnbt=64", f"concurrency {c}")
              for tp in (1, 2) for dp in (1, 2) for c in (1, 2))
assert sorted(got) == want, (sorted(got), want)
records = sorted(x for x in os.listdir(d) if x.startswith("sweep_summary_"))
assert len(records) == 4, records
for name in records:
    rec = json.load(open(os.path.join(d, name)))
    assert rec["state"] == "finished" and rec["shard"]["configurations"] == 1, (name, rec["state"])
print(f"e2e-slurm: the grid is complete: {len(runs)} run folders ({len(want) // 2} configurations x 2 levels), {len(records)} sweep records")
for label, load in sorted(got):
    print(f"  {label}  {load}")
EOF

"$BIN_DIR/modelbench" summarize --model fake-org/fake-model --base-dir "$OUT" \
  --expected-grid "tp=1,2;dp=1,2;pp=1;mnbt=64" | tee "$W/summary.txt"
if grep -q "missing from the expected grid" "$W/summary.txt" || ! grep -q "every configuration of the expected grid has a result" "$W/summary.txt"; then
  echo "e2e-slurm: summarize reports missing configurations" >&2
  exit 1
fi
echo "e2e-slurm: OK (arrays $JOBS)"
