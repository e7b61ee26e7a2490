"""Every setting of a command checked before its first encode, train or registry write.

A setting that a stage reads late — the gate after training, the slice rules after the golden set
is measured, the adapter kind when the candidate is made — would otherwise fail minutes into a run
(or, in a cycle, after the registry was opened). ``check_settings(cfg, command)`` builds each
settings object the command will build later, and checks the values that are only looked up by
name (metrics, formats, choices), in a second and without loading a model or a data set: a bad
value fails with one line naming the config key, the value and what is allowed. The objects
themselves stay where they are built; this only builds them once more, early.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recft.common.errors import ConfigError, instantiate

COMMANDS = ("evaluate", "train", "cycle")
# what Lightning's Trainer takes (its docs); the Trainer itself is built only when training starts
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "transformer-engine",
              "transformer-engine-float16", "64", "32", "16", "bf16", 64, 32, 16)  # fmt: skip
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu", "auto")


def check_settings(cfg: DictConfig, command: str) -> None:
    """Raise the ``RecftError`` a setting of ``cfg`` would raise later in ``command``, now."""
    assert command in COMMANDS, command
    check_encoder(cfg.encoder)
    check_evaluation(cfg, command)
    check_pairs(cfg.get("pairs"))
    check_folder("cache_dir", cfg.cache_dir)
    if command != "evaluate":
        from recft.training.recipes import with_recipe

        cfg = with_recipe(cfg)  # a missing, unreadable or golden-tuned recipe; then the settings it gives
        check_training(cfg, command)
    if command == "cycle":
        check_cycle(cfg)
        check_recipes(cfg)


def check_recipes(cfg: DictConfig) -> None:
    """Every recipe a cycle trains (``loop.recipes``): found, readable, and its settings valid."""
    from recft.loop.orchestration.candidates import OWN, check_dev_for_recipes, declared
    from recft.training.recipes import Recipe

    check_dev_for_recipes(cfg)
    for ref in declared(cfg):
        if ref != OWN:
            check_training(Recipe.load(ref).apply(cfg), "cycle")


def check_folder(key: str, value) -> None:
    if value is not None and Path(value).exists() and not Path(value).is_dir():
        raise ConfigError(f"{key}={value}: not a folder")


def positive_int(key: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a whole number >= 1{' or null' if allow_none else ''}, got {value!r}")


def number(key: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, got {value!r}") from None


def one_of(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(map(str, allowed))}, got {value!r}")


def check_encoder(node) -> None:
    """``encoder.*``: precision, pooling, sizes, device, and a local model folder that is not there."""
    from recft.model.encoder import resolve_device, resolve_precision

    try:
        device = resolve_device(str(node.device))
    except RuntimeError:
        raise ConfigError(f"encoder.device must be auto, cpu, cuda or cuda:N, got {node.device!r}") from None
    resolve_precision(node.precision, device)
    one_of("encoder.pooling", node.pooling, ("mean", "cls"))
    positive_int("encoder.max_length", node.max_length)
    positive_int("encoder.batch_size", node.batch_size)
    name = str(node.name_or_path)
    if name.startswith(("/", ".", "~")) and not Path(name).expanduser().exists():
        raise ConfigError(f"encoder.name_or_path={name}: no such model folder (a local folder, or a hub name)")


def metric_names(cfg: DictConfig) -> list[str]:
    """Every metric a report of this config has (``paired_accuracy`` only on sets with pairs)."""
    from recft.eval.metrics import metric_names as names

    return [*names(cfg.eval.k_values, cfg.eval.depth), "paired_accuracy"]


def sources(cfg: DictConfig, command: str) -> dict:
    """Where each data source of ``command`` is spelled: key → node."""
    found = {"data": cfg.data}
    if command != "evaluate":
        found.update({f"probes.{key}": node for key, node in (cfg.get("probes") or {}).items()})
        if cfg.replay.get("source"):
            found["replay.source"] = cfg.replay.source
    if command == "cycle" and cfg.loop.get("inject"):
        found["loop.inject.source"] = cfg.loop.inject.get("source") or {}
    return found


def check_evaluation(cfg: DictConfig, command: str) -> None:
    """``eval.*`` and every data source: k, depth, index, metric names, slices; fields of each source."""
    from recft.data.sources import SourceSpec
    from recft.eval.settings import EvalSettings
    from recft.eval.slices import SliceSpec, read_slice_file

    for k in cfg.eval.k_values:
        positive_int("eval.k_values", k)
    positive_int("eval.depth", cfg.eval.depth)
    EvalSettings.from_config(cfg)
    metrics = metric_names(cfg)
    one_of("eval.primary", cfg.eval.primary, metrics)
    for metric in cfg.eval.get("report_metrics") or ():
        one_of("eval.report_metrics", metric, metrics)
    for key, node in sources(cfg, command).items():
        spec = SourceSpec.from_config(node, key)
        if spec.gate_metric is not None:
            one_of(f"{key}.gate_metric", spec.gate_metric, metrics)
    slices = SliceSpec.from_config(cfg.eval.get("slices"))
    if slices.file:
        read_slice_file(slices.file)


def check_pairs(node) -> None:
    """``pairs.*`` (a pair file to train or evaluate on): its format and corpus choice."""
    if not node or not node.get("path"):
        return
    from recft.data.arrivals import FORMATS
    from recft.data.pair_sets import corpus_choice

    one_of("pairs.format", node.format, ("auto", *FORMATS))
    corpus_choice(node)


def check_training(cfg: DictConfig, command: str) -> None:
    """``adapter``, ``loss``, ``miner``, ``trainer``, ``train.*``, ``dev.*``, ``replay.*``, ``merge``, ``tune_on``."""
    from recft.data.sources import HOLD_OUT_GROUPS
    from recft.training.job import TUNE_ON
    from recft.training.merge import check_weight
    from recft.training.merge_search import MergeSearchMaker
    from recft.training.settings import KEEP, TrainSettings

    maker = instantiate(cfg.adapter)
    instantiate(cfg.loss)
    if cfg.miner.get("miner"):
        instantiate(cfg.miner.miner)
    one_of("trainer.precision", cfg.trainer.precision, PRECISIONS)
    one_of("trainer.accelerator", cfg.trainer.accelerator, ACCELERATORS)
    train = cfg.train
    for key in ("epochs", "batch_size", "validate_every_n_epochs"):
        positive_int(f"train.{key}", train.get(key, 1))
    positive_int("train.patience", train.get("patience"), allow_none=True)
    if train.get("lr") is not None and not number("train.lr", train.lr) > 0:  # NUDGE trains nothing: no lr
        raise ConfigError(f"train.lr must be > 0, got {train.lr}")
    one_of("train.keep", train.get("keep", "last"), KEEP)
    one_of("tune_on", cfg.tune_on, TUNE_ON)
    share = number("dev.share", cfg.dev.share or 0)
    if not 0 <= share < 1:
        raise ConfigError(f"dev.share must be in [0, 1), got {share}")
    one_of("dev.group_by", cfg.dev.group_by, HOLD_OUT_GROUPS)
    alpha = number("replay.alpha", cfg.replay.alpha)
    if not 0 <= alpha < 1:
        raise ConfigError(f"replay.alpha must be in [0, 1), got {alpha}")
    if alpha and not cfg.replay.get("source"):
        raise ConfigError(f"replay.alpha={alpha} needs replay pairs: set replay.source (e.g. replay=squad)")
    check_weight(number("merge.weight", OmegaConf.select(cfg, "merge.weight", default=1.0)))
    settings = TrainSettings.from_config(cfg)  # every value fitting and the makers read, as they will read it
    arrival_dev = number("dev.arrival_share", cfg.dev.arrival_share) if command == "cycle" else 0
    has_dev = bool(share or cfg.dev.get("split")) if command != "cycle" else arrival_dev > 0
    needs_dev = [why for why, needed in (
        (f"train.keep={settings.keep}", settings.keep == "best"),
        (f"train.patience={settings.patience}", settings.patience is not None),
        ("adapter=merge", isinstance(maker, MergeSearchMaker)),
    ) if needed]  # fmt: skip
    if needs_dev and not has_dev:
        where = "a cycle's dev split: dev.arrival_share > 0" if command == "cycle" else "set dev.share > 0 or dev.split"
        raise ConfigError(f"{', '.join(needs_dev)} choose on the dev split, and there is none ({where})")


def check_cycle(cfg: DictConfig) -> None:
    """``gate.*``, ``loop.*``, ``arrivals.*``, ``domain``, ``registry.root`` (and what it holds), a cycle's ``dev``."""
    from recft.loop.intake.schedule import LoopConfigError
    from recft.loop.intake.sealing import check_share
    from recft.loop.orchestration.domain_registries import check_domain_adapter
    from recft.loop.orchestration.run import CYCLE_DEV

    if cfg.dev.share or cfg.dev.get("split"):
        raise LoopConfigError(CYCLE_DEV)
    check_share(number("golden.seal", cfg.golden.seal), number("dev.arrival_share", cfg.dev.arrival_share))
    check_gate(cfg)
    check_loop(cfg)
    check_arrivals(cfg)
    if cfg.get("domain"):
        check_domain_adapter(cfg)
    check_folder("registry.root", cfg.registry.root)
    check_registry(cfg)


