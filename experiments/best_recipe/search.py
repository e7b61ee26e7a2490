"""Rank the dev-only search runs by the sweep objective: dev Δ nDCG@10 − 1 × the TREC DL loss.

    .venv/bin/python experiments/best_recipe/search.py outputs/best_recipe/search
    .venv/bin/python experiments/best_recipe/search.py --budget outputs/best_recipe/search3

``--budget`` (stage 3, ``search3.sh``): each run already kept the (epoch, w) with the largest dev gain
whose loss on the selection probe (SQuAD) stays within ``train.forgetting_budget``; the runs are ranked
by that dev gain, and no probe that is gated or reported (TREC DL) is read.

Each argument's subfolders are ``recft train`` runs (``search.sh``). Only the ``dev`` and probe rows
of their summaries are read — the golden set's rows are never opened here — so the ranking, and the
recipe taken from it, cannot have seen the test split. Prints a Markdown table, best first.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from omegaconf import OmegaConf

from recft.common.config import register_resolvers
from recft.eval.report import Report
from recft.sweeps.models import paired
from recft.sweeps.objective import objective


def row(summary: dict, name: str, metric: str) -> dict:
    return next(r for r in summary["deltas"][name] if r["metric"] == metric)


def two_sided_p(run: Path, name: str, metric: str) -> float:
    """The sign-flip permutation p of the run's final vs zero-shot report on ``name`` (dev or a probe)."""
    final, zero = (Report.load(run / "reports" / sub / f"{name}.json") for sub in ("", "zero_shot"))
    return paired(zero, final, metric, run.name, name).p


def runs(folders: list[str]):
    register_resolvers()  # ${repo_path:…} in the saved configs
    for folder in folders:
        for summary_path in sorted(Path(folder).glob("*/summary.json")):
            cfg = OmegaConf.load(summary_path.parent / ".hydra" / "config.yaml")
            cfg.train.forgetting_penalty = 1.0  # one yardstick for every run
            yield summary_path.parent, json.loads(summary_path.read_text()), cfg


def budget_table(folders: list[str]) -> str:
    """Stage 3: each run's budget choice (``summary.json``'s ``forgetting_budget``), best dev gain first."""
    lines = []
    for run, summary, cfg in runs(folders):
        metric, chosen = str(cfg.eval.primary), summary["forgetting_budget"]["chosen"]
        dev = row(summary, "dev", metric)
        dev["p"] = two_sided_p(run, "dev", metric)
        lines.append((chosen["dev_gain"], run.name, dev, chosen, summary["wall_s"]))
    out = [
        "| run | dev Δ nDCG@10 [95 % CI] | p | SQuAD loss (budget 0.005) | epoch, w kept | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for _gain, name, dev, chosen, wall in sorted(lines, key=lambda line: -line[0]):
        out.append(
            f"| {name} | {dev['delta']:+.4f} [{dev['ci_low']:+.4f}, {dev['ci_high']:+.4f}] (n {dev['n']}) | "
            f"{dev['p']:.4f} | {chosen['probe_loss']:.4f} | {chosen['epoch']}, {chosen['weight']:g} | {wall:.0f} |"
        )
    out.append("\nBootstrap 95 % CIs (the runs' summaries); p: two-sided sign-flip permutation test, paired by query.")
    return "\n".join(out)


def main(folders: list[str], budget: bool = False) -> str:
    if budget:
        return budget_table(folders)
    lines = []
    for run, summary, cfg in runs(folders):
        metric = str(cfg.eval.primary)
        dev, probe = row(summary, "dev", metric), row(summary, "trecdl", metric)
        dev["p"], probe["p"] = (two_sided_p(run, name, metric) for name in ("dev", "trecdl"))
        epoch = summary.get("checkpoint", {}).get("chosen_epoch", summary.get("epochs_trained"))
        lines.append((objective(summary, cfg), run.name, dev, probe, epoch, summary["wall_s"]))
    out = [
        "| run | dev Δ nDCG@10 [95 % CI] | p | TREC DL Δ [95 % CI] | p | objective | epoch kept | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for score, name, dev, probe, epoch, wall in sorted(lines, key=lambda line: -line[0]):
        out.append(
            f"| {name} | {dev['delta']:+.4f} [{dev['ci_low']:+.4f}, {dev['ci_high']:+.4f}] (n {dev['n']}) | "
            f"{dev['p']:.4f} | {probe['delta']:+.4f} [{probe['ci_low']:+.4f}, {probe['ci_high']:+.4f}] "
            f"(n {probe['n']}) | {probe['p']:.4f} | {score:+.4f} | {epoch} | {wall:.0f} |"
        )
    out.append("\nBootstrap 95 % CIs (the runs' summaries); p: two-sided sign-flip permutation test, paired by query.")
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="folders of recft train runs (search.sh, search3.sh …)")
    parser.add_argument("--budget", action="store_true", help="rank by the budget-chosen dev gain (stage 3 on)")
    args = parser.parse_args()
    print(main(args.folders, args.budget))
