"""A cycle's own dev split chooses among its declared recipes; no dev or sealed query ever trains."""

import json
from types import SimpleNamespace

import pytest
from hydra.utils import instantiate as hydra_instantiate

import recft.loop.orchestration.candidates as candidates_module
import recft.loop.orchestration.cycle as cycle_module
import recft.loop.orchestration.run as run_module
from recft.loop.intake.schedule import LoopConfigError
from recft.loop.orchestration.run import run_loop
from recft.loop.storage.registry import Registry
from recft.training.candidate import Candidate
from recft.training.recipes import write_recipe

from conftest import TINY_CORPUS, SpyMaker, compose, inbox_cycle_overrides, tiny_run_overrides

TEXT = {doc: f"{title} {text}".strip() for doc, (title, text) in TINY_CORPUS.items()}


@pytest.fixture
def spied(monkeypatch):
    batches: list[set] = []
    spy = lambda node: SpyMaker(hydra_instantiate(node), batches)  # noqa: E731
    monkeypatch.setattr(run_module, "instantiate", spy)
    monkeypatch.setattr(candidates_module, "instantiate", spy)
    return batches


def test_dev_chooses_among_the_declared_recipes_and_no_held_out_query_trains(
    tiny_model_dir, tiny_train_beir, tmp_path, spied
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for day in range(2):
        # a passage of its own per question: dev draws by document, and 5 shared ones would all train
        passages = [f"{TEXT[f'd{1 + i % 5}']} Note {day}.{i}." for i in range(20)]
        rows = [{"anchor": f"day {day} question {i}", "positive": passages[i]} for i in range(20)]
        (inbox / f"2026-12-0{day + 1}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = [*tiny_run_overrides(tiny_model_dir, tiny_train_beir, tmp_path, "adapter.rank=4", "train.epochs=1")]
    two_epochs = compose("train", *base, "adapter=query_lora", "adapter.rank=4", "train.epochs=2", "train.keep=best",
                         "train.validate_every_n_epochs=1")  # fmt: skip
    recipe = write_recipe(tmp_path / "two.yaml", "two", two_epochs, {"tuned_on": "dev", "search": "test"})
    cfg = compose(
        "cycle",
        *inbox_cycle_overrides(tiny_model_dir, tiny_train_beir, tmp_path, inbox),
        "loop.per_file=true",
        "golden.seal=0.25",
        "dev.arrival_share=0.3",
        f"loop.recipes=[{recipe},own]",
    )
    lines = run_loop(cfg)
    registry = Registry(tmp_path / "registry")
    held = {e["text"] for e in registry.sealed("golden")} | {e["text"] for e in registry.sealed("dev")}
    assert registry.sealed("dev") and registry.sealed("golden")
    assert not {e["text"] for e in registry.sealed("golden")} & {e["text"] for e in registry.sealed("dev")}
    assert spied and all(batch and not batch & held for batch in spied)  # every recipe of every cycle
    for line in lines:
        rows = line["recipes"]
        assert [r["recipe"] for r in rows] == [str(recipe), "own"] and sum(r["chosen"] for r in rows) == 1
        best = max(rows, key=lambda r: r["dev_gain"])
        assert best["chosen"] and line["dev"]["queries"] > 0
        assert line["dev"]["seen"] == 0 and line["dev"]["unseen"] == line["dev"]["queries"]  # a passage each
        assert rows[0]["epochs"] == 2 and rows[1]["epochs"] == 1
    assert lines[1]["dev"]["queries"] > lines[0]["dev"]["queries"]  # dev of record grows like the golden set


def test_without_a_dev_split_declared_recipes_are_refused_and_a_cycle_with_none_drawn_yet_trains_its_own(
    tiny_model_dir, tiny_train_beir, tmp_path, spied
):
    args = [
        *tiny_run_overrides(tiny_model_dir, tiny_train_beir, tmp_path, "adapter.rank=4", "train.epochs=1"),
        f"registry.root={tmp_path}/registry",
        "gate.min_queries=1",
        "gate.n_resamples=200",
        "golden.seal=0",
        "loop.recipes=[scifact,own]",
    ]
    with pytest.raises(LoopConfigError, match=r"dev.arrival_share=0 gives none: set dev.arrival_share > 0, or declare"):
        run_loop(compose("cycle", *args, "dev.arrival_share=0"))
    assert not spied and not (tmp_path / "registry" / "history.jsonl").exists()  # refused before any work
    [line] = run_loop(compose("cycle", *args, "dev.arrival_share=0.001"))  # a share so small no group is drawn
    assert line["dev"]["queries"] == 0
    assert [r["recipe"] for r in line["recipes"]] == ["own"] and line["recipes"][0]["dev_gain"] is None
    assert len(spied) == 1


def one_delivery_cycle(model_dir, data_dir, tmp_path) -> dict:
    """One cycle on one delivery of 20 questions, 30 % of them held out as dev: its history line."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rows = [{"anchor": f"question {i}", "positive": TEXT[f"d{1 + i % 5}"]} for i in range(20)]
    (inbox / "2026-12-01.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    [line] = run_loop(
        compose("cycle", *inbox_cycle_overrides(model_dir, data_dir, tmp_path, inbox), "dev.arrival_share=0.3")
    )
    return line


def test_when_dev_hands_the_incumbent_back_no_candidate_is_gated_and_no_look_is_spent(
    tiny_model_dir, tiny_train_beir, tmp_path, monkeypatch
):
    from recft.loop.orchestration.candidates import Trained

    def incumbent_preferred(loop, start, data, sets, run_dir):
        row = {"recipe": "own", "dev_gain": 0.0, "metric": "ndcg@10", "chosen": True}
        return Trained("own", None, loop.train_config, 0.0, is_start=True), [row]

    monkeypatch.setattr(cycle_module, "train_candidates", incumbent_preferred)
    line = one_delivery_cycle(tiny_model_dir, tiny_train_beir, tmp_path)
    registry = Registry(tmp_path / "registry")
    assert line["verdict"] == "SKIPPED" and "nothing to gate, no look spent" in line["reasons"][0]
    assert line["dev"]["queries"] > 0 and line["recipes"][0]["dev_gain"] == 0.0
    assert registry.looks() == [] and [v.kind for v in registry.versions()] == ["base"]
    assert registry.sealed("dev") and len(registry.arrivals()) == 1  # the file is consumed, its dev kept


@pytest.mark.parametrize(
    "summary, merge, nudge, moved_before, is_start",
    [
        ({"checkpoint": {"chosen_epoch": 0}}, {"weight": 1.0}, None, False, True),  # keep=best kept epoch 0
        ({"checkpoint": {"chosen_epoch": 2}}, {"weight": 0.0}, None, False, True),  # the merge kept w = 0
        ({"checkpoint": {"chosen_epoch": 2}}, {"weight": 0.5}, None, False, False),
        ({}, {"weight": 1.0}, None, False, False),  # keep=last
        ({"checkpoint": {"chosen_epoch": 0}}, {"weight": 1.0}, {"kept_the_start_points": True}, True, True),
        # the start's weights, but its NUDGE step moved vectors anew: measured, not scored 0
        ({"checkpoint": {"chosen_epoch": 0}}, {"weight": 1.0}, {"kept_the_start_points": False}, True, False),
        ({"checkpoint": {"chosen_epoch": 0}}, {"weight": 1.0}, None, True, False),  # it dropped the moved vectors
    ],
)
def test_only_a_candidate_that_is_the_start_point_gains_exactly_nothing_on_dev(
    summary, merge, nudge, moved_before, is_start
):
    """Re-measured through another path, the start point's weights round differently (−0.0002 in a
    bf16 cycle); the dev gain of the start point itself is 0 by definition, and anything else — the
    start's weights with vectors moved anew included — is measured."""
    report = lambda value: SimpleNamespace(means={"ndcg@10": value})  # noqa: E731
    settings = {"merge": merge, **({"nudge": nudge} if nudge else {})}
    overrides = {"d1": None} if nudge else None
    candidate = Candidate({0: {}, 2: {"dev": report(0.7028)}}, None, 1.0, settings, None, overrides, summary)
    start = SimpleNamespace(reports={"dev": report(0.7030)}, moved=object() if moved_before else None)
    gain = candidates_module.dev_gain(candidate, start, "ndcg@10")
    assert gain == 0.0 if is_start else gain == pytest.approx(-0.0002)
    assert candidates_module.is_the_start(candidate, start) is is_start


def test_a_candidate_dev_cannot_tell_from_the_incumbent_is_not_gated(
    tiny_model_dir, tiny_train_beir, tmp_path, monkeypatch
):
    """Measured, not assumed: a candidate whose dev Δ the screen's test cannot tell from 0 is SKIPPED."""
    from recft.loop.orchestration.candidates import Trained

    def same_as_incumbent(loop, start, data, sets, run_dir):
        row = {"recipe": "own", "dev_gain": 0.0, "metric": "ndcg@10", "chosen": True}
        return Trained("own", SimpleNamespace(reports={"dev": start.reports["dev"]}), loop.train_config, 0.0), [row]

    monkeypatch.setattr(cycle_module, "train_candidates", same_as_incumbent)
    line = one_delivery_cycle(tiny_model_dir, tiny_train_beir, tmp_path)
    screen = line["dev"]["screen"]
    assert line["verdict"] == "SKIPPED" and "dev does not show the candidate beats the incumbent" in line["reasons"][0]
    assert screen["n"] == line["dev"]["queries"] > 0 and screen["delta"] == 0 and screen["p"] == 1.0
    assert not screen["send"] and Registry(tmp_path / "registry").looks() == []


def test_dev_of_record_grows_every_cycle_and_no_repeat_of_a_held_out_query_trains(
    tiny_model_dir, tiny_train_beir, tmp_path, spied
):
    """Through the cycle's own path (``run_cycle``'s sealing): every delivery repeats all earlier questions
    word for word, and brings new ones on the same documents. Dev of record grows each cycle, is measured
    whole (its strata add up), and no sealed or dev question — nor a repeat of one — ever trains."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    asked: list[dict] = []
    for day in range(3):
        asked += [{"anchor": f"day {day} question {i}", "positive": TEXT[f"d{1 + i % 5}"]} for i in range(16)]
        (inbox / f"2026-12-0{day + 1}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in asked))
    cfg = compose(
        "cycle",
        *inbox_cycle_overrides(tiny_model_dir, tiny_train_beir, tmp_path, inbox),
        "loop.per_file=true",
        "golden.seal=0.25",
        "dev.arrival_share=0.3",
    )
    lines = run_loop(cfg)
    registry = Registry(tmp_path / "registry")
    held = {e["text"] for e in registry.sealed("golden")} | {e["text"] for e in registry.sealed("dev")}
    assert len(lines) == 3 and spied and all(not batch & held for batch in spied)
    dev = [line["dev"]["queries"] for line in lines]
    assert dev[0] < dev[1] < dev[2]
    assert all(line["dev"]["seen"] + line["dev"]["unseen"] == line["dev"]["queries"] for line in lines)
    by_cycle = [sum(e["cycle"] <= c for e in registry.sealed("dev")) for c in (1, 2, 3)]
    assert by_cycle[0] < by_cycle[1] < by_cycle[2]
