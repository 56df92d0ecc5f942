"""Shortest-push solver: hand-made levels, a brute-force cross-check, env oracle labels."""
from __future__ import annotations

import importlib.util
import math
import random
from collections import deque

import numpy as np
import pytest

from rllib_istar import columns as C
from rllib_istar.envs.sokoban_solver import (
    _cached_distance,
    oracle_label,
    push_distance,
)
from rllib_istar.envs.sokoban_text import parse_level

needs_gym_sokoban = pytest.mark.skipif(importlib.util.find_spec("gym_sokoban") is None,
                                       reason="needs the sokoban extra")

SOLVED = "#####\n#_√_#\n#_P_#\n#####"
ONE_PUSH = "#####\n#_O_#\n#_X_#\n#_P_#\n#####"
CORNER = "######\n#X___#\n#__O_#\n#__P_#\n######"
TWO_PUSH = "#######\n#_____#\n#O_XP_#\n#_____#\n#######"
# the player is on the target's side of the box: it walks around, then pushes twice
WALK_AROUND = "#######\n#_____#\n#PO_X_#\n#_____#\n#######"
# up twice, walk round to the right of the box, left three times
TURN = "#######\n#O____#\n#_____#\n#___X_#\n#___P_#\n#######"
# a box on the top row next to its corner; pushing it left corners it
CORNER_TRAP = "######\n#_XPO#\n#____#\n#____#\n######"
# open room: pushing the box right lengthens the solution but keeps it solvable
DETOUR = "########\n#O_____#\n#______#\n#__PX__#\n#______#\n########"
TWO_BOXES = "#######\n#O___O#\n#_X_X_#\n#__P__#\n#######"


def dist(level: str, **kw) -> float:
    fixed, state = parse_level(level)
    return push_distance(state, fixed, **kw)


def act(word: str) -> str:
    return f"<think>go {word}</think><action>{word}</action>"


# ------------------------------------------------------------ (a) hand-made levels
@pytest.mark.parametrize("level, expected", [
    (SOLVED, 0.0), (ONE_PUSH, 1.0), (CORNER, math.inf), (TWO_PUSH, 2.0),
    (WALK_AROUND, 2.0), (TURN, 5.0), (CORNER_TRAP, 2.0), (DETOUR, 5.0), (TWO_BOXES, 4.0)])
def test_hand_made_levels(level, expected):
    assert dist(level) == expected


def test_budget_exhausted_is_nan_and_results_are_cached():
    assert math.isnan(dist(TURN, max_states=1))
    assert dist(TURN) == 5.0  # the budget is part of the cache key
    hits = _cached_distance.cache_info().hits
    assert dist(TURN) == 5.0 and _cached_distance.cache_info().hits == hits + 1


def test_bad_input():
    fixed, state = parse_level(ONE_PUSH)
    with pytest.raises(ValueError, match="one shape"):
        push_distance(state[1:], fixed)
    with pytest.raises(ValueError, match="one player"):
        push_distance(np.where(state == 5, 1, state), fixed)


def test_oracle_label():
    inf, nan = math.inf, float("nan")
    assert oracle_label(3, 2) == 1.0 and oracle_label(1, 0) == 1.0
    assert oracle_label(2, inf) == -1.0 and oracle_label(0, inf) == -1.0
    assert oracle_label(2, 2) == 0.0 and oracle_label(2, 3) == 0.0 and oracle_label(inf, inf) == 0.0
    assert all(math.isnan(oracle_label(a, b)) for a, b in [(nan, 1), (1, nan), (nan, nan)])


# ------------------------------------------------- (b) against a brute-force search
def brute_force(fixed: np.ndarray, state: np.ndarray) -> float:
    """0-1 BFS over raw player moves on (player, boxes): a walk costs 0, a push 1."""
    h, w = fixed.shape
    targets = frozenset(zip(*np.nonzero(fixed == 2)))
    boxes = frozenset(zip(*np.nonzero((state == 3) | (state == 4))))
    player = tuple(np.argwhere(state == 5)[0])
    free = lambda r, c: 0 <= r < h and 0 <= c < w and fixed[r, c] != 0
    best = {(player, boxes): 0}
    todo = deque([(0, player, boxes)])
    while todo:
        d, (r, c), bx = todo.popleft()
        if best[((r, c), bx)] < d:
            continue
        if bx == targets:
            return float(d)
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            q = (r + dr, c + dc)
            if not free(*q):
                continue
            cost, nb = 0, bx
            if q in bx:
                beyond = (q[0] + dr, q[1] + dc)
                if not free(*beyond) or beyond in bx:
                    continue
                cost, nb = 1, (bx - {q}) | {beyond}
            if d + cost < best.get((q, nb), math.inf):
                best[(q, nb)] = d + cost
                (todo.append if cost else todo.appendleft)((d + cost, q, nb))
    return math.inf


