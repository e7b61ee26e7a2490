"""Publishing a version: aliases, a folder SentenceTransformer loads with recft's embeddings, the index
of the grown corpus, a signature, and byte-identical re-exports."""

import json
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf
from sentence_transformers import SentenceTransformer
from test_inbox import TEXT, overrides, write_inbox

from recft.loop.orchestration.publish import export_version
from recft.loop.orchestration.run import run_loop
from recft.loop.storage.registry import Registry, RegistryError
from recft.loop.storage.versions import load_version

from conftest import compose

QUERIES = ["how long do fleas live", "what do beavers build"]
PASSAGES = [TEXT["d1"], "Beavers build dams from branches and mud."]


def files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def grown_registry(tiny_model_dir, tiny_train_beir, tmp_path):
    """One query-side cycle on an inbox that brings one new passage as text (it joins the corpus)."""
    inbox = write_inbox(tmp_path / "inbox")
    (inbox / "2026-12-03.jsonl").write_text(json.dumps({"anchor": QUERIES[1], "positive": PASSAGES[1]}) + "\n")
    args = overrides(tiny_model_dir, tiny_train_beir, tmp_path, inbox, "adapter=query_lora", "adapter.rank=4")
    [line] = run_loop(compose("cycle", *args))
    return Registry(tmp_path / "registry"), line


def test_a_query_side_version_exports_two_towers_with_recfts_embeddings_and_the_grown_index(grown_registry, tmp_path):
    registry, line = grown_registry
    folder = export_version(registry, line["candidate"], tmp_path / "export", tmp_path / "cache")
    version = registry.get(line["candidate"])
    encoder_cfg = OmegaConf.create({**registry.lineage_root(version).config["encoder"], "precision": "fp32"})
    encoder = load_version(registry, version, encoder_cfg).encoder.eval()
    queries, passages = SentenceTransformer(str(folder)), SentenceTransformer(str(folder / "passages"))
    assert np.allclose(queries.encode(QUERIES), encoder.encode(QUERIES, "query", show_progress=False), atol=1e-5)
    assert np.allclose(passages.encode(PASSAGES), encoder.encode(PASSAGES, "passage", show_progress=False), atol=1e-5)
    assert not np.allclose(queries.encode(QUERIES), passages.encode(QUERIES), atol=1e-5)  # two towers, really
    signature = json.loads((folder / "signature.json").read_text())
    assert signature["towers"]["passage"]["folder"] == "passages"
    assert signature["towers"]["query"]["fingerprint"] != signature["towers"]["passage"]["fingerprint"]
    assert signature["corpus"] == {
        "fingerprint": line["corpus"]["fingerprint"],
        "documents": line["corpus"]["documents"],
    }
    ids = json.loads((folder / "index" / "ids.json").read_text())
    assert len(ids) == line["corpus"]["documents"] and any(i.startswith("new:") for i in ids)  # the new passage
    assert signature["dimension"] == encoder.dim and signature["prompts"] == {"query": "", "passage": ""}
    again = export_version(registry, line["candidate"], tmp_path / "again", tmp_path / "cache")
    assert files(again) == files(folder)  # byte-identical, wherever it is written


def test_aliases_name_the_champion_and_the_pending_candidate(grown_registry, tmp_path):
    registry, line = grown_registry
    assert registry.resolve("champion").id == registry.incumbent().id
    with pytest.raises(RegistryError, match="no candidate is pending approval"):
        registry.resolve("candidate")
    made = registry.get(line["candidate"])
    for name in ("older", "newer"):  # as a cycle under gate.require_approval leaves them
        pending = registry.add(name, made.kind, made.path, parent=made.id, config=made.config)
        registry.mark_pending(pending.id)
    assert registry.resolve("candidate").id == pending.id  # the newest one pending
    with pytest.raises(RegistryError, match="v9999"):
        registry.resolve("v9999")
    folder = export_version(registry, "champion", tmp_path / "champion", tmp_path / "cache")
    if registry.incumbent().kind == "base":  # one tower: no passages folder
        assert not (folder / "passages").exists()
        assert json.loads((folder / "signature.json").read_text())["towers"]["passage"]["folder"] == "."
    with pytest.raises(ValueError, match="already exists"):
        export_version(registry, "champion", folder, tmp_path / "cache")


def test_manage_export_writes_the_folder(grown_registry, tmp_path):
    registry, _ = grown_registry
    command = [sys.executable, "-m", "recft.manage", "--registry", str(registry.root), "export", "champion"]
    done = subprocess.run([*command, str(tmp_path / "out"), "--cache", str(tmp_path / "cache")], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith(str(tmp_path / "out")) and (tmp_path / "out" / "signature.json").is_file()
