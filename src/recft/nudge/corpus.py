"""A NUDGE version: corpus embeddings moved for one encoder, fitted from pairs, stored beside that encoder.

A NUDGE version changes no weights. It is the list of documents that moved and their new vectors,
tied to the encoder whose embeddings they came from (its passage fingerprint): queries are encoded
by that encoder, every other document keeps that encoder's embedding. So

- it is always fitted from the encoder's *original* embeddings (the cache holds them) with every
  pair seen so far — a later cycle re-nudges from scratch instead of nudging nudged vectors;
- it only changes the corpus it was fitted on (the golden corpus): probes on other corpora score
  exactly as the encoder does, by construction;
- pairs whose passage is not in that corpus (replay, injected batches) cannot move anything and are
  counted as skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recft.common.atomic import new_folder, write_json
from recft.data.pairs import Pair
from recft.model.cache import EmbeddingCache
from recft.model.encoder import BiEncoder
from recft.model.store import StoreError, load_overrides, save_overrides
from recft.nudge.algorithm import DEFAULT_GAMMAS, NudgeResult, nudge_m, nudge_n, split_validation
from recft.training.candidate import CandidateError


class NudgeError(CandidateError):
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

    def save(self, folder: str | Path) -> str:
        """Write ``folder`` (which must not exist) complete or not at all; returns the version kind."""
        with new_folder(folder) as tmp:
            self.write_into(tmp)
        return "nudge"

    def write_into(self, folder: Path) -> None:
        """The moved vectors and what they were fitted with, into an open (temp) version folder."""
        save_overrides(folder, self.doc_ids, self.vectors)
        meta = {"gamma": self.gamma, "variant": self.variant, "fingerprint": self.fingerprint, "stats": self.stats}
        write_json(folder / "nudge.json", meta)

    @classmethod
    def load(cls, folder: str | Path) -> "NudgedCorpus":
        folder = Path(folder)
        try:
            meta = json.loads((folder / "nudge.json").read_text(encoding="utf-8"))
            overrides = load_overrides(folder)
        except (OSError, ValueError, StoreError) as err:
            raise NudgeError(f"{folder}: not a readable NUDGE version ({err})") from None
        vectors = np.stack(list(overrides.values())) if overrides else np.zeros((0, 0), dtype=np.float32)
        return cls(list(overrides), vectors, meta["gamma"], meta["variant"], meta["fingerprint"], meta.get("stats", {}))


def group_pairs(
    pairs: list[Pair], corpus: dict[str, str], source: str
) -> tuple[dict[str, str], dict[str, list[str]], int]:
    """Pairs of ``source`` whose passage is in ``corpus``, grouped by query; also how many were skipped."""
    queries: dict[str, str] = {}
    answers: dict[str, list[str]] = {}
    skipped = 0
    for pair in pairs:
        if pair.source != source or pair.doc_id not in corpus:
            skipped += 1
            continue
        queries[pair.query_id] = pair.query
        answers.setdefault(pair.query_id, [])
        if pair.doc_id not in answers[pair.query_id]:
            answers[pair.query_id].append(pair.doc_id)
    return queries, answers, skipped


VARIANTS = ("n", "m")  # NUDGE-N, NUDGE-M


@dataclass(frozen=True)
class NudgeSettings:
    variant: str = "n"  # n = NUDGE-N (bounded, normalised); m = NUDGE-M (closed-form γ)
    val_fraction: float = 0.1  # of the training queries, held out to choose γ
    val_k: int = 1  # NUDGE-N: γ maximises validation top-k accuracy
    gammas: tuple[float, ...] | None = None  # NUDGE-N grid; None = the paper's 0, 0.02, ..., 0.48


@dataclass
class NudgeProblem:
    """What NUDGE fits from: the corpus's vectors under one encoder, and the training queries split into
    those that move documents and those held out to choose γ."""

    doc_ids: list[str]
    doc_emb: np.ndarray
    train: tuple[np.ndarray, list[list[int]]]  # query vectors, each one's answers as corpus rows
    val: tuple[np.ndarray, list[list[int]]]
    fingerprint: str  # passage fingerprint of the encoder the vectors came from
    stats: dict

    def corpus(self, result: NudgeResult) -> NudgedCorpus:
        """The documents ``result`` moved, as a NUDGE version of this encoder."""
        moved = np.flatnonzero(result.changed)
        stats = {**self.stats, "docs_moved": int(len(moved)), "nudge_s": result.seconds}
        ids = [self.doc_ids[i] for i in moved]
        return NudgedCorpus(ids, result.embeddings[moved], result.gamma, result.variant, self.fingerprint, stats)


def nudge_problem(
    encoder: BiEncoder,
    corpus: dict[str, str],
    source: str,
    pairs: list[Pair],
    cache: EmbeddingCache,
    val_fraction: float,
    seed: int,
    show_progress: bool = False,
) -> NudgeProblem:
    """The pairs of ``source`` whose passage is in ``corpus``, embedded by ``encoder`` (the cache holds
    the corpus), with a seeded ``val_fraction`` of their queries held out to choose γ."""
    queries, answers, skipped = group_pairs(pairs, corpus, source)
    query_ids = list(queries)
    if len(query_ids) < 2:
        raise NudgeError(f"NUDGE needs at least 2 training queries with a passage in the corpus, got {len(query_ids)}")
    train_ids, val_ids = split_validation(query_ids, float(val_fraction), seed)
    doc_ids = list(corpus)
    row = {d: i for i, d in enumerate(doc_ids)}
    doc_emb = cache.encode(encoder, [corpus[d] for d in doc_ids], "passage", show_progress)
    query_emb = dict(zip(query_ids, cache.encode(encoder, [queries[q] for q in query_ids], "query", show_progress)))

    def matrix(ids: list[str]) -> tuple[np.ndarray, list[list[int]]]:
        return np.stack([query_emb[q] for q in ids]), [[row[d] for d in answers[q]] for q in ids]

    stats = {
        "train_queries": len(train_ids),
        "val_queries": len(val_ids),
        "pairs_used": len(pairs) - skipped,
        "pairs_skipped": skipped,
        "docs": len(doc_ids),
    }
    return NudgeProblem(doc_ids, doc_emb, matrix(train_ids), matrix(val_ids), encoder.fingerprint_for("passage"), stats)


def fit_nudge(
    encoder: BiEncoder,
    corpus: dict[str, str],
    source: str,
    pairs: list[Pair],
    cache: EmbeddingCache,
    spec: NudgeSettings,
    seed: int,
    show_progress: bool = False,
) -> NudgedCorpus:
    """Fit NUDGE-N or -M for ``corpus`` (of data source ``source``) from ``pairs``, from the encoder's embeddings."""
    problem = nudge_problem(encoder, corpus, source, pairs, cache, spec.val_fraction, seed, show_progress)
    (train_q, train_a), (val_q, val_a) = problem.train, problem.val
    if spec.variant == "n":
        gammas = spec.gammas or DEFAULT_GAMMAS
        result = nudge_n(problem.doc_emb, train_q, train_a, val_q, val_a, gammas, int(spec.val_k))
    elif spec.variant == "m":
        result = nudge_m(problem.doc_emb, train_q, train_a, val_q, val_a)
    else:
        raise NudgeError(f"adapter.variant must be one of {', '.join(VARIANTS)}, got {spec.variant!r}")
    return problem.corpus(result)
