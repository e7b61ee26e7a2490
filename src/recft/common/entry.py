"""Every verb's way out, the same for all: a ``RecftError`` is one line (``error: …``) and exit 2, and
every ``main(argv)`` returns its exit code.

Exit codes of every verb: 0 done; 2 bad input, configuration or registry state; 1 Hydra's own
refusal of an override it cannot parse. ``recft cycle`` also exits with its last cycle's verdict
(``recft.loop.gate.verdicts.EXIT_CODES``: 3 PENDING_APPROVAL, 4 INCONCLUSIVE, 5 REJECTED, 6 ROLLBACK,
7 FORGETTING_DETECTED, 8 SKIPPED). Anything that is not a ``RecftError`` is a bug and keeps its
traceback.

A Hydra verb's task cannot return a code (Hydra drops the task's value, and an Optuna sweep needs
``recft train`` to return its objective), so inside one ``guarded`` leaves with ``SystemExit(2)``
and ``run_hydra`` turns any ``SystemExit`` back into the code ``main`` returns.
"""

from __future__ import annotations

import sys
from typing import Callable, TypeVar

from recft.common.errors import RecftError, report_error

T = TypeVar("T")


def run(action: Callable[[], int | None]) -> int:
    """An argparse verb's body: its code (None: 0), or 2 after the one-line error."""
    try:
        return int(action() or 0)
    except RecftError as err:
        return report_error(err)


def guarded(action: Callable[[], T], cleanup: Callable[[], None] | None = None) -> T:
    """A Hydra task's body: its value, or — after ``cleanup`` (a half-made run folder) and the one-line
    error — ``SystemExit(2)``."""
    from recft.common.noise import quiet_known_noise

    quiet_known_noise()  # after Hydra set up logging, before any library speaks
    try:
        return action()
    except RecftError as err:
        if cleanup is not None:
            cleanup()
        raise SystemExit(report_error(err)) from None


def leave(code: int) -> None:
    """Inside a Hydra task: leave with ``code`` unless it is 0."""
    if code:
        raise SystemExit(code)


def run_hydra(task: Callable[[], object], argv: list[str]) -> int:
    """Run a ``@hydra.main`` task on ``argv`` (Hydra reads ``sys.argv``) and return its exit code."""
    sys.argv = [sys.argv[0], *argv]
    try:
        task()
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0
