"""The loop's error rate and power measured through the gate's own decision, not a model of it.

    .venv/bin/python bench/loop_gate.py                       # 200 loops of 7 cycles per cell, 2 processes
    .venv/bin/python bench/loop_gate.py --loops 20 --workers 1 --out /tmp/loop_gate.json

Each simulated loop runs ``--cycles`` cycles (7: the shipped week). A cycle's candidate is null with
probability π0, else truly better by the cell's gain in nDCG@10 — all of it on the golden (and dev) queries whose
documents trained (``seen``), as the shipped week measured (day 1: seen +0.077, unseen +0.004). Its
per-query deltas against the incumbent are drawn with the shape calibrated from committed SciFact
reports (``loop_power.calibrate``: share of exact zeros, sd of the rest; a reused query keeps its
draw with probability √ρ). Then what a cycle does, with recft's functions:

1. **dev's screen** (``recft.loop.gate.dev_check.dev_evidence`` at ``dev.level`` 0.25, the unseen stratum's
   budget 0.005, the gate's test): a candidate it does not send is SKIPPED and spends no look;
2. **the gate** (``recft.loop.gate.promotion.decide`` at the level ``recft.loop.gate.looks.next_level`` gives this
   look on the loop's ledger, with the earlier looks' sds): golden superiority, a TREC DL-sized probe
   (97 queries, null deltas of sd 0.02) against the incumbent and — once something was promoted —
   the base, and the unseen golden slice against both (``gate.slices_against``);
3. a PROMOTED candidate becomes the incumbent: the next candidate is measured against it, and the
   probe and slice against the base carry every promoted candidate's deltas.

Designs: the golden set and dev as the shipped week grew them (golden 379 + 12 a cycle, of which 51 +
10 seen; dev 60 + 8, a quarter seen), or fixed at their day-1 size; with dev's screen or without
(every candidate gated). Tests: the gate's default sign-flip permutation test (its resamples sized
from each look's level: ``superiority_resamples``) and the t-test. Reported per cell: FWER — the
share of loops that promote at least one null candidate — and power — the share of a loop's real
candidates promoted — each with its Monte-Carlo SE, the share SKIPPED and the looks spent.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from loop_power import REPORTS, Shape, calibrate, simulation_arguments

from recft.common.atomic import write_json
from recft.common.cpu import cpu_model
from recft.eval.report import Report
from recft.loop.gate.dev_check import DevRule, dev_evidence
from recft.loop.gate.looks import next_level
from recft.loop.gate.promotion import BaseVectors, GateConfig, decide
from recft.loop.gate.verdicts import PROMOTED
from recft.loop.orchestration.loop_settings import shipped_gate

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "loop_gate.json"
METRIC = "ndcg@10"
PROBE_N, PROBE_SD = 97, 0.02
DEV_LEVEL, DEV_BUDGET = 0.25, 0.005  # conf/cycle.yaml's dev.level and dev.unseen_budget
TESTS = ("permutation", "t")
CELLS = ((1.0, 0.0), (0.5, 0.02))  # (π0, gain): all null; half real at +0.02


@dataclass(frozen=True)
class Design:
    """How the golden set and dev grow a cycle, and whether dev screens candidates."""

    name: str
    golden: int = 379  # day 1 of the shipped week: 300 test claims + 79 sealed
    golden_growth: int = 12
    seen: int = 51  # golden claims on a trained document, day 1
    seen_growth: int = 10
    dev: int = 60
    dev_growth: int = 8
    dev_seen_share: float = 0.25
    screen: bool = True

    def sizes(self, t: int) -> tuple[int, int, int]:
        """(golden n, seen golden n, dev n) at cycle t (1-based)."""
        k = t - 1
        return self.golden + self.golden_growth * k, self.seen + self.seen_growth * k, self.dev + self.dev_growth * k


DESIGNS = (
    Design("shipped week"),
    Design("shipped week, no screen", screen=False),
    Design("fixed at day 1", golden_growth=0, seen_growth=0, dev_growth=0),
)


class Noise:
    """One loop's per-query delta draws: each query keeps its (u, e) with probability √ρ, else a fresh pair."""

    def __init__(self, rng: np.random.Generator, size: int, rho: float):
        self.rng, self.keep = rng, math.sqrt(rho)
        self.u, self.e = rng.random(size), rng.standard_normal(size)

    def draw(self, n: int, shape: Shape, shift: np.ndarray) -> np.ndarray:
        own = self.rng.random(n) < self.keep
        u = np.where(own, self.u[:n], self.rng.random(n))
        e = np.where(own, self.e[:n], self.rng.standard_normal(n))
        return np.where(u >= shape.zeros, shift + shape.sd * e, 0.0)


def vector(prefix: str, values: np.ndarray) -> dict[str, float]:
    return {f"{prefix}{i}": float(v) for i, v in enumerate(values)}


