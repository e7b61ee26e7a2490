"""Fit an encoder on pairs with Lightning: mine negatives, attach the adapter, train, validate every epoch.

Replay pairs join through ``MixedBatchSampler`` (a fixed share of each batch); with a frozen
passage tower (``query_lora``) every training passage is embedded once through the cache and
steps run the query side only. The validation history (epoch 0 = the start point) is what a
candidate is judged on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pytorch_lightning as pl
import torch

from recft.common import console as console_module
from recft.common.errors import instantiate
from recft.common.faults import pause_point
from recft.data.arrivals import normalize
from recft.data.sources import Source
from recft.eval.report import Report
from recft.eval.settings import EvalSettings
from recft.model.adapters import apply_adapter, trainable_parameters
from recft.model.cache import EmbeddingCache
from recft.model.encoder import BiEncoder
from recft.model.index import Index
from recft.training.batches import MixedBatchSampler, PairCollator
from recft.training.candidate import SELECTION, CandidateError, TrainingData
from recft.training.checkpoint import BestEpoch, BudgetEpoch
from recft.training.module import BiEncoderModule
from recft.training.settings import Mining, TrainSettings
from recft.training.structural import StructuralMiner
from recft.training.validation import RetrievalValidation

console = console_module.err


@dataclass
class FitResult:
    history: dict[int, dict[str, Report]]  # epoch (0 = before training) → set name → report
    wall_s: float
    trainable: int
    total: int
    epochs: int
    checkpointing: bool = False
    checkpoint: dict | None = None  # train.keep=best: which epoch was kept, and the dev values it chose from
    budget: dict | None = None  # train.forgetting_budget: the candidate points and the chosen one (summary.json)


def mine_negatives(mining: Mining, encoder, cache, data: TrainingData, forbidden: set[str], show_progress) -> dict:
    """Hard negatives for the target pairs: structural edits of each positive (``miner=structural``)
    and/or candidates from the current model's ranking of the training corpus (``topk_margin``)."""
    miner = instantiate(mining.miner)
    negatives: dict = {}
    if isinstance(miner, StructuralMiner):
        negatives = miner.structural_negatives(data.pairs)
        console.print(f"structural negatives made: {miner.made}")
        miner = miner.then
    if miner is None:
        return negatives
    corpus = data.corpus
    doc_ids = list(corpus.corpus)
    doc_emb = cache.encode(encoder, [corpus.corpus[d] for d in doc_ids], "passage", show_progress)
    index = Index(encoder.dim)
    index.add(doc_emb, doc_ids)
    query_text: dict[str, str] = {}
    positives: dict[str, list[str]] = {}
    for pair in data.pairs:  # the pairs of this corpus (not injected ones), with every judged positive
        if pair.source == corpus.name:
            query_text.setdefault(pair.query_id, pair.query)
            known = positives.setdefault(pair.query_id, list(corpus.qrels.get(pair.query_id, {})))
            known += [pair.doc_id] if pair.doc_id not in known else []
    query_ids = list(query_text)
    query_emb = cache.encode(encoder, [query_text[q] for q in query_ids], "query", show_progress)
    mined = miner.mine(query_ids, query_emb, index, dict(zip(doc_ids, doc_emb)), positives, forbidden)
    for q, docs in mined.items():
        negatives.setdefault((corpus.name, q), []).extend((d, corpus.corpus[d]) for d in docs)
    return negatives


def guide_embeddings(encoder, cache, data: TrainingData, negatives: dict, whole_corpus: bool, show_progress) -> dict:
    """(kind, text) → the start point's vector, for every text a guided loss will meet: the pairs' queries
    and passages, their negatives, and — when negatives are re-mined each epoch — the whole corpus."""
    rows = data.pairs + data.replay
    passages = [p.passage for p in rows] + [text for docs in negatives.values() for _, text in docs]
    if whole_corpus and data.corpus is not None:
        passages += list(data.corpus.corpus.values())
    vectors: dict = {}
    for kind, texts in (("query", [p.query for p in rows]), ("passage", passages)):
        texts = list(dict.fromkeys(texts))
        vectors.update(zip(((kind, t) for t in texts), cache.encode(encoder, texts, kind, show_progress)))
    return vectors


