"""NUDGE: fine-tune the corpus *embeddings* instead of the model (Zeighami et al., ICLR 2025).

Each document embedding moves toward the sum ``g`` of the training queries it answers; documents no
training query touched do not move. One scalar γ, chosen on validation queries held out from the
training queries, sets how far:

- **NUDGE-N** keeps every embedding on the unit sphere and bounds the move (‖Δ‖ ≤ √γ-ish); γ is the
  best of a grid by validation top-k accuracy.
- **NUDGE-M** adds ``γ · g/‖g‖`` (embeddings leave the sphere: score by dot product, as recft's inner
  product index does); γ is the point inside the most validation "this answer ranks first" intervals,
  found in closed form.

Both are matrix operations over cached embeddings: seconds on a CPU, no encoder pass. The formulas
follow the reference implementation (``nudge-ft``), vectorised; ``tests/test_nudge.py`` checks that
both give its result. Always nudge from the *original* embeddings: nudging nudged embeddings drifts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.functional import normalize

DEFAULT_GAMMAS = tuple(0.02 * x for x in range(25))  # NUDGE-N's grid, as in the paper's code
EPS = 1e-8


@dataclass
class NudgeResult:
    embeddings: np.ndarray  # (docs, dim) float32: every document, moved or not
    changed: np.ndarray  # (docs,) bool: documents some training query moved
    gamma: float
    variant: str  # "n" or "m"
    seconds: float


def query_sums(n_docs: int, queries: torch.Tensor, answers: list[list[int]]) -> torch.Tensor:
    """``g_j``: the sum of the training queries whose answers include document j (zero if none)."""
    rows = [i for i, docs in enumerate(answers) for _ in docs]
    cols = [d for docs in answers for d in docs]
    sums = torch.zeros(n_docs, queries.shape[1], dtype=queries.dtype)
    return sums.index_add_(0, torch.tensor(cols, dtype=torch.long), queries[torch.tensor(rows, dtype=torch.long)])


def _as_tensor(array) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32))


def nudge_n_step(embeddings: torch.Tensor, sums: torch.Tensor, gamma: float) -> torch.Tensor:
    """The constrained maximiser for one γ: stays on the unit sphere, moves toward ``sums``."""
    if gamma == 0:
        return embeddings
    v = (sums * embeddings).sum(-1)
    c = (sums * sums).sum(-1)
    frozen = (c - v**2 == 0) | (v < 0)  # no queries, already aligned, or pointing away: no move
    mu = (v + torch.sqrt(gamma / (4 - gamma) * (c - v**2))).unsqueeze(1)
    delta = gamma * (sums - mu * embeddings) / (2 * (mu - v.unsqueeze(1)))
    delta[frozen] = 0
    moved = embeddings + delta
    target = normalize(sums, dim=-1)
    reach = ((embeddings * target).sum(-1) >= 1 - gamma / 2).unsqueeze(1)  # within reach: land on g/‖g‖
    return torch.where(reach, target, moved)


def topk_accuracy(scores: torch.Tensor, answers: list[list[int]], k: int) -> float:
    """Mean over queries of (answers in the top k) / min(#answers, k)."""
    top = torch.topk(scores, k, dim=1).indices
    hits = [len(set(row.tolist()) & set(docs)) / min(len(docs), k) for row, docs in zip(top, answers)]
    return float(np.mean(hits)) if hits else 0.0


def movable(embeddings, train_queries, train_answers: list[list[int]]):
    """The unit-length embeddings, each document's query sum ``g``, and the rows some training query answers."""
    emb = normalize(_as_tensor(embeddings), dim=-1)
    sums = query_sums(len(emb), _as_tensor(train_queries), train_answers)
    return emb, sums, torch.nonzero(sums.abs().sum(1) > 0).flatten()


def nudge_n_accuracies(
    embeddings,
    train_queries,
    train_answers: list[list[int]],
    val_queries,
    val_answers: list[list[int]],
    gammas=DEFAULT_GAMMAS,
    val_k: int = 1,
) -> dict[float, float]:
    """γ → validation top-``val_k`` accuracy of NUDGE-N at γ, in the grid's order."""
    emb, sums, active = movable(embeddings, train_queries, train_answers)
    val = _as_tensor(val_queries)
    # Only documents with training queries can move: score the rest once, re-score the movers per γ.
    base_scores = val @ emb.T
    accuracies = {}
    for gamma in gammas:
        scores = base_scores.clone()
        scores[:, active] = val @ nudge_n_step(emb[active], sums[active], gamma).T
        accuracies[float(gamma)] = topk_accuracy(scores, val_answers, val_k)
    return accuracies


def nudge_n_at(embeddings, train_queries, train_answers: list[list[int]], gamma: float) -> NudgeResult:
    """NUDGE-N at one γ: every document a training query answers moves, the rest stay."""
    start = time.perf_counter()
    emb, sums, active = movable(embeddings, train_queries, train_answers)
    moved = emb.clone()
    moved[active] = nudge_n_step(emb[active], sums[active], gamma)
    return _result(moved, emb, float(gamma), "n", start)


def nudge_n(
    embeddings,
    train_queries,
    train_answers: list[list[int]],
    val_queries,
    val_answers: list[list[int]],
    gammas=DEFAULT_GAMMAS,
    val_k: int = 1,
) -> NudgeResult:
    """NUDGE-N: γ from ``gammas`` by validation top-``val_k`` accuracy (first best wins)."""
    start = time.perf_counter()
    accuracies = nudge_n_accuracies(embeddings, train_queries, train_answers, val_queries, val_answers, gammas, val_k)
    best = max(accuracies.values())
    gamma = next(g for g, acc in accuracies.items() if acc == best)
    result = nudge_n_at(embeddings, train_queries, train_answers, gamma)
    result.seconds = time.perf_counter() - start
    return result


def gamma_intervals(val: torch.Tensor, emb: torch.Tensor, direction: torch.Tensor, answers: list[list[int]]):
    """For each (validation query, answer): the γ range in which that answer scores highest.

    Score of doc j at γ is ``S_j + γ G_j``. Answer x beats j iff ``γ (G_x − G_j) ≥ S_j − S_x``: a lower
    bound where G_j < G_x, an upper bound where G_j > G_x, and no γ at all if G_j = G_x and S_j > S_x.
    """
    rows = torch.tensor([i for i, docs in enumerate(answers) for _ in docs], dtype=torch.long)
    cols = torch.tensor([d for docs in answers for d in docs], dtype=torch.long).unsqueeze(1)
    scores, gains = (val @ emb.T)[rows], (val @ direction.T)[rows]
    s_diff = scores - scores.gather(1, cols)
    g_diff = gains.gather(1, cols) - gains  # the reference's sign: its update is −γ·(−g/‖g‖)
    ratio = s_diff / (g_diff + EPS)
    low = torch.clamp(torch.where(g_diff > 0, ratio, torch.zeros_like(ratio)).max(1).values, min=0)
    high = torch.where(g_diff < 0, ratio, torch.full_like(ratio, 1 / EPS)).min(1).values
    feasible = ((s_diff * (g_diff == 0)) > 0).sum(1) == 0
    keep = feasible & (high >= low)
    return low[keep].numpy(), high[keep].numpy()


def most_covered_point(lows: np.ndarray, highs: np.ndarray) -> float:
    """The left end of the region inside the most [low, high] intervals (0 if none); ties: smallest."""
    if len(lows) == 0:
        return 0.0
    values = np.concatenate([lows, highs])
    signs = np.concatenate([np.ones(len(lows)), -np.ones(len(highs))])
    order = np.argsort(values, kind="stable")
    values, totals = values[order], np.cumsum(signs[order])
    last_of_value = np.r_[values[1:] != values[:-1], True]  # count a value once all its events are in
    candidates, counts = values[last_of_value], totals[last_of_value]
    best = int(np.argmax(counts))
    return float(candidates[best]) if counts[best] > 0 else 0.0


def nudge_m(embeddings, train_queries, train_answers: list[list[int]], val_queries, val_answers) -> NudgeResult:
    """NUDGE-M: ``e + γ g/‖g‖`` with γ in the most validation intervals (unnormalised: use dot product)."""
    start = time.perf_counter()
    emb = normalize(_as_tensor(embeddings), dim=-1)
    direction = normalize(query_sums(len(emb), _as_tensor(train_queries), train_answers), dim=-1)
    lows, highs = gamma_intervals(_as_tensor(val_queries), emb, direction, val_answers)
    gamma = most_covered_point(lows, highs)
    return _result(emb + gamma * direction, emb, gamma, "m", start)


def _result(moved: torch.Tensor, original: torch.Tensor, gamma: float, variant: str, start: float) -> NudgeResult:
    changed = (moved != original).any(dim=1).numpy()
    return NudgeResult(moved.numpy().astype(np.float32), changed, gamma, variant, time.perf_counter() - start)


def split_validation(query_ids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Carve a seeded validation share out of the training queries (at least one each side)."""
    if len(query_ids) < 2:
        raise ValueError(f"NUDGE needs at least 2 training queries (one to validate γ), got {len(query_ids)}")
    order = np.random.default_rng(seed).permutation(len(query_ids))
    n_val = min(len(query_ids) - 1, max(1, round(fraction * len(query_ids))))
    val = sorted(order[:n_val].tolist())
    train = sorted(order[n_val:].tolist())
    return [query_ids[i] for i in train], [query_ids[i] for i in val]
