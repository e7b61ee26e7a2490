"""One or more recursive fine-tuning cycles: new pairs → candidate → gate → promote / wait / roll back.

    python -m recft.cycle                                  # one cycle on the default setup
    python -m recft.cycle loop.cycles=3 loop.schedule=[0.4,0.3,0.3]
    python -m recft.cycle +experiment=nika_cycles          # staged arrivals + an off-distribution batch
    python -m recft.manage history | approve <v> | reject <v> | rollback | figures

Each cycle trains a candidate starting from the incumbent, evaluates it on the golden set and every
probe (the incumbent's reports are cached in the registry), asks the gate, acts on the verdict, and
appends one line to ``history.jsonl``. The evidence behind each verdict is written next to it:
``gate_eval.json`` (golden set) and ``forgetting_eval.json`` (probes, with per-query deltas).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from recft import config as _config  # noqa: F401  (registers resolvers)
from recft import console as console_module
from recft.atomic import write_json, write_text
from recft.cache import EmbeddingCache, stable_hash
from recft.data import DataError, load_beir
from recft.encoder import BiEncoder, EncoderLoadError
from recft.evaluate import apply_overrides
from recft.gate import PENDING_APPROVAL, PROMOTED, GateConfig, Verdict, decide
from recft.index import Index
from recft.nudge_candidate import NudgedCorpus, NudgeError, fit_nudge
from recft.pairs import Pair, pairs_from_dataset
from recft.registry import Registry, RegistryError, Version
from recft.report import Report
from recft.train import SmallDataError, check_enough_pairs, fit, load_eval_sets, load_pairs
from recft.validation import evaluate_set
from recft.versions import load_encoder, save_encoder

console = console_module.err


class LoopConfigError(ValueError):
    """An arrival schedule or loop setting that cannot run."""


def arrivals(pairs: list[Pair], schedule: list[float], seed: int) -> list[list[Pair]]:
    """Split the training pairs into per-cycle arrival batches (seeded order, shares of the total)."""
    shares = np.asarray(schedule, dtype=float)
    if (shares <= 0).any() or shares.sum() > 1 + 1e-9:
        raise LoopConfigError(f"loop.schedule must be positive shares summing to at most 1, got {list(schedule)}")
    order = np.random.default_rng(seed).permutation(len(pairs))
    bounds = np.round(np.cumsum(np.concatenate([[0.0], shares])) * len(pairs)).astype(int)
    return [[pairs[i] for i in order[a:b]] for a, b in zip(bounds[:-1], bounds[1:])]


def injected_pairs(spec: DictConfig, seed: int) -> list[Pair]:
    """Off-distribution pairs from another data set, e.g. conversational pairs into a scientific domain."""
    dataset = load_beir(spec.path, split=spec.split, name=spec.name)
    pairs = pairs_from_dataset(dataset, source="target")
    order = np.random.default_rng(seed).permutation(len(pairs))[: int(spec.pairs)]
    return [
        Pair(p.query_id, p.query, f"{spec.name}:{p.doc_id}", p.passage, "target") for p in (pairs[i] for i in order)
    ]


def fingerprint_pairs(pairs: list[Pair]) -> str:
    return stable_hash("\n".join(sorted(f"{p.query_id}\t{p.doc_id}" for p in pairs)))


def encoder_version(registry: Registry, version: Version) -> Version:
    """The version whose encoder embeds queries and passages: a NUDGE version's base, else itself."""
    return registry.get(version.config["encoder_version"]) if version.kind == "nudge" else version


def incumbent_reports(
    registry: Registry, version: Version | None, cfg: DictConfig, eval_sets, cache
) -> dict[str, Report]:
    """The incumbent's report on every eval set: from the registry, evaluating only missing ones."""
    folder = registry.root / "reports" / (version.id if version else "none")
    reports, encoder = {}, None
    nudged = NudgedCorpus.load(version.path).overrides() if version and version.kind == "nudge" else None
    for name, spec in eval_sets.items():
        path = folder / f"{name}.json"
        if path.is_file():
            reports[name] = Report.load(path)
            continue
        encoder = encoder or load_encoder(encoder_version(registry, version) if version else None, cfg.encoder)
        encoder.eval()
        overrides = nudged if name == cfg.data.name else None
        reports[name] = evaluate_set(
            encoder, spec, cache, cfg.eval.k_values, int(cfg.eval.depth), bool(cfg.show_progress), overrides
        )
        reports[name].save(path)
    return reports


