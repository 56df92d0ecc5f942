"""Checks of single ``env_config`` values that several envs share, with one wording."""
from __future__ import annotations

from typing import Any

__all__ = ["int_in_range"]


def int_in_range(owner: str, key: str, value: Any, low: int, high: int) -> int:
    """``value`` when it is an int (not a bool) in ``[low, high]``, else a ValueError
    ``"<owner>: <key> must be an int in [low, high], got <value>"`` (no prefix for an
    empty ``owner``).

    >>> int_in_range("KeyCorridorEnv", "corridor_length", 3, 0, 8)
    3
    >>> int_in_range("KeyCorridorEnv", "corridor_length", True, 0, 8)
    Traceback (most recent call last):
    ValueError: KeyCorridorEnv: corridor_length must be an int in [0, 8], got True
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        prefix = f"{owner}: " if owner else ""
        raise ValueError(f"{prefix}{key} must be an int in [{low}, {high}], got {value!r}")
    return value
