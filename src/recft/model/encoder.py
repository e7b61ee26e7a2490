"""A bi-encoder over any Hugging Face ``AutoModel``: prompt, tokenize, pool, L2-normalise.

Why not sentence-transformers? Training (LoRA via peft, Lightning) needs the raw ``AutoModel`` and
a pooling we control; inference must stay bit-for-bit the same code path as training. The recipe
matches sentence-transformers' (mean pooling over the attention mask, then L2-normalise), so MTEB's
published numbers for all-MiniLM-L6-v2 are reproducible — see tests and the encode benchmark.

Speed on CPU comes from length-sorted batches (little padding) and, where the hardware really has
bf16 units, bf16 autocast. ``precision="auto"`` detects that instead of assuming it: on a CPU
without AVX-512 BF16/AMX, bf16 autocast is several times *slower* than fp32.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from recft.common.cpu import cpu_has_bf16  # noqa: F401  (re-exported: where precision is resolved)
from recft.common.errors import ConfigError, RecftError
from recft.common.progress import LogProgress

Kind = Literal["query", "passage"]


class EncoderLoadError(RecftError, RuntimeError):
    """A model could not be loaded; the message says which and why."""


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> str:
    """Turn "auto" into "bf16" only where bf16 is fast on this device, else "fp32"."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ConfigError(f"encoder.precision must be auto, fp32 or bf16, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


