"""experiments/arrivals/prepare.py: the week of deliveries is what its README says it is."""

import importlib.util
from pathlib import Path

from recft.data.arrivals import CorpusIndex, is_corpus_delta, read_arrival, read_corpus_delta
from recft.data.beir import load_beir

from conftest import REPO


def load_prepare():
    spec = importlib.util.spec_from_file_location("prepare", REPO / "experiments" / "arrivals" / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_week_covers_every_training_pair_once_in_four_formats_with_two_deltas(tmp_path):
    counts = load_prepare().prepare(tmp_path)
    golden = load_beir(tmp_path / "scifact-start", "test")  # the golden split resolves on the smaller corpus
    full = load_beir(REPO / "data" / "scifact", "train")
    assert len(golden.queries) == 300 and len(golden.corpus) == counts["start_documents"]
    assert counts["start_documents"] + sum(counts["deltas"].values()) == 5183
    corpus = CorpusIndex(dict(golden.corpus), golden.titles)
    formats, pairs, problems = {}, set(), []
    files = sorted((tmp_path / "deliveries").iterdir(), key=lambda p: (p.name.split(".")[0], not is_corpus_delta(p)))
    for path in files:
        if is_corpus_delta(path):
            delta = read_corpus_delta(path, corpus)
            assert not delta.problems and not set(delta.new_documents) & {d for q in golden.qrels.values() for d in q}
            for doc_id, text in delta.new_documents.items():
                corpus.add(doc_id, text, delta.titles[doc_id])
            continue
        arrival = read_arrival(path, corpus, "scifact")
        formats[path.name] = (arrival.format, Path(path).suffix)
        pairs |= {(p.query, p.doc_id) for p in arrival.pairs}
        problems += arrival.problems
    assert {f for f, _ in formats.values()} == {"sentence_transformers", "flag_embedding", "tevatron"}
    assert {s for _, s in formats.values()} == {".jsonl", ".parquet", ".tsv"}
    assert "2026-12-04.jsonl" not in formats  # the day with nothing
    assert len(problems) == 1 and problems[0].endswith("2026-12-07-late.tsv:6: empty positive")
    expected = {(full.queries[q], d) for q, docs in full.qrels.items() for d, s in docs.items() if s > 0}
    copied = pairs - expected  # the one golden query copied into day 2, for the leakage audit
    assert len(copied) == 1 and next(iter(copied))[0] in golden.queries.values()
    assert len(expected - pairs) == 1  # the quarantined row's pair


def test_the_week_table_reads_days_and_history(tmp_path):
    import importlib.util
    import json

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("week_table", REPO / "experiments" / "arrivals" / "week_table.py")
    week_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(week_table)
    (tmp_path / "registry").mkdir()
    (tmp_path / "days.tsv").write_text(
        "run\texit\twall_s\tprinted\n1\t4\t100\tcycle 1: INCONCLUSIVE \n2\t0\t9\tno new pairs since cycle 1 \n"
    )
    comparison = {"n": 40, "delta": 0.01, "ci_low": -0.01, "ci_high": 0.03, "p": 0.2}
    line = {
        "cycle": 1,
        "verdict": "INCONCLUSIVE",
        "pairs": {"trained_on": 90, "total": 120},
        "dev": {"screen": {"n": 12, "delta": 0.02, "p": 0.1}},
        "sealed": {"queries": 7, "dev": {"queries": 5}},
        "recipes": [{"recipe": "own", "dev_gain": 0.004, "kept_epoch": None, "merge_weight": 1.0, "chosen": True}],
        "golden": comparison,
        "looks": {"look": 1, "alpha": 0.0152},
        "golden_set": {"n": 40, "sealed": 7},
        "slices": {
            "seen_in_training:unseen": {**comparison, "n": 30},
            "seen_in_training:seen": {**comparison, "n": 10},
        },
        "probes": [{"against": "incumbent", "delta": -0.002}],
    }
    (tmp_path / "registry" / "history.jsonl").write_text(json.dumps(line) + "\n")
    rows = week_table.table(tmp_path).splitlines()
    assert len(rows) == 4 and rows[2].count("|") == rows[0].count("|") == rows[3].count("|")
    assert "| 90 of 120 (7 / 5) |" in rows[2] and "| 12: +0.0200 (0.100) |" in rows[2]
    assert (
        "1: INCONCLUSIVE | 90 of 120 (7 / 5) | own (+0.0040; None, 1.0) | 12: +0.0200 (0.100)" in rows[2]
        and "30: +0.0100 [−0.0100, +0.0300]" in rows[2]
    )
    assert "no new pairs since cycle 1" in rows[3]
