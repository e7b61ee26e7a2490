"""One or more recursive fine-tuning cycles: new pairs → candidate → gate → promote / wait / roll back.

    recft cycle                                        # one cycle on the default setup
    recft cycle loop.cycles=3 loop.schedule=[0.4,0.3,0.3]
    recft cycle +experiment=nika_cycles                # staged arrivals + an off-distribution batch
    recft cycle adapter=nudge                          # a NUDGE candidate through the same gate
    recft cycle arrivals=inbox/                        # the team's own pair files (arrivals.path=inbox/)
    recft manage history

Each cycle trains a candidate starting from the incumbent, evaluates it on the golden set and every
probe (the incumbent's reports are cached in the registry), asks the gate, acts on the verdict, and
appends one line to ``history.jsonl`` (see ``recft.loop.orchestration.run``, and
``recft.loop.orchestration.cycle`` for one cycle).
``python -m recft.cycle`` is the same command.

Exit codes, for schedulers (the last cycle's verdict): 0 PROMOTED or nothing new, 3
PENDING_APPROVAL, 4 INCONCLUSIVE, 5 REJECTED, 6 ROLLBACK, 7 FORGETTING_DETECTED, 8 SKIPPED (too
few pairs), 2 bad input or configuration.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from recft.common import config as _config
from recft.common.entry import guarded, leave, run_hydra


@hydra.main(version_base="1.3", config_path=str(_config.CONF_DIR), config_name="cycle")
def cycle(cfg: DictConfig) -> None:
    from recft.loop.gate.verdicts import EXIT_CODES
    from recft.loop.orchestration.run import run_loop
    from recft.preflight import check_settings

    def run() -> list[dict]:
        check_settings(cfg, "cycle")
        return run_loop(cfg)

    lines = guarded(run)
    leave(EXIT_CODES.get(lines[-1]["verdict"], 0) if lines else 0)


def main(argv: list[str] | None = None) -> int:
    """``arrivals=PATH`` is short for ``arrivals.path=PATH``, ``recipe=FILE.yaml`` for ``recipe_file=FILE``;
    then Hydra."""
    argv = sys.argv[1:] if argv is None else argv
    return run_hydra(cycle, _config.recipe_files(_config.short_paths(argv, ("arrivals",))))


if __name__ == "__main__":
    sys.exit(main())
