"""Fine-tune a bi-encoder: target pairs (+ replay) → Lightning → adapter/weights, validated per epoch.

    python -m recft.train                                   # MiniLM + LoRA on SciFact train
    python -m recft.train adapter=full loss.temperature=0.05 miner=topk_margin
    python -m recft.train data.replay=squad data.alpha=0.25 logger=wandb
    python -m recft.train +experiment=nika_lora

Writes into the Hydra run dir: ``csv/`` (per-epoch curves), ``wandb/`` (with ``logger=wandb``,
offline by default), ``model/`` (peft adapter or full weights), ``summary.json`` (zero-shot vs
final, paired Δ with 95 % CI per set) and prints the summary table.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from recft import config as _config  # noqa: F401  (registers resolvers)
from recft import console as console_module
from recft.adapters import apply_adapter, trainable_parameters
from recft.atomic import write_json
from recft.cache import EmbeddingCache
from recft.data import DataError, Dataset, load_beir, subsample_corpus
from recft.encoder import BiEncoder, EncoderLoadError
from recft.export import export_sentence_transformers
from recft.faults import pause_point
from recft.index import Index
from recft.module import BiEncoderModule
from recft.nudge_candidate import NudgeError, nudge_train
from recft.pairs import MixedBatchSampler, Pair, PairCollator, pairs_from_dataset
from recft.report import Report
from recft.structural import StructuralMiner
from recft.validation import EvalSet, RetrievalValidation

console = console_module.err


class SmallDataError(ValueError):
    """Too few training pairs to fine-tune without likely making the model worse."""


def check_enough_pairs(n_pairs: int, min_pairs: int, force: bool) -> None:
    if n_pairs < min_pairs and not force:
        raise SmallDataError(
            f"only {n_pairs} training pairs (< train.min_pairs={min_pairs}): fine-tuning on this little data "
            f"often makes a pretrained encoder worse. Add pairs, or set train.force=true to try anyway."
        )


def load_eval_set(spec: DictConfig, seed: int) -> EvalSet:
    dataset = load_beir(spec.path, split=spec.split, name=spec.name)
    if spec.get("corpus_sample"):
        dataset = subsample_corpus(dataset, int(spec.corpus_sample), seed)
    return EvalSet(dataset, int(spec.min_relevance), spec.get("pairs"))


def load_pairs(cfg: DictConfig) -> tuple[list[Pair], list[Pair], Dataset]:
    train_set = load_beir(cfg.data.path, split=cfg.data.train_split, name=cfg.data.name)
    target = pairs_from_dataset(train_set, int(cfg.data.min_relevance), "target")
    if cfg.train.max_pairs:
        target = target[: int(cfg.train.max_pairs)]
    replay: list[Pair] = []
    if cfg.data.replay:
        spec = cfg.data.replay
        replay_set = load_beir(spec.path, split=spec.split, name=spec.name)
        replay = pairs_from_dataset(replay_set, int(spec.get("min_relevance", 1)), "replay")
        if spec.get("max_pairs"):
            order = torch.randperm(len(replay), generator=torch.Generator().manual_seed(cfg.seed)).tolist()
            replay = [replay[i] for i in sorted(order[: int(spec.max_pairs)])]
    return target, replay, train_set


def mine_negatives(cfg, encoder, cache, target: list[Pair], train_set: Dataset, forbidden: set[str]) -> dict:
    """Hard negatives for the target pairs: structural edits of each positive (``miner=structural``)
    and/or candidates from the current model's ranking of the training corpus (``topk_margin``)."""
    miner = instantiate(cfg.miner.miner)
    negatives: dict = {}
    if isinstance(miner, StructuralMiner):
        negatives = miner.structural_negatives(target)
        console.print(f"structural negatives made: {miner.made}")
        miner = miner.then
    if miner is None:
        return negatives
    doc_ids = list(train_set.corpus)
    doc_emb = cache.encode(encoder, [train_set.corpus[d] for d in doc_ids], "passage", cfg.show_progress)
    index = Index(encoder.dim)
    index.add(doc_emb, doc_ids)
    query_ids = list(dict.fromkeys(p.query_id for p in target))
    query_emb = cache.encode(encoder, [train_set.queries[q] for q in query_ids], "query", cfg.show_progress)
    positives = {q: list(train_set.qrels[q]) for q in query_ids}
    mined = miner.mine(query_ids, query_emb, index, dict(zip(doc_ids, doc_emb)), positives, forbidden)
    for q, docs in mined.items():
        negatives.setdefault(("target", q), []).extend((d, train_set.corpus[d]) for d in docs)
    return negatives


