"""The training settings are read once, from the YAML alone: every shipped config and recipe gives them,
a key the YAML lacks has no fallback in Python, a bad value is refused in one line naming its key, and
what a candidate records of them is the config as it was written."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict

from recft.common.config import CONF_DIR
from recft.common.errors import ConfigError
from recft.training.candidate import CandidateError
from recft.training.recipes import Recipe
from recft.training.settings import TrainSettings

from conftest import compose

RECORDED_TRAIN_KEYS = ("lr", "epochs", "batch_size", "weight_decay", "warmup_steps")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


@pytest.mark.parametrize(
    "config,overrides",
    [
        *[("train", [f"adapter={a}"]) for a in options("adapter")],
        *[("train", [f"miner={m}", f"loss={lo}"]) for m in options("miner") for lo in options("loss")],
        *[(name, [f"+experiment={e}"]) for e in options("experiment") for name in ("train", "cycle")],
    ],
)
def test_every_shipped_config_gives_settings_recorded_as_configured(config, overrides):
    cfg = compose(config, *overrides)
    settings = TrainSettings.from_config(cfg)
    recorded = settings.recorded()
    assert recorded["train"] == {key: OmegaConf.select(cfg.train, key) for key in RECORDED_TRAIN_KEYS}
    assert recorded["loss"] == OmegaConf.to_container(cfg.loss, resolve=True)
    assert recorded["miner"] == OmegaConf.to_container(cfg.miner, resolve=True)
    assert settings.primary == cfg.eval.primary and settings.seed == cfg.seed


def test_a_recipe_is_one_more_config_to_read():
    recipe = Recipe.load("scifact")
    settings = TrainSettings.from_config(recipe.apply(compose("cycle")))
    train = recipe.settings["train"]
    assert (settings.epochs, settings.keep, settings.forgetting_budget) == (train["epochs"], "best", 0.005)
    assert settings.lr == train["lr"] == recipe.settings["adapter"]["lr"] != compose("cycle").train.lr
    assert settings.mining.per_query == 1 and not settings.guided and not settings.mining.remine_every_epoch
    assert settings.trainer.max_epochs == train["epochs"] != compose("cycle").train.epochs  # the recipe's config


@pytest.mark.parametrize("key", ["train.keep", "train.patience", "merge.weight", "miner.num_negatives", "seed"])
def test_a_key_the_yaml_does_not_set_has_no_fallback(key):
    cfg = compose("train")
    parent, _, name = key.rpartition(".")
    with open_dict(cfg):
        del (OmegaConf.select(cfg, parent) if parent else cfg)[name]
    with pytest.raises(ConfigError, match=rf"^{key} is not set"):
        TrainSettings.from_config(cfg)


@pytest.mark.parametrize(
    "override,error,message",
    [
        ("train.warmup_steps=soon", ConfigError, "train.warmup_steps must be a whole number, got 'soon'"),
        ("train.weight_decay=lots", ConfigError, "train.weight_decay must be a number, got 'lots'"),
        ("train.patience=never", ConfigError, "train.patience must be a whole number or null, got 'never'"),
        ("train.keep=sometimes", CandidateError, "train.keep must be one of last, best, got 'sometimes'"),
        ("train.forgetting_budget=-1", CandidateError, "train.forgetting_budget must be a number >= 0"),
        ("miner.num_negatives=2", ConfigError, "miner.num_negatives=2 needs a miner to find them"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_its_key(override, error, message):
    with pytest.raises(error, match=f"^{message}"):
        TrainSettings.from_config(compose("train", override))