def blue_green_index(
    registry: Registry, candidate: Version, encoder, golden, cache, show_progress: bool, overrides=None
) -> dict:
    """Build the promoted version's corpus index beside the serving one, then switch the pointer.

    Skipped for query-side-only versions: their passage tower is the base, so the serving index
    stays valid. A NUDGE version's index is its encoder's (cached) embeddings with the moved rows
    replaced. Returns coverage (documents re-embedded / total) for the history line.
    """
    total = len(golden.dataset.corpus)
    serving_path = registry.root / "serving.json"
    if encoder.passage_uses_base and serving_path.is_file() and overrides is None:
        return {"reembedded": 0, "total": total, "index": json.loads(serving_path.read_text())["index"]}
    before = cache.stats.encoded
    doc_ids = list(golden.dataset.corpus)
    embeddings = cache.encode(encoder, [golden.dataset.corpus[d] for d in doc_ids], "passage", show_progress)
    if overrides:
        embeddings = apply_overrides(embeddings, doc_ids, overrides)
    index = Index(encoder.dim)
    index.add(embeddings, doc_ids)
    folder = registry.root / "indexes" / candidate.id
    index.save(folder, meta={"version": candidate.id, "fingerprint": encoder.fingerprint_for("passage")})
    write_json(serving_path, {"version": candidate.id, "index": str(folder)})  # the atomic switch
    return {"reembedded": cache.stats.encoded - before, "total": total, "index": str(folder)}


def log_version_artifact(cfg: DictConfig, version: Version, verdict: str, promoted: bool) -> None:
    """With ``logger=wandb``: log the version as a W&B model artifact; the incumbent carries ``production``."""
    if "wandb" not in cfg.logger or not version.path:
        return
    import wandb

    spec = cfg.logger.wandb
    run = wandb.init(
        project=spec.project,
        dir=str(cfg.output_dir),
        mode="offline" if spec.offline else "online",
        job_type="cycle",
        group=spec.get("group"),
        reinit="finish_previous",
    )
    artifact = wandb.Artifact(
        f"recft-{version.id}",
        type="model",
        metadata={"parent": version.parent, "verdict": verdict, "metrics": version.metrics},
    )
    artifact.add_dir(version.path)
    run.log_artifact(artifact, aliases=["production", "latest"] if promoted else ["latest"])
    run.finish()


def evidence(verdict: Verdict, reports: dict[str, Report], incumbent: dict[str, Report], golden_name: str) -> tuple:
    gate_eval = {
        **verdict.to_dict(),
        "golden_set": golden_name,
        "candidate_means": reports[golden_name].means,
        "incumbent_means": incumbent[golden_name].means,
    }
    probes = []
    for check in verdict.probes:
        metric = check.comparison.metric
        cand, inc = reports[check.name].per_query[metric], incumbent[check.name].per_query[metric]
        probes.append({**check.to_dict(), "per_query_delta": {q: cand[q] - inc[q] for q in sorted(cand)}})
    return gate_eval, {"verdict": verdict.verdict, "probes": probes}


def append_history(path: Path, line: dict) -> None:
    """Append one JSON line by rewriting the file atomically: a killed run never leaves half a line."""
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    write_text(path, existing + json.dumps(line, default=float) + "\n")


def history_lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Candidate:
    version: Version
    reports: dict[str, Report]  # on the golden set and every probe
    encoder: BiEncoder
    train_wall_s: float
    overrides: dict | None = None  # a NUDGE candidate's moved passage embeddings


def trained_candidate(
    cfg, registry, incumbent, inc_reports, cycle, train_pairs, replay, train_set, eval_sets, cache, run_dir
):
    """Train an adapter (or all weights) starting from the incumbent's encoder."""
    base = encoder_version(registry, incumbent)
    continuing = base.kind == "query_lora" and cfg.adapter.kind == "query_lora"
    if base.kind == "query_lora" and not continuing:
        raise RegistryError(
            f"incumbent {incumbent.id} is query_lora; candidates must be query_lora too "
            f"(its passages are the base model's), got adapter={cfg.adapter.kind}"
        )
    encoder = load_encoder(base, cfg.encoder, trainable=True)
    result = fit(
        cfg,
        encoder,
        train_pairs,
        replay,
        train_set,
        eval_sets,
        cache,
        zero_shot=inc_reports,
        adapter=not continuing,
        log_dir=run_dir,
    )
    reports = result.history[max(result.history)]
    kind = save_encoder(encoder, run_dir / "candidate")
    version = registry.add(
        f"cycle{cycle}",
        kind=kind,
        path=str(run_dir / "candidate"),
        parent=incumbent.id,
        config=OmegaConf.to_container(cfg.adapter, resolve=True),
        metrics={name: r.means for name, r in reports.items()},
        data_fingerprint=fingerprint_pairs(train_pairs),
    )
    return Candidate(version, reports, encoder, result.wall_s)


