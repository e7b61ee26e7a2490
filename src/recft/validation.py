"""Per-epoch retrieval validation as a Lightning callback: the golden set and every probe.

Logged as ``val/<set>/<metric>`` to every attached logger (CSV always, W&B when configured), at
step = epoch, with epoch 0 being the model before any training — the zero-shot point that every
fine-tuning curve should start from. Reports are kept so the caller can compute paired deltas
(last epoch vs zero-shot) with confidence intervals.

Evaluation goes through the embedding cache, so only what changed is re-encoded: with
``query_lora`` the passage tower is frozen and each epoch re-encodes only the queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytorch_lightning as pl

from recft.cache import EmbeddingCache
from recft.data import Dataset
from recft.evaluate import evaluate_dataset
from recft.report import Report


@dataclass
class EvalSet:
    dataset: Dataset
    min_relevance: int = 1
    pairs_path: str | None = None


def evaluate_set(
    encoder, spec: EvalSet, cache: EmbeddingCache, k_values, depth: int, show_progress=False, overrides=None
) -> Report:
    """Evaluate on one golden set or probe (``overrides``: a NUDGE version's moved passages)."""
    return evaluate_dataset(
        encoder,
        spec.dataset,
        cache,
        k_values,
        depth,
        spec.min_relevance,
        spec.pairs_path,
        show_progress,
        passage_overrides=overrides,
    )


class RetrievalValidation(pl.Callback):
    def __init__(
        self,
        sets: dict[str, EvalSet],
        cache: EmbeddingCache,
        k_values=(1, 5, 10, 100),
        depth: int = 100,
        every_n_epochs: int = 1,
        show_progress: bool = False,
    ):
        self.sets, self.cache = sets, cache
        self.k_values, self.depth = tuple(k_values), depth
        self.every_n_epochs, self.show_progress = every_n_epochs, show_progress
        self.history: dict[int, dict[str, Report]] = {}

    def evaluate(self, module) -> dict[str, Report]:
        was_training = module.training
        module.eval()
        reports = {
            name: evaluate_set(module.encoder, spec, self.cache, self.k_values, self.depth, self.show_progress)
            for name, spec in self.sets.items()
        }
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
        if 0 not in self.history:
            self._log(trainer, 0, self.evaluate(pl_module))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs == 0 or epoch == trainer.max_epochs:
            self._log(trainer, epoch, self.evaluate(pl_module))
