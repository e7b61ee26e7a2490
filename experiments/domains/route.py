"""Two domains on one base model: each test set through the base, its own adapter, and the other's.

    .venv/bin/python experiments/domains/route.py outputs/domains/scifact outputs/domains/cranfield

Each argument is a ``recft train adapter=query_lora`` run folder (its ``candidate/query_adapter`` and
``.hydra/config.yaml``); the run's data name is the domain. The adapters are loaded side by side on one
copy of the base (``recft.model.domain_encoder.DomainEncoder``); each domain's golden set is measured with
the base model, through its own adapter, and through every other adapter (what a query routed to the
wrong domain gets) — paired Δ against the base with 95 % CIs. Writes ``routing.md`` beside this file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hydra.utils import instantiate  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from recft.common.atomic import write_text  # noqa: E402
from recft.common.config import register_resolvers  # noqa: E402
from recft.common.cpu import cpu_description  # noqa: E402
from recft.data.sources import SourceSpec, load_source  # noqa: E402
from recft.eval.sets import EvalSettings, evaluate_set  # noqa: E402
from recft.model.cache import EmbeddingCache  # noqa: E402
from recft.model.domain_encoder import DomainEncoder  # noqa: E402


def main(runs: list[str]) -> Path:
    register_resolvers()  # ${repo_path:…} in the saved configs
    configs = {}
    for run in map(Path, runs):
        cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
        configs[str(cfg.data.name)] = (run, cfg)
    first = next(iter(configs.values()))[1]
    cache, settings = EmbeddingCache.from_config(first), EvalSettings.from_config(first)
    base = instantiate(first.encoder)
    router = DomainEncoder(
        instantiate(first.encoder), {d: r / "candidate" / "query_adapter" for d, (r, _) in configs.items()}
    )
    metric = str(first.eval.primary)
    rows = [
        "| golden set | n | base | adapter used | " + metric + " | Δ vs base [95 % CI] |",
        "|---|---|---|---|---|---|",
    ]
    for domain, (_, cfg) in configs.items():
        source = load_source(SourceSpec.from_config(cfg.data, "data"), int(cfg.seed))
        zero = evaluate_set(base, source, cache, settings)
        for adapter in configs:
            with router.domain(adapter) as encoder:
                report = evaluate_set(encoder, source, cache, settings)
            c = report.compare_to(zero, metric)
            own = "own" if adapter == domain else "other"
            rows.append(
                f"| {domain} | {c.n} | {c.mean_a:.4f} | {adapter} ({own}) | {c.mean_b:.4f} | "
                f"{c.delta:+.4f} [{c.ci_low:+.4f}, {c.ci_high:+.4f}] |"
            )
    cpu = cpu_description()
    text = "\n".join(rows) + f"\n\nBootstrap CIs, paired over queries. CPU: {cpu['model']} ({cpu['cores']} cores).\n"
    print(text)
    return write_text(Path(__file__).parent / "routing.md", text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="recft train adapter=query_lora run folders, one per domain")
    main(parser.parse_args().runs)
