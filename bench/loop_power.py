"""How often the loop promotes what it should, and what it should not: 20 cycles through the gate's own functions.

    .venv/bin/python bench/loop_power.py                   # 2,000 loops per cell: about a minute on a 2-core CPU
    .venv/bin/python bench/loop_power.py --loops 200 --out /tmp/loop_power.json

**Calibration, from this project's own reports.** Every pair of committed SciFact test reports
(``experiments/*/runs/*/reports/**/scifact.json``) whose MRR@10 means lie within ``REGIME`` (0.05)
of each other — the regime of the gains simulated here; the NUDGE runs, 0.13–0.20 above the rest,
fall outside it by this rule — gives, per metric, the share of exact-zero per-query deltas and the
sd of the non-zero ones (medians over the pairs), and the two metrics' t statistics on the same
pair. nDCG@10's effective-n multiplier k is the square of the least-squares slope of t_ndcg on
t_mrr through the origin (pairs weighted by their signal; the median of (t_ndcg/t_mrr)² and
Σt_ndcg²/Σt_mrr² are stored beside it). Also stored: how much two real deltas that share a
baseline correlate (the bench uses ``--rho`` instead, 0.8 by default, as in issue 23).

**Deltas.** Query i's delta at a cycle whose candidate is truly better by g (MRR@10 units, as the
project reports gains) is I·(g·c/(1 − z) + s·e): I = [u ≥ z] says the query moved at all (z the
share of zeros), e ~ N(0, 1), s the calibrated sd of the non-zero deltas, so the mean is g·c. For
MRR@10 c = 1; for nDCG@10 c = √k·σ_ndcg/σ_mrr (σ = √(1 − z)·s, the sd of all deltas), so the same
candidate's nDCG@10 t statistic is √k times its MRR@10 one. A query keeps its own (u, e) from
cycle to cycle with probability √ρ and draws a fresh pair otherwise: two cycles' null deltas on a
reused query correlate exactly ρ, and each marginal stays the calibrated one.

**The loop.** The golden set at cycle t (1-based) holds 300 + growth·t queries: the 300 SciFact test
queries and every sealed arrival so far, this cycle's included (reused from then on). Each cycle's
candidate is null with probability π0, else truly better by the cell's gain. Its one-sided p (H0
"Δ ≤ gate.margin") comes from ``one_sided_p`` with ``test="t"`` — computed for all loops at once by
``t_p_rows``, tested equal to ``one_sided_p`` — and a look promotes when p ≤ the level
``recft.loop.gate.looks.levels`` gives it under each rule in ``RULES`` (p-values do not depend on the
rule). All cells of one growth share their random draws (common random numbers).

**The gate's default test beside the t-test** (``CHECK``: 200 loops of the proposed design at π0 0.5,
+0.02, the same deltas through ``one_sided_p`` with ``test="permutation"`` at the gate's default
10,000 resamples): the loop's rates, and every look held to one level both tests can resolve (the
first look's, α·γ_1). A Monte-Carlo sign-flip p is never below 1/(resamples + 1) ≈ 1e-4, and a look
with no promotion just before it is held to α·γ_t, below 1e-4 from look 13 (and hard to resolve
well before): late looks the t-test can pass, the permutation test at a fixed 10,000 resamples
cannot. The gate therefore sizes the superiority test's resamples from the look's level
(``recft.loop.gate.promotion.superiority_resamples``: at least 100/level), which this check, at a fixed count
for speed, does not.

**Reported per cell and rule**: FWER, the share of loops that promote at least one null candidate,
and power, the share of a loop's non-null candidates promoted (averaged over loops that have one),
each with its Monte-Carlo SE. Cells: growth {0, 30, 60} × metric × π0 {0.9, 0.5} × gain {0.01, 0.02,
0.04}, plus π0 = 1 (all null). Only ``fallback`` and ``pi2`` promise FWER ≤ α, so only they are held
to α + 2 SE; ``lond`` (an FDR rule) and ``none`` are shown for contrast.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from recft.common.atomic import write_json
from recft.common.cpu import cpu_model
from recft.eval.paired_tests import one_sided_p
from recft.eval.report import Report
from recft.eval.stats import cohens_dz, paired_arrays
from recft.loop.gate.looks import RULES, alpha_for_look, levels
from recft.loop.orchestration.loop_settings import shipped_gate

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "loop_power.json"
REPORTS = "experiments/*/runs/*/reports/**/scifact.json"
METRICS = ("mrr@10", "ndcg@10")
REGIME = 0.05  # pairs further apart in MRR@10 are another regime than the gains simulated
BASE = 300  # SciFact test queries
GROWTHS = (0, 30, 60)
PI0S = (0.9, 0.5)
GAINS = (0.01, 0.02, 0.04)
FWER_RULES = ("fallback", "pi2")  # the rules that promise FWER ≤ α
TODAY = (0, "mrr@10", "pi2")
PROPOSED = (30, "ndcg@10", "fallback")
TARGET = 0.80  # power at +0.02 the proposed design must reach
GATE = shipped_gate(slices=(), probe_metric=None)
CHECK = {"growth": 30, "metric": "ndcg@10", "pi0": 0.5, "gain": 0.02, "loops": 200, "resamples": GATE.n_resamples}


def calibrate(paths: list[Path]) -> dict:
    """Per metric the share of exact-zero deltas and the sd of the rest, and nDCG@10's multiplier k."""
    reports = {str(p.relative_to(REPO)): Report.load(p) for p in paths}
    pairs = []
    for (a, base), (b, other) in combinations(reports.items(), 2):
        gap = other.means["mrr@10"] - base.means["mrr@10"]
        if abs(gap) > REGIME:
            continue
        row = {"a": a, "b": b, "mrr@10_gap": gap}
        for metric in METRICS:
            _, va, vb = paired_arrays(base.per_query[metric], other.per_query[metric])
            d = vb - va
            nonzero = d[d != 0]
            row[metric] = {
                "zeros": float(np.mean(d == 0)),
                "sd_nonzero": float(nonzero.std(ddof=1)),
                "sd": float(d.std(ddof=1)),
                "t": cohens_dz(d) * math.sqrt(d.size),
            }
        pairs.append(row)
    t_mrr, t_ndcg = (np.array([row[m]["t"] for row in pairs]) for m in METRICS)
    return {
        "reports": list(reports),
        "regime": REGIME,
        "pairs": pairs,
        **{
            m: {k: float(np.median([row[m][k] for row in pairs])) for k in ("zeros", "sd_nonzero", "sd")}
            for m in METRICS
        },
        "multiplier": float((t_ndcg @ t_mrr / (t_mrr @ t_mrr)) ** 2),
        "multiplier_median_of_ratios": float(np.median((t_ndcg / t_mrr) ** 2)),
        "multiplier_ratio_of_sums": float((t_ndcg @ t_ndcg) / (t_mrr @ t_mrr)),
        "delta_correlation_sharing_a_baseline": shared_baseline_correlation(reports),
    }


