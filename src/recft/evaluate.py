"""Evaluate a bi-encoder on a BEIR set: encode (through the cache), search, score, report.

    recft evaluate                                         # MiniLM on SciFact test
    recft evaluate data=msmarco-trecdl-slice               # graded, binary metrics at rel >= 2
    recft evaluate data=nevir                              # + NevIR paired accuracy
    recft evaluate data.path=/abs/beir/folder data.split=dev data.name=mine
    recft evaluate eval.baseline=outputs/evaluate/<run>/report.json   # paired deltas + CIs

Prints a table (mean, 95 % CI, n; with a baseline also Δ, its CI and d_z), writes ``report.json``
into the Hydra run directory and prints its path. ``python -m recft.evaluate`` is the same command.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from recft.common import config as _config
from recft.common.entry import guarded, run_hydra


@hydra.main(version_base="1.3", config_path=str(_config.CONF_DIR), config_name="evaluate")
def evaluate(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig

    from recft.eval.job import evaluate_job
    from recft.preflight import check_settings

    run_dir = Path(HydraConfig.get().runtime.output_dir)

    def run():
        check_settings(cfg, "evaluate")
        return evaluate_job(cfg, run_dir)

    def no_half_made_run_folder() -> None:
        if not (run_dir / "report.json").exists():
            shutil.rmtree(run_dir, ignore_errors=True)

    return guarded(run, no_half_made_run_folder).means[cfg.eval.primary]


def main(argv: list[str] | None = None) -> int:
    """``pairs=PATH`` is short for ``pairs.path=PATH``; then Hydra."""
    argv = sys.argv[1:] if argv is None else argv
    return run_hydra(evaluate, _config.short_paths(argv, ("pairs",)))


if __name__ == "__main__":
    sys.exit(main())
