"""Score each day of each arm against the base model on one fixed evaluation set: the champion served
after the cycle (and the candidate the cycle made, promoted or not), and the one-shot reference.

    .venv/bin/python experiments/loop_learning/score.py --set scifact-test --out experiments/loop_learning \
        --arm gated=outputs/loop_learning/gated/registry --arm nogate=outputs/loop_learning/nogate/registry \
        --arm null=outputs/loop_learning/null/registry --oneshot outputs/loop_learning/oneshot

``--set scifact-test`` is SciFact's 300 test claims (reported, never tuned on); ``--set holdback=FOLDER``
is the development hold-back (``holdback.py``). Every row: n, Δ nDCG@10 over the base with its paired
bootstrap 95 % CI and two-sided p, and the slices ``seen_in_training`` (a claim whose relevant document
some pair the arm could train on by that day points at) and not. ``--oneshot DIR`` reads
``DIR/day<N>/run`` (``recft train`` run folders, ``oneshot.sh``). Writes ``scores-<set>.json``,
``scores-<set>.md`` and ``learning-<set>.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hydra import compose, initialize_config_dir  # noqa: E402
from trainable import trainable_pairs  # noqa: E402

from recft.common.config import CONF_DIR  # noqa: E402
from recft.data.sources import SourceSpec, load_source  # noqa: E402
from recft.eval.report import Report  # noqa: E402
from recft.eval.sets import evaluate_set  # noqa: E402
from recft.eval.settings import EvalSettings  # noqa: E402
from recft.loop.storage.history import read_history  # noqa: E402
from recft.loop.storage.registry import Registry  # noqa: E402
from recft.loop.storage.versions import load_version  # noqa: E402
from recft.model.cache import EmbeddingCache  # noqa: E402
from recft.model.store import has_overrides, load_encoder, load_overrides  # noqa: E402

METRIC = "ndcg@10"


def evaluation(which: str, extra: list[str]):
    """(config, source) for ``scifact-test`` or ``holdback=FOLDER``; ``extra``: more overrides of the
    evaluate config (``encoder.precision=bf16``: does a result survive the other precision?)."""
    overrides = ["show_progress=false", *extra]
    if which.startswith("holdback="):
        folder = which.split("=", 1)[1]
        overrides += [f"data.path={folder}", "data.split=holdback", "data.name=holdback", "data.train_split=null"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=overrides)
    return cfg, load_source(SourceSpec.from_config(cfg.data, "data"), int(cfg.seed))


class Scorer:
    def __init__(self, cfg, source, out: Path):
        self.cfg, self.source, self.out = cfg, source, out
        self.cache, self.settings = EmbeddingCache.from_config(cfg), EvalSettings.from_config(cfg)
        self.base = self.report("base", lambda: (load_encoder("base", None, cfg.encoder), None))

    def report(self, key: str, load) -> Report:
        path = self.out / "reports" / self.source.name / f"{key}.json"
        if path.is_file():
            return Report.load(path)
        encoder, overrides = load()
        encoder.eval()
        report = evaluate_set(encoder, self.source, self.cache, self.settings, overrides)
        report.save(path)
        return report

    def row(self, label: str, report: Report, trained_docs: set[str]) -> dict:
        qrels = self.source.dataset.qrels
        seen = {q for q in qrels if set(qrels[q]) & trained_docs}
        whole = report.compare_to(self.base, METRIC).to_dict()
        slices = {}
        for name, ids in (("seen", seen), ("unseen", set(qrels) - seen)):
            if ids:
                part = report.restricted(ids).compare_to(self.base.restricted(ids), METRIC)
                slices[name] = {"n": part.n, "delta": part.delta, "ci_low": part.ci_low, "ci_high": part.ci_high}
        keep = ("n", "delta", "ci_low", "ci_high", "p", "mean_b")
        return {"label": label, **{k: whole[k] for k in keep}, "slices": slices}


def arm_rows(scorer: Scorer, arm: str, root: Path) -> list[dict]:
    registry, rows = Registry(root), []
    for line in read_history(root / "history.jsonl"):
        cycle, candidate = line["cycle"], line.get("candidate")
        champion = candidate if line["verdict"] == "PROMOTED" else line["incumbent"]
        docs = {p.doc_id for p in trainable_pairs(root, cycle)}
        for role, version_id in (("champion", champion), ("candidate", candidate)):
            if version_id is None or (role == "candidate" and champion == candidate):
                continue
            version = registry.get(version_id)
            load = lambda v=version: (lambda loaded: (loaded.encoder, loaded.overrides))(  # noqa: E731
                load_version(registry, v, scorer.cfg.encoder)
            )
            report = scorer.report(f"{arm}-{version_id}", load)
            row = scorer.row(f"{arm} {role}", report, docs)
            rows.append({**row, "arm": arm, "role": role, "day": cycle, "version": version_id,
                         "verdict": line["verdict"], "wall_s": line.get("wall_s")})  # fmt: skip
    return rows


def oneshot_rows(scorer: Scorer, folder: Path, registry_root: Path) -> list[dict]:
    rows = []
    for run in sorted(folder.glob("day*/run/candidate")):
        day = int(run.parent.parent.name.removeprefix("day"))

        def load(run=run):
            overrides = load_overrides(run) if has_overrides(run) else None
            return load_encoder("query_lora", run, scorer.cfg.encoder), overrides

        report = scorer.report(f"oneshot-day{day}", load)
        docs = {p.doc_id for p in trainable_pairs(registry_root, day)}
        rows.append({**scorer.row("one-shot", report, docs), "arm": "oneshot", "role": "reference", "day": day})
    return rows


COLOURS = {"gated": "tab:blue", "nogate": "tab:orange", "null": "tab:grey", "oneshot": "black"}


def figure(rows: list[dict], path: Path, title: str) -> None:
    """A point per cycle (filled: the champion served after it; hollow: a candidate not promoted), a line
    per arm through its champions, the one-shot reference dashed; error bars are the 95 % CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for arm in dict.fromkeys(row["arm"] for row in rows):
        mine = [r for r in rows if r["arm"] == arm and r["role"] != "candidate"]
        days, deltas = [r["day"] for r in mine], [r["delta"] for r in mine]
        errors = [[r["delta"] - r["ci_low"] for r in mine], [r["ci_high"] - r["delta"] for r in mine]]
        style = "--" if arm == "oneshot" else "-"
        ax.errorbar(days, deltas, yerr=errors, fmt="o" + style, color=COLOURS.get(arm), label=arm, capsize=3)
        rejected = [r for r in rows if r["arm"] == arm and r["role"] == "candidate"]
        if not rejected:
            continue
        ax.scatter([r["day"] + 0.1 for r in rejected], [r["delta"] for r in rejected], facecolors="none",
                   edgecolors=COLOURS.get(arm), label=f"{arm}: candidate kept out")  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel("day of the week (cycle)")
    ax.set_ylabel(f"Δ {METRIC} over the base model")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(rows: list[dict]) -> str:
    head = "| day | arm | version | verdict | n | Δ nDCG@10 [95 % CI] | p | seen n: Δ | unseen n: Δ [95 % CI] |\n"
    head += "| ---: | --- | --- | --- | ---: | --- | ---: | --- | --- |\n"
    body = []
    for r in sorted(rows, key=lambda r: (r["day"], r["arm"], r["role"])):
        seen, unseen = r["slices"].get("seen", {}), r["slices"].get("unseen", {})
        body.append(
            f"| {r['day']} | {r['label']} | {r.get('version', '')} | {r.get('verdict', '')} | {r['n']} | "
            f"{r['delta']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {r['p']:.3g} | "
            f"{seen.get('n', 0)}: {seen.get('delta', 0):+.4f} | {unseen.get('n', 0)}: {unseen.get('delta', 0):+.4f} "
            f"[{unseen.get('ci_low', 0):+.4f}, {unseen.get('ci_high', 0):+.4f}] |"
        )
    return head + "\n".join(body) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="scifact-test")
    parser.add_argument("--arm", action="append", default=[], help="NAME=REGISTRY")
    parser.add_argument("--oneshot", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--override", action="append", default=[], help="e.g. encoder.precision=bf16")
    args = parser.parse_args()
    cfg, source = evaluation(args.set, args.override)
    scorer = Scorer(cfg, source, args.out)
    arms = dict(item.split("=", 1) for item in args.arm)
    rows = [row for arm, root in arms.items() for row in arm_rows(scorer, arm, Path(root))]
    if args.oneshot is not None:
        rows += oneshot_rows(scorer, args.oneshot, Path(next(iter(arms.values()))))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"scores-{source.name}.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    (args.out / f"scores-{source.name}.md").write_text(markdown(rows), encoding="utf-8")
    figure(rows, args.out / f"learning-{source.name}.png", f"{source.name}: {rows[0]['n'] if rows else 0} claims")
    for row in rows:
        seen, unseen = row["slices"].get("seen", {}), row["slices"].get("unseen", {})
        print(f"day {row['day']} {row['label']:<16} n {row['n']} Δ {row['delta']:+.4f} [{row['ci_low']:+.4f}, "
              f"{row['ci_high']:+.4f}] p {row['p']:.3g} | seen n {seen.get('n', 0)} {seen.get('delta', 0):+.4f} "
              f"| unseen n {unseen.get('n', 0)} {unseen.get('delta', 0):+.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
