"""NUDGE speed, in one run: recft's vectorised NUDGE-N / NUDGE-M against the reference ``nudge-ft``.

* SciFact: the 5,183-passage corpus and 809 training queries (10 % held out to choose γ), MiniLM
  embeddings read from recft's cache (encoded once beforehand — NUDGE itself never runs the encoder);
* synthetic: 100,000 random unit 384-d documents, 5,000 training and 500 validation queries.

Reports the median of ``--repeats`` timings of the NUDGE step alone and recft / reference as a ratio,
and checks that both give the same embeddings.

    EXTRAS=dev,bench bash scripts/setup.sh
    .venv/bin/python -m recft.train adapter=nudge        # fills the cache with SciFact's embeddings
    .venv/bin/python bench/nudge.py [--out bench/results/nudge.json]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from recft.common.config import CONF_DIR, REPO_ROOT  # noqa: E402
from recft.model.cache import EmbeddingCache  # noqa: E402
from recft.nudge.algorithm import nudge_m, nudge_n, split_validation  # noqa: E402
from recft.nudge.corpus import group_pairs  # noqa: E402
from recft.training.job import load_training_data  # noqa: E402

from encode import cpu_model  # noqa: E402


def scifact_problem(cache_dir: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"cache_dir={cache_dir}", "show_progress=false", "dev.share=0"])
    training, _ = load_training_data(cfg)
    target, train_set = training.pairs, training.corpus
    encoder = instantiate(cfg.encoder)
    encoder.eval()
    cache = EmbeddingCache(cfg.cache_dir)
    queries, answers, _ = group_pairs(target, train_set.corpus, train_set.name)
    train_ids, val_ids = split_validation(list(queries), 0.1, cfg.seed)
    doc_ids = list(train_set.corpus)
    row = {d: i for i, d in enumerate(doc_ids)}
    before = cache.stats.encoded
    docs = cache.encode(encoder, [train_set.corpus[d] for d in doc_ids], "passage", False)
    q = dict(zip(queries, cache.encode(encoder, list(queries.values()), "query", False)))
    encoded = cache.stats.encoded - before

    def split(ids):
        return np.stack([q[i] for i in ids]), [[row[d] for d in answers[i]] for i in ids]

    return (docs, *split(train_ids), *split(val_ids)), encoded


def synthetic_problem(n_docs: int, dim: int, n_train: int, n_val: int, seed: int = 42):
    rng = np.random.default_rng(seed)
    docs = rng.normal(size=(n_docs, dim)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)

    def queries(m):
        answers = [rng.choice(n_docs, size=rng.integers(1, 3), replace=False).tolist() for _ in range(m)]
        q = np.stack([docs[a].mean(0) + 0.05 * rng.normal(size=dim) for a in answers]).astype(np.float32)
        return q / np.linalg.norm(q, axis=1, keepdims=True), answers

    return (docs, *queries(n_train), *queries(n_val))


def median_time(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def reference_package():
    """The nudge-ft package (dev extra), not this script: run as ``bench/nudge.py`` its folder is on
    ``sys.path`` and would shadow the package name."""
    here = Path(__file__).resolve().parent
    saved = sys.path[:]
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != here]
    try:
        return importlib.import_module("nudge")
    finally:
        sys.path = saved


def compare(problem, repeats: int) -> dict:
    reference = reference_package()

    docs, tq, ta, vq, va = problem
    train, val = {"q_embs": tq, "q_ans_indx": ta}, {"q_embs": vq, "q_ans_indx": va}
    out = {"docs": len(docs), "dim": docs.shape[1], "train_queries": len(tq), "val_queries": len(vq)}
    for name, ours, ref in (
        ("nudge_n", lambda: nudge_n(docs, tq, ta, vq, va), reference.NUDGEN),
        ("nudge_m", lambda: nudge_m(docs, tq, ta, vq, va), reference.NUDGEM),
    ):
        ours_s, result = median_time(ours, repeats)
        with contextlib.redirect_stdout(io.StringIO()):  # the reference prints progress lines
            ref_s, ref_emb = median_time(
                lambda ref=ref: ref(torch.device("cpu")).finetune_embeddings(docs, train, val), repeats
            )
        out[name] = {
            "recft_s": ours_s,
            "reference_s": ref_s,
            "speedup": ref_s / ours_s,
            "gamma": result.gamma,
            "docs_moved": int(result.changed.sum()),
            "max_abs_diff_vs_reference": float(np.abs(result.embeddings - ref_emb).max()),
        }
        print(f"{name}: recft {ours_s:.3f} s, reference {ref_s:.3f} s ({ref_s / ours_s:.1f}×), γ={result.gamma:.4f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=str(REPO_ROOT / "outputs" / "cache"))
    parser.add_argument("--synthetic-docs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "nudge.json"))
    args = parser.parse_args()

    problem, encoded = scifact_problem(args.cache_dir)
    print(f"SciFact ({encoded} texts had to be encoded first; 0 = all from the cache)")
    results = {
        "cpu": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "scifact": {**compare(problem, args.repeats), "texts_encoded_before": encoded},
    }
    print(f"synthetic: {args.synthetic_docs:,} documents")
    results["synthetic"] = compare(synthetic_problem(args.synthetic_docs, 384, 5000, 500), args.repeats)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    os.replace(args.out + ".tmp", args.out)
    print(args.out)


if __name__ == "__main__":
    main()
