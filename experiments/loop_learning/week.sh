#!/usr/bin/env bash
# One arm of the loop-learning experiment: `recft cycle` run eight times on a fresh registry, each run
# consuming the next delivery. Arms: gated (the default job), nogate (loop.gated=false: every candidate
# promoted), null (loop.null_control=true: every training claim's positives are another's). Per run: exit
# code, wall time and what it printed go into OUT/<arm>/days.tsv, its log into OUT/<arm>/logs/.
#   bash experiments/loop_learning/week.sh gated
#   bash experiments/loop_learning/week.sh gated outputs/loop_learning/holdback/deliveries dev   # the development copy
set -u
cd "$(dirname "$0")/../.."
source experiments/arrivals/cycles.sh
arm=${1:-gated}
deliveries=${2:-}
prefix=${3:-}
dir="outputs/loop_learning/${prefix:+$prefix-}$arm"
rm -rf "$dir"
args=()
[ -n "$deliveries" ] && args+=(arrivals.path="$deliveries")
[ "$arm" = nogate ] && args+=(loop.gated=false)
[ "$arm" = null ] && args+=(loop.null_control=true)
run_cycles "$dir" "${args[@]}"
