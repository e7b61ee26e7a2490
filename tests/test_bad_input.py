# ruff: noqa: E501  (the table reads best one row a line)
"""Bad input, row by row: a setting in every config group, every kind of file a command reads, and
registry states a human can get wrong. Each row runs the real command in this process (``recft
<verb> …``) and must end in exactly one line ``error: …`` that names the key or the file (and line),
exit 2, with the registry and the inbox as they were. Damaged files that are not worth a stopped
run (a cache shard, a torn last history line) are set aside with one warning line instead."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra

from recft.cli import main
from recft.loop.storage.registry import Registry

from conftest import TINY_CORPUS, tiny_run_overrides, write_tiny_train_beir

HYDRA_VERBS = ("evaluate", "train", "cycle")
TEXT = {doc: f"{title} {text}".strip() for doc, (title, text) in TINY_CORPUS.items()}
HISTORY_LINE = {"cycle": 1, "date": "2026-12-01T10:00:00", "pairs": {"new": 12, "total": 12}, "verdict": "SKIPPED",
                "reasons": ["too few pairs"], "wall_s": 1.0, "incumbent": "v0001-base"}  # fmt: skip


@dataclass
class World:
    """A tiny BEIR folder, a registry with its base version and one history line, an inbox with one
    good pair file, a good pair file to train on, and a folder for run output."""

    root: Path
    model: Path

    def __post_init__(self):
        self.data, self.registry, self.inbox, self.out = (self.root / n for n in ("data", "registry", "inbox", "out"))

    @property
    def names(self) -> dict:
        return {"data": self.data, "reg": self.registry, "inbox": self.inbox, "out": self.out, "root": self.root}


def make_world(root: Path, model: Path) -> World:
    world = World(root, model)
    write_tiny_train_beir(world.data)
    registry = Registry(world.registry)
    registry.add("base", kind="base", path=None, status="incumbent", config={"seed": 42})
    (world.registry / "history.jsonl").write_text(json.dumps(HISTORY_LINE) + "\n")
    world.inbox.mkdir()
    rows = [{"anchor": f"question {i} about {doc}", "positive": TEXT[doc]} for i, doc in enumerate(["d1", "d2"])]
    for folder in (world.inbox, world.root):
        (folder / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return world


def hydra_args(verb: str, world: World) -> list[str]:
    """What points each Hydra verb at the tiny model, data, registry and a run folder of its own."""
    common = [f"hydra.run.dir={world.out}/run"]
    if verb == "evaluate":
        tiny = [f"encoder.name_or_path={world.model}", f"data.path={world.data}", "data.name=tiny"]
        return [*tiny, f"cache_dir={world.out}/cache", "show_progress=false", *common]
    extra = [f"registry.root={world.registry}", "gate.min_queries=1"] if verb == "cycle" else []
    return [*tiny_run_overrides(world.model, world.data, world.out, *extra), *common]


def merged(base: list[str], case: list[str]) -> list[str]:
    """``base`` overrides with ``case``'s replacing any of the same key (Hydra refuses a key twice)."""
    keys = {arg.split("=", 1)[0] for arg in case}
    return [arg for arg in base if arg.split("=", 1)[0] not in keys] + case


