"""Where each method's SciFact gain comes from: the test queries with a relevant document that some
training pair also has ("touched") against the rest, as paired Δ nDCG@10 with 95 % CIs.

    .venv/bin/python experiments/nudge_vs_lora/touched.py experiments/nudge_vs_lora/runs
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recft.common.config import REPO_ROOT
from recft.data.beir import load_beir
from recft.eval.report import Report
from recft.nudge.analysis import delta_by_touch, touched_queries


def main(runs: Path, metric: str = "ndcg@10") -> None:
    train = load_beir(REPO_ROOT / "data" / "scifact", split="train")
    test = load_beir(REPO_ROOT / "data" / "scifact", split="test")
    touched = touched_queries(test.qrels, {d for judged in train.qrels.values() for d in judged})
    zero_shot = Report.load(next(runs.glob("*nudge/reports/zero_shot/scifact.json")))
    print(f"{len(touched)} of {len(test.qrels)} test queries have a relevant document in a training pair.\n")
    print(f"| run | Δ {metric} touched (95% CI) | n | Δ {metric} untouched (95% CI) | n |")
    print("|---|---|---|---|---|")
    for run in sorted(p for p in runs.iterdir() if (p / "reports" / "scifact.json").is_file()):
        rows = delta_by_touch(zero_shot, Report.load(run / "reports" / "scifact.json"), metric, touched)
        cells = [f"{r['delta']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {r['n']}" for r in rows.values()]
        print(f"| {run.name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = REPO_ROOT / "experiments" / "nudge_vs_lora" / "runs"
    parser.add_argument("runs", type=Path, nargs="?", default=default, help="the runs folder")
    main(parser.parse_args().runs)
