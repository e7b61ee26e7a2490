"""The recursive loop end to end on a tiny random BERT: verdicts, registry, evidence, history, figures,
and what a ``kill -9`` during training or promotion leaves behind."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from recft.data.pairs import Pair
from recft.eval.report import Report
from recft.loop.gate.looks import SpendingError, levels
from recft.loop.gate.promotion import BaseVectors, GateConfig, decide
from recft.loop.intake.schedule import arrivals
from recft.loop.orchestration.run import run_loop
from recft.loop.storage.history import read_history
from recft.loop.storage.registry import Registry
from recft.loop.storage.versions import load_version
from recft.model.store import load_overrides

from conftest import CYCLE_TEST_DEFAULTS, REPO, compose, tiny_run_overrides


def reports(registry_root, version_id) -> dict[str, Report]:
    folder = registry_root / "reports" / version_id
    return {path.stem: Report.load(path) for path in folder.glob("*.json")}


def cycle_overrides(model_dir, data_dir, out_dir, *extra):
    """The cycle on the tiny model and data; a LoRA of rank 4 unless ``extra`` names another adapter."""
    lora = [] if any(e.startswith("adapter=") for e in extra) else ["adapter.rank=4"]
    registry = [f"registry.root={out_dir}/registry", "gate.min_queries=1", "gate.n_resamples=500"]
    registry += [] if any(e.startswith("golden.seal=") for e in extra) else ["golden.seal=0"]
    registry += list(CYCLE_TEST_DEFAULTS)  # also for the subprocesses, which do not go through compose
    return tiny_run_overrides(model_dir, data_dir, out_dir, *lora, *registry, *extra)


def compose_cycle(*overrides):
    return compose("cycle", *overrides)


def test_arrivals_split_by_share_and_cover_every_pair_once():
    pairs = [Pair(f"q{i}", "q", f"d{i}", "p") for i in range(10)]
    batches = arrivals(pairs, [0.2, 0.3, 0.5], seed=1)
    assert [len(b) for b in batches] == [2, 3, 5]
    assert sorted(p.query_id for b in batches for p in b) == sorted(p.query_id for p in pairs)
    with pytest.raises(ValueError, match="loop.schedule"):
        arrivals(pairs, [0.7, 0.7], seed=1)


def test_two_cycles_write_registry_evidence_history_and_figures(tiny_model_dir, tiny_train_beir, tmp_path):
    cfg = compose_cycle(
        *cycle_overrides(tiny_model_dir, tiny_train_beir, tmp_path),
        "loop.cycles=2",
        "loop.schedule=[0.5,0.5]",
        "cost.price_per_hour=2.0",
    )
    lines = run_loop(cfg)
    assert [ln["cycle"] for ln in lines] == [1, 2]
    gate = GateConfig(**OmegaConf.to_container(cfg.gate, resolve=True))
    base = reports(tmp_path / "registry", "v0001-base")
    expected_levels = levels(0.025, "fallback", [ln["golden"]["p_superiority"] for ln in lines])
    for look, ln in enumerate(lines, start=1):  # the verdict is the gate's on the stored reports, at this look's α
        assert ln["looks"]["look"] == look and ln["looks"]["alpha"] == pytest.approx(expected_levels[look - 1])
        assert ln["looks"]["alpha_left"] == pytest.approx(
            0.025 - sum(0.025 * 6 / (np.pi * k) ** 2 for k in range(1, look + 1))
        )
        inc, cand = (reports(tmp_path / "registry", ln[who]) for who in ("incumbent", "candidate"))
        probe = {"trecdl": (inc["trecdl"].per_query["ndcg@10"], cand["trecdl"].per_query["ndcg@10"], "ndcg@10")}
        against_base = (
            None
            if ln["incumbent"] == "v0001-base"
            else BaseVectors(
                {"trecdl": (base["trecdl"].per_query["ndcg@10"], cand["trecdl"].per_query["ndcg@10"], "ndcg@10")}
            )
        )
        past = [line["golden"]["sd"] for line in lines[: look - 1]]
        golden = (inc["tiny"].per_query["ndcg@10"], cand["tiny"].per_query["ndcg@10"])
        expected = decide(*golden, probe, gate, base=against_base, alpha=ln["looks"]["alpha"], past_sds=past)
        assert ln["verdict"] == expected.verdict and ln["reasons"] == expected.reasons
    known = [6 if lines[0]["verdict"] == "PROMOTED" else 0]  # the base has learned from none of them
    assert [ln["pairs"] for ln in lines] == [
        {"new": 6, "total": 6, "trained_on": 6, "known_to_incumbent": 0, "train_on": "since_incumbent"},
        {"new": 6, "total": 12, "trained_on": 12 - known[0] + min(known[0], 128), "known_to_incumbent": known[0],
         "train_on": "since_incumbent"},
    ]  # fmt: skip
    registry = Registry(tmp_path / "registry")
    versions = {v.id: v for v in registry.versions()}
    assert len(versions) == 3 and versions[lines[0]["candidate"]].parent == "v0001-base"
    expected = {"PROMOTED": "incumbent", "PENDING_APPROVAL": "candidate"}
    for ln in lines:
        status = versions[ln["candidate"]].status
        if ln["verdict"] == "PROMOTED" and ln is lines[0] and lines[1]["verdict"] == "PROMOTED":
            assert status == "retired"  # promoted in cycle 1, replaced in cycle 2
        else:
            assert status == expected.get(ln["verdict"], "rejected")
        assert versions[ln["candidate"]].config["train"]["lr"] == 1e-3  # the lr actually used, not adapter.lr
        assert {"n", "delta", "ci_low", "ci_high", "effect_size"} <= set(ln["golden"])
        assert ln["cost"]["total"] == pytest.approx(ln["cost"]["device_hours"] * 2.0)
        evidence = json.loads((tmp_path / f"cycle-{ln['cycle']:03d}" / "gate_eval.json").read_text())
        assert evidence["verdict"] == ln["verdict"]
        forgetting = json.loads((tmp_path / f"cycle-{ln['cycle']:03d}" / "forgetting_eval.json").read_text())
        assert forgetting["probes"][0]["name"] == "trecdl" and len(forgetting["probes"][0]["per_query_delta"]) == 4
    assert len(read_history(tmp_path / "registry" / "history.jsonl")) == 2
    assert {p.name for p in (tmp_path / "registry" / "figures").iterdir()} >= {"golden.png", "probes.png"}


def test_a_cycle_trains_what_its_incumbent_has_not_learned_and_replays_a_declared_budget_of_the_rest(
    tiny_model_dir, learnable_beir, tmp_path, monkeypatch
):
    """``loop.train_on=since_incumbent``: after a promotion the next cycle trains the new pairs plus
    ``loop.earlier_pairs`` of those its incumbent learned from — a cost that follows what is new."""
    from hydra.utils import instantiate as hydra_instantiate

    import recft.loop.orchestration.run as run_module

    from conftest import SpyMaker

    batches: list[set] = []
    monkeypatch.setattr(run_module, "instantiate", lambda node: SpyMaker(hydra_instantiate(node), batches))
    cfg = compose_cycle(
        *cycle_overrides(tiny_model_dir, learnable_beir, tmp_path, *PROMOTING, "gate.alpha_spending=none"),
        "loop.cycles=2",
        "loop.schedule=[0.5,0.5]",
        "loop.earlier_pairs=5",
    )
    first, second = run_loop(cfg)
    assert first["verdict"] == "PROMOTED" and second["incumbent"] == first["candidate"]
    assert second["pairs"]["known_to_incumbent"] == first["pairs"]["total"] == 40
    assert second["pairs"]["trained_on"] == second["pairs"]["new"] + 5 == 45
    assert len(batches[1] - set().union(*[batches[0]])) == second["pairs"]["new"]  # the new pairs' queries
    assert len(batches[1] & batches[0]) == 5  # and five replayed
    lineage = Registry(tmp_path / "registry").get(second["candidate"]).config["lineage"]
    assert lineage["seen"]["pairs"] == 80


def kill_at(point: str, args: list[str], tmp_path) -> None:
    """Run ``recft cycle`` in its own process until it reaches the fault point ``point``, then ``kill -9`` it."""
    env = {**os.environ, "RECFT_PAUSE_AT": point, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "recft.cycle", *args, f"hydra.run.dir={tmp_path}/hydra"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        for line in proc.stdout:
            if line.strip() == f"paused at {point}":
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run never reached {point}"


PROMOTING = ("adapter=full", "train.epochs=3", "train.lr=1e-2", "train.batch_size=8", "gate.n_resamples=2000")


def test_require_approval_waits_for_a_human(tiny_model_dir, learnable_beir, tmp_path):
    cfg = compose_cycle(
        *cycle_overrides(tiny_model_dir, learnable_beir, tmp_path, *PROMOTING),
        "gate.require_approval=true",
        "logger=wandb",
    )
    [line] = run_loop(cfg)
    assert line["verdict"] == "PENDING_APPROVAL"
    assert list((tmp_path / "wandb").glob("offline-run-*/files")) or list((tmp_path / "wandb").glob("offline-run-*"))
    registry = Registry(tmp_path / "registry")
    assert registry.incumbent().id == "v0001-base"
    manage = [sys.executable, "-m", "recft.manage", "--registry", str(tmp_path / "registry")]
    done = subprocess.run([*manage, "approve", line["candidate"]], capture_output=True, text=True)
    assert done.returncode == 0 and registry.incumbent().id == line["candidate"]
    again = subprocess.run([*manage, "approve", line["candidate"]], capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.strip().endswith("is not pending approval (status incumbent)")
    table = subprocess.run([*manage, "history"], capture_output=True, text=True)
    assert "PENDING_APPROVAL" in table.stdout and f"incumbent: {line['candidate']}" in table.stdout


@pytest.mark.parametrize("point", ["training", "promotion"])
def test_kill_9_leaves_the_incumbent_valid_and_the_next_cycle_runs(tiny_model_dir, learnable_beir, tmp_path, point):
    # a candidate that honestly promotes, so the run reaches the promotion point; every look at full α
    args = cycle_overrides(tiny_model_dir, learnable_beir, tmp_path, *PROMOTING, "gate.alpha_spending=none")
    [first] = run_loop(compose_cycle(*args, "gate.min_queries=1000"))  # cycle 1: a registry, nothing promoted
    assert first["verdict"] == "INCONCLUSIVE"
    registry = Registry(tmp_path / "registry")
    before = registry.incumbent().id
    kill_at(point, args, tmp_path)
    assert registry.incumbent().id == before and registry.get(before).status == "incumbent"
    assert len(read_history(tmp_path / "registry" / "history.jsonl")) == 1
    [line] = run_loop(compose_cycle(*args))  # the lock was released and the next cycle runs
    assert line["cycle"] == 2 and registry.incumbent().id == line["candidate"]
    if point == "promotion":  # the killed cycle's registered candidate is marked abandoned, not left undecided
        abandoned = [v for v in registry.versions() if v.note.startswith("abandoned")]
        assert len(abandoned) == 1 and abandoned[0].status == "rejected"


def test_a_nudge_candidate_goes_through_the_gate_and_registry(tiny_model_dir, learnable_beir, tmp_path):
    """Cycle 1 nudges for half the queries; cycle 2 re-nudges from the encoder's original embeddings with all."""
    cfg = compose_cycle(
        *tiny_run_overrides(tiny_model_dir, learnable_beir, tmp_path, "adapter=nudge"),
        f"registry.root={tmp_path}/registry",
        "gate.min_queries=1",
        "gate.n_resamples=500",
        "adapter.val_fraction=0.25",
        "loop.cycles=2",
        "loop.schedule=[0.5,0.5]",
        "loop.train_on=new",  # NUDGE ignores this: it always re-fits on every pair seen
        "gate.alpha_spending=none",
        "golden.seal=0",
    )
    lines = run_loop(cfg)
    assert [ln["kind"] for ln in lines] == ["nudge", "nudge"]
    assert [ln["pairs"]["trained_on"] for ln in lines] == [40, 80]
    registry = Registry(tmp_path / "registry")
    first, second = (registry.get(ln["candidate"]) for ln in lines)
    assert [ln["verdict"] for ln in lines] == ["PROMOTED", "PROMOTED"] and registry.incumbent().id == second.id
    # the second descends from the first but nudges the base encoder's embeddings, never the first's
    assert second.parent == first.id
    assert first.config["encoder_version"] == second.config["encoder_version"] == "v0001-base"
    serving = json.loads((tmp_path / "registry" / "serving.json").read_text())
    assert serving["version"] == second.id
    for ln in lines:  # the probe corpus does not move: its delta is exactly zero
        assert all(d == 0 for d in ln["probes"][0]["per_query_delta"].values())
    # once the incumbent is not the base, every probe is also checked against the base
    assert [p["against"] for p in lines[0]["probes"]] == ["incumbent"] and lines[0]["golden_vs_base"] is None
    assert [p["against"] for p in lines[1]["probes"]] == ["incumbent", "base"]
    assert lines[1]["golden_vs_base"]["delta"] > 0


