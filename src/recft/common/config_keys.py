"""Reading one key of a composed config: there, of the right kind, or one line naming it.

Every stage's settings object (``TrainSettings``, ``LoopSettings``, ``GateConfig``) reads its keys
through here, so a key has one default — in its YAML file under ``conf/`` — and no second one in
Python: a key that is not there is refused with ``<key> is not set``, never filled in quietly, and a
value of the wrong kind is refused with the key, what it must be and what it was.
"""

from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig, OmegaConf

from recft.common.errors import ConfigError

ABSENT = object()
KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}


def convert(key: str, value: Any, kind: type | None, nullable: bool = False):
    """``value`` as ``kind`` (int, float, bool, str; None: as it is), None where the key may be null.
    A bool is never a number here and a number never a bool (``true`` for an epoch count is a typo); a
    float may be written as a string (YAML reads ``1e-4`` as one)."""
    if kind is None or (value is None and nullable):
        return value
    if kind is float and not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if math.isfinite(number):
            return number
    elif isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return kind(value)
    what = KINDS.get(kind, kind.__name__) + (" or null" if nullable else "")
    raise ConfigError(f"{key} must be {what}, got {value!r}")


def one_of(key: str, value, allowed) -> Any:
    """``value`` when it is one of ``allowed``; else one line naming the key and what it may be."""
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


def at_least(key: str, value: int | None, low: int) -> int | None:
    """``value`` (a whole number already read, or None for a key left null) unless it is below ``low``."""
    if value is not None and value < low:
        raise ConfigError(f"{key} must be a whole number >= {low}, got {value}")
    return value


def read_key(cfg: DictConfig, key: str, kind: type | None = None, nullable: bool = False, home: str = "conf/"):
    """``cfg``'s dotted ``key`` converted to ``kind``; a key that is not there has no fallback here:
    its default belongs in ``home`` (the YAML file that defines it)."""
    value = OmegaConf.select(cfg, key, default=ABSENT)
    if value is ABSENT:
        raise ConfigError(f"{key} is not set (its default belongs in {home})")
    if isinstance(value, DictConfig) or OmegaConf.is_list(value):
        value = OmegaConf.to_container(value, resolve=True)
    return convert(key, value, kind, nullable)
