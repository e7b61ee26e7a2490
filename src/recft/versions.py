"""Model versions on disk: how a registry entry becomes an encoder again, and back.

Single-tower versions (``lora``, ``full``, ``last_layer``) are stored merged, as a sentence-
transformers folder (``model/``): a new cycle starts from those weights and puts a fresh adapter on
top. A ``query_lora`` version stores only its query adapter (``query_adapter/``); its passages are
always the base model's, so the corpus index built for the base serves every such version, and a
new cycle keeps training the same adapter.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from recft.encoder import BiEncoder
from recft.export import export_sentence_transformers
from recft.registry import Version


def save_encoder(encoder: BiEncoder, folder: str | Path) -> str:
    """Write ``encoder`` into ``folder`` (which must not exist yet); return the version kind."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if encoder.passage_uses_base:
        encoder.model.save_pretrained(tmp / "query_adapter")
        kind = "query_lora"
    else:
        export_sentence_transformers(encoder, tmp / "model")
        kind = "merged"
    tmp.rename(folder)  # the version folder appears complete or not at all
    return kind


def load_encoder(version: Version | None, encoder_cfg: DictConfig, trainable: bool = False) -> BiEncoder:
    """Build the encoder a version describes (``None`` or a ``base`` version: the configured model)."""
    if version is None or version.kind == "base":
        return instantiate(encoder_cfg)
    folder = Path(version.path)
    if version.kind == "query_lora":
        from peft import PeftModel

        encoder = instantiate(encoder_cfg)
        encoder.model = PeftModel.from_pretrained(encoder.model, str(folder / "query_adapter"), is_trainable=trainable)
        encoder.passage_uses_base = True
        return encoder
    return instantiate(encoder_cfg, name_or_path=str(folder / "model"))