def snapshot(world: World) -> dict:
    """What must not change: the registry's rows (or bytes, when it is not readable), every file
    under it but the lock, and the inbox."""
    files = {
        str(p.relative_to(world.root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in (world.registry, world.inbox)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "cycle.lock" and not p.name.endswith(("-wal", "-shm"))
    }
    try:
        with contextlib.closing(sqlite3.connect(world.registry / "registry.sqlite")) as db:
            files["rows"] = "\n".join(db.iterdump())
        files.pop("registry/registry.sqlite")  # same rows: the same registry, whatever the pages say
    except sqlite3.DatabaseError:
        pass
    return files


def run(verb: str, args: list[str]) -> int:
    try:
        return main([verb, *args])
    except SystemExit as done:
        return done.code
    finally:
        GlobalHydra.instance().clear()


# --- how each file is damaged ----------------------------------------------------------------------


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def gzip_cut_short(w: World) -> None:
    corpus = w.data / "corpus.jsonl"
    packed = gzip.compress(corpus.read_bytes() * 50)
    (w.data / "corpus.jsonl.gz").write_bytes(packed[: len(packed) // 2])
    corpus.unlink()


def not_utf8(w: World) -> None:
    lines = (w.data / "queries.jsonl").read_bytes().splitlines(keepends=True)
    (w.data / "queries.jsonl").write_bytes(lines[0] + b'{"_id": "q2", "text": "caf\xe9"}\n' + b"".join(lines[2:]))


def promoted_version_without_folder(w: World) -> None:
    """A promoted version whose stored files someone deleted from the registry itself."""
    registry = Registry(w.registry)
    (w.root / "run" / "model").mkdir(parents=True)
    (w.root / "run" / "model" / "config.json").write_text("{}")
    gone = registry.add("cycle1", kind="merged", path=str(w.root / "run"), parent="v0001-base")
    registry.promote(gone.id, reason="test")
    shutil.rmtree(Path(gone.path) / "model")


def damaged_report(w: World) -> None:
    (w.registry / "reports" / "v0001-base").mkdir(parents=True)
    (w.registry / "reports" / "v0001-base" / "tiny.json").write_text('{"dataset": "tiny", "per_q')


def two_reports(w: World) -> None:
    for name in ("a", "b"):
        report = {"dataset": "tiny", "split": "test", "per_query": {"ndcg@10": {"q1": 0.5, "q2": 0.25}}}
        (w.root / f"{name}.json").write_text(json.dumps(report))


def slice_file(w: World) -> None:
    (w.root / "slices.tsv").write_text("query-id\tslice\nq1\ttail\nq2\n")


Prepare = Callable[[World], None]


@dataclass
class Case:
    id: str
    verb: str
    args: str  # Hydra overrides or manage arguments; {data}, {reg}, {inbox}, {out}, {root} are filled in
    expect: str  # what the one line must say (filled in the same way)
    prepare: Prepare | None = None


# fmt: off
CASES = [
    # settings, one config group after the other
    Case("encoder-path", "evaluate", "encoder.name_or_path=/nonexistent", "encoder.name_or_path=/nonexistent"),
    Case("encoder-precision", "evaluate", "encoder.precision=fp16", "encoder.precision must be auto, fp32 or bf16, got 'fp16'"),
    Case("encoder-pooling", "evaluate", "encoder.pooling=max", "encoder.pooling must be one of mean, cls, got 'max'"),
    Case("data-split", "evaluate", "data.split=dev", "{data}/qrels/dev.tsv: split 'dev' not found (available: test, train)"),
    Case("data-field", "evaluate", "+data.colour=red", "data: unknown source field(s) colour"),
    Case("eval-index", "evaluate", "eval.index.kind=annoy", "eval.index.kind must be one of flat, ivf, hnsw, got 'annoy'"),
    Case("eval-primary", "evaluate", "eval.primary=ndcg@11", "eval.primary must be one of ndcg@1,"),
    Case("eval-baseline", "evaluate", "eval.baseline={root}/none.json", "{root}/none.json: report not found"),
    Case("pairs-format", "evaluate", "pairs.path={root}/pairs.jsonl pairs.format=csvish", "pairs.format must be one of auto,"),
    Case("cache-dir", "evaluate", "cache_dir={root}/pairs.jsonl", "cache_dir={root}/pairs.jsonl: not a folder"),
    Case("adapter-kind", "train", "adapter.kind=bogus", "adapter.kind must be one of lora, query_lora, last_layer, full, got 'bogus'"),
    Case("adapter-nudge", "train", "adapter=nudge adapter.variant=q", "adapter.variant must be one of n, m, got 'q'"),
    Case("adapter-merge", "train", "adapter=merge adapter.weights=[0.5,2]", "adapter.weights must be in [0, 1], got 2.0"),
    Case("loss", "train", "loss.temperature=0", "loss.temperature must be > 0, got 0"),
    Case("miner", "train", "miner=structural miner.miner.edits=[nope]", "miner.miner.edits: unknown structural edit(s) ['nope']"),
    Case("trainer", "train", "trainer.precision=fp16", "trainer.precision must be one of 32-true, 16-mixed, bf16-mixed,"),
    Case("replay", "train", "replay.alpha=0.3", "replay.alpha=0.3 needs replay pairs"),
    Case("probe", "train", "probes.trecdl.gate_metric=mrr@7", "probes.trecdl.gate_metric must be one of"),
    Case("train-keep", "train", "train.keep=sometimes", "train.keep must be one of last, best, got 'sometimes'"),
    Case("train-dev", "train", "train.keep=best dev.share=0", "train.keep=best choose on the dev split, and there is none"),
    Case("dev-group", "train", "dev.group_by=claims", "dev.group_by must be one of documents, queries, got 'claims'"),
    Case("train-value", "train", "train.warmup_steps=soon", "train.warmup_steps must be a whole number, got 'soon'"),
    Case("slice-rule", "train", "eval.slices.rules=[typo]", "eval.slices.rules: unknown rule(s) typo (known: query_length, seen_in_training)"),
    Case("merge-weight", "train", "merge.weight=1.5", "merge.weight must be in [0, 1], got 1.5"),
    Case("gate-margin", "cycle", "gate.margin=-0.1", "gate.margin must be >= 0, got -0.1"),
    Case("gate-spending", "cycle", "gate.alpha_spending=obf", "gate.alpha_spending must be one of fallback, pi2, lond, none, got 'obf'"),
    Case("gate-metric", "cycle", "gate.metric=mrr@11", "gate.metric must be one of"),
    Case("gate-slices", "cycle", "eval.slices.rules=[query_length] gate.slices=[query_length:tall]", "gate.slices names query_length:tall"),
    Case("gate-unknown", "cycle", "+gate.margn=0.01", "gate: unknown setting(s) margn"),
    Case("loop-schedule", "cycle", "loop.schedule=[0.7,0.7] loop.cycles=2", "loop.schedule must be positive shares summing to at most 1"),
    Case("loop-cycles", "cycle", "loop.cycles=3", "loop.cycles=3 but loop.schedule has 1 shares"),
    Case("cycle-dev", "cycle", "dev.share=0.2", "dev.share must be 0 and dev.split null in cycle runs"),
    Case("cycle-no-dev", "cycle", "dev.arrival_share=0", "are chosen among on the cycle's dev split, and dev.arrival_share=0 gives none"),
    Case("arrivals-path", "cycle", "arrivals.path={root}/nowhere", "arrivals.path={root}/nowhere: no such file or folder"),
    Case("arrivals-format", "cycle", "arrivals.path={inbox} arrivals.format=xml", "arrivals.format must be one of auto,"),
    Case("domain-adapter", "cycle", "domain=bio adapter=lora", "domain=bio needs adapter=query_lora (got lora)"),
    # files
    Case("corpus-json", "evaluate", "", "{data}/corpus.jsonl:6: malformed JSON", lambda w: append(w.data / "corpus.jsonl", '{"_id": "d6", "te\n')),
    Case("corpus-duplicate", "train", "", "{data}/corpus.jsonl:2: duplicate id 'd1' (first on line 1)", lambda w: replace_line(w.data / "corpus.jsonl", 2, json.dumps({"_id": "d1", "text": "x"}))),
    Case("corpus-gzip", "evaluate", "", "{data}/corpus.jsonl.gz:", gzip_cut_short),
    Case("queries-utf8", "evaluate", "", "{data}/queries.jsonl:2: not UTF-8 text", not_utf8),
    Case("qrels-columns", "evaluate", "", "{data}/qrels/test.tsv:3: expected 3 tab-separated columns, got 2", lambda w: replace_line(w.data / "qrels" / "test.tsv", 3, "q2\td2")),
    Case("qrels-unknown", "cycle", "", "{data}/qrels/train.tsv:2: corpus id 'd9' is not in corpus.jsonl", lambda w: replace_line(w.data / "qrels" / "train.tsv", 2, "t0\td9\t1")),
    Case("pair-file", "train", "pairs={root}/pairs.jsonl", "{root}/pairs.jsonl:2: empty", lambda w: replace_line(w.root / "pairs.jsonl", 2, json.dumps({"anchor": "", "positive": "x"}))),
    Case("slice-file", "train", "eval.slices.file={root}/slices.tsv", "{root}/slices.tsv:3: expected 'query-id<TAB>slice'", slice_file),
    Case("history-middle", "cycle", "", "{reg}/history.jsonl:1: not JSON", lambda w: (w.registry / "history.jsonl").write_text('{"cycle": 1, "ver\n' + json.dumps(HISTORY_LINE) + "\n")),
    Case("history-manage", "manage", "--registry {reg} history", "{reg}/history.jsonl:1: not JSON", lambda w: (w.registry / "history.jsonl").write_text("[1,\n{}\n")),
    Case("registry-file", "manage", "--registry {reg} history", "{reg}/registry.sqlite: not a readable registry", lambda w: (w.registry / "registry.sqlite").write_bytes(b"not a database" * 100)),
    Case("stored-report", "cycle", "", "{reg}/reports/v0001-base/tiny.json: not valid JSON", damaged_report),
    # registry states
    Case("approve-nothing", "manage", "--registry {reg} approve candidate", "{reg}: no candidate is pending approval"),
    Case("approve-incumbent", "manage", "--registry {reg} approve v0001-base", "v0001-base is not pending approval (status incumbent)"),
    Case("rollback-first", "manage", "--registry {reg} rollback", "no previous incumbent to roll back to"),
    Case("reject-unknown", "manage", "--registry {reg} reject v0099", "no version 'v0099'"),
    Case("power-setting", "manage", "--registry {reg} power --power 1.5", "--power must be in (0, 1), got 1.5"),
    Case("gate-slices-against", "cycle", "gate.slices_against=[golden]", "gate.slices_against must name incumbent and/or base, got ['golden']"),
    Case("registry-missing", "manage", "--registry {root}/nowhere history", "{root}/nowhere: no registry here (recft cycle creates one"),
    Case("registry-missing-domains", "manage", "--registry {root}/nowhere domains", "{root}/nowhere: no such folder"),
    Case("report-alone", "manage", "--registry {reg} power --metrics --reports {root}/a.json", "--reports takes a reference report and at least one candidate report"),
    Case("report-metric", "manage", "--registry {reg} power --metrics --current mrr@100 --reports {root}/a.json {root}/b.json", "--current mrr@100: the reports have no per-query mrr@100 (they have ndcg@10)", two_reports),
    Case("version-folder", "cycle", "", "/model: a merged version's folder is missing", promoted_version_without_folder),
]
# fmt: on


@pytest.fixture(scope="module")
def pristine(tiny_model_dir, tmp_path_factory) -> World:
    return make_world(tmp_path_factory.mktemp("pristine"), tiny_model_dir)


def test_the_table_covers_every_config_group_file_kind_and_registry_state():
    assert len(CASES) >= 25 and len({c.id for c in CASES}) == len(CASES)
    said = " ".join(c.args for c in CASES)
    groups = ("encoder.", "data.", "eval.", "pairs.", "adapter", "loss.", "miner", "replay.", "probes.", "train.",
              "merge.", "gate.", "loop.", "arrivals.", "domain=", "dev.", "cache_dir", "trainer.")  # fmt: skip
    assert all(group in said for group in groups)
    files = ("corpus", "queries", "qrels", "pair", "slice", "history", "registry", "report")
    assert all(any(f in c.id for c in CASES) for f in files)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, pristine, tmp_path, capsys):
    import shutil

    world = World(tmp_path / "w", pristine.model)
    shutil.copytree(pristine.root, world.root)
    if case.prepare:
        case.prepare(world)
    before = snapshot(world)
    args = case.args.format(**world.names).split()
    if case.verb in HYDRA_VERBS:
        args = merged(hydra_args(case.verb, world), args)
    capsys.readouterr()
    code = run(case.verb, args)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert case.expect.format(**world.names) in err[0]
    assert snapshot(world) == before


def test_a_mistyped_registry_is_refused_not_read_as_an_empty_loop(pristine, tmp_path, capsys):
    """Before, ``recft manage --registry <typo> history`` created the folder and answered "incumbent: none",
    exit 0 — a cron line's typo read as "nothing promoted yet"."""
    code = run("manage", ["--registry", str(tmp_path / "typo"), "history"])
    assert code == 2 and not (tmp_path / "typo").exists()
    assert "no registry here" in capsys.readouterr().err


def test_a_held_lock_is_one_line(pristine, tmp_path, capsys):
    import shutil

    world = World(tmp_path / "w", pristine.model)
    shutil.copytree(pristine.root, world.root)
    before = snapshot(world)
    with Registry(world.registry).cycle_lock():
        code = run("cycle", hydra_args("cycle", world))
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and "cycle.lock: a cycle is already running (pid" in err[0], err
    assert snapshot(world) == before


def test_a_damaged_cache_shard_is_set_aside_and_encoded_again(pristine, tmp_path, capsys):
    world = World(tmp_path, pristine.model)
    write_tiny_train_beir(world.data)
    args = hydra_args("evaluate", world)
    assert run("evaluate", args) == 0
    [shard] = [s for s in (world.out / "cache").rglob("shard-*.npy") if len(np.load(s, mmap_mode="r")) > 4]
    with open(shard, "r+b") as handle:  # a copy killed half-way
        handle.truncate(shard.stat().st_size // 2)
    capsys.readouterr()
    assert run("evaluate", merged(args, [f"hydra.run.dir={world.out}/again"])) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert len(err) == 1 and str(shard) in err[0] and "set aside" in err[0], err
    assert not shard.exists() and shard.with_name(shard.name + ".damaged").exists()
    report = json.loads((world.out / "again" / "report.json").read_text())
    assert report["timings"]["passages_encoded"] == len(TINY_CORPUS)  # its texts, encoded again
