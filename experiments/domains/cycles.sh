#!/usr/bin/env bash
# Two real domains, each with its own registry and gate on one base model: one cycle of SciFact and
# one of Cranfield (`recft cycle domain=X`, the cycle's defaults otherwise: query-side LoRA, 1 epoch),
# then every domain's incumbent and the serving router's check (README.md, "Registries per domain").
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
root=outputs/domains/registry
.venv/bin/python -m recft.cycle data=scifact domain=scifact arrivals.path=null registry.root=$root show_progress=false \
    hydra.run.dir=outputs/domains/cycle-scifact || true      # a verdict other than PROMOTED exits non-zero
.venv/bin/python -m recft.cycle data=cranfield domain=cranfield registry.root=$root show_progress=false \
    hydra.run.dir=outputs/domains/cycle-cranfield || true
.venv/bin/python -m recft.manage --registry $root domains
.venv/bin/python -m recft.manage --registry $root --domain scifact history
.venv/bin/python -m recft.manage --registry $root --domain cranfield history
