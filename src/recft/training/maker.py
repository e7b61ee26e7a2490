"""The trained candidate maker: LoRA, query-side LoRA, last layer or full fine-tuning from the start point.

``conf/adapter/{lora,query_lora,last_layer,full}.yaml`` instantiate it. A query-side incumbent is
continued (its adapter keeps training) rather than stacked on: its passages are the base model's,
and a two-tower candidate on top would make the serving index invalid without saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from omegaconf import OmegaConf

from recft.eval.sets import evaluate_set
from recft.model.adapters import KINDS
from recft.model.store import save_encoder
from recft.training.candidate import Candidate, CandidateError, MakeContext, StartPoint, TrainingData
from recft.training.fit import fit
from recft.training.merge import merge_with_start

LORA_KINDS = ("lora", "query_lora")
TRAIN_SETTINGS = ("lr", "epochs", "batch_size", "weight_decay", "warmup_steps")  # recorded as used


def measure_the_rest(history: dict, encoder, start: StartPoint, ctx: MakeContext) -> dict:
    """Epoch 0 is the start point on every set; the last epoch adds the sets not validated per epoch
    (the golden set) measured once, now; epochs in between hold what was validated."""
    last = max(history)
    rest = {n: s for n, s in ctx.sets.items() if n not in history[last]}
    final = {**history[last], **{n: evaluate_set(encoder, s, ctx.cache, ctx.settings) for n, s in rest.items()}}
    ordered = lambda reports: {n: reports[n] for n in ctx.sets if n in reports}  # noqa: E731
    return {**history, 0: ordered(start.reports), last: ordered(final)}


@dataclass(frozen=True)
class TrainedMaker:
    kind: str = "lora"
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: Sequence[str] = ("query", "key", "value", "dense")
    lr: float | None = None  # the adapter's default for train.lr; fitting reads train.lr
    uses_all_pairs = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise CandidateError(f"adapter.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    def adapter_settings(self) -> dict:
        """What ``apply_adapter`` gets: LoRA's shape only where there is a LoRA."""
        if self.kind not in LORA_KINDS:
            return {"kind": self.kind}
        shape = {"rank": self.rank, "alpha": self.alpha, "dropout": self.dropout}
        return {"kind": self.kind, **shape, "target_modules": list(self.target_modules)}

    def merge(self, encoder, history: dict, start: StartPoint, ctx: MakeContext, continuing: bool) -> dict:
        """``merge.weight=w`` (1: no merge): the merged model is what is measured last, on every set."""
        weight = float(OmegaConf.select(ctx.cfg, "merge.weight", default=1.0))
        if weight != 1.0:
            merge_with_start(encoder, weight, lambda: start.load_encoder(False), continuing)
            history[max(history)] = {}
        return {"weight": weight}

    def make(self, start: StartPoint, data: TrainingData, ctx: MakeContext) -> Candidate:
        continuing = start.kind == "query_lora"
        if continuing and self.kind != "query_lora":
            raise CandidateError(
                f"the start point ({start.encoder_version}) is query_lora; candidates must be query_lora too "
                f"(its passages are the base model's), got adapter={self.kind}"
            )
        encoder = start.load_encoder(True)
        adapter = None if continuing else self.adapter_settings()
        validated = ctx.validated_each_epoch()
        zero_shot = {name: start.reports[name] for name in validated}
        forbidden = ctx.evaluation_queries()
        result = fit(
            ctx.cfg, encoder, data, validated, ctx.cache, ctx.settings, zero_shot, adapter, forbidden, ctx.log_dir
        )
        merge = self.merge(encoder, result.history, start, ctx, continuing)
        history = measure_the_rest(result.history, encoder, start, ctx)
        used = {key: OmegaConf.select(ctx.cfg.train, key) for key in TRAIN_SETTINGS}
        settings = {
            "adapter": self.adapter_settings(),
            "continued": continuing,
            "train": used,
            "loss": OmegaConf.to_container(ctx.cfg.loss, resolve=True),
            "miner": OmegaConf.to_container(ctx.cfg.miner, resolve=True),
            "replay_alpha": data.alpha,
            "tuned_on": ctx.tuned_on,
            "merge": merge,
        }
        return Candidate(
            history=history,
            encoder=encoder,
            wall_s=result.wall_s,
            settings=settings,
            save=lambda folder: save_encoder(encoder, folder),
            summary={
                "parameters": {"trainable": result.trainable, "total": result.total},
                "epochs_trained": result.epochs,
                "gradient_checkpointing": result.checkpointing,
                **({"checkpoint": result.checkpoint} if result.checkpoint else {}),
            },
        )
