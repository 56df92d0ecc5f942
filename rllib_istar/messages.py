"""Pieces of one-line error messages shared by the config and the command line.

No Ray import: ``IStarConfig`` (``istar.py``) and ``rllib train``
(``cli_experiments.py``) both phrase "did you mean ...?" and type names with these.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable, Optional


def nearest(value: Any, valid: Iterable[Any], cutoff: float = 0.6) -> Optional[str]:
    """The name in ``valid`` closest to ``value`` (both compared as strings), or None."""
    near = difflib.get_close_matches(str(value), [str(v) for v in valid], n=1, cutoff=cutoff)
    return near[0] if near else None


def did_you_mean(value: Any, valid: Iterable[Any], cutoff: float = 0.6) -> str:
    """``" (did you mean 'x'?)"`` for a near miss, else ``""``; for the end of a message."""
    near = nearest(value, valid, cutoff)
    return f" (did you mean {near!r}?)" if near is not None and near != value else ""


def hint(value: Any, valid: Iterable[Any], otherwise: str) -> str:
    """``"did you mean 'x'?"`` for a near miss, else ``otherwise``; for after a ``;``."""
    near = nearest(value, valid)
    return f"did you mean {near!r}?" if near is not None else otherwise


def type_names(types: Iterable[type]) -> str:
    """``(int, type(None))`` -> ``"int or null"`` (YAML spells None as null)."""
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)