def shared_baseline_correlation(reports: dict[str, Report]) -> dict[str, float]:
    """Median correlation of (x − b) and (y − b) over reports x, y, b within the regime of each other."""
    out = {}
    for metric in METRICS:
        queries = sorted(next(iter(reports.values())).per_query[metric])
        vectors = {name: np.array([r.per_query[metric][q] for q in queries]) for name, r in reports.items()}
        mrr = {name: r.means["mrr@10"] for name, r in reports.items()}
        close = [
            trio for trio in combinations(vectors, 3) if max(mrr[n] for n in trio) - min(mrr[n] for n in trio) <= REGIME
        ]
        found = [
            np.corrcoef(vectors[x] - vectors[b], vectors[y] - vectors[b])[0, 1]
            for trio in close
            for b in trio
            for x, y in combinations([n for n in trio if n != b], 2)
        ]
        out[metric] = float(np.median(found))
    return out


@dataclass(frozen=True)
class Shape:
    """One metric's per-query deltas: share of exact zeros, sd of the rest, its gain per unit of MRR@10 gain."""

    zeros: float
    sd: float
    per_mrr: float = 1.0

    @property
    def sigma(self) -> float:
        """The sd of all the deltas, zeros included (under the null)."""
        return math.sqrt(1 - self.zeros) * self.sd


