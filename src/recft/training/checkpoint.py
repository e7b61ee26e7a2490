"""Keep the best epoch by the dev metric, and stop when it has not improved for ``patience`` validations.

The last epoch is not always the best one: on small data a model overfits after an epoch or two,
and the golden set must not be the one that notices (tune on dev, decide on golden). This callback
watches what ``RetrievalValidation`` measured on the tuning set (``dev``), keeps a copy of the
trainable weights at the best validation — epoch 0, the start point, counts: a run that never
beats it hands the start point back — and restores them when training ends. The golden set is
then measured once, on the restored model.

Only trainable tensors are copied (a LoRA adapter's few MB; every weight for a full fine-tune).

With ``train.forgetting_budget`` (``BudgetEpoch``) the kept epoch is the one with the largest dev
gain whose selection-probe loss stays within the budget (``recft.training.budget``) — with
``adapter=merge``, each epoch's merge grid is measured too, and the point is an (epoch, w).
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from recft.training.budget import budget_record, choose_within_budget, epoch_points
from recft.training.candidate import SELECTION
from recft.training.validation import RetrievalValidation


class BestEpoch(pl.Callback):
    """Must come after ``validation`` in the trainer's callbacks: it reads what that one just measured."""

    def __init__(self, validation: RetrievalValidation, set_name: str, metric: str, patience: int | None = None):
        self.validation, self.set_name, self.metric, self.patience = validation, set_name, metric, patience
        self.best_epoch, self.best_value, self.stale = 0, float("-inf"), 0
        self.values: dict[int, float] = {}
        self._weights: dict[str, torch.Tensor] = {}

    def _measured(self, epoch: int) -> float | None:
        reports = self.validation.history.get(epoch) or {}
        report = reports.get(self.set_name)
        return report.means[self.metric] if report is not None else None

    def _keep(self, module: pl.LightningModule) -> None:
        self._weights = {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}

    def _observe(self, epoch: int, module: pl.LightningModule) -> bool:
        """Record epoch's value; True when it is the best so far (ties keep the earlier epoch)."""
        value = self._measured(epoch)
        if value is None or epoch in self.values:
            return False
        self.values[epoch] = value
        if self._improves(epoch, value, module):
            self.best_epoch, self.best_value, self.stale = epoch, value, 0
            self._keep(module)
            return True
        self.stale += 1
        return False

    def _improves(self, epoch: int, value: float, module: pl.LightningModule) -> bool:
        return value > self.best_value

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._observe(0, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._observe(trainer.current_epoch + 1, pl_module)
        if self.patience is not None and self.stale >= self.patience:
            trainer.should_stop = True

    @torch.no_grad()
    def restore(self, module: pl.LightningModule) -> None:
        """Put the best validation's trainable weights back (a no-op when the last epoch was the best)."""
        parameters = dict(module.named_parameters())
        for name, saved in self._weights.items():
            parameters[name].copy_(saved)

    def record(self) -> dict:
        return {
            "set": self.set_name,
            "metric": self.metric,
            "chosen_epoch": self.best_epoch,
            "patience": self.patience,
            "values": self.values,
        }


class BudgetEpoch(BestEpoch):
    """``train.keep=best`` with ``train.forgetting_budget``: every validated epoch adds its candidate
    points — w = 1, or with ``grid`` (``adapter=merge``) each w of the grid — and the epoch of the point
    the budget rule chooses is kept. The start point (epoch 0) is a point; patience counts the
    validations that did not move the choice to their epoch."""

    def __init__(self, validation: RetrievalValidation, metric: str, budget: float, patience=None, grid=None):
        super().__init__(validation, "dev", metric, patience)
        self.budget, self.grid = budget, grid  # grid(encoder, reports at w = 1) → {w: reports}, w > 0
        self.rows: list[dict] = []

    def _improves(self, epoch: int, value: float, module: pl.LightningModule) -> bool:
        history = self.validation.history
        measured = {1.0: history[epoch]}
        if self.grid is not None and epoch > 0:
            measured = self.grid(module.encoder, history[epoch])
        self.rows += epoch_points(epoch, measured, history[0], self.metric)
        return choose_within_budget(self.rows, self.budget)["epoch"] == epoch

    def record(self) -> dict:
        return {**super().record(), "forgetting_budget": self.budget}

    def table(self) -> dict:
        return budget_record(self.rows, self.budget, self.metric, self.validation.sets[SELECTION])
