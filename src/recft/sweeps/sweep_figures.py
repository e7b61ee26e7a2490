"""Figures of training runs and sweeps, drawn from ``summary.json`` files alone (always redrawable).

* ``epoch_progression``  retrieval metrics per epoch, from the zero-shot point (epoch 0);
* ``base_vs_finetuned``  zero-shot vs fine-tuned bars per metric, with the paired Δ and its CI;
* ``metric_vs_parameter``  a sweep's golden Δ (95 % CI) against one swept parameter, a line per
  value of another;
* ``epoch_overlay``  a sweep's golden metric per epoch, one line per job;
* ``frontier``  golden gain against the worst probe's change, Pareto-optimal runs marked;
* ``paired_deltas``  a forest plot of paired comparisons (Δ with its interval, n), e.g. base models;
* ``training_loss``  the step-level loss from Lightning's CSV log.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from recft.common.figure_files import save_figure  # noqa: E402

PROGRESSION_METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


def _save(fig, path: str | Path) -> Path:
    return save_figure(fig, path, dpi=130, bbox_inches="tight")


def epoch_progression(summary: dict, set_name: str, path, metrics=PROGRESSION_METRICS, title: str = "") -> Path:
    """One line per metric over the epochs that measured ``set_name`` (the golden set: zero-shot and the
    end only); epoch 0 is the model before training."""
    epochs = sorted((e for e, sets in summary["epochs"].items() if set_name in sets), key=int)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for metric in metrics:
        values = [summary["epochs"][e][set_name].get(metric) for e in epochs]
        if all(v is not None for v in values):
            ax.plot([int(e) for e in epochs], values, marker="o", label=metric)
    ax.set_xticks([int(e) for e in epochs])
    ax.set_xlabel("epoch (0 = zero-shot)")
    ax.set_ylabel(f"{set_name} score")
    ax.set_title(title or f"{set_name}: per-epoch validation")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def base_vs_finetuned(summary: dict, set_name: str, path, metrics=PROGRESSION_METRICS, title: str = "") -> Path:
    """Bars of zero-shot vs the last epoch, annotated with the paired Δ and its 95 % CI where known."""
    epochs = sorted(summary["epochs"], key=int)
    first, last = summary["epochs"][epochs[0]][set_name], summary["epochs"][epochs[-1]][set_name]
    deltas = {row["metric"]: row for row in summary["deltas"].get(set_name, [])}
    metrics = [m for m in metrics if m in first and m in last]
    fig, ax = plt.subplots(figsize=(7, 4))
    x = range(len(metrics))
    ax.bar([i - 0.2 for i in x], [first[m] for m in metrics], width=0.4, label="zero-shot", color="tab:gray")
    ax.bar([i + 0.2 for i in x], [last[m] for m in metrics], width=0.4, label="fine-tuned", color="tab:blue")
    for i, metric in enumerate(metrics):
        if metric in deltas:
            row = deltas[metric]
            label = f"{row['delta']:+.3f}\n[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"
            ax.annotate(label, (i, max(first[metric], last[metric])), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(x), metrics)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(f"{set_name} score")
    ax.set_title(title or f"{set_name}: zero-shot vs fine-tuned (Δ, 95 % CI, n={_n(deltas)})")
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def _n(deltas: dict) -> str:
    return str(next(iter(deltas.values()))["n"]) if deltas else "?"


def metric_vs_parameter(jobs: list, parameter: str, path, by: str | None = None) -> Path:
    """Golden Δ with its CI against ``parameter``; one line per value of ``by`` (another swept key)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    groups: dict[str, list] = {}
    for job in jobs:
        groups.setdefault(job.overrides.get(by, "") if by else "", []).append(job)
    for label, members in sorted(groups.items(), key=lambda item: _sort_key(item[0])):
        members = sorted(members, key=lambda j: _sort_key(j.overrides[parameter]))
        xs = [_number(j.overrides[parameter]) for j in members]
        ys = [j.golden["delta"] for j in members]
        err = [
            [j.golden["delta"] - j.golden["ci_low"] for j in members],
            [j.golden["ci_high"] - j.golden["delta"] for j in members],
        ]
        numeric = all(isinstance(x, float) for x in xs)  # categories (adapter=...) get no joining line
        ax.errorbar(
            xs,
            ys,
            yerr=err,
            marker="o",
            ls="-" if numeric else "none",
            capsize=3,
            label=f"{by}={label}" if by else None,
        )
    ax.axhline(0, color="black", lw=0.8)
    if all(isinstance(_number(j.overrides[parameter]), float) for j in jobs) and _spans_decades(jobs, parameter):
        ax.set_xscale("log")
    ax.set_xlabel(parameter)
    ax.set_ylabel(f"golden Δ {jobs[0].metric} (95 % CI)")
    ax.set_title(f"{jobs[0].golden_name}: Δ vs {parameter}")
    if by:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _number(value: str):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _sort_key(value: str):
    number = _number(value)
    return (0, number, "") if isinstance(number, float) else (1, 0.0, str(value))


