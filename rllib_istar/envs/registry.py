"""Registry of text environments: gymnasium ids, RLlib ids and ``make_text_env``.

Built-in ids: ``rllib_istar/Sokoban-v0`` (:class:`SokobanTextEnv`, needs the
``sokoban`` extra), ``rllib_istar/KeyCorridor-v0`` (:class:`KeyCorridorEnv`) and
``rllib_istar/CreditChain-v0`` (:class:`CreditChainEnv`, several decisions with oracle
step labels).
``rllib_istar/VisualSokoban-v0`` (:class:`VisualSokobanEnv`): the same Sokoban with
picture observations (:mod:`.images`), keeping its words apart like WebShop and Social.
``rllib_istar/WebShop-v0`` (:class:`WebShopEnv`): offline Mini-WebShop;
``rllib_istar/Social-v0`` (:class:`~rllib_istar.envs.social.env.SocialEnv`): open
dialogue with a judge-given outcome.
``import rllib_istar.envs`` registers them with gymnasium (cheap);
:func:`register_envs` also registers every id with RLlib's
``ray.tune.registry.register_env`` (Ray is imported only there).

Your own env: subclass :class:`~rllib_istar.envs.base.TextEnv` and register it::

    from rllib_istar.envs import TextEnv, PromptTemplate, register_text_env

    class EchoEnv(TextEnv):
        DEFAULT_CONFIG = {"action_format": "bare", "max_steps": 3}
        PROMPT = PromptTemplate(instruction="say yes")
        @classmethod
        def extra_vocabulary(cls): return ["yes", "no"]
        def admissible_actions(self): return ["yes", "no"]
        def reset_task(self, task_seed, options): return "question"
        def apply_action(self, action): return "question", float(action == "yes"), True, action == "yes"
        def noop(self): return "question", 0.0

    register_text_env("me/Echo-v0", EchoEnv)   # then env_id="me/Echo-v0" in configs

A ``TextEnv`` subclass is checked against the contract (docs/ENV_CONTRACT.md) when
it is registered; a broken one raises :class:`~rllib_istar.envs.contract.TextEnvContractError`
naming the member, its ``file:line`` and the fix.

A plain ``creator(env_config) -> TextEnv`` callable works too; pass
``vocabulary=[...]`` with it, or :func:`all_vocabulary` builds one env with the
default config to read its ``vocabulary()``. Register before building the tiny
tokenizer so its words are covered.
"""
from __future__ import annotations

import functools
from typing import Callable, Union

import gymnasium

from .base import TextEnv
from .contract import check_text_env_class

__all__ = ["UnknownEnvError", "SOKOBAN_ID", "KEY_CORRIDOR_ID", "CREDIT_CHAIN_ID",
           "register_envs", "register_text_env", "registered_env_ids", "make_text_env",
           "all_vocabulary"]
__all__ += ["WEBSHOP_ID", "SOCIAL_ID", "keeps_own_vocabulary", "tiny_vocabulary"]
__all__ += ["VISUAL_SOKOBAN_ID"]

SOKOBAN_ID = "rllib_istar/Sokoban-v0"
KEY_CORRIDOR_ID = "rllib_istar/KeyCorridor-v0"
CREDIT_CHAIN_ID = "rllib_istar/CreditChain-v0"
WEBSHOP_ID = "rllib_istar/WebShop-v0"
SOCIAL_ID = "rllib_istar/Social-v0"
VISUAL_SOKOBAN_ID = "rllib_istar/VisualSokoban-v0"

EnvFactory = Union[type, Callable[[dict], TextEnv]]


class UnknownEnvError(ValueError):
    """Raised by :func:`make_text_env` for an id that is not registered."""


# id -> (factory, vocabulary or None); the built-ins resolve their class lazily
_REGISTRY: dict[str, tuple[EnvFactory | str, list[str] | None]] = {
    SOKOBAN_ID: ("rllib_istar.envs.sokoban:SokobanTextEnv", None),
    KEY_CORRIDOR_ID: ("rllib_istar.envs.key_corridor:KeyCorridorEnv", None),
    CREDIT_CHAIN_ID: ("rllib_istar.envs.credit_chain:CreditChainEnv", None),
    WEBSHOP_ID: ("rllib_istar.envs.webshop.env:WebShopEnv", None),
    SOCIAL_ID: ("rllib_istar.envs.social.env:SocialEnv", None),
    VISUAL_SOKOBAN_ID: ("rllib_istar.envs.visual_sokoban:VisualSokobanEnv", None),
}
#: Envs whose words stay out of :func:`all_vocabulary` (large vocabularies: adding them
#: would change the shared tiny model, and with it every other env's tiny runs); a tiny
#: model for one of them covers the shared words plus its own (:func:`tiny_vocabulary`).
_OWN_VOCABULARY: set[str] = {WEBSHOP_ID, SOCIAL_ID, VISUAL_SOKOBAN_ID}
_RLLIB_REGISTERED: set[str] = set()
_rllib_enabled = False


def _resolve(factory: EnvFactory | str) -> EnvFactory:
    if isinstance(factory, str):
        module, _, name = factory.partition(":")
        import importlib

        return getattr(importlib.import_module(module), name)
    return factory


def _call_creator(creator: Callable[[dict], TextEnv], **kwargs) -> TextEnv:
    """gymnasium passes keyword arguments; creators take one env_config dict."""
    return creator(dict(kwargs))


