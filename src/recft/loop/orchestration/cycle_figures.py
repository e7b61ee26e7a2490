"""Figures of the recursive loop, drawn from ``history.jsonl`` alone (so they can always be redrawn).

* ``golden.png``  candidate golden metric per cycle, coloured by verdict, against the incumbent
  line and the gate threshold;
* ``probes.png``  each probe's paired Δ per cycle with its 95 % CI and the forgetting tolerance;
* ``forgetting_vs_n.png``  how often the forgetting check says forgetting / inconclusive / ok when
  the probe is subsampled to n = 20, 40, 80, … queries (repeated seeded draws): the picture of why a
  verdict at n = 40 can flip at n = 80.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from recft.common.figure_files import save_figure  # noqa: E402
from recft.loop.gate import verdicts  # noqa: E402
from recft.loop.gate.promotion import check_probe  # noqa: E402
from recft.loop.orchestration.loop_settings import shipped_gate
from recft.loop.storage.history import read_history  # noqa: E402

COLORS = {
    verdicts.PROMOTED: "tab:green",
    verdicts.PENDING_APPROVAL: "tab:olive",
    verdicts.REJECTED: "tab:gray",
    verdicts.ROLLBACK: "tab:red",
    verdicts.FORGETTING_DETECTED: "tab:purple",
    verdicts.INCONCLUSIVE: "tab:orange",
    verdicts.SKIPPED: "lightgray",
}


def golden_figure(lines: list[dict], out: Path) -> Path:
    decided = [ln for ln in lines if "candidate_metric" in ln]
    fig, ax = plt.subplots(figsize=(7, 4))
    cycles = [ln["cycle"] for ln in decided]
    ax.step(cycles, [ln["incumbent_metric"] for ln in decided], where="mid", color="black", label="incumbent")
    ax.step(cycles, [ln["threshold"] for ln in decided], where="mid", ls=":", color="black", label="gate threshold")
    for ln in decided:
        golden = ln["golden"]
        ax.errorbar(
            ln["cycle"],
            ln["candidate_metric"],
            color=COLORS.get(ln["verdict"], "blue"),
            fmt="o",
            yerr=[[golden["delta"] - golden["ci_low"]], [golden["ci_high"] - golden["delta"]]],
            capsize=4,
        )
        ax.annotate(
            ln["verdict"].replace("_", " ").lower(),
            (ln["cycle"], ln["candidate_metric"]),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
        )
    metric = decided[0]["metric"] if decided else "metric"
    n = decided[0]["golden"]["n"] if decided else 0
    ax.set(xlabel="cycle", ylabel=f"golden {metric} (n={n})", title="Candidate vs incumbent (error bar: 95 % CI of Δ)")
    ax.set_xticks(cycles)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, dpi=120)


def probes_figure(lines: list[dict], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    names = sorted({p["name"] for ln in lines for p in ln.get("probes", [])})
    for offset, name in zip(np.linspace(-0.1, 0.1, max(len(names), 1)), names):
        rows = [(ln["cycle"], p) for ln in lines for p in ln.get("probes", []) if p["name"] == name]
        ax.errorbar(
            [c + offset for c, _ in rows],
            [p["delta"] for _, p in rows],
            fmt="o",
            capsize=4,
            yerr=[[p["delta"] - p["ci_low"] for _, p in rows], [p["ci_high"] - p["delta"] for _, p in rows]],
            label=f"{name} (n={rows[0][1]['n']})" if rows else name,
        )
        if rows:
            ax.axhline(rows[0][1]["threshold"], ls=":", color="tab:red")
    ax.axhline(0, color="black", lw=0.8)
    ax.set(xlabel="cycle", ylabel="probe Δ (candidate − incumbent)", title="Forgetting probes: Δ with 95 % CI")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, dpi=120)


def verdict_shares_by_n(
    deltas: np.ndarray, tolerance: float, sizes: list[int], draws: int = 100, seed: int = 42
) -> dict[int, dict[str, float]]:
    """Share of forgetting / inconclusive / ok outcomes when the probe is subsampled to each size."""
    rng = np.random.default_rng(seed)
    cfg = shipped_gate(forgetting_tolerance=tolerance, min_queries=1, n_resamples=1000)
    shares = {}
    for size in sizes:
        outcomes = []
        for _ in range(draws if size < len(deltas) else 1):
            sample = deltas[rng.choice(len(deltas), size=size, replace=False)]
            keys = [f"q{i}" for i in range(size)]
            outcomes.append(check_probe("probe", dict.fromkeys(keys, 0.0), dict(zip(keys, sample)), cfg).outcome)
        shares[size] = {o: outcomes.count(o) / len(outcomes) for o in ("forgetting", "inconclusive", "ok")}
    return shares


def forgetting_vs_n_figure(lines: list[dict], out: Path, draws: int = 100) -> Path | None:
    probes = [(ln["cycle"], p) for ln in lines for p in ln.get("probes", []) if p.get("per_query_delta")]
    if not probes:
        return None
    cycle, probe = min(probes, key=lambda cp: cp[1]["delta"])  # the probe result closest to forgetting
    deltas = np.array(list(probe["per_query_delta"].values()))
    sizes = [n for n in (20, 40, 80, 160, 320, 640, 1280) if n < len(deltas)] + [len(deltas)]
    shares = verdict_shares_by_n(deltas, -probe["threshold"], sizes, draws)
    fig, ax = plt.subplots(figsize=(7, 4))
    bottom = np.zeros(len(sizes))
    for outcome, color in (("forgetting", "tab:purple"), ("inconclusive", "tab:orange"), ("ok", "tab:green")):
        values = np.array([shares[n][outcome] for n in sizes])
        ax.bar(range(len(sizes)), values, bottom=bottom, color=color, label=outcome)
        bottom += values
    ax.set_xticks(range(len(sizes)), [str(n) for n in sizes])
    ax.set(
        xlabel="probe queries n (subsampled)",
        ylabel=f"share of {draws} draws",
        title=f"Forgetting verdict vs probe size — {probe['name']}, cycle {cycle} (full-probe Δ {probe['delta']:+.3f})",
    )
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, dpi=120)


def cycle_figures(history_path: str | Path, out_dir: str | Path) -> list[Path]:
    lines = read_history(history_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        golden_figure(lines, out_dir / "golden.png"),
        probes_figure(lines, out_dir / "probes.png"),
        forgetting_vs_n_figure(lines, out_dir / "forgetting_vs_n.png"),
    ]
    return [p for p in paths if p is not None]
