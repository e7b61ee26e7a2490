"""Per-domain query adapters on one base model: each domain's queries go through its own LoRA.

A support team with several products keeps one corpus index — passages are embedded by the frozen
base model, as with ``query_lora`` — and one small query-side adapter per product, trained on that
product's pairs. peft holds them side by side as named adapters on one copy of the base weights, so
switching domain is ``set_adapter`` (no reload), and a query of domain A never passes through B's
adapter: only the active adapter's LoRA modules run, and the cache key (the encoder fingerprint)
covers only the active adapter's weights.

    router = DomainEncoder(base_encoder, {"scifact": "runs/a/candidate/query_adapter",
                                          "cranfield": "runs/b/candidate/query_adapter"})
    with router.domain("cranfield"):
        report = evaluate_set(router.encoder, cranfield_source, cache, settings)
    vectors = router.encode_queries(texts, domains)   # mixed domains, each through its own adapter
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from recft.common.errors import RecftError
from recft.model.encoder import BiEncoder


class DomainError(RecftError, ValueError):
    """A domain with no adapter, or adapters that cannot share one base."""


class DomainEncoder:
    def __init__(self, encoder: BiEncoder, adapters: Mapping[str, str | Path]):
        """``encoder``: the base model (no adapter yet); ``adapters``: domain → a saved query-side
        adapter folder (``candidate/query_adapter`` of a ``recft train adapter=query_lora`` run)."""
        from peft import PeftModel

        if not adapters:
            raise DomainError("DomainEncoder needs at least one domain adapter")
        names = list(adapters)
        model = PeftModel.from_pretrained(encoder.model, str(adapters[names[0]]), adapter_name=names[0])
        for name in names[1:]:
            model.load_adapter(str(adapters[name]), adapter_name=name)
        model.eval()
        encoder.model, encoder.passage_uses_base = model, True
        self.encoder, self.domains = encoder, tuple(names)

    def activate(self, domain: str) -> None:
        if domain not in self.domains:
            raise DomainError(f"no adapter for domain {domain!r} (domains: {', '.join(self.domains)})")
        self.encoder.model.set_adapter(domain)

    @contextmanager
    def domain(self, domain: str) -> Iterator[BiEncoder]:
        """The encoder with ``domain``'s adapter active (passages: the base model, whatever the domain)."""
        previous = self.encoder.model.active_adapter
        self.activate(domain)
        try:
            yield self.encoder
        finally:
            self.encoder.model.set_adapter(previous)

    def encode_queries(self, texts: Sequence[str], domains: Sequence[str]) -> np.ndarray:
        """Each query through its own domain's adapter, returned in input order."""
        if len(texts) != len(domains):
            raise DomainError(f"{len(texts)} queries but {len(domains)} domains")
        out = np.zeros((len(texts), self.encoder.dim), dtype=np.float32)
        for name in dict.fromkeys(domains):
            rows = [i for i, d in enumerate(domains) if d == name]
            with self.domain(name) as encoder:
                out[rows] = encoder.encode([texts[i] for i in rows], "query", show_progress=False)
        return out

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """The shared corpus side: the base model, one index for every domain."""
        return self.encoder.encode(list(texts), "passage", show_progress=False)
