"""``TrainSettings``: what fitting and every candidate maker read of a run's config, read once.

Like ``GateConfig`` and ``EvalSettings``, ``TrainSettings.from_config(cfg)`` reads the groups a
candidate is made with — ``train.*``, ``loss``, ``miner``, ``merge.weight``, ``eval.primary``, ``seed``,
``trainer`` and ``logger`` — in one place. Preflight builds it before any work, so a bad value fails in
one line before a model is loaded; ``fit`` and the makers then read typed fields instead of looking
keys up in the raw config minutes into a run, and a recipe (``recft.training.recipes``) is one more
config to read, not a second code path.

There are no defaults here: every field is required, and ``from_config`` reads every key it needs
without a fallback. The defaults live in ``conf/train.yaml`` (and ``conf/cycle.yaml``, a recipe's
``settings``), so there is one place to read and change them.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from recft.common.config_keys import at_least, read_key
from recft.common.errors import ConfigError
from recft.training.errors import CandidateError

KEEP = ("last", "best")  # train.keep: the last epoch, or the best on dev (recft.training.checkpoint)


def forgetting_budget_value(value: Any) -> float | None:
    """``train.forgetting_budget`` as a number of ``eval.primary`` points, None = off; refused unless ≥ 0."""
    if value is None:
        return None
    try:
        budget = float(value)
    except (TypeError, ValueError):
        budget = math.nan
    if not (math.isfinite(budget) and budget >= 0):
        raise CandidateError(f"train.forgetting_budget must be a number >= 0 (or null: off), got {value!r}")
    return budget


def read(cfg: DictConfig, key: str, kind: type | None = None, nullable: bool = False):
    """``cfg``'s dotted ``key`` as ``kind``, or one line naming the key (``recft.common.config_keys``)."""
    return read_key(cfg, key, kind, nullable, home="conf/train.yaml")


@dataclass(frozen=True)
class Mining:
    """``miner``: how many hard negatives each query gets from mining (0: none), the miner that finds
    them, and whether it mines again with the model of every epoch. The miner stays a ``_target_`` node,
    built afresh for every pass: a miner keeps count of what it made."""

    per_query: int  # miner.num_negatives
    miner: Mapping | None  # miner.miner, resolved (None: nothing mines)
    remine_every_epoch: bool

    @classmethod
    def from_config(cls, cfg: DictConfig) -> "Mining":
        per_query = read(cfg, "miner.num_negatives", int)
        miner = OmegaConf.to_container(cfg.miner, resolve=True).get("miner")  # miner=none has no miner at all
        if per_query and not miner:
            raise ConfigError(f"miner.num_negatives={per_query} needs a miner to find them (e.g. miner=topk_margin)")
        remine = bool(per_query) and read(cfg, "miner.miner.remine_every_epoch", bool)
        return cls(per_query, miner, remine)

    def to_dict(self) -> dict:
        """The ``miner`` group as the candidate records it."""
        found = {"miner": copy.deepcopy(self.miner)} if self.miner is not None else {}
        return {"num_negatives": self.per_query, **found}


@dataclass(frozen=True)
class TrainSettings:
    """How a candidate is trained and chosen; ``from_config`` reads it, ``recorded`` is what it records."""

    seed: int  # the run's seed: Lightning's generators, the batch order, NUDGE's validation share
    epochs: int
    batch_size: int
    lr: float | None  # None: the maker trains nothing (NUDGE)
    weight_decay: float
    warmup_steps: int
    unique_in_batch: bool  # no query and no positive twice in one batch (recft.training.batches)
    gradient_checkpointing: bool
    validate_every_n_epochs: int
    # how the candidate is chosen among its epochs and merge weights
    primary: str  # eval.primary: the metric every choice reads
    keep: str  # one of KEEP
    patience: int | None  # stop after this many validations without a dev improvement; None: never
    forgetting_budget: float | None  # recft.training.budget; None: off
    forgetting_penalty: float  # λ of the dev objective (adapter=merge)
    merge_weight: float  # merge.weight: w · fine-tuned + (1 − w) · start; 1: no merge
    mining: Mining
    loss: Mapping  # the loss group, resolved: a ``_target_`` node built for each fit, and recorded as it is
    # Lightning's Trainer and loggers, as ``_target_`` nodes left unresolved: their interpolations (the run
    # folder, a sweep's names) resolve only inside the Hydra run, so they are built when training starts
    trainer: DictConfig
    loggers: DictConfig

    def __post_init__(self):
        if self.keep not in KEEP:
            raise CandidateError(f"train.keep must be one of {', '.join(KEEP)}, got {self.keep!r}")
        for key in ("epochs", "batch_size", "validate_every_n_epochs", "patience"):
            at_least(f"train.{key}", getattr(self, key), 1)
        if self.lr is not None and not self.lr > 0:  # NUDGE trains nothing: no lr
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")

    @classmethod
    def from_config(cls, cfg: DictConfig) -> "TrainSettings":
        """Read from a run's config (a recipe already applied: ``recft.training.recipes.with_recipe``)."""
        return cls(
            seed=read(cfg, "seed", int),
            epochs=read(cfg, "train.epochs", int),
            batch_size=read(cfg, "train.batch_size", int),
            lr=read(cfg, "train.lr", float, nullable=True),
            weight_decay=read(cfg, "train.weight_decay", float),
            warmup_steps=read(cfg, "train.warmup_steps", int),
            unique_in_batch=read(cfg, "train.unique_in_batch", bool),
            gradient_checkpointing=read(cfg, "train.gradient_checkpointing", bool),
            validate_every_n_epochs=read(cfg, "train.validate_every_n_epochs", int),
            primary=read(cfg, "eval.primary", str),
            keep=read(cfg, "train.keep", str),
            patience=read(cfg, "train.patience", int, nullable=True),
            forgetting_budget=forgetting_budget_value(read(cfg, "train.forgetting_budget")),
            forgetting_penalty=read(cfg, "train.forgetting_penalty", float),
            merge_weight=read(cfg, "merge.weight", float),
            mining=Mining.from_config(cfg),
            loss=OmegaConf.to_container(cfg.loss, resolve=True),
            trainer=cfg.trainer,
            loggers=cfg.logger,
        )

    @property
    def guided(self) -> bool:
        """A guided loss (``loss=gist``): the start point's vectors judge in-batch and mined candidates."""
        return bool(self.loss.get("guide"))  # only a guided loss has the key

    def recorded(self) -> dict:
        """What a candidate records of how it was trained (the registry, ``summary.json``): the ``train``
        keys that shape a fit, and the ``loss`` and ``miner`` groups as configured."""
        train = {
            "lr": self.lr,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "weight_decay": self.weight_decay,
            "warmup_steps": self.warmup_steps,
        }
        return {"train": train, "loss": copy.deepcopy(dict(self.loss)), "miner": self.mining.to_dict()}
