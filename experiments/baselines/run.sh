#!/usr/bin/env bash
# The baselines experiment, in the order it was run (README.md has the results and timings).
# MPNet's weights: `recft fetch mpnet` first. Each job writes outputs/baselines/<adapter>/<n>-<model>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
recft() { .venv/bin/python -m "recft.$1" "${@:2}"; }
# 1. zero-shot on all four sets (every job's epoch 0) + NUDGE-N; fills the embedding cache
recft train -m +experiment=baselines adapter=nudge
# 2. query-side LoRA, learning rate chosen per model on dev
recft train -m +experiment=baselines adapter=query_lora adapter.lr=3e-4,1e-3,3e-3
# 3. two-tower: full fine-tuning, one epoch (each validation re-encodes every corpus: see README)
recft train -m +experiment=baselines adapter=full train.epochs=1 'hydra.sweeper.params.encoder=minilm'
recft train -m +experiment=baselines adapter=full train.epochs=1 'hydra.sweeper.params.encoder=mpnet' \
    '~probes.nevir' '~probes.cranfield'
# the tables and figures
recft summarize outputs/baselines/nudge outputs/baselines/query_lora outputs/baselines/full \
    --models --out experiments/baselines/summary