def nudge_candidate(
    cfg, registry, incumbent, inc_reports, cycle, train_pairs, replay, train_set, eval_sets, cache, run_dir
):
    """Re-nudge the golden corpus from the encoder's original embeddings with every pair seen so far."""
    base = encoder_version(registry, incumbent)
    encoder = load_encoder(base, cfg.encoder)
    encoder.eval()
    golden = eval_sets[cfg.data.name]
    start = time.perf_counter()
    nudged = fit_nudge(encoder, golden.dataset.corpus, train_pairs, cache, cfg.adapter, cfg.seed)
    wall = time.perf_counter() - start
    nudged.save(run_dir / "candidate")
    # Other corpora do not move: the probes score as the encoder version does (its stored reports).
    reports = dict(inc_reports if base.id == incumbent.id else incumbent_reports(registry, base, cfg, eval_sets, cache))
    reports[cfg.data.name] = evaluate_set(
        encoder, golden, cache, cfg.eval.k_values, int(cfg.eval.depth), bool(cfg.show_progress), nudged.overrides()
    )
    console.print(f"NUDGE-{nudged.variant.upper()}: γ={nudged.gamma:.4f}, {nudged.stats['docs_moved']} documents moved")
    version = registry.add(
        f"cycle{cycle}-nudge",
        kind="nudge",
        path=str(run_dir / "candidate"),
        parent=incumbent.id,
        config={
            **OmegaConf.to_container(cfg.adapter, resolve=True),
            "encoder_version": base.id,
            "gamma": nudged.gamma,
            **nudged.stats,
        },
        metrics={name: r.means for name, r in reports.items()},
        data_fingerprint=fingerprint_pairs(train_pairs),
    )
    return Candidate(version, reports, encoder, wall, nudged.overrides())


def probe_gate_metric(cfg: DictConfig, name: str, gate_cfg: GateConfig) -> str:
    """The metric the gate checks on a probe: the probe's own ``gate_metric`` (NevIR: paired accuracy,
    the negation sensitivity that structural training trades against), else the gate's."""
    spec = (cfg.get("probes") or {}).get(name) or {}
    return spec.get("gate_metric") or gate_cfg.probe_metric or gate_cfg.metric


