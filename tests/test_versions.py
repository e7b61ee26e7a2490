import numpy as np
from omegaconf import OmegaConf

from recft.adapters import apply_adapter
from recft.registry import Registry
from recft.versions import load_encoder, save_encoder

from test_adapters import train_steps

TEXTS = ["fleas live a year", "a wing in a slipstream"]


def encoder_cfg(model_dir):
    return OmegaConf.create(
        {
            "_target_": "recft.encoder.BiEncoder.from_pretrained",
            "name_or_path": str(model_dir),
            "max_length": 64,
            "device": "cpu",
        }
    )


def test_single_tower_and_query_lora_versions_round_trip(tiny_model_dir, tmp_path):
    registry = Registry(tmp_path / "registry")
    base = registry.add("base", "base", None, status="incumbent")
    for adapter in ("lora", "query_lora"):
        encoder = load_encoder(base, encoder_cfg(tiny_model_dir))
        apply_adapter(encoder, adapter, rank=4, alpha=8, dropout=0.0)
        train_steps(encoder)
        kind = save_encoder(encoder, tmp_path / adapter)
        version = registry.add(adapter, kind, str(tmp_path / adapter), parent=base.id)
        loaded = load_encoder(version, encoder_cfg(tiny_model_dir))
        for side in ("query", "passage"):
            assert np.allclose(loaded.encode(TEXTS, side, False), encoder.encode(TEXTS, side, False), atol=1e-5)
        assert loaded.passage_uses_base == (adapter == "query_lora")
        assert not list(tmp_path.glob(".*.tmp"))  # no half-written version folder left behind
