#!/usr/bin/env bash
# Stage 5 of the dev-only search: NUDGE-N on top of stage 4's winner (search4.md). The document-grouped dev
# split cannot value NUDGE (it moves only documents that training claims answer, and no dev claim's document
# is one), so nudge_curve.py reads its value on NUDGE's validation share of the training claims and its cost
# on dev, per γ, for the stage-4 run's own model. Opens no golden or TREC DL row.
#   bash experiments/best_recipe/search5.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
run=${SEARCH_RUN:-outputs/best_recipe/search4/lr3e-4_topk_e10}
.venv/bin/python experiments/best_recipe/nudge_curve.py "$run" > experiments/best_recipe/search5.md
