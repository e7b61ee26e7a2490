"""Encoding speed, in one run, on the same 1,000 SciFact passages:

* passages/s of recft fp32, recft bf16 autocast, and sentence-transformers ``encode`` (same model,
  max length 256, batch 64), as ratios against sentence-transformers;
* how close recft fp32 is to sentence-transformers (cosine per passage) — same recipe, same vectors;
* top-10 agreement of bf16 with fp32 (300 SciFact test queries searched over the 1,000 passages);
* how much faster a cache-hit re-evaluation is than a cold one.

    EXTRAS=dev,bench bash scripts/setup.sh
    HF_HUB_OFFLINE=1 .venv/bin/python bench/encode.py [--docs 1000] [--out bench/results/encode.json]
    HF_HUB_OFFLINE=1 .venv/bin/python bench/encode.py --processes 1,2     # passages/s by process count

``--processes`` times ``recft.model.parallel.encode_in_processes`` (fp32, the same passages; worker
start-up included, since a run pays it) at each process count, and checks the embeddings against one
process; it writes ``bench/results/encode_processes.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from recft.common.config import (
    REPO_ROOT,  # noqa: E402
    minilm_path,  # noqa: E402
)
from recft.common.cpu import cpu_model  # noqa: E402
from recft.data.beir import load_beir  # noqa: E402
from recft.eval.evaluate import evaluate_dataset  # noqa: E402
from recft.eval.settings import EvalSettings  # noqa: E402
from recft.model.cache import EmbeddingCache  # noqa: E402
from recft.model.encoder import BiEncoder, cpu_has_bf16  # noqa: E402
from recft.model.index import Index  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def top10(doc_emb: np.ndarray, query_emb: np.ndarray) -> np.ndarray:
    index = Index(doc_emb.shape[1], use_gpu=False)
    index.add(doc_emb, [str(i) for i in range(len(doc_emb))])
    return np.array(index.search(query_emb, 10)[1])


def by_processes(texts: list[str], counts: list[int], batch_size: int) -> dict:
    from recft.common.cpu import cpu_description
    from recft.model.parallel import encode_in_processes

    encoder = BiEncoder.from_pretrained(minilm_path(), batch_size=batch_size, precision="fp32", device="cpu")
    encoder.encode(texts[:64], show_progress=False)  # warm-up
    reference, rows = None, []
    for count in counts:
        embeddings, seconds = timed(lambda count=count: encode_in_processes(encoder, texts, "passage", count))
        reference = embeddings if reference is None else reference
        rows.append({"processes": count, "seconds": seconds, "passages_per_s": len(texts) / seconds,
                     "max_abs_diff_vs_first": float(np.abs(embeddings - reference).max())})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    return {"cpu": cpu_description(), "docs": len(texts), "max_length": 256, "batch_size": batch_size, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "encode.json"))
    parser.add_argument("--processes", help="comma-separated process counts (multi-process encoding only)")
    args = parser.parse_args()
    if args.processes:
        dataset = load_beir(REPO_ROOT / "data" / "scifact", split="test")
        texts = [dataset.corpus[d] for d in list(dataset.corpus)[: args.docs]]
        results = by_processes(texts, [int(c) for c in args.processes.split(",")], args.batch_size)
        (REPO_ROOT / "bench" / "results" / "encode_processes.json").write_text(json.dumps(results, indent=2) + "\n")
        return

    dataset = load_beir(REPO_ROOT / "data" / "scifact", split="test")
    doc_ids = list(dataset.corpus)[: args.docs]
    texts = [dataset.corpus[d] for d in doc_ids]
    queries = list(dataset.queries.values())
    path = minilm_path()
    results: dict = {
        "docs": len(texts),
        "queries": len(queries),
        "batch_size": args.batch_size,
        "max_length": 256,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "cpu_has_bf16": cpu_has_bf16(),
    }

    fp32 = BiEncoder.from_pretrained(path, batch_size=args.batch_size, precision="fp32", device="cpu")
    bf16 = BiEncoder.from_pretrained(path, batch_size=args.batch_size, precision="bf16", device="cpu")
    for encoder in (fp32, bf16):  # warm-up: first calls pay for allocation and kernel selection
        encoder.encode(texts[:64], show_progress=False)
    emb_fp32, t_fp32 = timed(lambda: fp32.encode(texts, "passage", show_progress=False))
    emb_bf16, t_bf16 = timed(lambda: bf16.encode(texts, "passage", show_progress=False))

    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(path, device="cpu")
    st.max_seq_length = 256
    st.encode(texts[:64], batch_size=args.batch_size)
    emb_st, t_st = timed(lambda: st.encode(texts, batch_size=args.batch_size, normalize_embeddings=True))

    q_fp32 = fp32.encode(queries, "query", show_progress=False)
    q_bf16 = bf16.encode(queries, "query", show_progress=False)
    top_fp32, top_bf16 = top10(emb_fp32, q_fp32), top10(emb_bf16, q_bf16)
    overlap = [len(set(a) & set(b)) / 10 for a, b in zip(top_fp32, top_bf16)]

    results["passages_per_s"] = {
        "recft_fp32": len(texts) / t_fp32,
        "recft_bf16": len(texts) / t_bf16,
        "sentence_transformers": len(texts) / t_st,
    }
    results["speedup_vs_sentence_transformers"] = {"recft_fp32": t_st / t_fp32, "recft_bf16": t_st / t_bf16}
    results["bf16_over_fp32_speed"] = t_fp32 / t_bf16
    cosine = np.sum(emb_fp32 * emb_st, axis=1)
    results["recft_fp32_vs_st_cosine"] = {"min": float(cosine.min()), "mean": float(cosine.mean())}
    results["bf16_top10_agreement"] = {
        "mean": float(np.mean(overlap)),
        "min": float(np.min(overlap)),
        "identical_top10_share": float(np.mean(np.all(top_fp32 == top_bf16, 1))),
    }

    kept = set(doc_ids)
    qrels = {q: rel for q, rel in dataset.qrels.items() if set(rel) <= kept}  # queries answerable here
    subset = replace(
        dataset,
        corpus={d: dataset.corpus[d] for d in doc_ids},
        qrels=qrels,
        queries={q: dataset.queries[q] for q in qrels},
    )
    with tempfile.TemporaryDirectory() as cache_dir:
        fresh = BiEncoder.from_pretrained(path, batch_size=args.batch_size, device="cpu")
        cold, t_cold = timed(lambda: evaluate_dataset(fresh, subset, EvalSettings(), EmbeddingCache(cache_dir)))
        reloaded = BiEncoder.from_pretrained(path, batch_size=args.batch_size, device="cpu")
        warm, t_warm = timed(lambda: evaluate_dataset(reloaded, subset, EvalSettings(), EmbeddingCache(cache_dir)))
    assert warm.per_query == cold.per_query, "a cache hit must give identical metrics"
    results["evaluation"] = {
        "queries": len(subset.queries),
        "cold_s": t_cold,
        "cache_hit_s": t_warm,
        "speedup": t_cold / t_warm,
    }

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
