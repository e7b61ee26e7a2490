"""The golden set of record, as the registry knows it: the source's golden split plus the sealed queries.

    recft manage golden                          # its size by origin (source split, each cycle's sealed queries)
    recft manage golden --export DIR             # the golden set of record as a BEIR folder (corpus of record)

The source split is rebuilt from the base version's data config (what the loop's first cycle was run
with), the corpus of record from every consumed corpus delta, the judgements of sealed queries from
the registry's ``sealed`` table — so an export can be evaluated by ``recft evaluate data.path=DIR``.
"""

from __future__ import annotations

import json
from pathlib import Path

from recft.common.atomic import write_text
from recft.loop.storage.registry import Registry, RegistryError


def golden_of_record_dataset(registry: Registry, config: dict | None = None):
    """The golden set of record over the corpus of record, rebuilt from the registry: the data source its
    loop started from (``config``: the base version's, by default the registry's first), grown by every
    consumed arrival's documents, plus every sealed query. The one builder ``recft manage golden`` and
    ``recft manage export`` (its ``.corpus``) read."""
    from recft.data.sources import SourceSpec, load_source
    from recft.loop.intake.inbox import consumed_from
    from recft.loop.intake.sealing import golden_of_record

    if config is None:
        base = next((v for v in registry.versions() if v.kind == "base"), None)
        if base is None or "data" not in base.config:
            raise RegistryError(f"{registry.path}: no base version with its data config: run a cycle first")
        config = base.config
    source = load_source(SourceSpec.from_config(config["data"], "data"), int(config.get("seed", 42)))
    return golden_of_record(consumed_from(registry).grow(source.dataset), registry.sealed())


def export_beir(registry: Registry, folder: str | Path) -> Path:
    """``corpus.jsonl``, ``queries.jsonl`` and ``qrels/test.tsv`` of the golden set of record."""
    dataset = golden_of_record_dataset(registry)
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise RegistryError(f"{folder}: exists and is not empty")
    corpus = "".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in dataset.corpus.items())
    queries = "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in dataset.queries.items())
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{g}\n" for q, judged in dataset.qrels.items() for d, g in judged.items()
    )
    write_text(folder / "corpus.jsonl", corpus)
    write_text(folder / "queries.jsonl", queries)
    write_text(folder / "qrels" / "test.tsv", qrels)
    return folder
