"""The null control keeps queries, counts and passages, and takes every query's own positives away."""

from collections import Counter

from recft.data.pairs import Pair
from recft.loop.intake.null_control import derange_positives


def test_every_query_gets_another_querys_positives_and_nothing_else_changes():
    pairs = [Pair(f"q{i}", f"claim {i}", f"d{i}", f"passage {i}", "s") for i in range(50)]
    pairs += [Pair("q0", "claim 0", "d0b", "passage 0b", "s")]  # a query with two positives
    shuffled = derange_positives(pairs, seed=42)
    own = {(p.query, p.doc_id) for p in pairs}
    assert not {(p.query, p.doc_id) for p in shuffled} & own
    assert Counter(p.query for p in shuffled) == Counter(p.query for p in pairs)
    assert {(p.doc_id, p.passage) for p in shuffled} <= {(p.doc_id, p.passage) for p in pairs}  # whole positives
    assert derange_positives(pairs, seed=42) == shuffled and derange_positives(pairs, seed=7) != shuffled


def test_a_null_control_cycle_trains_only_on_other_queries_positives(
    tiny_model_dir, tiny_train_beir, tmp_path, monkeypatch
):
    import json

    from hydra.utils import instantiate as hydra_instantiate

    import recft.loop.orchestration.run as run_module
    from recft.loop.orchestration.run import run_loop

    from conftest import compose, inbox_cycle_overrides

    trained: list[set] = []

    class PairSpy:
        def __init__(self, maker):
            self.maker = maker

        def __getattr__(self, name):
            return getattr(self.maker, name)

        def make(self, start, data, ctx):
            trained.append({(p.query, p.passage) for p in data.pairs})
            return self.maker.make(start, data, ctx)

    monkeypatch.setattr(run_module, "instantiate", lambda node: PairSpy(hydra_instantiate(node)))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rows = [{"anchor": f"question {i}", "positive": f"passage number {i} of its own"} for i in range(24)]
    (inbox / "2026-12-01.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    overrides = inbox_cycle_overrides(tiny_model_dir, tiny_train_beir, tmp_path, inbox, "golden.seal=0.25")
    [line] = run_loop(compose("cycle", *overrides, "loop.null_control=true"))
    true_pairs = {(r["anchor"], r["positive"]) for r in rows}
    assert trained and trained[0] and not trained[0] & true_pairs  # every trained query has another's positive
    assert line["sealed"]["queries"] > 0 and len(trained[0]) == line["pairs"]["trained_on"]
