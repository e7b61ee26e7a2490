"""How a registry version ranks passages again: its encoder, and the passage vectors it moved (if any).

A version that moves vectors instead of weights (NUDGE) names its ``encoder_version`` in its
config; everything else is its own encoder, with the vectors it moved beside it when it moved some
(``adapter.nudge``). Nothing here knows which method made a version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from omegaconf import DictConfig

from recft.loop.storage.registry import Registry, Version
from recft.model.encoder import BiEncoder
from recft.model.store import has_overrides, load_encoder, load_overrides


def encoder_version(registry: Registry, version: Version) -> Version:
    """The version whose encoder embeds queries and passages for ``version``."""
    named = version.config.get("encoder_version")
    return registry.get(named) if named else version


@dataclass
class LoadedVersion:
    encoder: BiEncoder
    overrides: Mapping[str, np.ndarray] | None  # moved passage vectors of the golden corpus


def load_version(registry: Registry, version: Version, encoder_cfg: DictConfig, trainable: bool = False):
    base = encoder_version(registry, version)
    encoder = load_encoder(base.kind, base.path, encoder_cfg, trainable)
    moved = base.id != version.id or (version.path is not None and has_overrides(version.path))
    return LoadedVersion(encoder, load_overrides(version.path) if moved else None)
