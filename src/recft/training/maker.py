"""The trained candidate maker: LoRA, query-side LoRA, last layer or full fine-tuning from the start point.

``conf/adapter/{lora,query_lora,last_layer,full}.yaml`` instantiate it. A query-side incumbent is
continued (its adapter keeps training) rather than stacked on: its passages are the base model's,
and a two-tower candidate on top would make the serving index invalid without saying so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from recft.data.sources import Source
from recft.eval.sets import evaluate_set, evaluate_sets
from recft.model.adapters import KINDS
from recft.model.store import save_encoder
from recft.training.budget import START, budget_record, epoch_points
from recft.training.candidate import SELECTION, Candidate, CandidateError, MakeContext, StartPoint, TrainingData
from recft.training.fit import FitResult, ValidationPlan, fit
from recft.training.merge import endpoints, merge_with_start, set_weight

LORA_KINDS = ("lora", "query_lora")
NUDGE_SETTINGS = ("gamma", "docs_moved", "against", "kept_the_start_points")  # what the registry records of the step


def measure_the_rest(history: dict, encoder, start: StartPoint, ctx: MakeContext, overrides=None) -> dict:
    """Epoch 0 is the start point on every set; the last epoch adds the sets not validated per epoch
    (the golden set) measured once, now; epochs in between hold what was validated. ``overrides``
    (moved passage vectors of the golden corpus) score the sets over that corpus."""
    last = max(history)
    rest = {n: s for n, s in ctx.sets.items() if n not in history[last]}
    moved = ctx.over_golden_corpus()
    score = lambda name, source: evaluate_set(  # noqa: E731
        encoder, source, ctx.cache, ctx.settings, overrides if name in moved else None
    )
    measured = {name: score(name, source) for name, source in rest.items()}
    final = {**history[last], **measured}
    ordered = lambda reports: {n: reports[n] for n in ctx.sets if n in reports}  # noqa: E731
    return {**history, 0: ordered(start.reports), last: ordered(final)}


def measure_weights(encoder, weights, tuned: dict, origin: dict, sets: Mapping[str, Source], ctx: MakeContext) -> dict:
    """w → the reports on ``sets`` of w · ``tuned`` + (1 − w) · ``origin``, each w in ascending order; the
    encoder is left at the last w."""
    measured = {}
    for w in sorted({float(w) for w in weights}):
        set_weight(encoder, w, tuned, origin)
        measured[w] = evaluate_sets(encoder, sets, ctx.cache, ctx.settings)
    return measured


class EpochGrid:
    """With ``train.forgetting_budget``: an epoch's points at the merge weights a run chooses among, on dev
    and the selection probe (w = 1 is what validation just measured; w = 0, the start point, is its own
    point). The encoder is handed back at w = 1."""

    def __init__(self, weights: Sequence[float], ctx: MakeContext, start: StartPoint, continuing: bool):
        self.weights = sorted({float(w) for w in weights if float(w) > 0})
        self.sets = {"dev": ctx.validated_each_epoch()["dev"], **ctx.selection_sets()}
        self.ctx, self.continuing = ctx, continuing
        self.load_start = functools.cache(lambda: start.load_encoder(False))  # a full fine-tune's start, once

    def __call__(self, encoder, at_one: dict) -> dict:
        measured = {1.0: at_one} if 1.0 in self.weights else {}
        others = [w for w in self.weights if w != 1.0]
        if others:
            tuned, origin = endpoints(encoder, self.load_start, self.continuing)
            measured.update(measure_weights(encoder, others, tuned, origin, self.sets, self.ctx))
            set_weight(encoder, 1.0, tuned, origin)
        return dict(sorted(measured.items()))


def check_budget_sets(validated: Mapping[str, Source], ctx: MakeContext) -> None:
    """A forgetting budget reads dev gains and the selection probe's losses: both must be there."""
    if "dev" not in validated:
        raise CandidateError(
            "train.forgetting_budget chooses on the dev split, and there is none (dev.share > 0 or dev.split)"
        )
    if ctx.selection is None:
        raise CandidateError(
            "train.forgetting_budget: no selection probe was loaded (recft train loads train.selection_probe)"
        )


def without(reports: dict, name: str) -> dict:
    return {n: r for n, r in reports.items() if n != name}


