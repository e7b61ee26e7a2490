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
from omegaconf import DictConfig

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
from recft.training.checkpoint import KEEP, BestEpoch, BudgetEpoch
from recft.training.module import BiEncoderModule
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


def mine_negatives(cfg: DictConfig, encoder, cache, data: TrainingData, forbidden: set[str], show_progress) -> dict:
    """Hard negatives for the target pairs: structural edits of each positive (``miner=structural``)
    and/or candidates from the current model's ranking of the training corpus (``topk_margin``)."""
    miner = instantiate(cfg.miner.miner)
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


def fit(
    cfg: DictConfig,
    encoder: BiEncoder,
    data: TrainingData,
    sets: Mapping[str, Source],
    cache: EmbeddingCache,
    settings: EvalSettings,
    zero_shot: dict[str, Report],
    adapter: dict | None,
    forbidden: set[str],
    log_dir: Path | None = None,
    budget: float | None = None,
    grid=None,
) -> FitResult:
    """Mine (optional, never with a ``forbidden`` query), attach ``adapter`` (None: the encoder already has
    one to keep training), train validating ``sets`` every epoch; ``zero_shot`` holds their epoch-0 reports.
    ``budget``: ``train.keep=best`` keeps the epoch the forgetting budget chooses (``sets`` then holds the
    selection probe), each epoch's merge ``grid`` measured too when given (``BudgetEpoch``)."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    mined_per_query = int(cfg.miner.get("num_negatives", 0))
    num_negatives = mined_per_query or (1 if data.negatives else 0)  # a file's own negatives need a slot

    def mine() -> dict:
        mined = mine_negatives(cfg, encoder, cache, data, forbidden, settings.show_progress) if mined_per_query else {}
        keys = dict.fromkeys([*data.negatives, *mined])
        return {key: [*data.negatives.get(key, []), *mined.get(key, [])] for key in keys}  # the file's first

    negatives = mine() if num_negatives else {}
    remine = bool(mined_per_query and cfg.miner.miner.remine_every_epoch)
    guide = None
    if cfg.loss.get("guide"):  # the start point's vectors, before the adapter goes on
        guide = guide_embeddings(encoder, cache, data, negatives, remine, settings.show_progress)
    if adapter is not None:
        apply_adapter(encoder, **adapter)
    checkpointing = checkpoint_activations(encoder.model) if cfg.train.get("gradient_checkpointing") else False
    trainable, total = trainable_parameters(encoder)
    console.print(
        f"{len(data.pairs)} target + {len(data.replay)} replay pairs (α={data.alpha}); "
        f"adapter {cfg.adapter.kind}: {trainable:,} / {total:,} parameters train"
    )

    collator = PairCollator(encoder, negatives, num_negatives, guide=guide)
    if encoder.passage_uses_base:  # frozen passage tower: embed every training passage once, via the cache
        collator.passage_embeddings = {}
        embed_frozen_passages(collator, cache, [p.passage for p in data.pairs + data.replay], settings.show_progress)
    callbacks: list[pl.Callback] = []
    if remine:
        callbacks.append(Remine(mine, collator, cache))
    batch_size = int(cfg.train.batch_size)
    keys = None
    if cfg.train.get("unique_in_batch"):  # no query and no positive twice in one batch
        keys = [(normalize(p.query), (p.source, p.doc_id)) for p in data.pairs]
    sampler = MixedBatchSampler(len(data.pairs), len(data.replay), batch_size, data.alpha, cfg.seed, keys)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.ConcatDataset([data.pairs, data.replay]) if data.replay else data.pairs,
        batch_sampler=sampler,
        collate_fn=collator,
    )
    module = BiEncoderModule(
        encoder,
        instantiate(cfg.loss),
        lr=cfg.train.lr,
        weight_decay=cfg.train.weight_decay,
        warmup_steps=cfg.train.warmup_steps,
    )
    every = int(cfg.train.get("validate_every_n_epochs", 1))
    validation = RetrievalValidation(sets, cache, settings, every_n_epochs=every, zero_shot=zero_shot)
    best = best_epoch_watch(cfg, validation, sets, budget, grid)
    loggers = [instantiate(spec, **({"save_dir": str(log_dir)} if log_dir else {})) for spec in cfg.logger.values()]
    watchers = [validation, *([best] if best else []), EpochSampler(sampler), *callbacks]
    trainer = instantiate(cfg.trainer, logger=loggers, callbacks=watchers)
    start = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    finish_wandb(loggers)
    pause_point("training")
    wall = time.perf_counter() - start
    history, record = validation.history, None
    if best is not None:
        record = {**best.record(), "epochs_trained": trainer.current_epoch}
        if cfg.train.get("keep", "last") == "best":
            best.restore(module)
            history = {epoch: reports for epoch, reports in history.items() if epoch <= best.best_epoch}
    table = best.table() if isinstance(best, BudgetEpoch) else None
    return FitResult(history, wall, trainable, total, trainer.current_epoch, checkpointing, record, table)


def best_epoch_watch(
    cfg: DictConfig, validation: RetrievalValidation, sets, budget: float | None = None, grid=None
) -> BestEpoch | None:
    """``train.keep=best`` and/or ``train.patience=N``: watch the dev metric (``eval.primary``) — within
    ``budget`` on the selection probe, when one is given, for ``train.keep=best``."""
    keep, patience = cfg.train.get("keep", "last"), cfg.train.get("patience")
    if keep not in KEEP:
        raise CandidateError(f"train.keep must be one of {', '.join(KEEP)}, got {keep!r}")
    if keep == "last" and patience is None:
        return None
    if "dev" not in sets:
        raise CandidateError(
            f"train.keep={keep} train.patience={patience} choose on the dev split, and there is none "
            "(set dev.share > 0 or dev.split): the golden set is never used to pick an epoch"
        )
    patience = None if patience is None else int(patience)
    if budget is not None and keep == "best":
        if SELECTION not in sets:
            raise CandidateError("train.forgetting_budget: the selection probe is not among the validated sets")
        return BudgetEpoch(validation, str(cfg.eval.primary), budget, patience, grid)
    return BestEpoch(validation, "dev", str(cfg.eval.primary), patience)


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
