"""``recft.summarize`` on a real two-job tiny multirun: table, CSV, figures, Pareto, W&B grouping."""

import csv
import subprocess
import sys

import pytest

from recft.sweeps.summarize import Job, SummarizeError, collect, mark_pareto, summarize


def test_a_two_job_multirun_is_summarised(tiny_sweep, tmp_path):
    jobs, swept = collect([tiny_sweep])
    assert len(jobs) == 2 and swept == ["loss.temperature"]
    assert sorted(job.overrides["loss.temperature"] for job in jobs) == ["0.05", "0.1"]
    out = summarize([tiny_sweep], tmp_path / "summary", curves=True)
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert len(rows) == 2 and {"loss.temperature", "Δ tiny (95% CI)", "Δ trecdl (95% CI)", "wall s"} <= set(rows[0])
    assert any(row["Pareto"] == "✓" for row in rows)
    assert (out / "summary.md").read_text().count("\n") == 4  # header, rule, two jobs
    figures = {p.relative_to(out / "figures").as_posix() for p in (out / "figures").rglob("*.png")}
    assert {"loss.temperature.png", "frontier.png", "0/epochs_tiny.png", "1/bars_trecdl.png"} <= figures


def test_every_job_of_a_sweep_shares_one_wandb_group(tiny_sweep):
    """The offline run files carry the group name ``train-<sweep folder name>``."""
    group = f"train-{tiny_sweep.name}".encode()
    for job in ("0", "1"):
        runs = list((tiny_sweep / job / "wandb").glob("offline-run-*/run-*.wandb"))
        assert runs and group in runs[0].read_bytes()


def test_pareto_marks_only_undominated_jobs(tmp_path):
    def job(gain, probe):
        row = {"delta": gain, "ci_low": gain, "ci_high": gain, "n": 10, "mean_a": 0, "mean_b": gain}
        return Job(tmp_path, {}, "g", "ndcg@10", row, {"p": {**row, "delta": probe}}, 1.0, None)

    jobs = [job(0.05, -0.02), job(0.03, 0.0), job(0.02, -0.03), job(0.05, -0.01)]
    mark_pareto(jobs)
    assert [j.pareto for j in jobs] == [False, True, False, True]


def test_a_folder_without_jobs_is_a_one_line_error(tmp_path):
    with pytest.raises(SummarizeError, match="no job folder with a summary.json"):
        collect([tmp_path])
    done = subprocess.run([sys.executable, "-m", "recft.summarize", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and str(tmp_path) in done.stderr
