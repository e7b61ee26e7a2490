"""``recft train``: make one candidate from the configured encoder, outside any registry, and report it.

The same makers a cycle uses (``adapter=lora|query_lora|full|last_layer|nudge|nudge_m``), started
from the base model; the run folder gets what a registry version would hold (``candidate/``) and
``summary.json`` (zero-shot → candidate, paired Δ with 95 % CIs on the golden set and every probe).
"""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from recft.common import console as console_module
from recft.data.sources import SourceSpec, load_source
from recft.eval.sets import EvalSettings, evaluate_sets, load_eval_sets
from recft.model.cache import EmbeddingCache
from recft.training.candidate import MakeContext, StartPoint, TrainingData, check_enough_pairs
from recft.training.summary import write_summary

console = console_module.err


def load_training_data(cfg: DictConfig) -> TrainingData:
    """The golden source's training split, and the replay source (``replay=...``) when there is one."""
    train = load_source(SourceSpec.from_config(cfg.data, "data").training(), cfg.seed)
    replay = []
    if cfg.replay.source:
        replay = load_source(SourceSpec.from_config(cfg.replay.source, "replay.source"), cfg.seed).pairs
    return TrainingData(train.pairs, replay, float(cfg.replay.alpha), train.dataset)


def train_job(cfg: DictConfig, run_dir: Path) -> dict:
    data = load_training_data(cfg)
    check_enough_pairs(len(data.pairs), int(cfg.train.min_pairs), bool(cfg.train.force))
    sets = load_eval_sets(cfg)
    settings = EvalSettings.from_config(cfg)
    cache = EmbeddingCache(cfg.cache_dir)
    encoder = instantiate(cfg.encoder)
    start = StartPoint("base", None, evaluate_sets(encoder, sets, cache, settings), lambda trainable: encoder)
    ctx = MakeContext(cfg, sets, cfg.data.name, cache, settings, cfg.seed)
    candidate = instantiate(cfg.adapter).make(start, data, ctx)
    kind = candidate.save(run_dir / "candidate")
    console.print(f"made a {kind} candidate in {candidate.wall_s:.0f} s")
    extra = {
        "pairs": {"target": len(data.pairs), "replay": len(data.replay), "alpha": data.alpha},
        "wall_s": candidate.wall_s,
        **candidate.summary,
        "settings": candidate.settings,
        "model_dir": str(run_dir / "candidate"),
        "kind": kind,
    }
    return write_summary(run_dir, candidate.history, list(cfg.eval.report_metrics), cfg.seed, extra)
