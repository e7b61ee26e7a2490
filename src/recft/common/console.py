"""Rich consoles shared by the entry points: tables go to stdout, progress and notes to stderr.

When stdout is not a terminal (CI logs, ``| tee``), rich would wrap tables at 80 columns and cut
the numbers; a fixed wide console keeps every figure readable in a log.
"""

from __future__ import annotations

import sys

from rich.console import Console

err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def out() -> Console:
    return Console(width=None if sys.stdout.isatty() else 200)
