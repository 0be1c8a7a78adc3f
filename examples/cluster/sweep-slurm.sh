#!/bin/bash
# modelbench sweep of Qwen/Qwen3-4B: 5 configuration(s) in 2 job arrays, one per GPU count (1, 2).
# Run it with `bash FILE`: it submits each array with sbatch. See docs/cluster.md.
set -euo pipefail
sbatch <<'MODELBENCH_SBATCH_1GPU'
#!/bin/bash
# modelbench sweep of Qwen/Qwen3-4B: 3 configuration(s) needing 1 GPU(s) (TP·DP·PP), one array task each.
# Written by `modelbench sweep --emit slurm`; see docs/cluster.md.
#SBATCH --job-name=modelbench-sweep-1gpu
#SBATCH --array=0-2%2
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --gres=gpu:1
#SBATCH --time=2:00:00
#SBATCH --output=modelbench-sweep-1gpu_%A_%a.out
#SBATCH --requeue
#SBATCH --partition=gpu
set -euo pipefail
# Shard = SLURM_ARRAY_TASK_ID of MODELBENCH_SHARD_COUNT; tasks may share a node, so each has its own port.
export MODELBENCH_SHARD_COUNT=3
MODELBENCH_PORT=$((20000 + SLURM_JOB_ID % 20000))
source /opt/vllm/bin/activate
exec modelbench sweep --model Qwen/Qwen3-4B --grid examples/cluster/grid.toml --serve-cmd 'vllm serve' --serve-model /models/Qwen3-4B --serve-extra '--dtype bfloat16' --dataset random --input-len 1024 --output-len 256 --num-prompts 200 --concurrency '16,64' --tokenizer /models/Qwen3-4B --startup-timeout 1200 --output-dir /shared/bench --only-gpus 1 --shard-from-env --resume --port "$MODELBENCH_PORT"
MODELBENCH_SBATCH_1GPU
sbatch <<'MODELBENCH_SBATCH_2GPU'
#!/bin/bash
# modelbench sweep of Qwen/Qwen3-4B: 2 configuration(s) needing 2 GPU(s) (TP·DP·PP), one array task each.
# Written by `modelbench sweep --emit slurm`; see docs/cluster.md.
#SBATCH --job-name=modelbench-sweep-2gpu
#SBATCH --array=0-1%2
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --gres=gpu:2
#SBATCH --time=2:00:00
#SBATCH --output=modelbench-sweep-2gpu_%A_%a.out
#SBATCH --requeue
#SBATCH --partition=gpu
set -euo pipefail
# Shard = SLURM_ARRAY_TASK_ID of MODELBENCH_SHARD_COUNT; tasks may share a node, so each has its own port.
export MODELBENCH_SHARD_COUNT=2
MODELBENCH_PORT=$((20000 + SLURM_JOB_ID % 20000))
source /opt/vllm/bin/activate
exec modelbench sweep --model Qwen/Qwen3-4B --grid examples/cluster/grid.toml --serve-cmd 'vllm serve' --serve-model /models/Qwen3-4B --serve-extra '--dtype bfloat16' --dataset random --input-len 1024 --output-len 256 --num-prompts 200 --concurrency '16,64' --tokenizer /models/Qwen3-4B --startup-timeout 1200 --output-dir /shared/bench --only-gpus 2 --shard-from-env --resume --port "$MODELBENCH_PORT"
MODELBENCH_SBATCH_2GPU