def shapes(calibration: dict) -> dict[str, Shape]:
    mrr, ndcg = (Shape(calibration[m]["zeros"], calibration[m]["sd_nonzero"]) for m in METRICS)
    per_mrr = math.sqrt(calibration["multiplier"]) * ndcg.sigma / mrr.sigma
    return {"mrr@10": mrr, "ndcg@10": Shape(ndcg.zeros, ndcg.sd, per_mrr)}


def draws(rng: np.random.Generator, loops: int, sizes: list[int], rho: float):
    """Each cycle's (u, e) per loop and query: the query's own pair with probability √ρ, else a fresh one."""
    shared_u, shared_e = rng.random((loops, max(sizes))), rng.standard_normal((loops, max(sizes)))
    for n in sizes:
        own = rng.random((loops, n)) < math.sqrt(rho)
        yield (
            np.where(own, shared_u[:, :n], rng.random((loops, n))),
            np.where(own, shared_e[:, :n], rng.standard_normal((loops, n))),
        )


def deltas(u: np.ndarray, e: np.ndarray, shape: Shape, gain: np.ndarray) -> np.ndarray:
    """Per-query deltas (loops × queries) of candidates truly better by ``gain`` (one per loop, MRR@10 units)."""
    shift = gain * shape.per_mrr / (1 - shape.zeros)
    return np.where(u >= shape.zeros, shift[:, None] + shape.sd * e, 0.0)