def checkpoint_activations(model) -> bool:
    """Recompute activations in the backward pass instead of keeping them: memory for compute, which is
    what a 110 M model needs on a small machine. transformers ≥ 5 calls it activation checkpointing."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable()
        return bool(model.is_activation_checkpointing)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return bool(model.is_gradient_checkpointing)


@dataclass(frozen=True)
class ValidationPlan:
    """What fitting validates every epoch — the sets (dev, the probes, the selection probe) and their
    epoch-0 reports — and the cache and settings every encode of the run goes through."""

    sets: Mapping[str, Source]
    zero_shot: dict[str, Report]
    cache: EmbeddingCache
    settings: EvalSettings


class Negatives:
    """The hard negatives each query trains with — the pair file's own first, then mined ones — and how
    many slots a row has for them. Called again at each epoch's start when the miner re-mines."""

    def __init__(self, mining: Mining, encoder, cache, data: TrainingData, forbidden: set[str], show_progress: bool):
        self.mining, self.encoder, self.cache, self.data = mining, encoder, cache, data
        self.forbidden, self.show_progress = forbidden, show_progress
        self.slots = mining.per_query or (1 if data.negatives else 0)  # a file's own negatives need a slot
        self.remine = mining.remine_every_epoch

    def __call__(self) -> dict:
        given, mined = self.data.negatives, {}
        if self.mining.per_query:
            mined = mine_negatives(self.mining, self.encoder, self.cache, self.data, self.forbidden, self.show_progress)
        keys = dict.fromkeys([*given, *mined])
        return {key: [*given.get(key, []), *mined.get(key, [])] for key in keys}  # the file's first


def fit(
    settings: TrainSettings,
    encoder: BiEncoder,
    data: TrainingData,
    plan: ValidationPlan,
    adapter: dict | None,
    forbidden: set[str],
    log_dir: Path | None = None,
    grid=None,
) -> FitResult:
    """Mine (optional, never with a ``forbidden`` query), attach ``adapter`` (None: the encoder already has
    one to keep training), train validating ``plan.sets`` every epoch. With ``train.forgetting_budget`` and
    ``train.keep=best`` the kept epoch is the one the budget chooses (``plan.sets`` then holds the selection
    probe), each epoch's merge ``grid`` measured too when given (``BudgetEpoch``)."""
    pl.seed_everything(settings.seed, workers=True, verbose=False)
    show = plan.settings.show_progress
    negatives = Negatives(settings.mining, encoder, plan.cache, data, forbidden, show)
    first = negatives() if negatives.slots else {}
    guide = guide_embeddings(encoder, plan.cache, data, first, negatives.remine, show) if settings.guided else None
    trainable, total, checkpointing = attach_adapter(encoder, adapter, settings, data)  # after the guide
    collator = PairCollator(encoder, first, negatives.slots, guide=guide)
    if encoder.passage_uses_base:  # frozen passage tower: embed every training passage once, via the cache
        collator.passage_embeddings = {}
        embed_frozen_passages(collator, plan.cache, [p.passage for p in data.pairs + data.replay], show)
    callbacks: list[pl.Callback] = [Remine(negatives, collator, plan.cache)] if negatives.remine else []
    sampler = batch_sampler(settings, data)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.ConcatDataset([data.pairs, data.replay]) if data.replay else data.pairs,
        batch_sampler=sampler,
        collate_fn=collator,
    )
    module = BiEncoderModule(
        encoder, instantiate(settings.loss), settings.lr, settings.weight_decay, settings.warmup_steps
    )
    validation = RetrievalValidation(
        plan.sets, plan.cache, plan.settings, settings.validate_every_n_epochs, plan.zero_shot
    )
    best = best_epoch_watch(settings, validation, plan.sets, grid)
    watchers = [validation, *([best] if best else []), EpochSampler(sampler), *callbacks]
    trainer, loggers = lightning_trainer(settings, watchers, log_dir)
    start = time.perf_counter()
    module.train()  # as on_train_start does: Lightning checks the modes it is handed, and warns at eval ones
    trainer.fit(module, train_dataloaders=loader)
    finish_wandb(loggers)
    pause_point("training")
    wall = time.perf_counter() - start
    history, record = kept_history(settings, best, module, validation.history, trainer.current_epoch)
    table = best.table() if isinstance(best, BudgetEpoch) else None
    return FitResult(history, wall, trainable, total, trainer.current_epoch, checkpointing, record, table)


