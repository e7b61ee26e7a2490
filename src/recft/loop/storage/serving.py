"""What a promotion changes outside the registry: the serving index (blue/green) and the W&B model artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from omegaconf import DictConfig

from recft.common.atomic import read_json, write_json
from recft.data.growth import corpus_fingerprint
from recft.loop.storage.artifacts import incoming, store_tree
from recft.loop.storage.registry import Registry, RegistryError, Version
from recft.model.cache import EmbeddingCache
from recft.model.index import Index
from recft.model.store import apply_overrides


def serving_state(registry: Registry) -> dict:
    """What ``serving.json`` says is served now ({} before the first index); ``index`` is relative to the
    registry's root (an older registry's absolute path is kept)."""
    path = registry.root / "serving.json"
    return read_json(path, RegistryError) if path.is_file() else {}


def served_index(registry: Registry, served: dict) -> Path:
    """The folder of the index ``serving.json`` names, where the registry is now."""
    return registry.root / served["index"]


def unchanged(corpus: Mapping[str, str], served: dict) -> dict:
    """The coverage of a cycle that left the serving index as it was."""
    return {"documents": len(corpus), "reembedded": 0, "share": 0.0, "index": served["index"]}


def blue_green_index(
    registry: Registry,
    version: Version,
    encoder,
    corpus: Mapping[str, str],
    cache: EmbeddingCache,
    overrides=None,
    show_progress: bool = False,
) -> dict:
    """Make the serving index ``version``'s over ``corpus``: build it beside the serving one, then switch
    the pointer (``serving.json``, written atomically).

    Nothing is built when the serving index already holds this passage tower's vectors of this
    corpus — a query-side version's passages are the base model's, so one index serves them all. A
    version with moved passage vectors gets its encoder's (cached) embeddings with those rows
    replaced. Returns the coverage for the history line: rows *not* carried over unchanged from the
    index served before (documents that joined; every row when the passage tower changed; moved
    vectors) — what a serving system has to re-ingest.
    """
    passage, fingerprint = encoder.fingerprint_for("passage"), corpus_fingerprint(corpus)
    served = serving_state(registry)
    same_tower = served.get("passage_fingerprint") == passage and not overrides and not served.get("overrides")
    if same_tower and served.get("corpus") == fingerprint:
        return unchanged(corpus, served)
    carried = set(read_json(served_index(registry, served) / "ids.json", RegistryError)) if same_tower else set()
    doc_ids = list(corpus)
    embeddings = cache.encode(encoder, [corpus[d] for d in doc_ids], "passage", show_progress)
    if overrides:
        embeddings = apply_overrides(embeddings, doc_ids, overrides)
    index = Index(encoder.dim)
    index.add(embeddings, doc_ids)
    with incoming(registry.root) as scratch:  # stored by content, like the version's own files
        index.save(scratch, meta={"fingerprint": passage, "corpus": fingerprint})
        folder = store_tree(registry.root, scratch)
    write_json(
        registry.root / "serving.json",
        {"version": version.id, "index": folder, "passage_fingerprint": passage, "corpus": fingerprint,
         "overrides": bool(overrides)},
    )  # fmt: skip
    reembedded = sum(1 for d in doc_ids if d not in carried or (overrides and d in overrides))
    return {
        "documents": len(doc_ids),
        "reembedded": reembedded,
        "share": reembedded / len(doc_ids),
        "index": folder,
    }


def log_version_artifact(spec: DictConfig | None, folder: Path, version: Version, verdict: str, promoted: bool) -> None:
    """With ``logger=wandb`` (``spec``: its node; None without W&B): log the version as a W&B model
    artifact, the run's files in ``folder``; the incumbent carries ``production``."""
    if spec is None or not version.path:
        return
    import wandb

    run = wandb.init(
        project=spec.project,
        dir=str(folder),
        mode="offline" if spec.offline else "online",
        job_type="cycle",
        group=spec.get("group"),
        reinit="finish_previous",
    )
    artifact = wandb.Artifact(
        f"recft-{version.id}",
        type="model",
        metadata={"parent": version.parent, "verdict": verdict, "metrics": version.metrics},
    )
    artifact.add_dir(version.path)
    run.log_artifact(artifact, aliases=["production", "latest"] if promoted else ["latest"])
    run.finish()
