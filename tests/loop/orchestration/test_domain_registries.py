"""Per-domain registries: each domain's cycle trains on its pairs, is gated on its golden queries, consumes
a shared inbox for itself, and serving routes each domain to its own incumbent adapter."""

import json
import subprocess
import sys

import numpy as np
import pytest

from recft.loop.orchestration.domain_registries import (
    DomainConfigError,
    domain_registries,
    incumbent_adapters,
    serving_router,
)
from recft.loop.orchestration.run import run_loop
from recft.loop.storage.history import read_history
from recft.loop.storage.registry import Registry
from recft.model.store import load_encoder

from conftest import REPO, TINY_CORPUS, TINY_QUERIES, TRAIN_QUERIES, compose, tiny_run_overrides, write_tiny_train_beir

TEXT = {doc: f"{title} {text}".strip() for doc, (title, text) in TINY_CORPUS.items()}
GOLDEN_DOMAINS = {"q1": "bio", "q3": "bio", "q2": "aero", "q4": "aero"}


def labelled_train_beir(folder):
    """The tiny train/test folder with every golden query labelled bio or aero (training queries unlabelled)."""
    write_tiny_train_beir(folder)
    queries = {**TINY_QUERIES, **TRAIN_QUERIES}
    records = [{"_id": q, "text": t, **({"domain": GOLDEN_DOMAINS[q]} if q in GOLDEN_DOMAINS else {})}
               for q, t in queries.items()]  # fmt: skip
    (folder / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def shared_inbox(folder):
    folder.mkdir(parents=True)
    mixed = [
        {"anchor": "flea life", "positive": TEXT["d1"], "domain": "bio"},
        {"anchor": "cells become tissue", "positive": TEXT["d3"], "domain": "bio"},
        {"anchor": "slipstream wing", "positive": TEXT["d2"], "domain": "aero"},
        {"anchor": "violin mother", "positive": TEXT["d4"]},  # unlabelled: every domain's
    ]
    (folder / "1-mixed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mixed))
    aero = [{"anchor": "lift in a propeller wake", "positive": TEXT["d2"], "domain": "aero"}]
    (folder / "2-aero.jsonl").write_text("".join(json.dumps(r) + "\n" for r in aero))
    return folder


def domain_cycle(model_dir, data_dir, out_dir, inbox, domain, *extra):
    return compose(
        "cycle",
        *tiny_run_overrides(model_dir, data_dir, out_dir, "adapter.rank=4", "train.epochs=1", *extra),
        f"registry.root={out_dir}/registry",
        "gate.min_queries=1",
        "gate.n_resamples=200",
        f"arrivals.path={inbox}",
        "arrivals.take=all",
        "arrivals.near_dup=1.01",
        f"domain={domain}",
    )


@pytest.fixture(scope="module")
def two_domains(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("domains")
    data, inbox = labelled_train_beir(root / "data"), shared_inbox(root / "inbox")
    train = ("train.lr=5e-2", "train.epochs=3")  # enough for the two adapters to differ clearly
    lines = {d: run_loop(domain_cycle(tiny_model_dir, data, root, inbox, d, *train)) for d in ("bio", "aero")}
    return root, data, inbox, lines


def test_each_domain_trains_on_its_pairs_and_is_gated_on_its_queries(two_domains):
    root, _, _, lines = two_domains
    [bio], [aero] = lines["bio"], lines["aero"]
    assert bio["pairs"]["new"] == 3 and aero["pairs"]["new"] == 3  # 2 labelled + 1 unlabelled; 1 + 1 + 1
    assert bio["golden"]["n"] == 2 and aero["golden"]["n"] == 2  # q1, q3 | q2, q4
    registries = domain_registries(root / "registry")
    assert list(registries) == ["aero", "bio"]
    for name, registry in registries.items():
        assert registry.root == root / "registry" / "domains" / name
        assert [ln["cycle"] for ln in read_history(registry.root / "history.jsonl")] == [1]
        assert {v.id for v in registry.versions()} == {"v0001-base", lines[name][0]["candidate"]}
    assert not (root / "registry" / "history.jsonl").exists()  # the root registry ran no cycle


def test_a_shared_inbox_is_consumed_per_domain(two_domains, tiny_model_dir):
    root, data, inbox, lines = two_domains
    bio = Registry(root / "registry" / "domains" / "bio").arrivals()
    by_file = {e["file"]: (e["status"], e["version"], e["manifest"]["kept"]) for e in bio.values()}
    assert by_file == {
        "1-mixed.jsonl": ("consumed", lines["bio"][0]["candidate"], 3),
        "2-aero.jsonl": ("consumed", None, 0),  # wholly another domain's: nothing taken, no cycle
    }
    assert run_loop(domain_cycle(tiny_model_dir, data, root, inbox, "bio")) == []  # nothing new for bio


def test_serving_routes_each_domain_to_its_own_incumbent(two_domains, tiny_model_dir):
    root, _, _, lines = two_domains
    for name in ("bio", "aero"):  # a random tiny BERT rarely passes the gate: put each trained adapter in
        registry = Registry(root / "registry" / "domains" / name)
        if registry.incumbent().kind == "base":
            assert incumbent_adapters(root / "registry")[name] is None  # still served by the base model
            trained = registry.get(lines[name][0]["candidate"])
            again = registry.add("approved", kind=trained.kind, path=trained.path, parent="v0001-base")
            registry.promote(again.id, reason="a test stands in for the gate")
    adapters = incumbent_adapters(root / "registry")
    assert set(adapters) == {"aero", "bio"} and all(path.name == "query_adapter" for path in adapters.values())
    router = serving_router(root / "registry", load_encoder("base", None, compose_encoder(tiny_model_dir)))
    queries = list(TINY_QUERIES.values())
    alone = {}
    for name in ("bio", "aero"):
        version = Registry(root / "registry" / "domains" / name).incumbent()
        encoder = load_encoder("query_lora", version.path, compose_encoder(tiny_model_dir)).eval()
        alone[name] = encoder.encode(queries, "query", show_progress=False)
    routed = router.encode_queries(queries, ["bio", "aero", "bio", "aero"])
    assert np.allclose(routed[[0, 2]], alone["bio"][[0, 2]], atol=1e-6)
    assert np.allclose(routed[[1, 3]], alone["aero"][[1, 3]], atol=1e-6)
    assert not np.allclose(alone["bio"], alone["aero"], atol=1e-4)  # the two adapters really differ
    table = subprocess.run(
        [sys.executable, "-m", "recft.manage", "--registry", str(root / "registry"), "domains"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert table.returncode == 0 and "aero" in table.stdout and "bio" in table.stdout


def compose_encoder(model_dir):
    return compose("cycle", *tiny_run_overrides(model_dir, model_dir, model_dir)).encoder


def test_a_domain_cycle_refuses_an_adapter_that_changes_passages(tiny_model_dir, tmp_path):
    data, inbox = labelled_train_beir(tmp_path / "data"), shared_inbox(tmp_path / "inbox")
    with pytest.raises(DomainConfigError, match="domain=bio needs adapter=query_lora"):
        run_loop(domain_cycle(tiny_model_dir, data, tmp_path, inbox, "bio", "adapter=lora"))