def attach_adapter(encoder, adapter: dict | None, settings: TrainSettings, data: TrainingData) -> tuple[int, int, bool]:
    """Attach ``adapter`` (None: the encoder's own keeps training) and, when asked, recompute activations
    in the backward pass; the trainable and total parameter counts, and whether checkpointing is on."""
    if adapter is not None:
        apply_adapter(encoder, **adapter)
    checkpointing = checkpoint_activations(encoder.model) if settings.gradient_checkpointing else False
    trainable, total = trainable_parameters(encoder)
    trains = f"adapter {adapter['kind']}" if adapter is not None else "the start point's adapter (continued)"
    console.print(
        f"{len(data.pairs)} target + {len(data.replay)} replay pairs (α={data.alpha}); "
        f"{trains}: {trainable:,} / {total:,} parameters train"
    )
    return trainable, total, checkpointing


def batch_sampler(settings: TrainSettings, data: TrainingData) -> MixedBatchSampler:
    """Target and replay pairs mixed at ``data.alpha`` in every batch, reshuffled per epoch from the seed."""
    keys = None
    if settings.unique_in_batch:  # no query and no positive twice in one batch
        keys = [(normalize(p.query), (p.source, p.doc_id)) for p in data.pairs]
    return MixedBatchSampler(len(data.pairs), len(data.replay), settings.batch_size, data.alpha, settings.seed, keys)


def lightning_trainer(settings: TrainSettings, callbacks: list, log_dir: Path | None) -> tuple[pl.Trainer, list]:
    """The configured Trainer and its loggers (writing to ``log_dir`` when given, else the run folder)."""
    where = {"save_dir": str(log_dir)} if log_dir else {}
    loggers = [instantiate(spec, **where) for spec in settings.loggers.values()]
    return instantiate(settings.trainer, logger=loggers, callbacks=callbacks), loggers


def kept_history(settings: TrainSettings, best, module, history: dict, epochs: int) -> tuple[dict, dict | None]:
    """The validation history up to the kept epoch (``train.keep=best`` restores its weights into
    ``module``) and what the epoch watch recorded; the whole history, and None, without one."""
    if best is None:
        return history, None
    record = {**best.record(), "epochs_trained": epochs}
    if settings.keep == "best":
        best.restore(module)
        history = {epoch: reports for epoch, reports in history.items() if epoch <= best.best_epoch}
    return history, record


def best_epoch_watch(settings: TrainSettings, validation: RetrievalValidation, sets, grid=None) -> BestEpoch | None:
    """``train.keep=best`` and/or ``train.patience=N``: watch the dev metric (``eval.primary``) — within
    ``train.forgetting_budget`` on the selection probe, when one is set, for ``train.keep=best``."""
    keep, patience, budget = settings.keep, settings.patience, settings.forgetting_budget
    if keep == "last" and patience is None:
        return None
    if "dev" not in sets:
        raise CandidateError(
            f"train.keep={keep} train.patience={patience} choose on the dev split, and there is none "
            "(set dev.share > 0 or dev.split): the golden set is never used to pick an epoch"
        )
    if budget is not None and keep == "best":
        if SELECTION not in sets:
            raise CandidateError("train.forgetting_budget: the selection probe is not among the validated sets")
        return BudgetEpoch(validation, settings.primary, budget, patience, grid)
    return BestEpoch(validation, "dev", settings.primary, patience)


def finish_wandb(loggers) -> None:
    """Close this run's W&B run: in a multirun every job runs in one process, and an open run would
    swallow the next job's curves."""
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            logger.experiment.finish()


class EpochSampler(pl.Callback):
    """Tell the batch sampler which epoch it is, so each epoch reshuffles reproducibly."""

    def __init__(self, sampler: MixedBatchSampler):
        self.sampler = sampler

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.sampler.set_epoch(trainer.current_epoch)


def embed_frozen_passages(collator: PairCollator, cache: EmbeddingCache, texts, show_progress: bool) -> None:
    """Add embeddings of the pairs' passages and mined negatives that the collator does not have yet."""
    texts = list(texts) + [t for docs in collator.negatives.values() for _, t in docs]
    missing = [t for t in dict.fromkeys(texts) if t not in collator.passage_embeddings]
    if missing:
        collator.passage_embeddings.update(
            zip(missing, cache.encode(collator.encoder, missing, "passage", show_progress))
        )


class Remine(pl.Callback):
    """Re-mine hard negatives with the model as it is at the start of every epoch after the first."""

    def __init__(self, mine, collator: PairCollator, cache: EmbeddingCache):
        self.mine, self.collator, self.cache = mine, collator, cache

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch > 0:
            was_training = pl_module.training
            pl_module.eval()
            self.collator.negatives = self.mine()
            if self.collator.passage_embeddings is not None:
                embed_frozen_passages(self.collator, self.cache, [], show_progress=False)
            pl_module.train(was_training)
