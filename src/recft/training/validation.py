"""Per-epoch retrieval validation as a Lightning callback: the golden set and every probe.

Logged as ``val/<set>/<metric>`` to every attached logger (CSV always, W&B when configured), at
step = epoch, with epoch 0 being the model before any training — the zero-shot point that every
fine-tuning curve should start from. Reports are kept so the caller can compute paired deltas
(last epoch vs zero-shot) with confidence intervals.

Evaluation goes through the embedding cache, so only what changed is re-encoded: with
``query_lora`` the passage tower is frozen and each epoch re-encodes only the queries.
"""

from __future__ import annotations

from typing import Mapping

import pytorch_lightning as pl

from recft.data.sources import Source
from recft.eval.report import Report
from recft.eval.sets import evaluate_sets
from recft.eval.settings import EvalSettings
from recft.model.cache import EmbeddingCache


class RetrievalValidation(pl.Callback):
    def __init__(
        self,
        sets: Mapping[str, Source],
        cache: EmbeddingCache,
        settings: EvalSettings,
        every_n_epochs: int = 1,
        zero_shot: dict[str, Report] | None = None,
    ):
        """``zero_shot``: the start point's reports, when known (a cycle's incumbent, a train run's base)."""
        self.sets, self.cache, self.settings = sets, cache, settings
        self.every_n_epochs = every_n_epochs
        self.history: dict[int, dict[str, Report]] = {0: zero_shot} if zero_shot is not None else {}

    def evaluate(self, module) -> dict[str, Report]:
        was_training = module.training
        module.eval()
        reports = evaluate_sets(module.encoder, self.sets, self.cache, self.settings)
        module.train(was_training)
        return reports

    def _log(self, trainer: pl.Trainer, epoch: int, reports: dict[str, Report]) -> None:
        self.history[epoch] = reports
        metrics = {
            f"val/{name}/{metric}": value for name, report in reports.items() for metric, value in report.means.items()
        }
        metrics["epoch"] = epoch
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=epoch)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log(trainer, 0, self.history.get(0) or self.evaluate(pl_module))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs == 0 or epoch == trainer.max_epochs:
            self._log(trainer, epoch, self.evaluate(pl_module))
