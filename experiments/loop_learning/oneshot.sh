#!/usr/bin/env bash
# The reference arm: the shipped recipe trained once, from the base model, on everything an arm's loop
# could have trained on by a day (trainable.py: the consumed pairs less the held-out queries).
#   bash experiments/loop_learning/oneshot.sh outputs/loop_learning/gated/registry 7
#   bash experiments/loop_learning/oneshot.sh outputs/loop_learning/dev-gated/registry 7 outputs/loop_learning/dev-oneshot \
#     data.path=outputs/loop_learning/holdback/beir data.split=holdback data.train_split=null   # measured on the hold-back
set -eu
cd "$(dirname "$0")/../.."
registry=$1
day=$2
out=${3:-outputs/loop_learning/oneshot}/day$day
shift $(( $# < 3 ? $# : 3 ))
rm -rf "$out"
mkdir -p "$out"
.venv/bin/python experiments/loop_learning/trainable.py "$registry" "$day" "$out/pairs.jsonl" > "$out/pairs.json"
start=$SECONDS
HF_HUB_OFFLINE=1 .venv/bin/recft train recipe=scifact pairs="$out/pairs.jsonl" hydra.run.dir="$out/run" \
  show_progress=false "$@" > "$out/train.log" 2>&1
printf '{"wall_s": %s}\n' "$((SECONDS - start))" > "$out/wall.json"
cat "$out/pairs.json" "$out/wall.json"
