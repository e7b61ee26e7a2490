"""The ``python -m recft.evaluate`` entry point, end to end, on a tiny random BERT and tiny data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from recft.common.config import CONF_DIR
from recft.data.beir import load_beir
from recft.eval.evaluate import evaluate_dataset
from recft.eval.settings import EvalSettings
from recft.model.cache import EmbeddingCache

from conftest import DATA


def run_cli(*overrides, cwd: Path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "recft.evaluate", *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_writes_report_and_second_run_hits_the_cache(tiny_model_dir, tiny_beir, tmp_path):
    common = [
        f"encoder.name_or_path={tiny_model_dir}",
        f"data.path={tiny_beir}",
        "data.name=tiny",
        f"cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path}/run1",
        "show_progress=false",
    ]
    first = run_cli(*common, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    path = Path(first.stdout.strip().splitlines()[-1])
    assert path == tmp_path / "run1" / "report.json"
    report = json.loads(path.read_text())
    assert report["n"]["ndcg@10"] == 4 and set(report["per_query"]["ndcg@10"]) == {"q1", "q2", "q3", "q4"}
    assert report["timings"]["passages_encoded"] == 5
    assert "ndcg@10" in first.stdout and "95% CI" in first.stdout

    second = run_cli(
        *common[:-2], f"hydra.run.dir={tmp_path}/run2", "show_progress=false", f"eval.baseline={path}", cwd=tmp_path
    )
    assert second.returncode == 0, second.stderr
    again = json.loads((tmp_path / "run2" / "report.json").read_text())
    assert again["timings"]["passages_encoded"] == 0  # unchanged model: nothing re-encoded
    assert again["per_query"] == report["per_query"]
    assert "Δ 95% CI" in second.stdout


def test_cli_bad_input_is_one_line_and_leaves_no_run_dir(tiny_model_dir, tiny_beir, tmp_path):
    (tiny_beir / "queries.jsonl").write_text('{"_id": "q1", "text": "ok"}\n{"_id": \n')
    result = run_cli(
        f"encoder.name_or_path={tiny_model_dir}",
        f"data.path={tiny_beir}",
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"error: {tiny_beir}/queries.jsonl:2: malformed JSON (Expecting value)"
    )
    assert not (tmp_path / "run").exists()


def test_every_data_config_composes_and_points_at_vendored_data():
    for name in ("scifact", "msmarco-trecdl-slice", "nevir", "cranfield"):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("evaluate", overrides=[f"data={name}"])
        assert Path(cfg.data.path).is_dir() and cfg.data.path.startswith(str(DATA))
        if cfg.data.pairs:
            assert Path(cfg.data.pairs).is_file()


def test_nevir_reports_paired_accuracy(tiny_encoder, tmp_path):
    ds = load_beir(DATA / "nevir")
    settings = EvalSettings(k_values=(10,), depth=10)
    report = evaluate_dataset(
        tiny_encoder, ds, settings, EmbeddingCache(tmp_path), pairs_path=DATA / "nevir" / "pairs.tsv"
    )
    assert report.n["paired_accuracy"] == 1383 and report.n["ndcg@10"] == 2766
    rows = [line.split("\t") for line in (DATA / "nevir" / "pairs.tsv").read_text().splitlines()[1:81]]
    checked = 0
    for pair_id, q1, q2, d1, d2 in rows:  # recomputed by hand for 80 pairs: both questions prefer their own doc
        queries = tiny_encoder.encode([ds.queries[q1], ds.queries[q2]], "query", show_progress=False)
        docs = tiny_encoder.encode([ds.corpus[d1], ds.corpus[d2]], "passage", show_progress=False)
        scores = queries @ docs.T
        margins = (scores[0, 0] - scores[0, 1], scores[1, 1] - scores[1, 0])
        if min(abs(m) for m in margins) < 1e-4:
            continue  # a near-tie that batch padding may flip
        checked += 1
        assert report.per_query["paired_accuracy"][pair_id] == float(min(margins) > 0), pair_id
    assert checked >= 30
    values = list(report.per_query["paired_accuracy"].values())
    assert report.means["paired_accuracy"] == pytest.approx(sum(values) / len(values))
