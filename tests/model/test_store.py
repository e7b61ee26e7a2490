import numpy as np
import pytest
from omegaconf import OmegaConf

from recft.model.adapters import apply_adapter
from recft.model.store import StoreError, apply_overrides, load_encoder, load_overrides, save_encoder, save_overrides

from conftest import train_steps

TEXTS = ["fleas live a year", "a wing in a slipstream"]


def encoder_cfg(model_dir):
    return OmegaConf.create(
        {
            "_target_": "recft.model.encoder.BiEncoder.from_pretrained",
            "name_or_path": str(model_dir),
            "max_length": 64,
            "device": "cpu",
        }
    )


def test_single_tower_and_query_lora_versions_round_trip(tiny_model_dir, tmp_path):
    for adapter in ("lora", "query_lora"):
        encoder = load_encoder("base", None, encoder_cfg(tiny_model_dir))
        apply_adapter(encoder, adapter, rank=4, alpha=8, dropout=0.0)
        train_steps(encoder)
        kind = save_encoder(encoder, tmp_path / adapter)
        assert kind == ("query_lora" if adapter == "query_lora" else "merged")
        loaded = load_encoder(kind, tmp_path / adapter, encoder_cfg(tiny_model_dir))
        for side in ("query", "passage"):
            assert np.allclose(loaded.encode(TEXTS, side, False), encoder.encode(TEXTS, side, False), atol=1e-5)
        assert loaded.passage_uses_base == (adapter == "query_lora")
        assert not list(tmp_path.glob(".*.tmp"))  # no half-written version folder left behind


def test_passage_overrides_round_trip_and_replace_only_their_rows(tmp_path):
    vectors = np.arange(8, dtype=np.float32).reshape(2, 4)
    save_overrides(tmp_path, ["d2", "d9"], vectors)
    overrides = load_overrides(tmp_path)
    assert list(overrides) == ["d2", "d9"]
    np.testing.assert_array_equal(overrides["d9"], vectors[1])
    embeddings = np.zeros((3, 4), dtype=np.float32)
    moved = apply_overrides(embeddings, ["d1", "d2", "d3"], overrides)
    np.testing.assert_array_equal(moved, [np.zeros(4), vectors[0], np.zeros(4)])
    assert not embeddings.any()  # the input is left as it was
    with pytest.raises(StoreError, match="not readable passage overrides"):
        load_overrides(tmp_path / "missing")
