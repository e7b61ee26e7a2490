"""Every config group option and experiment composes (documented commands must not break)."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from recft.common.config import CONF_DIR


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


def compose_resolved(name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(name, overrides=overrides)
    if "output_dir" in cfg:
        cfg.output_dir = "/tmp/unused"  # ${hydra:...} is only set inside a Hydra run
    return OmegaConf.to_container(cfg, resolve=True)


GROUPS = ["encoder", "data", "adapter", "loss", "miner", "trainer", "logger", "replay"]


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_train_composes_with_every_option(group, option):
    cfg = compose_resolved("train", [f"{group}={option}"])
    assert cfg[group] is not None


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes_under_train_and_cycle(experiment):
    for name in ("train", "cycle"):
        compose_resolved(name, [f"+experiment={experiment}"])


@pytest.mark.parametrize("search", options("hparams_search"))
def test_every_hparams_search_composes_and_names_its_sweep(search):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"hparams_search={search}"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params, f"{search} sweeps nothing"
    for key in cfg.hydra.sweeper.params:  # every swept key exists in the composed config
        assert OmegaConf.select(cfg, key) is not None, key


def test_bge_vs_e5_sweeps_both_encoders():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["+experiment=bge_vs_e5"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params.encoder == "bge_small,e5_base" and cfg.adapter.kind == "lora"


def test_optuna_on_slurm_composes():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=optuna", "hydra/launcher=slurm"], return_hydra_config=True)
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.sweeper.direction == "maximize"
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher") and cfg.hydra.launcher.gpus_per_node == 1
    assert cfg.replay.source.name == "squad" and cfg.train.forgetting_penalty == 1.0


def test_documented_overlays():
    cfg = compose_resolved("train", ["replay=squad", "replay.alpha=0.25", "+probe@probes.nevir=nevir"])
    assert cfg["replay"]["source"]["name"] == "squad" and set(cfg["probes"]) == {"trecdl", "nevir"}
    assert compose_resolved("train", [])["replay"] == {"source": None, "alpha": 0.0}
    inject = compose_resolved("cycle", ["+experiment=nika_cycles"])["loop"]["inject"]
    assert inject["source"]["name"] == "squad" and inject["source"]["max_pairs"] == 300 and inject["cycle"] == 3
    assert compose_resolved("cycle", [])["adapter"]["kind"] == "query_lora"
    assert compose_resolved("evaluate", ["data=msmarco-trecdl-slice"])["data"]["min_relevance"] == 2
