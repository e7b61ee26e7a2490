"""``recft train``: make one candidate from the configured encoder, outside any registry, and report it.

The same makers a cycle uses (``adapter=lora|query_lora|full|last_layer|nudge|nudge_m``), started
from the base model; the run folder gets what a registry version would hold (``candidate/``) and
``summary.json`` (zero-shot → candidate, paired Δ with 95 % CIs on the golden set and every probe).

Tune on ``dev``, decide on ``golden``: a seeded share of the training queries (``dev.share``) is held
out and never trains; it and the probes are validated every epoch and the sweep objective reads it.
The golden set is measured twice — zero-shot and once at the end — unless ``tune_on=golden`` is
asked for, which the summary records.
"""

from __future__ import annotations

import dataclasses
import resource
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recft.common import console as console_module
from recft.common.cpu import cpu_description
from recft.common.errors import instantiate
from recft.data.pair_sets import configured_pair_source
from recft.data.sources import Source, SourceSpec, hold_out_queries, load_source
from recft.eval.sets import evaluate_sets, load_eval_sets
from recft.eval.settings import EvalSettings
from recft.eval.slices import SliceSpec, build_slices, slice_deltas
from recft.model.cache import EmbeddingCache
from recft.training.budget import selection_spec
from recft.training.candidate import CandidateError, MakeContext, StartPoint, TrainingData, check_enough_pairs
from recft.training.maker import TrainedMaker
from recft.training.recipes import with_recipe
from recft.training.settings import TrainSettings
from recft.training.summary import write_summary

console = console_module.err


TUNE_ON = ("dev", "golden")


def load_training_data(cfg: DictConfig) -> tuple[TrainingData, Source | None]:
    """The golden source's training split minus the dev queries, the dev set (``dev.share`` of the
    training queries, whole document groups by default — ``dev.group_by`` —, or the named ``dev.split``;
    None when both are off), and the replay pairs."""
    spec = SourceSpec.from_config(cfg.data, "data")
    train, negatives = training_source(cfg, spec)
    dev = None
    if cfg.dev.split:
        dev = load_source(dataclasses.replace(spec, name="dev", split=cfg.dev.split, corpus_sample=None), cfg.seed)
    elif cfg.dev.share:
        train, dev = hold_out_queries(train, float(cfg.dev.share), cfg.seed, group_by=str(cfg.dev.group_by))
    replay = []
    if cfg.replay.source:
        replay = load_source(SourceSpec.from_config(cfg.replay.source, "replay.source"), cfg.seed).pairs
    return TrainingData(train.pairs, replay, float(cfg.replay.alpha), train.dataset, negatives), dev


def training_source(cfg: DictConfig, spec: SourceSpec) -> tuple[Source, dict]:
    """The golden source's training split, or — with ``pairs.path`` — the pair file (indexing into that
    split's corpus, named as the golden source so mining and NUDGE find its documents) and its negatives."""
    pairs = cfg.get("pairs") or {}
    if not pairs.get("path"):
        return load_source(spec.training(), cfg.seed), {}
    # the training split's corpus (a BEIR folder has one corpus for all its splits)
    corpus_spec = spec.training() if spec.train_split else dataclasses.replace(spec, corpus_sample=None)
    return configured_pair_source(pairs, corpus_spec, cfg.seed, spec.name)


def tuning_sets(cfg: DictConfig, sets: dict[str, Source]) -> tuple[str, ...]:
    """The sets validated every epoch: the dev set and the probes, or — only when ``tune_on=golden`` is
    asked for — the golden set too (said in the console, the summary and the registry)."""
    tune_on = cfg.tune_on
    if tune_on not in TUNE_ON:
        raise CandidateError(f"tune_on must be dev or golden, got {tune_on!r}")
    if tune_on == "golden":
        console.print("[bold]tune_on=golden[/bold]: the golden set is validated every epoch and the objective reads it")
        return tuple(sets)
    return tuple(name for name in sets if name != cfg.data.name)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB): what a model of this size needs."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def with_dev(sets: dict[str, Source], golden: str, dev: Source | None) -> dict[str, Source]:
    """The eval sets with ``dev`` right after the golden set."""
    if dev is None:
        return sets
    return {golden: sets[golden], "dev": dev, **{name: s for name, s in sets.items() if name != golden}}