def test_a_stored_report_is_reused_only_under_the_same_evaluation_settings(
    tiny_model_dir, tiny_train_beir, tmp_path, capsys
):
    args = cycle_overrides(tiny_model_dir, tiny_train_beir, tmp_path, "train.epochs=1")
    [first] = run_loop(compose_cycle(*args))
    stored = tmp_path / "registry" / "reports" / "v0001-base" / "tiny.json"
    key, modified = Report.load(stored).config["evaluation_key"], stored.stat().st_mtime_ns
    run_loop(compose_cycle(*args))  # same settings: the base's reports are read, not re-made
    assert stored.stat().st_mtime_ns == modified
    [third] = run_loop(compose_cycle(*args, "eval.depth=3"))
    incumbent = third["incumbent"]
    report = Report.load(tmp_path / "registry" / "reports" / incumbent / "tiny.json")
    assert report.config["depth"] == 3 and report.config["evaluation_key"] != key
    assert "or under other settings; evaluating again" in capsys.readouterr().err


def test_golden_refresh_judges_each_cycle_on_fresh_queries(tiny_model_dir, tiny_train_beir, tmp_path):
    args = cycle_overrides(tiny_model_dir, tiny_train_beir, tmp_path, "train.epochs=1", "gate.golden_refresh=2")
    lines = run_loop(compose_cycle(*args, "loop.cycles=2", "loop.schedule=[0.5,0.5]"))
    samples = [ln["golden_sample"] for ln in lines]
    assert [(s["index"], s["queries"], s["pool"]) for s in samples] == [(0, 2, 4), (1, 2, 4)]
    assert samples[0]["fingerprint"] != samples[1]["fingerprint"] and [ln["golden"]["n"] for ln in lines] == [2, 2]
    assert [ln["looks"]["look"] for ln in lines] == [1, 2]  # looks still count on the pool
    with pytest.raises(SpendingError, match="gives 2 fresh samples, all used"):
        run_loop(compose_cycle(*args))


