"""bench/gpu_check.py measures the GPU paths where there is a GPU; without CUDA (CI, this machine) it says
so in one line, exits 0 and writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO

SCRIPT = REPO / "bench" / "gpu_check.py"
DEFAULT_OUT = REPO / "bench" / "results" / "gpu_check.json"


def state(path):
    return path.stat().st_mtime_ns if path.exists() else None


@pytest.mark.parametrize("out_option", [False, True], ids=["default-out", "--out"])
def test_gpu_check_without_cuda_says_so_in_one_line_and_writes_nothing(tmp_path, out_option):
    out = tmp_path / "results" / "gpu_check.json"
    default_before = state(DEFAULT_OUT)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no device even where CI had one
    command = [sys.executable, str(SCRIPT), *(["--out", str(out)] if out_option else [])]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"gpu_check: no CUDA device (torch {torch.__version__}); nothing measured"]
    assert done.stderr == ""
    assert list(tmp_path.iterdir()) == []
    assert state(DEFAULT_OUT) == default_before
