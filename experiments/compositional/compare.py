"""The compositional table: base → standard fine-tune → fine-tune with structural negatives, on every
evaluated set, each step a paired Δ with its 95 % CI (over queries; NevIR paired accuracy over pairs).

    .venv/bin/python experiments/compositional/compare.py experiments/compositional/runs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from recft.report import Report

ROWS = [("scifact", "ndcg@10"), ("trecdl", "ndcg@10"), ("nevir", "ndcg@10"), ("nevir", "paired_accuracy")]


def cell(row: dict) -> str:
    return f"{row['delta']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]"


def main(runs: Path) -> None:
    standard = next(runs.glob("*-none"))
    structural = next(runs.glob("*-structural"))
    summary = json.loads((standard / "summary.json").read_text())
    columns = ["set", "metric", "n", "base", "standard FT", "Δ standard − base", "structural FT"]
    columns += ["Δ structural − base", "Δ structural − standard"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for name, metric in ROWS:
        base_rows = {r["metric"]: r for r in summary["deltas"][name]}
        struct_rows = {r["metric"]: r for r in json.loads((structural / "summary.json").read_text())["deltas"][name]}
        a, b = base_rows[metric], struct_rows[metric]
        head_to_head = Report.load(structural / "reports" / f"{name}.json").compare_to(
            Report.load(standard / "reports" / f"{name}.json"), metric
        )
        print(
            f"| {name} | {metric} | {a['n']} | {a['mean_a']:.4f} | {a['mean_b']:.4f} | {cell(a)} | "
            f"{b['mean_b']:.4f} | {cell(b)} | {cell(head_to_head.to_dict())} |"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "runs")
