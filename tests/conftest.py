"""Shared fixtures: a tiny random BERT (fast, offline), a tiny BEIR folder, and the real MiniLM."""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub name must fail fast, never hang on the network
os.environ.setdefault("WANDB_MODE", "offline")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from recft.common.config import CONF_DIR, minilm_path  # noqa: E402
from recft.model.encoder import BiEncoder  # noqa: E402
from recft.training.losses import InfoNCELoss  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT with MiniLM's real tokenizer, saved like a hub model."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_encoder(tiny_model_dir) -> BiEncoder:
    return BiEncoder.from_pretrained(str(tiny_model_dir), max_length=64, batch_size=4, device="cpu")


@pytest.fixture(scope="session")
def minilm() -> BiEncoder:
    return BiEncoder.from_pretrained(minilm_path(), name="all-MiniLM-L6-v2", max_length=256, device="cpu")


def write_beir(folder: Path, corpus: dict, queries: dict, qrels: list[tuple[str, str, int]], split="test"):
    """Write a BEIR folder from plain Python objects (corpus values: (title, text))."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as handle:
        for doc_id, (title, text) in corpus.items():
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as handle:
        for qid, text in queries.items():
            handle.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    with open(folder / "qrels" / f"{split}.tsv", "w") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for qid, doc_id, score in qrels:
            handle.write(f"{qid}\t{doc_id}\t{score}\n")
    return folder


TINY_CORPUS = {
    "d1": ("Fleas", "A flea can live up to a year, depending on its hosts."),
    "d2": ("Wings", "An experimental study of a wing in a propeller slipstream."),
    "d3": ("Cells", "Stem cells differentiate into many tissue types."),
    "d4": ("", "The violin was taught to him by his mother."),
    "d5": ("Salaries", "Dental hygienists in Nebraska earn an average salary."),
}
TINY_QUERIES = {
    "q1": "how long do fleas live",
    "q2": "lift increase in a propeller slipstream",
    "q3": "what do stem cells become",
    "q4": "average dental hygienist salary nebraska",
}
TINY_QRELS = [("q1", "d1", 2), ("q2", "d2", 1), ("q3", "d3", 1), ("q3", "d1", 1), ("q4", "d5", 3)]


@pytest.fixture
def tiny_beir(tmp_path) -> Path:
    return write_beir(tmp_path / "tiny", TINY_CORPUS, TINY_QUERIES, TINY_QRELS)


TRAIN_QUERIES = {
    f"t{i}": text
    for i, text in enumerate(
        [
            "flea lifespan",
            "how long can a flea live",
            "fleas and their hosts",
            "wing slipstream experiment",
            "propeller slipstream lift",
            "spanwise lift distribution",
            "stem cell differentiation",
            "tissue types from stem cells",
            "who taught him the violin",
            "violin lessons from his mother",
            "dental hygienist pay",
            "salary in nebraska",
        ]
    )
}
TRAIN_QRELS = [
    (f"t{i}", doc, 1) for i, doc in enumerate(["d1", "d1", "d1", "d2", "d2", "d2", "d3", "d3", "d4", "d4", "d5", "d5"])
]


def write_tiny_train_beir(folder: Path) -> Path:
    write_beir(folder, TINY_CORPUS, {**TINY_QUERIES, **TRAIN_QUERIES}, TINY_QRELS)
    return write_beir(folder, TINY_CORPUS, {**TINY_QUERIES, **TRAIN_QUERIES}, TRAIN_QRELS, split="train")


@pytest.fixture
def tiny_train_beir(tmp_path) -> Path:
    """Tiny BEIR folder with a 12-pair train split and the 4-query test split."""
    return write_tiny_train_beir(tmp_path / "tiny")


WORDS = (
    "apple river stone cloud tiger violin copper garden winter rocket lemon forest candle marble pepper island "
    "silver thunder meadow falcon ocean ember velvet canyon harbor lantern orchid pirate quartz saddle tulip "
    "walnut zephyr basil cobalt dahlia glacier hazel juniper kestrel"
).split()
CODES = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec "
    "romeo sierra tango uniform victor whiskey xray yankee zulu one two three four five six seven eight nine ten "
    "eleven twelve thirteen fourteen"
).split()


@pytest.fixture
def learnable_beir(tmp_path) -> Path:
    """40 one-word documents, each answered by two code-word queries that share no token with it, with the
    same pairs as train and test split: a random tiny BERT ranks them at chance, full fine-tuning on them
    (or NUDGE) lifts MRR@10 by far more than any gate's noise — a candidate that honestly promotes."""
    corpus = {f"d{i}": ("", f"{word} {word} {word}") for i, word in enumerate(WORDS)}
    queries = {f"q{i}{side}": f"{code} " * (2 if side == "a" else 3) for i, code in enumerate(CODES) for side in "ab"}
    qrels = [(qid, f"d{qid[1:-1]}", 1) for qid in queries]
    folder = tmp_path / "learnable"
    write_beir(folder, corpus, queries, qrels)
    return write_beir(folder, corpus, queries, qrels, split="train")


