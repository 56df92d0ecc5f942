"""Text environments for LLM agents (``str`` observations and actions).

* :class:`TextEnv`: the gymnasium base class (interface in docs/ARCHITECTURE.md).
* :class:`KeyCorridorEnv` (``rllib_istar/KeyCorridor-v0``): a tiny
  credit-assignment toy; :class:`CreditChainEnv` (``rllib_istar/CreditChain-v0``):
  several free decisions, some decisive, with oracle step labels;
  :class:`SokobanTextEnv` (``rllib_istar/Sokoban-v0``): text Sokoban on gym_sokoban
  (``pip install 'rllib_istar[sokoban]'``), imported lazily;
  :class:`VisualSokobanEnv` (``rllib_istar/VisualSokoban-v0``): the same Sokoban with
  picture observations (the image protocol of :mod:`.images`), imported lazily.
* :class:`WebShopEnv` (``rllib_istar/WebShop-v0``): offline Mini-WebShop, imported lazily.
* :class:`SocialEnv` (``rllib_istar/Social-v0``): open dialogue with a scripted or HF
  partner and a rule, HF or OpenAI-compatible judge, imported lazily.
* :func:`make_text_env`, :func:`register_text_env`, :func:`register_envs`
  (also registers with RLlib), :func:`registered_env_ids`, :func:`all_vocabulary`.
* :func:`parse_action` and :class:`PromptTemplate`.
* :class:`TextEnvContractError`: a ``TextEnv`` subclass breaks the contract
  (docs/ENV_CONTRACT.md), raised by ``register_text_env`` and by ``reset``/``step``.

Importing this package registers the gymnasium ids; it does not import Ray or
gym_sokoban.
"""
from __future__ import annotations

from .base import TextEnv
from .contract import TextEnvContractError
from .credit_chain import CREDIT_PRESETS, CreditChainEnv
from .parsing import ACTION_FORMATS, MAX_SCAN_CHARS, ParsedAction, parse_action
from .registry import (
    _REGISTRY,
    CREDIT_CHAIN_ID,
    KEY_CORRIDOR_ID,
    SOCIAL_ID,
    SOKOBAN_ID,
    VISUAL_SOKOBAN_ID,
    WEBSHOP_ID,
    UnknownEnvError,
    _register_gymnasium,
    all_vocabulary,
    make_text_env,
    register_envs,
    register_text_env,
    registered_env_ids,
)
from .templates import PromptTemplate
from .key_corridor import KeyCorridorEnv

__all__ = ["TextEnv", "TextEnvContractError", "KeyCorridorEnv", "CreditChainEnv",
           "CREDIT_PRESETS", "SokobanTextEnv", "PromptTemplate", "ParsedAction", "parse_action",
           "ACTION_FORMATS", "MAX_SCAN_CHARS",
           "UnknownEnvError", "SOKOBAN_ID", "KEY_CORRIDOR_ID", "CREDIT_CHAIN_ID", "make_text_env",
           "register_envs", "register_text_env", "registered_env_ids", "all_vocabulary"]
__all__ += ["WEBSHOP_ID", "WebShopEnv", "SOCIAL_ID", "SocialEnv"]
__all__ += ["VISUAL_SOKOBAN_ID", "VisualSokobanEnv"]


def __getattr__(name: str):
    if name == "SokobanTextEnv":  # lazy: keeps gym_sokoban out of plain imports
        from .sokoban import SokobanTextEnv

        return SokobanTextEnv
    if name == "VisualSokobanEnv":  # lazy, like SokobanTextEnv
        from .visual_sokoban import VisualSokobanEnv

        return VisualSokobanEnv
    if name == "WebShopEnv":  # lazy, like the registry entry
        from .webshop import WebShopEnv

        return WebShopEnv
    if name == "SocialEnv":
        from .social.env import SocialEnv

        return SocialEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


for _env_id, (_factory, _) in list(_REGISTRY.items()):
    _register_gymnasium(_env_id, _factory)
del _env_id, _factory
