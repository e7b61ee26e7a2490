"""Evaluate one set: encode corpus and queries (through the cache), search, score every query, report.

The one place a model meets a retrieval set; training's per-epoch validation, the cycle's reports
and NUDGE's re-scoring all come through here, so their numbers are computed the same way.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from rich.table import Table

from recft.data.beir import Dataset
from recft.eval.metrics import per_query_metrics, trec_order
from recft.eval.nevir import paired_accuracy, read_pairs
from recft.eval.report import Report
from recft.eval.settings import EvalSettings
from recft.model.cache import EmbeddingCache
from recft.model.encoder import BiEncoder
from recft.model.index import Index
from recft.model.store import apply_overrides


def evaluate_dataset(
    encoder: BiEncoder,
    dataset: Dataset,
    settings: EvalSettings,
    cache: EmbeddingCache | None = None,
    min_relevance: int = 1,
    pairs_path: str | Path | None = None,
    index_dir: str | Path | None = None,
    passage_overrides: dict | None = None,
) -> Report:
    """Encode corpus and queries, search the whole corpus, score every query; return a Report.

    ``settings`` say k, depth, the index and whether to show progress. ``passage_overrides`` ({doc id:
    vector}) replaces those documents' embeddings after encoding: how a NUDGE version (moved corpus
    embeddings, same encoder) is evaluated. An index other than exact search: the report records it
    and its recall of exact search's top ``depth``. ``index_dir``: the index is saved there.
    """
    cache = cache or EmbeddingCache(None)
    timings: dict[str, float] = {}
    pairs = read_pairs(pairs_path, dataset.queries, dataset.corpus) if pairs_path else None
    doc_ids = list(dataset.corpus)
    doc_emb = encode_corpus(encoder, dataset, doc_ids, cache, settings.show_progress, passage_overrides, timings)

    start = time.perf_counter()
    query_ids = list(dataset.queries)
    query_emb = cache.encode(encoder, [dataset.queries[q] for q in query_ids], "query", settings.show_progress)
    timings["encode_queries_s"] = time.perf_counter() - start

    start = time.perf_counter()
    index = Index(encoder.dim, spec=settings.index)
    index.add(doc_emb, doc_ids)
    if index_dir is not None:
        index.save(index_dir, meta={"fingerprint": encoder.fingerprint_for("passage"), "dataset": dataset.name})
    scores, ranked = index.search(query_emb, k=settings.depth)
    run = {q: trec_order(ids, row) for q, ids, row in zip(query_ids, ranked, scores)}
    timings["search_s"] = time.perf_counter() - start

    start = time.perf_counter()
    per_query = per_query_metrics(run, dataset.qrels, settings.k_values, settings.depth, min_relevance)
    if pairs is not None:
        query_row = {q: i for i, q in enumerate(query_ids)}
        doc_row = {d: i for i, d in enumerate(doc_ids)}
        per_query["paired_accuracy"] = paired_accuracy(pairs, query_emb, query_row, doc_emb, doc_row)
    timings["metrics_s"] = time.perf_counter() - start

    config = report_config(encoder, dataset, settings, min_relevance)
    if settings.index.kind != "flat":
        recall = index.recall_vs_exact(doc_emb, query_emb, settings.depth)
        config["index"] = {**asdict(settings.index), f"recall_vs_exact@{settings.depth}": recall}
    return Report(dataset.name, dataset.split, per_query, config=config, timings=timings)


def encode_corpus(
    encoder: BiEncoder,
    dataset: Dataset,
    doc_ids: list[str],
    cache: EmbeddingCache,
    show_progress: bool,
    overrides: dict | None,
    timings: dict[str, float],
) -> np.ndarray:
    """The corpus's vectors in ``doc_ids`` order (``overrides`` in place of the encoder's), through the
    cache; ``timings`` gets the time it took, how many passages were encoded and at what rate."""
    start = time.perf_counter()
    encoded_before, seconds_before = cache.stats.encoded, cache.stats.encode_seconds
    doc_emb = cache.encode(encoder, [dataset.corpus[d] for d in doc_ids], "passage", show_progress)
    if overrides:
        doc_emb = apply_overrides(doc_emb, doc_ids, overrides)
    timings["encode_corpus_s"] = time.perf_counter() - start
    timings["passages_encoded"] = cache.stats.encoded - encoded_before
    if timings["passages_encoded"]:
        timings["passages_per_s"] = timings["passages_encoded"] / (cache.stats.encode_seconds - seconds_before)
    return doc_emb


def report_config(encoder: BiEncoder, dataset: Dataset, settings: EvalSettings, min_relevance: int) -> dict:
    """What a report says it was made with: the encoder as it embedded, the data, k and depth."""
    return {
        "encoder": encoder.name,
        "fingerprint": encoder.fingerprint,
        "pooling": encoder.pooling,
        "max_length": encoder.max_length,
        "prompts": encoder.prompts,
        "precision": encoder.precision,
        "device": str(encoder.device_),
        "data_path": str(dataset.path),
        "docs": len(dataset.corpus),
        "k_values": list(settings.k_values),
        "depth": settings.depth,
        "min_relevance": min_relevance,
    }


def render(report: Report, baseline: Report | None = None) -> Table:
    table = Table(title=f"{report.dataset} / {report.split}  ({report.config.get('encoder', '')})")
    for column in ("metric", "mean", "95% CI", "n"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    if baseline is not None:
        for column in ("baseline", "Δ", "Δ 95% CI", "d_z"):
            table.add_column(column, justify="right")
    for metric, mean in report.means.items():
        low, high = report.ci(metric)
        row = [metric, f"{mean:.4f}", f"[{low:.4f}, {high:.4f}]", str(report.n[metric])]
        if baseline is not None and metric in baseline.per_query:
            cmp = report.compare_to(baseline, metric)
            row += [
                f"{cmp.mean_a:.4f}",
                f"{cmp.delta:+.4f}",
                f"[{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}]",
                f"{cmp.effect_size:+.2f}",
            ]
        table.add_row(*row)
    return table
