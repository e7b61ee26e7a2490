"""``recft train`` (``recft.training.job``) end to end on a tiny random BERT and a 12-pair tiny set (seconds, CPU)."""

import csv
import json
import os
import subprocess
import sys

import pytest

from recft.data.beir import load_beir
from recft.model.cache import stored_keys, text_keys
from recft.sweeps.objective import ObjectiveError, objective
from recft.training.candidate import SmallDataError, check_enough_pairs
from recft.training.job import load_training_data, train_job

from conftest import compose_train, tiny_run_overrides


def test_default_run_writes_csv_curves_model_and_summary(tiny_model_dir, tiny_train_beir, tmp_path):
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path / "run", "adapter.rank=4")
    summary = train_job(cfg, tmp_path / "run")
    # dev.share 0.2 of the 12 training queries (one pair each) is held out and never trains
    assert summary["pairs"] == {"target": 10, "replay": 0, "alpha": 0.0, "file": None} and summary["dev"] == {
        "queries": 2,
        "pairs": 2,
    }
    assert summary["tuned_on"] == "dev" and summary["settings"]["tuned_on"] == "dev"
    assert sorted(summary["epochs"]) == [0, 1, 2]  # zero-shot point + one per epoch
    assert [("tiny" in summary["epochs"][e], "dev" in summary["epochs"][e]) for e in (0, 1, 2)] == [
        (True, True),
        (False, True),  # the golden set is not looked at while training: zero-shot and the end only
        (True, True),
    ]
    rows = list(csv.DictReader(open(tmp_path / "run" / "csv" / "metrics.csv")))
    epochs = [r for r in rows if r.get("val/dev/ndcg@10")]
    assert [int(float(r["epoch"])) for r in epochs] == [0, 1, 2]
    assert any(r.get("val/trecdl/ndcg@10") for r in rows) and not any(r.get("val/tiny/ndcg@10") for r in rows)
    assert (tmp_path / "run" / "candidate" / "model" / "modules.json").is_file()  # a sentence-transformers folder
    assert summary["kind"] == "merged" and summary["settings"]["adapter"]["rank"] == 4
    assert summary["settings"]["train"]["lr"] == 1e-3  # train.lr overrode adapter.lr: the used one is recorded
    delta = summary["deltas"]["tiny"][0]
    assert delta["metric"] == "ndcg@10" and delta["n"] == 4 and delta["ci_low"] <= delta["delta"] <= delta["ci_high"]
    first, last = summary["epochs"][0]["tiny"]["ndcg@10"], summary["epochs"][2]["tiny"]["ndcg@10"]
    assert delta["mean_a"] == pytest.approx(first) and delta["mean_b"] == pytest.approx(last)
    dev = summary["deltas"]["dev"][0]
    probe_ndcg = next(r for r in summary["deltas"]["trecdl"] if r["metric"] == "ndcg@10")
    assert objective(summary, cfg) == pytest.approx(dev["delta"])  # λ = 0: the dev gain, never the golden one
    cfg.train.forgetting_penalty = 2.0
    assert objective(summary, cfg) == pytest.approx(dev["delta"] - 2.0 * max(0.0, -probe_ndcg["delta"]))


def test_dev_queries_never_train_and_the_objective_reads_golden_only_when_told(
    tiny_model_dir, tiny_train_beir, tmp_path
):
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, "dev.share=0.25")
    data, dev = load_training_data(cfg)
    assert 0 < len(dev.dataset.queries) <= 3 and not {p.query_id for p in data.pairs} & set(dev.dataset.queries)
    assert not {p.doc_id for p in data.pairs} & {p.doc_id for p in dev.pairs}  # drawn by document group
    assert set(dev.dataset.corpus) == set(data.corpus.corpus)  # dev ranks against the whole corpus
    again, dev_again = load_training_data(cfg)
    assert set(dev_again.dataset.queries) == set(dev.dataset.queries)  # seeded
    summary = {"deltas": {"tiny": [{"metric": "ndcg@10", "delta": 0.5}], "dev": [{"metric": "ndcg@10", "delta": 0.1}]}}
    assert objective(summary, cfg) == 0.1
    cfg.tune_on = "golden"
    assert objective(summary, cfg) == 0.5
    cfg.tune_on = "dev"
    with pytest.raises(ObjectiveError, match="no dev set"):
        objective({"deltas": {"tiny": summary["deltas"]["tiny"]}}, cfg)


def test_tuning_on_golden_is_an_override_that_the_summary_records(tiny_model_dir, tiny_train_beir, tmp_path):
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, "tune_on=golden", "dev.share=0", "train.epochs=1")
    summary = train_job(cfg, tmp_path)
    assert summary["tuned_on"] == "golden" and summary["dev"] is None
    assert all("tiny" in sets for sets in summary["epochs"].values())
    assert objective(summary, cfg) == next(r["delta"] for r in summary["deltas"]["tiny"] if r["metric"] == "ndcg@10")


