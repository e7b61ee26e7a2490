"""A run's ``summary.json``: per-epoch means, and the last epoch against the start point as paired Δ with CIs.

Sweeps (``recft summarize``) and the notebook read only this file, the reports beside it and
``.hydra/``, so a run can be summarised long after its model is gone.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from recft.common import console as console_module
from recft.common.atomic import write_json
from recft.eval.report import Report


def summary_table(summary: dict) -> Table:
    """Every set's paired Δ, then the golden set's slices (``eval.slices``) on its first metric: a gain
    is shown beside where it comes from."""
    table = Table(title="zero-shot → fine-tuned (paired over queries)")
    for column in ("set", "metric", "n", "zero-shot", "fine-tuned", "Δ", "95% CI", "p", "d_z"):
        table.add_column(column, justify="left" if column in ("set", "metric") else "right")
    rows = [(name, row) for name, found in summary["deltas"].items() for row in found]
    slices = (summary.get("slices") or {}).get("deltas", {})
    rows += [(f"  {name}", found[0]) for name, found in slices.items() if found]
    for name, row in rows:
        p = row.get("p")
        table.add_row(
            name,
            row["metric"],
            str(row["n"]),
            f"{row['mean_a']:.4f}",
            f"{row['mean_b']:.4f}",
            f"{row['delta']:+.4f}",
            f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]",
            "" if p is None else "<1e-4" if p < 1e-4 else f"{p:.3g}",  # a resampling p of 0 is below its resolution
            f"{row['effect_size']:+.2f}",
        )
    if rows:
        table.caption = f"intervals and p: {rows[0][1].get('test', 'bootstrap')}, two-sided"
    return table


def write_summary(
    run_dir: Path,
    history: dict[int, dict[str, Report]],
    metrics: list[str],
    seed: int,
    extra: dict,
) -> dict:
    """Write ``summary.json``, ``reports/<set>.json`` (last epoch) and ``reports/zero_shot/``; print the table."""
    first, last = history[0], history[max(history)]
    summary = {
        **extra,
        "epochs": {epoch: {name: r.means for name, r in reports.items()} for epoch, reports in history.items()},
        "deltas": {
            name: [report.compare_to(first[name], m, seed=seed).to_dict() for m in metrics if m in report.per_query]
            for name, report in last.items()
        },
    }
    for name in last:
        last[name].save(run_dir / "reports" / f"{name}.json")
        first[name].save(run_dir / "reports" / "zero_shot" / f"{name}.json")
    write_json(run_dir / "summary.json", summary)
    console_module.out().print(summary_table(summary))
    print(run_dir / "summary.json")
    return summary
