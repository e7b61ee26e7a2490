"""What a fine-tune is allowed to change: LoRA, query-side LoRA, the last layer, or everything.

* ``lora``       peft LoRA on both towers (they share weights). Small, cheap, mergeable.
* ``query_lora`` LoRA used on the query side only; passages are embedded by the frozen base model,
                 so corpus embeddings and the index stay valid across cycles — no re-encode on
                 promotion, which on CPU is the dominant cost.
* ``last_layer`` only the last transformer layer trains.
* ``full``       every weight trains (most capacity, most forgetting).
"""

from __future__ import annotations

from typing import Sequence

from recft.common.errors import ConfigError
from recft.model.encoder import BiEncoder

KINDS = ("lora", "query_lora", "last_layer", "full")


def apply_adapter(
    encoder: BiEncoder,
    kind: str = "lora",
    rank: int = 16,
    alpha: int = 32,
    dropout: float = 0.1,
    target_modules: Sequence[str] = ("query", "key", "value", "dense"),
) -> BiEncoder:
    """Make ``encoder`` trainable in the way ``kind`` says (in place) and return it."""
    if kind not in KINDS:
        raise ConfigError(f"adapter must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind in ("lora", "query_lora"):
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules))
        encoder.model = get_peft_model(encoder.model, config)
        encoder.passage_uses_base = kind == "query_lora"
        return encoder
    last = encoder.model.config.num_hidden_layers - 1
    for name, param in encoder.model.named_parameters():
        param.requires_grad = kind == "full" or f"layer.{last}." in name
    return encoder


def trainable_parameters(encoder: BiEncoder) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    params = list(encoder.model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
