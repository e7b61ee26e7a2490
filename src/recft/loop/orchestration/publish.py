"""Publish a registry version for serving: everything a serving system needs, nothing it could mix up.

``recft manage export champion DIR`` (or ``candidate``, or a version id) writes::

    DIR/               SentenceTransformer(DIR) — embeds queries (and passages, for a one-tower version)
    DIR/passages/      a query-side version only: SentenceTransformer(DIR/passages), the base model,
                       embeds passages (and new documents) — the index was built with it
    DIR/index/         FAISS inner-product index of the current corpus (index.faiss, ids.json, meta.json)
    DIR/signature.json fingerprints, prompts, pooling, normalisation, dimension, max length, corpus
    DIR/README.md      which folder embeds what

Mixing embedding spaces is the failure this guards against: a query tower searched against an index
built by another model returns confident nonsense. The signature names the fingerprint of each
tower and of the corpus, so a serving system can refuse a mismatched pair. The index is embedded in
fp32 (what ``SentenceTransformer`` computes), through the embedding cache. Nothing in the folder
depends on the time or the destination, so exporting one version twice gives identical bytes; the
folder is written under a temp name and renamed.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from recft.common.atomic import new_folder, write_json
from recft.data.beir import DataError
from recft.data.growth import corpus_fingerprint
from recft.loop.intake.golden import golden_of_record_dataset
from recft.loop.storage.registry import Registry, RegistryError, Version
from recft.loop.storage.versions import load_version
from recft.model.cache import EmbeddingCache
from recft.model.export import export_sentence_transformers
from recft.model.index import Index
from recft.model.store import apply_overrides


def loop_config(registry: Registry, version: Version) -> dict:
    """The encoder and data source the loop that made ``version`` started from (stored with its base)."""
    root = registry.lineage_root(version)
    if "data" not in root.config:
        raise RegistryError(f"{registry.root}: its base version {root.id} does not record the data source; "
                            "a registry made by an older recft cannot be exported (run a new loop)")  # fmt: skip
    return root.config


def export_version(registry: Registry, name: str, folder: str | Path, cache_dir: str | Path | None) -> Path:
    version = registry.resolve(name)
    config = loop_config(registry, version)
    encoder_cfg = OmegaConf.create({**config["encoder"], "precision": "fp32", "device": "cpu"})
    loaded = load_version(registry, version, encoder_cfg)
    encoder = loaded.encoder.eval()
    corpus = golden_of_record_dataset(registry, config).corpus  # the corpus of record
    folder = Path(folder)
    if folder.exists():
        raise DataError(f"{folder}: already exists; export into a new folder")
    two_towers = encoder.passage_uses_base
    doc_ids = list(corpus)
    embeddings = EmbeddingCache(cache_dir).encode(encoder, [corpus[d] for d in doc_ids], "passage", True)
    if loaded.overrides:
        embeddings = apply_overrides(embeddings, doc_ids, loaded.overrides)
    with new_folder(folder) as tmp:
        export_sentence_transformers(encoder, tmp, tower="query" if two_towers else None)
        if two_towers:
            export_sentence_transformers(encoder, tmp / "passages", tower="passage")
        index = Index(encoder.dim, use_gpu=False)
        index.add(embeddings, doc_ids)
        index.save(tmp / "index", meta={"version": version.id, "corpus": corpus_fingerprint(corpus)})
        write_json(tmp / "signature.json", signature(version, encoder, corpus, bool(loaded.overrides)))
        (tmp / "README.md").write_text(readme(version, two_towers, bool(loaded.overrides), len(corpus)))
    return folder


def signature(version: Version, encoder, corpus: dict[str, str], moved: bool) -> dict:
    return {
        "version": version.id,
        "kind": version.kind,
        "towers": {
            "query": {"folder": ".", "fingerprint": encoder.fingerprint_for("query")},
            "passage": {
                "folder": "passages" if encoder.passage_uses_base else ".",
                "fingerprint": encoder.fingerprint_for("passage"),
            },
        },
        "prompts": dict(encoder.prompts),
        "pooling": encoder.pooling,
        "normalize": bool(encoder.normalize),
        "dimension": encoder.dim,
        "max_length": int(encoder.max_length),
        "precision": encoder.precision,
        "similarity": "cosine" if encoder.normalize else "dot",
        "corpus": {"fingerprint": corpus_fingerprint(corpus), "documents": len(corpus)},
        "index": {"folder": "index", "kind": "faiss.IndexFlatIP", "moved_vectors": moved},
    }


def readme(version: Version, two_towers: bool, moved: bool, documents: int) -> str:
    passages = "SentenceTransformer(DIR + '/passages')" if two_towers else "the same model"
    lines = [
        f"# recft {version.id} ({version.kind})",
        "",
        "- queries: `SentenceTransformer(DIR).encode(queries, prompt_name='query')`",
        f"- passages (new documents too): {passages}, `prompt_name='passage'`",
        f"- `index/`: the {documents} documents of the corpus, embedded by the passage model (exact inner product; "
        "vectors are normalised, so scores are cosines)",
        "- `signature.json`: the fingerprints of both towers and of the corpus — a query tower searched against "
        "an index from another model gives wrong results without an error, so check them before serving",
    ]
    if moved:
        lines.append("- the index holds moved passage vectors (NUDGE): re-embedding a document with the passage "
                     "model does not give its indexed vector back")  # fmt: skip
    return "\n".join(lines) + "\n"