def gain_shift(n: int, seen: np.ndarray, gain: float, shape: Shape) -> np.ndarray:
    """Per-query shifts whose mean over ``n`` queries is ``gain``, all on the seen ones (the zeros' share
    of queries does not move)."""
    return np.where(seen, gain * n / max(int(seen.sum()), 1) / (1 - shape.zeros), 0.0)


@dataclass
class Loop:
    """One simulated loop's state: the base's and the incumbent's vectors, and the ledger's looks."""

    base: dict
    incumbent: dict
    looks: list

    @classmethod
    def start(cls, design: Design, cycles: int) -> "Loop":
        golden, _, dev = design.sizes(cycles)
        zeros = {"golden": np.zeros(golden), "dev": np.zeros(dev), "probe": np.zeros(PROBE_N)}
        return cls(zeros, dict(zeros), [])


def screen(loop: Loop, candidate: dict, n_dev: int, seen_dev: np.ndarray, gate: GateConfig) -> bool:
    """dev's screen on the dev split of this cycle (``recft.loop.gate.dev_check``)."""
    before = Report("dev", "dev", {METRIC: vector("d", loop.incumbent["dev"][:n_dev])})
    after = Report("dev", "dev", {METRIC: vector("d", candidate["dev"][:n_dev])})
    ids = lambda mask: {f"d{i}" for i in np.flatnonzero(mask)}  # noqa: E731
    strata = {"seen": ids(seen_dev), "unseen": ids(~seen_dev)}
    rule = DevRule(DEV_LEVEL, DEV_BUDGET, gate.test, gate.confidence, gate.n_resamples, gate.seed)
    return dev_evidence(before, after, strata, METRIC, rule)["send"]


def judge(loop: Loop, candidate: dict, n: int, unseen: np.ndarray, gate: GateConfig):
    """The gate's decision on this look, as ``recft.loop.orchestration.judging.judge`` asks it."""
    cut = lambda who, name: vector("q", who[name][:n])  # noqa: E731
    inc, cand, base = (cut(who, "golden") for who in (loop.incumbent, candidate, loop.base))
    ids = {f"q{i}" for i in np.flatnonzero(unseen)}
    part = lambda v: {q: x for q, x in v.items() if q in ids}  # noqa: E731
    probe = lambda who: vector("p", who["probe"])  # noqa: E731
    promoted_before = any(look[3] for look in loop.looks)  # else the incumbent is the base: one check
    level = next_level(gate.alpha, gate.alpha_spending, [(a, p) for a, p, _, _ in loop.looks])
    return decide(
        inc,
        cand,
        {"trecdl": (probe(loop.incumbent), probe(candidate), METRIC)},
        gate,
        base=BaseVectors(
            {"trecdl": (probe(loop.base), probe(candidate), METRIC)}, {"unseen": (part(base), part(cand), METRIC)}
        )
        if promoted_before
        else None,
        alpha=level,
        past_sds=[sd for _, _, sd, _ in loop.looks],
        slices={"unseen": (part(inc), part(cand), METRIC)},
    )


def run_loop(rng, design: Design, shape: Shape, gate: GateConfig, pi0: float, gain: float, cycles: int, rho: float):
    """One loop: per cycle (real?, promoted?, skipped?)."""
    loop = Loop.start(design, cycles)
    golden_noise, dev_noise = Noise(rng, len(loop.base["golden"]), rho), Noise(rng, len(loop.base["dev"]), rho)
    seen_rank, dev_seen = rng.random(len(loop.base["golden"])), rng.random(len(loop.base["dev"]))
    out = []
    for t in range(1, cycles + 1):
        n, k, n_dev = design.sizes(t)
        real = bool(rng.random() >= pi0)
        g = gain if real else 0.0
        seen = np.argsort(np.argsort(seen_rank[:n])) < k  # the k lowest ranks: seen, and seen from then on
        seen_dev = dev_seen[:n_dev] < design.dev_seen_share
        candidate = dict(loop.incumbent)
        candidate["golden"] = loop.incumbent["golden"].copy()
        candidate["golden"][:n] += golden_noise.draw(n, shape, gain_shift(n, seen, g, shape))
        candidate["dev"] = loop.incumbent["dev"].copy()
        candidate["dev"][:n_dev] += dev_noise.draw(n_dev, shape, gain_shift(n_dev, seen_dev, g, shape))
        candidate["probe"] = loop.incumbent["probe"] + rng.normal(0.0, PROBE_SD, PROBE_N)
        if design.screen and not screen(loop, candidate, n_dev, seen_dev, gate):
            out.append((real, False, True))
            continue
        verdict = judge(loop, candidate, n, ~seen, gate)
        promoted = verdict.verdict == PROMOTED
        golden = verdict.golden
        loop.looks.append((verdict.config["alpha_this_look"], golden.p_superiority, golden.sd, promoted))
        if promoted:
            loop.incumbent = candidate
        out.append((real, promoted, False))
    return out


