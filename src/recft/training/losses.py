"""Contrastive losses for bi-encoder fine-tuning.

InfoNCE (a.k.a. MultipleNegativesRanking): each query should score its own positive above every
other passage in the batch and its mined hard negatives. Dividing cosine scores by a small
temperature sharpens the softmax; 0.02–0.05 is usual for normalised embeddings.

In-batch duplicates matter on small target sets: when two queries share a positive passage (common
in SciFact, where several claims cite one abstract), that passage would otherwise be pushed *down*
as a "negative" for the other query. We mask every candidate whose document id equals the row's
positive (in-batch columns and hard negatives alike), so it counts neither as positive nor negative
for other rows.

A guide model (GISTEmbed, Solatorio 2024) catches the false negatives no id can: with ``guide=start``
the frozen start point embeds every training text once, and any in-batch or hard-negative candidate
that the guide scores above the row's own positive (less ``guide_margin``) is masked as well — the
guide thinks it answers the query at least as well as the labelled passage, so it is more likely an
unlabelled positive than a negative. How it combines with ``miner=topk_margin``: the miner already
drops, at mining time, candidates its model scores within a margin of the positive; the guide also
judges the other rows' positives (which no miner sees) and re-judges mined negatives with the start
point's scores, so the two can be used together; duplicate-free batches (``train.unique_in_batch``)
remove exact repeats before either looks.

    >>> loss = InfoNCELoss(temperature=0.02)
    >>> q, p = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1), torch.randn(4, 8)
    >>> loss(q, torch.nn.functional.normalize(p, dim=-1), positive_ids=[1, 2, 2, 3]).shape
    torch.Size([])
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from recft.common.errors import ConfigError


def _same_doc_mask(row_ids: Sequence[int], column_ids: Sequence[int], device) -> torch.Tensor:
    rows = torch.as_tensor(list(row_ids), device=device).unsqueeze(1)
    cols = torch.as_tensor(list(column_ids), device=device).unsqueeze(0)
    return rows == cols


GUIDES = (None, "start")  # start: the frozen start point (the base model, or a cycle's incumbent)


class InfoNCELoss(torch.nn.Module):
    """Cross-entropy over [own positive, other in-batch positives, hard negatives] / temperature.

    Inputs: ``query`` [B, d], ``positive`` [B, d], optional ``negatives`` [B, H, d] (H hard negatives
    per query), ``positive_ids`` (B ints, one id per positive document) and ``negative_ids`` [B][H].
    """

    def __init__(
        self,
        temperature: float = 0.05,
        in_batch_negatives: bool = True,
        gather_across_devices: bool = True,
        guide: str | None = None,
        guide_margin: float = 0.0,
    ):
        super().__init__()
        if temperature <= 0:
            raise ConfigError(f"loss.temperature must be > 0, got {temperature}")
        if guide not in GUIDES:
            raise ConfigError(f"loss.guide must be one of {', '.join(map(str, GUIDES))}, got {guide!r}")
        self.temperature = temperature
        self.in_batch_negatives = in_batch_negatives
        self.gather_across_devices = gather_across_devices  # under DDP: every device's rows are negatives
        self.guide, self.guide_margin = guide, guide_margin

    def forward(
        self,
        query: torch.Tensor,
        positive: torch.Tensor,
        negatives: torch.Tensor | None = None,
        positive_ids: Sequence[int] | None = None,
        negative_ids: Sequence[Sequence[int]] | None = None,
        guide: dict[str, torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """``guide``: the guide model's ``query``, ``positive`` and ``negatives`` embeddings of the same rows."""
        batch = query.shape[0]
        device = query.device
        positive_ids = list(range(batch)) if positive_ids is None else list(positive_ids)
        scores = self.scores(query, positive, negatives)
        masks = [torch.zeros(batch, 1, dtype=torch.bool, device=device)]
        if self.in_batch_negatives and batch > 1:
            masks.append(_same_doc_mask(positive_ids, positive_ids, device))  # includes the diagonal
        if negatives is not None and negatives.shape[1] > 0:
            if negative_ids is None:
                masks.append(torch.zeros(batch, negatives.shape[1], dtype=torch.bool, device=device))
            else:
                ids = torch.as_tensor([list(row) for row in negative_ids], device=device)
                masks.append(ids == torch.as_tensor(positive_ids, device=device).unsqueeze(1))
        mask = torch.cat(masks, dim=1)
        if guide is not None:
            mask = mask | self.guide_mask(guide)
        logits = scores.masked_fill(mask, float("-inf")) / self.temperature
        return F.cross_entropy(logits, torch.zeros(batch, dtype=torch.long, device=device))

    def scores(self, query: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor | None) -> torch.Tensor:
        """[own positive | in-batch positives (the diagonal is masked) | hard negatives], cosine."""
        columns = [(query * positive).sum(-1, keepdim=True)]
        if self.in_batch_negatives and query.shape[0] > 1:
            columns.append(query @ positive.T)
        if negatives is not None and negatives.shape[1] > 0:
            columns.append(torch.einsum("bd,bhd->bh", query, negatives))
        return torch.cat(columns, dim=1)

    @torch.no_grad()
    def guide_mask(self, guide: dict[str, torch.Tensor | None]) -> torch.Tensor:
        """True where the guide scores a candidate above the row's own positive − ``guide_margin``
        (never the own-positive column itself)."""
        scores = self.scores(guide["query"], guide["positive"], guide.get("negatives"))
        mask = scores > scores[:, :1] - self.guide_margin
        mask[:, 0] = False
        return mask