def check_gate(cfg: DictConfig) -> None:
    """``gate.*``: known keys, numbers where numbers go, a level and power that can be reached, metrics and
    slices the evaluation makes."""
    from recft.eval.paired_tests import check_power
    from recft.loop.gate.looks import alpha_for_look
    from recft.loop.gate.promotion import GateConfig

    gate = OmegaConf.to_container(cfg.gate, resolve=True)
    known = {field.name for field in dataclasses.fields(GateConfig)}
    unknown = sorted(set(gate) - known)
    if unknown:
        raise ConfigError(f"gate: unknown setting(s) {', '.join(unknown)} (a gate has {', '.join(sorted(known))})")
    for field in dataclasses.fields(GateConfig):
        if type(field.default) in (int, float) and gate.get(field.name) is not None:
            number(f"gate.{field.name}", gate[field.name])
    config = GateConfig(**gate)
    alpha_for_look(1, config.alpha, config.alpha_spending)
    check_power(config.mde, config.power, config.alpha)
    metrics = metric_names(cfg)
    one_of("gate.metric", config.metric, metrics)
    if config.probe_metric is not None:
        one_of("gate.probe_metric", config.probe_metric, metrics)
    positive_int("gate.golden_refresh", config.golden_refresh, allow_none=True)
    positive_int("gate.n_resamples", config.n_resamples)
    check_gate_slices(cfg, config.slices)


