"""The best epoch by the dev metric, early stopping, and the golden set measured once on the kept model."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from recft.eval.report import Report
from recft.eval.sets import EvalSettings, evaluate_set
from recft.model.cache import EmbeddingCache
from recft.model.store import load_encoder
from recft.training.candidate import CandidateError
from recft.training.checkpoint import BestEpoch
from recft.training.job import load_training_data, train_job

from conftest import compose_train

_restore = BestEpoch.restore


def dev_report(value: float) -> dict:
    return {"dev": Report("dev", "dev", {"ndcg@10": {"q1": value, "q2": value}})}


def test_best_epoch_keeps_the_best_weights_and_stops_after_patience():
    module = torch.nn.Linear(2, 1)
    validation = SimpleNamespace(history={0: dev_report(0.5)})
    best = BestEpoch(validation, "dev", "ndcg@10", patience=2)
    trainer = SimpleNamespace(current_epoch=0, should_stop=False)
    best.on_fit_start(trainer, module)
    weights = {}
    for epoch, value in enumerate([0.6, 0.6, 0.55], start=1):  # best at 1; 2 ties (not better); 3 worse
        with torch.no_grad():
            module.weight.fill_(float(epoch))
        weights[epoch] = module.weight.detach().clone()
        validation.history[epoch] = dev_report(value)
        trainer.current_epoch = epoch - 1
        best.on_train_epoch_end(trainer, module)
        assert trainer.should_stop == (epoch == 3)  # two validations without improvement
    best.restore(module)
    assert best.best_epoch == 1 and torch.equal(module.weight, weights[1])
    assert best.record()["values"] == {0: 0.5, 1: 0.6, 2: 0.6, 3: 0.55}


def test_the_start_point_wins_when_no_epoch_beats_it():
    module = torch.nn.Linear(2, 1)
    start = module.weight.detach().clone()
    validation = SimpleNamespace(history={0: dev_report(0.9)})
    best = BestEpoch(validation, "dev", "ndcg@10")
    trainer = SimpleNamespace(current_epoch=0, should_stop=False)
    best.on_fit_start(trainer, module)
    with torch.no_grad():
        module.weight.add_(1.0)
    validation.history[1] = dev_report(0.8)
    best.on_train_epoch_end(trainer, module)
    best.restore(module)
    assert best.best_epoch == 0 and torch.equal(module.weight, start)


def test_keep_best_trains_chooses_on_dev_and_measures_golden_on_the_kept_model(
    tiny_model_dir, tiny_train_beir, tmp_path, monkeypatch
):
    restored = []
    monkeypatch.setattr(
        BestEpoch, "restore", lambda self, module: restored.append(self.best_epoch) or _restore(self, module)
    )
    cfg = compose_train(
        tiny_model_dir, tiny_train_beir, tmp_path, "adapter=full", "train.epochs=3", "train.keep=best", "train.lr=1e-2"
    )
    summary = train_job(cfg, tmp_path)
    assert restored == [summary["checkpoint"]["chosen_epoch"]]
    record = summary["checkpoint"]
    values = {int(e): v for e, v in record["values"].items()}
    assert sorted(values) == [0, 1, 2, 3] and record["set"] == "dev"
    chosen = record["chosen_epoch"]
    assert values[chosen] == max(values.values()) and all(values[e] < values[chosen] for e in values if e < chosen)
    assert max(int(e) for e in summary["epochs"]) == chosen  # epochs after the kept one are not the candidate's
    # the saved candidate is the kept epoch's model: dev measured again gives that epoch's numbers
    _, dev = load_training_data(cfg)
    encoder = load_encoder(summary["kind"], tmp_path / "candidate", cfg.encoder)
    again = evaluate_set(encoder, dev, EmbeddingCache(tmp_path / "cache2"), EvalSettings.from_config(cfg))
    assert np.isclose(again.means["ndcg@10"], values[chosen], atol=1e-6)
    golden = next(r for r in summary["deltas"]["tiny"] if r["metric"] == "ndcg@10")
    assert summary["epochs"][chosen]["tiny"]["ndcg@10"] == golden["mean_b"]  # measured once, on the kept model


def test_keep_best_without_a_dev_split_is_refused(tiny_model_dir, tiny_train_beir, tmp_path):
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, "train.keep=best", "dev.share=0")
    with pytest.raises(CandidateError, match="choose on the dev split"):
        train_job(cfg, tmp_path)