def run_cycle(
    cfg: DictConfig,
    registry: Registry,
    cycle: int,
    new_pairs: list[Pair],
    seen_pairs: list[Pair],
    replay: list[Pair],
    train_set,
    eval_sets,
    cache: EmbeddingCache,
    gate_cfg: GateConfig,
) -> dict:
    start = time.perf_counter()
    golden_name = cfg.data.name
    run_dir = Path(cfg.output_dir) / f"cycle-{cycle:03d}"
    attempt = 1
    while run_dir.exists():  # a previous attempt at this cycle died; keep its files, start afresh
        attempt += 1
        run_dir = Path(cfg.output_dir) / f"cycle-{cycle:03d}-attempt{attempt}"
    incumbent = registry.incumbent()
    if incumbent is None:
        incumbent = registry.add(
            "base",
            kind="base",
            path=None,
            status="incumbent",
            config={"encoder": OmegaConf.to_container(cfg.encoder, resolve=True)},
        )
    # NUDGE always re-fits from the original embeddings, so it always uses every pair seen so far.
    train_pairs = seen_pairs if cfg.loop.train_on == "all" or cfg.adapter.kind == "nudge" else new_pairs
    line = {
        "cycle": cycle,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "incumbent": incumbent.id,
        "pairs": {"new": len(new_pairs), "total": len(seen_pairs), "trained_on": len(train_pairs)},
        "injected": bool(cfg.loop.inject and cycle == int(cfg.loop.inject.cycle)),
        "epochs": int(cfg.train.epochs),
    }
    inc_reports = incumbent_reports(registry, incumbent, cfg, eval_sets, cache)
    try:
        check_enough_pairs(len(train_pairs), int(cfg.train.min_pairs), bool(cfg.train.force))
    except SmallDataError as err:
        return {**line, "verdict": "SKIPPED", "reasons": [str(err)], "wall_s": time.perf_counter() - start}

    make = nudge_candidate if cfg.adapter.kind == "nudge" else trained_candidate
    candidate = make(
        cfg, registry, incumbent, inc_reports, cycle, train_pairs, replay, train_set, eval_sets, cache, run_dir
    )
    reports = candidate.reports
    for name, report in reports.items():
        report.save(registry.root / "reports" / candidate.version.id / f"{name}.json")

    probes = {}
    for name in eval_sets:
        if name != golden_name:
            metric = probe_gate_metric(cfg, name, gate_cfg)
            probes[name] = (inc_reports[name].per_query[metric], reports[name].per_query[metric], metric)
    verdict = decide(
        inc_reports[golden_name].per_query[gate_cfg.metric],
        reports[golden_name].per_query[gate_cfg.metric],
        probes,
        gate_cfg,
    )
    gate_eval, forgetting_eval = evidence(verdict, reports, inc_reports, golden_name)
    write_json(run_dir / "gate_eval.json", gate_eval)
    write_json(run_dir / "forgetting_eval.json", forgetting_eval)

    coverage = None
    if verdict.verdict == PROMOTED:
        coverage = blue_green_index(
            registry,
            candidate.version,
            candidate.encoder,
            eval_sets[golden_name],
            cache,
            bool(cfg.show_progress),
            candidate.overrides,
        )
        registry.promote(candidate.version.id, reason=f"cycle {cycle}: PROMOTED")
    elif verdict.verdict == PENDING_APPROVAL:
        registry.mark_pending(candidate.version.id)
    else:
        registry.reject(candidate.version.id, reason=f"cycle {cycle}: {verdict.verdict}")
    version = registry.get(candidate.version.id)
    log_version_artifact(cfg, version, verdict.verdict, verdict.verdict == PROMOTED)
    wall = time.perf_counter() - start
    device_hours = wall / 3600 * max(1, torch.cuda.device_count())
    return {
        **line,
        "candidate": candidate.version.id,
        "kind": candidate.version.kind,
        "verdict": verdict.verdict,
        "reasons": verdict.reasons,
        "metric": gate_cfg.metric,
        "candidate_metric": verdict.golden.comparison.mean_b,
        "incumbent_metric": verdict.golden.comparison.mean_a,
        "threshold": verdict.golden.comparison.mean_a + gate_cfg.margin,
        "golden": verdict.golden.to_dict(),
        "probes": forgetting_eval["probes"],
        "coverage": coverage,
        "wall_s": wall,
        "train_wall_s": candidate.train_wall_s,
        "cost": {
            "device_hours": device_hours,
            "price_per_hour": float(cfg.cost.price_per_hour),
            "total": device_hours * float(cfg.cost.price_per_hour),
        },
        "evidence": str(run_dir),
    }


def run_loop(cfg: DictConfig) -> list[dict]:
    registry = Registry(cfg.registry.root)
    history_path = registry.root / "history.jsonl"
    gate_cfg = GateConfig(**OmegaConf.to_container(cfg.gate, resolve=True))
    with registry.cycle_lock():
        for version in registry.versions():  # holding the lock, any undecided candidate is from a dead cycle
            if version.status == "candidate" and version.note != "pending approval":
                registry.reject(version.id, reason="abandoned: the cycle that trained it did not finish")
        target, replay, train_set = load_pairs(cfg)
        batches = arrivals(target, list(cfg.loop.schedule), cfg.seed)
        if int(cfg.loop.cycles) > len(batches):
            raise LoopConfigError(f"loop.cycles={cfg.loop.cycles} but loop.schedule has {len(batches)} arrival shares")
        eval_sets = load_eval_sets(cfg)
        cache = EmbeddingCache(cfg.cache_dir)
        first = len(history_lines(history_path)) + 1
        seen: list[Pair] = []
        lines = []
        for index in range(int(cfg.loop.cycles)):
            cycle = first + index
            new = list(batches[index])
            if cfg.loop.inject and index + 1 == int(cfg.loop.inject.cycle):
                new += injected_pairs(cfg.loop.inject, cfg.seed)
            seen += new
            console.rule(f"cycle {cycle}: {len(new)} new pairs, {len(seen)} seen")
            line = run_cycle(cfg, registry, cycle, new, seen, replay, train_set, eval_sets, cache, gate_cfg)
            append_history(history_path, line)
            lines.append(line)
            console.print(f"cycle {cycle}: [bold]{line['verdict']}[/bold]")
            for reason in line["reasons"]:
                console.print(f"  - {reason}")
    from recft.plots import cycle_figures

    for path in cycle_figures(history_path, registry.root / "figures"):
        print(path)
    print(history_path)
    return lines


@hydra.main(version_base="1.3", config_path=str(_config.CONF_DIR), config_name="cycle")
def main(cfg: DictConfig) -> None:
    try:
        run_loop(cfg)
    except (DataError, EncoderLoadError, RegistryError, LoopConfigError, SmallDataError, NudgeError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
