"""Large corpora: index build and search time, peak memory, ANN recall, embedding-cache speed — by N.

Synthetic unit vectors (384-d, float32, seeded, made in chunks so the raw matrix never exists
twice), clustered as embeddings are — each a random one of 1,000 topic centres plus noise (cosine
to its centre about 0.85); structureless Gaussian vectors would be the worst case for any ANN
index, not a corpus. 1,000 queries drawn the same way, k = 10. Each configuration runs in its own
process, so its peak resident memory is its own:

- ``flat`` (exact): build = adding the vectors in chunks, with room made first (``Index.reserve``);
  memory against the raw vectors' size;
- ``ivf`` (nlist = sqrt(N), nprobe 16, trained on a sample of 64 × nlist) and ``hnsw`` (M 32,
  efSearch 128): build, search, and recall@10 of exact search (the exact index is built beside it,
  so their memory includes it);
- ``cache``: writing the vectors into the embedding cache as one shard (one process), then reading
  them back in another, from a fresh cache object — what a new run pays to reuse a corpus's
  embeddings. The shard is memory-mapped, so the reader's resident memory counts the mapped pages
  it touched (shared page cache) besides its own stacked copy; both are reported.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/scale.py                       # 100k and 1M, as committed
    HF_HUB_OFFLINE=1 .venv/bin/python bench/scale.py --sizes 100000 --kinds flat,ivf
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM, QUERIES, K, CHUNK = 384, 1000, 10, 10_000  # small chunks: the generator's temporaries stay small
REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "outputs" / "bench" / "scale-cache"  # written by cache_write, read by cache_read, then removed


TOPICS, NOISE = 1000, 0.6


def _clustered(rng: np.random.Generator, size: int) -> np.ndarray:
    centres = np.random.default_rng(0).normal(size=(TOPICS, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.normal(scale=NOISE / DIM**0.5, size=(size, DIM)).astype(np.float32)
    rows = centres[rng.integers(TOPICS, size=size)] + noise
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def chunks(n: int, seed: int = 42):
    """The N vectors, CHUNK rows at a time (each chunk seeded on its own: same vectors whatever reads them)."""
    for start in range(0, n, CHUNK):
        yield start, _clustered(np.random.default_rng([seed, start]), min(CHUNK, n - start))


def queries() -> np.ndarray:
    return _clustered(np.random.default_rng(7), QUERIES)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(kind: str, n: int):
    from recft.model.index import Index, IndexSpec

    spec = IndexSpec(kind, nlist=max(1, int(n**0.5)), nprobe=16, hnsw_m=32, ef_search=128)
    index = Index(DIM, use_gpu=False, spec=spec)
    index.reserve(n)  # exact: room for every vector first (no doubling while adding chunks)
    if kind == "ivf":  # train on a seeded sample, then add everything
        index.train(np.concatenate([rows for _, rows in chunks(min(n, 64 * spec.nlist), seed=1)]), rows=n)
    for start, rows in chunks(n):
        index.add(rows, [str(i) for i in range(start, start + len(rows))])
    return index


def one(kind: str, n: int) -> dict:
    from recft.model.index import Index  # noqa: F401  (imported before the baseline is read)

    row = {"kind": kind, "n": n, "baseline_rss_mb": peak_mb()}  # the interpreter, numpy, faiss: before any vector
    if kind in ("cache_write", "cache_read"):
        return {**row, **cache_speed(n, kind == "cache_write")}
    start = time.perf_counter()
    index = build(kind, n)
    row["build_s"] = time.perf_counter() - start
    q = queries()
    start = time.perf_counter()
    _, found = index.search(q, K)
    row["search_s"] = time.perf_counter() - start
    if kind != "flat":
        exact = build("flat", n)
        _, truth = exact.search(q, K)
        row["recall_at_10_vs_exact"] = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(truth, found)]))
    row["peak_rss_mb"] = peak_mb()
    row["raw_vectors_mb"] = n * DIM * 4 / 2**20
    return row


def cache_speed(n: int, write: bool) -> dict:
    """Write the N vectors into a cache under ``outputs/bench/scale-cache`` (``write``), or read them
    back from a fresh cache object in this new process; the time and this process's peak memory."""
    from recft.model.cache import EmbeddingCache

    class Stored:
        """An 'encoder' that returns the synthetic vectors: the cache's own cost, without a model."""

        prompts = {"passage": ""}

        def settings(self, kind):
            return {"fingerprint": "synthetic", "n": n}

        def encode(self, texts, kind="passage", show_progress=False):
            if not write:
                raise AssertionError("the reader found a vector missing from the cache")
            return np.concatenate([rows for _, rows in chunks(n)])

    root = CACHE / str(n)
    texts = [f"passage {i}" for i in range(n)]
    cache = EmbeddingCache(root)
    start = time.perf_counter()
    vectors = cache.encode(Stored(), texts, "passage", show_progress=False)
    seconds = time.perf_counter() - start
    assert vectors.shape == (n, DIM)
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    private, mapped = (int(status[key].split()[0]) / 1024 for key in ("RssAnon", "RssFile"))
    # with the cache's table still alive: private memory (the caller's copy + the table) vs mapped file pages
    return {f"{'write' if write else 'read'}_s": seconds, "peak_rss_mb": peak_mb(), "rss_private_mb": private,
            "rss_file_mb": mapped, "raw_vectors_mb": n * DIM * 4 / 2**20}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--kinds", default="flat,ivf,hnsw,cache_write,cache_read")
    parser.add_argument("--hnsw-max", type=int, default=100_000, help="hnsw builds above this N are skipped")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # kind:n, in a child process
    args = parser.parse_args()
    if args.one:
        kind, n = args.one.split(":")
        print(json.dumps(one(kind, int(n))))
        return
    from recft.common.cpu import cpu_description

    rows = []
    shutil.rmtree(CACHE, ignore_errors=True)
    for n in [int(s) for s in args.sizes.split(",")]:
        for kind in args.kinds.split(","):
            if kind == "hnsw" and n > args.hnsw_max:
                rows.append({"kind": kind, "n": n, "skipped": f"hnsw build above {args.hnsw_max:,} (--hnsw-max)"})
                continue
            done = subprocess.run([sys.executable, __file__, "--one", f"{kind}:{n}"], capture_output=True, text=True)
            row = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {
                "kind": kind, "n": n, "failed": f"exit {done.returncode}"}  # fmt: skip
            print(json.dumps(row), flush=True)
            rows.append(row)
    shutil.rmtree(CACHE, ignore_errors=True)
    out = REPO / "bench" / "results" / "scale.json"
    out.write_text(json.dumps({"cpu": cpu_description(), "dim": DIM, "queries": QUERIES, "k": K, "rows": rows},
                              indent=2) + "\n")  # fmt: skip
    print(out)


if __name__ == "__main__":
    main()
