"""One registry per domain on one shared base: what ``recft cycle domain=X`` trains, gates and serves.

Each domain keeps its own version history under ``<registry.root>/domains/<X>/`` — its own
incumbent, looks at its golden set (the gate's alpha spending counts per domain), consumed arrivals
and history — because a promotion for one product must not be decided by another's queries. Every
domain's candidates are query-side LoRA adapters (``adapter=query_lora``): passages stay the base
model's, so all domains search one corpus index, and serving loads each domain's incumbent adapter
beside the others on one copy of the base (``recft.model.domain_encoder.DomainEncoder``).

    recft cycle data=scifact domain=scifact
    recft cycle data=cranfield domain=cranfield
    recft manage --domain scifact history
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from recft.data.domain_labels import check_domain, restrict_to_domain
from recft.loop.intake.schedule import LoopConfigError
from recft.loop.storage.registry import Registry

if TYPE_CHECKING:  # `recft manage` reads domain registries without loading torch
    from recft.data.sources import Source
    from recft.model.domain_encoder import DomainEncoder
    from recft.training.candidate import TrainingData

FOLDER = "domains"


class DomainConfigError(LoopConfigError):
    """A domain-scoped cycle asked for something domains cannot share."""


def registry_root(root: str | Path, domain: str | None) -> Path:
    """The registry a cycle (or ``recft manage``) of ``domain`` uses; the root itself without one."""
    return Path(root) / FOLDER / check_domain(domain) if domain else Path(root)


def check_domain_adapter(domain: str, adapter_kind: str | None) -> str:
    """``domain``, a usable name, whose cycle makes query adapters (``adapter.kind``)."""
    domain, kind = check_domain(domain), adapter_kind
    if kind != "query_lora":
        raise DomainConfigError(
            f"domain={domain} needs adapter=query_lora (got {kind}): domains share the base "
            "model's corpus index, so only the query side may differ per domain"
        )
    return domain


def scope(
    domain: str, golden_name: str, training: TrainingData, sets: dict[str, Source]
) -> tuple[TrainingData, dict[str, Source]]:
    """The cycle's training pairs and golden set (``golden_name``) cut to ``domain`` (probes stay whole:
    forgetting is measured on what no domain trains on)."""
    golden = sets[golden_name]
    sets = {**sets, golden_name: dataclasses.replace(golden, dataset=restrict_to_domain(golden.dataset, domain))}
    pairs = [p for p in training.pairs if p.domain in ("", domain)]
    return dataclasses.replace(training, pairs=pairs), sets


def domain_registries(root: str | Path) -> dict[str, Registry]:
    """Every domain that has a registry under ``root``, by name."""
    folder = Path(root) / FOLDER
    if not folder.is_dir():
        return {}
    return {p.name: Registry(p) for p in sorted(folder.iterdir()) if (p / "registry.sqlite").exists()}


def incumbent_adapters(root: str | Path) -> dict[str, Path | None]:
    """Each domain's incumbent query adapter folder (None: the domain still serves the base model)."""
    adapters: dict[str, Path | None] = {}
    for name, registry in domain_registries(root).items():
        incumbent = registry.incumbent()
        if incumbent is not None and incumbent.kind not in ("base", "query_lora"):
            raise DomainConfigError(f"domain {name}: incumbent {incumbent.id} is {incumbent.kind}, not a query adapter")
        trained = incumbent is not None and incumbent.kind == "query_lora"
        adapters[name] = Path(incumbent.path) / "query_adapter" if trained else None
    return adapters


def serving_router(root: str | Path, base) -> DomainEncoder:
    """Every trained domain's incumbent adapter on ``base`` (a fresh base ``BiEncoder``): one model,
    switched per query by domain. Domains still at the base model are served by ``base`` itself."""
    from recft.model.domain_encoder import DomainEncoder

    trained = {name: path for name, path in incumbent_adapters(root).items() if path is not None}
    return DomainEncoder(base, trained)
