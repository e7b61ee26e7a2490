"""Recipes: the training settings a dev-only search chose, as a thing with a name and a provenance.

    recft train recipe=scifact                         # conf/recipe/scifact.yaml
    recft train recipe=conf/recipe/scifact.yaml        # or any recipe file
    recft cycle recipe=scifact

A recipe file holds ``name``, ``provenance`` (the search that chose it, the split it was tuned on, its
objective) and ``settings``: whole config groups (``adapter``, ``loss``, ``miner``, ``replay``,
``merge``), which replace the run's, and ``train`` keys, which are merged into the run's ``train``.
The settings are a resolved snapshot, not Hydra overrides, so a recipe file says exactly what was
trained and loads the same way from a name or a path, in a training run or inside a cycle.

A recipe tuned on a golden split is refused unless the run says ``tune_on=golden`` too (and then the
summary and the history say so): the golden set decides, it does not choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict

from recft.common.atomic import write_text
from recft.common.config import CONF_DIR
from recft.training.candidate import CandidateError

GROUPS = ("adapter", "loss", "miner", "replay", "merge")  # replaced whole
TRAIN_KEYS = (
    "epochs", "lr", "batch_size", "weight_decay", "warmup_steps", "keep", "patience", "validate_every_n_epochs",
    "forgetting_penalty", "forgetting_budget", "unique_in_batch",
)  # fmt: skip


class RecipeError(CandidateError):
    """A recipe that cannot be found, read or used as asked."""


@dataclass(frozen=True)
class Recipe:
    name: str
    path: str
    provenance: dict
    settings: dict

    @property
    def tuned_on(self) -> str:
        return str(self.provenance.get("tuned_on", "dev"))

    @classmethod
    def from_config(cls, node, path: str) -> "Recipe":
        """A recipe composed by Hydra (``recipe=NAME`` selects ``conf/recipe/NAME.yaml`` into ``cfg.recipe``)."""
        data = OmegaConf.to_container(node, resolve=True)
        return cls._checked(data, Path(path))

    @classmethod
    def load(cls, ref: str) -> "Recipe":
        """``ref``: a name under ``conf/recipe/`` or a path to a recipe file."""
        path = Path(ref) if str(ref).endswith((".yaml", ".yml")) else CONF_DIR / "recipe" / f"{ref}.yaml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in (CONF_DIR / "recipe").glob("*.yaml")))
            raise RecipeError(f"recipe={ref}: no such recipe file {path} (shipped recipes: {known})")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise RecipeError(f"{path}: not a readable recipe ({str(err).splitlines()[0]})") from None
        return cls._checked(data, path)

    @classmethod
    def _checked(cls, data: dict, path: Path) -> "Recipe":
        missing = [key for key in ("name", "provenance", "settings") if key not in data]
        unknown = sorted(set(data.get("settings") or {}) - {*GROUPS, "train"})
        if missing or unknown:
            what = f"missing {', '.join(missing)}" if missing else f"unknown settings {', '.join(unknown)}"
            raise RecipeError(f"{path}: not a recipe ({what}; a recipe has name, provenance, settings)")
        return cls(str(data["name"]), str(path), dict(data["provenance"]), dict(data["settings"]))

    def apply(self, cfg: DictConfig) -> DictConfig:
        """A copy of ``cfg`` with this recipe's settings, and ``recipe_info`` saying which recipe it was."""
        tune_on = cfg.tune_on
        if self.tuned_on == "golden" and tune_on != "golden":
            raise RecipeError(
                f"{self.path}: recipe {self.name} was tuned on a golden split; it is refused unless tune_on=golden "
                "(the golden set decides, it does not choose)"
            )
        out = cfg.copy()
        with open_dict(out):
            for key, value in self.settings.items():
                if key == "train":
                    out.train = OmegaConf.merge(out.train, value)
                else:
                    out[key] = OmegaConf.create(value)
            out.recipe_info = {"name": self.name, "path": self.path, "provenance": self.provenance}
        return out


def with_recipe(cfg: DictConfig) -> DictConfig:
    """``cfg`` with its recipe applied — ``recipe=NAME`` (the config group) or ``recipe=FILE.yaml``
    (``recipe_file``) — and unchanged when it names none."""
    if cfg.get("recipe"):
        return Recipe.from_config(cfg.recipe, str(CONF_DIR / "recipe" / f"{cfg.recipe.get('name')}.yaml")).apply(cfg)
    if cfg.get("recipe_file"):
        return Recipe.load(str(cfg.recipe_file)).apply(cfg)
    return cfg


def names_a_recipe(cfg: DictConfig) -> bool:
    return bool(cfg.get("recipe") or cfg.get("recipe_file"))


def snapshot(cfg: DictConfig) -> dict:
    """The settings a recipe records of a run's config: its groups and training keys, resolved."""
    settings = {group: OmegaConf.to_container(cfg[group], resolve=True) for group in GROUPS if group in cfg}
    train = OmegaConf.to_container(cfg.train, resolve=True)
    settings["train"] = {key: train[key] for key in TRAIN_KEYS if key in train}
    return settings


def write_recipe(path: str | Path, name: str, cfg: DictConfig, provenance: dict) -> Path:
    """Write ``cfg``'s training settings as a recipe file (temp file, then rename)."""
    header = (
        f"# Recipe {name} (recft.training.recipes).\n#   recft train recipe={name}\n#   recft cycle recipe={name}\n"
    )
    body = yaml.safe_dump(
        {"name": name, "provenance": provenance, "settings": snapshot(cfg)},
        sort_keys=False,
        allow_unicode=True,
        width=1000,
    )
    return write_text(path, header + body)
