"""The one interface every kind of candidate is made through: trained adapters, NUDGE, and (later) merges.

A *maker* (``conf/adapter/*.yaml`` instantiates one) turns a start point — the incumbent in a cycle,
the configured encoder in ``recft train`` — and training data into a ``Candidate``: its validation
history (epoch 0 is the start point's reports), the encoder and passage vectors that serve it, the
settings it was made with (what the registry records), and how to write it as a version folder.
Neither ``recft train`` nor the cycle knows which maker it is talking to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from recft.data.beir import Dataset
from recft.data.pairs import Pair
from recft.data.sources import Source
from recft.eval.report import Report
from recft.eval.settings import EvalSettings
from recft.model.cache import EmbeddingCache
from recft.model.encoder import BiEncoder
from recft.training.errors import CandidateError
from recft.training.settings import TrainSettings

SELECTION = "selection"  # the selection probe's key among the sets validated each epoch (recft.training.budget)


class SmallDataError(CandidateError):
    """Too few training pairs to fine-tune without likely making the model worse."""


def check_enough_pairs(n_pairs: int, min_pairs: int, force: bool) -> None:
    if n_pairs < min_pairs and not force:
        raise SmallDataError(
            f"only {n_pairs} training pairs (< train.min_pairs={min_pairs}): fine-tuning on this little data "
            f"often makes a pretrained encoder worse. Add pairs, or set train.force=true to try anyway."
        )


@dataclass
class TrainingData:
    pairs: list[Pair]  # the target pairs this candidate learns from
    replay: list[Pair] = field(default_factory=list)  # generalist pairs mixed into every batch
    alpha: float = 0.0  # replay share of each batch
    corpus: Dataset | None = None  # the training split: hard negatives are mined from its corpus
    negatives: dict = field(default_factory=dict)  # (source, query id) → [(doc id, text)] given with the pairs
    seen: list[Pair] = field(default_factory=list)  # every pair so far, for a step refitted from scratch (empty: pairs)


@dataclass
class StartPoint:
    """The model a candidate starts from."""

    kind: str  # what its encoder is: base | merged | query_lora
    encoder_version: str | None  # registry id of the version whose encoder embeds (None outside a registry)
    reports: dict[str, Report]  # on the golden set and every probe
    load_encoder: Callable[[bool], BiEncoder]  # trainable? → its encoder
    moved: Any = None  # the golden corpus's vectors it serves moved (a NudgedCorpus), if any


def over_golden_corpus(golden: str) -> tuple[str, str]:
    """The sets scored over the golden corpus (it and dev): what moved passage vectors change."""
    return golden, "dev"


@dataclass
class MakeContext:
    """What every maker may read: the training settings (``train``), the sets and how they are measured."""

    train: TrainSettings
    sets: Mapping[str, Source]
    golden: str
    cache: EmbeddingCache
    settings: EvalSettings
    log_dir: Path | None = None
    per_epoch: tuple[str, ...] | None = None  # sets validated every epoch (None: all but the golden set)
    tuned_on: str = "dev"  # what per-epoch validation and sweep objectives read; "golden" only by override
    selection: Source | None = None  # train.forgetting_budget's selection probe: validated, never gated nor reported

    def validated_each_epoch(self) -> dict[str, Source]:
        """Tune on ``dev`` (and watch the probes); the golden set is measured once, at the end."""
        names = self.per_epoch if self.per_epoch is not None else [n for n in self.sets if n != self.golden]
        return {name: source for name, source in self.sets.items() if name in names}

    def over_golden_corpus(self) -> tuple[str, ...]:
        return tuple(name for name in over_golden_corpus(self.golden) if name in self.sets)

    def selection_sets(self) -> dict[str, Source]:
        """The selection probe under its key, or nothing (no budget)."""
        return {SELECTION: self.selection} if self.selection is not None else {}

    def evaluation_queries(self) -> set[str]:
        """Every query some set is measured on (the selection probe's too): mining must never see them."""
        sets = [*self.sets.values(), *self.selection_sets().values()]
        return {q for source in sets for q in source.dataset.queries}


@dataclass
class Candidate:
    history: dict[int, dict[str, Report]]  # epoch → set name → report; 0 = the start point
    encoder: BiEncoder  # embeds its queries (and passages, except those in `overrides`)
    wall_s: float  # time to make it, evaluation excluded where the maker can tell
    settings: dict  # what it was made with, as the registry records it
    save: Callable[[Path], str]  # write the version folder (complete or not at all); returns its kind
    overrides: Mapping[str, np.ndarray] | None = None  # passage vectors that replace the encoder's
    summary: dict = field(default_factory=dict)  # maker-specific lines for summary.json

    @property
    def reports(self) -> dict[str, Report]:
        return self.history[max(self.history)]


class CandidateMaker(Protocol):
    uses_all_pairs: bool  # True: re-fitted from scratch each cycle, so it needs every pair seen so far

    def make(self, start: StartPoint, data: TrainingData, ctx: MakeContext) -> Candidate: ...
