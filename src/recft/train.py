"""Fine-tune a bi-encoder (or NUDGE its corpus): target pairs (+ replay) → a candidate, validated per epoch.

    recft train                                        # MiniLM + LoRA on SciFact train
    recft train adapter=full loss.temperature=0.05 miner=topk_margin
    recft train replay=squad replay.alpha=0.25 logger=wandb
    recft train adapter=nudge                          # NUDGE-N: move corpus embeddings, no weights
    recft train +experiment=nika_lora

Writes into the Hydra run dir: ``csv/`` (per-epoch curves), ``wandb/`` (with ``logger=wandb``,
offline by default), ``candidate/`` (what a registry version holds: a sentence-transformers folder
``candidate/model/``, a query adapter, or moved vectors), ``reports/`` and ``summary.json``
(zero-shot vs final, paired Δ with 95 % CI per set), and prints the summary table. Returns the
sweep objective to Hydra sweepers. ``python -m recft.train`` is the same command.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from recft.common import config as _config
from recft.common.entry import guarded, run_hydra


@hydra.main(version_base="1.3", config_path=str(_config.CONF_DIR), config_name="train")
def train(cfg: DictConfig) -> float:
    from recft.preflight import check_settings
    from recft.sweeps.objective import objective
    from recft.training.job import train_job

    def run() -> dict:
        check_settings(cfg, "train")
        return train_job(cfg, Path(cfg.output_dir))

    return objective(guarded(run), cfg)  # what an Optuna sweep minimises or maximises


def main(argv: list[str] | None = None) -> int:
    """``pairs=PATH`` is short for ``pairs.path=PATH``, ``recipe=FILE.yaml`` for ``recipe_file=FILE``; then Hydra."""
    argv = sys.argv[1:] if argv is None else argv
    return run_hydra(train, _config.recipe_files(_config.short_paths(argv, ("pairs",))))


if __name__ == "__main__":
    sys.exit(main())
