"""One error family: every mistake a user can make — a setting, an input file, a registry state — is a
``RecftError``, and every entry point prints it as one line (``error: …``) and exits 2.

Each project error names what is wrong: the config key, the value and what is allowed, or the file
(and line). Anything that is not a ``RecftError`` is a bug and keeps its traceback. The project's
error classes keep the builtin they always derived from too (``DataError(RecftError, ValueError)``),
so an ``except ValueError`` written before the family still catches them.

Hydra re-raises whatever a ``_target_`` throws as its own ``InstantiationException`` (a multi-line
block, exit 1); ``instantiate`` here unwraps it to the project error inside.
"""

from __future__ import annotations

import sys


class RecftError(Exception):
    """Bad input, configuration or state; the message says which key or file, and why."""


class ConfigError(RecftError, ValueError):
    """A setting whose value is not allowed; the message names the key, the value and what is allowed."""


def instantiate(node, *args, **kwargs):
    """``hydra.utils.instantiate``; a project error raised by a target comes out as itself."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(node, *args, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, RecftError):
            cause = cause.__cause__
        if cause is None:
            raise
        raise cause from None


def report_error(err: RecftError) -> int:
    """Print ``err`` as the one line every entry point gives; the exit status for it (2)."""
    print(f"error: {err}", file=sys.stderr)
    return 2
