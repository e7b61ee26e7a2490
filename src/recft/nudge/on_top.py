"""NUDGE on top of a trained candidate (``adapter.nudge``), its γ held to the forgetting budget on dev.

Query-side training learns what carries over to claims about documents nothing trained on. NUDGE
moves the vectors of the documents the training queries answer, which is what new queries about
*those* documents gain from, but a moved document also rises for queries it does not answer. On
SciFact's document-grouped dev split (claims about documents no training pair touches), the γ that
NUDGE-N's own validation picks after the shipped query-side LoRA (0.38) costs those claims 0.032
nDCG@10, while γ = 0.005 costs them 0.0008 and still lifts validation top-1 from 0.54 to 0.65 on
held-out training claims whose document moved (``experiments/best_recipe``, stage 5).

So γ here is the one NUDGE's validation (a seeded share of the training queries, held out: mostly
claims about documents other training claims moved) likes best among those whose dev loss on the
*unseen* stratum (dev claims none of whose documents a pair trains: all of a document-grouped dev
split) — against the same model without moved vectors, or in a cycle against the vectors the
incumbent already moved — stays within ``train.forgetting_budget``. Without a budget it is NUDGE-N's
own choice. The grid adds steps below NUDGE-N's first (0.02): a budget often stops there.

In a cycle the incumbent's moved vectors are a point too: their validation accuracy is inflated
(their fit saw most of today's validation claims), so they are compared on what neither fit saw —
the whole dev split, whose claims on moved documents are what a re-fit is for. The re-fit replaces
them only when it scores higher there; else they are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from recft.eval.sets import evaluate_set
from recft.nudge.algorithm import DEFAULT_GAMMAS, nudge_n_accuracies, nudge_n_at
from recft.nudge.corpus import NudgedCorpus, NudgeError, nudge_problem
from recft.training.candidate import MakeContext

GAMMAS = (0.0, 0.0025, 0.005, 0.0075, 0.01, 0.015, *DEFAULT_GAMMAS[1:])


@dataclass(frozen=True)
class NudgeStep:
    """``adapter.nudge`` (``+nudge_step@adapter.nudge=default``): NUDGE-N after training. The trained
    maker calls ``fit`` without importing this stage; Hydra builds the step from its ``_target_``."""

    val_fraction: float = 0.1  # of the training queries, held out to rank γ
    val_k: int = 1  # γ is ranked by validation top-k accuracy
    gammas: Sequence[float] | None = None  # None: GAMMAS

    def __post_init__(self):
        if not 0 < float(self.val_fraction) < 1:
            raise NudgeError(f"adapter.nudge.val_fraction must be in (0, 1), got {self.val_fraction}")

    def fit(self, encoder, pairs, ctx: MakeContext, carried: NudgedCorpus | None = None):
        return nudge_within_budget(encoder, pairs, ctx, self, carried)


def mean_over(values: dict[str, float] | None, ids: set[str] | None = None) -> float:
    """The mean of ``values`` over ``ids`` (all when None); 0 over none: a stratum that is empty loses nothing."""
    kept = [v for q, v in (values or {}).items() if ids is None or q in ids]
    return float(sum(kept) / len(kept)) if kept else 0.0


def beats_on_dev(refit: dict[str, float] | None, start: dict[str, float] | None) -> bool:
    """A re-fit replaces the start point's moved vectors only when the whole dev split — claims on moved
    documents and on unmoved ones — likes it better; a tie keeps what is served."""
    if refit is None or start is None:
        return True  # not measured on dev (no budget): the re-fit, as NUDGE-N would choose
    return mean_over(refit) > mean_over(start)


def first_within_budget(problem, accuracies: dict, budget, reference, unseen: set[str], dev_values) -> tuple:
    """Each γ that beats not moving on validation, best first; the first whose loss on dev's unseen stratum
    (against ``reference``, the start point's dev values) is within ``budget`` — the best one without a
    budget. Returns (its moved corpus, its dev values, every γ looked at); (None, None, …) when none fits."""
    floor = accuracies.get(0.0, float("-inf"))  # a γ must beat not moving at all on validation
    looked = []
    for gamma in sorted((g for g in accuracies if g > 0 and accuracies[g] > floor), key=lambda g: (-accuracies[g], g)):
        moved = problem.corpus(nudge_n_at(problem.doc_emb, *problem.train, gamma))
        point = {"gamma": gamma, "val_accuracy": accuracies[gamma]}
        values = None
        if reference is not None:
            values = dev_values(moved.overrides())
            point["dev_loss"] = mean_over(reference, unseen) - mean_over(values, unseen)
        looked.append(point)
        if reference is None or point["dev_loss"] <= budget:
            return moved, values, looked
    return None, None, looked


def nudge_within_budget(
    encoder, pairs, ctx: MakeContext, step: NudgeStep, carried: NudgedCorpus | None = None
) -> tuple[NudgedCorpus | None, dict]:
    """The moved golden corpus and the record of what was measured: validation accuracy per γ, and the
    dev loss of each γ looked at, best first. ``carried``: the vectors the start point serves moved
    (a cycle's incumbent); when they belong to this encoder's passages, a γ's dev loss is measured
    against them, and they are kept when no γ fits — not moving again is not dropping what moved."""
    golden = ctx.sets[ctx.golden]
    show, seed, metric = ctx.settings.show_progress, ctx.train.seed, ctx.train.primary
    corpus = golden.dataset.corpus
    problem = nudge_problem(encoder, corpus, golden.name, pairs, ctx.cache, step.val_fraction, seed, show)
    if carried is not None and (carried.fingerprint != problem.fingerprint or not carried.doc_ids):
        carried = None  # another passage encoder's vectors (a two-tower start): they cannot be served here
    gammas = tuple(step.gammas) if step.gammas else GAMMAS
    accuracies = nudge_n_accuracies(problem.doc_emb, *problem.train, *problem.val, gammas, int(step.val_k))
    budget, dev = ctx.train.forgetting_budget, ctx.sets.get("dev")
    if budget is not None and dev is None:
        raise NudgeError("adapter.nudge with train.forgetting_budget holds γ to the dev split, and there is none")
    trained_docs = {pair.doc_id for pair in pairs}
    unseen = {q for q, judged in dev.dataset.qrels.items() if not set(judged) & trained_docs} if dev else set()

    def dev_values(overrides=None) -> dict[str, float]:
        return evaluate_set(encoder, dev, ctx.cache, ctx.settings, overrides).per_query[metric]

    reference = dev_values(carried.overrides() if carried else None) if budget is not None else None
    chosen, chosen_values, looked = first_within_budget(problem, accuracies, budget, reference, unseen, dev_values)
    kept = carried is not None and (chosen is None or not beats_on_dev(chosen_values, reference))
    whole_dev = {"start": mean_over(reference), "refit": mean_over(chosen_values)}
    if kept:
        chosen = carried
    record = {
        "variant": "n",
        "gamma": chosen.gamma if chosen else 0.0,
        "chosen_by": "forgetting_budget on dev" if budget is not None else "validation accuracy",
        "budget": budget,
        "metric": metric,
        "against": "the start point's moved vectors" if carried else "no moved vectors",
        "unseen_dev_queries": len(unseen),
        **({"whole_dev": whole_dev} if carried and chosen_values else {}),
        "kept_the_start_points": kept,
        "val_accuracy": {str(g): a for g, a in accuracies.items()},
        "looked_at": looked,
        **problem.stats,
        "docs_moved": len(chosen.doc_ids) if chosen else 0,
    }
    return chosen, record