def test_a_protected_slice_is_checked_by_the_gate(tiny_model_dir, tiny_train_beir, tmp_path):
    args = cycle_overrides(
        tiny_model_dir, tiny_train_beir, tmp_path, "train.epochs=1", "eval.slices.rules=[query_length]"
    )
    lines = run_loop(compose_cycle(*args, "eval.slices.short_words=4", "gate.slices=[query_length:long]"))
    gate_eval = json.loads((tmp_path / "cycle-001" / "gate_eval.json").read_text())
    slice_checks = [p for p in gate_eval["probes"] if p["against"] == "slice"]
    assert [c["name"] for c in slice_checks] == ["query_length:long"] and slice_checks[0]["n"] >= 1
    assert lines[0]["verdict"] in ("PROMOTED", "REJECTED", "INCONCLUSIVE", "ROLLBACK", "FORGETTING_DETECTED")
    with pytest.raises(ValueError, match="not a slice of eval.slices"):
        run_loop(compose_cycle(*args, "gate.slices=[tail]", f"registry.root={tmp_path}/registry2"))
    # every golden query of the tiny set is short under 40 words: the long slice is empty, and the verdict says so
    registry3 = f"registry.root={tmp_path}/registry3"
    [empty] = run_loop(compose_cycle(*args, "eval.slices.short_words=40", "gate.slices=[query_length:long]", registry3))
    said = "golden slice query_length:long: no golden query in it this cycle, so it was not checked"
    assert empty["reasons"][-1] == said  # before, an empty protected slice was left out without a word