def rates(loops: list[list[tuple]]) -> dict:
    """FWER and power with their Monte-Carlo SEs, the share SKIPPED and the looks spent per loop."""
    fwer = float(np.mean([any(p and not r for r, p, _ in loop) for loop in loops]))
    with_real = [loop for loop in loops if any(r for r, _, _ in loop)]
    shares = [sum(p for r, p, _ in loop if r) / sum(r for r, _, _ in loop) for loop in with_real]
    power = {"power": None, "power_se": None}
    if len(shares) > 1:
        power = {"power": float(np.mean(shares)), "power_se": float(np.std(shares, ddof=1) / math.sqrt(len(shares)))}
    cycles = [c for loop in loops for c in loop]
    return {
        "loops": len(loops),
        "fwer": fwer,
        "fwer_se": math.sqrt(fwer * (1 - fwer) / len(loops)),
        **power,
        "skipped": float(np.mean([s for _, _, s in cycles])),
        "looks_per_loop": float(np.mean([sum(not s for _, _, s in loop) for loop in loops])),
    }


def one_loop(job: tuple) -> list[tuple]:
    """Loop ``index`` of a cell, from its own seeded generator: the same draws whichever worker runs it,
    and for every test (common random numbers)."""
    index, design, shape, gate, pi0, gain, cycles, rho = job
    rng = np.random.default_rng([gate.seed, int(pi0 * 100), int(gain * 1000), index])
    return run_loop(rng, design, shape, gate, pi0, gain, cycles, rho)


def run(loops: int, cycles: int, seed: int, rho: float, shape: Shape, workers: int = 1) -> list[dict]:
    """Every cell; ``workers`` > 1 runs a cell's loops in that many processes (one process: in this one)."""
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    rows = []
    try:
        for design in DESIGNS:
            for test in TESTS:
                gate = shipped_gate(probe_metric=None, metric=METRIC, test=test, slices=("unseen",), seed=seed)
                for pi0, gain in CELLS:
                    started = time.perf_counter()
                    jobs = [(i, design, shape, gate, pi0, gain, cycles, rho) for i in range(loops)]
                    done = (
                        pool.map(one_loop, jobs, chunksize=max(1, loops // (4 * workers)))
                        if pool
                        else [one_loop(job) for job in jobs]
                    )
                    row = {"design": asdict(design), "test": test, "pi0": pi0, "gain": gain, **rates(done)}
                    row["wall_s"] = time.perf_counter() - started
                    rows.append(row)
                    print(line(row), flush=True)
    finally:
        if pool:
            pool.close()
    return rows


def line(row: dict) -> str:
    power = "–" if row["power"] is None else f"{row['power']:.3f} ± {row['power_se']:.3f}"
    return (
        f"| {row['design']['name']} | {row['test']} | {row['pi0']} | +{row['gain']} | "
        f"{row['fwer']:.3f} ± {row['fwer_se']:.3f} | {power} | {row['skipped']:.2f} | {row['looks_per_loop']:.1f} |"
    )


HEAD = (
    "| design | test | π0 | gain | FWER ± SE | power ± SE | share SKIPPED | looks per loop |\n"
    "|---|---|---|---|---|---|---|---|"
)


def done_when(rows: list[dict], alpha: float) -> dict:
    """FWER ≤ α + 2 SE in every cell of the default test; power at +0.02 of each design, beside the t-test."""
    over = [(r["design"]["name"], r["test"], r["pi0"]) for r in rows if r["fwer"] > alpha + 2 * r["fwer_se"]]
    power = {
        f"{r['design']['name']} / {r['test']}": r["power"] for r in rows if r["gain"] == 0.02 and r["power"] is not None
    }
    return {"fwer_cells_over": over, "fwer_holds": not any(test == "permutation" for _, test, _ in over),
            "power_at_0.02": power}  # fmt: skip


def main() -> None:
    parser = simulation_arguments(__doc__, 200, 7, RESULTS)
    parser.add_argument("--workers", type=int, default=2, help="processes (one per core)")
    args = parser.parse_args()
    started = time.perf_counter()
    calibration = calibrate(sorted(REPO.glob(REPORTS)))
    shape = Shape(calibration[METRIC]["zeros"], calibration[METRIC]["sd_nonzero"])
    print(f"{METRIC} deltas: {shape.zeros:.1%} zeros, sd of the rest {shape.sd:.3f}\n{HEAD}", flush=True)
    rows = run(args.loops, args.cycles, args.seed, args.rho, shape, args.workers)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    results = {
        "cpu": cpu_model(),
        "settings": {**settings, "dev_level": DEV_LEVEL, "dev_budget": DEV_BUDGET, "probe": [PROBE_N, PROBE_SD]},
        "shape": {"zeros": shape.zeros, "sd_nonzero": shape.sd},
        "cells": rows,
        "done_when": done_when(rows, shipped_gate().alpha),
        "wall_s": time.perf_counter() - started,
    }
    write_json(args.out, results)
    print(results["done_when"])
    print(f"{results['wall_s']:.0f} s on {results['cpu']} → {args.out}")


if __name__ == "__main__":
    main()
