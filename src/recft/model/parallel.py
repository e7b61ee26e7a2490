"""Encoding in several processes: a share of the texts each, the same embeddings as one process.

On a CPU, one PyTorch process does not keep every core busy through tokenisation, padding and small
matrix products; several processes with a thread or two each do. With GPUs, each process takes one
device. The texts are dealt round-robin in the encoder's own length order, so every process's
length-sorted batches pad as tightly as one process's would, and joined back in input order.
Workers are *spawned*, not forked: a forked PyTorch process whose parent already ran OpenMP threads
can hang. Each worker gets the encoder pickled once, at start.

    cache = EmbeddingCache("outputs/cache", processes=2)     # through the cache: only missing texts
"""

from __future__ import annotations

import copy
import multiprocessing as mp
import os
from typing import Sequence

import numpy as np
import torch

_WORKER = {}


def _start(encoder, threads: int, devices: list[str]) -> None:
    torch.set_num_threads(threads)
    identity = mp.current_process()._identity
    index = (identity[0] - 1) if identity else 0
    if devices:
        device = torch.device(devices[index % len(devices)])
        encoder.to(device)
        encoder.device_ = device
    _WORKER["encoder"] = encoder


def _encode(job: tuple[list[str], str]) -> np.ndarray:
    texts, kind = job
    return _WORKER["encoder"].encode(texts, kind=kind, show_progress=False)


def encode_in_processes(encoder, texts: Sequence[str], kind: str, processes: int) -> np.ndarray:
    """``encoder.encode(texts, kind)`` spread over ``processes`` spawned workers (one per GPU when the
    encoder is on CUDA); float32 [len(texts), dim] in input order."""
    texts = list(texts)
    if processes <= 1 or len(texts) < 2 * processes:
        return encoder.encode(texts, kind=kind, show_progress=False)
    lengths = encoder.tokenizer(
        [encoder.prompts[kind] + t for t in texts], truncation=True, max_length=encoder.max_length, return_length=True
    )["length"]
    order = np.argsort(-np.asarray(lengths), kind="stable")
    shards = [order[i::processes] for i in range(processes)]  # each shard spans every length, like one run
    on_gpu = encoder.device_.type == "cuda"
    devices = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if on_gpu else []
    threads = max(1, (os.cpu_count() or 1) // processes)
    shipped = copy.deepcopy(encoder).to("cpu") if on_gpu else encoder  # pickled on the CPU, moved per worker
    context = mp.get_context("spawn")
    with context.Pool(processes, initializer=_start, initargs=(shipped, threads, devices)) as pool:
        parts = pool.map(_encode, [([texts[i] for i in shard], kind) for shard in shards])
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for shard, part in zip(shards, parts):
        out[shard] = part
    return out
