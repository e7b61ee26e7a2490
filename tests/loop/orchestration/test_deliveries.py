"""The default job moves through time: a source that ships ``deliveries/`` is walked one file a run,
and after the last one the cycle says so and exits 0."""

import json

from recft.loop.orchestration.run import run_loop
from recft.loop.storage.registry import Registry

from conftest import TINY_CORPUS, compose, tiny_run_overrides

TEXT = {doc: f"{title} {text}".strip() for doc, (title, text) in TINY_CORPUS.items()}


def test_each_run_consumes_the_next_delivery_then_says_nothing_new(tiny_model_dir, tiny_train_beir, tmp_path, capsys):
    deliveries = tiny_train_beir / "deliveries"  # the source's own week: arrivals.path resolves to it
    deliveries.mkdir()
    for day in range(3):
        rows = [{"query_id": f"d{day}q{i}", "query": f"day {day} q {i}", "positive_passages": [{"docid": f"d{1 + i}"}]}
                for i in range(5)]  # fmt: skip
        (deliveries / f"2026-12-0{day + 1}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    overrides = [
        *tiny_run_overrides(tiny_model_dir, tiny_train_beir, tmp_path, "adapter.rank=4", "train.epochs=1"),
        f"registry.root={tmp_path}/registry",
        "gate.min_queries=1",
        "gate.n_resamples=200",
        "arrivals.near_dup=1.01",
        "train.min_pairs=1",
    ]
    cfg = compose("cycle", *overrides)
    assert cfg.arrivals.path == str(deliveries) and cfg.arrivals.take == "next"
    runs = [run_loop(compose("cycle", *overrides)) for _ in range(4)]
    assert [[ln["cycle"] for ln in lines] for lines in runs] == [[1], [2], [3], []]
    assert [ln["arrivals"][0]["file"] for lines in runs[:3] for ln in lines] == [
        "2026-12-01.jsonl",
        "2026-12-02.jsonl",
        "2026-12-03.jsonl",
    ]
    assert "no new pairs since cycle 3" in capsys.readouterr().out
    consumed = Registry(tmp_path / "registry").arrivals()
    assert sorted(entry["file"] for entry in consumed.values()) == [f"2026-12-0{d}.jsonl" for d in (1, 2, 3)]


def test_an_injected_batch_joins_the_cycle_it_names_and_only_that_one(tiny_train_beir, tmp_path):
    """``loop.inject``'s source, read by ``LoopSettings`` as a plain mapping, is loaded and added to its cycle."""
    from recft.data.pairs import Pair
    from recft.loop.orchestration.feed import arrival_batches
    from recft.loop.orchestration.loop_settings import LoopSettings

    source = f"{{name: injected, path: '{tiny_train_beir}', split: train}}"
    cfg = compose(
        "cycle", f"output_dir={tmp_path}", "arrivals.path=null", "loop.cycles=3", "loop.schedule=[0.3,0.3,0.3]",
        f"loop.inject={{cycle: 2, source: {source}}}",
    )  # fmt: skip
    pairs = [Pair(f"q{i}", f"query {i}", f"d{i}", f"passage {i}") for i in range(30)]
    cycles = arrival_batches(LoopSettings.from_config(cfg), pairs)
    assert [injected for _, injected in cycles] == [False, True, False]
    sizes = [len(batch) for batch, _ in cycles]
    assert sizes[0] == sizes[2] == 9 and sizes[1] == 9 + 12  # the tiny train split's 12 pairs join cycle 2
    assert {p.source for p in cycles[1][0][9:]} == {"injected"}