@dataclass(frozen=True)
class TrainedMaker:
    kind: str = "lora"
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: Sequence[str] = ("query", "key", "value", "dense")
    lr: float | None = None  # the adapter's default for train.lr; fitting reads train.lr
    nudge: Any = None  # a step after training with fit(encoder, pairs, ctx, carried) (recft.nudge.on_top); null: none
    uses_all_pairs = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise CandidateError(f"adapter.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.nudge is not None and not callable(getattr(self.nudge, "fit", None)):
            raise CandidateError(
                "adapter.nudge must be a step with a _target_: +nudge_step@adapter.nudge=default "
                f"(conf/nudge_step/default.yaml), got {self.nudge!r}"
            )

    def adapter_settings(self) -> dict:
        """What ``apply_adapter`` gets: LoRA's shape only where there is a LoRA."""
        if self.kind not in LORA_KINDS:
            return {"kind": self.kind}
        shape = {"rank": self.rank, "alpha": self.alpha, "dropout": self.dropout}
        return {"kind": self.kind, **shape, "target_modules": list(self.target_modules)}

    def weights_to_choose(self, ctx: MakeContext) -> Sequence[float]:
        """The merge weights a forgetting budget chooses among: the one ``merge.weight`` (1: no merge)."""
        return (ctx.train.merge_weight,)

    def merge(self, encoder, result: FitResult, start: StartPoint, ctx: MakeContext, continuing: bool) -> dict:
        """``merge.weight=w`` (1: no merge), or the w of the point a forgetting budget chose: the merged
        model is what is measured last, on every set."""
        weight, chosen_by = ctx.train.merge_weight, {}
        if result.budget is not None:
            weight, chosen_by = result.budget["chosen"]["weight"], {"chosen_by": "forgetting_budget"}
        if weight != 1.0:
            merge_with_start(encoder, weight, lambda: start.load_encoder(False), continuing)
            result.history[max(result.history)] = {}
        return {"weight": weight, **chosen_by}

    def within_budget(self, encoder, result: FitResult, budget: float, grid: EpochGrid, ctx: MakeContext) -> None:
        """``train.keep=last`` with a budget: the points are the start and the last epoch's weights."""
        history, metric = result.history, ctx.train.primary
        last = max(history)
        rows = [dict(START), *epoch_points(last, grid(encoder, history[last]), history[0], metric)]
        result.budget = budget_record(rows, budget, metric, ctx.selection)

    def make(self, start: StartPoint, data: TrainingData, ctx: MakeContext) -> Candidate:
        continuing = start.kind == "query_lora"
        if continuing and self.kind != "query_lora":
            raise CandidateError(
                f"the start point ({start.encoder_version}) is query_lora; candidates must be query_lora too "
                f"(its passages are the base model's), got adapter={self.kind}"
            )
        encoder = start.load_encoder(True)
        result = self.fitted(encoder, data, start, ctx, continuing)
        merge = self.merge(encoder, result, start, ctx, continuing)
        result.history = {epoch: without(reports, SELECTION) for epoch, reports in result.history.items()}
        nudged, nudge_record = self.nudged(encoder, data, result.history, ctx, start.moved)
        overrides = nudged.overrides() if nudged else None
        history = measure_the_rest(result.history, encoder, start, ctx, overrides)
        settings = {
            "adapter": self.adapter_settings(),
            "continued": continuing,
            **ctx.train.recorded(),  # train, loss, miner
            "replay_alpha": data.alpha,
            "tuned_on": ctx.tuned_on,
            "merge": merge,
            **({"nudge": {k: nudge_record[k] for k in NUDGE_SETTINGS}} if nudge_record else {}),
        }
        return Candidate(
            history=history,
            encoder=encoder,
            wall_s=result.wall_s,
            settings=settings,
            save=lambda folder: save_encoder(encoder, folder, nudged),
            overrides=overrides,
            summary={
                "parameters": {"trainable": result.trainable, "total": result.total},
                "epochs_trained": result.epochs,
                "gradient_checkpointing": result.checkpointing,
                **({"checkpoint": result.checkpoint} if result.checkpoint else {}),
                **({"forgetting_budget": result.budget} if result.budget else {}),
                **({"nudge": nudge_record} if nudge_record else {}),
            },
        )

    def nudged(self, encoder, data: TrainingData, history: dict, ctx: MakeContext, carried=None):
        """With ``adapter.nudge``: the golden corpus's vectors moved by every pair so far, γ held to the
        budget on dev against the start point's own moved vectors (``carried``; ``recft.nudge.on_top``),
        and its record; the last epoch's dev report is dropped so that it is measured again with them.
        Else (None, None)."""
        if self.nudge is None:
            return None, None
        was_training = encoder.training
        encoder.eval()
        nudged, record = self.nudge.fit(encoder, data.seen or data.pairs, ctx, carried)
        encoder.train(was_training)
        if nudged is not None:
            history[max(history)] = without(history[max(history)], "dev")
        return nudged, record

    def fitted(self, encoder, data: TrainingData, start: StartPoint, ctx: MakeContext, continuing: bool) -> FitResult:
        """Fit ``encoder`` validating dev and the probes each epoch — and, with a forgetting budget, the
        selection probe, the start point measured on it first — then hold the result to the budget."""
        validated = ctx.validated_each_epoch()
        zero_shot = {name: start.reports[name] for name in validated}
        budget, grid = ctx.train.forgetting_budget, None
        if budget is not None:
            check_budget_sets(validated, ctx)
            selection = ctx.selection_sets()
            zero_shot.update(evaluate_sets(encoder, selection, ctx.cache, ctx.settings))  # the start, before training
            validated = {**validated, **selection}
            grid = EpochGrid(self.weights_to_choose(ctx), ctx, start, continuing)
        per_epoch = grid if ctx.train.keep == "best" else None  # keep=last: the last epoch's, below
        plan = ValidationPlan(validated, zero_shot, ctx.cache, ctx.settings)
        adapter = None if continuing else self.adapter_settings()
        result = fit(ctx.train, encoder, data, plan, adapter, ctx.evaluation_queries(), ctx.log_dir, per_epoch)
        if budget is not None and result.budget is None:
            self.within_budget(encoder, result, budget, grid, ctx)
        return result
