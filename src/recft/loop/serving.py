"""What a promotion changes outside the registry: the serving index (blue/green) and the W&B model artifact."""

from __future__ import annotations

import json

from omegaconf import DictConfig

from recft.common.atomic import write_json
from recft.data.sources import Source
from recft.loop.registry import Registry, Version
from recft.model.cache import EmbeddingCache
from recft.model.index import Index
from recft.model.store import apply_overrides


def blue_green_index(
    registry: Registry,
    version: Version,
    encoder,
    golden: Source,
    cache: EmbeddingCache,
    overrides=None,
    show_progress: bool = False,
) -> dict:
    """Build the promoted version's corpus index beside the serving one, then switch the pointer.

    Skipped for query-side-only versions: their passage tower is the base, so the serving index
    stays valid. A version with moved passage vectors gets its encoder's (cached) embeddings with
    those rows replaced. Returns coverage (documents re-embedded / total) for the history line.
    """
    corpus = golden.dataset.corpus
    serving_path = registry.root / "serving.json"
    if encoder.passage_uses_base and serving_path.is_file() and overrides is None:
        return {"reembedded": 0, "total": len(corpus), "index": json.loads(serving_path.read_text())["index"]}
    before = cache.stats.encoded
    doc_ids = list(corpus)
    embeddings = cache.encode(encoder, [corpus[d] for d in doc_ids], "passage", show_progress)
    if overrides:
        embeddings = apply_overrides(embeddings, doc_ids, overrides)
    index = Index(encoder.dim)
    index.add(embeddings, doc_ids)
    folder = registry.root / "indexes" / version.id
    index.save(folder, meta={"version": version.id, "fingerprint": encoder.fingerprint_for("passage")})
    write_json(serving_path, {"version": version.id, "index": str(folder)})  # the atomic switch
    return {"reembedded": cache.stats.encoded - before, "total": len(corpus), "index": str(folder)}


def log_version_artifact(cfg: DictConfig, version: Version, verdict: str, promoted: bool) -> None:
    """With ``logger=wandb``: log the version as a W&B model artifact; the incumbent carries ``production``."""
    if "wandb" not in cfg.logger or not version.path:
        return
    import wandb

    spec = cfg.logger.wandb
    run = wandb.init(
        project=spec.project,
        dir=str(cfg.output_dir),
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
