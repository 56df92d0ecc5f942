"""Sokoban's oracle_action_labels: every move's label before it is taken, equal to the step
label the env reports when the move is taken, on hand-made levels and generated rooms."""
from __future__ import annotations

import importlib.util
import random

import pytest

from rllib_istar import columns as C
from rllib_istar.envs.sokoban_solver import action_labels, push_distance
from rllib_istar.envs.sokoban_text import parse_level

from test_sokoban_solver import CORNER_TRAP, DETOUR, ONE_PUSH, act

needs_gym_sokoban = pytest.mark.skipif(importlib.util.find_spec("gym_sokoban") is None,
                                       reason="needs the sokoban extra")


def labels_of(level: str) -> dict:
    fixed, state = parse_level(level)
    return action_labels(state, fixed, push_distance(state, fixed))


def test_hand_made_labels():
    # the push onto the target is the only progress; walking away is neutral
    assert labels_of(ONE_PUSH) == {"up": 1.0, "down": 0.0, "left": 0.0, "right": 0.0}
    # pushing the box into the corner loses the level; into the wall the player stays put
    assert labels_of(CORNER_TRAP) == {"up": 0.0, "down": 0.0, "left": -1.0, "right": 0.0}
    # a push away from the target lengthens a still-solvable level: neutral, not -1
    assert labels_of(DETOUR)["right"] == 0.0


def test_a_box_against_a_wall_cannot_be_pushed():
    # box on the top row right above the player: the wall behind it blocks the push
    level = "#####\n#OX_#\n#_P_#\n#___#\n#####"
    assert labels_of(level)["up"] == 0.0


def test_unknown_distances_are_left_out():
    fixed, state = parse_level(ONE_PUSH)
    assert action_labels(state, fixed, float("nan")) == {}


@needs_gym_sokoban
@pytest.mark.parametrize("level", [ONE_PUSH, CORNER_TRAP, DETOUR])
def test_env_labels_equal_the_step_labels(level):
    from rllib_istar.envs.sokoban import ACTIONS, SokobanTextEnv

    env = SokobanTextEnv()
    env.reset(options={"level": level})
    labels = env.oracle_action_labels()
    for move in ACTIONS:
        fresh = SokobanTextEnv()
        fresh.reset(options={"level": level})
        _, _, _, _, info = fresh.step(act(move))
        assert info[C.ORACLE_LABEL] == labels[move], move


@needs_gym_sokoban
def test_env_labels_along_random_rollouts_do_not_change_the_state():
    from rllib_istar.envs.sokoban import ACTIONS, SokobanTextEnv

    env = SokobanTextEnv({"dim_room": [6, 6], "num_boxes": 1, "search_depth": 60})
    rng = random.Random(0)
    for seed in range(3):
        env.reset(seed=seed)
        for _ in range(12):
            before = env.room_state
            labels = env.oracle_action_labels()
            assert (env.room_state == before).all()
            move = rng.choice(list(ACTIONS))
            _, _, term, trunc, info = env.step(act(move))
            assert info[C.ORACLE_LABEL] == labels[move]
            if term or trunc:
                break


@needs_gym_sokoban
def test_no_labels_without_oracle_labels_or_before_reset():
    from rllib_istar.envs.sokoban import SokobanTextEnv

    assert SokobanTextEnv().oracle_action_labels() is None
    env = SokobanTextEnv({"oracle_labels": False})
    env.reset(seed=0)
    assert env.oracle_action_labels() is None


# one box below the player goes onto its target, the one above is pushed into a dead end
PUSH_OR_LOSE = "#######\n####__#\n####X_#\n####P_#\n#_##X_#\n#O__O_#\n#######"


def test_a_state_with_a_right_and_a_wrong_push():
    assert labels_of(PUSH_OR_LOSE) == {"up": -1.0, "down": 1.0, "left": 0.0, "right": 0.0}


@needs_gym_sokoban
def test_the_runner_records_every_move_at_a_decisive_sokoban_state():
    from rllib_istar.envs.sokoban import SokobanTextEnv
    from rllib_istar.rollout.action_candidates import action_candidates

    env = SokobanTextEnv()
    env.reset(options={"level": PUSH_OR_LOSE})
    ids, labels = action_candidates(env, lambda action: [len(action)])
    assert ids == [[4], [4], [5], [2]]                  # down, left, right, up
    assert labels == [1.0, 0.0, 0.0, -1.0]
    env.reset(options={"level": ONE_PUSH})              # a +1 but no -1: not decisive
    assert action_candidates(env, lambda action: [len(action)]) == ([], [])
