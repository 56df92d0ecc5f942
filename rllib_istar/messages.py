"""Pieces of one-line error messages shared by the config and the command line.

No Ray import: ``IStarConfig`` (``istar.py``) and ``rllib train``
(``cli/experiments.py``) both phrase "did you mean ...?" and type names with these.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping, Optional

def nearest(value: Any, valid: Iterable[Any], cutoff: float = 0.6,
            aliases: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The name in ``valid`` that ``value`` means: its ``aliases`` entry (``{alias: name}``,
    e.g. the knobs' aliases: ``learning_rate`` means 'lr', not the nearest spelling
    'learning_starts') when that is valid, else the closest spelling (both compared as
    strings), or None."""
    names = [str(v) for v in valid]
    alias = (aliases or {}).get(str(value).lower().replace("-", "_"))
    if alias in names and alias != value:
        return alias
    near = difflib.get_close_matches(str(value), names, n=1, cutoff=cutoff)
    return near[0] if near else None


def did_you_mean(value: Any, valid: Iterable[Any], cutoff: float = 0.6) -> str:
    """``" (did you mean 'x'?)"`` for a near miss, else ``""``; for the end of a message."""
    near = nearest(value, valid, cutoff)
    return f" (did you mean {near!r}?)" if near is not None and near != value else ""


def hint(value: Any, valid: Iterable[Any], otherwise: str,
         aliases: Optional[Mapping[str, str]] = None) -> str:
    """``"did you mean 'x'?"`` for a near miss (or an alias), else ``otherwise``; for
    after a ``;``."""
    near = nearest(value, valid, aliases=aliases)
    return f"did you mean {near!r}?" if near is not None else otherwise


def type_names(types: Iterable[type]) -> str:
    """``(int, type(None))`` -> ``"int or null"`` (YAML spells None as null)."""
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


#: Why an image prompt cannot go to vLLM here, and the fix (config check and generator).
VLLM_NO_IMAGES = ("the vllm generation backend takes no image prompts yet (image "
                  "observations); set generation_backend: hf")
