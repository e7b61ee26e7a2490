"""Every notebook under notebooks/ runs top to bottom on a small fixture (a real tiny sweep)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_on_a_tiny_sweep(notebook, tiny_sweep, tmp_path, monkeypatch):
    monkeypatch.setenv("RECFT_RUN_DIR", str(tiny_sweep))
    monkeypatch.setenv("RECFT_FIGURES_DIR", str(tmp_path / "figures"))
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # curves and bars for both jobs at least
    assert (tmp_path / "figures" / "sweep" / "frontier.png").is_file()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert f"2 job(s) under {tiny_sweep}; swept: ['loss.temperature']" in printed  # it read the sweep it was given
