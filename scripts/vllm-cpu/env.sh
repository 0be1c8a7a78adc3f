# shellcheck shell=bash disable=SC2034
# Shared settings of the vLLM CPU scripts; sourced, never run. REPO must be set by the caller.
# Override with the environment: MODELBENCH_VLLM_VENV, MODELBENCH_MODELS_DIR.
VLLM_VENV=${MODELBENCH_VLLM_VENV:-$REPO/.cache/vllm-venv}
MODELS_DIR=${MODELBENCH_MODELS_DIR:-$REPO/.cache/models}
# The two tiny models: name, hidden size, layers. Different sizes give two genuinely different speeds.
TINY_MODELS=("tiny-h128-l2 128 2" "tiny-h256-l4 256 4")
# Environment every vLLM process gets: small KV cache, no hub access, no telemetry.
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
# vLLM names its processes with setproctitle (VLLM::EngineCore, VLLM::Worker), which overwrites
# /proc/PID/environ unless SPT_NOENV is set: the e2e leak check reads the environment there.
export SPT_NOENV=1
# Exit status of setup.sh when the package registry cannot be reached: callers report "skipped".
SETUP_UNREACHABLE=75
