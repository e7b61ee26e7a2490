"""Fault-injection points, so tests can kill a real run (``kill -9``) at a known instant.

A run started with ``RECFT_PAUSE_AT=<name>`` prints ``paused at <name>`` and sleeps when it reaches
that point; the test then kills it and checks what it left behind. Without the variable this is a
no-op costing one dictionary lookup.
"""

from __future__ import annotations

import os
import sys
import time


def pause_point(name: str) -> None:
    if os.environ.get("RECFT_PAUSE_AT") == name:
        print(f"paused at {name}", file=sys.stdout, flush=True)
        time.sleep(600)
