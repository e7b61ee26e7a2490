"""NUDGE on top of a trained candidate: γ held to the budget on dev, stored beside the encoder, served from it."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from training.test_budget import budget_overrides

import recft.nudge.on_top as on_top
from recft.common.errors import instantiate
from recft.eval.report import Report
from recft.loop.storage.registry import Version
from recft.loop.storage.versions import load_version
from recft.model.store import has_overrides, load_overrides
from recft.nudge.algorithm import nudge_n, nudge_n_accuracies, nudge_n_at
from recft.nudge.corpus import NudgeError, NudgeProblem
from recft.nudge.on_top import GAMMAS, NudgeStep, nudge_within_budget
from recft.training.candidate import CandidateError
from recft.training.job import train_job

from conftest import TINY_CORPUS, TINY_QRELS, TINY_QUERIES, compose_train, write_beir


def problem() -> NudgeProblem:
    """12 documents, each away from where its queries point; 60 training and 20 validation queries about
    the first six: moving a document toward its training queries helps validation, more with a larger γ."""
    rng = np.random.default_rng(0)
    unit = lambda x: (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)  # noqa: E731
    topics = unit(rng.normal(size=(12, 16)))
    docs = unit(topics + 1.2 * unit(rng.normal(size=(12, 16))))

    def queries(n):
        answers = [[int(rng.integers(0, 6))] for _ in range(n)]
        return unit(np.stack([topics[a[0]] + rng.normal(scale=0.1, size=16) for a in answers])), answers

    ids = [f"d{i}" for i in range(12)]
    return NudgeProblem(ids, docs, queries(60), queries(20), "fp", {"docs": 12})


def dev_cost(overrides) -> float:
    """A stand-in dev loss that grows with how far the moved vectors went."""
    if not overrides:
        return 0.0
    base = problem().doc_emb
    return float(sum(np.linalg.norm(v - base[int(d[1:])]) for d, v in overrides.items()))


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setattr(on_top, "nudge_problem", lambda *args: problem())

    def evaluate_set(encoder, source, cache, settings, overrides=None):
        return Report("dev", "test", {"ndcg@10": {"q1": 0.7 - dev_cost(overrides)}})

    monkeypatch.setattr(on_top, "evaluate_set", evaluate_set)


def ctx(budget):
    golden = SimpleNamespace(name="tiny", dataset=SimpleNamespace(corpus={}))
    train = SimpleNamespace(seed=42, primary="ndcg@10", forgetting_budget=budget)
    dev = SimpleNamespace(dataset=SimpleNamespace(qrels={"q1": {"d-unseen": 1}}))
    return SimpleNamespace(golden="tiny", sets={"tiny": golden, "dev": dev}, cache=None,
                           settings=SimpleNamespace(show_progress=False), train=train)  # fmt: skip


def moved_at(gamma: float):
    p = problem()
    return p.corpus(nudge_n_at(p.doc_emb, *p.train, gamma))


def expected_gamma(budget, carried_cost=0.0) -> float | None:
    """The rule, written out: the best validation accuracy (then the smallest γ) among the γ > 0 that beat
    γ = 0 on validation and cost dev no more than the budget beyond what the carried vectors cost; None
    when none."""
    p = problem()
    acc = nudge_n_accuracies(p.doc_emb, *p.train, *p.val, GAMMAS)
    cost = {g: dev_cost(moved_at(g).overrides()) - carried_cost for g in GAMMAS}
    fits = [g for g in GAMMAS if g > 0 and acc[g] > acc[0.0] and (budget is None or cost[g] <= budget)]
    return max(fits, key=lambda g: (acc[g], -g)) if fits else None


def test_the_budget_picks_the_best_validation_gamma_that_fits_it(stand_in):
    p = problem()
    costs = sorted({dev_cost(p.corpus(nudge_n_at(p.doc_emb, *p.train, g)).overrides()) for g in GAMMAS if g})
    unbounded, _ = nudge_within_budget(None, [], ctx(None), NudgeStep())
    assert unbounded.gamma == expected_gamma(None) == nudge_n(p.doc_emb, *p.train, *p.val, GAMMAS).gamma > 0
    chosen = set()
    for budget in costs:
        moved, record = nudge_within_budget(None, [], ctx(budget), NudgeStep())
        assert (moved.gamma if moved else None) == expected_gamma(budget)
        assert record["gamma"] == (moved.gamma if moved else 0.0)
        assert all(point["dev_loss"] > budget for point in record["looked_at"][:-1])
        if moved:
            last = record["looked_at"][-1]["dev_loss"]
            assert last == pytest.approx(dev_cost(moved.overrides())) and last <= budget
        else:
            assert record["docs_moved"] == 0  # no γ both helps validation and fits: nothing moves
        chosen.add(moved.gamma if moved else 0.0)
    assert len(chosen) >= 3  # nothing, a middle γ, the best: the budgets above tell them apart


def test_in_a_cycle_the_cost_is_measured_against_the_start_points_moved_vectors_and_they_stay_when_none_fits(
    stand_in,
):
    carried = moved_at(0.04)  # what the incumbent serves
    moved, record = nudge_within_budget(None, [], ctx(0.0), NudgeStep(), carried)
    assert moved.gamma == expected_gamma(0.0, dev_cost(carried.overrides())) > 0
    assert nudge_within_budget(None, [], ctx(0.0), NudgeStep())[0] is None  # against no moved vectors: none fits
    assert record["against"] == "the start point's moved vectors" and not record["kept_the_start_points"]
    small = moved_at(0.0025)  # cheaper on dev than any γ that beats not moving on validation
    assert expected_gamma(0.0, dev_cost(small.overrides())) is None
    kept, record = nudge_within_budget(None, [], ctx(0.0), NudgeStep(), small)
    assert kept is small and record["kept_the_start_points"] and record["docs_moved"] == len(small.doc_ids)
    other = dataclasses.replace(carried, fingerprint="another passage encoder")
    assert nudge_within_budget(None, [], ctx(0.0), NudgeStep(), other)[0] is None  # not servable: not kept


@pytest.mark.parametrize("refit_on_seen, kept", [(0.8, True), (0.9, True), (0.95, False)])
def test_in_a_cycle_the_start_points_vectors_are_a_point_chosen_on_the_whole_dev_split(
    stand_in, monkeypatch, refit_on_seen, kept
):
    """A re-fit within the budget on the unseen stratum replaces the incumbent's moved vectors only when the
    whole dev split — its claims on moved documents too — scores it higher; a tie keeps what is served."""
    carried = moved_at(0.04)
    carried_cost = dev_cost(carried.overrides())

    def evaluate_set(encoder, source, cache, settings, overrides=None):
        is_carried = overrides is not None and dev_cost(overrides) == pytest.approx(carried_cost)
        seen = 0.9 if is_carried else refit_on_seen
        return Report("dev", "test", {"ndcg@10": {"unseen": 0.7, "seen": seen}})

    monkeypatch.setattr(on_top, "evaluate_set", evaluate_set)
    context = ctx(0.005)
    qrels = {"unseen": {"d-unseen": 1}, "seen": {"d-trained": 1}}
    context.sets["dev"] = SimpleNamespace(dataset=SimpleNamespace(qrels=qrels))
    pairs = [SimpleNamespace(doc_id="d-trained")]
    moved, record = nudge_within_budget(None, pairs, context, NudgeStep(), carried)
    assert record["unseen_dev_queries"] == 1 and record["looked_at"][0]["dev_loss"] == 0.0  # fits the budget
    assert (moved is carried) is kept and record["kept_the_start_points"] is kept
    assert record["whole_dev"] == {"start": pytest.approx(0.8), "refit": pytest.approx((0.7 + refit_on_seen) / 2)}


def test_bad_nudge_settings_are_refused_in_one_line(tiny_model_dir, tiny_train_beir, tmp_path):
    with pytest.raises(NudgeError, match=r"^adapter.nudge.val_fraction must be in \(0, 1\), got 1$"):
        NudgeStep(val_fraction=1)
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, "adapter=query_lora", "adapter.nudge={gamma:0.1}")
    with pytest.raises(CandidateError, match=r"^adapter.nudge must be a step with a _target_: \+nudge_step@adapter"):
        instantiate(cfg.adapter)
    cfg = compose_train(
        tiny_model_dir, tiny_train_beir, tmp_path, "adapter=query_lora", "+nudge_step@adapter.nudge=default"
    )
    assert instantiate(cfg.adapter).nudge == NudgeStep()


def test_recft_train_nudges_on_top_of_query_lora_and_stores_both(tiny_model_dir, tiny_train_beir, tmp_path):
    selection = write_beir(tmp_path / "selection", TINY_CORPUS, TINY_QUERIES, TINY_QRELS)
    nudge = ["+nudge_step@adapter.nudge=default", "adapter.nudge.val_fraction=0.25", "adapter.nudge.gammas=[0,0.2]"]
    extra = budget_overrides(selection, "adapter=query_lora", *nudge, "train.lr=1e-2", "train.forgetting_budget=1")
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path / "run", *extra)
    summary = train_job(cfg, tmp_path / "run")
    record, folder = summary["nudge"], tmp_path / "run" / "candidate"
    assert summary["kind"] == "query_lora" and (folder / "query_adapter").is_dir()
    assert record["budget"] == 1 and set(record["val_accuracy"]) == {"0.0", "0.2"}
    recorded = ("gamma", "docs_moved", "against", "kept_the_start_points")
    assert summary["settings"]["nudge"] == {k: record[k] for k in recorded}
    assert record["gamma"] == 0.2 and record["docs_moved"] > 0  # the tiny run does move documents
    assert has_overrides(folder) and len(load_overrides(folder)) == record["docs_moved"]
    # a registry version holding both is served with its moved vectors, by its own encoder
    version = Version("v1", None, "now", "production", "query_lora", str(folder), None, {}, {}, "")
    loaded = load_version(None, version, cfg.encoder)
    assert set(loaded.overrides) == set(load_overrides(folder)) and loaded.encoder.passage_uses_base
