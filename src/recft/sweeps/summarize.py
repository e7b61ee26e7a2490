"""Summarise a sweep: one row per job (its overrides, golden and probe Δ with 95 % CIs, wall time,
the sweep objective), and figures: golden Δ against each swept parameter, and the gain-vs-forgetting
frontier with the Pareto-optimal jobs marked (``recft summarize`` is the command).

A job is any folder holding a ``summary.json`` written by ``recft train`` (its ``.hydra/`` folder
gives the overrides and the primary metric). Writes ``summary.md``, ``summary.csv`` and
``figures/*.png``; prints the markdown table.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from recft.common.atomic import write_text
from recft.common.errors import RecftError
from recft.sweeps import sweep_figures as figures
from recft.sweeps.objective import objective


class SummarizeError(RecftError, ValueError):
    """Nothing to summarise, or a job folder that cannot be read."""


@dataclass
class Job:
    path: Path
    overrides: dict[str, str]
    golden_name: str
    metric: str
    golden: dict  # paired comparison row (delta, ci_low, ci_high, n, mean_a, mean_b, effect_size)
    probes: dict[str, dict]
    wall_s: float
    objective: float | None
    summary: dict = field(default_factory=dict)  # the job's summary.json, read once
    label: str = ""
    pareto: bool = False

    @property
    def epochs(self) -> dict[int, float]:
        """The tuning set's metric per validated epoch (0 = zero-shot): dev, or golden in older runs."""
        per_epoch = self.summary.get("epochs", {}).items()
        name = "dev" if "dev" in self.summary.get("deltas", {}) else self.golden_name
        return {int(e): sets[name][self.metric] for e, sets in per_epoch if name in sets}

    @property
    def worst_probe(self) -> dict | None:
        return min(self.probes.values(), key=lambda row: row["delta"]) if self.probes else None


def find_job_dirs(paths: list[str | Path]) -> list[Path]:
    """Every folder at or below ``paths`` (two levels) that holds a ``summary.json``."""
    found: list[Path] = []
    for root in map(Path, paths):
        if not root.is_dir():
            raise SummarizeError(f"{root}: no such folder")
        candidates = [root, *sorted(root.glob("*/")), *sorted(root.glob("*/*/"))]
        jobs = [p for p in candidates if (p / "summary.json").is_file()]
        if not jobs:
            raise SummarizeError(f"{root}: no job folder with a summary.json (is this a recft.train run or sweep?)")
        found += jobs
    return found


def _overrides(job_dir: Path) -> dict[str, str]:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    pairs = (item.lstrip("+~").split("=", 1) for item in OmegaConf.load(path))
    return {key: value for key, value, *_ in (p + [""] for p in pairs) if key not in ("show_progress",)}


def load_job(job_dir: Path) -> Job:
    try:
        summary = json.loads((job_dir / "summary.json").read_text(encoding="utf-8"))
        cfg = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
        metric, golden_name = cfg.eval.primary, cfg.data.name
        rows = {name: {r["metric"]: r for r in deltas} for name, deltas in summary["deltas"].items()}
        golden = rows[golden_name][metric]
    except FileNotFoundError as err:
        raise SummarizeError(f"{job_dir}: missing {Path(err.filename).name}") from None
    except (KeyError, json.JSONDecodeError) as err:
        raise SummarizeError(f"{job_dir}/summary.json: not a recft.train summary ({err})") from None
    probes = {name: r[metric] for name, r in rows.items() if name not in (golden_name, "dev") and metric in r}
    return Job(
        job_dir,
        _overrides(job_dir),
        golden_name,
        metric,
        golden,
        probes,
        float(summary["wall_s"]),
        objective(summary, cfg),
        summary,
    )


