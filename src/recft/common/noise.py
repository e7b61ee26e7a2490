"""Third-party output that is known noise, filtered one message at a time — never wholesale.

A cycle's terminal output is read by people deciding whether to trust a promotion; library chatter
between recft's lines (deprecations of internals recft does not call, Lightning's banner and tips)
buries the verdict. Each entry names the message it drops and why it is noise here; any other
warning still shows.
"""

from __future__ import annotations

import logging
import warnings

KNOWN_WARNINGS = (
    # transformers ≥ 4.5x warns inside its own gradient-checkpointing check, which peft calls: not our call
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
    # Lightning's _pytree on torch 2.13 uses a torch helper torch deprecated: Lightning's internals
    (Warning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
)
# Lightning's rank-zero INFO lines (GPU/TPU available, the litlogger tip, `Trainer.fit` stopped): what
# recft prints of a fit — pairs, parameters, epochs chosen on dev — already says it. Its warnings stay.
QUIET_INFO_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero")


def quiet_known_noise() -> None:
    """Drop the known noise above from this process's output (called by every Hydra verb's task)."""
    for category, message in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name in QUIET_INFO_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
