"""Text form of Sokoban rooms (pure numpy; no gym_sokoban needed).

Cell ids are gym_sokoban's: 0 wall, 1 floor, 2 target, 3 box on target, 4 box,
5 player. The text uses the reference's symbols, one row per line and cells
separated by a tab (one cell per word for a word-level tokenizer): ``#`` wall,
``_`` floor, ``O`` target, ``√`` box on target, ``X`` box, ``P`` player, ``S``
player on a target.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SYMBOLS", "PLAYER_ON_TARGET", "room_to_text", "parse_level"]

#: Text symbol per cell id 0..5; a player on a target is shown as ``S``.
SYMBOLS = ("#", "_", "O", "√", "X", "P")
PLAYER_ON_TARGET = "S"
_SYMBOL_ARRAY = np.array(SYMBOLS + (PLAYER_ON_TARGET,))


def room_to_text(room_state: np.ndarray, room_fixed: np.ndarray) -> str:
    """Rows on lines, cells separated by tabs, symbols as in :data:`SYMBOLS`."""
    ids = room_state.astype(np.int64, copy=True)
    ids[(ids == 5) & (room_fixed == 2)] = 6
    return "\n".join("\t".join(row) for row in _SYMBOL_ARRAY[ids].tolist())


def parse_level(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse a level drawn with :data:`SYMBOLS` into ``(room_fixed, room_state)``."""
    code = {s: i for i, s in enumerate(SYMBOLS)}
    code[PLAYER_ON_TARGET] = 5
    rows = []
    for line in text.strip().splitlines():
        cells = [c for c in line if not c.isspace()]
        unknown = [c for c in cells if c not in code]
        if unknown:
            raise ValueError(f"unknown level symbol(s) {unknown}; valid: {list(code)}")
        rows.append(cells)
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValueError("a level must be a non-empty rectangle of symbols")
    state = np.array([[code[c] for c in r] for r in rows], dtype=np.int64)
    on_target = np.array([[c in ("O", "√", PLAYER_ON_TARGET) for c in r] for r in rows])
    fixed = np.where(state == 0, 0, np.where(on_target, 2, 1)).astype(np.int64)
    if (state == 5).sum() != 1:
        raise ValueError("a level needs exactly one player (P or S)")
    if ((state == 3) | (state == 4)).sum() != (fixed == 2).sum():
        raise ValueError("a level needs as many boxes as targets")
    return fixed, state
