"""One DDP training step on CPU (two gloo processes), run by ``test_ddp_gathers_negatives_across_devices``.

    python tests/training/ddp_step.py MODEL_DIR OUT_FILE LOSS

Lightning's DDP (the strategy ``trainer=ddp`` ships) starts the second process by running this
script again; each process trains on its half of ``batch_pairs()``. Rank 0 writes the loss and every
gradient, after DDP has averaged them, to OUT_FILE, for comparison with one process on the whole batch.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from recft.data.pairs import Pair
from recft.model.adapters import apply_adapter
from recft.model.encoder import BiEncoder
from recft.training.batches import PairCollator
from recft.training.losses import CachedInfoNCELoss, InfoNCELoss
from recft.training.module import BiEncoderModule

ROWS = 8
SHIPPED = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf" / "trainer" / "ddp.yaml")  # trainer=ddp


def batch_pairs() -> list[Pair]:
    words = "flea wing cell violin salary otter moss iron".split()
    return [
        Pair(f"q{i}", f"question about {w}", f"d{i % 6}", f"passage {i % 6} on {w}", "s") for i, w in enumerate(words)
    ]


def negatives() -> dict:
    pairs = batch_pairs()
    return {
        ("s", p.query_id): [(pairs[(i + 3) % ROWS].doc_id, pairs[(i + 3) % ROWS].passage)] for i, p in enumerate(pairs)
    }


def make_module(model_dir: str, loss_name: str) -> BiEncoderModule:
    torch.manual_seed(0)
    encoder = BiEncoder.from_pretrained(model_dir, max_length=16, device="cpu")
    apply_adapter(encoder, "lora", rank=4, alpha=8, dropout=0.0)
    for layer in encoder.modules():  # training runs in train mode: no dropout, so one process can match two
        if isinstance(layer, torch.nn.Dropout):
            layer.p = 0.0
    loss = CachedInfoNCELoss(0.05, mini_batch=3) if loss_name == "cached" else InfoNCELoss(0.05)
    loss.gather_across_devices = loss_name != "local"  # local: each device its own rows (a diagnostic)
    return BiEncoderModule(encoder, loss, lr=0.0, warmup_steps=0)


class Capture(pl.Callback):
    def __init__(self, out: str):
        self.out, self.loss = out, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.loss = float(outputs["loss"])

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if trainer.global_rank == 0:
            grads = {n: p.grad.detach().clone() for n, p in pl_module.named_parameters() if p.grad is not None}
            torch.save({"grads": grads, "world_size": trainer.world_size}, self.out + ".grads")

    def on_train_end(self, trainer, pl_module):
        if trainer.global_rank == 0:
            saved = torch.load(self.out + ".grads")
            torch.save({**saved, "loss": self.loss}, self.out)


def main(model_dir: str, out: str, loss_name: str) -> None:
    rank = int(os.environ.get("LOCAL_RANK", 0))
    module = make_module(model_dir, loss_name)
    module.encoder.eval()  # no dropout: the two runs must be comparable row for row
    half = batch_pairs()[rank * ROWS // 2 : (rank + 1) * ROWS // 2]
    collate = PairCollator(module.encoder, negatives(), num_negatives=1)
    loader = torch.utils.data.DataLoader(half, batch_size=len(half), shuffle=False, collate_fn=collate)
    quiet = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy=SHIPPED.strategy, max_steps=1, use_distributed_sampler=False,
        callbacks=[Capture(out)], **quiet,
    )  # fmt: skip
    trainer.fit(module, loader)


if __name__ == "__main__":
    main(*sys.argv[1:4])
