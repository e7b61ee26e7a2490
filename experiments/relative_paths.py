"""Rewrite committed experiment files so they name folders relative to the repository, not this machine.

A run's Hydra config, summary and reports record absolute paths (``cwd``, ``output_dir``, ``data_path``);
committed as they are, they tell a reader where one machine kept its checkout and nothing they can use.
Run on the files (or folders) before committing them:

    python experiments/relative_paths.py experiments/arrivals/history.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".json", ".jsonl", ".yaml", ".yml", ".md", ".csv", ".tsv", ".txt", ".log"}


def relative_text(text: str, root: Path = REPO) -> str:
    """``text`` with ``root/…`` written ``…`` and ``root`` alone written ``.``."""
    return text.replace(f"{root}/", "").replace(str(root), ".")


def rewrite(path: Path, root: Path = REPO) -> bool:
    """Rewrite one file in place (atomically); whether it changed."""
    from recft.common.atomic import write_text

    text = path.read_text(encoding="utf-8")
    new = relative_text(text, root)
    if new != text:
        write_text(path, new)
    return new != text


def files_under(paths: list[str]) -> list[Path]:
    found = []
    for given in map(Path, paths):
        found += sorted(p for p in given.rglob("*") if p.suffix in TEXT_SUFFIXES) if given.is_dir() else [given]
    return found


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="files, or folders whose text files are rewritten")
    changed = [str(p) for p in files_under(parser.parse_args().paths) if rewrite(p)]
    print(f"{len(changed)} file(s) rewritten" + "".join(f"\n  {p}" for p in changed))
