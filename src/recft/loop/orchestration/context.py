"""What the cycles of one run share, as a value: each cycle gets its own ``Loop`` and hands on a new one.

A run opens the registry, loads the eval sets and the training data once, and then runs one cycle
per arrival. What changes from cycle to cycle — the corpus of record as documents arrive, the
arrival files trained on, the queries sealed into the golden set or held out as dev — is a new
``Loop`` made with ``dataclasses.replace``, never a change to the one an earlier step still reads:
a cycle that fails half-way leaves the run's ``Loop`` as it was.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from omegaconf import DictConfig

from recft.data.beir import Dataset
from recft.data.sources import Source
from recft.eval.sets import EvalSettings
from recft.loop.gate.promotion import GateConfig
from recft.loop.intake.sealing import golden_of_record
from recft.loop.orchestration.loop_settings import LoopSettings
from recft.loop.storage.registry import Registry
from recft.model.cache import EmbeddingCache
from recft.training.candidate import CandidateMaker, TrainingData


@dataclass(frozen=True)
class Loop:
    """What every cycle of one run shares."""

    settings: LoopSettings  # every loop key, read once (recft.loop.orchestration.loop_settings)
    train_config: DictConfig  # what each recipe trains with: read by the training stage (TrainSettings), not here
    registry: Registry
    sets: dict[str, Source]
    cache: EmbeddingCache
    eval_settings: EvalSettings
    maker: CandidateMaker
    training: TrainingData  # replay, α and the training corpus; each cycle brings its own pairs
    arrivals_seen: list[str] = dataclasses.field(default_factory=list)  # sha256 of every arrival trained on
    split: Dataset | None = None  # the source's golden split over the corpus of record, without sealed queries
    sealed: list[dict] = dataclasses.field(default_factory=list)  # the sealed queries of record (registry)
    dev: list[dict] = dataclasses.field(default_factory=list)  # the dev queries of record (registry, role dev)
    sealing: list[dict] = dataclasses.field(default_factory=list)  # this cycle's of both roles, recorded with it

    @property
    def golden(self) -> str:
        return self.settings.golden

    @property
    def gate(self) -> GateConfig:
        return self.settings.gate

    def with_golden(self, split: Dataset | None = None) -> Loop:
        """The golden set of record: the golden split (over the corpus as it stands) plus every sealed query."""
        split = split or self.split or self.sets[self.golden].dataset
        dataset = golden_of_record(split, self.held("golden"))
        sets = {**self.sets, self.golden: dataclasses.replace(self.sets[self.golden], dataset=dataset)}
        return dataclasses.replace(self, split=split, sets=sets)

    def with_sealing(self, entries: list[dict]) -> Loop:
        """This cycle's held-out queries (both roles), pending until the caller records them."""
        return dataclasses.replace(self, sealing=list(entries)).with_golden()

    def held(self, role: str) -> list[dict]:
        """The arrival queries held out as ``role`` so far, this cycle's included."""
        return [*(self.sealed if role == "golden" else self.dev), *(e for e in self.sealing if e["role"] == role)]

    def held_out(self) -> list[dict]:
        """Every arrival query held out so far, sealed or dev: none of them ever trains."""
        return [*self.held("golden"), *self.held("dev")]

    def dev_source(self, entries: list[dict]) -> Source | None:
        """The cycle's dev split over the corpus of record: ``entries``, the dev rows it measures (every
        one of ``held("dev")``: its strata are ``recft.loop.gate.dev_check``'s)."""
        if not entries:
            return None
        golden = self.sets[self.golden]
        empty = dataclasses.replace(self.split, name="dev", queries={}, qrels={})
        spec = dataclasses.replace(golden.spec, name="dev", corpus_sample=None, max_pairs=None, train_split=None)
        return Source(spec, golden_of_record(empty, entries), [])

    def recorded(self) -> Loop:
        """The next cycle's start: this cycle's held-out queries are of record (the caller wrote them down)."""
        return dataclasses.replace(self, sealed=self.held("golden"), dev=self.held("dev"), sealing=[])
