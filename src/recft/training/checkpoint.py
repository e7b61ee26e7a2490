"""Keep the best epoch by the dev metric, and stop when it has not improved for ``patience`` validations.

The last epoch is not always the best one: on small data a model overfits after an epoch or two,
and the golden set must not be the one that notices (tune on dev, decide on golden). This callback
watches what ``RetrievalValidation`` measured on the tuning set (``dev``), keeps a copy of the
trainable weights at the best validation — epoch 0, the start point, counts: a run that never
beats it hands the start point back — and restores them when training ends. The golden set is
then measured once, on the restored model.

Only trainable tensors are copied (a LoRA adapter's few MB; every weight for a full fine-tune).
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from recft.training.validation import RetrievalValidation

KEEP = ("last", "best")


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
        if value > self.best_value:
            self.best_epoch, self.best_value, self.stale = epoch, value, 0
            self._keep(module)
            return True
        self.stale += 1
        return False

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
