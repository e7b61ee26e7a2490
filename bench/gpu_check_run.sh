#!/usr/bin/env bash
# bench/gpu_check.py on a machine with one CUDA GPU and no package index (such as the device machine a task is lent).
#   bash bench/gpu_check_run.sh prepare          # where PyPI is reachable: wheels + MiniLM's config and tokenizer into .whl/
#   bash bench/gpu_check_run.sh run [ARGS...]    # on the GPU machine, in the repo root, .whl/ carried along; ARGS go to the script
# The GPU machine's python3 (3.12) has torch, transformers, peft, Lightning, sentence-transformers and numpy;
# recft's configs need Hydra and OmegaConf besides, installed from .whl/ into $SITE. The embedded MiniLM package
# (84 MB) stays behind: the check's BERT is randomly initialised from MiniLM's config and tokenizer. faiss stays
# behind too: faiss-gpu's wheels (48 MB) need CUDA 12's cuBLAS (a 581 MB wheel), beyond the 64 MiB a run there
# carries (and that image is CUDA 13), so its faiss section records why it did not run. FAISS_WHEELS="NAME==V ..."
# adds wheels for a machine where they fit.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl
SITE=${SITE:-/tmp/site}
verb=${1:-}
shift || true
case "$verb" in
  prepare)
    PY=${PYTHON:-.venv/bin/python}
    version() { "$PY" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1"; }
    rm -rf "$WHEELS" && mkdir -p "$WHEELS/minilm"
    platforms=()
    for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
      platforms+=(--platform "$tag")
    done
    # shellcheck disable=SC2086  # FAISS_WHEELS: several requirement specifiers
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      "${platforms[@]}" -d "$WHEELS" "hydra-core==$(version hydra-core)" "omegaconf==$(version omegaconf)" ${FAISS_WHEELS:-}
    # antlr4-python3-runtime 4.9.3 (what OmegaConf 2.3 pins) is published as source only: built here (pure Python)
    "$PY" -m pip wheel -q --no-deps -w "$WHEELS" "antlr4-python3-runtime==$(version antlr4-python3-runtime)"
    PYTHONPATH=src "$PY" - "$WHEELS/minilm" <<'PYTHON'
import shutil
import sys
from pathlib import Path

from recft.common.config import minilm_path

for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
    shutil.copy(Path(minilm_path()) / name, sys.argv[1])
PYTHON
    du -sh "$WHEELS"
    ;;
  run)
    PY=${PYTHON:-python3}
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
    export PYTHONPATH="$SITE:$PWD/src" PYTHONUNBUFFERED=1
    result=bench/results/gpu_check.json
    status=0
    timeout "${LIMIT_S:-470}" "$PY" bench/gpu_check.py --minilm "$WHEELS/minilm" --out "$result" "$@" 2>&1 |
      tee "${OUT:-/tmp}/gpu_check.log" || status=$?
    if [ -n "${OUT:-}" ] && [ -f "$result" ]; then cp "$result" "$OUT/"; fi  # what comes back from the device machine
    exit "$status"
    ;;
  *)
    echo "usage: bash bench/gpu_check_run.sh prepare|run [ARGS...]" >&2
    exit 2
    ;;
esac
