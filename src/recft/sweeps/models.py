"""Base models side by side, from the train runs of several encoders (``recft summarize --models``).

A comparison of base models has two questions, and each needs its own pairing:

* **zero-shot**: is model B better than model A on each set? Both were measured on the same queries
  (every job keeps its epoch-0 reports in ``reports/zero_shot/``), so the Δ is paired per query;
* **where a gain comes from**: production model A → better base B → B fine-tuned. Each step is a
  paired Δ on the golden set, so "how much from the base model, how much from fine-tuning" has an
  interval, not just a difference of means.

Fine-tuned candidates are chosen per (model, method) by the sweep objective — the ``dev`` split, never
the golden one (``recft.sweeps.objective``) — and only then is their golden result read. Every
comparison carries n, Δ, its 95 % interval, the test (the sign-flip permutation test, which the gate
calibration found to hold its level on these mostly-zero deltas) and a two-sided p.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from recft.common.atomic import write_text
from recft.eval.paired_tests import one_sided_p
from recft.eval.report import Report
from recft.eval.stats import compare
from recft.sweeps import sweep_figures as figures
from recft.sweeps.summarize import Job, SummarizeError, collect, to_markdown

TEST = "permutation"
EXTRA_METRICS = {"nevir": ("paired_accuracy",)}  # sets whose headline is not only the primary metric


@dataclass
class Run:
    """One train job, with what a model comparison needs from its config."""

    job: Job
    model: str
    method: str
    settings: str  # the job's swept values, e.g. "lr=1e-3"

    def report(self, set_name: str, zero_shot: bool = False) -> Report:
        folder = self.job.path / "reports" / ("zero_shot" if zero_shot else "")
        return Report.load(folder / f"{set_name}.json")


@dataclass
class Comparison:
    """A paired Δ (B − A) with its interval, test and two-sided p."""

    label: str
    set_name: str
    metric: str
    n: int
    a: float
    b: float
    delta: float
    low: float
    high: float
    p: float


def paired(a: Report, b: Report, metric: str, label: str, set_name: str, seed: int = 42) -> Comparison:
    c = compare(a.per_query[metric], b.per_query[metric], metric=metric, seed=seed, test=TEST)
    deltas = [b.per_query[metric][q] - a.per_query[metric][q] for q in a.per_query[metric]]
    p = min(1.0, 2 * min(one_sided_p(deltas, 0.0, side, TEST, seed=seed) for side in ("greater", "less")))
    return Comparison(label, set_name, metric, c.n, c.mean_a, c.mean_b, c.delta, c.ci_low, c.ci_high, p)


def load_runs(paths: list[str | Path]) -> list[Run]:
    jobs, keys = collect(paths)
    runs = []
    for job in jobs:
        cfg = OmegaConf.load(job.path / ".hydra" / "config.yaml")
        swept = [k for k in keys if k in job.overrides and k not in ("encoder", "adapter")]  # named apart
        settings = ",".join(f"{k.split('.')[-1]}={job.overrides[k]}" for k in swept)
        runs.append(Run(job, str(cfg.encoder.name), str(cfg.adapter.kind), settings))
    if len({run.model for run in runs}) < 2:
        raise SummarizeError("a model comparison needs runs of at least two encoders")
    return runs


def evaluated_sets(run: Run) -> list[str]:
    """The golden set first, then the probes (never ``dev``)."""
    names = [name for name in run.job.summary["deltas"] if name not in ("dev", run.job.golden_name)]
    return [run.job.golden_name, *names]


def metrics_of(run: Run, set_name: str) -> list[str]:
    return [run.job.metric, *(m for m in EXTRA_METRICS.get(set_name, ()) if m != run.job.metric)]


def best_by_dev(runs: list[Run]) -> dict[tuple[str, str], Run]:
    """Per (model, method): the run with the highest sweep objective (dev) — golden results unread."""
    best: dict[tuple[str, str], Run] = {}
    for run in runs:
        key = (run.model, run.method)
        if key not in best or (run.job.objective or 0.0) > (best[key].job.objective or 0.0):
            best[key] = run
    return best


def first_run_per_model(runs: list[Run]) -> dict[str, Run]:
    """Each model's first run: every run of a model shares its zero-shot reports (epoch 0)."""
    first: dict[str, Run] = {}
    for run in runs:
        first.setdefault(run.model, run)
    return first


def zero_shot_comparisons(runs: list[Run], reference: str) -> list[Comparison]:
    """Every other model's zero-shot reports against the reference model's, per set and metric."""
    first = first_run_per_model(runs)
    base = first[reference]
    rows = []
    for model, run in first.items():
        if model == reference:
            continue
        for name in evaluated_sets(base):
            a, b = base.report(name, zero_shot=True), run.report(name, zero_shot=True)
            label = f"{model} − {reference}"
            rows += [paired(a, b, m, label, name) for m in metrics_of(base, name) if m in a.per_query]
    return rows


