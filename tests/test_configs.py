"""Every config group option and experiment composes (documented commands must not break), and every
default lives in the YAML only."""

import ast
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from recft.common.config import CONF_DIR

REPO = Path(__file__).resolve().parents[1]


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


# --- defaults live in the YAML only -------------------------------------------------------------------

OLD_RECORDS = {  # (file, key): why a Python default is right there
    ("src/recft/sweeps/objective.py", "tune_on"): "reads the saved configs of runs made before the key existed",
}


def yaml_keys() -> set[str]:
    """Every key any config file under conf/ defines, at any depth."""
    keys: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            keys.update(str(k).lstrip("+").split("@")[0] for k in node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in (REPO / "conf").rglob("*.yaml"):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return keys


def _is_empty(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in (None, "")
    return isinstance(node, (ast.List, ast.Tuple, ast.Dict)) and not (
        node.keys if isinstance(node, ast.Dict) else node.elts
    )


def config_fallbacks(source: str) -> list[tuple[int, str, str]]:
    """``cfg….get("key", default)`` and ``cfg….get("key") or default`` with a default that is a value (not
    None, not empty, not another key): (line, key, the default's text)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        call = default = None
        if isinstance(node, ast.Call) and len(node.args) == 2:
            call, default = node, node.args[1]
        elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and isinstance(node.values[0], ast.Call):
            call, default = node.values[0], node.values[1]
            if len(call.args) != 1:
                continue
        if call is None or not (isinstance(call.func, ast.Attribute) and call.func.attr == "get"):
            continue
        if not (call.args and isinstance(call.args[0], ast.Constant)) or _is_empty(default):
            continue
        if isinstance(default, ast.Call) and isinstance(default.func, ast.Attribute) and default.func.attr == "get":
            continue  # one key or another (recipe or recipe_file): no value invented
        if "cfg" in (ast.get_source_segment(source, call.func.value) or ""):
            found.append((node.lineno, call.args[0].value, ast.get_source_segment(source, default)))
    return found


def test_the_fallback_finder_sees_both_forms_and_leaves_empties_alone():
    source = 'a = cfg.get("tune_on", "dev")\nb = cfg.loop.get("gated") or True\nc = cfg.get("pairs") or {}\n'
    assert config_fallbacks(source) == [(1, "tune_on", '"dev"'), (2, "gated", "True")]


def test_no_python_fallback_for_a_key_the_yaml_defines():
    """A default written beside the YAML's is a second default that can disagree (``arrivals.take`` fell back
    to ``all`` in the code while ``cycle.yaml`` says ``next``)."""
    keys = yaml_keys()
    found = [
        f"{path.relative_to(REPO)}:{line}: {key} → {default}"
        for path in sorted((REPO / "src").rglob("*.py"))
        for line, key, default in config_fallbacks(path.read_text(encoding="utf-8"))
        if key in keys and (path.relative_to(REPO).as_posix(), key) not in OLD_RECORDS
    ]
    assert not found, found
