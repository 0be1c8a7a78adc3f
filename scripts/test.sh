#!/usr/bin/env bash
# Runs every test of modelbench:
#   1. formatting and lints (cargo fmt --check, cargo clippy -D warnings);
#   2. the e2e checkers' self-test (scripts/e2e/test_checks.py: a check with nothing to check fails);
#   3. unit and integration tests (cargo test: the real binary against loopback test doubles);
#   4. `sweep --emit k8s` against the Kubernetes OpenAPI schema (scripts/k8s-validate.sh) and a
#      real single-node Slurm cluster running `sweep --emit slurm`'s arrays (scripts/e2e-slurm.sh,
#      installs slurm-wlm and munge from Debian's packages); the HTML report opened in headless
#      Chromium (scripts/e2e-report.sh: installs the Debian package chromium-headless-shell when
#      missing);
#   5. end to end against the real vLLM CPU server (scripts/e2e-vllm.sh: installs the CPU build
#      into .cache/ on first use; reported loudly as SKIPPED if it cannot be installed).
# Each step prints its wall time (`== <step>: 123 s`), and the total comes last, with the load
# average (the machine may be shared). Set MODELBENCH_SKIP_E2E=1 to run only 1 to 4.
set -euo pipefail
cd "$(dirname "$0")/.."

T_START=$SECONDS
TIMES=()
# step NAME COMMAND...: runs one step and records its wall time (set -e ends the script if it fails,
# after the times so far are printed by the EXIT trap).
step() {
  local name=$1 t0=$SECONDS rc=0
  shift
  echo "== $name"
  "$@" || rc=$?
  TIMES+=("$(printf '%6d s  %s%s' $((SECONDS - t0)) "$name" "$([ $rc -eq 0 ] || echo " (FAILED, exit $rc)")")")
  echo "== $name: $((SECONDS - t0)) s"
  return $rc
}
summary() {
  local rc=$?
  echo "== wall times:"
  printf '  %s\n' "${TIMES[@]}"
  echo "== total: $((SECONDS - T_START)) s (load average now: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
  exit $rc
}
trap summary EXIT

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --all-targets --locked -- -D warnings
step "e2e checkers self-test" python3 scripts/e2e/test_checks.py
step "cargo test" cargo test --all-targets --locked
step "Kubernetes manifests against the OpenAPI schema" bash scripts/k8s-validate.sh
step "Slurm job arrays end to end (single-node cluster)" bash scripts/e2e-slurm.sh
# (the debug binary `cargo test` built for the integration tests)
step "HTML report in headless Chromium" env MODELBENCH_BIN=target/debug/modelbench bash scripts/e2e-report.sh

if [ "${MODELBENCH_SKIP_E2E:-0}" = "1" ]; then
  echo "== end-to-end tests against vLLM: SKIPPED (MODELBENCH_SKIP_E2E=1)"
  exit 0
fi
step "end-to-end tests against the real vLLM CPU server" bash scripts/e2e-vllm.sh