def _register_gymnasium(env_id: str, factory: EnvFactory | str) -> None:
    if env_id in gymnasium.registry:
        return
    # an "module:Class" string or a class is used as is (gymnasium passes keyword
    # arguments, which TextEnv accepts); a creator gets its kwargs as one dict
    if isinstance(factory, (str, type)):
        entry = factory
    else:
        entry = functools.partial(_call_creator, factory)
    gymnasium.register(id=env_id, entry_point=entry)


def _register_rllib(env_id: str) -> None:
    from ray.tune.registry import register_env

    register_env(env_id, functools.partial(_rllib_creator, env_id))
    _RLLIB_REGISTERED.add(env_id)


def _rllib_creator(env_id: str, env_context) -> TextEnv:
    """RLlib passes an ``EnvContext`` (a dict subclass) as the env_config."""
    return make_text_env(env_id, dict(env_context or {}))


def register_envs() -> None:
    """Register every known id with gymnasium and with RLlib (idempotent)."""
    global _rllib_enabled
    for env_id, (factory, _) in _REGISTRY.items():
        _register_gymnasium(env_id, factory)
        if env_id not in _RLLIB_REGISTERED:
            _register_rllib(env_id)
    _rllib_enabled = True


def register_text_env(env_id: str, env_cls_or_creator: EnvFactory, *,
                      vocabulary: list[str] | None = None, overwrite: bool = False,
                      shared_vocabulary: bool = True) -> None:
    """Register a user env under ``env_id`` (gymnasium, ``make_text_env`` and, if
    :func:`register_envs` has run, RLlib). See the module docstring for an example.
    ``shared_vocabulary=False`` keeps the env's words out of the shared tiny model
    (:func:`all_vocabulary`); ``model_path: tiny`` on it then builds a tiny model of
    the shared words plus its own (:func:`tiny_vocabulary`).

    Raises:
        TextEnvContractError: a ``TextEnv`` subclass that breaks the contract (a plain
            creator callable is not checked here).
    """
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"env_id must be a non-empty string, got {env_id!r}")
    if not callable(env_cls_or_creator):
        raise TypeError(f"env_cls_or_creator must be a TextEnv subclass or a callable, "
                        f"got {env_cls_or_creator!r}")
    if env_id in _REGISTRY and not overwrite:
        raise ValueError(f"env id {env_id!r} is already registered (pass overwrite=True)")
    if isinstance(env_cls_or_creator, type) and issubclass(env_cls_or_creator, TextEnv):
        check_text_env_class(env_cls_or_creator, TextEnv)
    if overwrite and env_id in gymnasium.registry:
        del gymnasium.registry[env_id]
    _REGISTRY[env_id] = (env_cls_or_creator, list(vocabulary) if vocabulary is not None else None)
    if shared_vocabulary:
        _OWN_VOCABULARY.discard(env_id)
    else:
        _OWN_VOCABULARY.add(env_id)
    _register_gymnasium(env_id, env_cls_or_creator)
    if _rllib_enabled:
        _register_rllib(env_id)


def registered_env_ids() -> list[str]:
    """Every id :func:`make_text_env` accepts (sorted)."""
    return sorted(_REGISTRY)


def make_text_env(env_id: str, env_config: dict | None = None) -> TextEnv:
    """Build the (unwrapped) text env registered under ``env_id``."""
    if env_id not in _REGISTRY:
        raise UnknownEnvError(
            f"unknown text env id {env_id!r}; registered ids: {registered_env_ids()} "
            "(register your own with rllib_istar.envs.register_text_env)")
    factory = _resolve(_REGISTRY[env_id][0])
    env = factory(dict(env_config or {}))
    if not isinstance(env, TextEnv):
        raise TypeError(f"the factory of {env_id!r} returned {type(env).__name__}, "
                        "not a rllib_istar.envs.TextEnv")
    return env


def text_env_class(env_id: str) -> type | None:
    """The TextEnv subclass registered under ``env_id``, or None for a creator callable
    (read without building an env)."""
    factory = _resolve(_REGISTRY[env_id][0])
    return factory if isinstance(factory, type) and issubclass(factory, TextEnv) else None


def _env_vocabulary(env_id: str) -> list[str]:
    vocab = _REGISTRY[env_id][1]
    if vocab is not None:
        return vocab
    env_cls = text_env_class(env_id)
    if env_cls is not None:
        return env_cls.vocabulary()
    try:
        env = make_text_env(env_id)
    except Exception as exc:
        raise ValueError(f"cannot read the vocabulary of {env_id!r}: building it with the "
                         f"default config failed ({exc}); pass vocabulary=[...] to "
                         "register_text_env") from exc
    try:
        return type(env).vocabulary()
    finally:
        env.close()


def all_vocabulary() -> list[str]:
    """Sorted union of ``vocabulary()`` over every registered env that shares the tiny
    vocabulary (all but those registered with ``shared_vocabulary=False``)."""
    words: set[str] = set()
    for env_id in registered_env_ids():
        if env_id not in _OWN_VOCABULARY:
            words.update(_env_vocabulary(env_id))
    return sorted(words)


def keeps_own_vocabulary(env_id: str) -> bool:
    """Whether ``env_id``'s words stay out of :func:`all_vocabulary`."""
    return env_id in _OWN_VOCABULARY


def tiny_vocabulary(env_id: str | None = None) -> list[str]:
    """The words of a tiny model for ``env_id``: :func:`all_vocabulary`, plus the env's
    own words when it keeps them apart. Raises ``KeyError`` for an unknown id."""
    words = all_vocabulary()
    if env_id is None:
        return words
    if env_id not in _REGISTRY:
        raise KeyError(env_id)
    if env_id not in _OWN_VOCABULARY:
        return words
    return sorted(set(words) | set(_env_vocabulary(env_id)))