@pytest.fixture(scope="session")
def tiny_sweep(tiny_model_dir, tmp_path_factory) -> Path:
    """A real two-job Hydra multirun of ``recft.train`` (temperature 0.05, 0.1) on the tiny model,
    in a subprocess as a user would launch it, with W&B offline: the sweep folder."""
    root = tmp_path_factory.mktemp("sweep")
    data = write_tiny_train_beir(root / "data")
    overrides = [
        o
        for o in tiny_run_overrides(tiny_model_dir, data, root, "logger=wandb", "adapter.rank=4", "train.epochs=2")
        if not o.startswith("output_dir=")  # each job gets its own Hydra output dir
    ]
    command = [sys.executable, "-m", "recft.train", "-m", *overrides, "loss.temperature=0.05,0.1"]
    command.append(f"hydra.sweep.dir={root / 'multirun'}")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "multirun"


def tiny_run_overrides(model_dir, data_dir, out_dir, *extra) -> list[str]:
    """Hydra overrides that point a train/cycle config at the tiny model and data (CSV logging
    unless a test asks for a logger)."""
    return [
        f"encoder.name_or_path={model_dir}",
        "encoder.batch_size=8",
        "encoder.max_length=32",
        f"data.path={data_dir}",
        "data.name=tiny",
        f"probes.trecdl.path={data_dir}",
        "probes.trecdl.name=tiny-probe",
        "probes.trecdl.min_relevance=1",
        f"output_dir={out_dir}",
        f"cache_dir={out_dir}/cache",
        "show_progress=false",
        *([] if any(e.startswith("logger=") for e in extra) else ["logger=csv"]),
        "train.batch_size=4",
        "train.min_pairs=1",
        "train.warmup_steps=1",
        "train.lr=1e-3",
        *extra,
    ]


CYCLE_TEST_DEFAULTS = ("loop.recipes=[own]", "dev.arrival_share=0", "gate.slices=[]", "arrivals.near_dup=null")


def compose(config_name: str, *overrides: str):
    """Compose ``conf/<config_name>.yaml`` with overrides, as the entry points do. A cycle trains its own
    settings without a dev split unless the test says otherwise (``CYCLE_TEST_DEFAULTS``): the shipped
    recipe is SciFact's, six epochs and a merge grid, and is tested on its own
    (tests/loop/orchestration/test_candidates.py).
    Nor is the leakage audit on by default: several tiny sets train on their own test queries, and a random
    tiny BERT finds every text near every other (tests/loop/intake/test_leakage.py turns it on)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    if config_name == "cycle":
        said = {o.split("=")[0].lstrip("+~") for o in overrides}
        overrides = (*[d for d in CYCLE_TEST_DEFAULTS if d.split("=")[0] not in said], *overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name, overrides=list(overrides))


def compose_train(model_dir, data_dir, out_dir, *extra):
    """The train config on the tiny model and data, two epochs unless ``extra`` says otherwise."""
    return compose("train", *tiny_run_overrides(model_dir, data_dir, out_dir, "train.epochs=2", *extra))


QUERIES = ["how long do fleas live", "wing in a slipstream", "stem cells", "violin teacher"]
PASSAGES = [
    "A flea lives a year.",
    "A wing in a propeller slipstream.",
    "Stem cells differentiate.",
    "His mother taught violin.",
]


def train_steps(encoder, steps=5, lr=1e-2):
    params = [p for p in encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    loss_fn, losses = InfoNCELoss(temperature=0.05), []
    for _ in range(steps):
        q = encoder(**encoder.tokenize(QUERIES, "query"), kind="query")
        p = encoder(**encoder.tokenize(PASSAGES, "passage"), kind="passage")
        loss = loss_fn(q, p)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def inbox_cycle_overrides(model_dir, data_dir, out_dir, inbox, *extra) -> list[str]:
    """A cycle on the tiny model and data that reads ``inbox`` (every new file, exact copies audited)."""
    return [
        *tiny_run_overrides(model_dir, data_dir, out_dir, "adapter.rank=4", "train.epochs=1"),
        f"registry.root={out_dir}/registry",
        "gate.min_queries=1",
        "gate.n_resamples=200",
        f"arrivals.path={inbox}",
        "arrivals.take=all",
        "arrivals.near_dup=1.01",  # a random tiny BERT finds every text near every other: exact copies only
        *extra,
    ]


class SpyMaker:
    """A configured candidate maker that records the queries of every pair it is handed to train on."""

    def __init__(self, maker, seen: list):
        self.maker, self.seen = maker, seen

    def __getattr__(self, name):
        return getattr(self.maker, name)

    def make(self, start, data, ctx):
        self.seen.append({p.query for p in data.pairs})
        return self.maker.make(start, data, ctx)