class CachedInfoNCELoss(InfoNCELoss):
    """InfoNCE computed GradCache-style (``recft.training.grad_cache``): the same loss and gradients at
    any batch size, with the activations of only ``mini_batch`` rows alive at a time. The training
    module sees ``mini_batch`` and runs the cached step; called directly it is plain InfoNCE."""

    def __init__(
        self,
        temperature: float = 0.05,
        in_batch_negatives: bool = True,
        mini_batch: int = 32,
        gather_across_devices: bool = True,
        guide: str | None = None,
        guide_margin: float = 0.0,
    ):
        super().__init__(temperature, in_batch_negatives, gather_across_devices, guide, guide_margin)
        if mini_batch < 1:
            raise ConfigError(f"loss.mini_batch must be >= 1, got {mini_batch}")
        self.mini_batch = int(mini_batch)


class TripletLoss(torch.nn.Module):
    """max(0, margin + d(q, p) − d(q, n)) with cosine distance, against each query's hardest negative.

    The negative is the hardest of the mined negatives if any, else the hardest other in-batch
    positive whose document differs from the query's own.
    """

    def __init__(self, margin: float = 0.2):
        super().__init__()
        self.margin = margin

    def forward(self, query, positive, negatives=None, positive_ids=None, negative_ids=None) -> torch.Tensor:
        batch = query.shape[0]
        positive_ids = list(range(batch)) if positive_ids is None else list(positive_ids)
        if negatives is not None and negatives.shape[1] > 0:
            scores = torch.einsum("bd,bhd->bh", query, negatives)
            if negative_ids is not None:
                ids = torch.as_tensor([list(r) for r in negative_ids], device=query.device)
                scores = scores.masked_fill(ids == torch.as_tensor(positive_ids, device=query.device)[:, None], -2)
            hardest = negatives[torch.arange(batch), scores.argmax(1)]
        else:
            scores = (query @ positive.T).masked_fill(_same_doc_mask(positive_ids, positive_ids, query.device), -2)
            hardest = positive[scores.argmax(1)]
        distance_pos = 1 - (query * positive).sum(-1)
        distance_neg = 1 - (query * hardest).sum(-1)
        return F.relu(self.margin + distance_pos - distance_neg).mean()
