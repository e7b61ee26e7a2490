"""Inner-product search with FAISS: exact (``flat``, on the GPU when faiss-gpu sees one) or approximate.

Embeddings are L2-normalised, so inner product = cosine. Flat (exact) search keeps evaluation
free of approximation error: a promotion decision must not hinge on an ANN miss, so ``flat`` is the
default everywhere and the gate uses it unless told otherwise. For corpora of millions, ``ivf``
(``IndexIVFFlat``: k-means cells, ``nprobe`` of them searched; trained on the first vectors added)
and ``hnsw`` (``IndexHNSWFlat``: a graph, ``ef_search`` candidates) trade recall for speed; how much
recall they keep is measured against exact search whenever one is built for an evaluation
(``recall_vs_exact``, in the report).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

# faiss logs each instruction set it tries at INFO; under Hydra's logging that is a dozen lines per run
logging.getLogger("faiss.loader").setLevel(logging.WARNING)
import faiss  # noqa: E402

from recft.common.atomic import atomic_path, read_json, write_json  # noqa: E402
from recft.common.errors import RecftError  # noqa: E402


class IndexMismatchError(RecftError, ValueError):
    """An index that does not fit the embeddings or ids given to it."""


def gpu_count() -> int:
    """GPUs visible to FAISS (0 with faiss-cpu, which has no GPU symbols)."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


KINDS = ("flat", "ivf", "hnsw")


@dataclass(frozen=True)
class IndexSpec:
    """Which index (``eval.index`` in the configs)."""

    kind: str = "flat"
    nlist: int | None = None  # ivf cells; None: 4 × sqrt(N), the usual starting point
    nprobe: int = 16  # ivf cells searched per query
    hnsw_m: int = 32  # hnsw neighbours per node
    ef_search: int = 128  # hnsw candidates kept while searching

    def __post_init__(self):
        if self.kind not in KINDS:
            raise IndexMismatchError(f"eval.index.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    def faiss_index(self, dim: int, n: int):
        if self.kind == "ivf":
            nlist = self.nlist or max(1, int(4 * math.sqrt(max(n, 1))))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.nprobe = self.nprobe
            return index
        if self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = self.ef_search
            return index
        return faiss.IndexFlatIP(dim)


class Index:
    """A FAISS IP index that remembers the document id of every row (exact ``flat`` by default).

    >>> index = Index(dim=384); index.add(doc_emb, doc_ids)     # doctest: +SKIP
    >>> scores, ids = index.search(query_emb, k=10)             # doctest: +SKIP
    """

    def __init__(self, dim: int, use_gpu: bool | str = "auto", spec: IndexSpec | None = None):
        self.dim = int(dim)
        self.ids: list[str] = []
        self.spec = spec or IndexSpec()
        self.trained = False  # an approximate index is made by ``train`` (or the first ``add``)
        self.cpu_index = faiss.IndexFlatIP(self.dim)
        self.on_gpu = self.spec.kind == "flat" and ((use_gpu == "auto" and gpu_count() > 0) or use_gpu is True)
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
        """Add rows; an approximate index is made (and an IVF one trained) on the first add."""
        embeddings = self._check(embeddings, "document embeddings")
        if len(ids) != len(embeddings):
            raise IndexMismatchError(f"{len(ids)} ids for {len(embeddings)} embeddings")
        if self.spec.kind != "flat" and not self.ids and not self.trained:
            self.train(embeddings)
        self._search_index.add(embeddings)
        self.ids.extend(str(i) for i in ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[list[str]]]:
        """Top-k (scores, doc ids) per query, best first."""
        queries = self._check(queries, "query embeddings")
        k = min(int(k), len(self.ids))
        scores, rows = self._search_index.search(queries, k)
        return scores, [[self.ids[r] for r in row if r >= 0] for row in rows]

    def train(self, vectors: np.ndarray, rows: int | None = None) -> None:
        """Make the approximate index for ``rows`` vectors (default: as many as given) and train it (IVF)
        on ``vectors`` — by default the first vectors added; a corpus added in chunks trains on a sample."""
        vectors = self._check(vectors, "training vectors")
        self.cpu_index = self._search_index = self.spec.faiss_index(self.dim, rows or len(vectors))
        if not self.cpu_index.is_trained:
            self.cpu_index.train(vectors)
        self.trained = True

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` vectors in an exact index before adding them in chunks. FAISS grows
        its storage by doubling, which at the moment of a copy holds up to twice the vectors; with
        the room made first, a million 384-d vectors cost their own 1.5 GB (bench/scale.py)."""
        if self.spec.kind == "flat" and not self.on_gpu:
            self.cpu_index.codes.resize(int(rows) * self.cpu_index.code_size)
            self.cpu_index.codes.resize(self.cpu_index.ntotal * self.cpu_index.code_size)

    def recall_vs_exact(self, embeddings: np.ndarray, queries: np.ndarray, k: int) -> float:
        """Mean share of exact search's top-``k`` that this index also returns (1.0 for ``flat``)."""
        if self.spec.kind == "flat":
            return 1.0
        exact = faiss.IndexFlatIP(self.dim)
        exact.add(self._check(embeddings, "document embeddings"))
        k = min(int(k), len(self.ids))
        _, truth = exact.search(self._check(queries, "query embeddings"), k)
        _, found = self._search_index.search(self._check(queries, "query embeddings"), k)
        return float(np.mean([len(set(t) & set(f)) / k for t, f in zip(truth.tolist(), found.tolist())]))

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
    def load(
        cls, folder: str | Path, expected_dim: int | None = None, use_gpu: bool | str = "auto", mmap: bool = False
    ) -> "Index":
        """Load a saved index; refuse it if its dimension is not the encoder's. ``mmap``: a flat index's
        vectors are read memory-mapped (FAISS ``IO_FLAG_MMAP_IFC``) — pages of the file, shared and
        reclaimable, not a private copy: a million-passage index costs no process memory of its own.
        Such an index is for searching (read-only)."""
        folder = Path(folder)
        path = folder / "index.faiss"
        if not path.is_file():
            raise IndexMismatchError(f"{path}: index file not found")
        try:
            cpu = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if mmap else 0)
        except RuntimeError as err:  # FAISS says why in the last line of a long message
            why = str(err).strip().splitlines()[-1]
            raise IndexMismatchError(f"{path}: not a readable FAISS index ({why})") from None
        if expected_dim is not None and cpu.d != expected_dim:
            raise IndexMismatchError(f"{path}: index has {cpu.d}-d vectors but the encoder produces {expected_dim}-d")
        ids = read_json(folder / "ids.json", IndexMismatchError)
        if len(ids) != cpu.ntotal:
            raise IndexMismatchError(f"{folder / 'ids.json'}: {len(ids)} ids for {cpu.ntotal} vectors")
        index = cls(cpu.d, use_gpu=use_gpu)
        index.cpu_index = cpu
        index._search_index = faiss.index_cpu_to_gpu(index._gpu_resources, 0, cpu) if index.on_gpu else cpu
        index.ids = [str(i) for i in ids]
        return index
