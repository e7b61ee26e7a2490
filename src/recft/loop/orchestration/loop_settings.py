"""``LoopSettings``: what a run of ``recft cycle`` reads of its config, read once.

Like ``TrainSettings`` for fitting, ``LoopSettings.from_config(cfg)`` reads every key the loop uses —
``registry``, ``domain``, ``arrivals``, ``golden``, ``loop``, ``dev``, ``gate`` (as ``GateConfig``),
``cost``, and the few ``data``/``eval``/``train`` keys a cycle acts on — in one place. Preflight builds
it before any work, so a bad value fails in one line naming its key before a model is loaded, and the
cycle reads typed fields instead of looking keys up in the raw config minutes into a run.

There are no defaults here: a key that is not set is refused (``<key> is not set``); the defaults
live in ``conf/cycle.yaml`` and ``conf/gate/default.yaml``. The training side of a cycle — what each
recipe trains with — stays the training stage's (``TrainSettings``, read from the config a recipe
gives), so ``Loop`` carries that config for its candidates and reads no key of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from recft.common.config import CONF_DIR
from recft.common.config_keys import at_least, one_of, read_key
from recft.data.arrivals import FORMATS
from recft.eval.slices import SliceSpec
from recft.loop.gate.dev_check import DevRule
from recft.loop.gate.promotion import GateConfig
from recft.loop.intake.schedule import LoopConfigError, arrivals
from recft.loop.intake.sealing import Shares
from recft.loop.orchestration.domain_registries import check_domain_adapter, registry_root
from recft.training.recipes import names_a_recipe

HOME = "conf/cycle.yaml"
TAKE = ("all", "next")  # arrivals.take: every new pair file in this run, or the oldest one
TRAIN_ON = ("since_incumbent", "all", "new")  # loop.train_on
OWN = "own"  # loop.recipes: the cycle's own settings, as configured
CYCLE_DEV = (
    "a cycle tunes on its own dev split only (dev.arrival_share of each cycle's arrivals): "
    "dev.share must be 0 and dev.split null in cycle runs"
)


def key(cfg: DictConfig, name: str, kind: type | None = None, nullable: bool = False) -> Any:
    return read_key(cfg, name, kind, nullable, home=HOME)


def declared(cfg: DictConfig) -> list[str]:
    """The recipes a cycle trains: ``recipe=X`` alone when given (already applied), else ``loop.recipes``."""
    if names_a_recipe(cfg):
        return [OWN]
    recipes = key(cfg, "loop.recipes")
    if isinstance(recipes, str) or not recipes or not all(isinstance(ref, str) for ref in recipes):
        raise LoopConfigError(f"loop.recipes must be a non-empty list of recipe names or files (own = this config), "
                              f"got {recipes!r}")  # fmt: skip
    return [str(ref) for ref in recipes]


def check_dev_for_recipes(recipes: tuple[str, ...], dev_share: float) -> None:
    """Several declared recipes are chosen among on the cycle's dev split: with ``dev.arrival_share=0``
    there will never be one, so the declaration cannot be what runs — refused rather than quietly
    narrowed to ``own``. (A cycle whose draw holds no dev query *yet* trains its own settings.)"""
    if len(recipes) > 1 and not dev_share:
        raise LoopConfigError(
            f"loop.recipes={list(recipes)} are chosen among on the cycle's dev split, and dev.arrival_share=0 gives "
            f"none: set dev.arrival_share > 0, or declare one recipe (loop.recipes=[{OWN}])"
        )


@dataclass(frozen=True)
class ArrivalSettings:
    """``arrivals.*``: a team's own pair files (``path`` null: the simulated ``loop.schedule`` instead)."""

    path: str | None
    take: str  # one of TAKE
    format: str  # auto or one of recft.data.arrivals.FORMATS
    columns: Mapping | None
    strict: bool  # a file with a bad row refuses the cycle (else it is quarantined)
    near_dup: float | None  # cosine at which an arriving query is a golden/probe query's copy; None: off

    @classmethod
    def from_config(cls, cfg: DictConfig) -> ArrivalSettings:
        path = key(cfg, "arrivals.path", str, nullable=True)
        if path and not Path(path).exists():
            raise LoopConfigError(f"arrivals.path={path}: no such file or folder")
        return cls(
            path=path,
            take=one_of("arrivals.take", key(cfg, "arrivals.take", str), TAKE),
            format=one_of("arrivals.format", key(cfg, "arrivals.format", str), ("auto", *FORMATS)),
            columns=key(cfg, "arrivals.columns", nullable=True),
            strict=key(cfg, "arrivals.strict", bool),
            near_dup=key(cfg, "arrivals.near_dup", float, nullable=True),
        )


