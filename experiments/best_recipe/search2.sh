#!/usr/bin/env bash
# Stage 2 of the dev-only search: the stage-1 dev best (search.sh: guided + mined negatives,
# loss=gist miner=topk_margin) combined with the next two factors dev preferred (τ 0.1, 6 epochs
# with the best dev epoch kept). search.py ranks both stages together; nothing reads the test split.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
common=(logger=csv show_progress=false train.keep=best adapter=query_lora adapter.lr=3e-3 loss=gist miner=topk_margin)
run() {
    local name=$1; shift
    [ -f "outputs/best_recipe/search/$name/summary.json" ] && return 0
    .venv/bin/python -m recft.train "${common[@]}" "$@" "hydra.run.dir=outputs/best_recipe/search/$name" \
        > "outputs/best_recipe/search/$name.log" 2>&1
}
run gist_topk_tau0.1 loss.temperature=0.1
run gist_topk_epochs6 train.epochs=6
run gist_topk_tau0.1_epochs6 loss.temperature=0.1 train.epochs=6
.venv/bin/python experiments/best_recipe/search.py outputs/best_recipe/search > experiments/best_recipe/search.md
