"""Summarise sweeps and runs: a table of every job and its figures.

Per job: golden and probe Δ with 95 % CIs, wall time, the sweep objective, Pareto-optimal or not.

    recft summarize outputs/train-multirun/<date>            # writes <dir>/summary/
    recft summarize sweepA runB runC --out experiments/x     # several sweeps or runs at once
    recft summarize outputs/train/<date> --curves            # + per-epoch curves and bars per job
    recft summarize outputs/baselines --models               # base models side by side (models.md)

A job is any folder holding a ``summary.json`` written by ``recft train`` (its ``.hydra/`` folder
gives the overrides and the primary metric); see ``recft.sweeps.summarize``. Loads neither torch nor
Lightning. ``python -m recft.summarize`` is the same command.
"""

from __future__ import annotations

import argparse
import sys

from recft.common.entry import run
from recft.sweeps.models import compare_models
from recft.sweeps.summarize import summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recft summarize", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="multirun folders, run folders, or folders of them")
    parser.add_argument("--out", help="where summary.md, summary.csv and figures/ go (default: <first path>/summary)")
    parser.add_argument("--curves", action="store_true", help="also per-job epoch curves and base-vs-tuned bars")
    parser.add_argument(
        "--models", action="store_true", help="compare the runs' encoders: zero-shot Δ per set, gain decomposition"
    )
    parser.add_argument("--reference", help="with --models: the model the others are compared with (default: first)")
    args = parser.parse_args(argv)
    if args.models:
        return run(lambda: compare_models(args.paths, args.out, args.reference))
    return run(lambda: summarize(args.paths, args.out, args.curves))


if __name__ == "__main__":
    sys.exit(main())
