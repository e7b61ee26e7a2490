"""Committed experiment results and benchmark records name no absolute path of the machine they ran on."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ABSOLUTE = re.compile(r"""(?:^|[\s"'=:(\[,])(/(?:[A-Za-z0-9_.-]+/)+[A-Za-z0-9_.-]*)""")
CHECKED = ("experiments", "bench/results")
RECORDS = (".json", ".jsonl", ".yaml", ".yml", ".md", ".csv", ".tsv", ".txt", ".log")


def committed(*folders: str) -> list[Path]:
    listed = subprocess.run(["git", "ls-files", *folders], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / name for name in listed.stdout.splitlines()]


def absolute_paths(text: str) -> list[str]:
    return [m.group(1) for m in ABSOLUTE.finditer(text) if not m.group(1).startswith("//")]


def test_the_pattern_finds_a_machines_path_and_not_a_url_or_a_relative_one():
    assert absolute_paths('"data_path": "/srv/me/recft/data/scifact"') == ["/srv/me/recft/data/scifact"]
    assert absolute_paths("cwd: /home/me/recft\n") == ["/home/me/recft"]
    assert absolute_paths('see https://github.com/beir-cellar/beir and "outputs/cycle/x"') == []


def test_no_committed_experiment_file_names_an_absolute_path():
    found = {}
    for path in committed(*CHECKED):
        if path.suffix not in RECORDS or not path.is_file():  # scripts compose paths; records must not keep them
            continue
        hits = absolute_paths(path.read_text(encoding="utf-8", errors="replace"))
        if hits:
            found[str(path.relative_to(REPO))] = hits[:3]
    assert not found, f"absolute paths (run experiments/relative_paths.py on them): {found}"
