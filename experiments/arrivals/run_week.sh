#!/usr/bin/env bash
# A week of arrivals run as a scheduler would: each day, that day's deliveries land in the inbox and
# one command runs; its exit code and wall time go into OUT/days.tsv, its log into OUT/logs/.
#   bash experiments/arrivals/run_week.sh
set -u
cd "$(dirname "$0")/../.."
OUT=outputs/arrivals
mkdir -p "$OUT"
rm -rf "$OUT/registry" "$OUT/inbox" "$OUT/logs" "$OUT/days.tsv"
.venv/bin/python experiments/arrivals/prepare.py --out "$OUT" > "$OUT/prepare.json"
mkdir -p "$OUT/inbox" "$OUT/logs"
printf 'day\tdelivered\texit\twall_s\tprinted\n' > "$OUT/days.tsv"
for day in 2026-12-01 2026-12-02 2026-12-03 2026-12-04 2026-12-05 2026-12-06 2026-12-07; do
  delivered=$(cd "$OUT/deliveries" && ls $day* 2>/dev/null | tr '\n' ' ')
  [ -n "$delivered" ] && cp "$OUT"/deliveries/$day* "$OUT/inbox/"
  start=$SECONDS
  HF_HUB_OFFLINE=1 .venv/bin/recft cycle +experiment=arrivals show_progress=false > "$OUT/logs/$day.log" 2>&1
  code=$?
  wall=$((SECONDS - start))
  printed=$(grep -E '^cycle [0-9]+: |^no new pairs' "$OUT/logs/$day.log" | tr '\n' ' ')
  printf '%s\t%s\t%s\t%s\t%s\n' "$day" "${delivered:-none}" "$code" "$wall" "$printed" >> "$OUT/days.tsv"
done
.venv/bin/recft manage --registry "$OUT/registry" history > "$OUT/history.txt"
cat "$OUT/days.tsv"