def test_same_seed_gives_the_same_metrics(tiny_model_dir, tiny_train_beir, tmp_path):
    runs = []
    for name in ("a", "b"):
        cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path / name, "adapter=full")
        runs.append(train_job(cfg, tmp_path / name)["epochs"])
    for epoch, sets in runs[0].items():
        for set_name, means in sets.items():
            for metric, value in means.items():
                assert runs[1][epoch][set_name][metric] == pytest.approx(value, abs=1e-6)


def test_a_warm_cache_trains_the_same_model_as_a_cold_one(tiny_model_dir, tiny_train_beir, tmp_path):
    """Whether anything was encoded before training (a cache miss) must not change training: an encode
    used to leave the backbone in train mode (dropout on) and a full cache left it in eval mode."""
    losses = []
    for name in ("cold", "warm"):  # the second run finds every text in the first run's cache
        steps = ("adapter=full", "trainer.log_every_n_steps=1", f"cache_dir={tmp_path}/cache")
        cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path / name, *steps)
        train_job(cfg, tmp_path / name)
        rows = csv.DictReader(open(tmp_path / name / "csv" / "metrics.csv"))
        losses.append([float(r["train/loss_step"]) for r in rows if r.get("train/loss_step")])
    assert losses[0] and losses[0] == pytest.approx(losses[1], abs=1e-6)


def test_replay_and_mining_and_wandb_offline(tiny_model_dir, tiny_train_beir, tmp_path):
    cfg = compose_train(
        tiny_model_dir,
        tiny_train_beir,
        tmp_path / "run",
        "miner=topk_margin",
        "miner.miner.remine_every_epoch=true",
        "logger=wandb",
        "train.epochs=2",
        "replay=squad",
        "replay.alpha=0.25",
        f"replay.source.path={tiny_train_beir}",
        "replay.source.name=tiny-replay",
    )
    summary = train_job(cfg, tmp_path / "run")
    assert summary["pairs"]["replay"] == 12 and summary["pairs"]["alpha"] == 0.25  # replay is not held out
    assert summary["settings"]["replay_alpha"] == 0.25
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))


def test_small_data_guard():
    with pytest.raises(SmallDataError, match=r"only 50 training pairs \(< train.min_pairs=200\)"):
        check_enough_pairs(50, 200, force=False)
    check_enough_pairs(50, 200, force=True)


def test_query_lora_trains_from_cached_passages_and_keeps_the_corpus_cache(tiny_model_dir, tiny_train_beir, tmp_path):
    cfg = compose_train(
        tiny_model_dir,
        tiny_train_beir,
        tmp_path / "run",
        "adapter=query_lora",
        "adapter.rank=4",
        "miner=topk_margin",
        "miner.miner.remine_every_epoch=true",
    )
    summary = train_job(cfg, tmp_path / "run")
    assert sorted(summary["epochs"]) == [0, 1, 2]
    assert (tmp_path / "run" / "candidate" / "query_adapter" / "adapter_config.json").is_file()  # two towers
    assert not (tmp_path / "run" / "candidate" / "model").exists()
    corpus_keys = {bytes(k) for k in text_keys(list(load_beir(tiny_train_beir).corpus.values()))}
    folders_with_passages = []
    for folder in (tmp_path / "run" / "cache").iterdir():
        keys = stored_keys(folder)
        if keys & corpus_keys:
            folders_with_passages.append(folder)
    # the corpus was embedded once, by the frozen base tower, and reused by mining, training and validation
    assert len(folders_with_passages) == 1
    query_folders = len(list((tmp_path / "run" / "cache").iterdir())) - 1
    assert query_folders == 2  # the query side changed each epoch (the zero-shot queries share the base's folder)


@pytest.mark.parametrize(
    "encoder, pooling, prompts",
    [
        ("bge_small", "cls", {"query": "Represent this sentence for searching relevant passages: ", "passage": ""}),
        ("e5_base", "mean", {"query": "query: ", "passage": "passage: "}),
    ],
)
def test_bge_vs_e5_experiment_trains_each_recipe(tiny_model_dir, tiny_train_beir, tmp_path, encoder, pooling, prompts):
    """The hub models' recipes (pooling, prompts) carried through LoRA training, offline on a tiny BERT."""
    cfg = compose_train(
        tiny_model_dir,
        tiny_train_beir,
        tmp_path,
        "+experiment=bge_vs_e5",
        f"encoder={encoder}",
        "adapter.rank=4",
        "~probes.nevir",
        "~probes.cranfield",  # the real probes the experiment adds: too slow for a test
    )
    summary = train_job(cfg, tmp_path)
    report = json.loads((tmp_path / "reports" / "tiny.json").read_text())
    assert report["config"]["pooling"] == pooling and report["config"]["prompts"] == prompts
    assert summary["parameters"]["trainable"] < summary["parameters"]["total"]  # LoRA, not full


