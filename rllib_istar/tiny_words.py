"""Where the tiny models (``model_path: tiny``) get their word list.

A tiny model's word-level tokenizer covers the words of the registered envs. The model
layer (``lm/loading.py``) asks :func:`tiny_words`; the env registry answers. The two
are connected by the package root (``rllib_istar/__init__.py`` calls :func:`set_source`
with the registry's ``tiny_vocabulary``), so the model layer never imports the envs.
"""
from __future__ import annotations

from typing import Callable, List, Optional

_SOURCE: Optional[Callable[[Optional[str]], List[str]]] = None


def set_source(source: Callable[[Optional[str]], List[str]]) -> None:
    """``source(env_id or None) -> words``; raises ``KeyError`` for an unknown env id."""
    global _SOURCE
    _SOURCE = source


def tiny_words(env_id: Optional[str]) -> List[str]:
    """The words of a tiny model for ``env_id`` (None: the shared list of every env)."""
    if _SOURCE is None:
        raise LookupError("no source of tiny-model words is set; import rllib_istar first")
    return _SOURCE(env_id)
