"""Shortest-push Sokoban solver and oracle step labels (pure python + numpy).

:func:`push_distance` is the minimum number of box pushes that puts every box
on a target (player moves are free), found by breadth-first search over push
states ``(boxes, canonical player cell)``: from a state the player's reachable
cells are flood-filled (walls and boxes block), the player is canonicalised as
the smallest reachable cell index, and a box can be pushed in direction ``d``
when the cell behind it is reachable and the cell beyond it is free floor or
target. Boxes pushed onto a *dead* cell (one from which no target can be
reached even with every other box removed, e.g. a non-target corner) are
pruned; that never removes a solution. Results are cached per state.

Cell ids are gym_sokoban's: ``room_state`` 0 wall, 1 floor, 2 target, 3 box on
target, 4 box, 5 player; ``room_fixed`` 0 wall, 1 floor, 2 target.

:func:`oracle_label` turns the distances before and after a step into the
``oracle_step_label`` of :mod:`rllib_istar.columns`.
"""
from __future__ import annotations

import math
from collections import deque
from functools import lru_cache

import numpy as np

__all__ = ["MAX_STATES", "MOVES", "action_labels", "oracle_label", "push_distance"]

#: Default search budget (push states visited) before giving up with NaN.
MAX_STATES = 200_000


def push_distance(room_state: np.ndarray, room_fixed: np.ndarray,
                  max_states: int = MAX_STATES) -> float:
    """Minimum box pushes to solve the room from ``room_state``.

    ``0.0`` if solved, ``math.inf`` if unsolvable, ``nan`` if the search visits
    more than ``max_states`` push states before deciding (unknown).
    """
    state = np.asarray(room_state)
    fixed = np.asarray(room_fixed)
    if state.shape != fixed.shape or state.ndim != 2:
        raise ValueError(f"room_state {state.shape} and room_fixed {fixed.shape} must be "
                         "2-D arrays of one shape")
    players = np.flatnonzero(state == 5)
    if len(players) != 1:
        raise ValueError(f"room_state needs exactly one player (id 5), has {len(players)}")
    h, w = state.shape
    boxes = tuple(int(i) for i in np.flatnonzero((state == 3) | (state == 4)))
    layout = np.where(fixed == 0, 0, np.where(fixed == 2, 2, 1)).astype(np.int8)
    return _cached_distance(h, w, layout.tobytes(), boxes, int(players[0]), int(max_states))


def oracle_label(before: float, after: float) -> float:
    """The step label from push distances before and after the step.

    ``+1.0`` progress (``after < before``); ``-1.0`` irreversible loss (``before``
    finite, ``after`` infinite: the level became unsolvable); ``0.0`` otherwise
    (player-only moves, invalid actions, pushes that lengthen a still-finite
    solution, steps in an already unsolvable level); ``nan`` if either is unknown.
    """
    if math.isnan(before) or math.isnan(after):
        return float("nan")
    if after < before:
        return 1.0
    if math.isfinite(before) and math.isinf(after):
        return -1.0
    return 0.0


#: gym_sokoban's four moves as (row, column) offsets.
MOVES = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}


def action_labels(room_state: np.ndarray, room_fixed: np.ndarray, before: float,
                  max_states: int = MAX_STATES) -> dict:
    """The oracle label of each move at this state, without taking it: ``{move: label}``
    with :func:`oracle_label` of the push distance ``before`` and after the move.

    A move into a wall or into a box that cannot be pushed (wall or box behind it) is a
    no-op and a player-only move keeps the distance: both are 0. Only pushes can be +1
    (fewer pushes left) or -1 (the level becomes unsolvable). Moves whose label is
    unknown (NaN: the search ran out of states) are left out.
    """
    state = np.asarray(room_state)
    fixed = np.asarray(room_fixed)
    (py, px), = np.argwhere(state == 5)
    labels = {}
    for move, (dy, dx) in MOVES.items():
        y, x, by, bx = py + dy, px + dx, py + 2 * dy, px + 2 * dx
        after = before
        if state[y, x] in (3, 4) and state[by, bx] in (1, 2):   # a push: box to (by, bx)
            nxt = state.copy()
            nxt[by, bx] = 3 if fixed[by, bx] == 2 else 4
            nxt[y, x] = 5
            nxt[py, px] = 2 if fixed[py, px] == 2 else 1
            after = push_distance(nxt, fixed, max_states)
        label = oracle_label(before, after)
        if not math.isnan(label):
            labels[move] = label
    return labels


# ----------------------------------------------------------------- search
@lru_cache(maxsize=65536)
def _cached_distance(h: int, w: int, layout: bytes, boxes: tuple, player: int,
                     max_states: int) -> float:
    """Pad the room with a wall border (so neighbours never leave the grid) and solve."""
    W = w + 2

    def pad(i: int) -> int:
        return (i // w + 1) * W + i % w + 1

    grid = bytearray((h + 2) * W)  # 0 wall, 1 floor, 2 target
    for i, v in enumerate(layout):
        grid[pad(i)] = v
    return _solve(bytes(grid), W, tuple(sorted(pad(b) for b in boxes)), pad(player), max_states)


@lru_cache(maxsize=256)
def _live_cells(grid: bytes, W: int) -> frozenset:
    """Cells from which a lone box can be pushed onto some target (reverse pulls)."""
    steps = (1, -1, W, -W)
    live = {i for i, v in enumerate(grid) if v == 2}
    todo = list(live)
    while todo:
        y = todo.pop()
        for d in steps:  # a push c -> y = c + d needs c and c - d on the floor
            c = y - d
            if c not in live and grid[c] and grid[c - d]:
                live.add(c)
                todo.append(c)
    return frozenset(live)


def _reach(grid: bytes, boxes: frozenset, start: int, W: int) -> set:
    """Cells the player reaches from ``start`` without pushing (flood fill)."""
    seen = {start}
    todo = [start]
    while todo:
        c = todo.pop()
        for n in (c + 1, c - 1, c + W, c - W):
            if n not in seen and grid[n] and n not in boxes:
                seen.add(n)
                todo.append(n)
    return seen


def _solve(grid: bytes, W: int, boxes: tuple, player: int, max_states: int) -> float:
    """Breadth-first search over push states; see the module docstring."""
    targets = frozenset(i for i, v in enumerate(grid) if v == 2)
    live = _live_cells(grid, W)
    start = frozenset(boxes)
    if start <= targets:
        return 0.0
    if not start <= live:
        return math.inf
    seen = {(start, min(_reach(grid, start, player, W)))}
    frontier = deque([(start, player, 0)])  # reach sets are recomputed: memory stays O(states)
    while frontier:
        cur, player, dist = frontier.popleft()
        reach = _reach(grid, cur, player, W)
        for b in cur:
            for d in (1, -1, W, -W):
                beyond = b + d
                if b - d not in reach or beyond not in live or beyond in cur:
                    continue
                nxt = (cur - {b}) | {beyond}
                if nxt <= targets:
                    return float(dist + 1)
                key = (nxt, min(_reach(grid, nxt, b, W)))
                if key in seen:
                    continue
                seen.add(key)
                if len(seen) > max_states:
                    return float("nan")
                frontier.append((nxt, b, dist + 1))
    return math.inf
