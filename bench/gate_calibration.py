"""How often the gate promotes a candidate that is no better: simulated through the gate's own functions.

    .venv/bin/python bench/gate_calibration.py                       # a few minutes on a 2-core CPU
    .venv/bin/python bench/gate_calibration.py --sims 4000 --resamples 2000

Per-query deltas are drawn like this project's MRR@10 deltas: most are exact zeros (the answer kept
its rank), the rest reciprocal-rank swings of either sign — a *sparse* shape (~95 % zeros, sd ≈ 0.14)
and a *dense* one (~79 % zeros, sd ≈ 0.30). Under the null they are symmetric about 0: the candidate is
no better. Printed (and written to ``bench/results/gate_calibration.json``):

1. the false-promotion rate of each test (``gate.test``) at n = 40, 80, 300, one look at α = 2.5 %,
   with its Monte-Carlo standard error; and the 4-improved-of-40 case;
2. (a) ten consecutive null cycles on one golden set, with and without α-spending;
   (b) a 20-trial sweep of null candidates, the best chosen on ``dev`` then gated once on ``golden``,
   against choosing on ``golden`` itself;
   (c) four promotions that each lose 0.010 nDCG@10 on a probe (n = 97, SE ≈ 0.0036): how often the
   check against the incumbent and the check against the base model block.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from recft.common.cpu import cpu_model  # noqa: E402
from recft.eval.paired_tests import TESTS
from recft.loop.gate.looks import alpha_for_look
from recft.loop.gate.promotion import PROMOTED, GateConfig, check_probe, decide
from recft.loop.orchestration.loop_settings import shipped_gate

RESULTS = Path(__file__).resolve().parent / "results" / "gate_calibration.json"
SHAPES = {"sparse": 0.95, "dense": 0.79}  # share of exact zeros
BIG_SWINGS = np.array([1 - 1 / 2, 1 - 1 / 3, 1 - 1 / 4, 1 - 1 / 5, 1.0])  # the answer leaves or enters rank 1
SMALL = np.array([abs(1 / a - 1 / b) for a in range(2, 11) for b in range(2, 11) if a != b])  # lower down


def null_deltas(rng: np.random.Generator, n: int, zeros: float) -> np.ndarray:
    """Per-query deltas symmetric about 0: exact zeros, else a reciprocal-rank swing with a random sign."""
    moved = rng.random(n) >= zeros
    big = rng.random(n) < 0.7
    size = np.where(big, rng.choice(BIG_SWINGS, n), rng.choice(SMALL, n))
    return np.where(moved, size * rng.choice((-1.0, 1.0), n), 0.0)


def as_vectors(deltas: np.ndarray) -> tuple[dict, dict]:
    incumbent = {f"q{i}": 0.5 for i in range(len(deltas))}
    return incumbent, {q: 0.5 + d for q, d in zip(incumbent, deltas)}


def promoted(deltas: np.ndarray, cfg: GateConfig, alpha: float | None = None) -> bool:
    return decide(*as_vectors(deltas), {}, cfg, alpha=alpha).verdict == PROMOTED


def rate(hits: int, sims: int) -> dict:
    p = hits / sims
    return {"rate": p, "se": float(np.sqrt(p * (1 - p) / sims)), "sims": sims}


def calibration(sims: int, resamples: int, seed: int) -> dict:
    rows = {}
    for test in TESTS:
        cfg = shipped_gate(
            slices=(),
            probe_metric=None,
            test=test,
            n_resamples=resamples,
            min_queries=30,
            equivalence=None,
            alpha_spending="none",
        )
        for shape, zeros in SHAPES.items():
            for n in (40, 80, 300):
                rng = np.random.default_rng([seed, n, int(zeros * 100)])  # the same deltas for every test
                draws = [null_deltas(rng, n, zeros) for _ in range(sims)]
                cell = rate(sum(promoted(d, cfg) for d in draws), sims)
                cell["zeros"] = float(np.mean([np.mean(d == 0) for d in draws]))
                cell["sd"] = float(np.mean([d.std(ddof=1) for d in draws]))
                rows[f"{test}/{shape}/{n}"] = cell
    return rows


def four_of_forty(resamples: int) -> dict:
    deltas = np.array([1.0, 0.5, 0.5, 1.0] + [0.0] * 36)
    out = {}
    for test in TESTS:
        verdict = decide(
            *as_vectors(deltas),
            {},
            shipped_gate(slices=(), probe_metric=None, test=test, n_resamples=resamples, equivalence=None),
        )
        out[test] = {"verdict": verdict.verdict, "p": verdict.golden.p}
    return out


def null_cycles(sims: int, resamples: int, seed: int, test: str, cycles: int = 10, n: int = 300) -> dict:
    """(a) ``cycles`` null candidates in a row on one golden set: the chance of at least one promotion."""
    rng = np.random.default_rng([seed, 10])
    out = {}
    for rule in ("none", "pi2"):
        cfg = shipped_gate(
            slices=(), probe_metric=None, test=test, n_resamples=resamples, equivalence=None, alpha_spending=rule
        )
        hits = 0
        for _ in range(sims):
            looks = (alpha_for_look(k, cfg.alpha, rule) for k in range(1, cycles + 1))
            hits += any(promoted(null_deltas(rng, n, SHAPES["sparse"]), cfg, a) for a in looks)
        out[rule] = rate(hits, sims)
    return out


def tuned_sweep(sims: int, resamples: int, seed: int, test: str, trials: int = 20) -> dict:
    """(b) the best of ``trials`` null candidates by mean Δ on one split, gated on golden (n = 300)."""
    rng = np.random.default_rng([seed, 20])
    cfg = shipped_gate(slices=(), probe_metric=None, test=test, n_resamples=resamples, equivalence=None)
    first_look = alpha_for_look(1, cfg.alpha, cfg.alpha_spending)
    on_dev = on_golden = 0
    for _ in range(sims):
        dev = [null_deltas(rng, 80, SHAPES["dense"]) for _ in range(trials)]
        golden = [null_deltas(rng, 300, SHAPES["dense"]) for _ in range(trials)]
        on_dev += promoted(golden[int(np.argmax([d.mean() for d in dev]))], cfg, first_look)
        on_golden += promoted(golden[int(np.argmax([g.mean() for g in golden]))], cfg, first_look)
    return {"chosen_on_dev": rate(on_dev, sims), "chosen_on_golden": rate(on_golden, sims), "trials": trials}


def ratchet(sims: int, resamples: int, seed: int, test: str, steps: int = 4, loss: float = 0.010) -> dict:
    """(c) each promotion loses ``loss`` on a probe of n = 97 (per-query sd 0.035, SE ≈ 0.0036)."""
    rng = np.random.default_rng([seed, 30])
    cfg = shipped_gate(slices=(), probe_metric=None, test=test, n_resamples=resamples)
    blocked = {k: {"incumbent": 0, "base": 0} for k in range(1, steps + 1)}
    for _ in range(sims):
        cumulative = np.zeros(97)
        for k in range(1, steps + 1):
            step = rng.normal(-loss, 0.035, 97)
            cumulative = cumulative + step
            blocked[k]["incumbent"] += check_probe("probe", *as_vectors(step), cfg).outcome != "ok"
            blocked[k]["base"] += check_probe("probe", *as_vectors(cumulative), cfg, against="base").outcome != "ok"
    return {
        str(k): {"loss_vs_base": loss * k, **{side: rate(v, sims) for side, v in sides.items()}}
        for k, sides in blocked.items()
    }


def markdown(results: dict) -> str:
    lines = ["| test | shape | n=40 | n=80 | n=300 |", "|---|---|---|---|---|"]
    for test in TESTS:
        for shape in SHAPES:
            cells = [results["calibration"][f"{test}/{shape}/{n}"] for n in (40, 80, 300)]
            text = [f"{c['rate']:.2%} ± {c['se']:.2%}" for c in cells]
            lines.append(f"| {test} | {shape} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000, help="simulated gates per cell")
    parser.add_argument("--loops", type=int, default=500, help="simulated loops / sweeps for (a)-(c)")
    parser.add_argument("--resamples", type=int, default=1000, help="permutation / bootstrap resamples per test")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--test", default=shipped_gate().test, help="the test (a)-(c) use (the gate's default)")
    args = parser.parse_args()
    started = time.perf_counter()
    results = {
        "cpu": cpu_model(),
        "settings": vars(args),
        "calibration": calibration(args.sims, args.resamples, args.seed),
        "four_of_forty": four_of_forty(args.resamples),
        "null_cycles": null_cycles(args.loops, args.resamples, args.seed, args.test),
        "tuned_sweep": tuned_sweep(args.loops, args.resamples, args.seed, args.test),
        "ratchet": ratchet(args.loops, args.resamples, args.seed, args.test),
    }
    results["wall_s"] = time.perf_counter() - started
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(json.dumps({k: v for k, v in results.items() if k != "calibration"}, indent=2))
    print(RESULTS)


if __name__ == "__main__":
    main()
