"""What a cycle can conclude: the one list of verdict names, and what ``recft cycle`` exits with for each.

The gate decides six of them (``recft.loop.gate.promotion``); a cycle that never reaches the gate — too few
pairs, or a dev split that hands the incumbent back — is SKIPPED. The history, the figures, the
registry's notes and the exit code all read these names, so a new verdict is added here, once.
"""

from __future__ import annotations

PROMOTED = "PROMOTED"
PENDING_APPROVAL = "PENDING_APPROVAL"
REJECTED = "REJECTED"
ROLLBACK = "ROLLBACK"
FORGETTING_DETECTED = "FORGETTING_DETECTED"
INCONCLUSIVE = "INCONCLUSIVE"
SKIPPED = "SKIPPED"  # decided before the gate: nothing was judged, no look spent
ABANDONED = "ABANDONED"  # a look's verdict until the gate's is written: a run that died after spending it

EXIT_CODES = {  # what `recft cycle` exits with, by the last cycle's verdict (0 also: nothing new arrived)
    PROMOTED: 0,
    PENDING_APPROVAL: 3,
    INCONCLUSIVE: 4,
    REJECTED: 5,
    ROLLBACK: 6,
    FORGETTING_DETECTED: 7,
    SKIPPED: 8,
}
VERDICTS = tuple(EXIT_CODES)
