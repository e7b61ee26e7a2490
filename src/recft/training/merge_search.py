"""``adapter=merge``: train, then choose the merge weight w on dev — a merged candidate in one run.

A weight grid over w · fine-tuned + (1 − w) · start (``recft.training.merge``): each w is measured on
the sets validated every epoch (``dev`` and the probes), and the w with the best objective — the dev
gain in ``eval.primary`` minus ``train.forgetting_penalty`` × the probes' losses, the sweep objective —
is kept (a tie goes to the smaller w: less moved from the start point for the same dev result). The
golden set is measured once, on the chosen model. The grid, and what each w scored, go into the
candidate's settings.

With ``train.forgetting_budget`` the λ objective is not used: the w (with ``train.keep=best``, the
(epoch, w)) is the point with the largest dev gain whose loss on the selection probe stays within the
budget (``recft.training.budget``); the points and the choice go into ``summary.json``'s
``forgetting_budget``.

LM-Cocktail (FlagEmbedding) instead picks merge weights by a few examples' loss across several
models; with one fine-tune and its start point the dev grid asks the same question of held-out
queries with the metric the gate uses, so it is what this does. For a query-side LoRA each w
re-encodes only the dev and probe queries; a two-tower or full fine-tune re-encodes their corpora.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from recft.eval.report import Report
from recft.training.candidate import CandidateError, MakeContext, StartPoint
from recft.training.fit import FitResult
from recft.training.maker import TrainedMaker, measure_weights
from recft.training.merge import check_weight, endpoints, set_weight
from recft.training.objective import dev_objective


def objective(reports: dict[str, Report], start: dict[str, Report], metric: str, penalty: float) -> float:
    """Dev Δ − penalty × Σ probe losses (each probe's drop below its start value), in ``metric``."""
    gain = reports["dev"].means[metric] - start["dev"].means[metric]
    deltas = [r.means[metric] - start[n].means[metric] for n, r in reports.items() if n != "dev"]
    return dev_objective(gain, deltas, penalty)


@dataclass(frozen=True)
class MergeSearchMaker(TrainedMaker):
    weights: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)

    def __post_init__(self):
        super().__post_init__()
        for w in self.weights:
            check_weight(float(w), "adapter.weights")

    def weights_to_choose(self, ctx: MakeContext) -> Sequence[float]:
        return self.weights

    def merge(self, encoder, result: FitResult, start: StartPoint, ctx: MakeContext, continuing: bool) -> dict:
        validated = ctx.validated_each_epoch()
        if "dev" not in validated:
            raise CandidateError(
                "adapter=merge chooses w on the dev split, and there is none (dev.share > 0 in recft train, "
                "dev.arrival_share > 0 in a cycle; or a fixed merge.weight=w)"
            )
        metric, penalty = ctx.train.primary, ctx.train.forgetting_penalty
        if result.budget is not None:  # the budget chose the point (TrainedMaker.make); merge to its w
            chosen = super().merge(encoder, result, start, ctx, continuing)
            return {**chosen, "chosen_on": "dev", "metric": metric}
        history = result.history
        tuned, origin = endpoints(encoder, lambda: start.load_encoder(False), continuing)
        was_training = encoder.training
        encoder.eval()
        scored: dict[float, dict[str, Report]] = measure_weights(encoder, self.weights, tuned, origin, validated, ctx)
        values = {w: objective(reports, start.reports, metric, penalty) for w, reports in scored.items()}
        chosen = max(values, key=lambda w: (values[w], -w))
        set_weight(encoder, chosen, tuned, origin)
        encoder.train(was_training)
        history[max(history)] = scored[chosen]  # the chosen model's validation: the last epoch
        grid = {str(w): {"objective": values[w], **{n: r.means[metric] for n, r in scored[w].items()}} for w in values}
        return {"weight": chosen, "chosen_on": "dev", "metric": metric, "grid": grid}
