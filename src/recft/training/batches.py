"""Batches for training: a fixed replay share per batch, and pairs turned into model inputs.

Replay fights forgetting by mixing generalist pairs (e.g. SQuAD) into every batch: with mixing
coefficient ``alpha`` each batch of B holds exactly ``round(alpha × B)`` replay pairs and the rest
target pairs. An epoch is one pass over the target pairs; both streams are reshuffled per epoch
from ``seed + epoch`` and wrap around, so every batch is full and the run is reproducible.
"""

from __future__ import annotations

import hashlib
import math
from typing import Hashable, Iterator, Sequence

import numpy as np
import torch

from recft.common.errors import ConfigError
from recft.data.pairs import Pair


def replay_count(batch_size: int, alpha: float) -> int:
    if not 0 <= alpha < 1:
        raise ConfigError(f"replay.alpha must be in [0, 1), got {alpha}")
    return int(round(alpha * batch_size))


class MixedBatchSampler(torch.utils.data.Sampler):
    """Batches of indices into ``ConcatDataset([target, replay])`` with a fixed replay share."""

    def __init__(
        self,
        n_target: int,
        n_replay: int,
        batch_size: int,
        alpha: float = 0.0,
        seed: int = 42,
        target_keys: Sequence[tuple[Hashable, Hashable]] | None = None,
    ):
        if n_target <= 0:
            raise ValueError("no target pairs to train on")
        self.n_replay_per_batch = replay_count(batch_size, alpha)
        if self.n_replay_per_batch and n_replay <= 0:
            raise ConfigError(f"replay.alpha={alpha} needs replay pairs, but none were given (replay.source)")
        if self.n_replay_per_batch >= batch_size:
            raise ConfigError(f"replay.alpha={alpha} leaves no room for target pairs in a batch of {batch_size}")
        self.n_target, self.n_replay = n_target, n_replay
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0
        self.n_target_per_batch = batch_size - self.n_replay_per_batch
        if target_keys is not None and len(target_keys) != n_target:
            raise ValueError(f"{len(target_keys)} target keys for {n_target} target pairs")
        self.target_keys = target_keys  # (query key, positive key) per target pair: no repeats within a batch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.n_target / self.n_target_per_batch)

    @staticmethod
    def _stream(rng: np.random.Generator, size: int) -> Iterator[int]:
        while True:
            yield from rng.permutation(size).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed + self.epoch)
        target = self._stream(rng, self.n_target)
        replay = self._stream(rng, self.n_replay) if self.n_replay_per_batch else iter(())
        waiting: list[int] = []
        for _ in range(len(self)):
            batch = (
                self._targets(target, waiting)
                if self.target_keys
                else [next(target) for _ in range(self.n_target_per_batch)]
            )
            batch += [self.n_target + next(replay) for _ in range(self.n_replay_per_batch)]
            yield batch

    def _targets(self, stream: Iterator[int], waiting: list[int]) -> list[int]:
        """A batch of target indices with no query and no positive twice; pairs that would repeat one
        wait (in order) for the next batch. After 4 × batch draws without room, repeats fill the rest."""
        batch: list[int] = []
        used: set = set()
        candidates, draws = list(waiting), 0
        waiting.clear()
        while len(batch) < self.n_target_per_batch:
            if candidates:
                index = candidates.pop(0)
            else:
                index, draws = next(stream), draws + 1
            query, positive = self.target_keys[index]
            if ("q", query) in used or ("p", positive) in used:
                if draws <= 4 * self.n_target_per_batch:
                    waiting.append(index)
                    continue
            batch.append(index)
            used |= {("q", query), ("p", positive)}
        waiting.extend(candidates)
        return batch


class PairCollator:
    """Turn a list of Pairs into tokenized query / passage / hard-negative batches.

    ``negatives`` maps (source, query id) → hard-negative (doc id, text) list from a miner. Rows with
    fewer than ``num_negatives`` are padded with their own positive, which the loss masks out (a
    negative whose id equals the positive's is never counted), so every row has the same width.

    ``passage_embeddings`` (text → vector), given when the passage tower is frozen (``query_lora``),
    replaces passage tokens with precomputed embeddings: a training step then runs only the short
    query side, which on a CPU is several times cheaper than encoding 256-token passages.

    ``guide`` ((kind, text) → the guide model's vector), given with a guided loss, adds the guide's
    embeddings of every row's query, positive and negatives as ``batch["guide"]``.
    """

    def __init__(
        self,
        encoder,
        negatives: dict | None = None,
        num_negatives: int = 0,
        passage_embeddings: dict | None = None,
        guide: dict | None = None,
    ):
        self.encoder = encoder
        self.negatives = negatives or {}
        self.num_negatives = num_negatives
        self.passage_embeddings = passage_embeddings
        self.guide = guide

    @staticmethod
    def doc_key(source: str, doc_id: str) -> int:
        """A document's integer id for the loss's duplicate mask: a stable hash (not a counter), so every
        process of a DDP run — and every gathered row — gives one document the same id."""
        digest = hashlib.blake2b(f"{source}\t{doc_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF

    def passages(self, texts: list[str]) -> dict:
        if self.passage_embeddings is not None:
            return {"embeddings": torch.from_numpy(np.stack([self.passage_embeddings[t] for t in texts]))}
        return self.encoder.tokenize(texts, "passage")

    def __call__(self, pairs: list[Pair]) -> dict:
        batch = {
            "query": self.encoder.tokenize([p.query for p in pairs], "query"),
            "passage": self.passages([p.passage for p in pairs]),
            "positive_ids": [self.doc_key(p.source, p.doc_id) for p in pairs],
            "negatives": None,
            "negative_ids": None,
        }
        if self.num_negatives:
            texts, ids = [], []
            for pair in pairs:
                mined = list(self.negatives.get((pair.source, pair.query_id), ()))[: self.num_negatives]
                mined += [(pair.doc_id, pair.passage)] * (self.num_negatives - len(mined))
                texts += [text for _, text in mined]
                ids.append([self.doc_key(pair.source, doc_id) for doc_id, _ in mined])
            batch["negatives"] = self.passages(texts)
            batch["negative_ids"] = ids
        if self.guide is not None:
            batch["guide"] = self.guided(pairs, texts if self.num_negatives else None)
        return batch

    def guided(self, pairs: list[Pair], negative_texts: list[str] | None) -> dict:
        def stack(kind: str, texts: list[str]) -> torch.Tensor:
            return torch.from_numpy(np.stack([self.guide[(kind, t)] for t in texts]))

        negatives = None
        if negative_texts is not None:
            negatives = stack("passage", negative_texts).view(len(pairs), self.num_negatives, -1)
        return {
            "query": stack("query", [p.query for p in pairs]),
            "positive": stack("passage", [p.passage for p in pairs]),
            "negatives": negatives,
        }
