"""The NUDGE candidate maker: fit moved corpus vectors, re-score the golden set with them, reuse the probes.

``conf/adapter/nudge.yaml`` (NUDGE-N) and ``nudge_m.yaml`` instantiate it. It always fits from the
start point's *encoder* (a NUDGE incumbent's base encoder, never its moved vectors) with every pair
seen so far, and it moves only the golden corpus: every probe is another corpus, so the start
point's probe reports are the candidate's too.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Sequence

from recft.common import console as console_module
from recft.eval.sets import evaluate_set
from recft.nudge.analysis import delta_by_touch, touched_queries
from recft.nudge.corpus import VARIANTS, NudgeError, NudgeSettings, fit_nudge
from recft.training.candidate import Candidate, MakeContext, StartPoint, TrainingData

console = console_module.err


@dataclass(frozen=True)
class NudgeMaker:
    kind: str = "nudge"
    variant: str = "n"
    val_fraction: float = 0.1
    val_k: int = 1
    gammas: Sequence[float] | None = None
    lr: float | None = None  # nothing is trained
    uses_all_pairs = True

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise NudgeError(f"adapter.variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if not 0 < self.val_fraction < 1:
            raise NudgeError(f"adapter.val_fraction must be in (0, 1), got {self.val_fraction}")

    def make(self, start: StartPoint, data: TrainingData, ctx: MakeContext) -> Candidate:
        encoder = start.load_encoder(False)
        encoder.eval()
        golden = ctx.sets[ctx.golden]
        spec = NudgeSettings(self.variant, self.val_fraction, self.val_k, tuple(self.gammas) if self.gammas else None)
        began = time.perf_counter()
        corpus, show = golden.dataset.corpus, ctx.settings.show_progress
        nudged = fit_nudge(encoder, corpus, golden.name, data.pairs, ctx.cache, spec, ctx.train.seed, show)
        wall = time.perf_counter() - began
        overrides = nudged.overrides()
        moved_sets = ctx.over_golden_corpus()
        rescored = {n: evaluate_set(encoder, ctx.sets[n], ctx.cache, ctx.settings, overrides) for n in moved_sets}
        final = {**start.reports, **rescored}
        qrels, metric = golden.dataset.qrels, ctx.train.primary
        moved = touched_queries(qrels, set(nudged.doc_ids), golden.min_relevance)
        trained_on = touched_queries(qrels, {p.doc_id for p in data.pairs}, golden.min_relevance)
        console.print(
            f"NUDGE-{nudged.variant.upper()}: γ={nudged.gamma:.4f}, {nudged.stats['docs_moved']} of "
            f"{nudged.stats['docs']} documents moved in {nudged.stats['nudge_s']:.2f} s; {len(moved)} of "
            f"{len(qrels)} golden queries have a moved relevant document, {len(trained_on)} one in a training pair"
        )
        stats = {
            **nudged.stats,
            "gamma": nudged.gamma,
            "variant": nudged.variant,
            "test_queries_touched": len(moved),
            "test_queries_in_training_pairs": len(trained_on),
            "delta_by_touch": delta_by_touch(
                start.reports[ctx.golden], final[ctx.golden], metric, moved, ctx.train.seed
            ),
        }
        settings = {
            "adapter": {"kind": self.kind, **asdict(spec)},
            "encoder_version": start.encoder_version,
            "tuned_on": "a share of its own training queries (adapter.val_fraction)",
            **stats,
        }
        return Candidate(
            history={0: start.reports, 1: final},
            encoder=encoder,
            wall_s=wall,
            settings=settings,
            save=nudged.save,
            overrides=overrides,
            summary={"nudge": stats, "parameters": {"trainable": 0, "total": 0}},
        )
