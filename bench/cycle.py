"""The warm default cycle, end to end: ``recft cycle`` as a user runs it, timed in one run.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/cycle.py --runs 3 --label after
    HF_HUB_OFFLINE=1 .venv/bin/python bench/cycle.py --runs 1 --profile     # + cProfile of one cycle

Warm means the embedding cache already holds the base model's corpus and probe vectors — a first,
untimed cycle fills ``outputs/bench/cycle/cache`` — so what a timed cycle pays is process start-up,
training the query-side LoRA (29 steps of 32 SciFact queries) and encoding the candidate's queries.
Each timed cycle is its own process (``python -m recft.cycle``, nothing else overridden but the
folders) with a fresh registry, so every run trains the same steps from the base model.

Per run: the process's wall time; the cycle's own time (``wall_s`` of its history line, from
registry to verdict), of which training (``train_wall_s``); start-up is the rest (imports, Hydra,
reading the data). Results are appended to ``bench/results/cycle.json`` under ``--label``, with the
CPU they ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import subprocess
import sys
import time
from pathlib import Path

from recft.common.atomic import write_json
from recft.common.config import REPO_ROOT as REPO
from recft.common.cpu import cpu_description

WORK = REPO / "outputs" / "bench" / "cycle"


def run_cycle(name: str, profile: Path | None = None) -> dict:
    """One ``recft cycle`` in its own process on a fresh registry; its wall time and history line."""
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    command = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else []), "-m", "recft.cycle"]
    command += [f"registry.root={folder}/registry", f"cache_dir={WORK}/cache", f"hydra.run.dir={folder}/run"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 3, 4, 5, 6, 7):  # a verdict is a result here; 2 and crashes are not
        raise SystemExit(f"recft cycle failed ({done.returncode}):\n{done.stderr[-3000:]}")
    [line] = [json.loads(x) for x in (folder / "registry" / "history.jsonl").read_text().splitlines()]
    return {
        "process_s": wall,
        "cycle_s": line["wall_s"],
        "train_s": line["train_wall_s"],
        "startup_s": wall - line["wall_s"],
        "verdict": line["verdict"],
        "candidate_metric": line["candidate_metric"],
    }


def top_functions(profile: Path, count: int = 25) -> list[str]:
    stats = pstats.Stats(str(profile))
    stats.sort_stats("cumulative")
    rows = []
    for (file, line, name), (_, calls, _, cumulative, _) in stats.stats.items():
        rows.append((cumulative, f"{cumulative:7.2f} s  {calls:>7} calls  {Path(file).name}:{line} {name}"))
    return [text for _, text in sorted(rows, reverse=True)[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--label", default="now", help="the name these runs are stored under (before, after, …)")
    parser.add_argument("--profile", action="store_true", help="also profile one more cycle with cProfile")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "cycle.json"))
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if not (WORK / "cache").exists():
        print("warm-up cycle (fills the embedding cache; not timed)", flush=True)
        run_cycle("warmup")
    runs = []
    for index in range(args.runs):
        runs.append(run_cycle(f"run{index}"))
        print(json.dumps(runs[-1]), flush=True)
    result = {"cpu": cpu_description(), "runs": runs}
    for key in ("process_s", "cycle_s", "train_s", "startup_s"):
        values = sorted(r[key] for r in runs)
        result[f"median_{key}"] = values[len(values) // 2]
    if args.profile:
        profile = WORK / "cycle.prof"
        run_cycle("profiled", profile)
        result["profile_top"] = top_functions(profile)
        print("\n".join(result["profile_top"]))
    out = Path(args.out)
    stored = json.loads(out.read_text()) if out.exists() else {}
    stored[args.label] = result
    write_json(out, stored)
    cpu = result["cpu"]
    print(
        f"{args.label}: median {result['median_process_s']:.1f} s a cycle (start-up {result['median_startup_s']:.1f} s,"
        f" training {result['median_train_s']:.1f} s) on {cpu['cores']}-core {cpu['model']}"
        f" ({'with' if cpu['native_bf16'] else 'without'} native bf16)"
    )


if __name__ == "__main__":
    main()
