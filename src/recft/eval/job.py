"""``recft evaluate``: one encoder on one source — table on stdout, ``report.json`` in the run folder."""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recft.common import console as console_module
from recft.common.errors import instantiate
from recft.data.pair_sets import configured_pair_source
from recft.data.sources import Source, SourceSpec, load_source
from recft.eval.evaluate import evaluate_dataset, render
from recft.eval.report import Report
from recft.eval.settings import EvalSettings
from recft.model.cache import EmbeddingCache

console = console_module.err


def evaluation_source(cfg: DictConfig) -> Source:
    """The data source's split, or — with ``pairs.path`` — the pair file ranked against its corpus."""
    pairs, spec = cfg.get("pairs") or {}, SourceSpec.from_config(cfg.data, "data")
    if not pairs.get("path"):
        return load_source(spec, cfg.seed)
    source, _ = configured_pair_source(pairs, spec, cfg.seed, Path(pairs.path).stem)
    return source


def evaluate_job(cfg: DictConfig, run_dir: Path) -> Report:
    source = evaluation_source(cfg)
    baseline = Report.load(cfg.eval.baseline) if cfg.eval.baseline else None
    encoder = instantiate(cfg.encoder)
    console.print(f"{source.dataset!r}; encoder {encoder.name} ({encoder.precision} on {encoder.device_})")
    total = time.perf_counter()
    settings, cache = EvalSettings.from_config(cfg), EmbeddingCache.from_config(cfg)
    index_dir = run_dir / "index" if cfg.eval.save_index else None
    report = evaluate_dataset(
        encoder, source.dataset, settings, cache, source.min_relevance, source.spec.pairs, index_dir
    )
    report.timings["total_s"] = time.perf_counter() - total
    report.config["hydra"] = OmegaConf.to_container(cfg, resolve=True)
    console_module.out().print(render(report, baseline))
    path = report.save(run_dir / "report.json")
    timings = report.timings
    rate = f", {timings['passages_per_s']:.1f} passages/s" if "passages_per_s" in timings else " (corpus cached)"
    console.print(f"wall {timings['total_s']:.1f} s{rate}")
    print(path)
    return report