def swept_keys(jobs: list[Job]) -> list[str]:
    """Override keys whose value is not the same in every job (in first-seen order)."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    return [k for k in keys if len({job.overrides.get(k) for job in jobs}) > 1]


def mark_pareto(jobs: list[Job]) -> None:
    """Pareto-optimal: no other job has both a larger golden Δ and a larger worst-probe Δ (≥, one >)."""

    def point(job):
        probe = job.worst_probe
        return job.golden["delta"], probe["delta"] if probe else 0.0

    for job in jobs:
        g, p = point(job)
        job.pareto = not any(
            og >= g and op >= p and (og > g or op > p) for og, op in (point(o) for o in jobs if o is not job)
        )


def collect(paths: list[str | Path]) -> tuple[list[Job], list[str]]:
    jobs = [load_job(p) for p in find_job_dirs(paths)]
    keys = swept_keys(jobs)
    for job in jobs:
        job.label = ",".join(f"{k.split('.')[-1]}={job.overrides.get(k, '-')}" for k in keys) or job.path.name
    mark_pareto(jobs)
    return jobs, keys


def _ci(row: dict) -> str:
    return f"{row['delta']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]"


def table_rows(jobs: list[Job], keys: list[str]) -> list[dict[str, str]]:
    probe_names = list(dict.fromkeys(name for job in jobs for name in job.probes))
    rows = []
    for job in jobs:
        metric = job.metric
        row = {"job": str(job.path.name), **{k: job.overrides.get(k, "") for k in keys}}
        row[f"{job.golden_name} {metric}"] = f"{job.golden['mean_a']:.4f} → {job.golden['mean_b']:.4f}"
        row[f"Δ {job.golden_name} (95% CI)"] = _ci(job.golden)
        row["n"] = str(job.golden["n"])
        for name in probe_names:
            row[f"Δ {name} (95% CI)"] = _ci(job.probes[name]) if name in job.probes else ""
        row["wall s"] = f"{job.wall_s:.0f}"
        row["objective"] = f"{job.objective:+.4f}" if job.objective is not None else ""
        row["Pareto"] = "✓" if job.pareto else ""
        rows.append(row)
    return rows


def to_markdown(rows: list[dict[str, str]]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row.get(col, "") for col in header) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_figures(jobs: list[Job], keys: list[str], folder: Path) -> list[Path]:
    paths = []
    for key in keys:  # jobs from different sweeps may not share every key: plot those that have it
        members = [job for job in jobs if key in job.overrides]
        others = [k for k in keys if k != key and all(k in job.overrides for job in members)]
        if len({job.overrides[key] for job in members}) > 1:
            path = folder / f"{key.replace('/', '_')}.png"
            paths.append(figures.metric_vs_parameter(members, key, path, others[0] if others else None))
    if any(job.probes for job in jobs):
        paths.append(figures.frontier(jobs, folder / "frontier.png"))
    if any(len(job.epochs) > 2 for job in jobs):
        paths.append(figures.epoch_overlay(jobs, folder / "epochs.png"))
    return paths


def write_curves(jobs: list[Job], folder: Path) -> list[Path]:
    """Per job: per-epoch progression and zero-shot-vs-fine-tuned bars on every evaluated set."""
    paths = []
    for job in jobs:
        summary = job.summary
        for name in summary["deltas"]:
            title = f"{name} · {job.label}"
            paths.append(
                figures.epoch_progression(summary, name, folder / job.path.name / f"epochs_{name}.png", title=title)
            )
            paths.append(
                figures.base_vs_finetuned(summary, name, folder / job.path.name / f"bars_{name}.png", title=title)
            )
    return paths


def summarize(paths: list[str | Path], out: str | Path | None = None, curves: bool = False) -> Path:
    jobs, keys = collect(paths)
    out = Path(out) if out else Path(paths[0]) / "summary"
    rows = table_rows(jobs, keys)
    markdown = to_markdown(rows)
    write_text(out / "summary.md", markdown)
    write_text(out / "summary.csv", to_csv(rows))
    figures = write_figures(jobs, keys, out / "figures")
    if curves:
        figures += write_curves(jobs, out / "figures")
    print(markdown)
    for path in figures:
        print(path)
    return out
