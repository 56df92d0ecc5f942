"""SokobanTextEnv on gym_sokoban: seeding, global RNG, rewards, truncation, rendering."""
from __future__ import annotations

import importlib.util
import random
import sys

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

pytestmark = pytest.mark.skipif(importlib.util.find_spec("gym_sokoban") is None,
                                reason="needs the sokoban extra")

from rllib_istar.envs import sokoban as sk  # noqa: E402
from rllib_istar.envs.sokoban import SokobanTextEnv, parse_level  # noqa: E402


def act(word):
    return f"<think>go {word}</think><action>{word}</action>"


# a box one push below its target: pushing up solves it
ONE_PUSH = """
# # # # #
# _ O _ #
# _ X _ #
# _ P _ #
# # # # #
"""


def global_rng_snapshot():
    np_state = np.random.get_state()
    return random.getstate(), (np_state[0], np_state[1].copy(), *np_state[2:])


def same_snapshot(a, b):
    return (a[0] == b[0] and a[1][0] == b[1][0] and np.array_equal(a[1][1], b[1][1])
            and a[1][2:] == b[1][2:])


def test_same_seed_same_room_and_trajectory():
    a, b = SokobanTextEnv(), SokobanTextEnv()
    moves = [act(m) for m in ["up", "left", "junk", "down", "right", "up", "up"]]
    for seed in range(8):
        assert a.reset(seed=seed) == b.reset(seed=seed)
        for m in moves:
            ra, rb = a.step(m), b.step(m)
            assert ra == rb
            if ra[2] or ra[3]:
                break


def test_different_seeds_differ():
    env = SokobanTextEnv()
    rooms = {env.reset(seed=s)[0] for s in range(10)}
    assert len(rooms) >= 8


def test_global_rng_untouched_and_irrelevant():
    env = SokobanTextEnv()
    random.seed(123)
    np.random.seed(456)
    before = global_rng_snapshot()
    obs, _ = env.reset(seed=5)
    env.reset()  # unseeded resets draw from the env's own generator
    env.step(act("up"))
    assert same_snapshot(before, global_rng_snapshot())
    random.seed(999)
    np.random.seed(1)
    assert SokobanTextEnv().reset(seed=5)[0] == obs


def test_text_observation_format():
    env = SokobanTextEnv()
    obs, info = env.reset(seed=3)
    rows = obs.split("\n")
    assert len(rows) == 6 and all(len(r.split("\t")) == 6 for r in rows)
    assert set(obs) <= set("#_O√XPS\t\n")
    assert obs.count("P") + obs.count("S") == 1 and obs.count("X") == 1
    assert obs in env.observation_space
    assert info["task_id"] == "sokoban-6x6-b1-s3"
    assert set(obs.split()) <= set(SokobanTextEnv.vocabulary())


def test_solved_gives_plus_ten():
    env = SokobanTextEnv()
    obs, _ = env.reset(options={"level": ONE_PUSH})
    assert obs.split("\n")[2].split("\t") == ["#", "_", "X", "_", "#"]
    obs, rew, term, trunc, info = env.step(act("up"))
    assert rew == pytest.approx(-0.1 + 1.0 + 10.0)
    assert term and not trunc and info["won"] is True
    assert obs.split("\n")[1].split("\t")[2] == "√"


def test_box_off_target_penalty_and_player_on_target():
    env = SokobanTextEnv()
    env.reset(options={"level": "#####\n#___#\n#_√_#\n#_P_#\n#####"})
    obs, rew, term, _, info = env.step(act("up"))  # pushes the box off its target
    assert rew == pytest.approx(-0.1 - 1.0) and not term and not info["won"]
    assert obs.split("\n")[1:3] == ["#\t_\tX\t_\t#", "#\t_\tS\t_\t#"]