@dataclass(frozen=True)
class CycleSettings:
    """``loop.*``: how many cycles, what each trains on, which recipes, and whether the gate is obeyed."""

    cycles: int
    schedule: tuple[float, ...]  # share of the training pairs arriving in each cycle (simulation mode)
    per_file: bool  # with arrivals: one cycle per new file
    train_on: str  # one of TRAIN_ON
    earlier_pairs: int  # with since_incumbent: earlier pairs replayed each cycle
    patience: int | None  # validations without a dev improvement before a keep-best recipe stops
    recipes: tuple[str, ...]  # what a cycle trains (recft.loop.orchestration.candidates.declared)
    gated: bool  # false: every candidate is promoted, the gate recorded but not obeyed
    inject: Mapping | None  # {cycle, source}: an off-distribution batch
    null_control: bool  # every training query gets another's positives: a loop that must never promote

    @classmethod
    def from_config(cls, cfg: DictConfig) -> CycleSettings:
        schedule = key(cfg, "loop.schedule")
        if not isinstance(schedule, list):
            raise LoopConfigError(f"loop.schedule must be a list of shares, got {schedule!r}")
        arrivals([], schedule, 0)  # the shares' own check
        return cls(
            cycles=at_least("loop.cycles", key(cfg, "loop.cycles", int), 1),
            schedule=tuple(float(share) for share in schedule),
            per_file=key(cfg, "loop.per_file", bool),
            train_on=one_of("loop.train_on", key(cfg, "loop.train_on", str), TRAIN_ON),
            earlier_pairs=at_least("loop.earlier_pairs", key(cfg, "loop.earlier_pairs", int), 0),
            patience=at_least("loop.patience", key(cfg, "loop.patience", int, nullable=True), 1),
            recipes=tuple(declared(cfg)),
            gated=key(cfg, "loop.gated", bool),
            inject=key(cfg, "loop.inject", nullable=True),
            null_control=key(cfg, "loop.null_control", bool),
        )


@dataclass(frozen=True)
class LoopSettings:
    """What every cycle of a run reads; ``from_config`` reads it, and it records nothing itself."""

    seed: int
    registry_root: Path  # registry.root, or its domains/<X> for a domain's own registry
    domain: str | None
    golden: str  # data.name: the eval set that is the golden set of record
    train_split: str | None  # data.train_split: where simulated arrivals come from
    primary: str  # eval.primary: what dev chooses on
    slices: SliceSpec  # eval.slices: the golden slices a decision reports (and gate.slices protects)
    arrivals: ArrivalSettings
    loop: CycleSettings
    shares: Shares  # golden.seal and dev.arrival_share of each cycle's arriving queries
    gate: GateConfig
    dev_rule: DevRule  # dev.level, dev.unseen_budget and the gate's own test
    min_pairs: int  # train.min_pairs: a cycle with fewer is SKIPPED
    force: bool  # train.force: train below min_pairs anyway
    price_per_hour: float  # cost.price_per_hour
    output_dir: Path  # the run folder: cycle-NNN evidence
    encoder: DictConfig  # the encoder node versions are loaded with (recft.loop.storage.versions)
    recorded_with_base: Mapping  # encoder, data and seed, resolved: what an export rebuilds the corpus from
    wandb: DictConfig | None  # logger.wandb, left unresolved until W&B starts (None: a logger without W&B)

    @classmethod
    def from_config(cls, cfg: DictConfig) -> LoopSettings:
        """Read from a cycle's config (``recipe=X`` already applied: ``recft.training.recipes.with_recipe``)."""
        if key(cfg, "dev.share", float) or key(cfg, "dev.split", nullable=True):
            raise LoopConfigError(CYCLE_DEV)
        gate = GateConfig.from_values(key(cfg, "gate"))
        seed = key(cfg, "seed", int)
        domain = key(cfg, "domain", str, nullable=True)
        if domain:
            domain = check_domain_adapter(domain, OmegaConf.select(cfg, "adapter.kind"))  # a maker may have no kind
        level, budget = key(cfg, "dev.level", float), key(cfg, "dev.unseen_budget", float, nullable=True)
        loop = CycleSettings.from_config(cfg)
        shares = Shares(key(cfg, "golden.seal", float), seed, key(cfg, "dev.arrival_share", float))
        check_dev_for_recipes(loop.recipes, shares.dev)
        arrival_settings = ArrivalSettings.from_config(cfg)
        if not arrival_settings.path and loop.cycles > len(loop.schedule):
            raise LoopConfigError(f"loop.cycles={loop.cycles} but loop.schedule has {len(loop.schedule)} shares")
        return cls(
            seed=seed,
            registry_root=registry_root(key(cfg, "registry.root", str), domain),
            domain=domain,
            golden=key(cfg, "data.name", str),
            train_split=key(cfg, "data.train_split", str, nullable=True),
            primary=key(cfg, "eval.primary", str),
            slices=SliceSpec.from_config(key(cfg, "eval.slices", nullable=True)),
            arrivals=arrival_settings,
            loop=loop,
            shares=shares,
            gate=gate,
            dev_rule=DevRule.for_gate(level, budget, gate),
            min_pairs=key(cfg, "train.min_pairs", int),
            force=key(cfg, "train.force", bool),
            price_per_hour=key(cfg, "cost.price_per_hour", float),
            output_dir=Path(key(cfg, "output_dir", str)),
            encoder=cfg.encoder,
            recorded_with_base=recorded_with_base(cfg, seed),
            wandb=OmegaConf.select(cfg, "logger.wandb"),  # a logger group without W&B has no such key
        )


def recorded_with_base(cfg: DictConfig, seed: int) -> dict:
    """What the base version records of the loop that made it: ``recft manage export`` and ``golden``
    rebuild the corpus of record from it."""
    encoder = OmegaConf.to_container(cfg.encoder, resolve=True)
    return {"encoder": encoder, "data": OmegaConf.to_container(cfg.data, resolve=True), "seed": seed}


def shipped_gate(**overrides) -> GateConfig:
    """The gate ``conf/gate/default.yaml`` ships (seed 42, the data source's metric unset: nDCG@10), with
    ``overrides``: what a bench, a figure or a test means by "the default gate"."""
    node = OmegaConf.create({"seed": 42, "gate": OmegaConf.load(CONF_DIR / "gate" / "default.yaml")})
    values = OmegaConf.to_container(node, resolve=True)["gate"]
    return GateConfig.from_values({**values, **overrides})
