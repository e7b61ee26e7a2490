"""Known third-party noise is dropped message by message; every other warning still shows."""

import logging
import warnings

from recft.common.noise import QUIET_INFO_LOGGERS, quiet_known_noise


def test_only_the_known_messages_are_dropped():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_noise()
        warnings.warn(
            "`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning, stacklevel=1
        )
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", DeprecationWarning, stacklevel=1)
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
        warnings.warn(
            "The number of training batches (2) is smaller than the logging interval", UserWarning, stacklevel=1
        )
    assert [str(w.message) for w in caught] == [
        "something else is deprecated",
        "The number of training batches (2) is smaller than the logging interval",
    ]
    assert all(logging.getLogger(name).level == logging.WARNING for name in QUIET_INFO_LOGGERS)
