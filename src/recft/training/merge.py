"""Merging a fine-tuned model with the model it started from: w · fine-tuned + (1 − w) · start.

The remedy users of these models are pointed to against forgetting (FlagEmbedding's LM-Cocktail):
weight-space interpolation keeps part of the start's general retrieval while keeping part of the
gain. ``merge.weight=w`` applies it to any trained candidate: w = 1 is the fine-tuned model, w = 0
the start point, to the last bit.

For LoRA the two are the same thing: the fine-tuned weights are W0 + BA on top of the start's W0,
so w · (W0 + BA) + (1 − w) · W0 = W0 + w · BA — merging is scaling the adapter, done here by
scaling every ``lora_B`` by w (exact, and saved with the adapter). A full or last-layer fine-tune is
interpolated tensor by tensor against a fresh copy of the start point. A query-side adapter that
continues an earlier one cannot be merged this way (its start is itself an adapter): refused.
"""

from __future__ import annotations

import torch

from recft.training.candidate import CandidateError


def is_lora(encoder) -> bool:
    return hasattr(encoder.model, "peft_config")


@torch.no_grad()
def merge_with_start(encoder, weight: float, load_start=None, continuing: bool = False) -> None:
    """In place: ``encoder`` becomes w · itself + (1 − w) · its start point (``load_start()`` gives a fresh
    copy of the start; needed for non-LoRA fine-tunes only)."""
    if not 0.0 <= weight <= 1.0:
        raise CandidateError(f"merge.weight must be in [0, 1], got {weight}")
    if weight == 1.0:
        return
    if is_lora(encoder):
        if continuing:
            raise CandidateError(
                "merge.weight: a query-side adapter continued from an earlier one has no base to merge with"
            )
        for name, parameter in encoder.model.named_parameters():
            if "lora_B" in name:
                parameter.mul_(weight)
        return
    start = load_start().model.state_dict()
    for name, tensor in encoder.model.state_dict().items():
        if tensor.is_floating_point():
            tensor.mul_(weight).add_(start[name].to(tensor.device, tensor.dtype), alpha=1.0 - weight)