def load_backbone(name_or_path: str):
    """Load tokenizer + AutoModel, turning the hub's long offline failures into one clear line."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one "Loading weights" bar per load is noise in logs
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModel.from_pretrained(name_or_path)
    except (OSError, ValueError) as err:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = (
            "not a local folder and not in the Hugging Face cache (HF_HUB_OFFLINE=1)"
            if offline and not Path(name_or_path).exists()
            else str(err).splitlines()[0]
        )
        raise EncoderLoadError(f"cannot load model {name_or_path!r}: {hint}") from None
    return tokenizer, model


@dataclass(frozen=True)
class EncoderOptions:
    """Everything ``conf/encoder/*.yaml`` sets besides the weights to load: how a text becomes a vector
    (prompts, length, pooling, normalisation) and how encoding runs (batch size, precision, device).

    ``BiEncoder.from_pretrained`` takes them as keywords, so the YAML's flat keys instantiate it through
    Hydra's ``_target_`` as they always did; the defaults serve code that builds an encoder by hand."""

    name: str = "model"
    pooling: Literal["mean", "cls"] = "mean"
    normalize: bool = True
    max_length: int = 256
    query_prompt: str = ""
    passage_prompt: str = ""
    batch_size: int = 64
    precision: str = "fp32"  # fp32 | bf16 | auto (resolved for the device when the encoder is built)
    device: str = "auto"

    def __post_init__(self):
        if self.pooling not in ("mean", "cls"):
            raise ConfigError(f"encoder.pooling must be mean or cls, got {self.pooling!r}")


class BiEncoder(torch.nn.Module):
    """Shared-weight query/passage encoder with per-model prompts.

    >>> enc = BiEncoder.from_pretrained(minilm_path(), pooling="mean")   # doctest: +SKIP
    >>> enc.encode(["what is a flea?"], kind="query").shape               # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, model: torch.nn.Module, tokenizer, options: EncoderOptions = EncoderOptions()):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.name = options.name
        self.pooling = options.pooling
        self.normalize = options.normalize
        self.max_length = options.max_length
        self.prompts = {"query": options.query_prompt or "", "passage": options.passage_prompt or ""}
        self.batch_size = options.batch_size
        self.passage_uses_base = False  # set by a query-side-only adapter (adapters.query_lora)
        self.device_ = resolve_device(options.device)
        self.precision = resolve_precision(options.precision, self.device_)
        self.to(self.device_)

    @classmethod
    def from_pretrained(cls, name_or_path: str, **options) -> "BiEncoder":
        """Load ``name_or_path`` (a folder or a hub name); ``options``: ``EncoderOptions``' fields, as
        ``conf/encoder/*.yaml`` spells them (``name`` defaults to ``name_or_path``)."""
        settings = EncoderOptions(**{"name": str(name_or_path), **options})
        tokenizer, model = load_backbone(name_or_path)
        return cls(model, tokenizer, settings)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: Sequence[str], kind: Kind) -> dict[str, torch.Tensor]:
        prompt = self.prompts[kind]
        return self.tokenizer(
            [prompt + t for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        kind: Kind = "passage",
        **extra,
    ) -> torch.Tensor:
        """Embed a tokenized batch; differentiable (training uses this directly)."""
        base_only = kind == "passage" and self.passage_uses_base
        with self.model.disable_adapter() if base_only else nullcontext():
            output = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra)
        hidden = output.last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        pooled = pooled.float()
        return torch.nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], kind: Kind = "passage", show_progress: bool = True) -> np.ndarray:
        """Embed texts in length-sorted batches; returns float32 [len(texts), dim] in input order."""
        if kind not in self.prompts:
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Sort by token length so each batch pads to its own longest text, not the corpus's.
        lengths = self.tokenizer(
            [self.prompts[kind] + t for t in texts],
            truncation=True,
            max_length=self.max_length,
            return_length=True,
        )["length"]
        order = np.argsort(-np.asarray(lengths), kind="stable")
        was_training = self.training
        self.eval()
        autocast = torch.autocast(self.device_.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        columns = (TextColumn(f"encode {kind}s"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        log = LogProgress(f"encode {kind}s", len(texts)) if show_progress and not sys.stderr.isatty() else None
        with Progress(*columns, transient=True, disable=not show_progress or log is not None) as progress, autocast:
            task = progress.add_task("encode", total=len(texts))
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self.tokenize([texts[i] for i in idx], kind)
                batch = {key: value.to(self.device_) for key, value in batch.items()}
                out[idx] = self(**batch, kind=kind).cpu().numpy()
                progress.advance(task, len(idx))
                if log is not None:  # not a terminal (cron, SLURM): a line every ~30 s instead of a bar
                    log.advance(len(idx))
        self.train(was_training)
        return out

    @property
    def fingerprint(self) -> str:
        """Hash of all weights + tokenizer: two encoders share cached embeddings only if these match.

        Recomputed on every call (≈0.1 s for MiniLM), so it can never go stale while training.
        """
        return self._hash_weights(include_adapters=True)

    def fingerprint_for(self, kind: Kind) -> str:
        """The fingerprint of the weights that actually embed ``kind`` texts.

        With a query-side-only adapter the passage tower is the frozen base model, so its
        fingerprint — and therefore its cached corpus embeddings and index — stay valid.
        """
        return self._hash_weights(include_adapters=not (kind == "passage" and self.passage_uses_base))

    def _hash_weights(self, include_adapters: bool) -> str:
        digest = hashlib.blake2b(digest_size=16)
        # with several named adapters (per-domain, recft.model.domain_encoder) only the active one embeds
        several = len(getattr(self.model, "peft_config", {})) > 1
        active = self.model.active_adapter if several else None
        for key, tensor in sorted(self.model.state_dict().items()):
            if "lora_" in key and (not include_adapters or (active is not None and f".{active}." not in key)):
                continue
            # peft renames wrapped weights; normalise so the base weights hash as in the plain model
            key = key.removeprefix("base_model.model.").replace(".base_layer.", ".")
            digest.update(key.encode())
            digest.update(str(tensor.dtype).encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        digest.update(self._tokenizer_identity().encode())
        return digest.hexdigest()

    def _tokenizer_identity(self) -> str:
        """The tokenizer's vocabulary and rules, without the truncation/padding state that every
        tokenize call rewrites (which would otherwise change the fingerprint mid-run).

        Kept per tokenizer object and vocabulary size: serialising a 30k-token vocabulary took
        ~0.08 s, and a cycle asks for a fingerprint about 15 times (1.3 s of a 31 s cycle); the rules
        do not change after loading, and adding tokens changes the size."""
        held = getattr(self, "_identity_of", None)  # (tokenizer, size, identity); the reference keeps its id unique
        if held is None or held[0] is not self.tokenizer or held[1] != len(self.tokenizer):
            held = self._identity_of = (self.tokenizer, len(self.tokenizer), self._serialise_tokenizer())
        return held[2]

    def _serialise_tokenizer(self) -> str:
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None:
            return repr(sorted(self.tokenizer.get_vocab().items()))
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        return json.dumps(spec, sort_keys=True)

    def settings(self, kind: Kind) -> dict:
        """Everything besides the text that determines an embedding (the cache key)."""
        return {
            "fingerprint": self.fingerprint_for(kind),
            "prompt": self.prompts[kind],
            "max_length": self.max_length,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "precision": self.precision,
        }
