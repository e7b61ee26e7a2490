"""The Lightning module that fine-tunes a BiEncoder with a contrastive loss.

Kept deliberately thin: the encoder owns tokenization and pooling (so training and evaluation embed
text the same way), the loss owns the objective, Lightning owns the loop, devices, precision,
logging and checkpoint plumbing.
"""

from __future__ import annotations

from functools import partial

import pytorch_lightning as pl
import torch
from transformers import get_linear_schedule_with_warmup

from recft.model.encoder import BiEncoder
from recft.training.grad_cache import Side, cached_loss


class BiEncoderModule(pl.LightningModule):
    def __init__(
        self,
        encoder: BiEncoder,
        loss: torch.nn.Module,
        lr: float = 2e-5,
        weight_decay: float = 0.01,
        warmup_steps: int = 100,
    ):
        super().__init__()
        self.encoder = encoder
        self.loss = loss
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps

    def on_train_start(self) -> None:
        """Train with dropout on, always. Lightning keeps each submodule's mode as it finds it, and what it
        finds depended on the cache: ``BiEncoder.encode`` restores its wrapper's mode over the whole tree,
        so one cache miss before training left the backbone in train mode while a warm cache left it in
        the eval mode ``from_pretrained`` gives — the same run trained two different models."""
        self.train()

    def embed(self, tokens: dict, kind: str) -> torch.Tensor:
        if "embeddings" in tokens:  # precomputed by a frozen passage tower (see PairCollator)
            return tokens["embeddings"].to(self.device)
        return self.encoder(**{k: v.to(self.device) for k, v in tokens.items()}, kind=kind)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.batch_loss(batch)
        rows = len(batch["positive_ids"])
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=rows)
        return loss

    def batch_loss(self, batch: dict) -> torch.Tensor:
        """The loss of one batch: embedded whole, or — for a loss with ``mini_batch`` — GradCache's
        way, one mini-batch of activations at a time (same loss, same gradients)."""
        sides = {"query": (batch["query"], "query"), "positive": (batch["passage"], "passage")}
        if batch["negatives"] is not None:
            sides["negatives"] = (batch["negatives"], "passage")

        def arguments(embedded: dict) -> dict:
            query, negatives = embedded["query"], embedded.get("negatives")
            if negatives is not None:
                negatives = negatives.view(query.shape[0], -1, query.shape[1])
            ids = {"positive_ids": batch["positive_ids"], "negative_ids": batch["negative_ids"]}
            local = {"query": query, "positive": embedded["positive"], "negatives": negatives, **ids}
            if "guide" in batch:
                local["guide"] = {k: None if v is None else v.to(self.device) for k, v in batch["guide"].items()}
            return self.across_devices(local) if self.gathers() else local

        mini_batch = getattr(self.loss, "mini_batch", None)
        if mini_batch and self._trainer is not None and self.trainer.world_size > 1:
            raise ValueError(
                "loss=infonce_cached does not run under DDP yet: its second pass backpropagates once per "
                "mini-batch, and DDP's gradient hooks expect one backward per step; use loss=infonce"
            )
        if mini_batch:
            cached = {
                name: Side(tokens, partial(self.embed, kind=kind), mini_batch) for name, (tokens, kind) in sides.items()
            }
            loss = cached_loss(self.loss, cached, arguments)
        else:
            loss = self.loss(**arguments({name: self.embed(tokens, kind) for name, (tokens, kind) in sides.items()}))
        return self.global_loss(loss) if self.gathers() else loss

    def gathers(self) -> bool:
        """Under DDP (more than one process), whether the loss sees every device's rows: the loss's
        ``gather_across_devices`` (true by default), else each device trains on its own rows only."""
        trainer = self._trainer
        return (
            bool(getattr(self.loss, "gather_across_devices", False)) and trainer is not None and trainer.world_size > 1
        )

    def across_devices(self, local: dict) -> dict:
        """Every device's queries, passages and negatives, and their ids, in rank order: each device
        computes the loss of the global batch, so with 4 devices of 32 rows a query meets 127 in-batch
        negatives, not 31. The other devices' rows arrive without a graph and this device's rows keep
        theirs, so no collective runs inside backward (one there can pair with DDP's own gradient
        all-reduce in a different order on each device). ``global_loss`` then scales the gradient so
        that DDP's average over devices is the gradient of one process on the concatenated batch."""
        rank = self.global_rank

        def gathered(value: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                parts = list(self.all_gather(value).unbind(0))
            parts[rank] = value
            return torch.cat(parts)

        out = {
            name: None if local[name] is None else gathered(local[name]) for name in ("query", "positive", "negatives")
        }
        if local.get("guide") is not None:  # the guide's vectors have no graph: gathered like the rest
            out["guide"] = {k: None if v is None else gathered(v) for k, v in local["guide"].items()}
        out["positive_ids"] = gathered(torch.as_tensor(local["positive_ids"], device=self.device)).tolist()
        out["negative_ids"] = None
        if local["negative_ids"] is not None:
            out["negative_ids"] = gathered(torch.as_tensor(local["negative_ids"], device=self.device)).tolist()
        return out

    def global_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """The same value, with W × its gradient: a device's rows get only this device's share of
        the gradient of the (identical) global loss, and DDP divides the sum of W shares by W."""
        world = self.trainer.world_size
        return loss + (world - 1) * (loss - loss.detach())

    def configure_optimizers(self):
        params = [p for p in self.encoder.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]  # no weight decay on biases and LayerNorm
        no_decay = [p for p in params if p.ndim <= 1]
        # fused: one kernel per step instead of ~10 small ops per parameter tensor — the same update (rounded
        # differently); for a LoRA's 74 small tensors on 2 cores, the per-op overhead was most of the optimizer's time
        fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr,
            fused=fused,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = get_linear_schedule_with_warmup(optimizer, min(self.warmup_steps, total), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