def t_p_rows(d: np.ndarray, margin: float = GATE.margin) -> np.ndarray:
    """``one_sided_p(row, margin, "greater", "t")`` of every row at once."""
    n = d.shape[1]
    gap, sd = d.mean(1) - margin, d.std(1, ddof=1)
    flat = np.all(d == d[:, :1], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = scipy_stats.t.sf(gap / sd * math.sqrt(n), n - 1)
    return np.where(flat, np.where(gap > 0, 0.0, 1.0), p)


def p_rows(d: np.ndarray, test: str, resamples: int) -> np.ndarray:
    if test == "t":
        return t_p_rows(d)
    return np.array([one_sided_p(row, GATE.margin, "greater", test, resamples, GATE.seed) for row in d])


def simulate(loops, cycles, growth, shape_of, rho, seed, cells, test="t", resamples=GATE.n_resamples):
    """p-values (loops × cycles) of every (metric, π0, gain) cell, and the draws that say which candidates are null."""
    rng = np.random.default_rng([seed, growth])
    null_draw = rng.random((loops, cycles))  # a candidate is null in a cell when its draw < π0
    p = {cell: np.empty((loops, cycles)) for cell in cells}
    sizes = [BASE + growth * t for t in range(1, cycles + 1)]
    for t, (u, e) in enumerate(draws(rng, loops, sizes, rho)):
        for metric, pi0, gain in cells:
            true_gain = np.where(null_draw[:, t] < pi0, 0.0, gain)
            p[metric, pi0, gain][:, t] = p_rows(deltas(u, e, shape_of[metric], true_gain), test, resamples)
    return p, null_draw


def score(p: np.ndarray, null: np.ndarray, alpha: float = GATE.alpha) -> dict:
    """FWER and power of every rule on one cell's p-values (loops × cycles), with Monte-Carlo SEs."""
    out, loops = {}, len(p)
    real = (~null).sum(1)
    for rule in RULES:
        promoted = np.array([row <= np.array(levels(alpha, rule, row)) for row in p])
        fwer = float((promoted & null).any(1).mean())
        share = (promoted & ~null).sum(1)[real > 0] / real[real > 0]
        power = {"power": None, "power_se": None}
        if share.size > 1:
            power = {"power": float(share.mean()), "power_se": float(share.std(ddof=1) / math.sqrt(share.size))}
        out[rule] = {"fwer": fwer, "fwer_se": math.sqrt(fwer * (1 - fwer) / loops), **power}
    return out


def cells_of(metric: str) -> list[tuple[str, float, float]]:
    return [(metric, 1.0, 0.0)] + [(metric, pi0, gain) for pi0 in PI0S for gain in GAINS]


def run(loops: int, cycles: int, seed: int, rho: float, shape_of: dict[str, Shape]) -> list[dict]:
    rows, cells = [], [cell for metric in METRICS for cell in cells_of(metric)]
    for growth in GROWTHS:
        p, null_draw = simulate(loops, cycles, growth, shape_of, rho, seed, cells)
        for metric, pi0, gain in cells:
            rules = score(p[metric, pi0, gain], null_draw < pi0)
            rows.append({"growth": growth, "metric": metric, "pi0": pi0, "gain": gain, "rules": rules})
    return rows


def cross_check(cycles: int, seed: int, rho: float, shape_of: dict[str, Shape], loops: int) -> dict:
    """The t-test against the gate's default sign-flip permutation test on the same deltas of one cell:
    the loop's rates, and every look held to one level both can resolve (the first look's, α·γ_1)."""
    cell, level = (CHECK["metric"], CHECK["pi0"], CHECK["gain"]), alpha_for_look(1, GATE.alpha, "pi2")
    out = {**CHECK, "loops": loops, "p_floor": 1 / (CHECK["resamples"] + 1), "single_level": level}
    decided = {}
    for test in ("t", "permutation"):
        p, null_draw = simulate(loops, cycles, CHECK["growth"], shape_of, rho, seed, [cell], test, CHECK["resamples"])
        null, decided[test] = null_draw < CHECK["pi0"], p[cell] <= level
        out[test] = {
            **score(p[cell], null),
            "single_null": float(decided[test][null].mean()),
            "single_real": float(decided[test][~null].mean()),
        }
    out["single_agree"] = float((decided["t"] == decided["permutation"]).mean())
    return out


def find(rows: list[dict], growth: int, metric: str, pi0: float, gain: float) -> dict:
    return next(r for r in rows if (r["growth"], r["metric"], r["pi0"], r["gain"]) == (growth, metric, pi0, gain))


def verdict(rows: list[dict], alpha: float = GATE.alpha) -> dict:
    """Issue 23's done-when: FWER ≤ α + 2 SE in every fallback/pi2 cell; the proposed design's power at +0.02."""
    over = [
        (r["growth"], r["metric"], r["pi0"], r["gain"], rule)
        for r in rows
        for rule in FWER_RULES
        if r["rules"][rule]["fwer"] > alpha + 2 * r["rules"][rule]["fwer_se"]
    ]
    power = {
        name: {str(pi0): find(rows, growth, metric, pi0, 0.02)["rules"][rule]["power"] for pi0 in PI0S}
        for name, (growth, metric, rule) in (("proposed", PROPOSED), ("today", TODAY))
    }
    return {
        "fwer_cells_over": over,
        "fwer_holds": not over,
        "power_at_0.02": power,
        "target": TARGET,
        "power_holds": min(power["proposed"].values()) >= TARGET,
    }


def table(rows: list[dict]) -> str:
    """One row per design (golden growth × metric × rule): FWER over all its cells, power at each gain."""
    head = (
        "| design | golden | metric | rule | FWER (min–max over cells) | "
        + " | ".join(f"power +{g} (π0 {' / '.join(map(str, PI0S))})" for g in GAINS)
        + " |"
    )
    lines = [head, "|" + "---|" * (5 + len(GAINS))]
    for growth in GROWTHS:
        for metric in METRICS:
            for rule in RULES:
                mine = [r for r in rows if (r["growth"], r["metric"]) == (growth, metric)]
                fwer = [r["rules"][rule]["fwer"] for r in mine]
                power = [
                    " / ".join(f"{find(mine, growth, metric, pi0, g)['rules'][rule]['power']:.2f}" for pi0 in PI0S)
                    for g in GAINS
                ]
                name = {TODAY: "today", PROPOSED: "proposed"}.get((growth, metric, rule), "")
                golden = f"300 + {growth}/cycle" if growth else "300 fixed"
                lines.append(
                    f"| {name} | {golden} | {metric} | {rule} | {min(fwer):.3f}–{max(fwer):.3f} | "
                    + " | ".join(power)
                    + " |"
                )
    return "\n".join(lines)


def summary(results: dict) -> str:
    """The calibration, the cross-check and the done-when, in a few lines."""
    cal, check, done = results["calibration"], results["cross_check"], results["done_when"]
    lines = [f"calibration on {len(cal['pairs'])} pairs of {len(cal['reports'])} SciFact reports:"]
    for metric, s in results["shapes"].items():
        lines.append(
            f"  {metric}: {s['zeros']:.1%} zeros, sd of the rest {s['sd']:.3f} (all {s['sigma']:.3f}), "
            f"gain per MRR@10 unit {s['per_mrr']:.3f}"
        )
    lines.append(
        f"  nDCG@10 multiplier {cal['multiplier']:.2f} (median of ratios {cal['multiplier_median_of_ratios']:.2f}, "
        f"ratio of sums {cal['multiplier_ratio_of_sums']:.2f}); real deltas sharing a baseline correlate "
        + ", ".join(f"{v:.2f}" for v in cal["delta_correlation_sharing_a_baseline"].values())
    )
    t, perm = check["t"], check["permutation"]
    lines.append(
        f"t / permutation ({check['resamples']} resamples, p ≥ {check['p_floor']:.1e}), {check['loops']} loops, "
        f"growth {check['growth']}, {check['metric']}, π0 {check['pi0']}, +{check['gain']}: power "
        + ", ".join(f"{r} {t[r]['power']:.3f} / {perm[r]['power']:.3f} ± {t[r]['power_se']:.3f}" for r in RULES)
    )
    lines.append(
        f"  every look at {check['single_level']:.4f}: promotes {t['single_real']:.3f} / {perm['single_real']:.3f} "
        f"of real, {t['single_null']:.4f} / {perm['single_null']:.4f} of null, same {check['single_agree']:.2%}"
    )
    power = done["power_at_0.02"]
    lines.append(f"FWER ≤ α + 2 SE in every fallback/pi2 cell: {done['fwer_holds']} {done['fwer_cells_over'] or ''}")
    lines.append(
        f"power at +0.02 (π0 → power) proposed {power['proposed']}, today {power['today']}: "
        f"≥ {done['target']} {done['power_holds']}"
    )
    return "\n".join(lines)


def simulation_arguments(doc: str, loops: int, cycles: int, out: Path) -> argparse.ArgumentParser:
    """The options every loop simulation takes (this bench and ``loop_gate.py``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--loops", type=int, default=loops, help="simulated loops per cell")
    parser.add_argument("--cycles", type=int, default=cycles, help="looks per loop")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rho", type=float, default=0.8, help="correlation of a reused query's deltas across cycles")
    parser.add_argument("--out", type=Path, default=out)
    return parser


def main() -> None:
    args = simulation_arguments(__doc__, 2000, 20, RESULTS).parse_args()
    started = time.perf_counter()
    calibration = calibrate(sorted(REPO.glob(REPORTS)))
    shape_of = shapes(calibration)
    rows = run(args.loops, args.cycles, args.seed, args.rho, shape_of)
    settings = {**vars(args), "alpha": GATE.alpha, "margin": GATE.margin, "base_queries": BASE}
    del settings["out"]
    results = {
        "cpu": cpu_model(),
        "settings": settings,
        "calibration": calibration,
        "shapes": {m: {**vars(s), "sigma": s.sigma} for m, s in shape_of.items()},
        "cells": rows,
        "cross_check": cross_check(args.cycles, args.seed, args.rho, shape_of, min(args.loops, CHECK["loops"])),
        "done_when": verdict(rows),
    }
    results["wall_s"] = time.perf_counter() - started
    write_json(args.out, results)
    print(table(rows))
    print(summary(results))
    print(f"{results['wall_s']:.0f} s on {results['cpu']} → {args.out}")


if __name__ == "__main__":
    main()
