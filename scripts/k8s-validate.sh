#!/usr/bin/env bash
# `sweep --emit k8s` against the Kubernetes OpenAPI schema: emits the Indexed Jobs of a grid with
# two GPU counts (examples/cluster/sweep-k8s.yaml, checked to be what the binary prints now) and
# validates every document with `kubernetes-validate --strict` (PyPI; installed into
# .cache/k8s-validate-venv on first use) for Kubernetes 1.33 (backoffLimitPerIndex is GA there)
# and the package's newest. Also checks the Slurm example is what the binary prints. Prints its
# wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$SECONDS
VENV=.cache/k8s-validate-venv
if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0"
fi
cargo build --locked --quiet --bin modelbench
MB=target/debug/modelbench
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# The examples: a grid of 1- and 2-GPU configurations, two load levels.
COMMON=(sweep --model Qwen/Qwen3-4B --grid examples/cluster/grid.toml
  --serve-cmd "vllm serve" --serve-model /models/Qwen3-4B --serve-extra "--dtype bfloat16"
  --dataset random --input-len 1024 --output-len 256 --num-prompts 200 --concurrency 16,64
  --tokenizer /models/Qwen3-4B --startup-timeout 1200)
"$MB" "${COMMON[@]}" --emit k8s --image vllm/vllm-openai:v0.11.0 \
  --modelbench-image registry.example.com/modelbench:latest --pvc bench-results \
  --max-parallel 2 --time-limit 2:00:00 >"$W/sweep-k8s.yaml"
"$MB" "${COMMON[@]}" --output-dir /shared/bench --emit slurm --max-parallel 2 --time-limit 2:00:00 \
  --setup "source /opt/vllm/bin/activate" --sbatch-arg=--partition=gpu >"$W/sweep-slurm.sh"
for f in sweep-k8s.yaml sweep-slurm.sh; do
  if ! diff -u "examples/cluster/$f" "$W/$f"; then
    echo "k8s-validate: examples/cluster/$f is not what the binary prints (regenerate it: see this script)" >&2
    exit 1
  fi
done
JOBS=$(grep -c '^kind: Job$' "$W/sweep-k8s.yaml")
[ "$JOBS" = 2 ] || { echo "k8s-validate: expected 2 Jobs (1 and 2 GPUs), got $JOBS" >&2; exit 1; }
for v in 1.33.0 1.37.0; do
  "$VENV/bin/kubernetes-validate" --strict -k "$v" "$W/sweep-k8s.yaml"
done
# The validator does reject what the schema refuses (a check that can fail).
sed 's/^  completionMode: Indexed$/  completionMode: Indexed\n  completionsPerIndex: 1/' "$W/sweep-k8s.yaml" >"$W/bad.yaml"
if "$VENV/bin/kubernetes-validate" --strict --quiet "$W/bad.yaml" >/dev/null 2>&1; then
  echo "k8s-validate: an unknown field was accepted: the validator checks nothing" >&2
  exit 1
fi
echo "== k8s-validate: $((SECONDS - T0)) s"
