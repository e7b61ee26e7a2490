"""Forgetting held to a budget: the rule on a constructed table, the refusal of a selection probe that is
gated or reported, and ``recft train`` writing its candidate points and choice into summary.json."""

import subprocess
import sys

import pytest

from recft.eval.report import Report
from recft.training import job
from recft.training.budget import START, choose_within_budget, forgetting_budget, point
from recft.training.candidate import SELECTION, CandidateError
from recft.training.job import train_job

from conftest import REPO, TINY_CORPUS, TINY_QRELS, TINY_QUERIES, compose_train, tiny_run_overrides, write_beir


def row(epoch, weight, gain, loss):
    return {"epoch": epoch, "weight": weight, "dev_gain": gain, "probe_loss": loss}


TABLE = [
    row(0, 0.0, 0.0, 0.0),  # the start point
    row(1, 1.0, 0.05, 0.002),
    row(2, 0.25, 0.06, 0.001),
    row(2, 0.5, 0.10, 0.005),  # exactly at the budget: within it
    row(2, 1.0, 0.12, 0.020),
    row(3, 0.5, 0.09, 0.004),
    row(3, 1.0, 0.13, 0.030),  # the best dev gain, and the most forgetting
]


def chosen(rows, budget):
    found = choose_within_budget(rows, budget)
    return found["epoch"], found["weight"]


@pytest.mark.parametrize(
    "budget,expected",
    [
        (0.005, (2, 0.5)),  # a price of λ = 1 would take (2, 1.0) or (3, 1.0), 0.10 each, forgetting 4-6x more
        (0.001, (2, 0.25)),  # (1, 1.0) loses 0.002: out
        (0.0005, (0, 0.0)),  # nothing fits but the start point
        (0.05, (3, 1.0)),  # everything fits: the largest dev gain
    ],
)
def test_the_rule_takes_the_largest_dev_gain_within_the_budget(budget, expected):
    assert chosen(TABLE, budget) == expected


def test_the_start_point_is_always_eligible_and_is_handed_back_when_nothing_else_fits():
    over = [row(1, 1.0, 0.2, 0.1), row(1, 0.5, 0.1, 0.05)]
    assert choose_within_budget(over, 0.01) == START  # no start row given: the start point is added
    noisy_start = row(0, 0.0, 0.0, 1e-7)  # a start point measured again differs by float noise
    assert choose_within_budget([noisy_start, *over], 0.0) is noisy_start
    assert chosen([row(2, 0.0, 0.0, 0.0), *over], 0.0) == (2, 0.0)  # w = 0 at any epoch is the start point too
    assert chosen([row(0, 0.0, 0.0, 0.0), row(1, 1.0, -0.05, 0.0)], 0.01) == (0, 0.0)  # a dev loss is never taken


def test_ties_go_to_the_smaller_weight_then_the_earlier_epoch():
    assert chosen([row(2, 0.75, 0.1, 0.0), row(3, 0.5, 0.1, 0.0), row(1, 1.0, 0.1, 0.0)], 0.01) == (3, 0.5)
    assert chosen([row(3, 0.5, 0.1, 0.0), row(1, 0.5, 0.1, 0.0)], 0.01) == (1, 0.5)
    assert chosen([row(1, 1.0, 0.0, 0.0), row(0, 0.0, 0.0, 0.0)], 0.01) == (0, 0.0)  # no gain: the start point


def reports(dev: float, probe: float) -> dict:
    return {
        name: Report(name, "test", {"ndcg@10": {"q1": v, "q2": v}}) for name, v in (("dev", dev), (SELECTION, probe))
    }


def test_a_point_is_its_dev_gain_and_its_selection_probe_drop():
    start = reports(0.5, 0.6)
    assert point(2, 0.5, reports(0.7, 0.55), start, "ndcg@10") == pytest.approx(row(2, 0.5, 0.2, 0.05))
    assert point(2, 1.0, reports(0.7, 0.65), start, "ndcg@10")["probe_loss"] == 0.0  # a probe gain costs nothing


def budget_overrides(selection_path, *extra):
    return [
        "train.forgetting_budget=0.005",
        f"train.selection_probe.path={selection_path}",
        "train.selection_probe.name=tiny-selection",
        "train.selection_probe.max_queries=null",
        "train.selection_probe.corpus_sample=null",
        *extra,
    ]


