"""Evaluate one set: encode corpus and queries (through the cache), search, score every query, report.

The one place a model meets a retrieval set; training's per-epoch validation, the cycle's reports
and NUDGE's re-scoring all come through here, so their numbers are computed the same way.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from rich.table import Table

from recft.data.beir import Dataset
from recft.eval.metrics import per_query_metrics, trec_order
from recft.eval.nevir import paired_accuracy, read_pairs
from recft.eval.report import Report
from recft.model.cache import EmbeddingCache
from recft.model.encoder import BiEncoder
from recft.model.index import Index, IndexSpec
from recft.model.store import apply_overrides


def evaluate_dataset(
    encoder: BiEncoder,
    dataset: Dataset,
    cache: EmbeddingCache | None = None,
    k_values=(1, 5, 10, 100),
    depth: int = 100,
    min_relevance: int = 1,
    pairs_path: str | Path | None = None,
    show_progress: bool = True,
    index_dir: str | Path | None = None,
    passage_overrides: dict | None = None,
    index_spec: IndexSpec | None = None,
) -> Report:
    """Encode corpus and queries, search the whole corpus, score every query; return a Report.

    ``passage_overrides`` ({doc id: vector}) replaces those documents' embeddings after encoding:
    how a NUDGE version (moved corpus embeddings, same encoder) is evaluated. ``index_spec`` other
    than exact search: the report records the index and its recall of exact search's top ``depth``.
    """
    cache = cache or EmbeddingCache(None)
    timings: dict[str, float] = {}
    pairs = read_pairs(pairs_path, dataset.queries, dataset.corpus) if pairs_path else None

    start = time.perf_counter()
    encoded_before, seconds_before = cache.stats.encoded, cache.stats.encode_seconds
    doc_ids = list(dataset.corpus)
    doc_emb = cache.encode(encoder, [dataset.corpus[d] for d in doc_ids], "passage", show_progress)
    if passage_overrides:
        doc_emb = apply_overrides(doc_emb, doc_ids, passage_overrides)
    timings["encode_corpus_s"] = time.perf_counter() - start
    timings["passages_encoded"] = cache.stats.encoded - encoded_before
    if timings["passages_encoded"]:
        timings["passages_per_s"] = timings["passages_encoded"] / (cache.stats.encode_seconds - seconds_before)

    start = time.perf_counter()
    query_ids = list(dataset.queries)
    query_emb = cache.encode(encoder, [dataset.queries[q] for q in query_ids], "query", show_progress)
    timings["encode_queries_s"] = time.perf_counter() - start

    start = time.perf_counter()
    spec = index_spec or IndexSpec()
    index = Index(encoder.dim, spec=spec)
    index.add(doc_emb, doc_ids)
    if index_dir is not None:
        index.save(index_dir, meta={"fingerprint": encoder.fingerprint_for("passage"), "dataset": dataset.name})
    scores, ranked = index.search(query_emb, k=depth)
    run = {q: trec_order(ids, row) for q, ids, row in zip(query_ids, ranked, scores)}
    timings["search_s"] = time.perf_counter() - start

    start = time.perf_counter()
    per_query = per_query_metrics(run, dataset.qrels, k_values, depth, min_relevance)
    if pairs is not None:
        query_row = {q: i for i, q in enumerate(query_ids)}
        doc_row = {d: i for i, d in enumerate(doc_ids)}
        per_query["paired_accuracy"] = paired_accuracy(pairs, query_emb, query_row, doc_emb, doc_row)
    timings["metrics_s"] = time.perf_counter() - start

    config = {
        "encoder": encoder.name,
        "fingerprint": encoder.fingerprint,
        "pooling": encoder.pooling,
        "max_length": encoder.max_length,
        "prompts": encoder.prompts,
        "precision": encoder.precision,
        "device": str(encoder.device_),
        "data_path": str(dataset.path),
        "docs": len(doc_ids),
        "k_values": list(k_values),
        "depth": depth,
        "min_relevance": min_relevance,
    }
    if spec.kind != "flat":
        recall = index.recall_vs_exact(doc_emb, query_emb, depth)
        config["index"] = {**asdict(spec), f"recall_vs_exact@{depth}": recall}
    return Report(dataset.name, dataset.split, per_query, config=config, timings=timings)


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
