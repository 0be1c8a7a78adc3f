#!/usr/bin/env bash
# Runs every test of modelbench:
#   1. formatting and lints (cargo fmt --check, cargo clippy -D warnings);
#   2. unit and integration tests (cargo test: the real binary against loopback test doubles);
#   3. end to end against the real vLLM CPU server (scripts/e2e-vllm.sh: installs the CPU build
#      into .cache/ on first use; reported loudly as SKIPPED if it cannot be installed).
# Set MODELBENCH_SKIP_E2E=1 to run only 1 and 2.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --all-targets --locked

if [ "${MODELBENCH_SKIP_E2E:-0}" = "1" ]; then
  echo "== end-to-end tests against vLLM: SKIPPED (MODELBENCH_SKIP_E2E=1)"
  exit 0
fi
if [ -f scripts/e2e-vllm.sh ]; then
  echo "== end-to-end tests against the real vLLM CPU server"
  bash scripts/e2e-vllm.sh
fi
