"""Per-domain routing: a query of domain A is embedded by A's adapter alone, never through B's."""

import numpy as np
import pytest
import torch

from recft.model.adapters import apply_adapter
from recft.model.cache import EmbeddingCache
from recft.model.domain_encoder import DomainEncoder, DomainError
from recft.model.encoder import BiEncoder

QUERIES = ["how long do fleas live", "wing in a slipstream", "stem cells"]


def fresh(tiny_model_dir):
    return BiEncoder.from_pretrained(str(tiny_model_dir), max_length=32, device="cpu")


def saved_adapter(tiny_model_dir, folder, seed):
    """A query-side adapter with random (non-zero) LoRA weights, saved like a train run's candidate."""
    encoder = apply_adapter(fresh(tiny_model_dir), "query_lora", rank=4, alpha=8, dropout=0.0)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, parameter in encoder.model.named_parameters():
            if "lora_" in name:
                parameter.normal_(0, 0.5)
    encoder.model.save_pretrained(folder)
    return encoder.eval()


@pytest.fixture
def two_domains(tiny_model_dir, tmp_path):
    alone = {d: saved_adapter(tiny_model_dir, tmp_path / d, seed) for d, seed in (("sci", 1), ("aero", 2))}
    router = DomainEncoder(fresh(tiny_model_dir), {"sci": tmp_path / "sci", "aero": tmp_path / "aero"})
    return router, alone


def test_each_domain_embeds_like_its_adapter_alone_and_passages_use_the_base(tiny_model_dir, two_domains):
    router, alone = two_domains
    for domain, encoder in alone.items():
        with router.domain(domain) as routed:
            assert np.allclose(routed.encode(QUERIES, "query"), encoder.encode(QUERIES, "query"), atol=1e-6)
    sci, aero = (alone[d].encode(QUERIES, "query") for d in ("sci", "aero"))
    assert not np.allclose(sci, aero, atol=1e-3)
    base = fresh(tiny_model_dir).eval().encode(QUERIES, "passage")
    assert np.allclose(router.encode_passages(QUERIES), base, atol=1e-6)
    mixed = router.encode_queries(QUERIES, ["aero", "sci", "aero"])
    assert np.allclose(mixed[[0, 2]], aero[[0, 2]], atol=1e-6) and np.allclose(mixed[1], sci[1], atol=1e-6)


def test_a_query_of_one_domain_never_runs_the_other_domains_adapter(two_domains):
    router, _ = two_domains
    calls = {"sci": 0, "aero": 0}
    for name, module in router.encoder.model.named_modules():
        for domain in calls:
            if name.endswith(f"lora_A.{domain}"):
                module.register_forward_hook(lambda *_, d=domain: calls.__setitem__(d, calls[d] + 1))
    router.encode_queries(QUERIES, ["sci"] * 3)
    assert calls["sci"] > 0 and calls["aero"] == 0
    router.encode_passages(QUERIES)
    assert calls["aero"] == 0  # passages: the base model, no adapter at all


def test_cache_keys_differ_per_domain(two_domains, tmp_path):
    router, alone = two_domains
    cache = EmbeddingCache(tmp_path / "cache")
    with router.domain("sci") as encoder:
        sci = cache.encode(encoder, QUERIES, "query", show_progress=False)
    with router.domain("aero") as encoder:
        aero = cache.encode(encoder, QUERIES, "query", show_progress=False)  # not sci's cached vectors
    assert np.allclose(aero, alone["aero"].encode(QUERIES, "query"), atol=1e-6) and not np.allclose(sci, aero)
    with pytest.raises(DomainError, match="no adapter for domain 'law'"):
        router.activate("law")
