"""The incumbent's side of a cycle: made sure of, measured (reports cached in the registry), trained
from, embedding arriving queries, and serving.

A paired test needs both sides measured the same way, so a stored report is reused only when it was
made under the same evaluation settings; everything else here loads the incumbent's encoder only
when it must.
"""

from __future__ import annotations

from recft.common import console as console_module
from recft.data.growth import corpus_fingerprint
from recft.data.sources import Source
from recft.eval.report import Report
from recft.eval.sets import configured_encoder_settings, evaluate_set, evaluation_key
from recft.loop.intake.leakage import unit
from recft.loop.orchestration.context import Loop
from recft.loop.storage.registry import Version
from recft.loop.storage.serving import blue_green_index, serving_state, unchanged
from recft.loop.storage.versions import encoder_version, load_version
from recft.model.store import has_overrides
from recft.nudge.corpus import NudgedCorpus
from recft.training.candidate import StartPoint, over_golden_corpus

console = console_module.err


def ensure_incumbent(loop: Loop) -> Version:
    """The incumbent; on a new registry, the configured encoder registered as the base version."""
    incumbent = loop.registry.incumbent()
    if incumbent is not None:
        return incumbent
    config = dict(loop.settings.recorded_with_base)  # what an export rebuilds the corpus from
    return loop.registry.add("base", kind="base", path=None, status="incumbent", config=config)


def version_reports(loop: Loop, version: Version, sets: dict[str, Source] | None = None) -> dict[str, Report]:
    """A version's report on every eval set: from the registry when it was made under the same evaluation
    settings (its ``evaluation_key``), else evaluated again (and stored) — a paired test needs both sides
    measured the same way."""
    folder = loop.registry.root / "reports" / version.id
    encoder = configured_encoder_settings(loop.settings.encoder)
    reports, loaded = {}, None
    for name, source in (loop.sets if sets is None else sets).items():
        path = folder / f"{name}.json"
        if path.is_file():
            stored = Report.load(path)
            if stored.config.get("evaluation_key") == evaluation_key(source, loop.eval_settings, encoder):
                reports[name] = stored
                continue
            said = "made on other queries or corpus (the set grew) or under other settings"
            console.print(f"{version.id}: stored {name} report was {said}; evaluating again")
        loaded = loaded or load_version(loop.registry, version, loop.settings.encoder)
        loaded.encoder.eval()
        overrides = loaded.overrides if name in over_golden_corpus(loop.golden) else None
        reports[name] = evaluate_set(loaded.encoder, source, loop.cache, loop.eval_settings, overrides)
        reports[name].save(path)
    return reports


def start_point(loop: Loop, incumbent: Version, reports: dict[str, Report]) -> StartPoint:
    base = encoder_version(loop.registry, incumbent)

    def load(trainable: bool):
        return load_version(loop.registry, base, loop.settings.encoder, trainable).encoder

    moved = NudgedCorpus.load(incumbent.path) if incumbent.path and has_overrides(incumbent.path) else None
    return StartPoint(base.kind, base.id, reports, load, moved)


def query_embedder(loop: Loop):
    """``texts → unit vectors`` by the incumbent's query tower, through the cache (the audit's and sealing's)."""
    encoder = load_version(loop.registry, ensure_incumbent(loop), loop.settings.encoder).encoder
    encoder.eval()

    def embed(texts):
        return unit(loop.cache.encode(encoder, list(texts), "query", show_progress=False))

    return embed


def serve_incumbent(loop: Loop) -> dict:
    """Keep the serving index the incumbent's over the current corpus: built on a new registry, and
    extended by the documents that joined (embedded by the incumbent's passage tower)."""
    incumbent, corpus = ensure_incumbent(loop), loop.sets[loop.golden].dataset.corpus
    served = serving_state(loop.registry)
    if served.get("version") == incumbent.id and served.get("corpus") == corpus_fingerprint(corpus):
        return unchanged(corpus, served)  # known without loading the incumbent
    loaded = load_version(loop.registry, incumbent, loop.settings.encoder)
    loaded.encoder.eval()
    show = loop.eval_settings.show_progress
    return blue_green_index(loop.registry, incumbent, loaded.encoder, corpus, loop.cache, loaded.overrides, show)
