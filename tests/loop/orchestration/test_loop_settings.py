"""``LoopSettings`` reads every loop key once, with no default of its own: a key taken out of the YAML is
"<key> is not set", a bad value is one line naming its key, and the gate a test or bench calls "the
default" is the one ``conf/gate/default.yaml`` ships."""

import ast
import dataclasses

import pytest
from omegaconf import OmegaConf, open_dict

from recft.common.errors import RecftError
from recft.loop.gate.promotion import GateConfig, GateError
from recft.loop.orchestration.context import Loop
from recft.loop.orchestration.loop_settings import LoopSettings, shipped_gate

from conftest import REPO, compose

LOOP_KEYS = [
    "registry.root",
    "domain",
    "arrivals.path",
    "arrivals.take",
    "arrivals.format",
    "arrivals.columns",
    "arrivals.strict",
    "arrivals.near_dup",
    "golden.seal",
    "loop.per_file",
    "loop.cycles",
    "loop.schedule",
    "loop.train_on",
    "loop.earlier_pairs",
    "loop.patience",
    "loop.recipes",
    "loop.gated",
    "loop.inject",
    "loop.null_control",
    "cost.price_per_hour",
    "dev.arrival_share",
    "dev.level",
    "dev.unseen_budget",
    "train.min_pairs",
    "train.force",
]


def cycle_config(*overrides: str):
    return compose("cycle", "output_dir=/tmp/recft-settings-test", "arrivals.path=null", *overrides)


def without(cfg, dotted: str):
    parent, _, leaf = dotted.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    with open_dict(node):
        del node[leaf]
    return cfg


def test_the_shipped_cycle_config_reads_as_written():
    settings = LoopSettings.from_config(cycle_config())
    assert settings.loop.recipes == ("own",) and settings.arrivals.take == "next" and settings.loop.gated is True
    assert settings.shares.golden == 0.25 and settings.gate == shipped_gate(slices=())  # conftest: gate.slices=[]


@pytest.mark.parametrize("key", LOOP_KEYS)
def test_a_loop_key_taken_out_of_the_yaml_is_not_set_not_defaulted(key):
    with pytest.raises(RecftError, match=rf"^{key} is not set \(its default belongs in conf/cycle.yaml\)"):
        LoopSettings.from_config(without(cycle_config(), key))


@pytest.mark.parametrize("key", ["margin", "slices", "alpha_spending", "seed"])
def test_a_gate_key_taken_out_is_not_set(key):
    values = OmegaConf.to_container(cycle_config().gate, resolve=True)
    del values[key]
    with pytest.raises(GateError, match=rf"^gate.{key} is not set \(its default belongs in conf/gate/default.yaml\)"):
        GateConfig.from_values(values)


@pytest.mark.parametrize(
    "override, message",
    [
        ("loop.gated=yes", "loop.gated must be true or false, got 'yes'"),
        ("loop.earlier_pairs=-1", "loop.earlier_pairs must be a whole number >= 0, got -1"),
        ("loop.cycles=2.5", "loop.cycles must be a whole number, got 2.5"),
        ("arrivals.take=some", "arrivals.take must be one of all, next, got 'some'"),
        ("loop.train_on=everything", "loop.train_on must be one of since_incumbent, all, new"),
        ("gate.n_resamples=0", "gate.n_resamples must be a whole number >= 1, got 0"),
        ("gate.require_approval=maybe", "gate.require_approval must be true or false, got 'maybe'"),
        ("gate.slices=tail", "gate.slices must be a list, got 'tail'"),
        ("loop.cycles=3", "loop.cycles=3 but loop.schedule has 1 shares"),
    ],
)
def test_a_bad_loop_value_is_one_line_naming_its_key(override, message):
    with pytest.raises(RecftError) as raised:
        LoopSettings.from_config(cycle_config(override))
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_the_gate_tests_and_benches_call_default_is_the_shipped_gate():
    """Before: ``GateConfig()`` had Python defaults (no probe metric, no protected slice) that were not what
    ran; now it has none, and "the default gate" is read from the YAML."""
    with pytest.raises(TypeError):
        GateConfig()
    shipped = OmegaConf.to_container(compose("cycle", "gate.slices=[seen_in_training:unseen]").gate, resolve=True)
    assert shipped_gate() == GateConfig.from_values(shipped)
    assert shipped_gate().slices == ("seen_in_training:unseen",) and shipped_gate().probe_metric == "ndcg@10"


def test_a_loop_holds_settings_and_no_loop_module_reads_a_raw_loop_key():
    assert "cfg" not in {f.name for f in dataclasses.fields(Loop)}
    groups = {"registry", "arrivals", "golden", "loop", "dev", "gate", "cost", "domain"}
    readers = []
    for path in sorted((REPO / "src" / "recft" / "loop").rglob("*.py")):
        if path.name == "loop_settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in groups and isinstance(node.value, ast.Name):
                if node.value.id in ("cfg", "config", "train_config"):
                    readers.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert readers == []