def test_by_default_the_history_line_splits_the_golden_delta_and_the_gate_holds_the_unseen_slice(
    tiny_model_dir, tiny_train_beir, tmp_path
):
    args = cycle_overrides(tiny_model_dir, tiny_train_beir, tmp_path, "train.epochs=1", "eval.slices.short_words=4")
    default = OmegaConf.load(REPO / "conf" / "gate" / "default.yaml").slices  # the shipped gate, not the tests' one
    assert list(default) == ["seen_in_training:unseen"]
    [line] = run_loop(compose_cycle(*args, f"gate.slices={list(default)}".replace("'", "")))
    slices, n = line["slices"], line["golden_set"]["n"]
    assert set(slices) == {f"seen_in_training:{s}" for s in ("seen", "unseen")} | {
        "query_length:short",
        "query_length:long",
    }
    assert slices["seen_in_training:seen"]["n"] + slices["seen_in_training:unseen"]["n"] == n
    assert slices["seen_in_training:seen"]["n"] == line["golden_set"]["seen_in_training"]
    for row in slices.values():
        assert not row["n"] or (row["ci_low"] <= row["delta"] <= row["ci_high"] and 0 <= row["p"] <= 1 and row["test"])
    checks = [p for p in line["probes"] if p["against"] == "slice"]
    assert [c["name"] for c in checks] == (
        ["seen_in_training:unseen"] if slices["seen_in_training:unseen"]["n"] else []
    )


