"""Cycles on a team's own pair files: consumption remembered, nothing new, quarantine vs strict, kill -9,
and the exit codes a scheduler reads."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from recft.data.beir import DataError
from recft.loop.gate.verdicts import EXIT_CODES
from recft.loop.orchestration.run import run_loop
from recft.loop.storage.history import read_history
from recft.loop.storage.registry import Registry

from conftest import CYCLE_TEST_DEFAULTS, REPO, TINY_CORPUS, compose, tiny_run_overrides

TEXT = {doc: f"{title} {text}".strip() for doc, (title, text) in TINY_CORPUS.items()}


def write_inbox(folder):
    folder.mkdir(parents=True, exist_ok=True)
    st = [{"anchor": f"question {i} about {doc}", "positive": TEXT[doc]} for i, doc in enumerate(["d1", "d2", "d3"])]
    (folder / "2026-12-01.jsonl").write_text("".join(json.dumps(r) + "\n" for r in st))
    flag = [{"query": "who taught the violin", "pos": [TEXT["d4"]], "neg": [TEXT["d5"]]}]
    (folder / "2026-12-02.jsonl").write_text("".join(json.dumps(r) + "\n" for r in flag))
    return folder


def overrides(model_dir, data_dir, out_dir, inbox, *extra):
    return [
        *tiny_run_overrides(model_dir, data_dir, out_dir, "adapter.rank=4", "train.epochs=1"),
        *CYCLE_TEST_DEFAULTS,  # also for the subprocesses, which skip compose; said first, overridden below
        f"registry.root={out_dir}/registry",
        "gate.min_queries=1",
        "gate.n_resamples=500",
        f"arrivals.path={inbox}",
        "arrivals.take=all",
        "arrivals.near_dup=1.01",  # a random tiny BERT finds every text near every other: exact copies only
        "golden.seal=0",  # a fixed golden set (sealing: tests/loop/intake/test_sealing.py)
        *extra,
    ]


def test_new_files_are_consumed_once_and_nothing_new_writes_no_history(
    tiny_model_dir, tiny_train_beir, tmp_path, capsys
):
    inbox = write_inbox(tmp_path / "inbox")
    args = overrides(tiny_model_dir, tiny_train_beir, tmp_path, inbox)
    [line] = run_loop(compose("cycle", *args))
    assert line["pairs"] == {
        "new": 4,
        "total": 4,
        "trained_on": 4,
        "known_to_incumbent": 0,
        "train_on": "since_incumbent",
    }
    assert [a["file"] for a in line["arrivals"]] == ["2026-12-01.jsonl", "2026-12-02.jsonl"]
    assert [a["format"] for a in line["arrivals"]] == ["sentence_transformers", "flag_embedding"]
    registry = Registry(tmp_path / "registry")
    consumed = registry.arrivals()
    assert {e["file"]: (e["status"], e["version"], e["cycle"]) for e in consumed.values()} == {
        "2026-12-01.jsonl": ("consumed", line["candidate"], 1),
        "2026-12-02.jsonl": ("consumed", line["candidate"], 1),
    }
    assert run_loop(compose("cycle", *args)) == []  # the same files again: nothing new
    assert "no new pairs since cycle 1" in capsys.readouterr().out
    assert len(read_history(tmp_path / "registry" / "history.jsonl")) == 1
    (inbox / "2026-12-03.jsonl").write_text(json.dumps({"anchor": "salary question", "positive": TEXT["d5"]}) + "\n")
    [third] = run_loop(compose("cycle", *args))
    assert third["cycle"] == 2 and third["pairs"]["new"] == 1 and third["pairs"]["total"] == 5
    assert third["pairs"]["trained_on"] == 5 and third["pairs"]["known_to_incumbent"] == 0  # the base knows none


def test_one_cycle_per_file_and_a_bad_file_quarantined_or_refusing_the_cycle(tiny_model_dir, tiny_train_beir, tmp_path):
    inbox = write_inbox(tmp_path / "inbox")
    (inbox / "2026-12-01b.jsonl").write_text('{"anchor": "ok", "positive": "text"}\n{broken\n')
    strict = overrides(tiny_model_dir, tiny_train_beir, tmp_path, inbox, "arrivals.strict=true")
    with pytest.raises(DataError, match=r"2026-12-01b.jsonl:2: malformed JSON"):
        run_loop(compose("cycle", *strict))
    assert Registry(tmp_path / "registry").arrivals() == {} and (inbox / "2026-12-01b.jsonl").is_file()
    lines = run_loop(
        compose("cycle", *overrides(tiny_model_dir, tiny_train_beir, tmp_path, inbox, "loop.per_file=true"))
    )
    assert [[a["file"] for a in ln["arrivals"]] for ln in lines] == [["2026-12-01.jsonl"], ["2026-12-02.jsonl"]]
    assert lines[0]["quarantined"][0]["file"] == "2026-12-01b.jsonl" and lines[1]["quarantined"] == []
    assert lines[0]["quarantined"][0]["problems"][0].endswith(
        "2026-12-01b.jsonl:2: malformed JSON (Expecting property name enclosed in double quotes)"
    )
    assert (inbox / "quarantine" / "2026-12-01b.jsonl").is_file() and not (inbox / "2026-12-01b.jsonl").exists()
    statuses = {e["file"]: e["status"] for e in Registry(tmp_path / "registry").arrivals().values()}
    assert statuses == {
        "2026-12-01b.jsonl": "quarantined",
        "2026-12-01.jsonl": "consumed",
        "2026-12-02.jsonl": "consumed",
    }


def cycle_command(args):
    return [sys.executable, "-m", "recft.cycle", *args]


def test_kill_9_during_consumption_leaves_every_file_unconsumed_and_exit_codes(
    tiny_model_dir, tiny_train_beir, tmp_path
):
    inbox = write_inbox(tmp_path / "inbox")
    args = overrides(tiny_model_dir, tiny_train_beir, tmp_path, inbox)
    args = [a for a in args if not a.startswith("arrivals.path=")]
    args += [f"arrivals={inbox}", f"hydra.run.dir={tmp_path}/hydra"]  # the short spelling
    env = {**os.environ, "RECFT_PAUSE_AT": "consumption", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        cycle_command(args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO
    )
    try:
        for out in proc.stdout:
            if out.strip() == "paused at consumption":  # inside the transaction, one file recorded
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert Registry(tmp_path / "registry").arrivals() == {}  # neither file half-consumed
    done = subprocess.run(
        cycle_command(args), capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=REPO
    )
    [line] = read_history(tmp_path / "registry" / "history.jsonl")
    assert done.returncode == EXIT_CODES[line["verdict"]], done.stderr[-2000:]
    said = done.stdout + done.stderr  # a fit ran: none of the known third-party noise (recft.common.noise)
    assert not [
        noise for noise in ("is_gradient_checkpointing", "LeafSpec", "litlogger", "GPU available") if noise in said
    ]
    assert len(Registry(tmp_path / "registry").arrivals()) == 2
    again = subprocess.run(
        cycle_command(args), capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=REPO
    )
    assert again.returncode == 0 and "no new pairs since cycle 1" in again.stdout


def test_an_arrival_that_copies_a_golden_query_is_dropped_and_audited(tiny_model_dir, tiny_train_beir, tmp_path):
    inbox = write_inbox(tmp_path / "inbox")
    copy = {"anchor": "HOW LONG  do fleas live", "positive": TEXT["d1"]}  # the golden query q1, case and spaces aside
    (inbox / "2026-12-04.jsonl").write_text(json.dumps(copy) + "\n")
    [line] = run_loop(compose("cycle", *overrides(tiny_model_dir, tiny_train_beir, tmp_path, inbox)))
    audit = line["leakage"]["2026-12-04.jsonl"]
    assert audit["dropped"] == {"copies a tiny query": 1} and audit["kept"] == 0
    assert audit["golden_relevant_passages"] == 0
    assert line["leakage"]["2026-12-01.jsonl"]["golden_relevant_passages"] == 3  # d1, d2, d3 are judged in tiny
    assert line["pairs"]["new"] == 4  # the copy did not train
    manifest = next(a for a in line["arrivals"] if a["file"] == "2026-12-04.jsonl")
    assert manifest["kept"] == 0 and manifest["dropped"] == {"leakage: copies a tiny query": 1}


def test_corpus_deltas_and_new_passage_text_grow_the_corpus_golden_set_and_serving_index(
    tiny_model_dir, tiny_train_beir, tmp_path, capsys
):
    inbox = write_inbox(tmp_path / "inbox")
    args = overrides(tiny_model_dir, tiny_train_beir, tmp_path, inbox)
    [first] = run_loop(compose("cycle", *args))
    assert first["corpus"]["added"] == 0 and first["coverage"]["share"] == 1.0  # the first index: every row
    size = first["corpus"]["documents"]
    delta = [{"_id": "d9", "title": "Otters", "text": "Sea otters hold hands while they sleep."}]
    (inbox / "2026-12-03.corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in delta))
    assert run_loop(compose("cycle", *args)) == []  # documents alone do not make a cycle: they wait
    assert "no new pairs since cycle 1 (1 corpus delta(s) wait for pairs)" in capsys.readouterr().out
    tevatron = {"query_id": "t1", "query": "do otters sleep", "positive_passages": [{"docid": "d9"}]}
    st = {"anchor": "what do beavers build", "positive": "Beavers build dams from branches and mud."}
    (inbox / "2026-12-03.jsonl").write_text(json.dumps(tevatron) + "\n")
    (inbox / "2026-12-04.jsonl").write_text(json.dumps(st) + "\n")
    [second] = run_loop(compose("cycle", *args))
    assert second["corpus"]["documents"] == size + 2 and second["corpus"]["added"] == 2
    assert {a["file"]: a["new_documents"] for a in second["arrivals"]} == {
        "2026-12-03.corpus.jsonl": 1, "2026-12-03.jsonl": 0, "2026-12-04.jsonl": 1
    }  # fmt: skip
    registry = Registry(tmp_path / "registry")
    golden = json.loads((registry.root / "reports" / second["incumbent"] / "tiny.json").read_text())
    assert golden["config"]["docs"] == size + 2  # the incumbent measured again, on the grown corpus
    serving = json.loads((registry.root / "serving.json").read_text())
    ids = json.loads((registry.root / serving["index"] / "ids.json").read_text())  # relative to the root
    assert len(ids) == size + 2 and "d9" in ids and second["coverage"]["documents"] == size + 2
    if second["verdict"] != "PROMOTED":  # the incumbent's index gained the two documents, nothing else
        assert second["coverage"]["reembedded"] == 2
    lineage = registry.get(second["candidate"]).config["lineage"]
    assert len(lineage["arrivals"]) == 5 and lineage["corpus"] == second["corpus"]["fingerprint"]
    assert lineage["corpus_documents"] == size + 2


def test_the_documented_exit_codes_are_the_ones_used():
    import recft.cycle

    documented = dict(re.findall(r"(\d) ([A-Z_]+)", " ".join(recft.cycle.__doc__.split())))
    assert {verdict: int(code) for code, verdict in documented.items()} == {**EXIT_CODES}
