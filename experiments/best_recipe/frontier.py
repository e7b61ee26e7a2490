"""The merge weight's frontier: golden gain against TREC DL change for w = 0 … 1, CIs on both axes.

    .venv/bin/python experiments/best_recipe/frontier.py outputs/domains/scifact

The argument is a ``recft train`` run folder with a LoRA candidate (``candidate/query_adapter`` or a
two-tower adapter is not needed: a query-side run is what this measures). Its adapter is scaled to
w · fine-tuned + (1 − w) · base (``recft.training.merge``) and the golden set and the TREC DL probe
are measured at every w, paired against the base (w = 0, exactly the zero-shot model). This is a
report of the trade-off, read after the fact: it chooses nothing — a recipe's w is chosen on dev
(``adapter=merge``). Writes ``frontier.md`` and ``frontier.png`` beside this file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from recft.common.atomic import write_text  # noqa: E402
from recft.common.config import register_resolvers  # noqa: E402
from recft.common.cpu import cpu_description  # noqa: E402
from recft.common.figure_files import save_figure  # noqa: E402
from recft.eval.sets import EvalSettings, evaluate_sets, load_eval_sets  # noqa: E402
from recft.model.cache import EmbeddingCache  # noqa: E402
from recft.model.store import load_encoder  # noqa: E402
from recft.sweeps.models import paired  # noqa: E402
from recft.sweeps.sweep_figures import errorbar_2d  # noqa: E402
from recft.training.merge import endpoints, set_weight  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
HERE = Path(__file__).parent


def main(run: str) -> Path:
    run_dir = Path(run)
    register_resolvers()  # ${repo_path:…} in the saved config
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    sets = {name: s for name, s in load_eval_sets(cfg).items() if name in (cfg.data.name, "trecdl")}
    cache, settings = EmbeddingCache.from_config(cfg), EvalSettings.from_config(cfg)
    encoder = load_encoder("query_lora", run_dir / "candidate", cfg.encoder).eval()
    tuned, start = endpoints(encoder)
    golden, metric = str(cfg.data.name), str(cfg.eval.primary)
    reports = {}
    for w in WEIGHTS:
        set_weight(encoder, w, tuned, start)
        reports[w] = evaluate_sets(encoder, sets, cache, settings)
    rows = [
        f"| w | {golden} {metric} | Δ [95 % CI] | p | TREC DL {metric} | Δ [95 % CI] | p |",
        "|---|---|---|---|---|---|---|",
    ]
    points = []
    for w, r in reports.items():
        g, t = (r[name].compare_to(reports[0.0][name], metric) for name in (golden, "trecdl"))
        pg, pt = (paired(reports[0.0][name], r[name], metric, f"w={w}", name).p for name in (golden, "trecdl"))
        points.append((w, g, t))
        rows.append(
            f"| {w:.2f} | {g.mean_b:.4f} | {g.delta:+.4f} [{g.ci_low:+.4f}, {g.ci_high:+.4f}] | {pg:.4f} | "
            f"{t.mean_b:.4f} | {t.delta:+.4f} [{t.ci_low:+.4f}, {t.ci_high:+.4f}] | {pt:.4f} |"
        )
    n_golden, n_probe = points[0][1].n, points[0][2].n
    cpu = cpu_description()
    text = "\n".join(rows) + (
        f"\n\nn = {n_golden} golden and {n_probe} TREC DL queries; bootstrap 95 % CIs and two-sided sign-flip "
        f"permutation p, paired against w = 0 (the base model). Run: `{run_dir}`. "
        f"CPU: {cpu['model']} ({cpu['cores']} cores).\n"
    )
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for w, g, t in points:
        errorbar_2d(ax, t.to_dict(), g.to_dict())
        ax.annotate(f"w={w:g}", (t.delta, g.delta), xytext=(5, 4), textcoords="offset points", fontsize=8)
    ax.plot([p[2].delta for p in points], [p[1].delta for p in points], color="gray", lw=0.8, zorder=0)
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"TREC DL Δ {metric} (← forgetting), n={n_probe}")
    ax.set_ylabel(f"{golden} Δ {metric} (gain ↑), n={n_golden}")
    ax.set_title("merge weight: w · fine-tuned + (1 − w) · base")
    ax.grid(alpha=0.3)
    save_figure(fig, HERE / "frontier.png", dpi=130, bbox_inches="tight")
    print(text)
    return write_text(HERE / "frontier.md", text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a recft train run folder with a query-side LoRA candidate")
    main(parser.parse_args().run)