def test_optuna_sweep_optimises_the_returned_objective(tiny_model_dir, tmp_path):
    """Two Optuna trials in a subprocess: each job's return value (the objective) reaches the study."""
    import subprocess
    import sys

    from omegaconf import OmegaConf

    from conftest import REPO, write_tiny_train_beir

    data = write_tiny_train_beir(tmp_path / "data")
    overrides = [o for o in tiny_run_overrides(tiny_model_dir, data, tmp_path) if not o.startswith("output_dir=")]
    overrides += [
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        f"replay.source.path={data}",
        "replay.source.name=tiny-replay",
        "replay.source.max_pairs=6",
        f"hydra.sweep.dir={tmp_path / 'optuna'}",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "recft.train", "-m", *overrides], capture_output=True, text=True, timeout=600, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = OmegaConf.load(tmp_path / "optuna" / "optimization_results.yaml")
    jobs = [tmp_path / "optuna" / j for j in ("0", "1")]
    values = [
        objective(json.loads((job / "summary.json").read_text()), OmegaConf.load(job / ".hydra" / "config.yaml"))
        for job in jobs
    ]
    assert result.best_value == pytest.approx(max(values))  # the study saw what each job returned
    assert set(result.best_params) == {"adapter.rank", "loss.temperature", "train.epochs", "replay.alpha"}


def test_gradient_checkpointing_trains_to_the_same_model_and_memory_is_reported(
    tiny_model_dir, tiny_train_beir, tmp_path
):
    summaries = []
    for name, flag in (("plain", "false"), ("checkpointed", "true")):
        cfg = compose_train(
            tiny_model_dir, tiny_train_beir, tmp_path / name, "adapter=full", f"train.gradient_checkpointing={flag}"
        )
        summaries.append(train_job(cfg, tmp_path / name))
    plain, checkpointed = summaries
    for epoch, sets in plain["epochs"].items():  # recomputing activations changes memory, not the result
        for set_name, means in sets.items():
            for metric, value in means.items():
                assert checkpointed["epochs"][epoch][set_name][metric] == pytest.approx(value, abs=1e-6)
    assert (plain["gradient_checkpointing"], checkpointed["gradient_checkpointing"]) == (False, True)
    assert plain["peak_rss_mb"] > 100  # a Python process with torch loaded


def test_train_and_evaluate_read_the_same_pair_file(tiny_model_dir, tiny_train_beir, tmp_path):
    """``recft train pairs=PATH``: the file's pairs train (a dev share held out of them); ``recft evaluate
    pairs=PATH`` ranks the same file's queries against the data source's corpus."""
    from conftest import TINY_CORPUS

    text = {doc: f"{title} {body}".strip() for doc, (title, body) in TINY_CORPUS.items()}
    rows = [{"anchor": f"question {i} on {doc}", "positive": text[doc]} for i, doc in enumerate(sorted(text) * 2)]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, f"pairs.path={path}", "train.epochs=1")
    data, dev = load_training_data(cfg)
    assert len(data.pairs) + len(dev.pairs) == len(rows) and len(dev.pairs) == 2  # dev.share 0.2 of 10 queries
    assert {p.query for p in data.pairs}.isdisjoint(p.query for p in dev.pairs)
    summary = train_job(cfg, tmp_path / "run")
    assert summary["pairs"]["target"] == 8 and summary["pairs"]["file"] == str(path)
    args = [f"encoder.name_or_path={tiny_model_dir}", f"data.path={tiny_train_beir}", f"pairs={path}"]
    args += [f"cache_dir={tmp_path}/cache", f"hydra.run.dir={tmp_path}/eval", "show_progress=false"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "recft.evaluate", *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["n"]["ndcg@10"] == 10 and report["dataset"] == "mine"


def test_shared_study_two_concurrent_workers_run_every_trial_once(tiny_model_dir, tmp_path):
    """Two sweep workers on one Optuna storage (sqlite here; an RDB URL on a cluster): together they run
    2 × n_trials trials, each trial number once, and no parameter set twice — each worker seeds its
    sampler with its own index (``RECFT_WORKER``), or identical samplers would propose identical trials."""
    import os
    import subprocess
    import sys

    import optuna

    from conftest import REPO, write_tiny_train_beir

    data = write_tiny_train_beir(tmp_path / "data")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    overrides = [o for o in tiny_run_overrides(tiny_model_dir, data, tmp_path) if not o.startswith("output_dir=")]
    overrides += ["hparams_search=optuna", "hydra.sweeper.n_trials=2", f"hydra.sweeper.storage={storage}"]
    overrides += ["hydra.sweeper.study_name=shared", f"replay.source.path={data}", "replay.source.name=tiny-replay"]
    overrides += ["replay.source.max_pairs=6"]
    # created once, before the workers: two processes creating a new storage at once race on its schema
    optuna.create_study(storage=storage, study_name="shared", direction="maximize")
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "recft.train", "-m", *overrides, f"hydra.sweep.dir={tmp_path / f'worker{i}'}"],
            cwd=REPO,
            env={**os.environ, "RECFT_WORKER": str(i), "HF_HUB_OFFLINE": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    errors = [worker.communicate(timeout=600)[1] for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], "\n".join(e[-2000:] for e in errors)
    trials = optuna.load_study(study_name="shared", storage=storage).get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4


def test_cached_loss_trains_through_lightning_like_infonce(tiny_model_dir, tiny_train_beir, tmp_path):
    """loss=infonce_cached inside the Lightning loop (its backward runs in the loss's hook): with dropout
    off in the tiny model's training, the per-epoch dev metrics equal plain InfoNCE's."""
    runs = []
    for name, loss in (("plain", ["loss=infonce"]), ("cached", ["loss=infonce_cached", "loss.mini_batch=2"])):
        cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, *loss, "train.epochs=1", "dev.share=0.25")
        runs.append(train_job(cfg, tmp_path / name)["epochs"])
    for epoch, sets in runs[0].items():
        for set_name, means in sets.items():
            for metric, value in means.items():
                assert runs[1][epoch][set_name][metric] == pytest.approx(value, abs=1e-4), (epoch, set_name, metric)


