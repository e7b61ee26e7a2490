#!/usr/bin/env bash
# Stage 3 of the dev-only search, under the dev split drawn by document group (dev.group_by=documents:
# no dev claim shares a relevant abstract with a training pair) and the forgetting budget (0.005 nDCG@10 on
# the SQuAD selection probe) instead of λ = 1 on TREC DL. Each run trains up to 6 epochs and keeps the
# (epoch, merge weight) with the largest dev gain within the budget (train.keep=best, adapter=merge);
# `search.py --budget` ranks the runs by that dev gain and opens no golden row. Each job writes outputs/best_recipe/search3/<name>/ (its log beside it).
#   bash experiments/best_recipe/search3.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
out=${SEARCH_OUT:-outputs/best_recipe/search3}
common=(logger=csv show_progress=false train.keep=best train.forgetting_budget=0.005 train.epochs=6
        adapter=merge adapter.kind=query_lora adapter.lr=1e-3)
run() {
    local name=$1; shift
    [ -f "$out/$name/summary.json" ] && return 0
    .venv/bin/python -m recft.train "${common[@]}" "$@" "hydra.run.dir=$out/$name" > "$out/$name.log" 2>&1
}
mkdir -p "$out"
run lr1e-3                                       # the query-side LoRA defaults: lr 1e-3, τ 0.05
run lr3e-4 adapter.lr=3e-4                       # a smaller step
run lr1e-3_tau0.1 loss.temperature=0.1
run lr1e-3_gist loss=gist                        # the base as guide: no false negatives pushed away
run lr1e-3_topk miner=topk_margin                # one mined negative per pair
run lr3e-3 adapter.lr=3e-3                       # the stage-0 choice under the new dev split
run lr1e-3_rank4 adapter.rank=4 adapter.alpha=8  # less capacity to memorise with
.venv/bin/python experiments/best_recipe/search.py --budget "$out" > experiments/best_recipe/search3.md
