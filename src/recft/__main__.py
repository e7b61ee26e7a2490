"""``python -m recft`` is the ``recft`` command."""

import sys

from recft.cli import main

sys.exit(main())
