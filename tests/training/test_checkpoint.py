"""The best epoch by the dev metric, early stopping, and the golden set measured once on the kept model."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from recft.eval.report import Report
from recft.eval.sets import evaluate_set
from recft.eval.settings import EvalSettings
from recft.model.cache import EmbeddingCache
from recft.model.store import load_encoder
from recft.training.candidate import SELECTION, CandidateError
from recft.training.checkpoint import BestEpoch, BudgetEpoch
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


def with_probe(dev: float, probe: float) -> dict:
    return {**dev_report(dev), SELECTION: Report("selection", "test", {"ndcg@10": {"q1": probe, "q2": probe}})}


class Wrapped(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(2, 1)


@pytest.mark.parametrize("grid", [False, True])
def test_with_a_budget_the_kept_epoch_is_the_best_dev_gain_within_it(grid):
    """Start: dev 0.5, selection probe 0.5; budget 0.02. Epoch 2 has the best dev (0.8) but loses 0.1 on the
    probe: epoch 1 (0.6, loses 0.01) is kept — unless a merge grid finds epoch 2 at w = 0.5 within it."""
    module = Wrapped()
    validation = SimpleNamespace(history={0: with_probe(0.5, 0.5)})
    half = {2: with_probe(0.7, 0.49)}  # epoch 2 at w = 0.5
    measure = (
        (lambda encoder, at_one: {0.5: half.get(trainer.current_epoch + 1, at_one), 1.0: at_one}) if grid else None
    )
    best = BudgetEpoch(validation, "ndcg@10", budget=0.02, patience=2, grid=measure)
    trainer = SimpleNamespace(current_epoch=0, should_stop=False)
    best.on_fit_start(trainer, module)
    weights = {}
    for epoch, (dev, probe) in enumerate([(0.6, 0.49), (0.8, 0.4), (0.55, 0.5), (0.56, 0.5)], start=1):
        with torch.no_grad():
            module.encoder.weight.fill_(float(epoch))
        weights[epoch] = module.encoder.weight.detach().clone()
        validation.history[epoch] = with_probe(dev, probe)
        trainer.current_epoch = epoch - 1
        best.on_train_epoch_end(trainer, module)
        if trainer.should_stop:
            break
    best.restore(module)
    kept = 2 if grid else 1
    assert best.best_epoch == kept and torch.equal(module.encoder.weight, weights[kept])
    assert trainer.current_epoch + 1 == kept + 2  # patience: two validations that did not move the choice
    over = [(r["epoch"], r["weight"]) for r in best.rows if r["probe_loss"] > 0.02]
    assert over == [(2, 1.0)] and best.rows[0]["epoch"] == 0
    assert best.record()["forgetting_budget"] == 0.02 and best.record()["chosen_epoch"] == kept


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
