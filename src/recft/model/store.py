"""Version folders on disk: how an encoder (and moved passage vectors) is written, and read back.

Single-tower encoders (``lora``, ``full``, ``last_layer``) are stored merged, as a sentence-
transformers folder (``model/``): a new cycle starts from those weights and puts a fresh adapter on
top. A ``query_lora`` encoder stores only its query adapter (``query_adapter/``); its passages are
always the base model's, so the corpus index built for the base serves every such version, and a
new cycle keeps training the same adapter. A version that moves passage vectors instead of weights
(NUDGE) stores them in ``passage_overrides.npz``, beside the encoder version they belong to — or,
when a trained candidate moved them too (``adapter.nudge``), in its own folder beside its encoder.
Every folder appears complete or not at all (written under a temp name, then renamed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from recft.common.atomic import new_folder
from recft.common.errors import RecftError, instantiate
from recft.model.encoder import BiEncoder
from recft.model.export import export_sentence_transformers

OVERRIDES_FILE = "passage_overrides.npz"


class StoreError(RecftError, ValueError):
    """A version folder that cannot be read."""


def save_encoder(encoder: BiEncoder, folder: str | Path, moved=None) -> str:
    """Write ``encoder`` into ``folder`` (which must not exist yet) — with ``moved`` (a NUDGE version of
    this encoder's golden corpus, ``recft.nudge.on_top``) beside it, in the same folder — and return
    the version kind."""
    with new_folder(folder) as tmp:
        if moved is not None:
            moved.write_into(tmp)
        if encoder.passage_uses_base:
            encoder.model.save_pretrained(tmp / "query_adapter")
            return "query_lora"
        export_sentence_transformers(encoder, tmp / "model")
        return "merged"


def check_stored(kind: str, folder: str | Path) -> Path:
    """The folder of a version of ``kind`` (not ``base``), refused when what it holds is not there."""
    folder = Path(folder)
    stored = folder / ("query_adapter" if kind == "query_lora" else "model")
    if not stored.is_dir():
        raise StoreError(f"{stored}: a {kind} version's folder is missing (moved or deleted)")
    return folder


def load_encoder(kind: str, folder: str | Path | None, encoder_cfg: DictConfig, trainable: bool = False) -> BiEncoder:
    """The encoder a version folder of ``kind`` holds (``base``: the configured model itself)."""
    if kind == "base":
        return instantiate(encoder_cfg)
    folder = check_stored(kind, folder)
    if kind == "query_lora":
        from peft import PeftModel

        encoder = instantiate(encoder_cfg)
        encoder.model = PeftModel.from_pretrained(encoder.model, str(folder / "query_adapter"), is_trainable=trainable)
        encoder.passage_uses_base = True
        return encoder
    return instantiate(encoder_cfg, name_or_path=str(folder / "model"))


def save_overrides(folder: Path, doc_ids: list[str], vectors: np.ndarray) -> None:
    np.savez(folder / OVERRIDES_FILE, doc_ids=np.array(doc_ids, dtype=str), vectors=vectors)


def load_overrides(folder: str | Path) -> dict[str, np.ndarray]:
    """{doc id: vector} of a version that moved passage vectors."""
    path = Path(folder) / OVERRIDES_FILE
    try:
        with np.load(path) as arrays:
            doc_ids, vectors = arrays["doc_ids"].tolist(), arrays["vectors"]
    except (OSError, KeyError, ValueError) as err:
        raise StoreError(f"{path}: not readable passage overrides ({err})") from None
    if len(doc_ids) != len(vectors):
        raise StoreError(f"{path}: {len(doc_ids)} doc ids but {len(vectors)} vectors")
    return dict(zip(doc_ids, vectors))


def has_overrides(folder: str | Path) -> bool:
    return (Path(folder) / OVERRIDES_FILE).is_file()


def apply_overrides(doc_emb: np.ndarray, doc_ids: list[str], overrides) -> np.ndarray:
    """A copy of ``doc_emb`` with the rows of ``overrides``' documents replaced (others untouched)."""
    doc_emb = np.array(doc_emb, copy=True)
    for row, doc_id in enumerate(doc_ids):
        if doc_id in overrides:
            doc_emb[row] = overrides[doc_id]
    return doc_emb
