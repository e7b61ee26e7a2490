# Sourced by the week scripts: `run_cycles DIR [OVERRIDE...]` runs `recft cycle` eight times on a fresh
# registry under DIR (each run consumes the next delivery), writing each run's exit code, wall time and
# what it printed to DIR/days.tsv, its log to DIR/logs/, and the history table to DIR/history.txt.
run_cycles() {
  local dir=$1
  shift
  local args=(registry.root="$dir/registry" hydra.run.dir="$dir/runs/\${now:%H-%M-%S}" show_progress=false "$@")
  mkdir -p "$dir/logs"
  printf 'run\texit\twall_s\tprinted\n' > "$dir/days.tsv"
  for run in 1 2 3 4 5 6 7 8; do
    local start=$SECONDS
    HF_HUB_OFFLINE=1 .venv/bin/recft cycle "${args[@]}" > "$dir/logs/run-$run.log" 2>&1
    local code=$?
    local printed
    printed=$(grep -E '^cycle [0-9]+: |^no new pairs|^error' "$dir/logs/run-$run.log" | tr '\n' ' ')
    printf '%s\t%s\t%s\t%s\n' "$run" "$code" "$((SECONDS - start))" "$printed" >> "$dir/days.tsv"
  done
  .venv/bin/recft manage --registry "$dir/registry" history > "$dir/history.txt"
  cat "$dir/days.tsv"
}