def random_room(rng: np.random.Generator, dim: int, boxes: int):
    """A walled ``dim x dim`` room with random inner walls, boxes, targets and player
    (the boxes start on the targets, i.e. solved, in about one room in seven)."""
    fixed = np.zeros((dim, dim), dtype=np.int64)
    fixed[1:-1, 1:-1] = np.where(rng.random((dim - 2, dim - 2)) < 0.1, 0, 1)
    cells = np.argwhere(fixed == 1)
    pick = rng.choice(len(cells), size=2 * boxes + 1, replace=False)
    for r, c in cells[pick[:boxes]]:
        fixed[r, c] = 2
    state = fixed.copy()
    on = pick[:boxes] if rng.random() < 0.15 else pick[boxes:2 * boxes]
    for r, c in cells[on]:
        state[r, c] = 3 if fixed[r, c] == 2 else 4
    state[tuple(cells[pick[-1]])] = 5
    return fixed, state


@pytest.mark.parametrize("dim, boxes, n", [(5, 1, 200), (6, 1, 200), (6, 2, 150), (7, 2, 80),
                                           (7, 3, 20)])
def test_matches_brute_force_on_random_rooms(dim, boxes, n):
    rng = np.random.default_rng(dim * 10 + boxes)
    seen = set()
    for _ in range(n):
        fixed, state = random_room(rng, dim, boxes)
        d = push_distance(state, fixed)
        assert d == brute_force(fixed, state), (fixed, state)
        seen.add("inf" if d == math.inf else "zero" if d == 0 else "finite")
    assert seen == {"inf", "zero", "finite"}


@needs_gym_sokoban
@pytest.mark.parametrize("dim, boxes, seeds", [((6, 6), 1, range(8)), ((5, 5), 1, range(4)),
                                               ((7, 7), 2, range(2))])
def test_matches_brute_force_along_env_rollouts(dim, boxes, seeds):
    from rllib_istar.envs.sokoban import ACTIONS, SokobanTextEnv

    env = SokobanTextEnv({"dim_room": list(dim), "num_boxes": boxes, "search_depth": 60})
    rng = random.Random(0)
    for seed in seeds:
        env.reset(seed=seed)
        assert math.isfinite(push_distance(env.room_state, env.room_fixed))  # generated: solvable
        for _ in range(env.max_steps):
            assert push_distance(env.room_state, env.room_fixed) == brute_force(env.room_fixed,
                                                                              env.room_state)
            _, _, term, trunc, _ = env.step(act(rng.choice(list(ACTIONS))))
            if term or trunc:
                break


# ------------------------------------------------------------ (c) labels in env steps
@needs_gym_sokoban
@pytest.mark.parametrize("level, action, label, after", [
    (ONE_PUSH, "up", 1.0, 0.0),          # onto the target
    (TURN, "up", 1.0, 4.0),              # towards the target
    (CORNER_TRAP, "left", -1.0, math.inf),  # into the corner
    (CORNER_TRAP, "down", 0.0, 2.0),     # a move that pushes nothing
    (DETOUR, "right", 0.0, 6.0),         # away from the target, still solvable
    (CORNER_TRAP, "right", 0.0, 2.0),    # into a wall: the player does not move
])
def test_step_labels(level, action, label, after):
    from rllib_istar.envs.sokoban import SokobanTextEnv

    env = SokobanTextEnv()
    _, info = env.reset(options={"level": level})
    assert C.ORACLE_LABEL not in info and info["oracle_push_distance"] == dist(level)
    _, _, _, _, info = env.step(act(action))
    assert info[C.ORACLE_LABEL] == label and info["oracle_push_distance"] == after


@needs_gym_sokoban
def test_invalid_action_and_switch_off():
    from rllib_istar.envs.sokoban import SokobanTextEnv

    env = SokobanTextEnv()
    env.reset(options={"level": CORNER_TRAP})
    info = env.step("no tags")[-1]
    assert info[C.ORACLE_LABEL] == 0.0 and info["oracle_push_distance"] == 2.0
    off = SokobanTextEnv({"oracle_labels": False})
    info = off.reset(options={"level": CORNER_TRAP})[1]
    assert "oracle_push_distance" not in info
    info = off.step(act("left"))[-1]
    assert C.ORACLE_LABEL not in info and "oracle_push_distance" not in info
    with pytest.raises(ValueError, match="oracle_labels"):
        SokobanTextEnv({"oracle_labels": 1})


@needs_gym_sokoban
def test_rollout_labels_consistent_with_distances():
    from rllib_istar.envs.sokoban import ACTIONS, SokobanTextEnv

    env = SokobanTextEnv()
    rng = random.Random(1)
    labels = []
    for seed in range(30):
        _, info = env.reset(seed=seed)
        before = info["oracle_push_distance"]
        done = False
        while not done:
            _, _, term, trunc, info = env.step(act(rng.choice(list(ACTIONS))))
            done = term or trunc
            after = info["oracle_push_distance"]
            assert after == push_distance(env.room_state, env.room_fixed)  # not stale
            assert info[C.ORACLE_LABEL] == oracle_label(before, after)
            labels.append(info[C.ORACLE_LABEL])
            before = after
    assert set(labels) == {-1.0, 0.0, 1.0}
