"""The Lightning module that fine-tunes a BiEncoder with a contrastive loss.

Kept deliberately thin: the encoder owns tokenization and pooling (so training and evaluation embed
text the same way), the loss owns the objective, Lightning owns the loop, devices, precision,
logging and checkpoint plumbing.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from transformers import get_linear_schedule_with_warmup

from recft.model.encoder import BiEncoder


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

    def embed(self, tokens: dict, kind: str) -> torch.Tensor:
        if "embeddings" in tokens:  # precomputed by a frozen passage tower (see PairCollator)
            return tokens["embeddings"].to(self.device)
        return self.encoder(**{k: v.to(self.device) for k, v in tokens.items()}, kind=kind)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        query = self.embed(batch["query"], "query")
        positive = self.embed(batch["passage"], "passage")
        negatives = None
        if batch["negatives"] is not None:
            negatives = self.embed(batch["negatives"], "passage").view(query.shape[0], -1, query.shape[1])
        loss = self.loss(query, positive, negatives, batch["positive_ids"], batch["negative_ids"])
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=query.shape[0])
        return loss

    def configure_optimizers(self):
        params = [p for p in self.encoder.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]  # no weight decay on biases and LayerNorm
        no_decay = [p for p in params if p.ndim <= 1]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = get_linear_schedule_with_warmup(optimizer, min(self.warmup_steps, total), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