def check_loop(cfg: DictConfig) -> None:
    """``loop.*`` and dev's screen (``dev.level``, ``dev.unseen_budget``)."""
    from recft.loop.gate.dev_check import DevRule
    from recft.loop.intake.schedule import arrivals
    from recft.loop.orchestration.cycle import TRAIN_ON

    positive_int("loop.cycles", cfg.loop.cycles)
    one_of("loop.train_on", cfg.loop.train_on, TRAIN_ON)
    if cfg.loop.train_on == "since_incumbent":
        earlier = cfg.loop.earlier_pairs
        if isinstance(earlier, bool) or not isinstance(earlier, int) or earlier < 0:
            raise ConfigError(f"loop.earlier_pairs must be a whole number >= 0, got {earlier!r}")
    if not isinstance(cfg.loop.gated, bool):
        raise ConfigError(f"loop.gated must be true or false, got {cfg.loop.gated!r}")
    if cfg.loop.get("patience") is not None:
        positive_int("loop.patience", cfg.loop.patience)
    budget = cfg.dev.unseen_budget
    DevRule(number("dev.level", cfg.dev.level), None if budget is None else number("dev.unseen_budget", budget))
    arrivals([], list(cfg.loop.schedule), cfg.seed)  # the shares' own check


def check_arrivals(cfg: DictConfig) -> None:
    """``arrivals.*`` with a path (its format, take and folder), else the schedule's length."""
    from recft.data.arrivals import FORMATS
    from recft.loop.intake.schedule import LoopConfigError
    from recft.loop.orchestration.feed import TAKE

    node = cfg.get("arrivals") or {}
    if node.get("path"):
        one_of("arrivals.format", node.format, ("auto", *FORMATS))
        one_of("arrivals.take", node.take, TAKE)
        if not Path(node.path).exists():
            raise ConfigError(f"arrivals.path={node.path}: no such file or folder")
    elif int(cfg.loop.cycles) > len(cfg.loop.schedule):
        raise LoopConfigError(f"loop.cycles={cfg.loop.cycles} but loop.schedule has {len(cfg.loop.schedule)} shares")


def check_registry(cfg: DictConfig) -> None:
    """The registry a cycle will use, read and not written: its incumbent's folder and stored reports."""
    from recft.eval.report import Report
    from recft.loop.orchestration.domain_registries import registry_root
    from recft.loop.storage.registry import Registry
    from recft.loop.storage.versions import encoder_version
    from recft.model.store import check_stored

    root = registry_root(cfg.registry.root, cfg.get("domain"))
    if not (root / "registry.sqlite").is_file():
        return  # a new registry: the cycle makes it
    registry = Registry(root)
    incumbent = registry.incumbent()
    if incumbent is None:
        return
    encoder = encoder_version(registry, incumbent)
    if encoder.kind != "base":
        check_stored(encoder.kind, encoder.path)
    for path in sorted((root / "reports" / incumbent.id).glob("*.json")):
        Report.load(path)


def check_gate_slices(cfg: DictConfig, names) -> None:
    """``gate.slices`` must name slices that ``eval.slices`` makes (a rule's ``rule:value``, a file's names)."""
    if not names:
        return
    from recft.eval.slices import SliceSpec, slice_names
    from recft.loop.gate.promotion import check_slice_names

    check_slice_names(names, sorted(slice_names(SliceSpec.from_config(cfg.eval.get("slices")))))
