"""Training steps per second, in one run: recft (Lightning) vs the sentence-transformers trainer.

Same model (all-MiniLM-L6-v2), same SciFact training pairs in the same order, batch size, max
length 256, LoRA (r 16, alpha 32, dropout 0.1 on query/key/value/dense) and in-batch InfoNCE
(MultipleNegativesRankingLoss, scale 20 = temperature 0.05). Each side runs ``--warmup`` steps
that are not timed, then ``--steps`` timed steps. recft is measured twice: in fp32 (the like-for-
like comparison) and with its default precision on this machine (bf16-mixed where the CPU has
native bf16, detected — see ``recft.common.cpu.cpu_has_bf16``).

    EXTRAS=dev,bench bash scripts/setup.sh
    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_step.py [--steps 8] [--batch-size 32]
    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_step.py --batches 32,128,512   # cached vs plain InfoNCE

``--batches`` measures the cached loss (``loss=infonce_cached``, GradCache, mini-batch 32) against
plain InfoNCE at each batch size: steps/s and the peak resident memory of a process that does only
that (each configuration runs in its own process), at max length 128 so that batch 512 takes
minutes, not hours, on 2 cores. fp32, LoRA as above.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from recft.common.config import (
    REPO_ROOT,  # noqa: E402
    minilm_path,  # noqa: E402
)
from recft.common.cpu import cpu_description  # noqa: E402
from recft.data.beir import load_beir  # noqa: E402
from recft.data.pairs import pairs_from_dataset  # noqa: E402
from recft.model.adapters import apply_adapter  # noqa: E402
from recft.model.encoder import BiEncoder, cpu_has_bf16  # noqa: E402
from recft.training.batches import PairCollator  # noqa: E402
from recft.training.losses import InfoNCELoss  # noqa: E402
from recft.training.module import BiEncoderModule  # noqa: E402

LORA = {"rank": 16, "alpha": 32, "dropout": 0.1, "target_modules": ["query", "key", "value", "dense"]}
TEMPERATURE = 0.05


class StepTimer(pl.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == self.warmup and self.start is None:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        self.end = time.perf_counter()


def recft_steps_per_s(
    pairs, batch_size: int, warmup: int, steps: int, precision: str, loss=None, max_length: int = 256
) -> float:
    pl.seed_everything(42, verbose=False)
    encoder = BiEncoder.from_pretrained(minilm_path(), max_length=max_length, device="cpu")
    apply_adapter(encoder, "lora", **LORA)
    loader = torch.utils.data.DataLoader(pairs, batch_size=batch_size, shuffle=False, collate_fn=PairCollator(encoder))
    module = BiEncoderModule(encoder, loss or InfoNCELoss(TEMPERATURE), lr=1e-4, warmup_steps=0)
    timer = StepTimer(warmup)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=warmup + steps,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(module, loader)
    return steps / (timer.end - timer.start)


def st_steps_per_s(pairs, batch_size: int, warmup: int, steps: int) -> float:
    from datasets import Dataset as HFDataset
    from peft import LoraConfig
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import SentenceTransformerTrainingArguments
    from transformers import TrainerCallback

    class Timer(TrainerCallback):
        start = end = None

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == warmup and self.start is None:
                self.start = time.perf_counter()

        def on_train_end(self, args, state, control, **kwargs):
            self.end = time.perf_counter()

    model = SentenceTransformer(minilm_path(), device="cpu")
    model.max_seq_length = 256
    model.add_adapter(
        LoraConfig(
            r=LORA["rank"],
            lora_alpha=LORA["alpha"],
            lora_dropout=LORA["dropout"],
            target_modules=LORA["target_modules"],
        )
    )
    data = HFDataset.from_dict({"anchor": [p.query for p in pairs], "positive": [p.passage for p in pairs]})
    timer = Timer()
    args = SentenceTransformerTrainingArguments(
        output_dir=str(Path("/tmp") / "recft-bench-st"),
        per_device_train_batch_size=batch_size,
        max_steps=warmup + steps,
        learning_rate=1e-4,
        warmup_steps=0,
        logging_steps=10_000,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=42,
        dataloader_drop_last=True,
        disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=data,
        loss=MultipleNegativesRankingLoss(model, scale=1 / TEMPERATURE),
        callbacks=[timer],
    )
    trainer.train()
    return steps / (timer.end - timer.start)


MINI_BATCH = 32
CACHED_MAX_LENGTH = 128


def one_configuration(kind: str, batch_size: int, warmup: int, steps: int) -> dict:
    """Steps/s and this process's peak memory for ``plain`` or ``cached`` InfoNCE at ``batch_size``."""
    import resource

    from recft.training.losses import CachedInfoNCELoss

    pairs = pairs_from_dataset(load_beir(REPO_ROOT / "data" / "scifact", split="train"))
    pairs = (pairs * 2)[: (warmup + steps) * batch_size]
    loss = CachedInfoNCELoss(TEMPERATURE, mini_batch=MINI_BATCH) if kind == "cached" else InfoNCELoss(TEMPERATURE)
    rate = recft_steps_per_s(pairs, batch_size, warmup, steps, "32-true", loss, CACHED_MAX_LENGTH)
    return {"steps_per_s": rate, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def cached_vs_plain(batches: list[int], warmup: int, steps: int, out: Path) -> dict:
    import subprocess
    import sys

    rows = []
    for batch_size in batches:
        for kind in ("plain", "cached"):
            command = [sys.executable, __file__, "--one", f"{kind}:{batch_size}", "--warmup", str(warmup)]
            done = subprocess.run([*command, "--steps", str(steps)], capture_output=True, text=True)
            row = {"loss": kind, "batch_size": batch_size}
            if done.returncode == 0:
                row.update(json.loads(done.stdout.strip().splitlines()[-1]))
            elif done.returncode == -9:  # the kernel's out-of-memory killer: say so instead of a number
                row["failed"] = "killed by SIGKILL (out of memory)"
            else:
                row["failed"] = f"exit {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1][:200]}"
            print(json.dumps(row), flush=True)
            rows.append(row)
    results = {
        "cpu": cpu_description(),
        "threads": torch.get_num_threads(),
        "precision": "fp32",
        "max_length": CACHED_MAX_LENGTH,
        "mini_batch": MINI_BATCH,
        "warmup_steps": warmup,
        "timed_steps": steps,
        "rows": rows,
    }
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "train_step.json"))
    parser.add_argument("--batches", help="comma-separated batch sizes: cached vs plain InfoNCE")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # kind:batch, one configuration (a child process)
    args = parser.parse_args()
    if args.one:
        kind, batch_size = args.one.split(":")
        print(json.dumps(one_configuration(kind, int(batch_size), args.warmup, args.steps)))
        return
    if args.batches:
        out = REPO_ROOT / "bench" / "results" / "train_step_cached.json"
        cached_vs_plain([int(b) for b in args.batches.split(",")], args.warmup, args.steps, out)
        return
    pairs = pairs_from_dataset(load_beir(REPO_ROOT / "data" / "scifact", split="train"))
    pairs = pairs[: (args.warmup + args.steps) * args.batch_size]
    default_precision = "bf16-mixed" if cpu_has_bf16() else "32-true"
    results = {
        "batch_size": args.batch_size,
        "timed_steps": args.steps,
        "warmup_steps": args.warmup,
        "threads": torch.get_num_threads(),
        "cpu_has_bf16": cpu_has_bf16(),
        "steps_per_s": {},
    }
    rates = results["steps_per_s"]
    rates["sentence_transformers_fp32"] = st_steps_per_s(pairs, args.batch_size, args.warmup, args.steps)
    rates["recft_fp32"] = recft_steps_per_s(pairs, args.batch_size, args.warmup, args.steps, "32-true")
    if default_precision != "32-true":
        rates["recft_bf16_mixed"] = recft_steps_per_s(
            pairs, args.batch_size, args.warmup, args.steps, default_precision
        )
    base = rates["sentence_transformers_fp32"]
    results["ratio_vs_sentence_transformers"] = {name: rate / base for name, rate in rates.items()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
