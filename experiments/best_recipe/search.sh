#!/usr/bin/env bash
# The dev-only search around the baselines' dev choice (query-side LoRA, lr 3e-3, 3 epochs, τ 0.05):
# one factor at a time, each run's epoch kept by dev (train.keep=best). `search.py` ranks the runs by
# dev Δ − 1 × TREC DL loss and reads nothing else; each run's golden numbers stay in its folder.
# Each job writes outputs/best_recipe/search/<name>/ (train.log beside its summary.json).
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
common=(logger=csv show_progress=false train.keep=best adapter=query_lora adapter.lr=3e-3)
run() {
    local name=$1; shift
    [ -f "outputs/best_recipe/search/$name/summary.json" ] && return 0
    .venv/bin/python -m recft.train "${common[@]}" "$@" "hydra.run.dir=outputs/best_recipe/search/$name" \
        > "outputs/best_recipe/search/$name.log" 2>&1
}
mkdir -p outputs/best_recipe/search
run lr3e-3
run lr6e-3 adapter.lr=6e-3
run lr1e-2 adapter.lr=1e-2
run tau0.02 loss.temperature=0.02
run tau0.1 loss.temperature=0.1
run epochs6 train.epochs=6
run topk_margin miner=topk_margin
run gist loss=gist
run gist_topk loss=gist miner=topk_margin
run unique train.unique_in_batch=true
run two_tower adapter=lora train.validate_every_n_epochs=3
.venv/bin/python experiments/best_recipe/search.py outputs/best_recipe/search > experiments/best_recipe/search.md