def test_invalid_action_is_a_noop():
    env = SokobanTextEnv()
    obs0, _ = env.reset(seed=11)
    for bad in ["up", "<think>x</think><action>jump</action>", "", None, "🧱" * 100]:
        obs, rew, term, trunc, info = env.step(bad)
        assert obs == obs0 and rew == pytest.approx(-0.1) and not term
        assert info["is_action_valid"] is False and info["action"] is None


def test_truncation_at_max_steps():
    env = SokobanTextEnv({"max_steps": 4})
    env.reset(options={"level": ONE_PUSH})
    results = [env.step(act("down")) for _ in range(4)]  # blocked by the wall: never solves
    assert [r[3] for r in results] == [False, False, False, True]
    assert not any(r[2] for r in results)
    assert all(r[1] == pytest.approx(-0.1) for r in results)
    env15 = SokobanTextEnv()
    env15.reset(seed=0)
    n = 0
    while True:
        n += 1
        _, _, term, trunc, _ = env15.step("invalid")
        if term or trunc:
            break
    assert n == 15 and trunc


def test_rgb_render_matches_gym_sokoban_and_is_cached():
    env = SokobanTextEnv(render_mode="rgb_array")
    env.reset(seed=2)
    env.step(act("left"))
    img = env.render()
    assert img.shape == (96, 96, 3) and img.dtype == np.uint8
    ref = sk.load_gym_sokoban().render_utils.room_to_rgb(env.room_state, env.room_fixed)
    assert np.array_equal(img, ref)
    assert sk._tiles() is sk._tiles()
    ansi = SokobanTextEnv(render_mode="ansi")
    obs, _ = ansi.reset(seed=2)
    assert ansi.render() == obs


def test_shims_stay_inside_the_adapter():
    sk.load_gym_sokoban()
    stub = sys.modules.get("pkg_resources")
    assert stub is None or not getattr(stub, "__rllib_istar_stub__", False)


def test_missing_gym_sokoban_hint(monkeypatch):
    monkeypatch.setattr(sk, "_BACKEND", None)
    monkeypatch.setattr(sk, "_gym_sokoban_spec", lambda: None)
    with pytest.raises(ImportError, match=r"pip install 'rllib_istar\[sokoban\]'"):
        SokobanTextEnv()


def test_parse_level_errors_and_config_errors():
    with pytest.raises(ValueError, match="unknown level symbol"):
        parse_level("#Q#")
    with pytest.raises(ValueError, match="one player"):
        parse_level("#_O#\n#X_#")
    with pytest.raises(ValueError, match="rectangle"):
        parse_level("###\n##")
    with pytest.raises(ValueError) as err:
        SokobanTextEnv({"dim": (6, 6)})
    assert "'dim'" in str(err.value) and "dim_room" in str(err.value)
    with pytest.raises(ValueError, match="dim_room"):
        SokobanTextEnv({"dim_room": (2, 6)})
    with pytest.raises(ValueError, match="unknown option"):
        SokobanTextEnv().reset(seed=0, options={"room": 1})


def test_bigger_room_and_generation_config():
    env = SokobanTextEnv({"dim_room": [7, 7], "num_boxes": 2, "search_depth": 60,
                          "num_gen_steps": 20})
    obs, _ = env.reset(seed=1)
    assert obs.count("X") + obs.count("√") == 2 and len(obs.split("\n")) == 7


def test_prompt_words_in_vocabulary():
    vocab = set(SokobanTextEnv.vocabulary())
    env = SokobanTextEnv({"max_steps": 15})
    obs, _ = env.reset(seed=4)
    history = []
    for word in ["up", "left", "junk", "down", "right"] * 3:
        prompt = env.render_prompt(obs, history[-2:])
        assert not [w for w in prompt.split() if w not in vocab]
        new_obs, _, term, trunc, info = env.step(act(word))
        history.append((obs, info["action"]))
        obs = new_obs
        if term or trunc:
            break
    assert "<think>" in prompt and "up down left right" in prompt


def test_check_env():
    check_env(SokobanTextEnv(), skip_render_check=True)
    check_env(SokobanTextEnv(render_mode="rgb_array"), skip_render_check=True)