def test_merge_weight_zero_gives_back_the_base_models_numbers(tiny_model_dir, tiny_train_beir, tmp_path):
    """adapter=full merge.weight=0: trained, then merged all the way back — every set's last report is
    the zero-shot one; the weight is recorded with the candidate's settings."""
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, "adapter=full", "merge.weight=0.0", "train.lr=1e-2")
    summary = train_job(cfg, tmp_path / "run")
    first, last = summary["epochs"][0], summary["epochs"][max(summary["epochs"])]
    for name, means in first.items():
        for metric, value in means.items():
            assert last[name][metric] == pytest.approx(value, abs=1e-6), (name, metric)
    assert summary["settings"]["merge"] == {"weight": 0.0}


def test_unique_in_batch_trains(tiny_model_dir, tiny_train_beir, tmp_path):
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, "train.unique_in_batch=true", "train.epochs=1")
    summary = train_job(cfg, tmp_path / "run")
    assert summary["epochs_trained"] == 1


@pytest.mark.parametrize("adapter", ["query_lora", "lora"])
def test_a_guided_loss_trains_with_mined_negatives_and_the_start_point_as_guide(
    tiny_model_dir, tiny_train_beir, tmp_path, monkeypatch, adapter
):
    """loss=gist: every batch carries the start point's vectors of its rows, and the guide mask is applied."""
    from recft.training.losses import InfoNCELoss

    masked = []
    original = InfoNCELoss.guide_mask
    monkeypatch.setattr(InfoNCELoss, "guide_mask", lambda self, g: masked.append(1) or original(self, g))
    cfg = compose_train(
        tiny_model_dir,
        tiny_train_beir,
        tmp_path,
        f"adapter={adapter}",
        "adapter.rank=4",
        "loss=gist",
        "miner=topk_margin",
        "miner.miner.remine_every_epoch=true",
    )
    summary = train_job(cfg, tmp_path / "run")
    assert summary["epochs_trained"] == 2 and len(masked) == 6  # 3 batches of 4 pairs × 2 epochs


def test_slices_split_the_golden_delta(tiny_model_dir, tiny_train_beir, tmp_path):
    cfg = compose_train(
        tiny_model_dir,
        tiny_train_beir,
        tmp_path,
        "eval.slices.rules=[query_length,seen_in_training]",
        "train.epochs=1",
        "eval.slices.short_words=2",
    )
    summary = train_job(cfg, tmp_path / "run")
    sizes, deltas = summary["slices"]["sizes"], summary["slices"]["deltas"]
    assert sizes["query_length:short"] + sizes["query_length:long"] == 4
    assert sizes["seen_in_training:seen"] + sizes["seen_in_training:unseen"] == 4
    assert any(sizes.values()) and set(deltas) == set(sizes)
    for name, rows in deltas.items():  # an empty slice has no rows
        assert not sizes[name] or {r["metric"] for r in rows} >= {"ndcg@10", "mrr@10"}
        assert all(r["n"] == sizes[name] for r in rows)
