"""What a cycle costs as the loop's history grows: every day of one week run, in that run.

    bash experiments/loop_learning/week.sh gated                       # the shipped week, 8 runs
    .venv/bin/python bench/week_cost.py outputs/loop_learning/gated --label since_incumbent

Reads the week folder's ``days.tsv`` (each ``recft cycle`` process's wall time, start-up included) and
its registry's ``history.jsonl`` (the cycle's own ``wall_s``, training's ``train_wall_s``, the pairs
trained on) and reports, per day, and as the two ratios the loop is held to: day 7's cycle over day 2's
(the cost must follow what is new, not the history: ≤ 1.2) and the slowest warm cycle of days 2–7
(≤ 90 s on 2 cores). Day 1 is excluded from the warm figure only when its cache was cold (``--cold-day1``).
Results are appended to ``bench/results/week_cost.json`` under ``--label`` with the CPU they ran on.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from recft.common.atomic import write_json
from recft.common.config import REPO_ROOT as REPO
from recft.common.cpu import cpu_description
from recft.loop.storage.history import read_history


def week_rows(folder: Path) -> list[dict]:
    with open(folder / "days.tsv", encoding="utf-8") as handle:
        process = {int(r["run"]): float(r["wall_s"]) for r in csv.DictReader(handle, delimiter="\t")}
    rows = []
    for line in read_history(folder / "registry" / "history.jsonl"):
        recipes = line.get("recipes") or []
        rows.append({
            "day": line["cycle"],
            "verdict": line["verdict"],
            "process_s": process.get(line["cycle"]),
            "cycle_s": line["wall_s"],
            "train_s": sum(r.get("train_wall_s") or 0 for r in recipes),
            "trained_on": line["pairs"]["trained_on"],
            "pairs_so_far": line["pairs"]["total"],
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("week", type=Path, help="a week folder (days.tsv, registry/)")
    parser.add_argument("--label", default="now")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "week_cost.json")
    args = parser.parse_args()
    rows = week_rows(args.week)
    by_day = {row["day"]: row for row in rows}
    warm = [row["process_s"] for row in rows if row["day"] >= 2 and row["process_s"] is not None]
    result = {
        "cpu": cpu_description(),
        "week": args.week.name,
        "days": rows,
        "day7_over_day2": by_day[7]["cycle_s"] / by_day[2]["cycle_s"] if {2, 7} <= set(by_day) else None,
        "slowest_warm_process_s": max(warm) if warm else None,
    }
    stored = json.loads(args.out.read_text()) if args.out.exists() else {}
    stored[args.label] = result
    write_json(args.out, stored)
    for row in rows:
        print(f"day {row['day']}: {row['verdict']:<12} process {row['process_s']} s, cycle {row['cycle_s']:.0f} s, "
              f"training {row['train_s']:.0f} s on {row['trained_on']} of {row['pairs_so_far']} pairs")  # fmt: skip
    cpu, bf16 = result["cpu"], "with" if result["cpu"]["native_bf16"] else "without"
    ratio, slowest = result["day7_over_day2"], result["slowest_warm_process_s"]
    print(f"day 7 / day 2: {ratio}; slowest warm cycle (process) {slowest} s on {cpu['cores']}-core {cpu['model']}"
          f" ({bf16} native bf16)")  # fmt: skip


if __name__ == "__main__":
    main()
