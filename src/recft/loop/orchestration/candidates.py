"""A cycle's candidates: each declared recipe trained from the incumbent, the best on the cycle's dev split
sent to the gate.

``loop.recipes`` is the budget of candidates fixed in the config (default: the shipped SciFact recipe
and ``own`` — the cycle's own settings, what ``adapter=…``, ``loss=…`` and the rest say). Each trains
from the same start point on the same pairs; inside its own training it picks its epoch and merge
weight on the cycle's dev split (``train.keep=best``, ``adapter=merge``), and the cycle keeps the
candidate with the largest dev gain in ``eval.primary`` over the incumbent (ties: the first
declared); it goes to the gate only when a paired test on dev says it beats the incumbent
(``recft.loop.gate.dev_check``). Without a dev split (none arrived yet) there is nothing to choose
with: the cycle trains its own settings (or the first declared recipe when ``own`` is not
declared). The golden set is never read here: the gate alone decides on it. ``recipe=X`` on the
command line trains X alone.

A recipe does not travel: SciFact's recipe keeps the base model when nothing beats it on dev, and on
another source the plain query-side LoRA may be the one that gains — the dev split says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from omegaconf import DictConfig, OmegaConf

from recft.common.errors import instantiate
from recft.data.sources import Source
from recft.loop.orchestration.context import Loop
from recft.loop.orchestration.loop_settings import OWN
from recft.training.candidate import Candidate, StartPoint, TrainingData
from recft.training.job import make_candidate
from recft.training.recipes import Recipe


@dataclass
class Trained:
    recipe: str
    candidate: Candidate
    cfg: DictConfig
    dev_gain: float | None  # Δ eval.primary on the cycle's dev split, candidate − incumbent
    is_start: bool = False  # it kept the incumbent's weights and passage vectors: it is the incumbent


def kept_the_start_weights(candidate: Candidate) -> bool:
    """The kept point's weights are the start point's: epoch 0 (``train.keep=best``) or merge weight 0."""
    epoch = candidate.summary.get("checkpoint", {}).get("chosen_epoch")
    return epoch == 0 or (candidate.settings.get("merge") or {}).get("weight") == 0


def is_the_start(candidate: Candidate, start: StartPoint) -> bool:
    """The start point's weights *and* its passage vectors: the incumbent itself. A candidate that kept
    the weights but moved vectors (a new NUDGE γ) is not, and is measured like any other."""
    if not kept_the_start_weights(candidate):
        return False
    nudge = candidate.settings.get("nudge") or {}
    return bool(nudge.get("kept_the_start_points")) or (candidate.overrides is None and start.moved is None)


def dev_gain(candidate: Candidate, start: StartPoint, metric: str) -> float | None:
    """Candidate − start on dev; exactly 0 when the candidate is the start point — measured again through
    another path (a zero-scaled adapter, bf16) it would differ only by rounding."""
    if "dev" not in candidate.reports or "dev" not in start.reports:
        return None
    if is_the_start(candidate, start):
        return 0.0
    return candidate.reports["dev"].means[metric] - start.reports["dev"].means[metric]


def with_cycle_patience(cfg: DictConfig, patience: int | None) -> DictConfig:
    """A recipe that keeps its best epoch on dev stops after ``loop.patience`` validations that did not
    move that choice (``recft.training.checkpoint``): the epochs after its best cost a cycle most of its
    time and are never kept. A recipe that keeps its last epoch is left as it is."""
    if patience is None or cfg.train.keep != "best":
        return cfg
    return OmegaConf.merge(cfg, {"train": {"patience": int(patience)}})


def train_candidates(
    loop: Loop, start: StartPoint, data: TrainingData, sets: Mapping[str, Source], run_dir: Path
) -> tuple[Trained, list[dict]]:
    """Train every declared recipe on the loop's golden set name, cache and evaluation settings; returns
    the one dev chose and a row per recipe for the history line."""
    cfg, refs, metric = loop.train_config, list(loop.settings.loop.recipes), loop.settings.primary
    context = {"golden": loop.golden, "cache": loop.cache, "settings": loop.eval_settings}
    if "dev" not in sets and len(refs) > 1:  # nothing to choose with: the cycle's own settings, or the first
        refs = [OWN] if OWN in refs else refs[:1]
    trained = []
    for ref in refs:
        recipe_cfg = with_cycle_patience(
            cfg if ref == OWN else Recipe.load(ref).apply(cfg), loop.settings.loop.patience
        )
        recipe_maker = loop.maker if ref == OWN else instantiate(recipe_cfg.adapter)
        log_dir = run_dir if len(refs) == 1 else run_dir / f"recipe-{Path(ref).stem}"
        candidate = make_candidate(recipe_cfg, recipe_maker, start, data, sets, log_dir=log_dir, **context)
        gain = dev_gain(candidate, start, metric)
        trained.append(Trained(ref, candidate, recipe_cfg, gain, is_the_start(candidate, start)))
    with_dev = [t for t in trained if t.dev_gain is not None]
    chosen = max(with_dev, key=lambda t: t.dev_gain) if with_dev else trained[0]  # max keeps the first of ties
    rows = [
        {
            "recipe": t.recipe,
            "dev_gain": t.dev_gain,
            "metric": metric,
            "epochs": int(t.cfg.train.epochs),
            "kept_epoch": t.candidate.summary.get("checkpoint", {}).get("chosen_epoch"),
            "merge_weight": (t.candidate.settings.get("merge") or {}).get("weight"),
            **({"nudge": t.candidate.settings["nudge"]} if "nudge" in t.candidate.settings else {}),
            "train_wall_s": t.candidate.wall_s,
            "chosen": t is chosen,
        }
        for t in trained
    ]
    return chosen, rows