def golden_slices(spec: SliceSpec, golden: Source, data: TrainingData, history: dict, cfg: DictConfig) -> dict:
    """The golden set's zero-shot → candidate Δ per query slice (``eval.slices``), every report metric."""
    dataset = golden.dataset
    trained = {p.doc_id for p in data.pairs}
    slices = build_slices(spec, dataset.queries, dataset.qrels, trained, golden.spec.min_relevance)
    first, last = history[0][cfg.data.name], history[max(history)][cfg.data.name]
    return {
        "sizes": {name: len(ids) for name, ids in slices.items()},
        "deltas": slice_deltas(first, last, slices, list(cfg.eval.report_metrics), cfg.seed),
    }


def checked_selection(cfg: DictConfig, maker) -> SourceSpec | None:
    """``train.forgetting_budget``'s selection probe, refused before any work when it is a gated or
    reported set, or when the maker has no epochs nor merge weights to choose among (NUDGE)."""
    spec = selection_spec(cfg)
    if spec is not None and not isinstance(maker, TrainedMaker):
        raise CandidateError(
            f"train.forgetting_budget chooses among a trained candidate's epochs and merge weights; "
            f"adapter={cfg.adapter.kind} has none"
        )
    return spec


def make_candidate(cfg: DictConfig, maker, start: StartPoint, data, sets, **context):
    """One candidate from ``start`` on ``data`` under ``cfg``'s training settings: the one path ``recft train``
    and every recipe of a cycle take — the selection probe checked and loaded (``train.forgetting_budget``'s),
    the ``MakeContext`` built from ``context`` (golden, cache, settings, log folder, …), the maker run."""
    spec = checked_selection(cfg, maker)
    selection = load_source(spec, int(cfg.seed)) if spec else None
    ctx = MakeContext(TrainSettings.from_config(cfg), sets, selection=selection, **context)
    return maker.make(start, data, ctx)


def train_job(cfg: DictConfig, run_dir: Path) -> dict:
    cfg = with_recipe(cfg)
    TrainSettings.from_config(cfg)  # every training setting checked before any work
    maker = instantiate(cfg.adapter)
    checked_selection(cfg, maker)  # so is the selection probe
    data, dev = load_training_data(cfg)
    check_enough_pairs(len(data.pairs), int(cfg.train.min_pairs), bool(cfg.train.force))
    sets = with_dev(load_eval_sets(cfg), cfg.data.name, dev)
    settings = EvalSettings.from_config(cfg)
    cache = EmbeddingCache.from_config(cfg)
    encoder = instantiate(cfg.encoder)
    zero_shot = evaluate_sets(encoder, sets, cache, settings)
    start = StartPoint("base", None, zero_shot, lambda trainable: encoder if trainable else instantiate(cfg.encoder))
    tuned_on = cfg.tune_on
    context = {"golden": cfg.data.name, "cache": cache, "settings": settings, "tuned_on": tuned_on}
    candidate = make_candidate(cfg, maker, start, data, sets, per_epoch=tuning_sets(cfg, sets), **context)
    kind = candidate.save(run_dir / "candidate")
    console.print(f"made a {kind} candidate in {candidate.wall_s:.0f} s")
    extra = {
        "pairs": {
            "target": len(data.pairs),
            "replay": len(data.replay),
            "alpha": data.alpha,
            "file": (cfg.get("pairs") or {}).get("path"),
        },
        "tuned_on": tuned_on,
        "recipe": OmegaConf.to_container(cfg.recipe_info) if cfg.get("recipe_info") else None,
        "dev": {"queries": len(dev.dataset.queries), "pairs": len(dev.pairs)} if dev else None,
        "wall_s": candidate.wall_s,
        **candidate.summary,
        "settings": candidate.settings,
        "model_dir": str(run_dir / "candidate"),
        "kind": kind,
        "peak_rss_mb": peak_rss_mb(),
        "cpu": cpu_description(),  # every timing names the CPU it came from
    }
    spec = SliceSpec.from_config(cfg.eval.get("slices"))
    if spec:
        extra["slices"] = golden_slices(spec, sets[cfg.data.name], data, candidate.history, cfg)
    return write_summary(run_dir, candidate.history, list(cfg.eval.report_metrics), cfg.seed, extra)
