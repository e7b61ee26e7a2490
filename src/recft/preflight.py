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

from pathlib import Path

from omegaconf import DictConfig

from recft.common.config_keys import one_of
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
    from recft.loop.orchestration.loop_settings import OWN, declared
    from recft.training.recipes import Recipe

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
    from recft.training.settings import TrainSettings

    maker = instantiate(cfg.adapter)
    instantiate(cfg.loss)
    if cfg.miner.get("miner"):
        instantiate(cfg.miner.miner)
    one_of("trainer.precision", cfg.trainer.precision, PRECISIONS)
    one_of("trainer.accelerator", cfg.trainer.accelerator, ACCELERATORS)
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
    settings = TrainSettings.from_config(cfg)  # every value fitting and the makers read, as they will read it
    check_weight(settings.merge_weight)
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
    """``LoopSettings`` — ``gate.*``, ``loop.*``, ``arrivals.*``, ``golden``, a cycle's ``dev``, ``domain`` — built
    as the cycle builds it; then what it names checked against the evaluation (metrics, slices) and the
    registry it will use."""
    from recft.loop.orchestration.loop_settings import LoopSettings

    settings = LoopSettings.from_config(cfg)
    check_gate(cfg, settings.gate)
    check_folder("registry.root", cfg.registry.root)
    check_registry(settings.registry_root)


def check_gate(cfg: DictConfig, gate) -> None:
    """``gate.metric``, ``gate.probe_metric`` and ``gate.slices`` name what the evaluation makes."""
    metrics = metric_names(cfg)
    one_of("gate.metric", gate.metric, metrics)
    if gate.probe_metric is not None:
        one_of("gate.probe_metric", gate.probe_metric, metrics)
    check_gate_slices(cfg, gate.slices)


def check_registry(root: Path) -> None:
    """The registry a cycle will use, read and not written: its incumbent's folder and stored reports."""
    from recft.eval.report import Report
    from recft.loop.storage.registry import Registry
    from recft.loop.storage.versions import encoder_version
    from recft.model.store import check_stored

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
