#!/usr/bin/env bash
# The default job through its week, and the null controls beside it: `recft cycle` run eight times on a
# fresh registry, each run consuming the next delivery (data/scifact/deliveries). "null": the same week
# with every training claim's positives replaced by another claim's after sealing and the dev split
# (loop.null_control=true: the sealed and dev claims keep their true judgements, so the gate faces
# candidates trained on noise). "null_deliveries": every claim's positives shuffled in the files
# themselves (scripts/make_deliveries.py --null), dev and golden included. Per run: exit code, wall time
# and what it printed go into OUT/<week>/days.tsv, its log into OUT/<week>/logs/.
#   bash experiments/arrivals/default_week.sh            # the real week and the null one
#   bash experiments/arrivals/default_week.sh real       # one of them
set -u
cd "$(dirname "$0")/../.."
source experiments/arrivals/cycles.sh
OUT=outputs/default_week
weeks=${1:-"real null"}
for week in $weeks; do
  dir="$OUT/$week"
  rm -rf "$dir"
  mkdir -p "$dir/logs"
  args=()
  if [ "$week" = null ]; then
    args+=(loop.null_control=true)
  fi
  if [ "$week" = null_deliveries ]; then
    .venv/bin/python scripts/make_deliveries.py --null --out "$dir/deliveries" > "$dir/deliveries.json"
    args+=(arrivals.path="$dir/deliveries")
  fi
  run_cycles "$dir" "${args[@]}"
done
