"""The sets a run is measured on — the golden set and every probe — and the settings they are measured with.

``EvalSettings`` (``recft.eval.settings``) is read from the config once (``eval.k_values``, ``eval.depth``,
``show_progress``) and handed to every caller, so validation, the cycle and NUDGE cannot drift apart in
how they score.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Mapping

from recft.common.hashing import stable_hash
from recft.data.sources import Source, SourceSpec, load_source
from recft.eval.evaluate import evaluate_dataset
from recft.eval.report import Report
from recft.eval.settings import EvalSettings
from recft.model.cache import EmbeddingCache


def encoder_settings(encoder) -> dict:
    """What of an encoder, besides its weights, changes a report: precision, length, prompts, pooling."""
    return {
        "precision": encoder.precision,
        "max_length": int(encoder.max_length),
        "prompts": dict(encoder.prompts),
        "pooling": encoder.pooling,
        "normalize": bool(encoder.normalize),
    }


def configured_encoder_settings(encoder_cfg) -> dict:
    """``encoder_settings`` as the configured encoder would report them, without loading its weights
    (``precision: auto`` resolved for this machine, as the encoder itself resolves it)."""
    from recft.model.encoder import resolve_device, resolve_precision

    precision = resolve_precision(encoder_cfg.precision, resolve_device(encoder_cfg.device))
    prompts = {"query": encoder_cfg.query_prompt or "", "passage": encoder_cfg.passage_prompt or ""}
    configured = SimpleNamespace(**{k: encoder_cfg[k] for k in ("max_length", "pooling", "normalize")})
    return encoder_settings(SimpleNamespace(**vars(configured), precision=precision, prompts=prompts))


def evaluation_key(source: Source, settings: EvalSettings, encoder: dict) -> str:
    """A hash of everything a report's numbers depend on besides the model's weights. Two reports are
    paired only when their keys match: same queries, same corpus sample, same depth and k, same
    precision (a bf16 and an fp32 report of one model differ by more than some gate margins)."""
    dataset = source.dataset
    payload = {
        "queries": stable_hash("\n".join(sorted(dataset.queries))),
        "corpus": stable_hash("\n".join(sorted(dataset.corpus))),
        "min_relevance": source.min_relevance,
        "pairs": bool(source.spec.pairs),
        **settings.to_dict(),
        **encoder,
    }
    return stable_hash(json.dumps(payload, sort_keys=True))


def evaluate_set(
    encoder, source: Source, cache: EmbeddingCache, settings: EvalSettings, overrides: Mapping | None = None
) -> Report:
    """Evaluate on one golden set or probe (``overrides``: passage vectors that replace the encoder's);
    the report carries its ``evaluation_key``."""
    dataset, pairs = source.dataset, source.spec.pairs
    report = evaluate_dataset(
        encoder, dataset, settings, cache, source.min_relevance, pairs, passage_overrides=overrides
    )
    report.config["evaluation_key"] = evaluation_key(source, settings, encoder_settings(encoder))
    return report


def evaluate_sets(encoder, sets: Mapping[str, Source], cache: EmbeddingCache, settings: EvalSettings) -> dict:
    return {name: evaluate_set(encoder, source, cache, settings) for name, source in sets.items()}


def load_eval_sets(cfg) -> dict[str, Source]:
    """The golden set (keyed by its data name) and every configured probe (keyed by its probe key)."""
    golden = load_source(SourceSpec.from_config(cfg.data, "data"), cfg.seed)
    sets = {golden.name: golden}
    for key, node in (cfg.get("probes") or {}).items():
        sets[key] = load_source(SourceSpec.from_config(node, f"probes.{key}"), cfg.seed)
    return sets