def decomposition(runs: list[Run], reference: str) -> list[Comparison]:
    """Golden-set steps: reference zero-shot → each model zero-shot (the base-model step), then per
    method each model's best run (chosen on dev) against its own zero-shot, and the total from the
    reference's zero-shot."""
    golden, metric = runs[0].job.golden_name, runs[0].job.metric
    first = first_run_per_model(runs)
    production = first[reference].report(golden, zero_shot=True)
    rows = [
        paired(production, run.report(golden, zero_shot=True), metric, f"base model: {reference} → {model}", golden)
        for model, run in first.items()
        if model != reference
    ]
    best = best_by_dev(runs)
    for method in dict.fromkeys(method for _, method in best):
        for (model, _), run in ((key, r) for key, r in best.items() if key[1] == method):
            zero, tuned = run.report(golden, zero_shot=True), run.report(golden)
            label = f"{run.method} ({run.settings})" if run.settings else run.method
            rows.append(paired(zero, tuned, metric, f"fine-tuning {model}: {label}", golden))
            if model != reference:
                rows.append(paired(production, tuned, metric, f"total: {reference} → {model} + {method}", golden))
    return rows


def comparison_table(rows: list[Comparison]) -> str:
    table = [
        {
            "comparison": r.label,
            "set": r.set_name,
            "metric": r.metric,
            "n": str(r.n),
            "A": f"{r.a:.4f}",
            "B": f"{r.b:.4f}",
            "Δ (95% CI)": f"{r.delta:+.4f} [{r.low:+.4f}, {r.high:+.4f}]",
            "p": f"{r.p:.3g}",
        }
        for r in rows
    ]
    return to_markdown(table)


def fine_tune_table(runs: list[Run]) -> str:
    """Every run: golden gain and each probe's change against its own zero-shot, wall time, memory,
    and whether the dev objective chose it."""
    chosen = {id(run) for run in best_by_dev(runs).values()}
    rows = []
    for run in runs:
        job = run.job
        row = {
            "model": run.model,
            "method": run.method,
            "settings": run.settings,
            "dev objective": f"{job.objective:+.4f}" if job.objective is not None else "",
            "chosen on dev": "✓" if id(run) in chosen else "",
            f"{job.golden_name} {job.metric}": f"{job.golden['mean_a']:.4f} → {job.golden['mean_b']:.4f}",
            "Δ (95% CI)": f"{job.golden['delta']:+.4f} [{job.golden['ci_low']:+.4f}, {job.golden['ci_high']:+.4f}]",
            "n": str(job.golden["n"]),
        }
        for name, probe in job.probes.items():
            row[f"Δ {name}"] = f"{probe['delta']:+.4f} [{probe['ci_low']:+.4f}, {probe['ci_high']:+.4f}]"
        row["fit s"] = f"{job.wall_s:.0f}"
        row["peak RSS GiB"] = f"{job.summary.get('peak_rss_mb', float('nan')) / 1024:.1f}"
        rows.append(row)
    return to_markdown(rows)


def cpus(runs: list[Run]) -> str:
    seen = {
        f"{c['model']} ({c['cores']} cores, native bf16: {'yes' if c['native_bf16'] else 'no'})"
        for c in (run.job.summary.get("cpu") for run in runs)
        if c
    }
    return "; ".join(sorted(seen)) or "not recorded in these summaries"


def compare_models(paths: list[str | Path], out: str | Path | None = None, reference: str | None = None) -> Path:
    """Write ``models.md`` (zero-shot Δ per set, every run, the gain decomposition) and figures."""
    runs = load_runs(paths)
    reference = reference or runs[0].model
    if reference not in {run.model for run in runs}:
        raise SummarizeError(f"no runs of the reference model {reference!r}")
    out = Path(out) if out else Path(paths[0]) / "summary"
    zero_shot, steps = zero_shot_comparisons(runs, reference), decomposition(runs, reference)
    text = "\n".join(
        [
            f"# Base models: {', '.join(dict.fromkeys(run.model for run in runs))}",
            "",
            f"Paired over queries; {TEST} test (95 % interval, two-sided p). Fit times from: {cpus(runs)}.",
            "",
            f"## Zero-shot, against {reference}",
            "",
            comparison_table(zero_shot),
            "## Fine-tuned runs (Δ against the run's own zero-shot)",
            "",
            fine_tune_table(runs),
            "## Where the golden gain comes from (each model's fine-tune chosen on dev)",
            "",
            comparison_table(steps),
        ]
    )
    write_text(out / "models.md", text)
    paths_out = [
        figures.paired_deltas(zero_shot, out / "figures" / "models_zero_shot.png", f"zero-shot, against {reference}"),
        figures.paired_deltas(steps, out / "figures" / "models_gain.png", "where the golden gain comes from"),
    ]
    print(text)
    for path in paths_out:
        print(path)
    return out
