"""Rank the dev-only search runs by the sweep objective: dev Δ nDCG@10 − 1 × the TREC DL loss.

    .venv/bin/python experiments/best_recipe/search.py outputs/best_recipe/search

Each argument's subfolders are ``recft train`` runs (``search.sh``). Only the ``dev`` and probe rows
of their summaries are read — the golden set's rows are never opened here — so the ranking, and the
recipe taken from it, cannot have seen the test split. Prints a Markdown table, best first.
"""

from __future__ import annotations

import json
import sys
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


def main(folders: list[str]) -> str:
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
    print(main(sys.argv[1:]))
