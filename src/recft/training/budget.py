"""``train.forgetting_budget``: the largest dev gain whose loss on a selection probe stays within a budget.

Why a budget and not a price. Pricing forgetting (dev Δ − λ × probe loss) needs a λ, and the only
way to learn which λ gives an acceptable trade is to look at the trade — on the probe that is then
reported, so the reported loss is the one the choice was made to minimise, and it is optimistic. A
budget is declared before the run in the unit it is read in ("no more than 0.005 nDCG@10 lost"):
among the candidate points — each kept epoch, each merge weight w — the rule takes the one with the
largest dev gain whose loss stays within it, so a point that keeps most of the gain for little
forgetting (w = 0.5 in the issue's table) is taken without anyone having seen the reported probe.

The loss is read on a **selection probe** (``train.selection_probe``, default ``conf/selection/``):
a generalist set that is neither a gate probe nor a reported one, validated each epoch and at each
w but never in ``summary.json``'s deltas nor before the gate. A selection probe that is the same set
as the golden source, its training split or any ``probes.*`` is refused in one line: a set cannot
choose the point and then vouch for it.

A point's ``probe_loss`` is max(0, start − point) of the selection probe's ``eval.primary``: a gain
on the probe costs nothing, and only a drop is held to the budget (−Δ ≤ budget reads the same). The
start point — epoch 0 at any w, or w = 0 at any epoch; written as epoch 0, w 0 — is always eligible
(its measured loss is zero up to float noise), so a run in which nothing fits the budget hands the
start point back. Ties go to the smaller w, then to the earlier epoch: less moved for the same gain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from omegaconf import OmegaConf

from recft.data.sources import Source, SourceSpec
from recft.eval.report import Report
from recft.training.candidate import SELECTION, CandidateError
from recft.training.settings import forgetting_budget_value

START = {"epoch": 0, "weight": 0.0, "dev_gain": 0.0, "probe_loss": 0.0}
TOLERANCE = 1e-9  # a loss equal to the budget, up to float noise in a difference of means, is within it


def is_start(row: Mapping) -> bool:
    return row["epoch"] == 0 or row["weight"] == 0.0


def within_budget(row: Mapping, budget: float) -> bool:
    return is_start(row) or row["probe_loss"] <= budget + TOLERANCE


def choose_within_budget(rows: Iterable[Mapping], budget: float) -> Mapping:
    """The row with the largest ``dev_gain`` among those whose ``probe_loss`` ≤ ``budget`` (ties: the
    smaller ``weight``, then the earlier ``epoch``); the start point is always eligible, and is added
    (as ``START``) when ``rows`` holds none."""
    rows = list(rows)
    if not any(is_start(row) for row in rows):
        rows.append(START)
    eligible = [row for row in rows if within_budget(row, budget)]
    return max(eligible, key=lambda row: (row["dev_gain"], -row["weight"], -row["epoch"]))


def point(epoch: int, weight: float, reports: Mapping[str, Report], start: Mapping[str, Report], metric: str) -> dict:
    """One candidate point: its dev gain and selection-probe loss against the start point's reports."""
    gain = reports["dev"].means[metric] - start["dev"].means[metric]
    loss = max(0.0, start[SELECTION].means[metric] - reports[SELECTION].means[metric])
    return {"epoch": epoch, "weight": float(weight), "dev_gain": gain, "probe_loss": loss}


def epoch_points(epoch: int, measured: Mapping[float, Mapping[str, Report]], start, metric: str) -> list[dict]:
    """An epoch's points, one per merge weight measured (``{w: reports}``); epoch 0 is the start point."""
    if epoch == 0:
        return [dict(START)]
    return [point(epoch, w, reports, start, metric) for w, reports in measured.items()]


def budget_record(rows: list[Mapping], budget: float, metric: str, probe: Source) -> dict:
    """What ``summary.json`` says under ``forgetting_budget``: every candidate point, and the chosen one."""
    chosen = choose_within_budget(rows, budget)
    dataset = probe.dataset
    return {
        "budget": budget,
        "metric": metric,
        "selection_probe": {
            "name": probe.name,
            "path": str(probe.spec.path),
            "split": probe.spec.split,
            "queries": len(dataset.queries),
            "docs": len(dataset.corpus),
        },
        "table": [{**row, "within_budget": within_budget(row, budget)} for row in rows],
        "chosen": dict(chosen),
    }


def forgetting_budget(cfg) -> float | None:
    """``train.forgetting_budget`` (``eval.primary`` points, nDCG@10 by default); None = off."""
    return forgetting_budget_value(OmegaConf.select(cfg, "train.forgetting_budget", default=None))


def selection_spec(cfg) -> SourceSpec | None:
    """The selection probe's source when a budget is set — refused, before any work, when it is the
    same set (data path and split) as the golden source, its training or dev split, or any probe."""
    if forgetting_budget(cfg) is None:
        return None
    node = OmegaConf.select(cfg, "train.selection_probe", default=None)
    if not node:
        raise CandidateError("train.forgetting_budget needs a selection probe: train.selection_probe (conf/selection/)")
    spec = SourceSpec.from_config(node, "train.selection_probe")
    probes = cfg.get("probes") or {}
    if SELECTION in probes:
        raise CandidateError(f"probes.{SELECTION}: that key is the selection probe's; name the probe otherwise")
    data = cfg.data
    taken = {
        "data": (data.path, data.split),
        "data.train_split": (data.path, data.get("train_split")),
        "dev.split": (data.path, (cfg.get("dev") or {}).get("split")),
        **{f"probes.{key}": (node.path, node.split) for key, node in probes.items()},
    }
    for key, (path, split) in taken.items():
        if split and split == spec.split and same_path(path, spec.path):
            raise CandidateError(
                f"train.selection_probe is the same set as {key} ({spec.path}, split {split}): the probe that "
                "chooses within the budget must be neither gated nor reported; pick another (conf/selection/)"
            )
    return spec


def same_path(a, b) -> bool:
    return Path(str(a)).expanduser().resolve() == Path(str(b)).expanduser().resolve()
