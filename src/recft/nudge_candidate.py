"""NUDGE as a candidate: corpus embeddings moved for one encoder, fitted from pairs, stored, served.

A NUDGE version changes no weights. It is the list of documents that moved and their new vectors,
tied to the encoder whose embeddings they came from (its passage fingerprint): queries are encoded
by that encoder, every other document keeps that encoder's embedding. So

- it is always fitted from the encoder's *original* embeddings (the cache holds them) with every
  pair seen so far — a later cycle re-nudges from scratch instead of nudging nudged vectors;
- it only changes the corpus it was fitted on (the golden corpus): probes on other corpora score
  exactly as the encoder does, by construction;
- pairs whose passage is not in that corpus (replay, injected batches) cannot move anything and are
  counted as skipped.

    python -m recft.train adapter=nudge            # NUDGE-N on SciFact; adapter=nudge_m for NUDGE-M
    python -m recft.cycle adapter=nudge            # a NUDGE candidate through the gate and registry
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from recft import console as console_module
from recft.atomic import write_json
from recft.cache import EmbeddingCache
from recft.encoder import BiEncoder
from recft.nudge import DEFAULT_GAMMAS, nudge_m, nudge_n, split_validation
from recft.pairs import Pair
from recft.report import Report
from recft.stats import compare
from recft.validation import evaluate_set

console = console_module.err


class NudgeError(ValueError):
    """A NUDGE version that cannot be fitted or read."""


@dataclass
class NudgedCorpus:
    doc_ids: list[str]  # documents that moved
    vectors: np.ndarray  # their new embeddings, row for row
    gamma: float
    variant: str
    fingerprint: str  # passage fingerprint of the encoder these vectors belong to
    stats: dict = field(default_factory=dict)

    def overrides(self) -> dict[str, np.ndarray]:
        return dict(zip(self.doc_ids, self.vectors))

    def save(self, folder: str | Path) -> Path:
        """Write ``folder`` (which must not exist) complete or not at all."""
        folder = Path(folder)
        tmp = folder.with_name(f".{folder.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.savez(tmp / "nudge.npz", doc_ids=np.array(self.doc_ids, dtype=str), vectors=self.vectors)
        meta = {"gamma": self.gamma, "variant": self.variant, "fingerprint": self.fingerprint, "stats": self.stats}
        write_json(tmp / "nudge.json", meta)
        tmp.rename(folder)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "NudgedCorpus":
        folder = Path(folder)
        try:
            meta = json.loads((folder / "nudge.json").read_text(encoding="utf-8"))
            arrays = np.load(folder / "nudge.npz")
            doc_ids, vectors = arrays["doc_ids"].tolist(), arrays["vectors"]
        except (OSError, KeyError, ValueError) as err:
            raise NudgeError(f"{folder}: not a readable NUDGE version ({err})") from None
        if len(doc_ids) != len(vectors):
            raise NudgeError(f"{folder}/nudge.npz: {len(doc_ids)} doc ids but {len(vectors)} vectors")
        return cls(doc_ids, vectors, meta["gamma"], meta["variant"], meta["fingerprint"], meta.get("stats", {}))


def group_pairs(pairs: list[Pair], corpus: dict[str, str]) -> tuple[dict[str, str], dict[str, list[str]], int]:
    """Target pairs whose passage is in ``corpus``, grouped by query; also how many were skipped."""
    queries: dict[str, str] = {}
    answers: dict[str, list[str]] = {}
    skipped = 0
    for pair in pairs:
        if pair.source != "target" or pair.doc_id not in corpus:
            skipped += 1
            continue
        queries[pair.query_id] = pair.query
        answers.setdefault(pair.query_id, [])
        if pair.doc_id not in answers[pair.query_id]:
            answers[pair.query_id].append(pair.doc_id)
    return queries, answers, skipped


def fit_nudge(
    encoder: BiEncoder,
    corpus: dict[str, str],
    pairs: list[Pair],
    cache: EmbeddingCache,
    spec: DictConfig,
    seed: int,
    show_progress: bool = False,
) -> NudgedCorpus:
    """Fit NUDGE-N or -M (``spec.variant``) for ``corpus`` from ``pairs``, starting at the encoder's embeddings."""
    queries, answers, skipped = group_pairs(pairs, corpus)
    query_ids = list(queries)
    if len(query_ids) < 2:
        raise NudgeError(f"NUDGE needs at least 2 training queries with a passage in the corpus, got {len(query_ids)}")
    train_ids, val_ids = split_validation(query_ids, float(spec.val_fraction), seed)
    doc_ids = list(corpus)
    row = {d: i for i, d in enumerate(doc_ids)}
    doc_emb = cache.encode(encoder, [corpus[d] for d in doc_ids], "passage", show_progress)
    query_emb = dict(zip(query_ids, cache.encode(encoder, [queries[q] for q in query_ids], "query", show_progress)))

    def matrix(ids: list[str]) -> tuple[np.ndarray, list[list[int]]]:
        return np.stack([query_emb[q] for q in ids]), [[row[d] for d in answers[q]] for q in ids]

    (train_q, train_a), (val_q, val_a) = matrix(train_ids), matrix(val_ids)
    if spec.variant == "n":
        result = nudge_n(doc_emb, train_q, train_a, val_q, val_a, spec.gammas or DEFAULT_GAMMAS, int(spec.val_k))
    elif spec.variant == "m":
        result = nudge_m(doc_emb, train_q, train_a, val_q, val_a)
    else:
        raise NudgeError(f"adapter.variant must be 'n' or 'm', got {spec.variant!r}")
    moved = np.flatnonzero(result.changed)
    stats = {
        "train_queries": len(train_ids),
        "val_queries": len(val_ids),
        "pairs_used": len(pairs) - skipped,
        "pairs_skipped": skipped,
        "docs_moved": int(len(moved)),
        "docs": len(doc_ids),
        "nudge_s": result.seconds,
    }
    return NudgedCorpus(
        [doc_ids[i] for i in moved],
        result.embeddings[moved],
        result.gamma,
        result.variant,
        encoder.fingerprint_for("passage"),
        stats,
    )