def test_a_trained_candidate_with_nudge_on_top_is_stored_served_and_renudged_with_every_pair(
    tiny_model_dir, learnable_beir, tmp_path
):
    """Cycle 1 trains query-side LoRA on half the pairs and moves documents; cycle 2 trains on the new half
    only, but its NUDGE step re-fits from its own encoder with every pair seen."""
    cfg = compose_cycle(
        *tiny_run_overrides(tiny_model_dir, learnable_beir, tmp_path, "adapter=query_lora", *PROMOTING[1:]),
        f"registry.root={tmp_path}/registry",
        "+nudge_step@adapter.nudge=default",
        "adapter.nudge.val_fraction=0.25",
        "gate.min_queries=1",
        "gate.slices=[]",  # 80 tiny queries cannot show a slice or the probe non-inferior within 0.02:
        "gate.forgetting_tolerance=1",  # what is under test is what cycle 2 starts from
        "loop.cycles=2",
        "loop.schedule=[0.5,0.5]",
        "loop.train_on=new",
        "gate.alpha_spending=none",
        "golden.seal=0",
    )
    lines = run_loop(cfg)
    assert [ln["pairs"]["trained_on"] for ln in lines] == [40, 40]
    registry = Registry(tmp_path / "registry")
    versions = [registry.get(ln["candidate"]) for ln in lines]
    moved = [v.config["nudge"] for v in versions]
    assert all(m["docs_moved"] > 0 for m in moved)  # the learnable set's pairs do move documents
    assert [ln["recipes"][0]["nudge"] for ln in lines] == moved  # the history line says what moved
    assert lines[0]["verdict"] == "PROMOTED"  # so cycle 2 starts from vectors already moved, and is held to them
    assert [m["against"] for m in moved] == ["no moved vectors", "the start point's moved vectors"]
    for version in versions:  # its own encoder, its moved vectors beside it
        assert version.kind == "query_lora" and "encoder_version" not in version.config
        assert set(load_overrides(version.path)) and (Path(version.path) / "query_adapter").is_dir()
        assert load_version(registry, version, cfg.encoder).overrides.keys() == load_overrides(version.path).keys()
    fitted = [json.loads((Path(v.path) / "nudge.json").read_text())["stats"] for v in versions]
    assert [f["pairs_used"] for f in fitted] == [40, 80]


