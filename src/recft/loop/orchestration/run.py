"""One run of ``recft cycle``: everything checked before any work, the registry locked, the shared
``Loop`` built once, the cycles fed from the schedule or the inbox, and the figures redrawn.

A declared recipe that is missing or golden-tuned, a gate metric other than the ledger's, or a fixed
dev split fails here, before a model is loaded; under the cycle lock, candidates left undecided by
a cycle that died are rejected first.
"""

from __future__ import annotations

from omegaconf import DictConfig

from recft.common.errors import instantiate
from recft.eval.sets import EvalSettings, load_eval_sets
from recft.loop.gate.looks import check_ledger_metric, check_ledger_terms
from recft.loop.intake.schedule import LoopConfigError
from recft.loop.orchestration.context import Loop
from recft.loop.orchestration.cycle_figures import cycle_figures
from recft.loop.orchestration.domain_registries import scope
from recft.loop.orchestration.feed import run_inbox, run_schedule
from recft.loop.orchestration.loop_settings import CYCLE_DEV, OWN, LoopSettings
from recft.loop.storage.history import read_history
from recft.loop.storage.registry import Registry
from recft.model.cache import EmbeddingCache
from recft.training.job import load_training_data
from recft.training.recipes import Recipe, with_recipe


def abandon_dead_candidates(registry: Registry) -> None:
    """Holding the cycle lock, any undecided candidate is from a cycle that died."""
    for version in registry.undecided():
        registry.reject(version.id, reason="abandoned: the cycle that trained it did not finish")


def run_loop(cfg: DictConfig) -> list[dict]:
    """Cycles on the simulation schedule, or on the arrivals inbox when ``arrivals.path`` is set; the
    history lines of the cycles run (none when nothing new arrived)."""
    cfg = with_recipe(cfg)  # recipe=X: the cycle trains X alone
    settings = LoopSettings.from_config(cfg)
    registry = Registry(settings.registry_root)
    history_path = registry.root / "history.jsonl"
    for ref in settings.loop.recipes:
        if ref != OWN:
            Recipe.load(ref).apply(cfg)  # a missing, unreadable or golden-tuned recipe fails before any work
    with registry.cycle_lock():
        looks = registry.looks()
        check_ledger_metric(settings.gate.metric, looks, read_history(history_path))
        check_ledger_terms(settings.gate, registry.ledger_terms(), len(looks))
        abandon_dead_candidates(registry)
        loop = shared_loop(cfg, settings, registry)
        first = len(read_history(history_path)) + 1
        run = run_inbox if settings.arrivals.path else run_schedule
        lines = run(loop, history_path, first)
    if lines:
        for path in cycle_figures(history_path, registry.root / "figures"):
            print(path)
        print(history_path)
    return lines


def shared_loop(cfg: DictConfig, settings: LoopSettings, registry: Registry) -> Loop:
    """What every cycle of the run shares: the training data and eval sets (cut to the domain), loaded once."""
    training, dev = load_training_data(cfg)
    if dev is not None:
        raise LoopConfigError(CYCLE_DEV)
    sets = load_eval_sets(cfg)
    if settings.domain:
        training, sets = scope(settings.domain, settings.golden, training, sets)
    cache, eval_settings = EmbeddingCache.from_config(cfg), EvalSettings.from_config(cfg)
    maker = instantiate(cfg.adapter)
    held = {"sealed": registry.sealed("golden"), "dev": registry.sealed("dev")}
    return Loop(settings, cfg, registry, sets, cache, eval_settings, maker, training, **held).with_golden()
