"""One error family: every project error is a RecftError (and still the builtin it always was), and
a project error raised inside a Hydra ``_target_`` comes out as itself, not as Hydra's block."""

import importlib
import inspect
import pkgutil

import pytest
from hydra.errors import InstantiationException
from omegaconf import OmegaConf

import recft
from recft.common.errors import RecftError, instantiate
from recft.training.candidate import CandidateError


def project_errors() -> list[type]:
    found = set()
    for module in pkgutil.walk_packages(recft.__path__, "recft."):
        if module.name.count(".") < 2:
            continue  # the entry points (recft.<verb>) only catch
        for _, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if issubclass(cls, Exception) and cls.__module__.startswith("recft.") and cls.__name__.endswith("Error"):
                found.add(cls)
    return sorted(found, key=lambda cls: cls.__name__)


def test_every_project_error_is_a_recft_error_and_keeps_its_builtin():
    errors = project_errors()
    assert len(errors) >= 18
    assert [cls.__name__ for cls in errors if not issubclass(cls, RecftError)] == []
    builtins = {cls.__name__: [b for b in cls.__mro__ if b.__module__ == "builtins"][0] for cls in errors}
    assert builtins["DataError"] is ValueError and builtins["RegistryError"] is RuntimeError


def test_a_project_error_inside_a_target_comes_out_as_itself():
    node = OmegaConf.create({"_target_": "recft.training.maker.TrainedMaker", "kind": "bogus"})
    with pytest.raises(CandidateError, match="adapter.kind must be one of"):
        instantiate(node)


def test_anything_else_inside_a_target_keeps_hydras_exception():
    node = OmegaConf.create({"_target_": "recft.training.maker.TrainedMaker", "no_such_argument": 1})
    with pytest.raises(InstantiationException):
        instantiate(node)
