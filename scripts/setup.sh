#!/usr/bin/env bash
# One-time setup on a fresh machine (only Python needed): a virtualenv in .venv with recft[dev].
#   bash scripts/setup.sh                 # CPU (default): torch==2.13.0 CPU wheel
#   EXTRAS=dev,bench bash scripts/setup.sh
#   TORCH_SPEC="torch==2.13.0" PIP_INDEX_URL=... bash scripts/setup.sh   # your own torch build
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-dev}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip
# torch first and pinned: an unpinned torch (or one pulled in by another package) is a ~5 GB CUDA build.
pip install "${TORCH_SPEC:-torch==2.13.0}"
pip install -e ".[${EXTRAS}]"
.venv/bin/python -c "import torch, recft; print(f'recft {recft.__version__} ready (torch {torch.__version__})')"
