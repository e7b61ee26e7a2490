"""Exact inner-product search with FAISS (``IndexFlatIP``), on the GPU when faiss-gpu sees one.

Embeddings are L2-normalised, so inner product = cosine. Flat (exact) search keeps evaluation
free of approximation error: a promotion decision must not hinge on an ANN miss.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

# faiss logs each instruction set it tries at INFO; under Hydra's logging that is a dozen lines per run
logging.getLogger("faiss.loader").setLevel(logging.WARNING)
import faiss  # noqa: E402

from recft.common.atomic import atomic_path, write_json  # noqa: E402


class IndexMismatchError(ValueError):
    """An index that does not fit the embeddings or ids given to it."""


def gpu_count() -> int:
    """GPUs visible to FAISS (0 with faiss-cpu, which has no GPU symbols)."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


class Index:
    """A flat IP index that remembers the document id of every row.

    >>> index = Index(dim=384); index.add(doc_emb, doc_ids)     # doctest: +SKIP
    >>> scores, ids = index.search(query_emb, k=10)             # doctest: +SKIP
    """

    def __init__(self, dim: int, use_gpu: bool | str = "auto"):
        self.dim = int(dim)
        self.ids: list[str] = []
        self.cpu_index = faiss.IndexFlatIP(self.dim)
        self.on_gpu = (use_gpu == "auto" and gpu_count() > 0) or use_gpu is True
        self._search_index = self.cpu_index
        if self.on_gpu:
            self._gpu_resources = faiss.StandardGpuResources()
            self._search_index = faiss.index_cpu_to_gpu(self._gpu_resources, 0, self.cpu_index)

    def __len__(self) -> int:
        return len(self.ids)

    def _check(self, matrix: np.ndarray, what: str) -> np.ndarray:
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.dim:
            raise IndexMismatchError(f"{what} have shape {matrix.shape}, but the index holds {self.dim}-d vectors")
        return matrix

    def add(self, embeddings: np.ndarray, ids: Sequence[str]) -> None:
        embeddings = self._check(embeddings, "document embeddings")
        if len(ids) != len(embeddings):
            raise IndexMismatchError(f"{len(ids)} ids for {len(embeddings)} embeddings")
        self._search_index.add(embeddings)
        self.ids.extend(str(i) for i in ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[list[str]]]:
        """Top-k (scores, doc ids) per query, best first."""
        queries = self._check(queries, "query embeddings")
        k = min(int(k), len(self.ids))
        scores, rows = self._search_index.search(queries, k)
        return scores, [[self.ids[r] for r in row if r >= 0] for row in rows]

    def save(self, folder: str | Path, meta: dict | None = None) -> Path:
        """Write ``index.faiss``, ``ids.json`` and ``meta.json`` (each atomically) into ``folder``."""
        folder = Path(folder)
        cpu = faiss.index_gpu_to_cpu(self._search_index) if self.on_gpu else self.cpu_index
        with atomic_path(folder / "index.faiss") as tmp:
            faiss.write_index(cpu, str(tmp))
        write_json(folder / "ids.json", self.ids)
        write_json(folder / "meta.json", {"dim": self.dim, "count": len(self.ids), **(meta or {})})
        return folder

    @classmethod
    def load(cls, folder: str | Path, expected_dim: int | None = None, use_gpu: bool | str = "auto") -> "Index":
        """Load a saved index; refuse it if its dimension is not the encoder's."""
        folder = Path(folder)
        path = folder / "index.faiss"
        if not path.is_file():
            raise IndexMismatchError(f"{path}: index file not found")
        cpu = faiss.read_index(str(path))
        if expected_dim is not None and cpu.d != expected_dim:
            raise IndexMismatchError(f"{path}: index has {cpu.d}-d vectors but the encoder produces {expected_dim}-d")
        ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
        if len(ids) != cpu.ntotal:
            raise IndexMismatchError(f"{folder / 'ids.json'}: {len(ids)} ids for {cpu.ntotal} vectors")
        index = cls(cpu.d, use_gpu=use_gpu)
        index.cpu_index = cpu
        index._search_index = faiss.index_cpu_to_gpu(index._gpu_resources, 0, cpu) if index.on_gpu else cpu
        index.ids = [str(i) for i in ids]
        return index
