"""The error of a candidate that cannot be made as asked.

Its own module, below every other training module, so that the training settings (read before any
maker exists) can refuse a value with the same error the makers raise, without importing them.
"""

from __future__ import annotations

from recft.common.errors import RecftError


class CandidateError(RecftError, ValueError):
    """A candidate that cannot be made from this start point or these pairs; the message says why."""