def touched_queries(qrels: dict[str, dict[str, int]], docs: set[str], min_relevance: int = 1) -> set[str]:
    """Evaluation queries with a relevant document in ``docs`` (e.g. the documents training touched)."""
    return {q for q, judged in qrels.items() if any(g >= min_relevance and d in docs for d, g in judged.items())}


def delta_by_touch(base: Report, new: Report, metric: str, touched: set[str], seed: int = 42) -> dict[str, dict]:
    """Paired Δ of ``metric`` on the touched and the untouched queries separately: where a gain comes from."""
    rows = {}
    for name, keep in (("touched", True), ("untouched", False)):
        ids = [q for q in base.per_query[metric] if (q in touched) == keep]
        if ids:
            a = {q: base.per_query[metric][q] for q in ids}
            b = {q: new.per_query[metric][q] for q in ids}
            rows[name] = compare(a, b, metric=metric, seed=seed).to_dict()
    return rows


def nudge_train(cfg: DictConfig, run_dir: Path) -> dict:
    """``recft.train adapter=nudge``: zero-shot → NUDGE, with the same summary.json as a trained run."""
    from recft.train import check_enough_pairs, load_eval_sets, load_pairs, write_summary

    target, _, _ = load_pairs(cfg)
    check_enough_pairs(len(target), int(cfg.train.min_pairs), bool(cfg.train.force))
    eval_sets = load_eval_sets(cfg)
    golden = eval_sets[cfg.data.name]
    cache = EmbeddingCache(cfg.cache_dir)
    encoder = instantiate(cfg.encoder)
    encoder.eval()

    def evaluate(spec, overrides=None):
        return evaluate_set(encoder, spec, cache, cfg.eval.k_values, int(cfg.eval.depth), cfg.show_progress, overrides)

    zero_shot = {name: evaluate(spec) for name, spec in eval_sets.items()}
    start = time.perf_counter()
    nudged = fit_nudge(encoder, golden.dataset.corpus, target, cache, cfg.adapter, cfg.seed, bool(cfg.show_progress))
    wall = time.perf_counter() - start
    nudged.save(run_dir / "nudge")
    # Only the golden corpus moved; every probe is another corpus, scored exactly as zero-shot.
    final = {**zero_shot, golden.dataset.name: evaluate(golden, nudged.overrides())}
    qrels, name, metric = golden.dataset.qrels, golden.dataset.name, cfg.eval.primary
    moved = touched_queries(qrels, set(nudged.doc_ids), golden.min_relevance)
    trained_on = touched_queries(qrels, {p.doc_id for p in target}, golden.min_relevance)
    console.print(
        f"NUDGE-{nudged.variant.upper()}: γ={nudged.gamma:.4f}, {nudged.stats['docs_moved']} of "
        f"{nudged.stats['docs']} documents moved in {nudged.stats['nudge_s']:.2f} s; {len(moved)} of "
        f"{len(qrels)} test queries have a moved relevant document, {len(trained_on)} one in a training pair"
    )
    for folder, reports in (("zero_shot", zero_shot), ("final", final)):
        reports[name].save(run_dir / "reports" / folder / f"{name}.json")
    extra = {
        "nudge": {
            **nudged.stats,
            "gamma": nudged.gamma,
            "variant": nudged.variant,
            "test_queries_touched": len(moved),
            "test_queries_in_training_pairs": len(trained_on),
            "delta_by_touch": delta_by_touch(zero_shot[name], final[name], metric, moved, cfg.seed),
        },
        "parameters": {"trainable": 0, "total": 0},
        "model_dir": str(run_dir / "nudge"),
    }
    return write_summary(cfg, run_dir, {0: zero_shot, 1: final}, eval_sets, wall, len(target), 0, extra)
