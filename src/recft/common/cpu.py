"""Which CPU a number came from: every timing names it (machines here differ several-fold)."""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo_field(name: str) -> str | None:
    try:
        lines = CPUINFO.read_text(encoding="ascii", errors="ignore").splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(name)), None)


def cpu_model() -> str:
    return _cpuinfo_field("model name") or platform.processor() or "unknown"


def cpu_has_bf16() -> bool:
    """True when the CPU advertises native bf16 arithmetic (AVX-512 BF16 or AMX-BF16)."""
    flags = set((_cpuinfo_field("flags") or "").split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def cpu_description() -> dict:
    import os

    return {"model": cpu_model(), "cores": os.cpu_count(), "native_bf16": cpu_has_bf16()}
