"""Merging a fine-tuned model with the model it started from: w · fine-tuned + (1 − w) · start.

The remedy users of these models are pointed to against forgetting (FlagEmbedding's LM-Cocktail):
weight-space interpolation keeps part of the start's general retrieval while keeping part of the
gain. ``merge.weight=w`` applies it to any trained candidate: w = 1 is the fine-tuned model, w = 0
the start point, to the last bit.

For LoRA the two are the same thing: the fine-tuned weights are W0 + BA on top of the start's W0,
so w · (W0 + BA) + (1 − w) · W0 = W0 + w · BA — merging is scaling the adapter, done here by
scaling every ``lora_B`` by w (exact, and saved with the adapter). LoRA's own ``alpha`` scales BA
by alpha / rank during training; w scales the learned update afterwards. A full or last-layer
fine-tune is interpolated tensor by tensor against a fresh copy of the start point. A query-side adapter that
continues an earlier one (a cycle after a query-side promotion) has an adapter as its start: its
``lora_A`` and ``lora_B`` are interpolated tensor by tensor against the incumbent's — exact at w = 0
(the incumbent) and w = 1 (the continued adapter); in between a weight-space path like the full
fine-tune's, not the product formula (what is measured on dev is the model that is kept either way).
"""

from __future__ import annotations

import torch

from recft.training.candidate import CandidateError


def is_lora(encoder) -> bool:
    return hasattr(encoder.model, "peft_config")


@torch.no_grad()
def endpoints(encoder, load_start=None, continuing: bool = False) -> tuple[dict, dict]:
    """(fine-tuned, start) copies of the tensors a merge changes: every ``lora_B`` (whose start is zero)
    for a LoRA, every floating-point tensor for a full or last-layer fine-tune."""
    if is_lora(encoder) and continuing:
        return continued_endpoints(encoder, load_start)
    if is_lora(encoder):
        tuned = {n: p.detach().clone() for n, p in encoder.model.named_parameters() if "lora_B" in n}
        return tuned, {n: torch.zeros_like(t) for n, t in tuned.items()}
    start = load_start().model.state_dict()
    tuned = {n: t.detach().clone() for n, t in encoder.model.state_dict().items() if t.is_floating_point()}
    return tuned, {n: start[n].to(t.device, t.dtype) for n, t in tuned.items()}


@torch.no_grad()
def continued_endpoints(encoder, load_start) -> tuple[dict, dict]:
    """A continued adapter's ``lora_A``/``lora_B`` and the incumbent adapter's, by name."""
    if load_start is None:
        raise CandidateError("merge.weight: a continued query-side adapter merges with its start, and none was given")
    start = dict(load_start().model.named_parameters())
    tuned = {n: p.detach().clone() for n, p in encoder.model.named_parameters() if "lora_A" in n or "lora_B" in n}
    missing = sorted(set(tuned) - set(start))
    if missing:
        raise CandidateError(f"merge.weight: the start adapter has no {missing[0]} to merge with (another shape?)")
    return tuned, {n: start[n].detach().to(t.device, t.dtype).clone() for n, t in tuned.items()}


@torch.no_grad()
def set_weight(encoder, weight: float, tuned: dict, start: dict) -> None:
    """In place: every merged tensor becomes w · fine-tuned + (1 − w) · start (exact at w = 0 and 1)."""
    check_weight(weight)
    current = dict(encoder.model.named_parameters()) if is_lora(encoder) else encoder.model.state_dict()
    for name, tensor in current.items():
        if name in tuned:
            tensor.copy_(tuned[name] * weight + start[name] * (1.0 - weight))


def check_weight(weight: float, key: str = "merge.weight") -> None:
    if not 0.0 <= weight <= 1.0:
        raise CandidateError(f"{key} must be in [0, 1], got {weight}")


def merge_with_start(encoder, weight: float, load_start=None, continuing: bool = False) -> None:
    """In place: ``encoder`` becomes w · itself + (1 − w) · its start point (``load_start()`` gives a fresh
    copy of the start; needed for non-LoRA fine-tunes only)."""
    check_weight(weight)
    if weight == 1.0:
        return
    set_weight(encoder, weight, *endpoints(encoder, load_start, continuing))
