"""The compositional table: base → standard fine-tune → fine-tune with structural negatives, on every
evaluated set, each step a paired Δ with its 95 % CI (over queries; NevIR paired accuracy over pairs).

    .venv/bin/python experiments/compositional/compare.py experiments/compositional/runs
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from recft.eval.report import Report
from recft.loop.gate.promotion import decide
from recft.loop.orchestration.loop_settings import shipped_gate

ROWS = [("scifact", "ndcg@10"), ("trecdl", "ndcg@10"), ("nevir", "ndcg@10"), ("nevir", "paired_accuracy")]


def cell(row: dict) -> str:
    return f"{row['delta']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]"


def main(runs: Path) -> None:
    standard = next(runs.glob("*-none"))
    summary = json.loads((standard / "summary.json").read_text())
    columns = ["structural run", "set", "metric", "n", "base", "standard FT", "Δ standard − base"]
    columns += ["structural FT", "Δ structural − base", "Δ structural − standard"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for structural in sorted(runs.glob("*structural*")):
        struct_summary = json.loads((structural / "summary.json").read_text())
        for name, metric in ROWS:
            a = {r["metric"]: r for r in summary["deltas"][name]}[metric]
            b = {r["metric"]: r for r in struct_summary["deltas"][name]}[metric]
            head_to_head = Report.load(structural / "reports" / f"{name}.json").compare_to(
                Report.load(standard / "reports" / f"{name}.json"), metric
            )
            print(
                f"| {structural.name} | {name} | {metric} | {a['n']} | {a['mean_a']:.4f} | {a['mean_b']:.4f} | "
                f"{cell(a)} | {b['mean_b']:.4f} | {cell(b)} | {cell(head_to_head.to_dict())} |"
            )


def gate(runs: Path) -> None:
    """What the gate says if the standard fine-tune were the incumbent and a structural run the candidate:
    golden nDCG@10, TREC DL nDCG@10 and NevIR paired accuracy as probes (conf/probe/nevir.yaml)."""
    standard = next(runs.glob("*-none"))
    cfg = shipped_gate(slices=(), metric="ndcg@10", probe_metric="ndcg@10", min_queries=30)
    for candidate in sorted(runs.glob("*structural*")):

        def vectors(name, metric, candidate=candidate):
            a = Report.load(standard / "reports" / f"{name}.json").per_query[metric]
            return a, Report.load(candidate / "reports" / f"{name}.json").per_query[metric]

        probes = {
            "trecdl": vectors("trecdl", "ndcg@10"),
            "nevir": (*vectors("nevir", "paired_accuracy"), "paired_accuracy"),
        }
        verdict = decide(*vectors("scifact", "ndcg@10"), probes, cfg)
        print(f"\n{candidate.name} vs {standard.name}: {verdict.verdict}")
        for reason in verdict.reasons:
            print(f"  - {reason}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="?", default=Path(__file__).parent / "runs", help="the runs folder")
    runs = parser.parse_args().runs
    main(runs)
    gate(runs)
