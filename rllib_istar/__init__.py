"""rllib_istar: train LLM agents on multi-turn text envs with iStar (arXiv 2509.19199).

Public API: :class:`IStarConfig`, :class:`IStar`, :func:`register`.

``import rllib_istar`` stays light (``rllib_istar.core`` never loads Ray): the
heavy classes load on first attribute access, and the Tune name ``"IStar"``
becomes resolvable the moment RLlib's algorithm registry is imported, so
``tune.Tuner("IStar", ...)`` and ``run: IStar`` in a YAML work after
``import rllib_istar`` in either import order.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys

from rllib_istar import tiny_words

__version__ = "0.1.0"
__all__ = ["IStarConfig", "IStar", "register", "__version__"]

_RLLIB_REGISTRY = "ray.rllib.algorithms.registry"


def _istar_class_and_config():
    from rllib_istar.algorithm.istar import IStar, IStarConfig

    return IStar, IStarConfig


def _add_to_rllib_registry(registry_module) -> None:
    """Insert a lazy entry: RLlib calls it when Tune resolves an unknown name."""
    registry_module.ALGORITHMS.setdefault("IStar", _istar_class_and_config)


class _RegistryImportHook(importlib.abc.MetaPathFinder):
    """Adds the lazy "IStar" entry right after RLlib's algorithm registry loads."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _RLLIB_REGISTRY:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_register(module):
            exec_module(module)
            _add_to_rllib_registry(module)

        spec.loader.exec_module = exec_and_register
        return spec


def register() -> None:
    """Register the "IStar" trainable with Tune and the text envs with RLlib/gymnasium.

    Call it in processes that did not ``import rllib_istar`` before Ray's
    registry was used (e.g. a custom Ray worker entry point).
    """
    from ray.tune.registry import register_trainable

    from rllib_istar.algorithm.istar import IStar
    from rllib_istar.envs import register_envs

    register_trainable("IStar", IStar)
    register_envs()


def _env_tiny_vocabulary(env_id):
    """The env registry's word list for a tiny model (``tiny_words.py``)."""
    from rllib_istar.envs.registry import tiny_vocabulary

    return tiny_vocabulary(env_id)


tiny_words.set_source(_env_tiny_vocabulary)

if _RLLIB_REGISTRY in sys.modules:
    _add_to_rllib_registry(sys.modules[_RLLIB_REGISTRY])
elif not any(isinstance(f, _RegistryImportHook) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegistryImportHook())


def __getattr__(name):
    if name in ("IStarConfig", "IStar"):
        from rllib_istar.algorithm import istar

        return getattr(istar, name)
    raise AttributeError(f"module 'rllib_istar' has no attribute {name!r}")