def summary_table(summary: dict) -> Table:
    table = Table(title="zero-shot → fine-tuned (paired over queries)")
    for column in ("set", "metric", "n", "zero-shot", "fine-tuned", "Δ", "95% CI", "d_z"):
        table.add_column(column, justify="left" if column in ("set", "metric") else "right")
    for name, rows in summary["deltas"].items():
        for row in rows:
            table.add_row(
                name,
                row["metric"],
                str(row["n"]),
                f"{row['mean_a']:.4f}",
                f"{row['mean_b']:.4f}",
                f"{row['delta']:+.4f}",
                f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]",
                f"{row['effect_size']:+.2f}",
            )
    return table


@dataclass
class FitResult:
    encoder: BiEncoder
    history: dict[int, dict[str, Report]]  # epoch (0 = before training) → set name → report
    wall_s: float
    trainable: int
    total: int
    epochs: int


def fit(
    cfg: DictConfig,
    encoder: BiEncoder,
    target: list[Pair],
    replay: list[Pair],
    train_set: Dataset,
    eval_sets: dict[str, EvalSet],
    cache: EmbeddingCache,
    zero_shot: dict[str, Report] | None = None,
    adapter: bool = True,
    log_dir: Path | None = None,
) -> FitResult:
    """Mine (optional), attach the adapter (unless ``adapter=False``: the encoder already has one to
    keep training), train with per-epoch validation, return the encoder and the validation history."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    forbidden = {q for spec in eval_sets.values() for q in spec.dataset.queries}
    num_negatives = int(cfg.miner.get("num_negatives", 0))
    mine = lambda: mine_negatives(cfg, encoder, cache, target, train_set, forbidden)  # noqa: E731
    negatives = mine() if num_negatives else {}
    if adapter:
        apply_adapter(
            encoder, **{k: v for k, v in OmegaConf.to_container(cfg.adapter, resolve=True).items() if k != "lr"}
        )
    trainable, total = trainable_parameters(encoder)
    console.print(
        f"{len(target)} target + {len(replay)} replay pairs (α={cfg.data.alpha}); "
        f"adapter {cfg.adapter.kind}: {trainable:,} / {total:,} parameters train"
    )

    collator = PairCollator(encoder, negatives, num_negatives)
    if encoder.passage_uses_base:  # frozen passage tower: embed every training passage once, via the cache
        collator.passage_embeddings = {}
        embed_frozen_passages(collator, cache, [p.passage for p in target + replay], cfg.show_progress)
    callbacks: list[pl.Callback] = []
    if num_negatives and cfg.miner.miner.remine_every_epoch:
        callbacks.append(Remine(mine, collator, cache))
    sampler = MixedBatchSampler(len(target), len(replay), int(cfg.train.batch_size), float(cfg.data.alpha), cfg.seed)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.ConcatDataset([target, replay]) if replay else target,
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
    validation = RetrievalValidation(
        eval_sets,
        cache,
        cfg.eval.k_values,
        int(cfg.eval.depth),
        every_n_epochs=int(cfg.train.get("validate_every_n_epochs", 1)),
        show_progress=bool(cfg.show_progress),
    )
    if zero_shot is not None:
        validation.history[0] = zero_shot
    loggers = [instantiate(spec, **({"save_dir": str(log_dir)} if log_dir else {})) for spec in cfg.logger.values()]
    trainer = instantiate(cfg.trainer, logger=loggers, callbacks=[validation, EpochSampler(sampler), *callbacks])
    start = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    finish_wandb(loggers)
    pause_point("training")
    return FitResult(encoder, validation.history, time.perf_counter() - start, trainable, total, trainer.current_epoch)


def finish_wandb(loggers) -> None:
    """Close this run's W&B run: in a multirun every job runs in one process, and an open run would
    swallow the next job's curves."""
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            logger.experiment.finish()


