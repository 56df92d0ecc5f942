"""The examples in the docstrings of every ``rllib_istar.core`` module run and hold."""
import doctest
import importlib
import pkgutil

import pytest

import rllib_istar.core as core

MODULES = sorted(m.name for m in pkgutil.iter_modules(core.__path__, core.__name__ + "."))


def test_core_modules_are_found():
    assert "rllib_istar.core.advantages" in MODULES and len(MODULES) >= 8


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