def _spans_decades(jobs, parameter: str) -> bool:
    values = [_number(j.overrides[parameter]) for j in jobs]
    return min(values) > 0 and max(values) / min(values) >= 10


def epoch_overlay(jobs: list, path) -> Path:
    """The golden metric per epoch, one line per job: how many epochs each setting wants."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for job in jobs:
        epochs = sorted(job.epochs)
        ax.plot(epochs, [job.epochs[e] for e in epochs], marker="o", lw=1, label=job.label)
    ax.set_xticks(sorted({e for job in jobs for e in job.epochs}))
    ax.set_xlabel("epoch (0 = zero-shot)")
    ax.set_ylabel(f"{jobs[0].golden_name} {jobs[0].metric}")
    ax.set_title("golden metric per epoch")
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def errorbar_2d(ax, x: dict, y: dict, **style) -> None:
    """One point at (x Δ, y Δ) with both paired comparisons' intervals (rows with delta, ci_low, ci_high)."""
    ax.errorbar(
        x["delta"],
        y["delta"],
        xerr=[[x["delta"] - x["ci_low"]], [x["ci_high"] - x["delta"]]],
        yerr=[[y["delta"] - y["ci_low"]], [y["ci_high"] - y["delta"]]],
        fmt="o",
        capsize=3,
        **style,
    )


def frontier(jobs: list, path) -> Path:
    """Golden Δ against the worst probe Δ (both with CIs); Pareto-optimal runs filled and labelled."""
    fig, ax = plt.subplots(figsize=(7, 5))
    for job in jobs:
        probe = job.worst_probe
        if probe is None:
            continue
        errorbar_2d(
            ax,
            probe,
            job.golden,
            color="tab:red" if job.pareto else "tab:gray",
            mfc="tab:red" if job.pareto else "white",
            alpha=0.9 if job.pareto else 0.6,
        )
        if job.pareto:  # the job's folder name: short enough not to collide (the table has the overrides)
            point = (probe["delta"], job.golden["delta"])
            ax.annotate(job.path.name, point, xytext=(4, 4), textcoords="offset points", fontsize=8)
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"worst probe Δ {jobs[0].metric} (← forgetting)")
    ax.set_ylabel(f"golden Δ {jobs[0].metric} (gain ↑)")
    ax.set_title("gain vs forgetting (filled, labelled by job: Pareto-optimal)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def paired_deltas(rows: list, path, title: str) -> Path:
    """One line per comparison (``recft.sweeps.models.Comparison``): Δ and its 95 % interval, labelled
    with the set, metric and n; zero marked."""
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    for y, row in enumerate(reversed(rows)):
        ax.errorbar(row.delta, y, xerr=[[row.delta - row.low], [row.high - row.delta]], fmt="o", capsize=3)
    labels = [f"{r.label} · {r.set_name} {r.metric} (n={r.n})" for r in reversed(rows)]
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("paired Δ (B − A), 95 % interval")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)


def training_loss(metrics_csv: str | Path, path, title: str = "training loss") -> Path | None:
    """``train/loss_step`` against the step, from ``csv/metrics.csv``; None if the log has no loss rows."""
    with open(metrics_csv, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("train/loss_step")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3))
    ax.plot([int(r["step"]) for r in rows], [float(r["train/loss_step"]) for r in rows], lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)
