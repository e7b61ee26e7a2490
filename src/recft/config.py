"""OmegaConf resolvers used by ``conf/``; importing this module registers them.

``${repo_path:data/scifact}``  → absolute path under the recft checkout (data, outputs), so a job
                                 behaves the same whatever the working directory.
``${minilm_path:}``            → the embedded all-MiniLM-L6-v2 weights (no hub needed).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = REPO_ROOT / "conf"


def repo_path(relative: str = "") -> str:
    return str(REPO_ROOT / relative)


def _minilm_path() -> str:
    from recft.encoder import minilm_path

    return minilm_path()


def register_resolvers() -> None:
    for name, fn in (("repo_path", repo_path), ("minilm_path", _minilm_path)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()
