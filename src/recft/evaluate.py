"""Evaluate a bi-encoder on a BEIR set: encode (through the cache), search, score, report.

    python -m recft.evaluate                                   # MiniLM on SciFact test
    python -m recft.evaluate data=msmarco_trecdl               # graded, binary metrics at rel >= 2
    python -m recft.evaluate data=nevir                        # + NevIR paired accuracy
    python -m recft.evaluate data.path=/abs/beir/folder data.split=dev
    python -m recft.evaluate eval.baseline=outputs/evaluate/<run>/report.json   # paired deltas + CIs

Prints a table (mean, 95 % CI, n; with a baseline also Δ, its CI and d_z), writes ``report.json``
into the Hydra run directory and prints its path.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from recft import config as _config  # noqa: F401  (registers ${repo_path:} and ${minilm_path:})
from recft import console as console_module
from recft.cache import EmbeddingCache
from recft.data import DataError, Dataset, load_beir
from recft.encoder import BiEncoder, EncoderLoadError
from recft.index import Index
from recft.metrics import per_query_metrics
from recft.nevir import paired_accuracy, read_pairs
from recft.report import Report, ReportError

console = console_module.err


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
) -> Report:
    """Encode corpus and queries, search the whole corpus, score every query; return a Report.

    ``passage_overrides`` ({doc id: vector}) replaces those documents' embeddings after encoding:
    how a NUDGE version (moved corpus embeddings, same encoder) is evaluated.
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
    index = Index(encoder.dim)
    index.add(doc_emb, doc_ids)
    if index_dir is not None:
        index.save(index_dir, meta={"fingerprint": encoder.fingerprint_for("passage"), "dataset": dataset.name})
    _, ranked = index.search(query_emb, k=depth)
    run = dict(zip(query_ids, ranked))
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
    return Report(dataset.name, dataset.split, per_query, config=config, timings=timings)


def apply_overrides(doc_emb: np.ndarray, doc_ids: list[str], overrides: dict) -> np.ndarray:
    """A copy of ``doc_emb`` with the rows of ``overrides``' documents replaced (others untouched)."""
    doc_emb = np.array(doc_emb, copy=True)
    for row, doc_id in enumerate(doc_ids):
        if doc_id in overrides:
            doc_emb[row] = overrides[doc_id]
    return doc_emb


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


def run(cfg: DictConfig, run_dir: Path) -> Report:
    dataset = load_beir(cfg.data.path, split=cfg.data.split, name=cfg.data.name)
    baseline = Report.load(cfg.eval.baseline) if cfg.eval.baseline else None
    encoder = instantiate(cfg.encoder)
    console.print(f"{dataset!r}; encoder {encoder.name} ({encoder.precision} on {encoder.device_})")
    total = time.perf_counter()
    report = evaluate_dataset(
        encoder,
        dataset,
        EmbeddingCache(cfg.cache_dir),
        k_values=list(cfg.eval.k_values),
        depth=int(cfg.eval.depth),
        min_relevance=int(cfg.data.min_relevance),
        pairs_path=cfg.data.pairs,
        show_progress=bool(cfg.show_progress),
        index_dir=run_dir / "index" if cfg.eval.save_index else None,
    )
    report.timings["total_s"] = time.perf_counter() - total
    report.config["hydra"] = OmegaConf.to_container(cfg, resolve=True)
    console_module.out().print(render(report, baseline))
    path = report.save(run_dir / "report.json")
    timings = report.timings
    rate = f", {timings['passages_per_s']:.1f} passages/s" if "passages_per_s" in timings else " (corpus cached)"
    console.print(f"wall {timings['total_s']:.1f} s{rate}")
    print(path)
    return report


@hydra.main(version_base="1.3", config_path=str(_config.CONF_DIR), config_name="evaluate")
def main(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        report = run(cfg, run_dir)
    except (DataError, ReportError, EncoderLoadError) as err:
        # Bad input: one line, and no half-made run directory left behind.
        if not (run_dir / "report.json").exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    return report.means[cfg.eval.primary]


if __name__ == "__main__":
    main()