@pytest.fixture
def no_work(monkeypatch):
    def refused_too_late(cfg):
        raise AssertionError("data was loaded before the refusal")

    monkeypatch.setattr(job, "load_training_data", refused_too_late)


def test_a_selection_probe_that_is_gated_or_reported_is_refused_before_any_work(
    tiny_model_dir, tiny_train_beir, tmp_path, no_work
):
    probe = tmp_path / "another-probe"  # never read: the refusal comes first
    cases = {
        "data": [f"probes.trecdl.path={probe}"],  # the golden set: tiny, test
        "probes.trecdl": [f"probes.trecdl.path={probe}", f"train.selection_probe.path={probe}/."],
        "data.train_split": [f"probes.trecdl.path={probe}", "train.selection_probe.split=train"],
    }
    for key, extra in cases.items():
        cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, *budget_overrides(tiny_train_beir, *extra))
        with pytest.raises(CandidateError, match=rf"^train.selection_probe is the same set as {key} \("):
            train_job(cfg, tmp_path)
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, *budget_overrides(probe, "adapter=nudge"))
    with pytest.raises(CandidateError, match="adapter=nudge has none"):  # NUDGE has no epochs nor weights
        train_job(cfg, tmp_path)
    for bad in ("-0.01", "nan", "lots"):
        cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, f"train.forgetting_budget={bad}")
        with pytest.raises(CandidateError, match="train.forgetting_budget must be a number >= 0"):
            forgetting_budget(cfg)


def test_recft_train_refuses_it_in_one_line(tiny_model_dir, tiny_train_beir, tmp_path):
    overrides = tiny_run_overrides(tiny_model_dir, tiny_train_beir, tmp_path, *budget_overrides(tiny_train_beir))
    done = subprocess.run(
        [sys.executable, "-m", "recft.train", *overrides], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert done.stderr.startswith("error: train.selection_probe is the same set as data (")
    assert not (tmp_path / "candidate").exists()


@pytest.mark.parametrize("keep", ["best", "last"])
def test_recft_train_writes_the_candidate_points_and_the_choice_into_the_summary(
    tiny_model_dir, tiny_train_beir, tmp_path, keep
):
    selection = write_beir(tmp_path / "selection", TINY_CORPUS, TINY_QUERIES, TINY_QRELS)
    extra = ["adapter=merge", "adapter.kind=full", "adapter.weights=[0,0.5,1]", "train.lr=1e-2", f"train.keep={keep}"]
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, *budget_overrides(selection, *extra))
    summary = train_job(cfg, tmp_path)
    record = summary["forgetting_budget"]
    assert record["budget"] == 0.005 and record["metric"] == "ndcg@10"
    assert record["selection_probe"]["name"] == "tiny-selection" and record["selection_probe"]["queries"] == 4
    table = record["table"]
    epochs = [1, 2] if keep == "best" else [2]  # keep=last: the start point and the last epoch only
    assert [(r["epoch"], r["weight"]) for r in table] == [(0, 0.0)] + [(e, w) for e in epochs for w in (0.5, 1.0)]
    assert all(r["within_budget"] == (r["epoch"] == 0 or r["probe_loss"] <= 0.005) for r in table)
    points = [{k: r[k] for k in ("epoch", "weight", "dev_gain", "probe_loss")} for r in table]
    assert record["chosen"] == choose_within_budget(points, 0.005)
    epoch, weight = record["chosen"]["epoch"], record["chosen"]["weight"]
    merge = summary["settings"]["merge"]
    assert merge["weight"] == weight and merge["chosen_by"] == "forgetting_budget" and "grid" not in merge
    if keep == "best":
        assert summary["checkpoint"]["chosen_epoch"] == epoch and summary["checkpoint"]["forgetting_budget"] == 0.005
    # the candidate is the chosen point: its dev gain is the one in the table
    dev = next(r for r in summary["deltas"]["dev"] if r["metric"] == "ndcg@10")
    assert dev["delta"] == pytest.approx(record["chosen"]["dev_gain"], abs=1e-6)
    # the selection probe chooses; it is neither reported nor part of any epoch's numbers
    assert SELECTION not in summary["deltas"] and all(SELECTION not in sets for sets in summary["epochs"].values())
    assert "trecdl" in summary["deltas"]
