"""``recft summarize --models`` on constructed run folders whose answers are known by arithmetic."""

import json
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf

from recft.eval.report import Report
from recft.sweeps.models import compare_models, decomposition, load_runs, zero_shot_comparisons
from recft.sweeps.summarize import SummarizeError

QUERIES = [f"q{i}" for i in range(40)]


def scores(offset: float, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {q: float(np.clip(0.5 + offset + rng.normal(0, 0.1), 0, 1)) for q in QUERIES}


def write_run(folder, model, method, zero, tuned, dev_gain, lr="1e-3"):
    """A train job folder as ``recft train`` leaves it: config, overrides, summary and reports."""
    (folder / ".hydra").mkdir(parents=True)
    cfg = {
        "eval": {"primary": "ndcg@10"},
        "data": {"name": "sci"},
        "encoder": {"name": model},
        "adapter": {"kind": method},
        "tune_on": "dev",
        "train": {"forgetting_penalty": 0.0},
    }
    OmegaConf.save(OmegaConf.create(cfg), folder / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create([f"encoder={model}", f"adapter.lr={lr}"]), folder / ".hydra" / "overrides.yaml")
    reports = {}
    for name, (before, after) in {"sci": (zero, tuned), "probe": (zero, zero)}.items():
        a, b = Report(name, "test", {"ndcg@10": before}), Report(name, "test", {"ndcg@10": after})
        a.save(folder / "reports" / "zero_shot" / f"{name}.json")
        b.save(folder / "reports" / f"{name}.json")
        reports[name] = b.compare_to(a, "ndcg@10").to_dict()
    dev = {"metric": "ndcg@10", "delta": dev_gain, "ci_low": 0, "ci_high": 0, "n": 9, "mean_a": 0, "mean_b": 0}
    summary = {
        "epochs": {},
        "deltas": {"sci": [reports["sci"]], "dev": [dev], "probe": [reports["probe"]]},
        "wall_s": 12.0,
        "peak_rss_mb": 2048.0,
        "cpu": {"model": "Test CPU", "cores": 2, "native_bf16": False},
    }
    (folder / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def two_models(tmp_path):
    small, large = scores(0.0, 1), scores(0.05, 2)
    write_run(tmp_path / "0-small", "small", "query_lora", small, scores(0.02, 3), dev_gain=0.01)
    # large: the dev objective prefers lr=3e-3 although lr=1e-3 does better on golden
    write_run(tmp_path / "1-large", "large", "query_lora", large, scores(0.15, 4), dev_gain=0.01, lr="1e-3")
    write_run(tmp_path / "2-large", "large", "query_lora", large, scores(0.08, 5), dev_gain=0.03, lr="3e-3")
    return tmp_path, small, large


def test_zero_shot_delta_is_paired_per_query(two_models):
    root, small, large = two_models
    runs = load_runs([root])
    rows = zero_shot_comparisons(runs, "small")
    assert [(r.set_name, r.label) for r in rows] == [("sci", "large − small"), ("probe", "large − small")]
    expected = np.mean([large[q] - small[q] for q in QUERIES])
    assert rows[0].n == 40 and rows[0].delta == pytest.approx(expected, abs=1e-12)
    assert rows[0].low < rows[0].delta < rows[0].high and rows[0].p < 0.05  # a 0.05 shift over 40 queries


def test_decomposition_adds_up_and_chooses_on_dev(two_models):
    root, small, large = two_models
    steps = {r.label: r for r in decomposition(load_runs([root]), "small")}
    assert set(steps) == {
        "fine-tuning small: query_lora (lr=1e-3)",
        "base model: small → large",
        "fine-tuning large: query_lora (lr=3e-3)",  # dev's choice, not golden's best (lr=1e-3)
        "total: small → large + query_lora",
    }
    base, tune = steps["base model: small → large"], steps["fine-tuning large: query_lora (lr=3e-3)"]
    total = steps["total: small → large + query_lora"]
    assert base.delta + tune.delta == pytest.approx(total.delta, abs=1e-12)


def test_models_md_and_figures_are_written(two_models, tmp_path):
    root, _, _ = two_models
    out = compare_models([root], tmp_path / "out")
    text = (out / "models.md").read_text()
    assert "Test CPU (2 cores, native bf16: no)" in text and "permutation" in text
    assert text.count("✓") == 2  # one dev choice per (model, method)
    assert {p.name for p in (out / "figures").iterdir()} == {"models_zero_shot.png", "models_gain.png"}


def test_one_model_is_a_one_line_error(tmp_path):
    write_run(tmp_path / "0", "small", "nudge", scores(0, 1), scores(0.1, 2), dev_gain=0.0)
    with pytest.raises(SummarizeError, match="at least two encoders"):
        load_runs([tmp_path])
    done = subprocess.run(
        [sys.executable, "-m", "recft.summarize", str(tmp_path), "--models"], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