def load_eval_sets(cfg: DictConfig) -> dict[str, EvalSet]:
    """The golden set (keyed by its data name) and every configured probe (keyed by its probe key)."""
    golden = load_eval_set(cfg.data, cfg.seed)
    sets = {golden.dataset.name: golden}
    for key, spec in (cfg.get("probes") or {}).items():
        sets[key] = load_eval_set(spec, cfg.seed)
    return sets


def train(cfg: DictConfig, run_dir: Path) -> dict:
    if cfg.adapter.kind == "nudge":  # no weights to train: move the corpus embeddings instead
        return nudge_train(cfg, run_dir)
    target, replay, train_set = load_pairs(cfg)
    check_enough_pairs(len(target), int(cfg.train.min_pairs), bool(cfg.train.force))
    eval_sets = load_eval_sets(cfg)
    result = fit(cfg, instantiate(cfg.encoder), target, replay, train_set, eval_sets, EmbeddingCache(cfg.cache_dir))
    encoder = result.encoder

    model_dir = run_dir / "model"
    encoder.model.save_pretrained(model_dir)  # peft adapter (LoRA) or full weights
    encoder.tokenizer.save_pretrained(model_dir)
    if cfg.train.export and not encoder.passage_uses_base:
        export_sentence_transformers(encoder, run_dir / "sentence-transformers")
    extra = {"parameters": {"trainable": result.trainable, "total": result.total}, "model_dir": str(model_dir)}
    summary = write_summary(cfg, run_dir, result.history, eval_sets, result.wall_s, len(target), len(replay), extra)
    console.print(f"trained {result.epochs} epochs in {result.wall_s:.0f} s")
    return summary


def write_summary(
    cfg: DictConfig,
    run_dir: Path,
    history: dict[int, dict[str, Report]],
    eval_sets: dict,
    wall_s: float,
    n_target: int,
    n_replay: int,
    extra: dict,
) -> dict:
    """``summary.json`` (per-epoch means; last vs zero-shot paired Δ with CIs), final reports, table."""
    first, last = history[0], history[max(history)]
    summary = {
        "pairs": {"target": n_target, "replay": n_replay, "alpha": float(cfg.data.alpha)},
        "wall_s": wall_s,
        **extra,
        "epochs": {epoch: {name: r.means for name, r in reports.items()} for epoch, reports in history.items()},
        "deltas": {
            name: [
                last[name].compare_to(first[name], m, seed=cfg.seed).to_dict()
                for m in cfg.eval.report_metrics
                if m in last[name].per_query
            ]
            for name in eval_sets
        },
    }
    for name, report in last.items():
        report.save(run_dir / "reports" / f"{name}.json")
    write_json(run_dir / "summary.json", summary)
    console_module.out().print(summary_table(summary))
    print(run_dir / "summary.json")
    return summary


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


def objective(summary: dict, cfg: DictConfig) -> float:
    """Golden gain minus λ × probe loss (primary metric), for sweepers; λ = 0 gives plain golden Δ."""
    metric = cfg.eval.primary
    gain = next(r["delta"] for r in summary["deltas"][cfg.data.name] if r["metric"] == metric)
    probe_losses = [
        max(0.0, -r["delta"])
        for name, rows in summary["deltas"].items()
        if name != cfg.data.name
        for r in rows
        if r["metric"] == metric
    ]
    return gain - float(cfg.train.forgetting_penalty) * sum(probe_losses)


@hydra.main(version_base="1.3", config_path=str(_config.CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float:
    try:
        summary = train(cfg, Path(cfg.output_dir))
    except (DataError, EncoderLoadError, SmallDataError, NudgeError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    return objective(summary, cfg)


if __name__ == "__main__":
    main()
