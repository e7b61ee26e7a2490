import numpy as np
import pytest
import torch

from recft.model.adapters import apply_adapter, trainable_parameters

from conftest import PASSAGES, QUERIES, train_steps


def test_lora_trains_only_adapter_weights(tiny_encoder):
    base = {k: v.clone() for k, v in tiny_encoder.model.state_dict().items()}
    apply_adapter(tiny_encoder, "lora", rank=4, alpha=8, dropout=0.0)
    trainable = [n for n, p in tiny_encoder.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    train_steps(tiny_encoder)
    for key, value in tiny_encoder.model.state_dict().items():
        plain = key.removeprefix("base_model.model.").replace(".base_layer.", ".")
        if "lora_" not in key:
            assert torch.equal(value, base[plain]), key
    assert any(not torch.all(v == 0) for k, v in tiny_encoder.model.state_dict().items() if "lora_B" in k)


def test_query_lora_leaves_passage_embeddings_bit_identical(tiny_encoder):
    before_p = tiny_encoder.encode(PASSAGES, "passage", show_progress=False)
    before_q = tiny_encoder.encode(QUERIES, "query", show_progress=False)
    fingerprint = tiny_encoder.fingerprint_for("passage")
    apply_adapter(tiny_encoder, "query_lora", rank=4, alpha=8, dropout=0.0)
    train_steps(tiny_encoder)
    after_p = tiny_encoder.encode(PASSAGES, "passage", show_progress=False)
    assert np.array_equal(before_p, after_p)
    assert not np.allclose(before_q, tiny_encoder.encode(QUERIES, "query", show_progress=False))
    assert tiny_encoder.fingerprint_for("passage") == fingerprint  # cached corpus + index stay valid
    assert tiny_encoder.fingerprint_for("query") != fingerprint


@pytest.mark.parametrize("kind", ["full", "last_layer"])
def test_full_and_last_layer(tiny_encoder, kind):
    apply_adapter(tiny_encoder, kind)
    trainable, total = trainable_parameters(tiny_encoder)
    assert (trainable == total) == (kind == "full") and trainable > 0
    if kind == "last_layer":
        names = [n for n, p in tiny_encoder.model.named_parameters() if p.requires_grad]
        assert all("layer.1." in n for n in names)


def test_loss_falls(tiny_encoder):
    apply_adapter(tiny_encoder, "full")
    losses = train_steps(tiny_encoder, steps=15, lr=1e-3)
    assert losses[-1] < 0.5 * losses[0]


def test_unknown_adapter():
    with pytest.raises(ValueError, match="adapter must be one of"):
        apply_adapter(None, "prefix")