def test_the_no_gate_arm_promotes_what_the_gate_would_not_and_says_so(tiny_model_dir, tiny_train_beir, tmp_path):
    """``loop.gated=false`` (experiments/loop_learning's arm b): the candidate is served whatever the gate
    said, and the history line keeps what it said."""
    cfg = compose_cycle(*cycle_overrides(tiny_model_dir, tiny_train_beir, tmp_path), "loop.gated=false")
    [line] = run_loop(cfg)
    gated = decide(
        *(reports(tmp_path / "registry", line[who])["tiny"].per_query["ndcg@10"] for who in ("incumbent", "candidate")),
        {},
        GateConfig(**OmegaConf.to_container(cfg.gate, resolve=True)),
        alpha=line["looks"]["alpha"],
    )
    assert gated.verdict != "PROMOTED"  # one epoch of a random tiny BERT: the gate would not have
    assert line["verdict"] == "PROMOTED" and line["reasons"][0].startswith("loop.gated=false: promoted although")
    assert Registry(tmp_path / "registry").incumbent().id == line["candidate"]


@pytest.mark.parametrize("point", ["look_opened", "registered", "judged"])
def test_a_run_killed_after_its_look_is_spent_leaves_the_look_and_its_rerun_takes_the_next_level(
    tiny_model_dir, learnable_beir, tmp_path, point
):
    """The look is written ABANDONED (p = 1) before the candidate's golden result is stored; judging
    updates it. Killed at each step between the two, the look stays spent, and the re-run of the same
    delivery is held to the next level — never a second try at the same one. (Before, the look was
    written only after judging: a run killed at ``registered`` left a stored golden result and no look.)"""
    args = cycle_overrides(tiny_model_dir, learnable_beir, tmp_path, *PROMOTING)
    registry = Registry(tmp_path / "registry")
    kill_at(point, args, tmp_path)
    [spent] = registry.looks()
    assert spent["verdict"] == "ABANDONED" and spent["p"] == 1.0
    assert spent["alpha"] == pytest.approx(0.025 * 6 / np.pi**2)  # the first look's level, spent
    assert registry.ledger_terms()["alpha_spending"] == "fallback"
    [line] = run_loop(compose_cycle(*args))
    assert line["looks"]["look"] == 2 and line["looks"]["alpha"] == pytest.approx(0.025 * 6 / (np.pi**2 * 4))
    assert [look["verdict"] for look in registry.looks()] == ["ABANDONED", line["verdict"]]


def test_what_an_incumbent_has_learned_is_read_from_its_lineage_and_never_guessed():
    """``known_to``: the count of pairs so far its cycle saw, when their fingerprint matches this loop's
    first pairs; 0 (everything trains as new) for the base model or a record that does not match."""
    from types import SimpleNamespace

    from recft.loop.orchestration.cycle import known_to, replayed
    from recft.loop.orchestration.decision import fingerprint_pairs

    seen = [Pair(f"q{i}", f"question {i}", f"d{i}", "passage") for i in range(10)]
    version = lambda record: SimpleNamespace(config={"lineage": {"seen": record}})  # noqa: E731
    assert known_to(version({"pairs": 6, "fingerprint": fingerprint_pairs(seen[:6])}), seen) == 6
    assert known_to(version({"pairs": 6, "fingerprint": fingerprint_pairs(seen[1:7])}), seen) == 0
    assert known_to(version({"pairs": 12, "fingerprint": "x"}), seen) == 0
    assert known_to(SimpleNamespace(config={}), seen) == 0
    sample = replayed(seen, 4, seed=42, cycle=3)
    assert len(sample) == 4 and sample == [p for p in seen if p in sample]  # in arrival order
    assert sample == replayed(seen, 4, seed=42, cycle=3) != replayed(seen, 4, seed=42, cycle=4)
    assert replayed(seen, 20, seed=42, cycle=3) == seen
