"""The registry owns what it serves (``recft.loop.storage.artifacts``): version files stored under its root by
content, shared where unchanged, recorded by relative path — run folders deleted and the registry moved,
every command still works."""

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from test_publish import grown_registry  # noqa: F401 (a fixture)

from recft.loop.orchestration.publish import export_version
from recft.loop.storage.artifacts import OBJECTS, store_tree
from recft.loop.storage.registry import Registry
from recft.loop.storage.serving import served_index, serving_state


def version_folder(path: Path, adapter: bytes, moved: bytes | None = None) -> Path:
    (path / "query_adapter").mkdir(parents=True)
    (path / "query_adapter" / "adapter_model.safetensors").write_bytes(adapter)
    if moved is not None:
        (path / "passage_overrides.npz").write_bytes(moved)
    return path


def test_a_tree_is_stored_by_content_and_unchanged_files_are_shared(tmp_path):
    """The same folder stored twice is one tree; a NUDGE step on kept weights (same adapter, new moved
    vectors) is a new tree whose adapter is the same file on disk as before."""
    root = tmp_path / "registry"
    first = store_tree(root, version_folder(tmp_path / "run1", b"adapter weights"))
    assert first.startswith("artifacts/trees/") and not Path(first).is_absolute()
    assert store_tree(root, version_folder(tmp_path / "run1-again", b"adapter weights")) == first
    nudged = store_tree(root, version_folder(tmp_path / "run2", b"adapter weights", moved=b"vectors"))
    assert nudged != first
    adapter = "query_adapter/adapter_model.safetensors"
    assert (root / first / adapter).stat().st_ino == (root / nudged / adapter).stat().st_ino  # shared, not copied
    assert (root / nudged / "passage_overrides.npz").read_bytes() == b"vectors"
    assert len([p for p in (root / OBJECTS).rglob("*") if p.is_file()]) == 2  # two distinct contents
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]  # nothing half-written left behind


def test_deleting_run_folders_and_moving_the_registry_keeps_every_command_working(grown_registry, tmp_path):  # noqa: F811
    """Before, a version's path pointed into its Hydra run folder: deleting ``outputs/`` deleted production
    and a moved registry served nothing (``check_stored``: "a query_lora version's folder is missing")."""
    registry, line = grown_registry
    version = registry.get(line["candidate"])
    with sqlite3.connect(registry.path) as db:
        stored = dict(db.execute("SELECT id, path FROM versions").fetchall())
    assert stored[version.id].startswith("artifacts/trees/")  # relative to the root, inside it
    assert Path(version.path).is_relative_to(registry.root)
    served = serving_state(registry)
    assert served["index"].startswith("artifacts/trees/") and (served_index(registry, served) / "ids.json").is_file()
    runs = list(tmp_path.glob("cycle-*"))
    assert [run.name for run in runs] == ["cycle-001"] and (runs[0] / "candidate").is_dir()
    shutil.rmtree(runs[0])  # what everyone does with outputs/
    moved = Registry(shutil.move(str(registry.root), str(tmp_path / "elsewhere" / "registry")))
    assert Path(moved.get(version.id).path).is_relative_to(moved.root)
    assert (served_index(moved, serving_state(moved)) / "index.faiss").is_file()
    folder = export_version(moved, version.id, tmp_path / "export", tmp_path / "cache")
    assert json.loads((folder / "signature.json").read_text())["version"] == version.id
    command = [sys.executable, "-m", "recft.manage", "--registry", str(moved.root), "history"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and version.id in done.stdout, done.stderr[-2000:]
